// Package deps pins the module's dependencies while the packages that use them are written.
package deps

import (
	_ "github.com/buraksezer/consistent"
	_ "github.com/cespare/xxhash/v2"
	_ "github.com/dgraph-io/ristretto/v2"
	_ "github.com/maxmind/mmdbwriter"
	_ "github.com/miekg/dns"
	_ "github.com/oschwald/maxminddb-golang/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/sync/singleflight"
)
