package console

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/resolver"
	"github.com/miekg/dns"
)

// lookupTimeout bounds the fresh upstream answer of one lookup.
const lookupTimeout = 5 * time.Second

// maxLookups bounds the lookups in flight: each asks upstream as a client's miss does (the resolver's
// budget and its pool's max_inflight apply), and a script looping over the lookup with the admin token
// must not take the pool's slots from the clients. Operators click; four at once is plenty.
const maxLookups = 4

// lookupJSON is GET /console/api/lookup's answer: resolver.Explanation for people.
type lookupJSON struct {
	Name       string       `json:"name"`
	Type       string       `json:"type"`
	Client     string       `json:"client"`
	Tier       string       `json:"tier"`
	Refresh    string       `json:"refresh"`
	Rule       string       `json:"rule"`
	Location   locationJSON `json:"location"`
	ECS        string       `json:"ecs"`
	Key        string       `json:"key"`
	Scope      string       `json:"scope"`
	Split      bool         `json:"split"`
	NameWide   bool         `json:"name_wide"`
	AutoGlobal bool         `json:"auto_global"`
	Cached     *cachedJSON  `json:"cached"`
	Fresh      *freshJSON   `json:"fresh"`
	FreshError string       `json:"fresh_error,omitempty"`
	// Agree is set when a cached answer and the fresh one hold the same addresses.
	Agree *bool `json:"agree"`
}

type locationJSON struct {
	Block   string `json:"block"`
	Network string `json:"network"`
	BlockID uint32 `json:"block_id"`
	Country string `json:"country"`
	City    string `json:"city"`
	ISP     string `json:"isp"`
	ASN     uint32 `json:"asn"`
}

type cachedJSON struct {
	State     string   `json:"state"` // fresh, stale (in the refresh grace), expired (kept for serve-stale)
	IPs       []string `json:"ips"`
	Rcode     string   `json:"rcode"`
	TTL       uint32   `json:"ttl"`
	Remaining uint32   `json:"remaining"`
	Scope     string   `json:"ecs_scope"`
	Parts     []string `json:"parts,omitempty"`
}

type freshJSON struct {
	IPs   []string `json:"ips"`
	Rcode string   `json:"rcode"`
	TTL   uint32   `json:"ttl"`
	Scope string   `json:"ecs_scope"`
}

func (c *Console) handleLookup(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Explainer == nil {
		writeError(w, http.StatusNotFound, "NotFound", "this node has no resolver to explain")
		return
	}
	q := r.URL.Query()
	client, err := parseAddr(q.Get("client"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidIP", "client: "+err.Error())
		return
	}
	qtype := resolver.TypeA
	switch strings.ToUpper(q.Get("type")) {
	case "", "A", "4":
	case "AAAA", "6":
		qtype = resolver.TypeAAAA
	default:
		writeError(w, http.StatusBadRequest, "InvalidQuery", "type must be A or AAAA")
		return
	}
	select {
	case c.lookups <- struct{}{}:
		defer func() { <-c.lookups }()
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "TooManyRequests",
			"at most "+strconv.Itoa(maxLookups)+" lookups at once: each asks upstream")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), lookupTimeout)
	defer cancel()
	x, err := c.cfg.Explainer.Explain(ctx, resolver.Query{Name: q.Get("name"), Qtype: qtype, Client: client})
	switch {
	case errors.Is(err, resolver.ErrInvalidName):
		writeError(w, http.StatusBadRequest, "InvalidHost", "name: "+err.Error())
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "InternalError", "explaining failed")
		return
	}
	writeJSON(w, explained(x))
}

// explained writes an Explanation for the page.
func explained(x resolver.Explanation) lookupJSON {
	out := lookupJSON{Name: x.Name, Type: dns.TypeToString[x.Qtype], Client: x.Client.String(),
		Tier: x.Rule.Tier.String(), Refresh: x.Rule.Refresh.String(), Rule: x.Rule.Pattern,
		Location: locationOf(x.Location), ECS: prefixText(x.Source), Key: x.Key.Tier.String() + " " + x.Key.Scope,
		Scope: x.Key.Scope, Split: x.Split, NameWide: x.NameWide, AutoGlobal: x.AutoGlobal}
	if x.Key.Scope == "" {
		out.Key = x.Key.Tier.String() + " (name-wide)"
	}
	if c := x.Cached; c.Found {
		state := map[string]string{"hit": "fresh", "stale": "stale", "miss": "expired"}[c.Result.String()]
		out.Cached = &cachedJSON{State: state, IPs: addrs(c.IPs), Rcode: dns.RcodeToString[c.Rcode], TTL: c.TTL,
			Remaining: c.Remaining, Scope: prefixText(c.Scope), Parts: prefixes(c.Parts)}
	}
	if x.FreshErr != nil {
		out.FreshError = "every upstream node failed: " + x.FreshErr.Error()
	} else {
		f := x.Fresh
		scope := "none (the reply carried no ECS)"
		if f.Scope >= 0 {
			// As the cached entry's: the client's addresses the CDN says the answer is for.
			scope = "/" + strconv.Itoa(f.Scope)
			if p, err := x.Client.Prefix(f.Scope); err == nil {
				scope = p.String()
			}
		}
		out.Fresh = &freshJSON{IPs: addrs(f.IPs), Rcode: dns.RcodeToString[f.Rcode], TTL: f.TTL, Scope: scope}
		if out.Cached != nil {
			agree := strings.Join(out.Cached.IPs, ",") == strings.Join(out.Fresh.IPs, ",")
			out.Agree = &agree
		}
	}
	return out
}

func locationOf(l cidrdb.Location) locationJSON {
	return locationJSON{Block: prefixText(l.Block), Network: prefixText(l.Network), BlockID: l.BlockID,
		Country: l.Country, City: l.City, ISP: l.ISP, ASN: l.ASN}
}

func prefixText(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func addrs(a []netip.Addr) []string {
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = x.String()
	}
	return out
}

func prefixes(ps []netip.Prefix) []string {
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
