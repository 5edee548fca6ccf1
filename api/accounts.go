package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// unknownAccount is the account label of requests naming an id no account has, so that clients
// cannot grow the label set.
const unknownAccount = "unknown"

// Account is one customer account of the provider-compatible doors. Its secrets are never logged,
// served or put in an error message.
type Account struct {
	// ID is the account id clients put in the path (/{id}/d) or in id=. Required, unique.
	ID string
	// Alibaba enables the Alibaba Cloud doors (/{id}/..., /v2/d) for the account; nil: they answer
	// 403 InvalidAccount for it.
	Alibaba *AlibabaAccount
	// DNSPod holds the keys of the DNSPod door; nil: that door refuses the account.
	DNSPod *DNSPodAccount
}

// AlibabaAccount holds an account's Alibaba Cloud HTTPDNS secrets (docs/design.md §10.3).
type AlibabaAccount struct {
	// Secret is the signing secret, hex text as the Alibaba console issues it. v1 signs
	// MD5(host-secret-t) with the text itself; v2 signs HMAC-SHA256 with the hex-decoded bytes, so
	// a secret that is not hex serves v1 only. Empty: signed requests are refused with
	// 403 InvalidSignature.
	Secret string
	// AESKey is the hex-encoded AES-128 key (32 hex characters) of v2's encrypted modes; empty:
	// encrypted requests are refused.
	AESKey string
	// SignedOnly refuses the unsigned /{id}/d and /{id}/resolve with 403 UnsignedInterfaceDisabled.
	SignedOnly bool
}

// DNSPodAccount holds an account's DNSPod (Tencent Cloud) HTTPDNS keys.
type DNSPodAccount struct {
	// DESKey is the DES key text of alg=des; its first 8 bytes are used, so it has at least 8.
	DESKey string
	// AESKey is the AES-128 key text of alg=aes: 16 bytes, or fewer padded with '0' as DNSPod does.
	AESKey string
	// Token is the token of the HTTPS token mode.
	Token string
}

// accountSet is an immutable snapshot of the accounts, swapped whole on a replace.
type accountSet struct {
	byID  map[string]*accountState
	order []string // the ids in the order they were given
}

// accountState is one account as the doors use it: its settings and its request counter.
type accountState struct {
	Account
	aesKey   []byte // Alibaba.AESKey decoded; nil when there is none
	hmacKey  []byte // Alibaba.Secret hex-decoded, the v2 HMAC key
	requests prometheus.Counter
}

// CheckAccounts validates accounts whole and returns every problem found: ids present and unique,
// secrets of the right form. Messages name the account and the field, never a secret's value.
func CheckAccounts(accounts []Account) error {
	var errs []error
	seen := make(map[string]bool, len(accounts))
	for i, acc := range accounts {
		where := fmt.Sprintf("account %d (%q)", i, acc.ID)
		switch {
		case acc.ID == "":
			errs = append(errs, fmt.Errorf("account %d: id is required", i))
		case acc.ID == unknownAccount:
			errs = append(errs, fmt.Errorf("%s: the id %q is reserved", where, unknownAccount))
		case !validAccountID(acc.ID):
			errs = append(errs, fmt.Errorf("%s: id must be 1-64 letters, digits, '-' or '_'", where))
		case seen[acc.ID]:
			errs = append(errs, fmt.Errorf("%s: id repeated", where))
		}
		seen[acc.ID] = true
		if ali := acc.Alibaba; ali != nil {
			if strings.ContainsFunc(ali.Secret, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				errs = append(errs, fmt.Errorf("%s: alibaba.secret must not hold spaces or control characters", where))
			}
			if ali.AESKey != "" {
				if b, err := hex.DecodeString(ali.AESKey); err != nil || len(b) != 16 {
					errs = append(errs, fmt.Errorf("%s: alibaba.aes_key must be 32 hex characters (AES-128)", where))
				}
			}
		}
		if dp := acc.DNSPod; dp != nil {
			if dp.DESKey != "" && len(dp.DESKey) < 8 {
				errs = append(errs, fmt.Errorf("%s: dnspod.des_key must be at least 8 bytes (DES uses the first 8)", where))
			}
			if len(dp.AESKey) > 16 {
				errs = append(errs, fmt.Errorf("%s: dnspod.aes_key must be at most 16 bytes (AES-128; a shorter one is padded with '0')", where))
			}
		}
	}
	return errors.Join(errs...)
}

// validAccountID reports whether id can stand in a path segment and a metric label as it is.
func validAccountID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// newAccountSet builds a snapshot of valid accounts with their counters from counters.
func newAccountSet(accounts []Account, counters *prometheus.CounterVec) *accountSet {
	s := &accountSet{byID: make(map[string]*accountState, len(accounts))}
	for _, acc := range accounts {
		st := &accountState{Account: acc, requests: counters.WithLabelValues(acc.ID)}
		if acc.Alibaba != nil {
			st.aesKey, _ = hex.DecodeString(acc.Alibaba.AESKey)
			st.hmacKey, _ = hex.DecodeString(acc.Alibaba.Secret)
			if len(st.aesKey) == 0 {
				st.aesKey = nil
			}
		}
		s.byID[acc.ID] = st
		s.order = append(s.order, acc.ID)
	}
	return s
}

// accounts holds the current account snapshot and the per-account request counters.
type accounts struct {
	cur      atomic.Pointer[accountSet]
	requests *prometheus.CounterVec
	unknown  prometheus.Counter

	// publisher, when set, takes PUT /admin/accounts to the fleet (API.ShareAccounts); fromFleet
	// says the accounts in force are the fleet's document. Both guarded by API.accountsMu.
	publisher AccountsPublisher
	fromFleet bool
}

func newAccounts(list []Account, requests *prometheus.CounterVec) *accounts {
	as := &accounts{requests: requests, unknown: requests.WithLabelValues(unknownAccount)}
	as.cur.Store(newAccountSet(list, requests))
	return as
}

// lookup returns the account with id and counts the request under it (or under "unknown").
func (as *accounts) lookup(id string) *accountState {
	if st := as.cur.Load().byID[id]; st != nil {
		st.requests.Inc()
		return st
	}
	as.unknown.Inc()
	return nil
}

// replace validates list whole and swaps it in; the counters of removed accounts are dropped, so
// the label set stays that of the configured accounts.
func (as *accounts) replace(list []Account) error {
	if err := CheckAccounts(list); err != nil {
		return err
	}
	next := newAccountSet(list, as.requests)
	old := as.cur.Swap(next)
	for id := range old.byID {
		if next.byID[id] == nil {
			as.requests.DeleteLabelValues(id)
		}
	}
	return nil
}

// DNSPodKeys returns the DNSPod keys of account id, counting the request under it; ok is false
// when no account with DNSPod settings has that id. It makes the accounts the DNSPod door's
// DNSPodAccounts.
func (as *accounts) DNSPodKeys(id string) (DNSPodKeys, bool) {
	st := as.lookup(id)
	if st == nil || st.DNSPod == nil {
		return DNSPodKeys{}, false
	}
	return DNSPodKeys{DES: st.DNSPod.DESKey, AES: st.DNSPod.AESKey}, true
}

// DNSPodToken reports whether token is the DNSPod token of an account, and counts the request under
// that account (or under "unknown"). Every account's token is compared, as SHA-256 digests in
// constant time, so timing tells nothing about any of them.
func (as *accounts) DNSPodToken(token string) bool {
	sum := sha256.Sum256([]byte(token))
	var match *accountState
	for _, st := range as.cur.Load().byID {
		if st.DNSPod == nil || st.DNSPod.Token == "" {
			continue
		}
		want := sha256.Sum256([]byte(st.DNSPod.Token))
		if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			match = st
		}
	}
	if match == nil {
		as.unknown.Inc()
		return false
	}
	match.requests.Inc()
	return true
}

// list returns the current accounts in the order they were given.
func (as *accounts) list() []Account {
	cur := as.cur.Load()
	out := make([]Account, 0, len(cur.order))
	for _, id := range cur.order {
		out = append(out, cur.byID[id].Account)
	}
	return out
}
