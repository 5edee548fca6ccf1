module github.com/httpdns/httpdns/interop

go 1.26.8

require (
	github.com/aliyun/alicloud-httpdns-go-sdk v1.0.1
	github.com/chromedp/chromedp v0.23.1
	github.com/httpdns/httpdns v0.0.0
	github.com/likexian/doh-go v0.6.4
	github.com/miekg/dns v1.1.73
)

require (
	github.com/BurntSushi/toml v1.4.0 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/chromedp/cdproto v0.160.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/infobloxopen/go-trees v0.0.0-20221216143356-66ceba885ebc // indirect
	github.com/likexian/gokit v0.21.11 // indirect
	github.com/m13253/dns-over-https/v2 v2.3.7 // indirect
	github.com/maxmind/mmdbwriter v1.2.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/oschwald/maxminddb-golang/v2 v2.9.0 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/prometheus/common v0.72.0 // indirect
	github.com/prometheus/procfs v0.22.0 // indirect
	go4.org/netipx v0.0.0-20231129151722-fdeea329fbba // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/httpdns/httpdns => ../

tool github.com/m13253/dns-over-https/v2/doh-client
