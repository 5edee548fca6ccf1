package api

import (
	"strconv"
	"testing"
	"time"
)

// The answers the Alibaba SDKs parse, as golden files (regenerate with -update): v1 single with
// host and ttl (Android 2.4 throws without them), v1 batch with host, type and ttl on every entry
// (IPv6 addresses in ips), v2's envelope with mode as a string and data as an object.
func TestAlibabaGolden(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{Accounts: v2Accounts(), Now: func() time.Time { return vectorNow }})
	exp := strconv.FormatInt(vectorNow.Unix()+600, 10)
	for _, tc := range []struct{ name, target string }{
		{"alibaba_v1_d.json", "/100000/d?host=api.example.com&query=4,6&ip=1.2.3.4"},
		{"alibaba_v1_resolve.json", "/100000/resolve?host=api.example.com,nx.example.com&query=4,6&ip=1.2.3.4"},
		{"alibaba_v2_d.json", "/v2/d?" + v2Query(map[string]string{"id": "100000", "dn": "api.example.com,nx.example.com", "q": "4,6", "cip": "1.2.3.4", "exp": exp}, v2Secret)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(ta.Public(), tc.target)
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			golden(t, tc.name, w.Body.Bytes())
		})
	}
}
