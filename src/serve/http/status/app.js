// skiff status page: reads the server's own JSON (GET / as JSON, the KServe
// metadata and config of each model, /status/stats.json every second) and
// draws it. No framework and no fetches to anywhere but this server. Every
// string from the server goes into the page as text (textContent), never as
// markup. What the charts hold is on window.skiffStatus for tests and the
// console.
"use strict";

const POLL_MS = 1000;
const KEEP = 120; // points per chart: two minutes at one poll a second
const QUANTILES = [0.5, 0.9, 0.99];
const COLORS = { req: "#1f6feb", err: "#c62828", p50: "#2e7d32", p90: "#ef6c00", p99: "#8e24aa" };

const state = {
  server: null,
  models: {}, // name -> {meta, config}
  series: {}, // name -> {t: [], rps: [], errors: [], p50: [], p90: [], p99: []} (ms for latencies)
  last: null, // the previous /status/stats.json
  polls: 0,
  pollErrors: 0,
};
window.skiffStatus = state;

// ---- small DOM helpers ---------------------------------------------------------

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function $(id) {
  return document.getElementById(id);
}

function setConn(ok, text) {
  const b = $("conn-state");
  b.textContent = text;
  b.className = "badge " + (ok ? "ok" : "down");
}

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!r.ok) throw new Error(url + ": HTTP " + r.status);
  return r.json();
}

function fmtDuration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d) return d + "d " + h + "h " + m + "m";
  if (h) return h + "h " + m + "m " + sec + "s";
  if (m) return m + "m " + sec + "s";
  return sec + "s";
}

function fmtNum(v) {
  if (!isFinite(v)) return "-";
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

function shapeText(shape) {
  return "[" + (shape || []).join(", ") + "]";
}

// ---- server and models ---------------------------------------------------------

function renderServer(s) {
  $("server-version").textContent = "version " + s.version;
  const dl = $("server-facts");
  dl.replaceChildren();
  const fact = (name, value, id) => {
    dl.append(el("dt", {}, name), el("dd", id ? { id } : {}, value));
  };
  fact("Version", s.version, "fact-version");
  fact("Uptime", fmtDuration(s.uptime_s), "fact-uptime");
  fact("Started", new Date(s.start_time * 1000).toLocaleString());
  fact("Cores", s.cores, "fact-cores");
  fact("Threads", s.io_threads + " I/O, " + s.instances + " instance(s) per model x " +
       s.threads + " intra-op", "fact-threads");
  fact("Listening", (s.host || "*") + " port " + s.ports.join(", "), "fact-ports");
  fact("Protocols", s.protocols.join(", ") + " (on every port)", "fact-protocols");
  if (s.pipeline) fact("Pipeline", s.pipeline, "fact-pipeline");
  fact("Models", s.models.join(", "), "fact-models");
  const list = el("ul");
  for (const e of s.endpoints) list.append(el("li", {}, el("code", {}, e)));
  fact("Endpoints", el("details", {}, el("summary", {}, s.endpoints.length + " routes"), list));
}

function ioTable(vars) {
  const t = el("table", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "datatype"),
                                el("th", {}, "shape")));
  for (const v of vars || [])
    t.append(el("tr", {}, el("td", {}, el("code", {}, v.name)), el("td", {}, v.datatype),
                el("td", {}, shapeText(v.shape))));
  return t;
}

function param(cfg, key) {
  const p = (cfg.parameters || {})[key];
  return p ? p.string_value : undefined;
}

function renderModel(name, meta, cfg) {
  const inst = (cfg.instance_group || [{}])[0];
  const batching = cfg.max_batch_size > 0
    ? "dynamic, up to " + cfg.max_batch_size + " rows, " +
      ((cfg.dynamic_batching || {}).max_queue_delay_microseconds || 0) + " us max queue delay"
    : "off (requests run one by one)";
  const card = el("div", { class: "card model", "data-model": name },
    el("h3", {}, name, " ", el("span", { class: "muted" }, meta.platform)),
    el("table", { class: "facts" },
      el("tr", {}, el("th", {}, "precision"), el("td", { class: "precision" },
                                                  (meta.parameters || {}).precision || "fp32")),
      el("tr", {}, el("th", {}, "instances"), el("td", { class: "instances" },
        (inst.count || "?") + " x " + (param(cfg, "intra_op_threads") || "?") + " thread(s)" +
        (param(cfg, "inline") === "true" ? ", inline when idle" : ""))),
      el("tr", {}, el("th", {}, "batching"), el("td", { class: "batching" }, batching))),
    el("div", { class: "muted" }, "inputs"), ioTable(meta.inputs),
    el("div", { class: "muted" }, "outputs"), ioTable(meta.outputs));
  return card;
}

// ---- charts ----------------------------------------------------------------------

function chartCard(name) {
  const card = el("div", { class: "card chart", "data-model": name },
    el("h3", {}, name),
    el("canvas", { class: "rate", "data-model": name, "aria-label": "requests and errors per second" }),
    el("canvas", { class: "latency", "data-model": name, "aria-label": "latency percentiles" }),
    el("div", { class: "totals" }));
  return card;
}

// Draws lines on a canvas: lines = [{label, color, values}], y from 0 to the
// largest value. Sized for the screen's pixel ratio so lines stay sharp.
function drawChart(canvas, lines, unit) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 400, h = canvas.clientHeight || 160;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const padL = 48, padR = 8, padT = 24, padB = 10;
  const pw = w - padL - padR, ph = h - padT - padB;
  let max = 0;
  for (const l of lines) for (const v of l.values) if (isFinite(v) && v > max) max = v;
  max = max > 0 ? max * 1.1 : 1;
  g.font = "11px system-ui, sans-serif";
  g.strokeStyle = "#d9dee4";
  g.fillStyle = "#66717d";
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = padT + ph - (ph * i) / 4;
    g.beginPath();
    g.moveTo(padL, y);
    g.lineTo(padL + pw, y);
    g.stroke();
    g.fillText(fmtNum((max * i) / 4), 4, y + 4);
  }
  g.fillText(unit, 4, 11);
  let lx = padL;
  for (const l of lines) {
    g.fillStyle = l.color;
    g.fillRect(lx, 4, 10, 8);
    g.fillStyle = "#1d2329";
    const last = l.values.length ? l.values[l.values.length - 1] : NaN;
    const text = l.label + " " + fmtNum(last);
    g.fillText(text, lx + 14, 12);
    lx += 22 + g.measureText(text).width;
  }
  for (const l of lines) {
    g.strokeStyle = l.color;
    g.lineWidth = 1.5;
    g.beginPath();
    let pen = false;
    const n = l.values.length;
    for (let i = 0; i < n; i++) {
      const v = l.values[i];
      if (!isFinite(v)) {
        pen = false;
        continue;
      }
      const x = padL + pw - ((n - 1 - i) * pw) / (KEEP - 1);
      const y = padT + ph - (v / max) * ph;
      if (pen) g.lineTo(x, y);
      else g.moveTo(x, y);
      pen = true;
    }
    g.stroke();
  }
}

// The q-quantile of the requests counted between two reads of a latency
// histogram (non-cumulative bucket counts; bounds are upper bounds in us, the
// last bucket is +Inf), interpolated inside its bucket. NaN without requests.
function quantile(q, bounds, buckets) {
  let total = 0;
  for (const c of buckets) total += c;
  if (total <= 0) return NaN;
  const want = q * total;
  let cum = 0;
  for (let i = 0; i < buckets.length; i++) {
    if (buckets[i] > 0 && cum + buckets[i] >= want) {
      const lo = i === 0 ? 0 : bounds[i - 1];
      const hi = i < bounds.length ? bounds[i] : bounds[bounds.length - 1];
      return lo + ((hi - lo) * (want - cum)) / buckets[i];
    }
    cum += buckets[i];
  }
  return bounds[bounds.length - 1];
}

function push(arr, v) {
  arr.push(v);
  if (arr.length > KEEP) arr.shift();
}

function addPoint(prev, cur) {
  const dt = cur.uptime_s - prev.uptime_s;
  if (!(dt > 0)) return;
  const before = {};
  for (const m of prev.models) before[m.name] = m;
  for (const m of cur.models) {
    const p = before[m.name];
    const s = state.series[m.name];
    if (!p || !s) continue;
    const delta = m.latency_us.buckets.map((c, i) => Math.max(0, c - (p.latency_us.buckets[i] || 0)));
    push(s.t, cur.uptime_s);
    push(s.rps, (m.success + m.fail - p.success - p.fail) / dt);
    push(s.errors, (m.fail - p.fail) / dt);
    for (const q of QUANTILES)
      push(s["p" + Math.round(q * 100)], quantile(q, cur.latency_bounds_us, delta) / 1000);
  }
}

function drawAll(cur) {
  for (const m of cur.models) {
    const s = state.series[m.name];
    const card = document.querySelector('#charts .chart[data-model="' + CSS.escape(m.name) + '"]');
    if (!s || !card) continue;
    drawChart(card.querySelector("canvas.rate"),
              [{ label: "requests/s", color: COLORS.req, values: s.rps },
               { label: "errors/s", color: COLORS.err, values: s.errors }], "per s");
    drawChart(card.querySelector("canvas.latency"),
              [{ label: "p50", color: COLORS.p50, values: s.p50 },
               { label: "p90", color: COLORS.p90, values: s.p90 },
               { label: "p99", color: COLORS.p99, values: s.p99 }], "ms");
    const avg = m.latency_us.count ? m.latency_us.sum / m.latency_us.count / 1000 : NaN;
    card.querySelector(".totals").textContent =
      m.success + " ok, " + m.fail + " failed, " + m.rows + " rows in " + m.runs +
      " runs, mean latency " + fmtNum(avg) + " ms, in flight " + m.in_flight +
      ", queued " + m.queue_depth;
  }
}

async function poll() {
  try {
    const cur = await getJSON("/status/stats.json");
    if (state.last) addPoint(state.last, cur);
    state.last = cur;
    state.polls++;
    const up = $("fact-uptime");
    if (up) up.textContent = fmtDuration(cur.uptime_s);
    drawAll(cur);
    setConn(true, "live");
  } catch (e) {
    state.pollErrors++;
    setConn(false, "server unreachable");
  }
  setTimeout(poll, POLL_MS);
}

// ---- try it ----------------------------------------------------------------------

// A KServe v2 request for a model from its metadata: each input with its
// datatype and its shape (a variable dim becomes 1), filled with zeros.
function sampleRequest(meta) {
  const inputs = (meta.inputs || []).map((v) => {
    const shape = (v.shape || []).map((d) => (d < 0 ? 1 : d));
    let n = 1;
    for (const d of shape) n *= d;
    n = Math.min(n, 4096);
    const zero = v.datatype === "BYTES" ? "" : v.datatype === "BOOL" ? false : 0;
    return { name: v.name, datatype: v.datatype, shape, data: new Array(n).fill(zero) };
  });
  return { inputs, outputs: (meta.outputs || []).map((v) => ({ name: v.name })) };
}

// JSON with every array of plain values (data, shape) on one line, so long
// tensors stay readable. Such arrays are stringified first and marked, then
// unmarked in the indented text.
function prettyRequest(obj) {
  const flat = (v) => Array.isArray(v) && v.every((x) => x === null || typeof x !== "object");
  return JSON.stringify(obj, (k, v) => (flat(v) ? "\u0000" + JSON.stringify(v) : v), 2)
    .replace(/"\\u0000(.*)"/g, (m, s) => JSON.parse('"' + s + '"'));
}

function resetTry() {
  const name = $("try-model").value;
  const m = state.models[name];
  $("try-url").textContent = "POST /v2/models/" + encodeURIComponent(name) + "/infer";
  $("try-body").value = m ? prettyRequest(sampleRequest(m.meta)) : "";
}

async function sendTry(ev) {
  ev.preventDefault();
  const name = $("try-model").value;
  const out = $("try-result"), status = $("try-status");
  let body;
  try {
    body = JSON.stringify(JSON.parse($("try-body").value));
  } catch (e) {
    out.className = "error";
    out.textContent = "the request is not JSON: " + e.message;
    return;
  }
  status.textContent = "sending...";
  out.className = "";
  out.textContent = "";
  const t0 = performance.now();
  try {
    const r = await fetch("/v2/models/" + encodeURIComponent(name) + "/infer", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body,
    });
    const text = await r.text();
    const ms = performance.now() - t0;
    status.textContent = "HTTP " + r.status + " in " + ms.toFixed(1) + " ms";
    status.dataset.ms = ms.toFixed(3);
    out.className = r.ok ? "ok" : "error";
    try {
      out.textContent = prettyRequest(JSON.parse(text));
    } catch (e) {
      out.textContent = text;
    }
  } catch (e) {
    status.textContent = "no answer: " + e.message;
    out.className = "error";
    out.textContent = "";
  }
}

// ---- start -----------------------------------------------------------------------

async function start() {
  try {
    state.server = await getJSON("/");
  } catch (e) {
    setConn(false, "server unreachable");
    setTimeout(start, 2000);
    return;
  }
  renderServer(state.server);
  const list = $("model-list"), charts = $("charts"), sel = $("try-model");
  for (const name of state.server.models) {
    const base = "/v2/models/" + encodeURIComponent(name);
    let meta, config;
    try {
      [meta, config] = await Promise.all([getJSON(base), getJSON(base + "/config")]);
    } catch (e) {
      list.append(el("div", { class: "card" }, name + ": " + e.message));
      continue;
    }
    state.models[name] = { meta, config };
    state.series[name] = { t: [], rps: [], errors: [], p50: [], p90: [], p99: [] };
    list.append(renderModel(name, meta, config));
    charts.append(chartCard(name));
    sel.append(el("option", { value: name }, name));
  }
  $("try-form").addEventListener("submit", sendTry);
  $("try-reset").addEventListener("click", resetTry);
  sel.addEventListener("change", resetTry);
  resetTry();
  poll();
}

start();
