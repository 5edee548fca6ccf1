package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/httpdns/httpdns/internal/redistest"
	"github.com/httpdns/httpdns/prober"
)

// consoleToken is the admin token `httpdns demo` configures.
const consoleToken = "demo-token"

// findChromium returns Debian's chromium (or another Chrome) on PATH, or skips the test saying so.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (Debian: apt-get install chromium): the console's browser test needs one")
	return ""
}

// startDemoConsole runs `httpdns demo` (the simulated CDN world, its DNS nodes and files) and a
// second `httpdns serve` on the demo's config with the console sampling every second, so the
// overview has real numbers within seconds, in a fleet on redis when one is given; it returns the
// serve's public and admin base URLs.
func startDemoConsole(t *testing.T, redis string) (public, admin string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "httpdns")
	build := exec.Command("go", "build", "-o", bin, "./cmd/httpdns")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building httpdns: %v\n%s", err, out)
	}
	world, demoAdmin := filepath.Join(dir, "demo"), freeAddr(t)
	demoLog := start(t, bin, "demo", "-dir", world, "-listen", freeAddr(t), "-admin-listen", demoAdmin)
	waitReady(t, "http://"+demoAdmin+"/readyz") // demo writes every file before it listens
	// demo prints what to try as it starts serving, so the line may come just after /readyz answers.
	want := "Web console: http://" + demoAdmin + "/console/"
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(demoLog(), want); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("demo does not point to its console: no %q in\n%s", want, demoLog())
			break
		}
	}
	cfg, err := os.ReadFile(filepath.Join(world, "httpdns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// A probe report beside the CIDRDB, in the prober's own JSON, for the CIDRDB tab to show.
	report, err := json.Marshal(prober.Report{BlocksBefore: 4095, BlocksAfter: 228, Merged: 160, Split: 2, Unchanged: 40,
		Subnets: 4095, SubnetsProbed: 4095, Rounds: []string{"2026-12-07T00:00:00Z"},
		WrongOld: prober.Wrong{Subnets: 410, SubnetShare: 0.1}, WrongNew: prober.Wrong{Subnets: 4, SubnetShare: 0.001}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(world, "probe-report.json"), report, 0o644); err != nil {
		t.Fatal(err)
	}
	pub, adm := freeAddr(t), freeAddr(t)
	text := regexp.MustCompile(`(?m)^listen: .*$`).ReplaceAllString(string(cfg), fmt.Sprintf("listen: %q", pub))
	text = regexp.MustCompile(`(?m)^admin_listen: .*$`).ReplaceAllString(text, fmt.Sprintf("admin_listen: %q", adm))
	text += "console: {sample_interval: 1s, samples: 120}\n"
	if redis != "" {
		text += fmt.Sprintf("fleet: {redis: [%q], node_id: console-test}\n", redis)
	}
	path := filepath.Join(world, "console.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, bin, "serve", "-config", path)
	waitReady(t, "http://"+adm+"/readyz")
	return "http://" + pub, "http://" + adm
}

// start runs bin with args until the test ends (interrupt, then wait), logging its output on
// failure; the func it returns reads the output so far.
func start(t *testing.T, bin string, args ...string) func() string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var logs strings.Builder
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("httpdns %s's log:\n%s", args[0], logs.String())
			mu.Unlock()
		}
	})
	return func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// waitReady polls url for a 200 for up to 30s: polling a process we started is the only way it can
// tell us it is up.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 30s: %s", url)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// traffic asks the public API for the world's names from many clients until ctx ends, so the
// overview has requests, hits and misses of every tier to show.
func traffic(ctx context.Context, public string) {
	names := []string{"img.cdn-a.test", "video.cdn-b.test", "www.shop.test", "www.portal.test"}
	c := &http.Client{Timeout: 2 * time.Second}
	for i := 0; ctx.Err() == nil; i++ {
		// A new /24 every few requests, over a thousand of them: misses go on while hits grow.
		u := fmt.Sprintf("%s/d?host=%s&ip=20.%d.%d.%d", public, names[i%len(names)], (i/1280)%4, (i/5)%256, 1+i%200)
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// nonBlank counts the pixels of the element sel (a canvas or an img) that are not the background:
// drawn into a canvas and read back, so it is what the browser rendered.
func nonBlank(sel, background string) string {
	return fmt.Sprintf(`(() => {
	  const el = document.querySelector(%q);
	  const w = el.naturalWidth || el.width, h = el.naturalHeight || el.height;
	  if (!w || !h) return 0;
	  const c = document.createElement("canvas"); c.width = w; c.height = h;
	  const g = c.getContext("2d"); g.drawImage(el, 0, 0);
	  const d = g.getImageData(0, 0, w, h).data; const bg = %s;
	  let n = 0;
	  for (let i = 0; i < d.length; i += 4) if (d[i] !== bg[0] || d[i+1] !== bg[1] || d[i+2] !== bg[2]) n++;
	  return n;
	})()`, sel, background)
}

// a11yProblems lists what the page shown breaks of the console's accessibility rules: a form field
// without a label, an image or chart without a text alternative, a table without header cells, and
// visible text under 4.5:1 contrast with its background (WCAG 2.x AA for normal text).
const a11yProblems = `(() => {
  const problems = [];
  const shown = (el) => el.getClientRects().length > 0;
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (shown(el) && (!el.labels || el.labels.length === 0) && !el.getAttribute("aria-label")) problems.push("no label: #" + el.id);
  }
  for (const el of document.querySelectorAll("img, canvas")) {
    if (shown(el) && !el.getAttribute("alt") && !el.getAttribute("aria-label")) problems.push("no text alternative: #" + el.id);
  }
  for (const t of document.querySelectorAll("table")) if (shown(t) && !t.querySelector("th")) problems.push("table without headers");
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    const m = c.match(/[\d.]+/g).map(Number);
    return 0.2126 * f(m[0]) + 0.7152 * f(m[1]) + 0.0722 * f(m[2]);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = getComputedStyle(el).backgroundColor;
      if (c !== "transparent" && !/rgba\(.*,\s*0\)$/.test(c)) return c;
    }
    return "rgb(255, 255, 255)";
  };
  for (const el of document.querySelectorAll("body *")) {
    if (!shown(el) || ![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const a = lum(getComputedStyle(el).color), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) problems.push("contrast " + ratio.toFixed(2) + ": " + el.tagName + " " + el.textContent.trim().slice(0, 30));
  }
  return problems;
})()`

// TestConsoleInChromium drives Debian's Chromium headless through the console against a running
// serve on the simulated world: sign in, run a lookup, upload a whitelist with a bad line (the
// error shows beside the line) and a good one (the lookup shows the new tier), see the CIDRDB map
// and the overview's charts with real numbers. Screenshots go to a temporary directory and, with
// HTTPDNS_SCREENSHOTS=DIR, the overview's and the lookup's to DIR too (docs/console-*.png come from there).
func TestConsoleInChromium(t *testing.T) {
	chrome := findChromium(t)
	// With Debian's redis-server the node is one of a fleet, so the Fleet tab and the whitelist's
	// fleet version show; without it they stay hidden, as on a node that stands alone.
	var redis string
	if _, err := exec.LookPath("redis-server"); err == nil {
		redis = redistest.Start(t)
	} else {
		t.Log("no redis-server: the console is tested without a fleet")
	}
	public, admin := startDemoConsole(t, redis)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	go traffic(ctx, public)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1100), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	shots := []string{t.TempDir()}
	if d := os.Getenv("HTTPDNS_SCREENSHOTS"); d != "" {
		shots = append(shots, d)
	}
	do := func(step string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	get := func(step string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(bctx, a)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return v
	}
	text := func(sel string) string { t.Helper(); return get("reading "+sel, chromedp.Text(chromedp.CSS(sel))) }
	count := func(step, expr string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return n
	}
	poll := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(30*time.Second))
	}
	// screenshot saves the page as name in the temporary directory and, when shared, in
	// HTTPDNS_SCREENSHOTS too (the README's two).
	accessible := func(page string) {
		t.Helper()
		problems, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](a11yProblems))
		if err != nil {
			t.Fatalf("checking %s: %v", page, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", page, p)
		}
	}
	screenshot := func(name string, shared bool) {
		t.Helper()
		buf, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		for i, d := range shots {
			if i > 0 && !shared {
				break
			}
			if err := os.WriteFile(filepath.Join(d, name), buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Sign in from the keyboard (type the token, Enter): the token is kept in the tab's
	// sessionStorage, never in the URL. Then Tab from the Overview button reaches Lookup, and Enter
	// opens it.
	do("sign in",
		chromedp.Navigate(admin+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), consoleToken+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#tabs")),
		chromedp.Focus(chromedp.CSS(`#tabs button[data-tab="overview"]`)),
		chromedp.KeyEvent(kb.Tab),
		poll(`document.activeElement.dataset.tab === "lookup"`),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#lookup-form")),
	)
	stored := get("reading sessionStorage", chromedp.Evaluate[string](`sessionStorage.getItem("httpdns-admin-token")`))
	if href := get("reading the URL", chromedp.Location()); stored != consoleToken || strings.Contains(href, consoleToken) {
		t.Fatalf("after sign-in: sessionStorage %q, URL %q", stored, href)
	}

	lookup := func(client, name string) {
		t.Helper()
		do("lookup "+name,
			chromedp.Click(chromedp.CSS(`#tabs button[data-tab="lookup"]`)),
			chromedp.SetValue(chromedp.CSS("#lk-client"), client),
			chromedp.SetValue(chromedp.CSS("#lk-name"), name),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("lk-result").hidden = true; undefined`),
			chromedp.Click(chromedp.CSS(`#lookup-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#lk-result")),
		)
	}
	// Lookup: a CDN name of the subnet tier, keyed by the client's block; the fresh answer beside it.
	lookup("20.0.16.217", "img.cdn-a.test")
	if tier, key, block := text("#lk-tier"), text("#lk-key"), text("#lk-block"); !strings.HasPrefix(tier, "subnet") ||
		!strings.HasPrefix(key, "subnet 20.0.16.") || !strings.HasPrefix(block, "20.0.16.") {
		t.Errorf("lookup: tier %q key %q block %q", tier, key, block)
	}
	if fresh := text("#lk-fresh"); !strings.Contains(fresh, "IPs") || !strings.Contains(fresh, "ECS scope") {
		t.Errorf("lookup: fresh answer %q", fresh)
	}
	screenshot("console-lookup.png", true)
	accessible("lookup")
	lookup("20.0.16.217", "www.shop.test")
	if tier := text("#lk-tier"); !strings.HasPrefix(tier, "cityisp") {
		t.Errorf("www.shop.test before the upload: tier %q, want cityisp (the demo's default)", tier)
	}

	// Whitelist: a bad line is refused and shown beside its line; a good upload changes the policy.
	do("whitelist tab",
		chromedp.Click(chromedp.CSS(`#tabs button[data-tab="whitelist"]`)),
		poll(`document.getElementById("wl-text").value.includes("cdn-a.test")`),
	)
	current := strings.TrimRight(get("reading the whitelist", chromedp.Value(chromedp.CSS("#wl-text"))), "\n") + "\n"
	bad := current + "www.shop.test bogus\n"
	badLine := strings.Count(bad, "\n")
	do("bad upload",
		chromedp.SetValue(chromedp.CSS("#wl-text"), bad),
		chromedp.Click(chromedp.CSS("#wl-upload")),
		chromedp.WaitVisible(chromedp.CSS("#wl-lines li.bad")),
	)
	if e := text("#wl-lines li.bad .err"); !strings.HasPrefix(e, fmt.Sprintf("line %d:", badLine)) {
		t.Errorf("inline error %q, want it on line %d", e, badLine)
	}
	if msg := text("#wl-msg"); !strings.Contains(msg, "refused") {
		t.Errorf("after the bad upload: %q", msg)
	}
	screenshot("console-whitelist.png", false)
	accessible("whitelist")
	do("good upload",
		chromedp.SetValue(chromedp.CSS("#wl-text"), current+"www.shop.test subnet active\n"),
		chromedp.Click(chromedp.CSS("#wl-upload")),
		poll(`document.getElementById("wl-msg").textContent.startsWith("Uploaded")`),
		poll(`document.getElementById("wl-hist").textContent.includes("v1")`),
	)
	if redis != "" {
		do("fleet version", poll(`document.getElementById("wl-fleet").textContent.includes("Fleet whitelist version 1;")`))
		do("fleet tab",
			chromedp.WaitVisible(chromedp.CSS("#fleet-tab")),
			chromedp.Click(chromedp.CSS("#fleet-tab")),
			poll(`document.getElementById("fleet-body").textContent.includes("console-test (this node)")`),
			// The node's heartbeat (every few seconds) catches up with the upload; the tab refreshes.
			poll(`document.querySelector("#fleet-body tr").cells[1].textContent === "v1"`),
		)
		screenshot("console-fleet.png", false)
		accessible("fleet")
	} else if hidden := count("fleet tab", `document.getElementById("fleet-tab").hidden ? 1 : 0`); hidden != 1 {
		t.Error("the Fleet tab shows on a node without a fleet")
	}
	lookup("20.0.16.217", "www.shop.test")
	if tier := text("#lk-tier"); !strings.HasPrefix(tier, "subnet") {
		t.Errorf("www.shop.test after the upload: tier %q, want subnet", tier)
	}
	if rule := text("#lk-rule"); rule != "www.shop.test" {
		t.Errorf("www.shop.test after the upload: rule %q", rule)
	}

	// Accounts: what GET /admin/accounts answers goes back unchanged through PUT, and is in the history.
	do("accounts",
		chromedp.Click(chromedp.CSS(`#tabs button[data-tab="accounts"]`)),
		poll(`document.getElementById("acc-text").value.includes('"accounts"')`),
		chromedp.Click(chromedp.CSS("#acc-upload")),
		poll(`document.getElementById("acc-msg").textContent.startsWith("Uploaded")`),
		poll(`document.getElementById("acc-hist").textContent.includes("v1")`),
	)

	// CIDRDB: the map is drawn (pixels other than the grey background) and the blocks are counted.
	do("cidrdb",
		chromedp.Click(chromedp.CSS(`#tabs button[data-tab="cidrdb"]`)),
		poll(`(() => { const i = document.getElementById("db-map"); return i.complete && i.naturalWidth === 256 && i.src.startsWith("blob:"); })()`),
	)
	mapPixels := count("map pixels", nonBlank("#db-map", "[0xf4, 0xf4, 0xf4]"))
	screenshot("console-cidrdb.png", false)
	accessible("cidrdb")
	if mapPixels == 0 {
		t.Error("the CIDRDB map has no painted pixel")
	}
	if meta := text("#db-meta"); !regexp.MustCompile(`Blocks\s*[1-9]`).MatchString(meta) {
		t.Errorf("CIDRDB metadata %q", meta)
	}
	if probe := text("#db-probe"); !strings.Contains(probe, "4095 → 228") || !strings.Contains(probe, "10.00% of probed subnets (410) → 0.10% of probed subnets (4)") {
		t.Errorf("probe report %q", probe)
	}

	// Overview: after a few seconds of traffic the charts carry real numbers.
	do("overview",
		chromedp.Click(chromedp.CSS(`#tabs button[data-tab="overview"]`)),
		poll(`/[1-9]/.test(document.getElementById("cur-rps").textContent) &&
		/subnet \d/.test(document.getElementById("cur-hit").textContent) &&
		/p50 \d/.test(document.getElementById("cur-lat").textContent) &&
		document.querySelectorAll("#nodes-body tr").length === 3 &&
		+(document.getElementById("ov-window").textContent.match(/\d+/) || [0])[0] >= 8`),
	)
	if n := count("chart pixels", nonBlank("#chart-rps", "[255, 255, 255]")); n == 0 {
		t.Error("the requests chart is blank")
	}
	t.Logf("overview: %s; %s; %s; accuracy %s; %d map pixels", text("#cur-rps"), text("#cur-hit"), text("#cur-lat"), text("#cur-acc"), mapPixels)
	screenshot("console-overview.png", true)
	accessible("overview")

	// The check itself finds what it looks for: a grey-on-white line and an unlabelled field.
	planted, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`(() => {
	  const p = document.createElement("p"); p.id = "planted"; p.textContent = "faint"; p.style.color = "#bbbbbb";
	  const i = document.createElement("input"); i.id = "unlabelled";
	  p.appendChild(i); document.getElementById("overview").appendChild(p);
	  const found = `+a11yProblems+`;
	  p.remove();
	  return found;
	})()`))
	if err != nil || len(planted) != 2 || !strings.HasPrefix(planted[0], "no label: #unlabelled") || !strings.HasPrefix(planted[1], "contrast 1.") {
		t.Errorf("the accessibility check on planted faults found %q (%v)", planted, err)
	}
}
