package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const resolveUsage = `Usage: httpdns resolve -server URL [-ip ADDR] [-query 4|6|4,6] [-json] [-timeout 5s] NAME...

Asks an httpdns server for each NAME and prints a table, one line per name and address type:
HOST, TYPE (A or AAAA), IPS, TTL (seconds the answer stays valid), ORIGIN_TTL (the TTL the
upstream gave) and SCOPE (the client subnet the answer was cached for, when the server says).
One NAME is asked with GET /d, several with one GET /resolve. A name that does not exist shows
"-" as its IPs. An error from the server is printed as "server said CODE: message" and the
exit status is 1.
`

// maxAnswerBytes bounds how much of a server's reply is read.
const maxAnswerBytes = 4 << 20

// resolveFlags are the flags of `httpdns resolve`.
type resolveFlags struct {
	server  string
	ip      string
	query   string
	json    bool
	timeout time.Duration
}

// runResolve asks an httpdns server for names and prints its answers.
func runResolve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("resolve", resolveUsage, stderr)
	var f resolveFlags
	fs.StringVar(&f.server, "server", "", "base `URL` of the server's public API, e.g. http://127.0.0.1:8080 (required)")
	fs.StringVar(&f.ip, "ip", "", "client `address` to answer for (default: this machine, as the server sees it)")
	fs.StringVar(&f.query, "query", "", "address `types` to ask for: 4, 6 or 4,6 (default: the server's, A)")
	fs.BoolVar(&f.json, "json", false, "print the server's JSON as it came instead of a table")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "HTTP `timeout` of the whole request")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case f.server == "":
		return usageErrorf(fs, "-server is required")
	case fs.NArg() == 0:
		return usageErrorf(fs, "no NAME to resolve")
	case f.timeout <= 0:
		return usageErrorf(fs, "-timeout must be positive")
	}
	u, err := f.requestURL(fs.Args())
	if err != nil {
		return usageErrorf(fs, "%v", err)
	}
	body, err := fetchAnswer(ctx, f.timeout, u)
	if err != nil {
		return err
	}
	if f.json {
		if !bytes.HasSuffix(body, []byte("\n")) {
			body = append(body, '\n')
		}
		_, err := stdout.Write(body)
		return err
	}
	rows, err := f.rows(body, fs.NArg() > 1)
	if err != nil {
		return err
	}
	return printAnswers(stdout, rows)
}

// requestURL builds /d?host=NAME for one name and /resolve?host=a,b for several.
func (f *resolveFlags) requestURL(names []string) (string, error) {
	server := f.server
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	base, err := url.Parse(server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return "", fmt.Errorf("-server %q is not an http:// or https:// URL", f.server)
	}
	endpoint := "d"
	if len(names) > 1 {
		endpoint = "resolve"
	}
	u := base.JoinPath(endpoint)
	q := url.Values{"host": {strings.Join(names, ",")}}
	if f.ip != "" {
		q.Set("ip", f.ip)
	}
	if f.query != "" {
		q.Set("query", f.query)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// ServerError is an error reply: its HTTP status and, when the body is the service's JSON
// error ({"code","message"}), its code and message.
type ServerError struct {
	Status  int    // HTTP status code
	Code    string // e.g. "InvalidHost"; empty when the body was not a JSON error
	Message string
}

// Error reads "server said InvalidHost: ..." or, without a JSON error, "server answered 502 Bad Gateway".
func (e *ServerError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("server said %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
}

// fetchAnswer GETs u and returns the body of a 200 reply; any other reply is a *ServerError.
func fetchAnswer(ctx context.Context, timeout time.Duration, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("asking the server: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking the server: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the server's reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		se := &ServerError{Status: resp.StatusCode}
		var e struct{ Code, Message string }
		if json.Unmarshal(body, &e) == nil {
			se.Code, se.Message = e.Code, e.Message
		}
		return nil, se
	}
	return body, nil
}

// answerRow is one line of the table.
type answerRow struct {
	host      string
	qtype     string
	ips       []string
	ttl       int64
	originTTL int64
	scope     string
}

// oneAnswer is the reply of /d.
type oneAnswer struct {
	Host      string   `json:"host"`
	IPs       []string `json:"ips"`
	IPsV6     []string `json:"ipsv6"`
	TTL       int64    `json:"ttl"`
	OriginTTL int64    `json:"origin_ttl"`
	Scope     string   `json:"scope"`
}

// batchAnswer is the reply of /resolve.
type batchAnswer struct {
	DNS []struct {
		Host      string   `json:"host"`
		IPs       []string `json:"ips"`
		Type      int      `json:"type"`
		TTL       int64    `json:"ttl"`
		OriginTTL int64    `json:"origin_ttl"`
		Scope     string   `json:"scope"`
	} `json:"dns"`
}

// rows decodes a /d (batch false) or /resolve (batch true) reply into table rows.
func (f *resolveFlags) rows(body []byte, batch bool) ([]answerRow, error) {
	if batch {
		var b batchAnswer
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, fmt.Errorf("decoding the server's /resolve reply: %w", err)
		}
		rows := make([]answerRow, 0, len(b.DNS))
		for _, a := range b.DNS {
			rows = append(rows, answerRow{a.Host, typeName(a.Type), a.IPs, a.TTL, a.OriginTTL, a.Scope})
		}
		return rows, nil
	}
	var a oneAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("decoding the server's /d reply: %w", err)
	}
	v4, v6 := wantedTypes(f.query)
	var rows []answerRow
	if v4 || len(a.IPs) > 0 {
		rows = append(rows, answerRow{a.Host, "A", a.IPs, a.TTL, a.OriginTTL, a.Scope})
	}
	if v6 || len(a.IPsV6) > 0 {
		rows = append(rows, answerRow{a.Host, "AAAA", a.IPsV6, a.TTL, a.OriginTTL, a.Scope})
	}
	return rows, nil
}

// wantedTypes reads -query: "4", "6" or "4,6"; anything else means the server's default, A.
func wantedTypes(query string) (v4, v6 bool) {
	for t := range strings.SplitSeq(query, ",") {
		switch strings.TrimSpace(t) {
		case "4":
			v4 = true
		case "6":
			v6 = true
		}
	}
	return v4 || !v6, v6
}

// typeName names a DNS record type number (RFC 1035, RFC 3596).
func typeName(t int) string {
	switch t {
	case 1:
		return "A"
	case 28:
		return "AAAA"
	}
	return "TYPE" + strconv.Itoa(t)
}

// printAnswers writes rows as an aligned table; the SCOPE column appears when a row has one.
func printAnswers(w io.Writer, rows []answerRow) error {
	withScope := false
	for _, r := range rows {
		withScope = withScope || r.scope != ""
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "HOST\tTYPE\tIPS\tTTL\tORIGIN_TTL"
	if withScope {
		header += "\tSCOPE"
	}
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		ips := strings.Join(r.ips, ",")
		if ips == "" {
			ips = "-"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%d\t%d", r.host, r.qtype, ips, r.ttl, r.originTTL)
		if withScope {
			line += "\t" + orDash(r.scope)
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("printing answers: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
