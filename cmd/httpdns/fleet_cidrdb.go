package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/atomicfile"
)

// fleetCIDRDB is the CIDRDB shared through the fleet: the document is the mmdb file itself, the
// local copy the config's cidrdb file. `httpdns cidrdb publish` and `probe -publish` put a new one;
// every node checks it as serve loads one (cidrdb.OpenCIDRDB: type, structure, every record against
// the schema, at least one block), writes it over its cidrdb file atomically and reloads the
// databases live (cidrdb.Live.Reload, the path of SIGHUP and /admin/cidrdb/reload).
type fleetCIDRDB struct {
	live *cidrdb.Live
	path string
}

// validate writes body to a temporary file beside the cidrdb file and opens it there: the checks
// are OpenCIDRDB's, which are Open's for a CIDRDB.
func (f *fleetCIDRDB) validate(body []byte) error {
	return checkCIDRDBBytes(body, filepath.Dir(f.path))
}

// apply writes body over the cidrdb file and reloads. If the reload fails (the new CIDRDB passed, so
// the geo databases on disk have gone bad since they were loaded) the old file is put back, so the file
// stays the one that serves.
func (f *fleetCIDRDB) apply(body []byte) error {
	old, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("reading cidrdb %s: %w", f.path, err)
	}
	if err := atomicfile.Write(f.path, body, 0o644); err != nil {
		return fmt.Errorf("saving cidrdb %s: %w", f.path, err)
	}
	if err := f.live.Reload(); err != nil {
		if werr := atomicfile.Write(f.path, old, 0o644); werr != nil {
			return errors.Join(err, fmt.Errorf("putting the serving cidrdb %s back: %w", f.path, werr))
		}
		return err
	}
	return nil
}

func (f *fleetCIDRDB) local() ([]byte, error) { return os.ReadFile(f.path) }

// checkCIDRDBBytes checks body as a CIDRDB file, in a temporary file in dir.
func checkCIDRDBBytes(body []byte, dir string) error {
	if len(body) > fleet.MaxBodyBytes {
		return fmt.Errorf("a CIDRDB of %d bytes: %w", len(body), fleet.ErrTooLarge)
	}
	tmp, err := os.CreateTemp(dir, ".cidrdb-check-*")
	if err != nil {
		return fmt.Errorf("checking a CIDRDB: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checking a CIDRDB: %w", err)
	}
	db, err := cidrdb.OpenCIDRDB(tmp.Name())
	if err != nil {
		return err
	}
	return db.Close()
}

// shareCIDRDB puts the CIDRDB live serves from path under the fleet; the state file is path +
// ".fleet". Without a cidrdb file the node has nowhere to keep the fleet's and does not follow it.
func (n *fleetNode) shareCIDRDB(live *cidrdb.Live, path string) error {
	if path == "" {
		n.log.Warn("fleet: no cidrdb configured: this node does not follow the fleet's CIDRDB")
		return nil
	}
	_, err := n.add(cidrdbKind, &fleetCIDRDB{live: live, path: path}, path+".fleet")
	return err
}

// publishTimeout bounds a CLI publish: a CIDRDB of a few MB to a Redis across a network.
const publishTimeout = 30 * time.Second

// publishCIDRDB checks the CIDRDB file at path exactly as serve loads it (with cfg's geo databases),
// then puts it into cfg's fleet as the next version of "cidrdb", written by cli@HOST, and prints the
// version to w. It goes on top of whatever version Redis holds, a refused one too: replacing a bad
// CIDRDB is what a publish is for. A concurrent publish makes it fail, naming the version that won.
// The file the fleet holds already is not published again.
func publishCIDRDB(ctx context.Context, cfg *Config, path string, w io.Writer) error {
	if !cfg.Fleet.Enabled() {
		return errors.New("publishing: the config has no fleet section (fleet.redis)")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	if fi.Size() > fleet.MaxBodyBytes {
		return fmt.Errorf("publishing %s: %d bytes, over the fleet's limit of %d bytes (64 MiB)", path, fi.Size(), fleet.MaxBodyBytes)
	}
	db, err := cidrdb.Open(cidrdb.Config{CityPath: cfg.GeoIP.City, ISPPath: cfg.GeoIP.ISP, CIDRDBPath: path})
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	blocks := db.Blocks()
	db.Close()
	body, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	rdb, store, _, err := openFleet(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	cur, err := store.Version(ctx, cidrdbKind)
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	// The very file the fleet holds already: a new version would only make every node reload it.
	if held, err := store.Get(ctx, cidrdbKind); err == nil && held.Version == cur && held.SHA256 == fleet.Sum(body) {
		fmt.Fprintf(w, "%s is the fleet's cidrdb version %d already (sha256 %s, by %s): nothing published\n",
			path, held.Version, held.SHA256, held.Who)
		return nil
	}
	doc, err := store.Put(ctx, cidrdbKind, body, "cli@"+hostname(), cur)
	var ce *fleet.ConflictError
	if errors.As(err, &ce) {
		return fmt.Errorf("publishing: another publish got in first (the fleet's cidrdb is now version %d): nothing was changed; run again", ce.Current)
	}
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	fmt.Fprintf(w, "published %s to the fleet as cidrdb version %d: %d blocks, %d bytes, sha256 %s, by %s\n",
		path, doc.Version, blocks, len(body), doc.SHA256, doc.Who)
	return nil
}

// hostname is the host's name, "localhost" when it has none.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
