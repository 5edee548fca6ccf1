package main

import (
	"errors"
	"io/fs"
	"os"

	"github.com/httpdns/httpdns/api"
)

// fleetAccounts are the provider doors' accounts shared through the fleet: the document is the JSON
// of PUT /admin/accounts with every secret's value, the local copy is accounts_file. An upload on
// any node is published (api.AccountsPublisher); every node applies it with api.ApplyAccounts.
//
// Secrets travel in the document, as they are in accounts_file, so Redis must be as private as
// that file (password_file, a private network). What a node knows only from its own config — an
// {env:} or {file:} secret of `accounts:` — is never published by that node: its config's accounts
// are not a fleet version, so they are never restored into Redis, and an upload's masked secret
// keeps a value only from the fleet's document (api.API.ShareAccounts).
type fleetAccounts struct {
	api  *api.API
	path string
	doc  *fleetDoc
	who  string
}

func (f *fleetAccounts) validate(body []byte) error { return api.CheckAccountsDocument(body) }

func (f *fleetAccounts) apply(body []byte) error { return f.api.ApplyAccounts(body) }

// local is accounts_file, the latest document applied (or uploaded before the fleet); nil when absent.
func (f *fleetAccounts) local() ([]byte, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// PublishAccounts is an upload through the fleet (fleetDoc.publish).
func (f *fleetAccounts) PublishAccounts(doc []byte) error {
	_, err := f.doc.publish(doc, f.who)
	return err
}

// shareAccounts puts a's accounts (persisted to path, the config's accounts_file) under the fleet;
// the state file is path + ".fleet".
func (n *fleetNode) shareAccounts(a *api.API, path string) error {
	f := &fleetAccounts{api: a, path: path, who: n.who}
	var err error
	if f.doc, err = n.add(accountsKind, f, path+".fleet"); err != nil {
		return err
	}
	a.ShareAccounts(f, f.doc.Version() > 0)
	return nil
}
