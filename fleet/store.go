package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix used when Config.Prefix is empty.
const DefaultPrefix = "httpdns:"

// ErrNotFound is returned by Get when Redis holds no document of the kind.
var ErrNotFound = errors.New("fleet: no such document")

// MaxBodyBytes is the largest document body Put and Restore write and Get accepts (64 MiB): a CIDRDB of a
// few MB fits in one Redis string with room to spare, and anything far larger is a mistake, not a library.
const MaxBodyBytes = 64 << 20

// ErrTooLarge is wrapped by Put, Restore and Get for a body over MaxBodyBytes.
var ErrTooLarge = fmt.Errorf("fleet: document body over %d bytes", MaxBodyBytes)

// ErrCorrupt is wrapped by Get when the stored document is incomplete or its body does not match its sha256:
// something other than this package wrote it, and no node should apply it.
var ErrCorrupt = errors.New("fleet: corrupt document")

// ConflictError is returned by Put when the document's version in Redis is not the one the caller started
// from: somebody else changed it first. Current is the version Redis holds (0: none).
type ConflictError struct {
	Kind    string
	Current int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("fleet: %s was changed concurrently: the current version is %d", e.Kind, e.Current)
}

// Document is one version of a shared document.
type Document struct {
	// Kind names the document: "whitelist", "accounts", "cidrdb".
	Kind string
	// Version counts the changes, from 1.
	Version int64
	// SHA256 is the hex SHA-256 of Body.
	SHA256 string
	// Who wrote this version (an admin, a node id).
	Who string
	// When this version was written, UTC.
	When time.Time
	// Body is the document itself, in the owner's format.
	Body []byte
}

// DocStatus is what a node knows of one kind of shared document: the version it serves and how its
// last syncs with Redis went. Heartbeats and /admin/fleet report it.
type DocStatus struct {
	// Kind names the document: "whitelist", "accounts", "cidrdb".
	Kind string `json:"kind"`
	// Version is the fleet version the node serves; 0: none of the fleet's yet (its own local file).
	Version int64 `json:"version"`
	// SHA256, Who and When are those of the version served (empty with version 0).
	SHA256 string    `json:"sha256,omitempty"`
	Who    string    `json:"who,omitempty"`
	When   time.Time `json:"when,omitzero"`
	// LastSync is when the node last read Redis and was left serving the fleet's newest version it
	// can serve (applied, already current, or restored); zero: never since start.
	LastSync time.Time `json:"last_sync,omitzero"`
	// LastError is why the latest sync failed or refused a version (Redis unreachable, a bad
	// document); "" once a later sync succeeds.
	LastError string `json:"last_error,omitempty"`
}

// Config configures a Store.
type Config struct {
	// Prefix starts every key and the notification channel. Default DefaultPrefix.
	Prefix string
	// Now is the clock that stamps Document.When. Default time.Now.
	Now func() time.Time
}

// Store is the set of shared documents in one Redis (or one Redis Cluster).
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
}

var kindRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// New returns a Store over rdb. For an outage to surface within a caller's deadline, rdb should be made with
// ContextTimeoutEnabled, as NewClient does.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("fleet: no redis client")
	}
	s := &Store{rdb: rdb, prefix: cfg.Prefix, now: cfg.Now}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// NewClient returns a client for addrs (one address: a single Redis; several: a Redis Cluster) whose commands
// give up at the context's deadline, so that a Redis that is down or hung costs a caller its timeout, never a hang.
func NewClient(addrs []string, password string) redis.UniversalClient {
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 addrs,
		Password:              password,
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
	})
}

func (s *Store) key(kind string) string { return s.prefix + "doc:" + kind }

// Channel is the name of the notification channel.
func (s *Store) Channel() string { return s.prefix + "events" }

func checkKind(kind string) error {
	if !kindRE.MatchString(kind) {
		return fmt.Errorf("fleet: bad document kind %q: want lower-case letters, digits, '.', '_', '-'", kind)
	}
	return nil
}

// Get returns the current version of kind: ErrNotFound when there is none, an error wrapping ErrCorrupt when
// what Redis holds is incomplete or fails its checksum.
func (s *Store) Get(ctx context.Context, kind string) (Document, error) {
	if err := checkKind(kind); err != nil {
		return Document{}, err
	}
	vals, err := getScript.Run(ctx, s.rdb, []string{s.key(kind)}, MaxBodyBytes+maxFieldsBytes).Slice()
	if err != nil {
		return Document{}, fmt.Errorf("reading %s from redis: %w", kind, err)
	}
	if len(vals) == 1 { // {size}: over the bound, nothing read
		size, _ := vals[0].(int64)
		return Document{}, fmt.Errorf("reading %s of %d bytes: %w", kind, size, ErrTooLarge)
	}
	if len(vals) != 5 {
		return Document{}, fmt.Errorf("reading %s: %w: %d fields", kind, ErrCorrupt, len(vals))
	}
	if vals[0] == nil && vals[4] == nil {
		return Document{}, ErrNotFound
	}
	return decode(kind, vals)
}

// Version returns the version of kind Redis holds (0: none), even when the document itself is corrupt:
// the version a Put must name to replace it.
func (s *Store) Version(ctx context.Context, kind string) (int64, error) {
	if err := checkKind(kind); err != nil {
		return 0, err
	}
	v, err := s.rdb.HGet(ctx, s.key(kind), "version").Int64()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("reading %s's version from redis: %w", kind, err)
	}
	return v, nil
}

func decode(kind string, vals []any) (Document, error) {
	str := make([]string, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			return Document{}, fmt.Errorf("reading %s: %w: a field is missing", kind, ErrCorrupt)
		}
		str[i] = s
	}
	if len(str[4]) > MaxBodyBytes {
		return Document{}, fmt.Errorf("reading %s of %d bytes: %w", kind, len(str[4]), ErrTooLarge)
	}
	d := Document{Kind: kind, SHA256: str[1], Who: str[2], Body: []byte(str[4])}
	var err error
	if d.Version, err = strconv.ParseInt(str[0], 10, 64); err != nil || d.Version < 1 {
		return Document{}, fmt.Errorf("reading %s: %w: version %q", kind, ErrCorrupt, str[0])
	}
	if d.When, err = time.Parse(time.RFC3339Nano, str[3]); err != nil {
		return Document{}, fmt.Errorf("reading %s: %w: time %q", kind, ErrCorrupt, str[3])
	}
	if sum := Sum(d.Body); sum != d.SHA256 {
		return Document{}, fmt.Errorf("reading %s version %d: %w: body's sha256 is %s, the document says %s",
			kind, d.Version, ErrCorrupt, sum, d.SHA256)
	}
	return d, nil
}

// Sum is the hex SHA-256 of body, as Document.SHA256 holds it.
func Sum(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// maxFieldsBytes bounds a document's fields other than its body (version, sha256, who, when).
const maxFieldsBytes = 4 << 10

// getScript returns the fields of the document in KEYS[1], or {size} without them when they add up to more
// than ARGV[1] bytes: anyone who reaches Redis can write a body of 512 MB, which every node would otherwise
// read whole at each sync before refusing it. One script, so nothing is written between the check and the read.
var getScript = redis.NewScript(`
local n = 0
for _, f in ipairs({'version', 'sha256', 'who', 'when', 'body'}) do n = n + redis.call('HSTRLEN', KEYS[1], f) end
if n > tonumber(ARGV[1]) then return {n} end
return redis.call('HMGET', KEYS[1], 'version', 'sha256', 'who', 'when', 'body')
`)

// putScript writes version ARGV[1]+1 of the document in KEYS[1] if its version is ARGV[1] (absent: 0), and
// publishes ARGV[7] on channel ARGV[6]; it returns {1, new version} or {0, current version}. One script is one
// atomic step in Redis: nothing can write between the check and the write.
var putScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if cur ~= tonumber(ARGV[1]) then return {0, cur} end
local v = cur + 1
redis.call('HSET', KEYS[1], 'version', v, 'sha256', ARGV[2], 'who', ARGV[3], 'when', ARGV[4], 'body', ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return {1, v}
`)

// Put writes body as the next version of kind, if Redis still holds expectVersion (0: no document yet), and
// announces it on the channel. Otherwise it returns a *ConflictError with the version Redis holds.
func (s *Store) Put(ctx context.Context, kind string, body []byte, who string, expectVersion int64) (Document, error) {
	if err := checkKind(kind); err != nil {
		return Document{}, err
	}
	if expectVersion < 0 {
		return Document{}, fmt.Errorf("fleet: putting %s: negative version %d", kind, expectVersion)
	}
	if len(body) > MaxBodyBytes {
		return Document{}, fmt.Errorf("putting %s of %d bytes: %w", kind, len(body), ErrTooLarge)
	}
	d := Document{Kind: kind, Version: expectVersion + 1, SHA256: Sum(body), Who: who,
		When: s.now().UTC(), Body: body}
	res, err := putScript.Run(ctx, s.rdb, []string{s.key(kind)},
		expectVersion, d.SHA256, d.Who, d.When.Format(time.RFC3339Nano), d.Body, s.Channel(), event(kind, d.Version),
	).Int64Slice()
	if err != nil {
		return Document{}, fmt.Errorf("putting %s to redis: %w", kind, err)
	}
	if res[0] == 0 {
		return Document{}, &ConflictError{Kind: kind, Current: res[1]}
	}
	return d, nil
}

// restoreScript writes the document in ARGV (version ARGV[1]) into KEYS[1] unless Redis holds that version or
// a newer one, and then publishes ARGV[7] on ARGV[6]; it returns {1, version} or {0, current version}.
var restoreScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if cur >= tonumber(ARGV[1]) then return {0, cur} end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'sha256', ARGV[2], 'who', ARGV[3], 'when', ARGV[4], 'body', ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return {1, tonumber(ARGV[1])}
`)

// Restore writes a node's local copy doc back into Redis if Redis has no document of its kind or an older
// version: after Redis came back empty, every node restores and the highest version wins. It reports whether
// it wrote. A doc whose body does not match its SHA256 is refused.
func (s *Store) Restore(ctx context.Context, doc Document) (bool, error) {
	if err := checkKind(doc.Kind); err != nil {
		return false, err
	}
	if doc.Version < 1 {
		return false, fmt.Errorf("fleet: restoring %s: version %d", doc.Kind, doc.Version)
	}
	if len(doc.Body) > MaxBodyBytes {
		return false, fmt.Errorf("restoring %s of %d bytes: %w", doc.Kind, len(doc.Body), ErrTooLarge)
	}
	if sum := Sum(doc.Body); sum != doc.SHA256 {
		return false, fmt.Errorf("fleet: restoring %s version %d: body's sha256 is %s, the document says %s",
			doc.Kind, doc.Version, sum, doc.SHA256)
	}
	res, err := restoreScript.Run(ctx, s.rdb, []string{s.key(doc.Kind)},
		doc.Version, doc.SHA256, doc.Who, doc.When.UTC().Format(time.RFC3339Nano), doc.Body,
		s.Channel(), event(doc.Kind, doc.Version),
	).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("restoring %s to redis: %w", doc.Kind, err)
	}
	return res[0] == 1, nil
}

// notification is what Put and Restore publish.
type notification struct {
	Kind    string `json:"kind"`
	Version int64  `json:"version"`
}

func event(kind string, version int64) string {
	b, _ := json.Marshal(notification{Kind: kind, Version: version}) // cannot fail: a string and an int
	return string(b)
}
