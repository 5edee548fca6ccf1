package resolver

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/httpdns/httpdns/cache"
)

func TestWhitelistPersistsAcrossRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "conf", "domains.txt")
	w, err := OpenWhitelist(path, cache.TierCityISP)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Lookup("api.example.com"); got.Tier != cache.TierCityISP {
		t.Fatalf("empty whitelist gave %+v", got)
	}
	text := []byte("api.example.com subnet active\n")
	if err := w.Replace(text); err != nil {
		t.Fatal(err)
	}
	if got := w.Lookup("api.example.com"); got.Tier != cache.TierSubnet || got.Refresh != RefreshActive {
		t.Errorf("after Replace: %+v", got)
	}
	// A restart reads the same file.
	w2, err := OpenWhitelist(path, cache.TierCityISP)
	if err != nil {
		t.Fatal(err)
	}
	if got := w2.Lookup("api.example.com"); got.Tier != cache.TierSubnet {
		t.Errorf("after restart: %+v", got)
	}
	if string(w2.Text()) != string(text) {
		t.Errorf("Text = %q, want %q", w2.Text(), text)
	}
}

func TestWhitelistBadUploadKeepsOld(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "domains.txt")
	good := []byte("api.example.com subnet\n")
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := OpenWhitelist(path, cache.TierCityISP)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Replace([]byte("a.com global\nb.com fastest\n"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 {
		t.Fatalf("Replace err = %v, want a ParseError on line 2", err)
	}
	if string(w.Text()) != string(good) || w.Lookup("a.com").Tier != cache.TierCityISP {
		t.Error("a rejected upload changed the whitelist in memory")
	}
	if b, _ := os.ReadFile(path); string(b) != string(good) {
		t.Errorf("a rejected upload changed the file: %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestWhitelistUnwritableKeepsOld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "domains.txt")
	w, err := OpenWhitelist(path, cache.TierCityISP)
	if err != nil {
		t.Fatal(err)
	}
	// A directory where the file should be makes the rename fail.
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := w.Replace([]byte("a.com subnet\n")); err == nil {
		t.Fatal("Replace succeeded though the file cannot be written")
	}
	if w.Lookup("a.com").Tier != cache.TierCityISP {
		t.Error("an unsaved whitelist was applied")
	}
}

func TestOpenWhitelistInvalidFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "domains.txt")
	if err := os.WriteFile(path, []byte("a.com subnet\nbad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenWhitelist(path, cache.TierCityISP)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 {
		t.Fatalf("err = %v, want ParseError line 2", err)
	}
}
