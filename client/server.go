package client

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxBody bounds a server's answer the client reads.
const maxBody = 1 << 20

// ErrServersUnavailable is returned (wrapped, with each server's error) when no server answered.
var ErrServersUnavailable = errors.New("every httpdns server failed")

// ServerError is an error answer of a server: its HTTP status and the JSON body's code and
// message (docs/design.md §4: {"code":"InvalidHost","message":"…"}).
type ServerError struct {
	Server  string // the server's base URL
	Status  int
	Code    string
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("httpdns server %s: %d %s: %s", e.Server, e.Status, e.Code, e.Message)
}

// retryable reports whether another server may answer better: a 5xx, 408 or 429. Other 4xx
// answers (a bad name, a refused signature, an unknown account) would be the same anywhere, and
// retrying auth failures against every server is the storm the 403 codes are there to prevent.
func (e *ServerError) retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
}

// server is one base URL and its penalty.
type server struct {
	base     string
	badUntil atomic.Int64 // unix nanoseconds; before it the server is tried after the others
}

// hostAnswer is what a server said about one host: its addresses of the families asked, the TTL
// and the client address the server answered for; err is a batch element's own error code.
type hostAnswer struct {
	addrs    []netip.Addr
	ttl      time.Duration
	clientIP netip.Addr
	err      error
}

// order returns the servers to try: those without a penalty in configured order, then the
// penalised ones, the one whose penalty ends first first.
func (c *Client) order() []*server {
	now := c.cfg.Now().UnixNano()
	out := make([]*server, 0, len(c.servers))
	var bad []*server
	for _, s := range c.servers {
		if s.badUntil.Load() > now {
			bad = append(bad, s)
		} else {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(bad, func(a, b *server) int { return cmp.Compare(a.badUntil.Load(), b.badUntil.Load()) })
	return append(out, bad...)
}

// ask asks the servers in turn about hosts (canonical, at most the batch limit) until one
// answers. A server that fails, or answers 5xx, 408 or 429, is penalised and the next is tried;
// any other error answer is returned as a *ServerError.
func (c *Client) ask(ctx context.Context, hosts []string) (map[string]hostAnswer, error) {
	var errs []error
	for _, s := range c.order() {
		start := c.cfg.Now()
		ans, err := c.askOne(ctx, s, hosts)
		c.cfg.Hooks.serverRequest(s.base, c.cfg.Now().Sub(start), err)
		if err == nil {
			s.badUntil.Store(0)
			return ans, nil
		}
		var se *ServerError
		if errors.As(err, &se) && !se.retryable() {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.badUntil.Store(c.cfg.Now().Add(c.cfg.Penalty).UnixNano())
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrServersUnavailable, errors.Join(errs...))
}

// askOne sends one request to s, bounded by Timeout.
func (c *Client) askOne(ctx context.Context, s *server, hosts []string) (map[string]hostAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.requestURL(s, hosts), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s's answer: %w", s.base, err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("reading %s's answer: over %d bytes", s.base, maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		se := &ServerError{Server: s.base, Status: resp.StatusCode}
		var eb struct{ Code, Message string }
		if json.Unmarshal(body, &eb) == nil {
			se.Code, se.Message = eb.Code, eb.Message
		}
		return nil, se
	}
	if len(hosts) == 1 {
		return parseSingle(body, hosts[0])
	}
	return parseBatch(body, s.base)
}

// requestURL builds the request for hosts: the single form for one host, the batch form for
// several; Alibaba v1 puts the account in the path and, with a secret, signs host with an expiry
// (docs/design.md §10.3: s = hex(MD5(host + "-" + secret + "-" + t))). host= carries the names
// with a raw comma, as the SDKs send it; the names are checked host names, nothing to escape.
func (c *Client) requestURL(s *server, hosts []string) string {
	host := strings.Join(hosts, ",")
	op := "d"
	if len(hosts) > 1 {
		op = "resolve"
	}
	var b strings.Builder
	b.WriteString(s.base)
	if c.cfg.API == APIAlibabaV1 {
		b.WriteString("/" + c.cfg.AccountID + "/")
		if c.cfg.Secret != "" {
			b.WriteString("sign_")
		}
	} else {
		b.WriteString("/")
	}
	b.WriteString(op + "?host=" + host + "&query=" + c.cfg.Families)
	if c.cfg.API == APIAlibabaV1 && c.cfg.Secret != "" {
		t := strconv.FormatInt(c.cfg.Now().Add(c.cfg.SignatureTTL).Unix(), 10)
		sum := md5.Sum([]byte(host + "-" + c.cfg.Secret + "-" + t))
		b.WriteString("&t=" + t + "&s=" + hex.EncodeToString(sum[:]))
	}
	return b.String()
}

// singleBody is the answer of /d (and Alibaba's /{account}/d).
type singleBody struct {
	Host     string   `json:"host"`
	ClientIP string   `json:"client_ip"`
	IPs      []string `json:"ips"`
	IPsV6    []string `json:"ipsv6"`
	TTL      int64    `json:"ttl"`
}

// batchBody is the answer of /resolve: one element per host and family (type 1 or 28), each
// /d's fields and an error code of its own.
type batchBody struct {
	DNS []struct {
		singleBody
		Error string `json:"error"`
	} `json:"dns"`
}

func parseSingle(body []byte, host string) (map[string]hostAnswer, error) {
	var b singleBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("parsing the answer for %s: %w", host, err)
	}
	a := hostAnswer{ttl: ttlOf(b.TTL)}
	a.clientIP, _ = netip.ParseAddr(b.ClientIP)
	a.addrs = appendAddrs(appendAddrs(nil, b.IPs), b.IPsV6)
	return map[string]hostAnswer{host: a}, nil
}

// parseBatch merges the elements of each host: the addresses of both families, the smaller
// non-zero TTL, and an error only if no element of the host succeeded (a *ServerError of
// server, the base URL that answered).
func parseBatch(body []byte, server string) (map[string]hostAnswer, error) {
	var b batchBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("parsing a batch answer: %w", err)
	}
	out := make(map[string]hostAnswer, len(b.DNS))
	for _, el := range b.DNS {
		host := canonical(el.Host)
		a, seen := out[host]
		if el.Error != "" {
			if !seen {
				a.err = &ServerError{Server: server, Status: http.StatusOK, Code: el.Error,
					Message: "batch element failed"}
				out[host] = a
			}
			continue
		}
		a.err = nil
		a.addrs = appendAddrs(appendAddrs(a.addrs, el.IPs), el.IPsV6)
		if ttl := ttlOf(el.TTL); ttl > 0 && (a.ttl == 0 || ttl < a.ttl) {
			a.ttl = ttl
		}
		if ip, err := netip.ParseAddr(el.ClientIP); err == nil {
			a.clientIP = ip
		}
		out[host] = a
	}
	return out, nil
}

// maxAddrs bounds the addresses taken from one list of an answer (a family's): the server keeps
// at most 32 a family (docs/design.md §5), and a dial races only the first few anyway. A host
// holds at most maxHostAddrs, however many elements of a batch name it.
const (
	maxAddrs     = 32
	maxHostAddrs = 2 * maxAddrs
)

// ttlOf is a server's ttl in seconds as a duration: negative is 0, and over 2^31-1 (RFC 2181 §8's
// largest TTL) is that, so no ttl overflows a Duration; settle clamps it to MaxTTL.
func ttlOf(secs int64) time.Duration {
	return time.Duration(min(max(secs, 0), 1<<31-1)) * time.Second
}

// appendAddrs appends the strings that parse as addresses of a host (as the SDKs do, others are
// dropped, and so are unspecified and multicast ones), IPv4-mapped ones unmapped, without
// duplicates: at most maxAddrs of list, and no more once out holds maxHostAddrs (a broken
// server's thousands of addresses would cost a quadratic dedup).
func appendAddrs(out []netip.Addr, list []string) []netip.Addr {
	taken := 0
	for _, s := range list {
		if taken == maxAddrs || len(out) >= maxHostAddrs {
			break
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			continue
		}
		// No host is there: a dial to 0.0.0.0 or :: reaches this machine, and a multicast address
		// no server.
		if a = a.Unmap(); a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
			taken++
		}
	}
	return out
}

// atMost reads the limit out of a TooManyHosts message ("too many hosts: 7, at most 5").
var atMost = regexp.MustCompile(`at most (\d+)`)

// tooManyHosts returns the server's batch limit if err is its TooManyHosts answer: the number in
// the message, or 0 if it names none.
func tooManyHosts(err error) (limit int, ok bool) {
	var se *ServerError
	if !errors.As(err, &se) || se.Code != "TooManyHosts" {
		return 0, false
	}
	if m := atMost.FindStringSubmatch(se.Message); m != nil {
		limit, _ = strconv.Atoi(m[1])
	}
	return limit, true
}
