package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "f.txt")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{{"one", 0o644}, {"two, replacing it", 0o600}} {
		if err := Write(path, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		fi, serr := os.Stat(path)
		if err != nil || serr != nil || string(got) != tc.data || fi.Mode().Perm() != tc.perm {
			t.Errorf("after writing %q with %v: %q %v %v %v", tc.data, tc.perm, got, fi.Mode(), err, serr)
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".f.txt.tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// A directory that cannot be made fails and leaves the old state alone.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(blocker, "x"), []byte("x"), 0o644); err == nil {
		t.Error("writing under a file succeeded")
	}
}
