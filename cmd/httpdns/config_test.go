package main

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// baseYAML holds just the required keys; tests append the key they are about.
const baseYAML = `listen: ":8080"
upstreams: ["127.0.0.1:53"]
geoip: {city: city.mmdb, isp: isp.mmdb}
`

// testDir is an absolute directory the configs' relative paths resolve against.
const testDir = "/etc/httpdns"

// wantBase is what baseYAML parses to: every default plus the required keys.
func wantBase() *Config {
	c := defaultConfig()
	c.Listen = ":8080"
	c.Upstreams = []string{"127.0.0.1:53"}
	c.GeoIP = GeoIPConfig{City: "/etc/httpdns/city.mmdb", ISP: "/etc/httpdns/isp.mmdb"}
	c.Domains = "/etc/httpdns/domains.txt"
	c.SplitLog = "/etc/httpdns/splits.jsonl"
	c.DemandLog = "/etc/httpdns/demand.jsonl"
	c.AccountsFile = "/etc/httpdns/accounts.json"
	return c
}

func TestParseConfigGood(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra string
		edit  func(*Config)
	}{
		{"defaults", "", func(*Config) {}},
		{"null section keeps defaults", "cache:\n", func(*Config) {}},
		{"size in MiB", "cache: {max_bytes: 512MiB}", func(c *Config) { c.Cache.MaxBytes = 512 << 20 }},
		{"size in GiB", "cache: {max_bytes: 1GiB}", func(c *Config) { c.Cache.MaxBytes = 1 << 30 }},
		{"size in MB", "cache: {max_bytes: 512MB}", func(c *Config) { c.Cache.MaxBytes = 512e6 }},
		{"size with space, any case", `cache: {max_bytes: "2 mib"}`, func(c *Config) { c.Cache.MaxBytes = 2 << 20 }},
		{"size as integer", "cache: {max_bytes: 1048576}", func(c *Config) { c.Cache.MaxBytes = 1 << 20 }},
		{"size as hex integer", "cache: {max_bytes: 0x200000}", func(c *Config) { c.Cache.MaxBytes = 2 << 20 }},
		{"durations", "ttl: {min: 0s, max: 90m}\ntimeouts: {upstream: 250ms}", func(c *Config) {
			c.TTL.Min, c.TTL.Max = 0, Duration(90*time.Minute)
			c.Timeouts.Upstream = Duration(250 * time.Millisecond)
		}},
		{"zero stale window", "cache: {stale_window: 0s}", func(c *Config) { c.Cache.StaleWindow = 0 }},
		{"tier and level", "default_tier: subnet\nlog_level: DEBUG", func(c *Config) {
			c.DefaultTier, c.LogLevel = "subnet", "DEBUG"
		}},
		{"trusted proxies", `trusted_proxies: ["10.0.0.0/8", "192.0.2.7", "2001:db8::1", "192.168.1.9/24", "::ffff:198.51.100.1"]`,
			func(c *Config) {
				c.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::1", "192.168.1.9/24", "::ffff:198.51.100.1"}
				c.TrustedProxyPrefixes = []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
					netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("192.168.1.0/24"),
					netip.MustParsePrefix("198.51.100.1/32"),
				}
			}},
		{"empty lists are nil", "trusted_proxies: []", func(*Config) {}},
		{"files", "cidrdb: ../learnt.mmdb\ndomains: /var/lib/httpdns/domains.txt", func(c *Config) {
			c.CIDRDB = "/etc/learnt.mmdb"
			c.Domains = "/var/lib/httpdns/domains.txt"
		}},
		{"batch limit bounds", "batch_limit: 100", func(c *Config) { c.BatchLimit = 100 }},
		{"no connection cap", "max_conns: 0", func(c *Config) { c.MaxConns = 0 }},
		{"tls", "tls: {listen: 127.0.0.1:8443, cert: cert.pem, key: /etc/httpdns/key.pem}", func(c *Config) {
			c.TLS = TLSConfig{Listen: "127.0.0.1:8443", Cert: filepath.Join(testDir, "cert.pem"), Key: "/etc/httpdns/key.pem"}
		}},
		{"limits", "limits: {client_qps: 2.5, client_burst: 10, max_clients: 1000, ip_param: trusted}", func(c *Config) {
			c.Limits = LimitsConfig{ClientQPS: 2.5, ClientBurst: 10, MaxClients: 1000, IPParam: "trusted"}
		}},
		{"fleet", "fleet: {redis: [127.0.0.1:6379, '[::1]:7000'], password_file: redis.pw, node_id: n1, sync_interval: 5s}", func(c *Config) {
			c.Fleet.Redis = []string{"127.0.0.1:6379", "[::1]:7000"}
			c.Fleet.PasswordFile = filepath.Join(testDir, "redis.pw")
			c.Fleet.NodeID, c.Fleet.SyncInterval = "n1", Duration(5*time.Second)
		}},
		{"fleet without redis stays off", "fleet: {redis: []}", func(*Config) {}},
		{"connection timeouts", "timeouts: {read_header: 1s, read: 4s, write: 4s, idle: 30s}", func(c *Config) {
			c.Timeouts.ReadHeader, c.Timeouts.Read = Duration(time.Second), Duration(4*time.Second)
			c.Timeouts.Write, c.Timeouts.Idle = Duration(4*time.Second), Duration(30*time.Second)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseConfig([]byte(baseYAML+tt.extra), testDir)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			want := wantBase()
			tt.edit(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseConfigRequiredAndHosts(t *testing.T) {
	t.Parallel()
	got, err := ParseConfig([]byte(`
listen: "[::1]:80"
upstreams: ["[2001:db8::53]:53", "dns1.internal:5353"]
geoip: {city: /srv/geo/city.mmdb, isp: asn.mmdb}
`), "conf")
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if got.GeoIP.City != "/srv/geo/city.mmdb" || got.GeoIP.ISP != filepath.Join("conf", "asn.mmdb") {
		t.Errorf("geoip = %+v, want the absolute path kept and the relative one joined to conf", got.GeoIP)
	}
	if got.Domains != filepath.Join("conf", "domains.txt") {
		t.Errorf("domains = %q, want conf/domains.txt", got.Domains)
	}
}

func TestParseConfigBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string // appended to baseYAML unless it starts with "!"
		key  string
		text string
	}{
		{"listen missing", "!upstreams: [a:53]\ngeoip: {city: c, isp: i}", "listen", "required"},
		{"listen not host:port", `!listen: "8080"` + "\nupstreams: [a:53]\ngeoip: {city: c, isp: i}", "listen", `"8080" is not host:port`},
		{"listen bad port", `!listen: ":99999"` + "\nupstreams: [a:53]\ngeoip: {city: c, isp: i}", "listen", "0..65535"},
		{"admin_listen empty", `admin_listen: ""`, "admin_listen", "required"},
		{"fleet redis without port", "fleet: {redis: [127.0.0.1]}", "fleet.redis[0]", "not host:port"},
		{"fleet redis without host", "fleet: {redis: [':6379']}", "fleet.redis[0]", "missing host"},
		{"fleet redis port 0", "fleet: {redis: [a:0]}", "fleet.redis[0]", "port 0"},
		{"fleet redis repeated", "fleet: {redis: [a:6379, a:6379]}", "fleet.redis[1]", "listed twice"},
		{"fleet key prefix empty", `fleet: {redis: [a:6379], key_prefix: ""}`, "fleet.key_prefix", "must not be empty"},
		{"fleet sync interval zero", "fleet: {redis: [a:6379], sync_interval: 0s}", "fleet.sync_interval", "must be positive"},
		{"fleet node id not printable", `fleet: {redis: [a:6379], node_id: "a\tb"}`, "fleet.node_id", "non-printable"},
		{"fleet node id too long", "fleet: {redis: [a:6379], node_id: " + strings.Repeat("n", 256) + "}", "fleet.node_id", "1 to 255 bytes"},
		{"upstreams missing", "!listen: :80\ngeoip: {city: c, isp: i}", "upstreams", "required"},
		{"upstream without port", "!listen: :80\nupstreams: [127.0.0.1:53, 10.0.0.1]\ngeoip: {city: c, isp: i}",
			"upstreams[1]", `"10.0.0.1" is not host:port`},
		{"upstream without host", "!listen: :80\nupstreams: [':53']\ngeoip: {city: c, isp: i}", "upstreams[0]", "missing host"},
		{"upstream port 0", "!listen: :80\nupstreams: [a:0]\ngeoip: {city: c, isp: i}", "upstreams[0]", "port 0"},
		{"upstream bare IPv6", "!listen: :80\nupstreams: ['::1:53']\ngeoip: {city: c, isp: i}", "upstreams[0]", "not host:port"},
		{"upstream repeated", "!listen: :80\nupstreams: [a:53, b:53, a:53]\ngeoip: {city: c, isp: i}", "upstreams[2]", "repeats upstreams[0]"},
		{"upstreams not a list", "!listen: :80\nupstreams: {a: b}\ngeoip: {city: c, isp: i}", "upstreams", "cannot unmarshal"},
		{"upstreams block mapping", "!listen: :80\nupstreams:\n  a: b\ngeoip: {city: c, isp: i}", "upstreams", "cannot unmarshal"},
		{"geoip.city a mapping", "!listen: :80\nupstreams: [a:53]\ngeoip: {city: {x: y}, isp: i}", "geoip.city", "cannot unmarshal"},
		{"duration a mapping", "ttl:\n  min:\n    x: 1", "ttl.min", "not a mapping"},
		{"geoip.city missing", "!listen: :80\nupstreams: [a:53]\ngeoip: {isp: i}", "geoip.city", "required"},
		{"geoip.isp missing", "!listen: :80\nupstreams: [a:53]\ngeoip: {city: c}", "geoip.isp", "required"},
		{"default_tier", "default_tier: fast", "default_tier", `"fast" is not subnet|cityisp|global`},
		{"tls without listen", "tls: {cert: c.pem, key: k.pem}", "tls.listen", "required with tls.cert and tls.key"},
		{"tls without cert", "tls: {listen: 127.0.0.1:8443, key: k.pem}", "tls.cert", "required"},
		{"tls without key", "tls: {listen: 127.0.0.1:8443, cert: c.pem}", "tls.key", "required"},
		{"tls bad listen", "tls: {listen: '8443', cert: c.pem, key: k.pem}", "tls.listen", "not host:port"},
		{"client_qps negative", "limits: {client_qps: -1}", "limits.client_qps", "must be a number >= 0"},
		{"client_qps NaN", "limits: {client_qps: .nan}", "limits.client_qps", "must be a number >= 0"},
		{"client_burst negative", "limits: {client_qps: 1, client_burst: -1}", "limits.client_burst", "must not be negative"},
		{"client_burst alone", "limits: {client_burst: 5}", "limits.client_burst", "no effect without limits.client_qps"},
		{"max_clients 0", "limits: {max_clients: 0}", "limits.max_clients", "at least 1"},
		{"ip_param", "limits: {ip_param: some}", "limits.ip_param", `"some" is not any|trusted|off`},
		{"max_bytes too small", "cache: {max_bytes: 1000}", "cache.max_bytes", "must be at least 1MiB"},
		{"max_bytes negative", "cache: {max_bytes: -5}", "cache.max_bytes", "must be at least 1MiB"},
		{"max_bytes bad unit", "cache: {max_bytes: 5furlongs}", "cache.max_bytes", `unknown unit "furlongs"`},
		{"max_bytes overflow", "cache: {max_bytes: 99999999999TiB}", "cache.max_bytes", "out of range"},
		{"max_bytes float", "cache: {max_bytes: 1.5GiB}", "cache.max_bytes", "is not a size"},
		{"max_bytes list", "cache: {max_bytes: [1]}", "cache.max_bytes", "must be a size"},
		{"stale_window negative", "cache: {stale_window: -1h}", "cache.stale_window", "must not be negative"},
		{"refresh_grace negative", "cache: {refresh_grace: -1s}", "cache.refresh_grace", "must not be negative"},
		{"duration without unit", "cache: {refresh_grace: 30}", "cache.refresh_grace", `"30" is not a duration`},
		{"duration garbage", "ttl: {min: soon}", "ttl.min", `"soon" is not a duration`},
		{"ttl.min over max", "ttl: {min: 2h, max: 1h}", "ttl.min", "must not exceed ttl.max"},
		{"cidrdb_watch negative", "cidrdb_watch: -1s", "cidrdb_watch", "negative"},
		{"split_log_max_bytes negative", "split_log_max_bytes: -1", "split_log_max_bytes", "negative"},
		{"upstream_qps negative", "upstream_qps: -5", "upstream_qps", "negative"},
		{"upstream_max_inflight zero", "upstream_max_inflight: 0", "upstream_max_inflight", "at least 1"},
		{"prefetch_siblings too many", "refresh: {prefetch_siblings: 65}", "refresh.prefetch_siblings", "0..64"},
		{"active_min_asks zero", "refresh: {active_min_asks: 0}", "refresh.active_min_asks", "at least 1"},
		{"track_keys zero", "refresh: {track_keys: 0}", "refresh.track_keys", "at least 1"},
		{"hedge negative", "timeouts: {hedge: -1ms}", "timeouts.hedge", "negative"},
		{"health_check zero", "timeouts: {health_check: 0s}", "timeouts.health_check", "must be positive"},
		{"ttl.min negative", "ttl: {min: -1s}", "ttl.min", "must not be negative"},
		{"ttl.max zero", "ttl: {min: 0s, max: 0s}", "ttl.max", "must be positive"},
		{"ttl.max too large", "ttl: {max: 700000h}", "ttl.max", "largest DNS TTL"},
		{"ttl.negative_max negative", "ttl: {negative_max: -5m}", "ttl.negative_max", "must not be negative"},
		{"ttl.servfail negative", "ttl: {servfail: -5s}", "ttl.servfail", "must not be negative"},
		{"trusted proxy garbage", `trusted_proxies: [10.0.0.0/8, "proxy.example"]`, "trusted_proxies[1]", "is not a CIDR or an address"},
		{"trusted proxy bad bits", `trusted_proxies: ["10.0.0.0/33"]`, "trusted_proxies[0]", "is not a CIDR"},
		{"trusted proxy zone", `trusted_proxies: ["fe80::1%eth0"]`, "trusted_proxies[0]", "zone"},
		{"batch_limit zero", "batch_limit: 0", "batch_limit", "0 is not in 1..100"},
		{"batch_limit too large", "batch_limit: 101", "batch_limit", "101 is not in 1..100"},
		{"batch_limit not a number", "batch_limit: ten", "batch_limit", "cannot unmarshal"},
		{"request timeout zero", "timeouts: {request: 0s}", "timeouts.request", "must be positive"},
		{"upstream timeout negative", "timeouts: {upstream: -1ms}", "timeouts.upstream", "must be positive"},
		{"upstream over request", "timeouts: {request: 1s, upstream: 2s}", "timeouts.upstream", "must not exceed timeouts.request"},
		{"shutdown negative", "timeouts: {shutdown: -1s}", "timeouts.shutdown", "must not be negative"},
		{"read_header zero", "timeouts: {read_header: 0s}", "timeouts.read_header", "must be positive"},
		{"read negative", "timeouts: {read: -1s}", "timeouts.read", "must be positive"},
		{"write zero", "timeouts: {write: 0s}", "timeouts.write", "must be positive"},
		{"idle zero", "timeouts: {idle: 0s}", "timeouts.idle", "must be positive"},
		{"idle not a duration", "timeouts: {idle: forever}", "timeouts.idle", `"forever" is not a duration`},
		{"read shorter than header + request", "timeouts: {read_header: 5s, request: 3s, read: 7s}", "timeouts.read",
			"at least timeouts.read_header + timeouts.request"},
		{"write not over request", "timeouts: {request: 3s, write: 3s}", "timeouts.write", "must exceed timeouts.request"},
		{"max_conns negative", "max_conns: -1", "max_conns", "must not be negative"},
		{"max_conns not a number", "max_conns: lots", "max_conns", "cannot unmarshal"},
		{"log_level", "log_level: verbose", "log_level", `"verbose" is not debug|info|warn|error`},
		{"unknown top-level key", "listen_addr: :9090", "listen_addr", "unknown key"},
		{"unknown nested key", "cache:\n  maxbytes: 1GiB", "cache.maxbytes", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, ok := strings.CutPrefix(tt.yaml, "!")
			if !ok {
				doc = baseYAML + tt.yaml
			}
			_, err := ParseConfig([]byte(doc), testDir)
			if err == nil {
				t.Fatalf("ParseConfig succeeded on\n%s", doc)
			}
			fe := findFieldError(err, tt.key)
			if fe == nil {
				t.Fatalf("error %q names no key %q", err, tt.key)
			}
			if !strings.Contains(fe.Error(), tt.text) || !strings.Contains(err.Error(), tt.key+": ") {
				t.Errorf("error %q: want %q about key %q", err, tt.text, tt.key)
			}
		})
	}
}

// fieldErrors flattens the joined problems of an error from ParseConfig.
func fieldErrors(err error) []*FieldError {
	var out []*FieldError
	var fe *FieldError
	if errors.As(err, &fe) && err == error(fe) {
		return []*FieldError{fe}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
	}
	return out
}

func findFieldError(err error, key string) *FieldError {
	for _, fe := range fieldErrors(err) {
		if fe.Key == key {
			return fe
		}
	}
	return nil
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	t.Parallel()
	doc := `listen: "8080"
upstreams: [10.0.0.1:53, 10.0.0.1]
geoip: {isp: isp.mmdb}
default_tier: fast
cache: {max_bytes: 1KiB}
ttl: {min: 2h, max: 1h}
batch_limit: 500
log_level: loud
colour: blue
timeouts: {shutdown: later}
`
	_, err := ParseConfig([]byte(doc), testDir)
	want := map[string]int{ // key -> its line
		"listen": 1, "upstreams[1]": 2, "geoip.city": 0, "default_tier": 4,
		"cache.max_bytes": 5, "ttl.min": 6, "batch_limit": 7, "log_level": 8,
		"colour": 9, "timeouts.shutdown": 10,
	}
	got := fieldErrors(err)
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(got), len(want), err)
	}
	for _, fe := range got {
		line, ok := want[fe.Key]
		if !ok {
			t.Errorf("unexpected problem %q", fe)
			continue
		}
		if fe.Line != line {
			t.Errorf("%s: line %d, want %d", fe.Key, fe.Line, line)
		}
	}
}

func TestParseConfigDecodeProblemsTogether(t *testing.T) {
	t.Parallel()
	doc := baseYAML + "cache:\n  max_bytes: lots\n  colour: blue\nttl:\n  min: soon\n"
	_, err := ParseConfig([]byte(doc), testDir)
	for _, want := range []string{
		`line 5: cache.max_bytes: "lots" is not a size`,
		"line 6: cache.colour: unknown key",
		`line 8: ttl.min: "soon" is not a duration`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}
}

func TestParseConfigDocument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "listen: required"},
		{"not a mapping", "just words", "line 1: cannot unmarshal !!str `just words` into a mapping of keys"},
		{"bad syntax", "listen: [\n", "parsing config"},
		{"two documents", baseYAML + "---\nlisten: :9\n", "more than one YAML document"},
		{"repeated key", baseYAML + "listen: :9\n", `line 4: mapping key "listen" already defined at line 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig([]byte(tt.doc), testDir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			// When the document's shape is wrong, what did not decode is not reported missing.
			if tt.name != "empty" && err != nil && strings.Contains(err.Error(), "required") {
				t.Errorf("error %v reports keys as missing", err)
			}
		})
	}
}

func TestLoadConfigExample(t *testing.T) {
	t.Parallel()
	got, err := LoadConfig(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	// The example documents the defaults, so it must equal them.
	want := defaultConfig()
	want.Listen = ":8080"
	want.Upstreams = []string{"127.0.0.1:53"}
	want.GeoIP = GeoIPConfig{City: filepath.Join(dir, "GeoIP2-City.mmdb"), ISP: filepath.Join(dir, "GeoIP2-ISP.mmdb")}
	want.Domains = filepath.Join(dir, "domains.txt")
	want.SplitLog = filepath.Join(dir, "splits.jsonl")
	want.DemandLog = filepath.Join(dir, "demand.jsonl")
	want.AccountsFile = filepath.Join(dir, "accounts.json")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("example.yaml\n got  %+v\n want %+v", got, want)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte(baseYAML+"batch_limit: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 4: batch_limit") {
		t.Errorf("LoadConfig(bad) = %v, want the file and the key named", err)
	}
	_, err = LoadConfig(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadConfig(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestConfigLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"debug": "DEBUG", "INFO": "INFO", "warn": "WARN", "error": "ERROR"} {
		c := &Config{LogLevel: in}
		if got := c.Level().String(); got != want {
			t.Errorf("Level(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	t.Parallel()
	for b, want := range map[ByteSize]string{0: "0B", 1000: "1000B", 1 << 20: "1MiB", 3 << 30: "3GiB", 1536: "3KiB" /* 3*512 */} {
		if b == 1536 {
			want = "1536B"
		}
		if got := b.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(b), got, want)
		}
	}
}
