package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/httpdns/httpdns/internal/atomicfile"
)

// SecretMask stands for a secret in GET /admin/accounts. In a PUT, a secret equal to it keeps the
// value the same account has now, so that what GET answers can be edited and sent back.
const SecretMask = "********"

// MaxAccountsBytes is the largest body PUT /admin/accounts accepts (1 MiB).
const MaxAccountsBytes = 1 << 20

// CodeInvalidAccounts (400): an uploaded account list is malformed or invalid; the message says why,
// never with a secret.
const CodeInvalidAccounts = "InvalidAccounts"

const epAdminAccounts endpoint = "admin_accounts"

// accountsDoc is the JSON of GET|PUT /admin/accounts and of the accounts file:
//
//	{"accounts":[{"id":"100000","alibaba":{"secret":"…","aes_key":"…","signed_only":true},
//	              "dnspod":{"des_key":"…","aes_key":"…","token":"…"}}]}
type accountsDoc struct {
	Accounts []accountJSON `json:"accounts"`
}

type accountJSON struct {
	ID      string       `json:"id"`
	Alibaba *alibabaJSON `json:"alibaba,omitempty"`
	DNSPod  *dnspodJSON  `json:"dnspod,omitempty"`
}

type alibabaJSON struct {
	Secret     string `json:"secret,omitempty"`
	AESKey     string `json:"aes_key,omitempty"`
	SignedOnly bool   `json:"signed_only,omitempty"`
}

type dnspodJSON struct {
	DESKey string `json:"des_key,omitempty"`
	AESKey string `json:"aes_key,omitempty"`
	Token  string `json:"token,omitempty"`
}

func errInvalidAccounts(err error) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeInvalidAccounts, msg: err.Error()}
}

// parseAccounts reads an accounts document strictly: unknown keys and trailing data are errors. The
// decoder's messages name offsets and types, never values.
func parseAccounts(data []byte) ([]Account, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc accountsDoc
	if err := dec.Decode(&doc); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf("not JSON at offset %d", se.Offset)
		case errors.As(err, &te):
			return nil, fmt.Errorf("%s must be %s", te.Field, te.Type)
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return nil, errors.New("not JSON: the document ends early")
		}
		return nil, fmt.Errorf("not an accounts document: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the accounts document")
	}
	out := make([]Account, 0, len(doc.Accounts))
	for _, aj := range doc.Accounts {
		acc := Account{ID: aj.ID}
		if a := aj.Alibaba; a != nil {
			acc.Alibaba = &AlibabaAccount{Secret: a.Secret, AESKey: a.AESKey, SignedOnly: a.SignedOnly}
		}
		if d := aj.DNSPod; d != nil {
			acc.DNSPod = &DNSPodAccount{DESKey: d.DESKey, AESKey: d.AESKey, Token: d.Token}
		}
		out = append(out, acc)
	}
	return out, nil
}

// formatAccounts writes accounts as an accounts document, each secret masked when mask is set.
func formatAccounts(list []Account, mask bool) []byte {
	hide := func(s string) string {
		if mask && s != "" {
			return SecretMask
		}
		return s
	}
	doc := accountsDoc{Accounts: make([]accountJSON, 0, len(list))}
	for _, acc := range list {
		aj := accountJSON{ID: acc.ID}
		if a := acc.Alibaba; a != nil {
			aj.Alibaba = &alibabaJSON{Secret: hide(a.Secret), AESKey: hide(a.AESKey), SignedOnly: a.SignedOnly}
		}
		if d := acc.DNSPod; d != nil {
			aj.DNSPod = &dnspodJSON{DESKey: hide(d.DESKey), AESKey: hide(d.AESKey), Token: hide(d.Token)}
		}
		doc.Accounts = append(doc.Accounts, aj)
	}
	b, _ := json.MarshalIndent(doc, "", "  ") // plain structs of strings and bools: cannot fail
	return append(b, '\n')
}

// keepMasked replaces each secret equal to SecretMask with the current value of the same account's
// same secret; a mask with nothing to keep is an error.
func keepMasked(list []Account, cur *accountSet) error {
	var errs []error
	keep := func(id, field string, v *string, old func(*accountState) string) {
		if *v != SecretMask {
			return
		}
		st := cur.byID[id]
		if st == nil || old(st) == "" {
			errs = append(errs, fmt.Errorf("account %q: %s is %s but the account has no %s to keep", id, field, SecretMask, field))
			return
		}
		*v = old(st)
	}
	for i := range list {
		acc := &list[i]
		if a := acc.Alibaba; a != nil {
			keep(acc.ID, "alibaba.secret", &a.Secret, func(s *accountState) string { return aliField(s, func(x *AlibabaAccount) string { return x.Secret }) })
			keep(acc.ID, "alibaba.aes_key", &a.AESKey, func(s *accountState) string { return aliField(s, func(x *AlibabaAccount) string { return x.AESKey }) })
		}
		if d := acc.DNSPod; d != nil {
			keep(acc.ID, "dnspod.des_key", &d.DESKey, func(s *accountState) string { return dpField(s, func(x *DNSPodAccount) string { return x.DESKey }) })
			keep(acc.ID, "dnspod.aes_key", &d.AESKey, func(s *accountState) string { return dpField(s, func(x *DNSPodAccount) string { return x.AESKey }) })
			keep(acc.ID, "dnspod.token", &d.Token, func(s *accountState) string { return dpField(s, func(x *DNSPodAccount) string { return x.Token }) })
		}
	}
	return errors.Join(errs...)
}

func aliField(s *accountState, f func(*AlibabaAccount) string) string {
	if s.Alibaba == nil {
		return ""
	}
	return f(s.Alibaba)
}

func dpField(s *accountState, f func(*DNSPodAccount) string) string {
	if s.DNSPod == nil {
		return ""
	}
	return f(s.DNSPod)
}

// LoadAccounts reads the accounts file PUT /admin/accounts writes. A missing file is an error
// satisfying errors.Is(err, fs.ErrNotExist); a bad one is an error naming the file, never a secret.
func LoadAccounts(path string) ([]Account, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading accounts: %w", err)
	}
	list, err := parseAccounts(data)
	if err == nil {
		err = CheckAccounts(list)
	}
	if err != nil {
		return nil, fmt.Errorf("loading accounts %s: %w", path, err)
	}
	return list, nil
}

// AccountsPublisher shares the accounts with a fleet (docs/design.md §9.4).
type AccountsPublisher interface {
	// PublishAccounts agrees on doc, a valid accounts document with every secret's value, with the
	// fleet and applies it on this node through ApplyAccounts. A *VersionConflictError, or an error
	// wrapping ErrFleetUnavailable, leaves the accounts as they were.
	PublishAccounts(doc []byte) error
}

// ShareAccounts makes PUT /admin/accounts publish through p instead of replacing the accounts of
// this node alone. fromFleet says the accounts in force now are the fleet's document. A masked
// secret in an upload keeps the value of the fleet's document only: while this node serves its own
// accounts (its config's, whose {env:} and {file:} secrets are its own), an upload must give every
// secret's value, so that no node publishes a secret the fleet did not already hold. Call it before
// serving.
func (a *API) ShareAccounts(p AccountsPublisher, fromFleet bool) {
	a.accountsMu.Lock()
	defer a.accountsMu.Unlock()
	a.accounts.publisher, a.accounts.fromFleet = p, fromFleet
}

// CheckAccountsDocument validates an accounts document (the JSON of PUT /admin/accounts and of the
// accounts file) whole, as ApplyAccounts would. A masked secret is taken as its literal value.
func CheckAccountsDocument(doc []byte) error {
	list, err := parseAccounts(doc)
	if err != nil {
		return err
	}
	return CheckAccounts(list)
}

// ApplyAccounts validates doc whole, writes it as it is to Config.AccountsFile (atomically, mode
// 0600) and swaps its accounts in; on error nothing changes. The accounts count as the fleet's from
// then on (see ShareAccounts).
func (a *API) ApplyAccounts(doc []byte) error {
	list, err := parseAccounts(doc)
	if err == nil {
		err = CheckAccounts(list)
	}
	if err != nil {
		return fmt.Errorf("applying accounts: %w", err)
	}
	a.accountsMu.Lock()
	defer a.accountsMu.Unlock()
	if err := a.saveAccounts(doc, list); err != nil {
		return err
	}
	a.accounts.fromFleet = true
	return nil
}

// saveAccounts writes doc to Config.AccountsFile (atomically, mode 0600) when set, then swaps in
// list, doc's accounts, already validated. The caller holds accountsMu.
func (a *API) saveAccounts(doc []byte, list []Account) error {
	if a.accountsFile != "" {
		if err := atomicfile.Write(a.accountsFile, doc, 0o600); err != nil {
			return fmt.Errorf("saving accounts %s: %w", a.accountsFile, err)
		}
	}
	if err := a.accounts.replace(list); err != nil { // validated by the caller: cannot fail
		return errInvalidAccounts(err)
	}
	return nil
}

// handleAccounts serves GET /admin/accounts (the accounts, secrets masked) and PUT /admin/accounts
// (replace them all with the body's, at most MaxAccountsBytes): validated whole, persisted
// atomically to Config.AccountsFile when set, then applied; on any error nothing changes. Shared
// with a fleet (ShareAccounts), the validated accounts are published instead, and applied here as
// on every node.
func (a *API) handleAccounts(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		a.writeJSON(w, http.StatusOK, formatAccounts(a.accounts.list(), true))
		return
	}
	if r.ContentLength > MaxAccountsBytes {
		a.writeError(w, r, errPayloadTooLarge(MaxAccountsBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAccountsBytes))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	list, err := parseAccounts(body)
	if err != nil {
		a.writeError(w, r, errInvalidAccounts(err))
		return
	}
	if err := a.replaceAccounts(list); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "accounts replaced", "accounts", len(list))
	a.writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}

// replaceAccounts resolves list's masks, validates it and persists and applies it, or publishes it
// when the accounts are shared with a fleet.
func (a *API) replaceAccounts(list []Account) error {
	a.accountsMu.Lock()
	pub := a.accounts.publisher
	keepFrom := a.accounts.cur.Load()
	if pub != nil && !a.accounts.fromFleet {
		keepFrom = &accountSet{}
	}
	err := keepMasked(list, keepFrom)
	if err != nil && keepFrom != a.accounts.cur.Load() {
		err = fmt.Errorf("%w (this node serves its own accounts, not the fleet's: a %s keeps only a value the fleet's accounts hold)", err, SecretMask)
	}
	if err == nil {
		err = CheckAccounts(list)
	}
	if err != nil {
		a.accountsMu.Unlock()
		return errInvalidAccounts(err)
	}
	if pub != nil {
		a.accountsMu.Unlock() // ApplyAccounts takes it again when the fleet has agreed
		return pub.PublishAccounts(formatAccounts(list, false))
	}
	defer a.accountsMu.Unlock()
	return a.saveAccounts(formatAccounts(list, false), list)
}
