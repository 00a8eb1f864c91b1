// The clinician's screen: live traces of every channel (last 20 s), thresholds, markers with a
// note, pause / resume / end, and the report's files at the end.
"use strict";

const el = (id) => document.getElementById(id);
const WINDOW_S = 20;
const COLORS = ["#5bb6e8", "#39c07a", "#e8b04a", "#c78be8", "#e5675c", "#9fb3c4"];
const traces = [];   // per channel: { name, unit, first, values: [] }
let rate = 50;
let last = null;
window.knipState = null;

function ingest(msg) {
  rate = msg.rate || rate;
  const ch = msg.ch || {};
  (ch.names || []).forEach((name, i) => {
    if (!traces[i]) {
      traces[i] = { name, unit: (ch.units || [])[i] || "", first: 0, values: [], canvas: null };
      const c = document.createElement("canvas");
      c.id = "trace-" + i;
      c.setAttribute("aria-label", name);
      el("traces").appendChild(c);
      traces[i].canvas = c;
    }
  });
  (msg.tr || []).forEach(([start, vals], i) => {
    const t = traces[i];
    if (!t) return;
    if (t.values.length === 0 || start !== t.first + t.values.length) {
      t.first = start;
      t.values = [];
    }
    t.values.push(...vals);
    const keep = Math.ceil(WINDOW_S * rate);
    if (t.values.length > keep) {
      const drop = t.values.length - keep;
      t.values.splice(0, drop);
      t.first += drop;
    }
  });
}

function draw() {
  const c = last ? last.c : {};
  traces.forEach((t, i) => {
    const cv = t.canvas;
    const w = cv.clientWidth, h = cv.clientHeight;
    if (cv.width !== w) cv.width = w;
    if (cv.height !== h) cv.height = h;
    const g = cv.getContext("2d");
    g.clearRect(0, 0, w, h);
    const th = (c.thresholds || []).find((x) => x.ch === i);
    let top = Math.max(1e-9, ...t.values);
    if (th) top = Math.max(top, th.mvc * 1.1);
    const end = t.first + t.values.length;
    const x = (idx) => w - ((end - idx) / (WINDOW_S * rate)) * w;
    const y = (v) => h - 4 - (v / top) * (h - 22);
    if (th) {
      if (th.band) {
        g.fillStyle = "rgba(57,192,122,0.18)";
        g.fillRect(0, y(th.band[1]), w, y(th.band[0]) - y(th.band[1]));
      }
      g.strokeStyle = "#9fb3c4";
      g.setLineDash([6, 4]);
      [["rest", th.rest], ["MVC", th.mvc]].forEach(([label, v]) => {
        g.beginPath(); g.moveTo(0, y(v)); g.lineTo(w, y(v)); g.stroke();
        g.fillStyle = "#9fb3c4"; g.fillText(label + " " + v.toFixed(1), 4, y(v) - 3);
      });
      g.setLineDash([]);
    }
    // Markers in this window (device time: index / rate from the stream's start).
    (c.markers || []).forEach(([at, label]) => {
      const idx = (at - (c.t0 || 0)) * rate;
      if (idx < t.first) return;
      g.strokeStyle = "#e8b04a";
      g.beginPath(); g.moveTo(x(idx), 0); g.lineTo(x(idx), h); g.stroke();
      g.fillStyle = "#e8b04a"; g.fillText(label, x(idx) + 3, 24);
    });
    g.strokeStyle = COLORS[i % COLORS.length];
    g.lineWidth = 2;
    g.beginPath();
    t.values.forEach((v, k) => {
      const px = x(t.first + k), py = y(v);
      if (k === 0) g.moveTo(px, py); else g.lineTo(px, py);
    });
    g.stroke();
    g.lineWidth = 1;
    g.fillStyle = "#eef3f7";
    g.font = "13px system-ui, sans-serif";
    g.fillText(t.name + " (" + t.unit + ")", 4, 14);
  });
}

function show(msg) {
  ingest(msg);
  last = msg;
  const s = msg.s || {}, c = msg.c || {};
  window.knipState = s;
  el("phase").textContent = (c.protocol || "") + (c.phase ? " · " + c.phase : "");
  el("level").textContent = c.unit
    ? "level " + Number(c.level || 0).toFixed(1) + " " + c.unit +
      (c.pct_mvc != null ? " (" + Math.round(c.pct_mvc) + " % MVC)" : "")
    : "";
  el("cue").textContent = s.sensor ? "Sensor: " + s.sensor : (s.cue || "");
  el("rep").textContent = s.reps ? "rep " + s.rep + " of " + s.reps : "";
  el("today").textContent = s.goal ? s.today + " of " + s.goal + " today" : "";
  el("abd").textContent = s.abd ? "abdomen tensing" : "abdomen soft";
  el("verdict").textContent = s.verdict || "";
  el("pause").disabled = !c.can_control || c.paused;
  el("resume").disabled = !c.can_control || !c.paused;
  el("marker").disabled = !c.can_control;
  el("note").disabled = !c.can_control;
  el("end").disabled = !c.can_end;
  const ml = el("marker-list");
  const markers = c.markers || [];
  if (ml.children.length !== markers.length) {
    ml.textContent = "";
    markers.forEach(([at, label]) => {
      const li = document.createElement("li");
      li.textContent = Number(at).toFixed(1) + " s  " + label;
      ml.appendChild(li);
    });
  }
  const reports = msg.reports || [];
  el("reports").hidden = reports.length === 0;
  const rl = el("report-list");
  if (rl.children.length !== reports.length) {
    rl.textContent = "";
    reports.forEach((name) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "/report/" + encodeURIComponent(name);
      a.textContent = name;
      li.appendChild(a);
      rl.appendChild(li);
    });
  }
  knipRecord(s.arrival_ms, s.span_ms);
}

function send(what, body) {
  const st = el("control-status");
  fetch("/control/" + what, { method: "POST", body: body || "", credentials: "same-origin" })
    .then((r) => { st.textContent = r.ok ? what + " sent" : what + " refused (" + r.status + ")"; })
    .catch(() => { st.textContent = what + " failed"; });
}
el("pause").addEventListener("click", () => send("pause"));
el("resume").addEventListener("click", () => send("resume"));
el("end").addEventListener("click", () => send("end"));
el("marker").addEventListener("click", () => { send("marker", el("note").value); el("note").value = ""; });

function frame() { draw(); requestAnimationFrame(frame); }
requestAnimationFrame(frame);
knipConnect("/events/clinician", show);
