package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// Tier is the granularity at which an answer is shared between clients. The
// resolver picks one per domain from the whitelist (docs/design.md §4.1, "three cache
// tiers"); the cache only uses it to keep the tiers' keys apart and to count
// them.
type Tier uint8

// The three tiers, from the finest to the coarsest key.
const (
	// TierSubnet keys an answer by the client's adaptive block (or an ECS
	// scope prefix inside it): for high-priority domains whose CDN answer
	// differs between neighbouring networks.
	TierSubnet Tier = iota + 1
	// TierCityISP keys an answer by the client's country, city and ISP: the
	// classic HTTPDNS cache key, for ordinary domains.
	TierCityISP
	// TierGlobal keys an answer by the name alone: for names whose answer
	// does not depend on the client (ECS scope 0, RFC 7871 §7.3).
	TierGlobal
)

// tierSlots sizes arrays indexed by Tier; slot 0 is never used.
const tierSlots = int(TierGlobal) + 1

// ErrInvalidTier is returned when a tier name or number is not one of the three tiers.
var ErrInvalidTier = errors.New("invalid cache tier")

// String returns the tier's configuration name: "subnet", "cityisp" or "global".
func (t Tier) String() string {
	switch t {
	case TierSubnet:
		return "subnet"
	case TierCityISP:
		return "cityisp"
	case TierGlobal:
		return "global"
	}
	return "Tier(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of TierSubnet, TierCityISP and TierGlobal.
func (t Tier) Valid() bool {
	return t >= TierSubnet && t <= TierGlobal
}

// ParseTier parses a tier's configuration name, exactly as String writes it
// (lower case, no surrounding space). Anything else is an error wrapping
// ErrInvalidTier.
func ParseTier(s string) (Tier, error) {
	switch s {
	case "subnet":
		return TierSubnet, nil
	case "cityisp":
		return TierCityISP, nil
	case "global":
		return TierGlobal, nil
	}
	return 0, fmt.Errorf("parsing tier %q: %w (want subnet, cityisp or global)", s, ErrInvalidTier)
}

// MarshalText writes the tier's name, so a Tier can sit in YAML or JSON
// configuration. An invalid tier is an error.
func (t Tier) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("marshalling tier %d: %w", uint8(t), ErrInvalidTier)
	}
	return []byte(t.String()), nil
}

// UnmarshalText parses a tier's name with ParseTier.
func (t *Tier) UnmarshalText(text []byte) error {
	v, err := ParseTier(string(text))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Key identifies one cached answer. Two keys are the same entry exactly when
// all four fields are equal; the tiers never share entries, even for the same
// name and scope text.
type Key struct {
	// Name is the canonical host name: lower case, no trailing dot.
	Name string
	// Qtype is the DNS query type (1 for A, 28 for AAAA).
	Qtype uint16
	// Tier is the tier the answer is cached in.
	Tier Tier
	// Scope is "" for TierGlobal; a block or ECS prefix such as "1.2.0.0/20"
	// for TierSubnet; "CN/Beijing/Telecom" (country/city/ISP) for TierCityISP.
	Scope string
}

// keyBufSize covers the longest DNS name (253 bytes) with a long scope, so
// hashing a key needs no heap allocation.
const keyBufSize = 384

// hash returns the 64-bit ristretto key of k: XXH64 of an encoding that is
// injective on Key (the name is length-prefixed, qtype and tier are fixed
// width, the scope runs to the end), so only a true 64-bit hash collision can
// map two keys to one slot. Get rules out even that by comparing the stored
// Key (see item.matches).
func (k Key) hash() uint64 { return k.Hash() }

// Hash returns the 64-bit hash the cache files k under (XXH64 of an injective
// encoding of the key); it does not allocate. Callers keeping their own
// tables of keys can use it to shard them.
func (k Key) Hash() uint64 {
	var buf [keyBufSize]byte
	b := binary.AppendUvarint(buf[:0], uint64(len(k.Name)))
	b = append(b, k.Name...)
	b = binary.BigEndian.AppendUint16(b, k.Qtype)
	b = append(b, byte(k.Tier))
	b = append(b, k.Scope...)
	return xxhash.Sum64(b)
}
