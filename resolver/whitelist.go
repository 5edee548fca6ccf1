package resolver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/internal/atomicfile"
)

// Whitelist is the operator's domain-priority whitelist: the current Policy behind an atomic pointer,
// the text it was parsed from, and the file it is persisted in. Lookups take no lock; Replace
// validates a new text whole, writes it atomically, then swaps it in, so a bad upload changes nothing.
type Whitelist struct {
	path string
	def  cache.Tier

	mu  sync.Mutex // serialises Replace
	cur atomic.Pointer[whitelistState]
}

type whitelistState struct {
	policy *Policy
	text   []byte
}

// OpenWhitelist loads the whitelist at path. A missing file is an empty whitelist (the first upload
// creates it); an unreadable or invalid one is an error naming the file. An empty path keeps the
// whitelist in memory only.
func OpenWhitelist(path string, def cache.Tier) (*Whitelist, error) {
	w := &Whitelist{path: path, def: def}
	var text []byte
	if path != "" {
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("reading whitelist %s: %w", path, err)
		default:
			text = b
		}
	}
	p, err := ParsePolicy(text, def)
	if err != nil {
		return nil, fmt.Errorf("parsing whitelist %s: %w", path, err)
	}
	w.cur.Store(&whitelistState{policy: p, text: text})
	return w, nil
}

// Lookup returns the rule for a canonical name.
func (w *Whitelist) Lookup(name string) Rule { return w.cur.Load().policy.Lookup(name) }

// Policy returns the current policy snapshot.
func (w *Whitelist) Policy() *Policy { return w.cur.Load().policy }

// Text returns the text of the current whitelist.
func (w *Whitelist) Text() []byte { return w.cur.Load().text }

// Replace validates text, persists it atomically (temp file, fsync, rename, fsync dir) and applies it.
// On any error the previous whitelist stays in force and on disk.
func (w *Whitelist) Replace(text []byte) error {
	p, err := ParsePolicy(text, w.def)
	if err != nil {
		return err
	}
	text = append([]byte(nil), text...)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.path != "" {
		if err := atomicfile.Write(w.path, text, 0o644); err != nil {
			return fmt.Errorf("saving whitelist %s: %w", w.path, err)
		}
	}
	w.cur.Store(&whitelistState{policy: p, text: text})
	return nil
}
