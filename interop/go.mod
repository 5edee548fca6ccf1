module github.com/httpdns/httpdns/interop

go 1.26.8

require (
	github.com/httpdns/httpdns v0.0.0
	github.com/likexian/doh-go v0.6.4
	github.com/miekg/dns v1.1.73
)

require (
	github.com/likexian/gokit v0.21.11 // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)

replace github.com/httpdns/httpdns => ../
