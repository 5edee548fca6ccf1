// Package interop drives real third-party HTTPDNS and DoH clients, unmodified, against a real
// `httpdns serve` built from this repository. It is a module of its own, so the clients and their
// dependencies never enter the product's go.mod. Run it from this directory with go test ./...
package interop
