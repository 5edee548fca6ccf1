package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/dnsmsg"
)

type jsonQuestion struct {
	Name string `json:"name"`
	Type uint16 `json:"type"`
}

type jsonRR struct {
	Name string `json:"name"`
	Type uint16 `json:"type"`
	TTL  uint32 `json:"TTL"`
	Data string `json:"data"`
}

// jsonAnswer is the Google/Cloudflare JSON reply, decoded strictly.
type jsonAnswer struct {
	Status             int
	TC, RD, RA, AD, CD bool
	Question           []jsonQuestion
	Answer             []jsonRR
	Authority          []jsonRR
	Additional         []jsonRR
	EDNSClientSubnet   string `json:"edns_client_subnet"`
}

func getJSON(t *testing.T, url string, accept string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestDNSJSON(t *testing.T) {
	t.Parallel()
	d := newDoHWorld(t)
	for _, tt := range []struct {
		name, path, accept string
		ctype              string
		status             int // DNS rcode
		qname              string
		qtype              uint16
		data               []string
		ecs                string
	}{
		{"google A", "/resolve?name=www.json.test&type=A", "", "application/json; charset=UTF-8", 0, "www.json.test.", 1,
			[]string{"192.0.2.0"}, ""},
		{"trailing dot kept single", "/resolve?name=dot.json.test.", "", "application/json; charset=UTF-8", 0, "dot.json.test.", 1,
			[]string{"192.0.2.0"}, ""},
		{"type by number", "/resolve?name=six.json.test&type=28", "", "application/json; charset=UTF-8", 0, "six.json.test.", 28,
			[]string{"2001:db8::1"}, ""},
		{"MX mnemonic, any case", "/resolve?name=mail.json.test&type=mx", "", "application/json; charset=UTF-8", 0, "mail.json.test.", 15,
			[]string{"10 mail.mail.json.test."}, ""},
		{"TXT quoted", "/resolve?name=txt.json.test&type=TXT&cd=0&do=1&ct=application/x-javascript&random_padding=xxxx", "", "application/json; charset=UTF-8", 0, "txt.json.test.", 16,
			[]string{`"v=spf1 -all"`}, ""},
		{"CNAME with dot", "/resolve?name=c.json.test&type=CNAME", "", "application/json; charset=UTF-8", 0, "c.json.test.", 5,
			[]string{"cname.target.test."}, ""},
		{"NXDOMAIN", "/resolve?name=nx.json.test", "", "application/json; charset=UTF-8", 3, "nx.json.test.", 1, nil, ""},
		{"SERVFAIL", "/resolve?name=fail.json.test&type=A", "", "application/json; charset=UTF-8", 2, "fail.json.test.", 1, nil, ""},
		{"edns_client_subnet echoed", "/resolve?name=ecs.json.test&edns_client_subnet=20.1.99.7/24", "", "application/json; charset=UTF-8", 0, "ecs.json.test.", 1,
			[]string{"192.0.2.99"}, "20.1.99.0/24"},
		{"edns_client_subnet 0/0 sends none", "/resolve?name=noecs.json.test&type=MX&edns_client_subnet=0.0.0.0/0", "", "application/json; charset=UTF-8", 0, "noecs.json.test.", 15,
			[]string{"10 mail.noecs.json.test."}, "0.0.0.0/0"},
		{"cloudflare", "/dns-query?name=cf.json.test&type=AAAA", "application/dns-json", "application/dns-json", 0, "cf.json.test.", 28,
			[]string{"2001:db8::1"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := getJSON(t, d.url+tt.path, tt.accept)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.ctype {
				t.Errorf("Content-Type %q, want %q", ct, tt.ctype)
			}
			var got jsonAnswer
			decodeStrict(t, body, &got)
			if got.Status != tt.status || !got.RD || !got.RA || len(got.Question) != 1 ||
				got.Question[0].Name != tt.qname || got.Question[0].Type != tt.qtype {
				t.Errorf("reply %s", body)
			}
			var data []string
			for _, rr := range got.Answer {
				if rr.Name != tt.qname || rr.Type != tt.qtype || rr.TTL == 0 {
					t.Errorf("record %+v, want name %s type %d and a TTL", rr, tt.qname, tt.qtype)
				}
				data = append(data, rr.Data)
				// m13253's client rebuilds each record from "name TTL IN TYPE data": it must parse.
				if _, err := dns.NewRR(rr.Name + " 60 IN " + dns.TypeToString[rr.Type] + " " + rr.Data); err != nil {
					t.Errorf("record %+v does not parse back: %v", rr, err)
				}
			}
			if strings.Join(data, "|") != strings.Join(tt.data, "|") {
				t.Errorf("data %q, want %q", data, tt.data)
			}
			if got.EDNSClientSubnet != tt.ecs {
				t.Errorf("edns_client_subnet %q, want %q", got.EDNSClientSubnet, tt.ecs)
			}
		})
	}

	t.Run("ECS sent upstream", func(t *testing.T) {
		if p, _ := dnsmsg.ECSPrefix(dnsmsg.ECS(d.lastQuery(t, "ecs.json.test"))); p.String() != "20.1.99.0/24" {
			t.Errorf("upstream ECS %v, want 20.1.99.0/24", p)
		}
		if e := dnsmsg.ECS(d.lastQuery(t, "noecs.json.test")); e != nil {
			t.Errorf("upstream ECS %v for edns_client_subnet=0.0.0.0/0, want none", e)
		}
	})

	t.Run("ct=application/dns-message answers the wire format", func(t *testing.T) {
		resp, body := getJSON(t, d.url+"/resolve?name=wire.json.test&ct=application/dns-message", "")
		m := new(dns.Msg)
		if resp.Header.Get("Content-Type") != "application/dns-message" || m.Unpack(body) != nil || len(m.Answer) != 1 {
			t.Errorf("Content-Type %q, body %q", resp.Header.Get("Content-Type"), body)
		}
	})

	t.Run("host= stays the batch API", func(t *testing.T) {
		resp, body := getJSON(t, d.url+"/resolve?host=batch.json.test", "")
		var b struct {
			DNS []map[string]any `json:"dns"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &b) != nil || len(b.DNS) != 1 {
			t.Errorf("status %d body %s", resp.StatusCode, body)
		}
	})
}

func TestDNSJSONBadInput(t *testing.T) {
	t.Parallel()
	d := newDoHWorld(t)
	for _, tt := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"empty name", "/resolve?name=", 400, CodeMissingArgument},
		{"bad name", "/resolve?name=a..b", 400, CodeInvalidHost},
		{"label too long", "/resolve?name=" + strings.Repeat("a", 64) + ".test", 400, CodeInvalidHost},
		{"name too long", "/resolve?name=" + strings.Repeat("abcdefghi.", 26), 400, CodeInvalidHost},
		{"bad escape", "/resolve?name=%zz", 400, CodeInvalidHost},
		{"bad type", "/resolve?name=x.test&type=BOGUS", 400, CodeInvalidType},
		{"type 0", "/resolve?name=x.test&type=0", 400, CodeInvalidType},
		{"type too big", "/resolve?name=x.test&type=65536", 400, CodeInvalidType},
		{"bad subnet", "/resolve?name=x.test&edns_client_subnet=1.2.3.4/40", 400, CodeInvalidSubnet},
		{"bad cd", "/resolve?name=x.test&cd=maybe", 400, "InvalidArgument"},
		{"cloudflare bad name", "/dns-query?name=-bad-.test..", 400, CodeInvalidHost},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := getJSON(t, d.url+tt.path, "application/dns-json")
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json (m13253 reads no other error body)", ct)
			}
			var e struct {
				Status  int
				Comment string
				Code    string `json:"code"`
			}
			decodeStrict(t, body, &e)
			if e.Status != dns.RcodeFormatError || e.Code != tt.code || e.Comment == "" {
				t.Errorf("body %s, want Status 1, code %s and a comment", body, tt.code)
			}
		})
	}
	if n := d.upstream.Load(); n != 0 {
		t.Errorf("bad input made %d upstream queries", n)
	}
}
