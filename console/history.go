package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/httpdns/httpdns/resolver"
)

// maxRecorded is the largest upload whose digest the history takes (the admin API's own bound on
// whitelists and account lists); a larger one is refused by the API anyway.
const maxRecorded = 1 << 20

// Version is one accepted upload of a document, as the history remembers it: never the content.
type Version struct {
	// Version counts the document's accepted uploads on this node since it started, from 1.
	Version int       `json:"version"`
	SHA256  string    `json:"sha256"`
	Size    int       `json:"size"`
	Who     string    `json:"who"`
	When    time.Time `json:"when"`
}

// history keeps the last uploads of each document, newest first.
type history struct {
	mu    sync.Mutex
	max   int
	now   func() time.Time
	count map[string]int
	docs  map[string][]Version
}

func newHistory(max int, now func() time.Time) *history {
	return &history{max: max, now: now, count: map[string]int{}, docs: map[string][]Version{}}
}

func (h *history) add(doc string, body []byte, who string) {
	sum := sha256.Sum256(body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count[doc]++
	v := Version{Version: h.count[doc], SHA256: hex.EncodeToString(sum[:]), Size: len(body), Who: who, When: h.now().UTC()}
	list := append([]Version{v}, h.docs[doc]...)
	if len(list) > h.max {
		list = list[:h.max]
	}
	h.docs[doc] = list
}

func (h *history) list(doc string) []Version {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Version{}, h.docs[doc]...)
}

// recorded are the admin endpoints whose accepted uploads the history keeps, by document.
var recorded = map[string]string{"/admin/domains": "whitelist", "/admin/accounts": "accounts"}

// Record wraps the admin handler so that every accepted PUT /admin/domains and PUT /admin/accounts
// (200, whoever sent it: the console or curl) is remembered in the history: its digest, size,
// sender and time. The body is seen only as the admin handler reads it, after it checked the token.
func (c *Console) Record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := recorded[r.URL.Path]
		if !ok || r.Method != http.MethodPut {
			next.ServeHTTP(w, r)
			return
		}
		var body limitedBuffer
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(r.Body, &body), r.Body}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if (sw.status == 0 || sw.status == http.StatusOK) && !body.over { // 0: nothing written, an implicit 200
			c.history.add(doc, body.Bytes(), who(r))
		}
	})
}

// who names an upload's sender: the peer's address and the client (the console says so; others by
// the product of their User-Agent).
func who(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	agent := r.Header.Get("X-Httpdns-Client")
	if agent == "" {
		agent, _, _ = strings.Cut(r.UserAgent(), " ")
	}
	agent = strings.Map(func(r rune) rune {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, agent)
	if len(agent) > 40 {
		agent = agent[:40]
	}
	if agent == "" {
		return host
	}
	return host + " (" + agent + ")"
}

// limitedBuffer keeps what is written up to maxRecorded bytes and notes when there was more.
type limitedBuffer struct {
	bytes.Buffer
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxRecorded {
		b.over = true
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// statusWriter remembers the response's status.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (c *Console) handleHistory(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string][]Version{"whitelist": c.history.list("whitelist"), "accounts": c.history.list("accounts")})
}

// lineError is one bad line of a whitelist.
type lineError struct {
	Line    int    `json:"line"`
	Text    string `json:"text"`
	Message string `json:"message"`
}

// validation is POST /console/api/validate's answer.
type validation struct {
	OK     bool        `json:"ok"`
	Rules  int         `json:"rules"`
	Errors []lineError `json:"errors"`
}

// handleValidate serves POST /console/api/validate: the body is checked as PUT /admin/domains would
// check it (resolver.ParsePolicy), applying nothing; each bad line comes back with its number.
func (c *Console) handleValidate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRecorded))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "PayloadTooLarge", "a whitelist is at most 1 MiB")
		return
	}
	writeJSON(w, validate(body, c.cfg))
}

func validate(body []byte, cfg Config) validation {
	p, err := resolver.ParsePolicy(body, cfg.DefaultTier)
	if err == nil {
		return validation{OK: true, Rules: p.Len(), Errors: []lineError{}}
	}
	v := validation{Errors: []lineError{}}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var pe *resolver.ParseError
		if errors.As(e, &pe) {
			v.Errors = append(v.Errors, lineError{Line: pe.Line, Text: pe.Text, Message: pe.Err.Error()})
		} else {
			v.Errors = append(v.Errors, lineError{Message: e.Error()})
		}
	}
	return v
}
