package client

import (
	"slices"
	"testing"
	"time"
)

// TestRequestURL: the request forms of each API, and the Alibaba v1 signature's documented test
// vector (MD5 of "www.aliyun.com-IAmASecret-1534316400").
func TestRequestURL(t *testing.T) {
	t.Parallel()
	exp := time.Unix(1534316400, 0)
	for _, tc := range []struct {
		cfg   Config
		hosts []string
		want  string
	}{
		{Config{}, []string{"a.example.com"}, "http://s/d?host=a.example.com&query=4,6"},
		{Config{Families: "4"}, []string{"a.example.com", "b.example.com"}, "http://s/resolve?host=a.example.com,b.example.com&query=4"},
		{Config{API: APIAlibabaV1, AccountID: "100000"}, []string{"a.example.com"}, "http://s/100000/d?host=a.example.com&query=4,6"},
		{Config{API: APIAlibabaV1, AccountID: "100000", Secret: "IAmASecret"}, []string{"www.aliyun.com"},
			"http://s/100000/sign_d?host=www.aliyun.com&query=4,6&t=1534316400&s=60c71e98b6d7fcbb366243e224eab457"},
		{Config{API: APIAlibabaV1, AccountID: "100000", Secret: "IAmASecret"}, []string{"www.aliyun.com", "www.taobao.com"},
			"http://s/100000/sign_resolve?host=www.aliyun.com,www.taobao.com&query=4,6&t=1534316400&s=12a3f6b1b14a46ca813ca6439beb59a4"},
	} {
		tc.cfg.Servers = []string{"http://s"}
		tc.cfg.Now = func() time.Time { return exp.Add(-DefaultSignatureTTL) }
		c, err := New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.requestURL(c.servers[0], tc.hosts); got != tc.want {
			t.Errorf("%+v %v:\n got %s\nwant %s", tc.cfg, tc.hosts, got, tc.want)
		}
		c.Close()
	}
}

// FuzzParse feeds server answers to both parsers: no panic, every address returned is valid,
// unmapped, a host's (not unspecified or multicast) and distinct, at most maxHostAddrs a host, and
// every ttl within [0, 2^31-1] s.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"host":"a.example.com","client_ip":"1.2.3.4","ips":["10.0.0.1"],"ipsv6":["::1"],"ttl":60,"origin_ttl":60}`))
	f.Add([]byte(`{"dns":[{"host":"a","client_ip":"1.2.3.4","ips":["10.0.0.1"],"type":1,"ttl":60},{"host":"a","ips":["::ffff:1.2.3.4"],"type":28,"ttl":30},{"host":"b","ips":[],"error":"UpstreamUnavailable"}]}`))
	f.Add([]byte(`{"ips":["not an ip","fe80::1%eth0"],"ttl":-5}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		single, err1 := parseSingle(body, "a.example.com")
		batch, err2 := parseBatch(body, "http://s")
		for _, m := range []map[string]hostAnswer{single, batch} {
			for _, a := range m {
				for i, ip := range a.addrs {
					if !ip.IsValid() || ip.Is4In6() || ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() ||
						slices.Contains(a.addrs[:i], ip) {
						t.Fatalf("address %v from %q", ip, body)
					}
				}
				if len(a.addrs) > maxHostAddrs || a.ttl < 0 || a.ttl > (1<<31-1)*time.Second {
					t.Fatalf("%d addresses, ttl %v from %q", len(a.addrs), a.ttl, body)
				}
			}
		}
		if err1 == nil && len(single) != 1 {
			t.Fatalf("single answer of %d hosts", len(single))
		}
		if err2 == nil {
			for h := range batch {
				if h != canonical(h) {
					t.Fatalf("batch host %q not canonical", h)
				}
			}
		}
	})
}
