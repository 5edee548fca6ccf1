package interop

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alicloud-httpdns-go-sdk/pkg/httpdns"
)

// The accounts of the Alibaba SDK tests: one that takes unsigned requests, one that must sign.
const alibabaAccounts = `
accounts:
  - id: "100000"
    alibaba: {secret: "0123456789abcdef"}
  - id: "100001"
    alibaba: {secret: "fedcba9876543210", signed_only: true}
`

// TestAlibabaGoSDK drives github.com/aliyun/alicloud-httpdns-go-sdk v1.0.1, unmodified, against a
// real serve: discovery through /{account}/ss from a bootstrap of 127.0.0.1:PORT, then unsigned and
// signed (MD5, expiry 30 s ahead) single and batch lookups, each answered for the client's /24 (the
// upstream answers A 192.0.2.<the ECS /24's third byte>), and a wrong secret refused.
func TestAlibabaGoSDK(t *testing.T) {
	t.Parallel()
	base := startServe(t, alibabaAccounts)
	bootstrap := strings.TrimPrefix(base, "http://")
	newClient := func(t *testing.T, account, secret string) httpdns.Client {
		t.Helper()
		cfg := httpdns.DefaultConfig()
		cfg.AccountID, cfg.SecretKey = account, secret
		cfg.BootstrapIPs = []string{bootstrap}
		cfg.EnableMemoryCache = false
		cfg.Timeout = 5 * time.Second
		c, err := httpdns.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	want := func(t *testing.T, r *httpdns.ResolveResult, domain, ip string) {
		t.Helper()
		if r == nil || r.Error != nil || r.Domain != domain || !slices.EqualFunc(r.IPv4, []net.IP{net.ParseIP(ip)}, net.IP.Equal) || r.TTL <= 0 {
			t.Errorf("%s: %+v, want %s", domain, r, ip)
		}
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, account, secret string
	}{
		{"unsigned", "100000", ""},
		{"signed", "100000", "0123456789abcdef"},
		{"signed-only account", "100001", "fedcba9876543210"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, tc.account, tc.secret)
			r, err := c.Resolve(ctx, "www.example.com", httpdns.WithClientIP("1.2.3.4"))
			if err != nil {
				t.Fatal(err)
			}
			want(t, r, "www.example.com", "192.0.2.3")
			list, err := c.ResolveBatch(ctx, []string{"a.example.com", "b.example.com"}, httpdns.WithClientIP("5.6.7.8"))
			if err != nil || len(list) != 2 {
				t.Fatalf("batch: %v %v", list, err)
			}
			want(t, list[0], "a.example.com", "192.0.2.7")
			want(t, list[1], "b.example.com", "192.0.2.7")
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		c := newClient(t, "100001", "00000000")
		if r, err := c.Resolve(ctx, "www.example.com", httpdns.WithClientIP("1.2.3.4")); err == nil && r.Error == nil && len(r.IPv4) > 0 {
			t.Errorf("a wrong secret resolved: %+v", r)
		}
	})
	t.Run("unsigned on a signed-only account", func(t *testing.T) {
		c := newClient(t, "100001", "")
		if r, err := c.Resolve(ctx, "www.example.com"); err == nil && r.Error == nil && len(r.IPv4) > 0 {
			t.Errorf("an unsigned request resolved: %+v", r)
		}
	})
}
