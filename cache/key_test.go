package cache

import (
	"errors"
	"testing"
)

func TestTierNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tier Tier
	}{
		{"subnet", TierSubnet},
		{"cityisp", TierCityISP},
		{"global", TierGlobal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.tier.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			got, err := ParseTier(tt.name)
			if err != nil || got != tt.tier {
				t.Errorf("ParseTier(%q) = %v, %v; want %v", tt.name, got, err, tt.tier)
			}
			if !tt.tier.Valid() {
				t.Errorf("Valid() = false")
			}
		})
	}
}

func TestParseTierRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "Subnet", "GLOBAL", " global", "global ", "city-isp", "city_isp", "0", "1", "subnet\x00"} {
		t.Run(s, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTier(s)
			if !errors.Is(err, ErrInvalidTier) {
				t.Errorf("ParseTier(%q) = %v, %v; want ErrInvalidTier", s, got, err)
			}
		})
	}
}

func TestInvalidTier(t *testing.T) {
	t.Parallel()
	for _, tier := range []Tier{0, 4, 255} {
		if tier.Valid() {
			t.Errorf("Tier(%d).Valid() = true", tier)
		}
		if _, err := tier.MarshalText(); !errors.Is(err, ErrInvalidTier) {
			t.Errorf("Tier(%d).MarshalText() error = %v, want ErrInvalidTier", tier, err)
		}
	}
	if got := Tier(7).String(); got != "Tier(7)" {
		t.Errorf("Tier(7).String() = %q", got)
	}
}

func TestTierText(t *testing.T) {
	t.Parallel()
	for tier := TierSubnet; tier <= TierGlobal; tier++ {
		text, err := tier.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%v): %v", tier, err)
		}
		var back Tier
		if err := back.UnmarshalText(text); err != nil || back != tier {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, tier)
		}
	}
	back := TierGlobal
	if err := back.UnmarshalText([]byte("nope")); !errors.Is(err, ErrInvalidTier) || back != TierGlobal {
		t.Errorf("UnmarshalText(nope) = %v, %v; want error and tier unchanged", back, err)
	}
}

// FuzzParseTier checks that ParseTier accepts exactly the names String writes.
func FuzzParseTier(f *testing.F) {
	for _, s := range []string{"subnet", "cityisp", "global", "", "Global", "subnet "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tier, err := ParseTier(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTier) {
				t.Fatalf("ParseTier(%q) error %v does not wrap ErrInvalidTier", s, err)
			}
			return
		}
		if !tier.Valid() || tier.String() != s {
			t.Fatalf("ParseTier(%q) = %v, which does not print back as the input", s, tier)
		}
	})
}

func TestKeyHashSeparatesFields(t *testing.T) {
	t.Parallel()
	base := Key{Name: "a.example", Qtype: 1, Tier: TierSubnet, Scope: "1.2.0.0/20"}
	// Each pair would collide under a naive concatenation of the fields.
	tests := []struct {
		name string
		a, b Key
	}{
		{"qtype", base, Key{Name: base.Name, Qtype: 28, Tier: base.Tier, Scope: base.Scope}},
		{"tier", Key{Name: "a.example", Qtype: 1, Tier: TierSubnet}, Key{Name: "a.example", Qtype: 1, Tier: TierGlobal}},
		{"scope", base, Key{Name: base.Name, Qtype: 1, Tier: base.Tier, Scope: "1.2.0.0/22"}},
		{"name into scope", Key{Name: "ab", Tier: TierCityISP, Scope: "c"}, Key{Name: "a", Tier: TierCityISP, Scope: "bc"}},
		{"name with separator byte", Key{Name: "a\x00\x00\x00\x01", Tier: TierGlobal}, Key{Name: "a", Tier: TierGlobal}},
		{"empty scope", Key{Name: "x", Tier: TierCityISP}, Key{Name: "x", Tier: TierCityISP, Scope: " "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.a.hash() == tt.b.hash() {
				t.Errorf("%+v and %+v hash alike", tt.a, tt.b)
			}
			if tt.a.hash() != tt.a.hash() {
				t.Errorf("hash of %+v is not stable", tt.a)
			}
		})
	}
}

func TestKeyHashAllocs(t *testing.T) {
	k := Key{Name: "api.example.com", Qtype: 28, Tier: TierSubnet, Scope: "2001:db8::/48"}
	if n := testing.AllocsPerRun(100, func() { _ = k.hash() }); n != 0 {
		t.Errorf("hash allocates %v times, want 0", n)
	}
}
