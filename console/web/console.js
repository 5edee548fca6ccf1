// httpdns console: plain JavaScript, no framework, no build step. The admin token lives in this
// tab's sessionStorage and travels only as an Authorization header; nothing here builds HTML from
// data (textContent only).
"use strict";

const TOKEN_KEY = "httpdns-admin-token";
const $ = (id) => document.getElementById(id);
let pollTimer = null;
let mapURL = null;

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

// api fetches a console or admin endpoint with the bearer token; a 401 signs the tab out.
async function api(path, opts = {}) {
  const headers = Object.assign({ "Authorization": "Bearer " + token(), "X-Httpdns-Client": "console" }, opts.headers || {});
  const resp = await fetch(path, Object.assign({}, opts, { headers, cache: "no-store" }));
  if (resp.status === 401 || resp.status === 403) {
    signOut("The token was refused (" + resp.status + "): sign in again.");
    throw new Error("unauthorized");
  }
  return resp;
}

async function apiJSON(path, opts) {
  const resp = await api(path, opts);
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  return { status: resp.status, ok: resp.ok, body };
}

function setMsg(el, text, kind) {
  el.textContent = text;
  el.classList.remove("bad", "good");
  if (kind) el.classList.add(kind);
}

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function facts(dl, pairs) {
  clear(dl);
  for (const [k, v] of pairs) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    dl.append(dt, dd);
  }
}

// ---- sign in, tabs ----

async function signIn(ev) {
  ev.preventDefault();
  const t = $("token").value.trim();
  if (!t) return;
  sessionStorage.setItem(TOKEN_KEY, t);
  $("token").value = "";
  try {
    const r = await apiJSON("/console/api/history");
    if (!r.ok) { signOut("Sign-in failed: " + ((r.body && r.body.message) || r.status)); return; }
  } catch (e) { return; }
  showApp();
}

function signOut(msg) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  $("tabs").hidden = true;
  for (const s of document.querySelectorAll("section.tab")) s.hidden = true;
  $("signin").hidden = false;
  setMsg($("signin-msg"), msg || "", msg ? "bad" : null);
  $("token").focus();
}

function showApp() {
  $("signin").hidden = true;
  $("tabs").hidden = false;
  showTab("overview");
  probeFleet();
}

const loaders = {
  overview: loadOverview, lookup: () => {}, whitelist: loadWhitelist, accounts: loadAccounts,
  cidrdb: loadCIDRDB, fleet: loadFleet,
};

function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button[data-tab]")) {
    if (b.dataset.tab === name) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  }
  for (const s of document.querySelectorAll("section.tab")) s.hidden = s.id !== name;
  if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  loaders[name]();
  if (name === "overview") pollTimer = setInterval(loadOverview, 5000);
  if (name === "fleet") pollTimer = setInterval(loadFleet, 5000);
  const h = document.querySelector("#" + name + " h2");
  if (h) { h.tabIndex = -1; h.focus(); }
}

// ---- overview ----

const palette = ["#0b57d0", "#b3261e", "#146c2e", "#8e24aa", "#e37400", "#00838f", "#5d4037", "#37474f"];

function fmt(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(digits);
}
function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }

// drawChart draws series [{label, values}] (nulls are gaps) on a canvas with a y axis from 0 and a
// legend; fixedMax pins the axis (ratios use 1).
function drawChart(canvas, series, unit, fixedMax, empty) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.fillStyle = "#ffffff"; g.fillRect(0, 0, w, h);
  const left = 48, right = 8, top = 18, bottom = 18;
  let max = fixedMax || 0;
  let n = 0;
  for (const s of series) {
    n = Math.max(n, s.values.length);
    if (!fixedMax) for (const v of s.values) if (v !== null && v > max) max = v;
  }
  if (max <= 0) max = 1;
  if (!fixedMax) max *= 1.1;
  g.strokeStyle = "#c9ced6"; g.fillStyle = "#4a5260"; g.font = "11px system-ui, sans-serif"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + (h - top - bottom) * i / 4;
    g.beginPath(); g.moveTo(left, y); g.lineTo(w - right, y); g.stroke();
    const v = max * (1 - i / 4);
    g.fillText(fixedMax === 1 ? Math.round(v * 100) + "%" : fmt(v, v < 10 ? 2 : 0) + (i === 0 ? " " + unit : ""), 2, y + 4);
  }
  if (n === 0) { g.fillText(empty || "waiting for the first samples…", left + 8, h / 2); return; }
  const x = (i) => left + (w - left - right) * (n === 1 ? 1 : i / (n - 1));
  const y = (v) => top + (h - top - bottom) * (1 - v / max);
  let lx = left;
  series.forEach((s, k) => {
    const c = palette[k % palette.length];
    g.strokeStyle = c; g.lineWidth = 2; g.beginPath();
    let pen = false;
    const off = n - s.values.length;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      if (!pen) { g.moveTo(x(i + off), y(v)); pen = true; } else g.lineTo(x(i + off), y(v));
    });
    g.stroke();
    g.fillStyle = c; g.fillRect(lx, 4, 10, 4);
    g.fillStyle = "#1b1f24"; g.fillText(s.label, lx + 13, 11);
    lx += 20 + g.measureText(s.label).width;
  });
}

function keysOf(samples, pick) {
  const ks = new Set();
  for (const s of samples) for (const k of Object.keys(pick(s) || {})) ks.add(k);
  return [...ks].sort();
}

async function loadOverview() {
  let r;
  try { r = await apiJSON("/console/api/overview"); } catch (e) { return; }
  if (!r.ok) { setMsg($("ov-msg"), "Overview unavailable: " + ((r.body && r.body.message) || r.status), "bad"); return; }
  const ss = r.body.samples;
  $("ov-window").textContent = "(" + ss.length + " samples every " + r.body.interval_seconds + " s; up to " +
    Math.round(r.body.capacity * r.body.interval_seconds / 60) + " min)";
  setMsg($("ov-msg"), ss.length === 0 ? "Collecting: the first sample comes after one interval." : "");
  const last = ss.length ? ss[ss.length - 1] : null;

  drawChart($("chart-rps"), [{ label: "req/s", values: ss.map((s) => s.rps) }], "/s");
  $("cur-rps").textContent = last ? fmt(last.rps) + " req/s" : "–";

  const tiers = ["subnet", "cityisp", "global"];
  drawChart($("chart-hit"), tiers.map((t) => ({ label: t, values: ss.map((s) => s.hit_ratio[t]) })), "", 1);
  $("cur-hit").textContent = last ? tiers.map((t) => t + " " + pct(last.hit_ratio[t])).join(" · ") : "–";

  drawChart($("chart-lat"), [{ label: "p50", values: ss.map((s) => s.p50_ms) }, { label: "p99", values: ss.map((s) => s.p99_ms) }], "ms");
  $("cur-lat").textContent = last ? "p50 " + fmt(last.p50_ms, 2) + " ms · p99 " + fmt(last.p99_ms, 2) + " ms" : "–";

  const kinds = keysOf(ss, (s) => s.kinds);
  drawChart($("chart-kinds"), kinds.map((k) => ({ label: k, values: ss.map((s) => s.kinds[k] || 0) })), "/s");
  $("cur-kinds").textContent = last ? kinds.map((k) => k + " " + fmt(last.kinds[k] || 0)).join(" · ") + " /s" : "–";

  const nodes = [...new Set(ss.flatMap((s) => s.nodes.map((n) => n.node)))].sort();
  drawChart($("chart-nodes"), nodes.map((nd) => ({ label: nd, values: ss.map((s) => { const x = s.nodes.find((n) => n.node === nd); return x ? x.qps : null; }) })), "/s");
  $("cur-nodes").textContent = last ? fmt(last.nodes.reduce((a, n) => a + n.qps, 0)) + " q/s, " +
    last.nodes.filter((n) => n.healthy).length + "/" + last.nodes.length + " healthy" : "–";

  const acc = ss.map((s) => s.accuracy);
  if (!last || !last.accuracy) {
    drawChart($("chart-acc"), [], "", 1, "no checks yet: the accuracy series does not exist");
    $("cur-acc").textContent = "no checks yet";
  } else {
    drawChart($("chart-acc"), [{ label: "mismatch", values: acc.map((a) => (a ? a.mismatch_ratio : null)) }], "", null);
    const a = last.accuracy;
    $("cur-acc").textContent = a.total_checks > 0
      ? fmt(10000 * a.total_mismatches / a.total_checks, 1) + " per 10,000 (" + Math.round(a.total_checks) + " checks)"
      : "no checks yet";
  }

  const nb = $("nodes-body"); clear(nb);
  for (const n of last ? last.nodes : []) {
    const tr = nb.insertRow();
    cell(tr, n.node);
    cell(tr, n.healthy ? "in the ring" : "ejected", n.healthy ? "health-up" : "health-down");
    cell(tr, fmt(n.qps)); cell(tr, fmt(n.errors_per_s)); cell(tr, fmt(n.latency_ewma_ms, 2) + " ms");
  }
  loadAccuracy();
  const eb = $("errors-body"); clear(eb);
  const codes = last ? Object.keys(last.errors).sort() : [];
  if (codes.length === 0) { const tr = eb.insertRow(); cell(tr, "none"); cell(tr, "0"); }
  for (const c of codes) { const tr = eb.insertRow(); cell(tr, c); cell(tr, fmt(last.errors[c], 2)); }
}

// loadAccuracy shows GET /admin/accuracy (the checks by tier and the latest mismatches) when the
// node makes accuracy checks; the card stays hidden otherwise.
async function loadAccuracy() {
  let r;
  try { r = await apiJSON("/admin/accuracy"); } catch (e) { return; }
  const card = $("acc-card");
  if (!r.ok || !r.body || !r.body.enabled) { card.hidden = true; return; }
  card.hidden = false;
  const a = r.body;
  const tiers = Object.keys(a.checks || {}).sort().map((t) => {
    const c = a.checks[t] || {};
    const judged = (c.match || 0) + (c.mismatch || 0);
    return t + ": " + (judged ? fmt(10000 * (c.mismatch || 0) / judged, 1) + " per 10,000 of " + judged : "no checks yet");
  });
  const skipped = Object.entries(a.skipped || {}).filter(([, v]) => v > 0).map(([k, v]) => k + " " + v);
  setMsg($("acc-sum"), "1 in " + a.sample + " answers re-asked upstream with the client's own ECS. " + tiers.join(" · ") +
    (skipped.length ? ". Skipped: " + skipped.join(", ") : ""));
  const tb = $("acc-body"); clear(tb);
  const list = a.mismatches || [];
  if (list.length === 0) { cell(tb.insertRow(), "no mismatch so far").colSpan = 6; return; }
  for (const m of list.slice(0, 10)) {
    const tr = tb.insertRow();
    cell(tr, new Date(m.time).toISOString().slice(11, 19)); cell(tr, m.name + (m.qtype === 28 ? " AAAA" : ""));
    cell(tr, m.client); cell(tr, m.tier + " " + (m.key || "(name-wide)"));
    cell(tr, (m.served || []).join(", ")); cell(tr, (m.fresh || []).join(", "));
  }
}

// ---- lookup ----

async function lookup(ev) {
  ev.preventDefault();
  const q = new URLSearchParams({ client: $("lk-client").value.trim(), name: $("lk-name").value.trim(), type: $("lk-type").value });
  setMsg($("lk-msg"), "Asking…");
  let r;
  try { r = await apiJSON("/console/api/lookup?" + q.toString()); } catch (e) { return; }
  if (!r.ok) { setMsg($("lk-msg"), (r.body && r.body.message) || "lookup failed: " + r.status, "bad"); $("lk-result").hidden = true; return; }
  const x = r.body;
  setMsg($("lk-msg"), x.name + " " + x.type + " for " + x.client);
  $("lk-tier").textContent = x.tier + " (refresh " + x.refresh + ")" + (x.auto_global ? ", auto-global" : "");
  $("lk-rule").textContent = x.rule || "no rule: the default tier";
  $("lk-key").textContent = x.key + (x.split ? " (the CDN splits this block: the client's part)" : "") + (x.name_wide ? " (name-wide answer)" : "");
  $("lk-ecs").textContent = x.ecs || "none";
  const l = x.location;
  $("lk-block").textContent = l.block ? l.block + (l.network && l.network !== l.block ? " (network " + l.network + ")" : "") + (l.block_id ? " #" + l.block_id : "") : "not located";
  $("lk-loc").textContent = [l.country, l.city, l.isp, l.asn ? "AS" + l.asn : ""].filter(Boolean).join(" / ") || "unknown";
  const c = x.cached;
  facts($("lk-cached"), c ? [["IPs", c.ips.join(", ") || "(none)"], ["State", c.state], ["Rcode", c.rcode],
    ["TTL left", c.remaining + " s of " + c.ttl + " s"], ["ECS scope", c.ecs_scope || "none"]].concat(c.parts ? [["Confirmed parts", c.parts.join(", ")]] : [])
    : [["Entry", "nothing cached under this key"]]);
  const f = x.fresh;
  facts($("lk-fresh"), f ? [["IPs", f.ips.join(", ") || "(none)"], ["Rcode", f.rcode], ["TTL", f.ttl + " s"], ["ECS scope", f.ecs_scope]]
    : [["Error", x.fresh_error]]);
  if (x.agree === null || x.agree === undefined) setMsg($("lk-agree"), "");
  else setMsg($("lk-agree"), x.agree ? "The cached answer matches upstream's answer for this client." : "The cached answer differs from upstream's answer for this client.", x.agree ? "good" : "bad");
  $("lk-result").hidden = false;
}

// ---- history, whitelist, accounts ----

function fillHistory(tbody, list) {
  clear(tbody);
  if (!list || list.length === 0) { const tr = tbody.insertRow(); cell(tr, "no uploads since this node started").colSpan = 5; return; }
  for (const v of list) {
    const tr = tbody.insertRow();
    cell(tr, "v" + v.version); cell(tr, new Date(v.when).toISOString().replace(".000", "")); cell(tr, v.who);
    cell(tr, v.size + " B"); cell(tr, v.sha256.slice(0, 16) + "…");
  }
}

async function loadHistory() {
  try {
    const r = await apiJSON("/console/api/history");
    if (r.ok) { fillHistory($("wl-hist"), r.body.whitelist); fillHistory($("acc-hist"), r.body.accounts); }
  } catch (e) { /* signed out */ }
}

async function loadWhitelist() {
  try {
    const resp = await api("/admin/domains");
    if (resp.ok) $("wl-text").value = await resp.text();
    else setMsg($("wl-msg"), "This node serves no whitelist (" + resp.status + ").", "bad");
  } catch (e) { return; }
  $("wl-lines").hidden = true;
  loadHistory();
  fleetVersion();
}

// showLines lists the text's lines with each bad line marked and its error beside it.
function showLines(text, errors) {
  const ol = $("wl-lines"); clear(ol);
  const byLine = new Map();
  for (const e of errors) if (e.line) byLine.set(e.line, (byLine.get(e.line) ? byLine.get(e.line) + "; " : "") + e.message);
  text.split("\n").forEach((line, i) => {
    const li = document.createElement("li");
    li.textContent = line;
    const msg = byLine.get(i + 1);
    if (msg) {
      li.className = "bad";
      const span = document.createElement("span");
      span.className = "err"; span.textContent = "line " + (i + 1) + ": " + msg;
      li.appendChild(span);
    }
    ol.appendChild(li);
  });
  ol.hidden = errors.length === 0;
}

async function validateWhitelist() {
  const text = $("wl-text").value;
  let r;
  try { r = await apiJSON("/console/api/validate", { method: "POST", body: text }); } catch (e) { return null; }
  if (!r.ok) { setMsg($("wl-msg"), (r.body && r.body.message) || "validation failed: " + r.status, "bad"); return null; }
  showLines(text, r.body.errors);
  if (r.body.ok) setMsg($("wl-msg"), "Valid: " + r.body.rules + " rules.", "good");
  else setMsg($("wl-msg"), r.body.errors.length + " bad line(s): nothing was applied.", "bad");
  return r.body;
}

async function uploadWhitelist() {
  const text = $("wl-text").value;
  let r;
  try { r = await apiJSON("/admin/domains", { method: "PUT", body: text, headers: { "Content-Type": "text/plain" } }); } catch (e) { return; }
  if (r.ok) {
    $("wl-lines").hidden = true;
    setMsg($("wl-msg"), "Uploaded and applied.", "good");
    loadHistory(); fleetVersion();
    return;
  }
  const reason = (r.body && (r.body.code + ": " + r.body.message)) || String(r.status);
  await validateWhitelist();
  setMsg($("wl-msg"), "Upload refused, the old whitelist stays. " + reason, "bad");
}

async function loadAccounts() {
  try {
    const resp = await api("/admin/accounts");
    if (resp.ok) $("acc-text").value = await resp.text();
  } catch (e) { return; }
  loadHistory();
}

async function uploadAccounts() {
  let r;
  try { r = await apiJSON("/admin/accounts", { method: "PUT", body: $("acc-text").value, headers: { "Content-Type": "application/json" } }); } catch (e) { return; }
  if (r.ok) { setMsg($("acc-msg"), "Uploaded and applied.", "good"); loadAccounts(); return; }
  setMsg($("acc-msg"), "Upload refused, the old accounts stay. " + ((r.body && (r.body.code + ": " + r.body.message)) || r.status), "bad");
}

// ---- fleet ----

async function fetchFleet() {
  try { return await apiJSON("/admin/fleet"); } catch (e) { return null; }
}

async function probeFleet() {
  const r = await fetchFleet();
  $("fleet-tab").hidden = !r || r.status === 404;
}

async function fleetVersion() {
  const r = await fetchFleet();
  const p = $("wl-fleet");
  if (!r || r.status === 404) { p.hidden = true; return; }
  p.hidden = false;
  if (!r.ok) { setMsg(p, "Fleet: unreachable (" + ((r.body && r.body.message) || r.status) + ")", "bad"); return; }
  const self = (r.body.nodes || []).find((n) => n.self);
  const doc = self ? docOf(self, "whitelist") : null;
  const mine = doc ? doc.version : "?";
  setMsg(p, "Fleet whitelist version " + ((r.body.newest || {}).whitelist || 0) + "; this node serves version " + mine + ".");
}

// docOf finds a node's status of one shared document (an array of {kind, version, ...}).
function docOf(n, kind) {
  const docs = n.docs || [];
  return Array.isArray(docs) ? docs.find((d) => d.kind === kind) : docs[kind];
}

function docVersion(n, kind) {
  const d = docOf(n, kind);
  return d ? "v" + d.version + (d.last_error ? " (" + d.last_error + ")" : "") : "–";
}

async function loadFleet() {
  const r = await fetchFleet();
  const tb = $("fleet-body"); clear(tb);
  if (!r || !r.ok) { setMsg($("fleet-msg"), r ? (r.body && r.body.message) || String(r.status) : "", "bad"); return; }
  setMsg($("fleet-msg"), "This node: " + r.body.node + ". Newest in Redis: " +
    Object.entries(r.body.newest || {}).map(([k, v]) => k + " v" + v).join(", "));
  for (const n of r.body.nodes || []) {
    const tr = tb.insertRow();
    cell(tr, n.id + (n.self ? " (this node)" : ""));
    cell(tr, docVersion(n, "whitelist")); cell(tr, docVersion(n, "accounts")); cell(tr, docVersion(n, "cidrdb"));
    cell(tr, n.out_of_sync ? "behind: " + (n.behind || []).join(", ") : "yes", n.out_of_sync ? "health-down" : "health-up");
    cell(tr, fmt(n.age_seconds) + " s");
    cell(tr, n.l2 ? pct(n.l2.hit_ratio) + " of " + (n.l2.hits + n.l2.misses) : "–");
  }
}

// ---- CIDRDB ----

async function loadCIDRDB() {
  let r;
  try { r = await apiJSON("/console/api/cidrdb"); } catch (e) { return; }
  if (!r.ok) { setMsg($("db-msg"), "CIDRDB unavailable: " + r.status, "bad"); return; }
  const d = r.body;
  if (!d.configured) {
    setMsg($("db-msg"), "This node has no CIDRDB: every client is keyed by its /24 (/56). The address lookup uses the geo databases.");
    facts($("db-meta"), []);
  } else {
    setMsg($("db-msg"), d.error || "", d.error ? "bad" : null);
    const m = d.metadata || {}, s = d.summary || {};
    facts($("db-meta"), [["File", d.path], ["Description", m.description || "–"], ["Built", m.build_time || "–"],
      ["Blocks", (s.blocks || 0) + " (" + (s.blocks_ipv4 || 0) + " IPv4, " + (s.blocks_ipv6 || 0) + " IPv6)"],
      ["Networks", String(s.networks || 0)]]);
    const zoom = $("db-zoom");
    while (zoom.options.length > 1) zoom.remove(1);
    for (const p of d.busiest || []) zoom.add(new Option(p + " (a pixel is a /" + (Number(p.split("/")[1]) + 16) + ")", p));
    if ((d.busiest || []).length) zoom.value = d.busiest[0];
  }
  const tb = $("db-pairs"); clear(tb);
  for (const p of d.city_isp || []) { const tr = tb.insertRow(); cell(tr, p.country || "–"); cell(tr, p.city || "–"); cell(tr, p.isp || "–"); cell(tr, String(p.blocks)); }
  if (d.diff) {
    setMsg($("db-diff-msg"), "Since the CIDRDB was swapped in at " + d.diff_since + ":");
    const x = d.diff;
    facts($("db-diff"), [["Old → new", (x.old_blocks || 0) + " → " + (x.new_blocks || 0) + " blocks"]].concat(
      ["unchanged", "moved", "merged", "split", "reshaped", "added", "removed"].filter((k) => x[k]).map((k) => [k, String(x[k].blocks)])));
  } else {
    setMsg($("db-diff-msg"), "No change since this node started: a reload that swaps in a new CIDRDB shows its diff here.");
    facts($("db-diff"), []);
  }
  if (d.probe_report) {
    const p = d.probe_report;
    setMsg($("db-probe-msg"), "From " + d.probe_report_path + ":");
    const wrong = (w) => (w ? (100 * w.subnet_share).toFixed(2) + "% of probed subnets (" + w.subnets + ")" : "–");
    facts($("db-probe"), [["Blocks", p.blocks_before + " → " + p.blocks_after], ["Merged / split / unchanged", p.merged + " / " + p.split + " / " + p.unchanged],
      ["Subnets probed", p.subnets_probed + " of " + p.subnets], ["Wrong before → after", wrong(p.wrong_old) + " → " + wrong(p.wrong_new)],
      ["Rounds", (p.rounds || []).join(", ")]]);
  } else {
    setMsg($("db-probe-msg"), "No probe report" + (d.probe_report_path ? " at " + d.probe_report_path + " (httpdns probe -report writes one)." : "."));
    facts($("db-probe"), []);
  }
  loadMap();
}

async function loadMap() {
  const q = new URLSearchParams({ prefix: $("db-zoom").value, color: $("db-color").value });
  let resp;
  try { resp = await api("/console/api/cidrdb/map.png?" + q.toString()); } catch (e) { return; }
  const img = $("db-map");
  if (!resp.ok) { img.hidden = true; return; }
  if (mapURL) URL.revokeObjectURL(mapURL);
  mapURL = URL.createObjectURL(await resp.blob());
  img.src = mapURL; img.hidden = false;
}

async function dbLookup(ev) {
  ev.preventDefault();
  let r;
  try { r = await apiJSON("/console/api/cidrdb/lookup?" + new URLSearchParams({ ip: $("db-ip").value.trim() }).toString()); } catch (e) { return; }
  if (!r.ok) { facts($("db-lookup"), [["Error", (r.body && r.body.message) || String(r.status)]]); return; }
  const l = r.body;
  facts($("db-lookup"), [["Address", l.ip], ["Block", (l.block || "–") + (l.block_id ? " #" + l.block_id : "")],
    ["Network", l.network || "–"], ["Location", [l.country, l.city, l.isp].filter(Boolean).join(" / ") || "unknown"], ["ASN", l.asn ? "AS" + l.asn : "–"]]);
}

// ---- start ----

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", () => signOut("Signed out."));
  for (const b of document.querySelectorAll("#tabs button[data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("lookup-form").addEventListener("submit", lookup);
  $("wl-validate").addEventListener("click", validateWhitelist);
  $("wl-upload").addEventListener("click", uploadWhitelist);
  $("wl-reload").addEventListener("click", loadWhitelist);
  $("acc-upload").addEventListener("click", uploadAccounts);
  $("acc-reload").addEventListener("click", loadAccounts);
  $("db-lookup-form").addEventListener("submit", dbLookup);
  $("db-zoom").addEventListener("change", loadMap);
  $("db-color").addEventListener("change", loadMap);
  if (token()) showApp(); else signOut();
});
