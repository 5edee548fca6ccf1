package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"time"

	"github.com/httpdns/httpdns/internal/atomicfile"
)

// cacheFileVersion is the format of CacheFile; a file of another version is ignored.
const cacheFileVersion = 1

// cacheFile is CacheFile's JSON: the client address the answers were given for and the answers
// with their absolute expiry, so a restart ages them by the time it was down.
type cacheFile struct {
	Version  int         `json:"version"`
	ClientIP string      `json:"client_ip,omitempty"`
	Entries  []fileEntry `json:"entries"`
}

type fileEntry struct {
	Host    string       `json:"host"`
	Addrs   []netip.Addr `json:"addrs"`
	Expires time.Time    `json:"expires"`
	From    string       `json:"from"` // "server" or "localdns"
}

// Save writes the cache to CacheFile atomically (a crash leaves the old file or the new one, never
// a part). Answers too old to be served stale are left out.
func (c *Client) Save() error {
	if c.cfg.CacheFile == "" {
		return errors.New("saving the cache: no CacheFile configured")
	}
	f := cacheFile{Version: cacheFileVersion, Entries: []fileEntry{}}
	if ip, ok := c.ClientIP(); ok {
		f.ClientIP = ip.String()
	}
	now := c.cfg.Now()
	for _, e := range c.cache.entries() {
		if len(e.addrs) == 0 || now.Sub(e.expires) > max(c.cfg.MaxStale, 0) {
			continue
		}
		f.Entries = append(f.Entries, fileEntry{Host: e.host, Addrs: e.addrs, Expires: e.expires, From: e.from.String()})
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("saving the cache: %w", err)
	}
	if err := atomicfile.Write(c.cfg.CacheFile, b, 0o600); err != nil {
		return fmt.Errorf("saving the cache to %s: %w", c.cfg.CacheFile, err)
	}
	return nil
}

// load fills the cache from CacheFile. A missing file is a cold start; an unreadable or corrupt
// one is ignored (a cache is never worth failing a start for) and reported by Hooks.CacheLoad.
// The saved client address is remembered, so the first answer for another address (the process
// restarted on another network) drops what was loaded.
func (c *Client) load() {
	b, err := os.ReadFile(c.cfg.CacheFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var f cacheFile
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err == nil && f.Version != cacheFileVersion {
		err = fmt.Errorf("version %d, want %d", f.Version, cacheFileVersion)
	}
	if err != nil {
		c.cfg.Hooks.cacheLoad(0, fmt.Errorf("loading the cache from %s: %w", c.cfg.CacheFile, err))
		return
	}
	if ip, err := netip.ParseAddr(f.ClientIP); err == nil {
		c.noteClientIP(ip)
	}
	gen, n := c.cache.generation(), 0
	for _, fe := range f.Entries {
		h := canonical(fe.Host)
		if !validHost(h) || len(fe.Addrs) == 0 {
			continue
		}
		from := SourceServer
		if fe.From == SourceLocalDNS.String() {
			from = SourceLocalDNS
		}
		// What the client would have cached: no longer than MaxTTL from now (the file may come from a
		// build without the clamp, or be edited), at most maxHostAddrs addresses.
		expires := fe.Expires
		if limit := c.cfg.Now().Add(c.cfg.MaxTTL); expires.After(limit) {
			expires = limit
		}
		addrs := unmapAll(fe.Addrs[:min(len(fe.Addrs), maxHostAddrs)])
		if c.cache.put(&entry{host: h, addrs: addrs, expires: expires, from: from}, gen) {
			n++
		}
	}
	c.cfg.Hooks.cacheLoad(n, nil)
}
