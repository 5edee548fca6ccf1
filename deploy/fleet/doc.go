// Package fleet is the deployment example of an httpdns fleet on loopback: Redis, the simulated CDN
// world of internal/cdnsim, three `httpdns serve` nodes of one fleet and nginx with level-1 hashing
// in front (deploy/nginx/httpdns.conf). run.sh starts them, uploads a whitelist on one node and
// shows it on every node, replays traffic without and with the shared answer cache (L2) and prints
// the upstream queries each cost, then prints GET /admin/fleet; deploy/README.md explains it.
//
// The package has no code of its own; its test runs the script and checks what it prints. It skips
// where nginx or redis-server is missing (apt-get install nginx redis-server) or with -short:
//
//	go test -v ./deploy/fleet/
package fleet
