// The patient's screen: gauge, cue, counts, abdomen, verdict, sound. Words come from knip.
"use strict";

const el = (id) => document.getElementById(id);
window.knipState = null;

// ---- Sound: Web Audio, off until the patient taps "Sound on" ------------------------------
// A tone whose pitch follows the squeeze, a soft chime when a hold reaches its target and a
// lower one at "let go". Every gain change is ramped (setTargetAtTime), so nothing clicks.
const LOW_HZ = 220, HIGH_HZ = 660, TONE_GAIN = 0.12, RAMP_S = 0.04;
const audio = { ctx: null, osc: null, gain: null, on: false, chimes: 0, lastHz: LOW_HZ };
window.knipAudio = {
  on: () => audio.on,
  frequency: () => (audio.osc ? audio.osc.frequency.value : null),
  targetFrequency: () => audio.lastHz,
  gain: () => (audio.gain ? audio.gain.gain.value : null),
  chimes: () => audio.chimes,
  state: () => (audio.ctx ? audio.ctx.state : "none"),
};

function startAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return false;
  if (!audio.ctx) {
    audio.ctx = new Ctx();
    audio.osc = audio.ctx.createOscillator();
    audio.osc.type = "sine";
    audio.osc.frequency.value = LOW_HZ;
    audio.gain = audio.ctx.createGain();
    audio.gain.gain.value = 0;
    audio.osc.connect(audio.gain).connect(audio.ctx.destination);
    audio.osc.start();
  }
  audio.ctx.resume();
  audio.on = true;
  return true;
}

function stopAudio() {
  audio.on = false;
  if (audio.gain) audio.gain.gain.setTargetAtTime(0, audio.ctx.currentTime, RAMP_S);
}

// A browser may suspend audio in the background; it comes back with the page.
document.addEventListener("visibilitychange", () => {
  if (audio.on && audio.ctx && document.visibilityState === "visible") audio.ctx.resume();
});

function toneFor(s) {
  if (!audio.on || !audio.ctx) return;
  const t = audio.ctx.currentTime;
  const level = Math.max(0, Math.min(1, s.gauge || 0));
  const hz = LOW_HZ + (HIGH_HZ - LOW_HZ) * level;
  audio.lastHz = hz;
  audio.osc.frequency.setTargetAtTime(hz, t, RAMP_S);
  const quiet = s.finished || s.paused || s.sensor;
  audio.gain.gain.setTargetAtTime(quiet ? 0 : TONE_GAIN * (0.35 + 0.65 * level), t, RAMP_S);
}

function chime(freqs) {
  if (!audio.on || !audio.ctx) return;
  audio.chimes += 1;
  const t0 = audio.ctx.currentTime;
  freqs.forEach((f, k) => {
    const o = audio.ctx.createOscillator();
    const g = audio.ctx.createGain();
    o.type = "triangle";
    o.frequency.value = f;
    g.gain.value = 0;
    const t = t0 + k * 0.18;
    g.gain.setTargetAtTime(0.18, t, 0.015);
    g.gain.setTargetAtTime(0, t + 0.12, 0.12);
    o.connect(g).connect(audio.ctx.destination);
    o.start(t);
    o.stop(t + 1.2);
    o.onended = () => { o.disconnect(); g.disconnect(); };
  });
}
const CHIME_TARGET = [880, 1318.5];
const CHIME_LET_GO = [659.3, 440];

el("sound").addEventListener("click", () => {
  const b = el("sound");
  if (audio.on) {
    stopAudio();
    b.textContent = "Sound on";
    b.setAttribute("aria-pressed", "false");
  } else if (startAudio()) {
    b.textContent = "Sound off";
    b.setAttribute("aria-pressed", "true");
    if (window.knipState) toneFor(window.knipState);
  }
});

// ---- The screen ---------------------------------------------------------------------------
let prev = null;
let reachedThisRep = false;

function show(s) {
  window.knipState = s;
  const unplugged = !!s.sensor;
  el("sensor").hidden = !unplugged;
  el("sensor-words").textContent = s.sensor || "";
  el("gauge-box").hidden = unplugged;

  const cue = el("cue");
  cue.textContent = unplugged ? "" : (s.cue || "");
  cue.className = s.paused ? "paused" : (s.work ? "work" : "");
  el("instruction").textContent = unplugged ? "" : (s.instruction || "");

  const level = Math.max(0, Math.min(1, s.gauge || 0));
  const pct = Math.round(level * 100);
  const gauge = el("gauge");
  gauge.dataset.level = level.toFixed(4);
  gauge.setAttribute("aria-valuenow", String(pct));
  const fill = el("fill");
  fill.style.width = (level * 100).toFixed(2) + "%";
  const band = el("band");
  if (s.band) {
    band.hidden = false;
    band.style.left = (s.band[0] * 100).toFixed(2) + "%";
    band.style.width = ((s.band[1] - s.band[0]) * 100).toFixed(2) + "%";
  } else {
    band.hidden = true;
  }
  fill.className = s.in_band ? "in-band" : (s.band && level > s.band[1] ? "over" : "");
  el("gauge-note").textContent = s.mode === "record"
    ? (s.squeezes ? s.squeezes + (s.squeezes === 1 ? " squeeze" : " squeezes") : "")
    : (s.calibrating && !s.finished ? "Finding your strongest squeeze" : "");

  if (s.mode === "session") {
    el("rep").textContent = s.reps ? "rep " + s.rep + " of " + s.reps : "";
    el("today").textContent = s.goal ? s.today + " of " + s.goal + " today" : "";
  } else {
    el("rep").textContent = "";
    el("today").textContent = "";
  }
  const abd = el("abd");
  abd.textContent = s.abd ? "Tummy is working — keep it soft" : "Tummy soft";
  abd.className = s.abd ? "tensing" : "soft";
  const v = el("verdict");
  v.textContent = s.verdict || "";
  v.className = s.verdict_ok === false ? "fail" : "";

  // Sound: the tone follows the level; chimes at the target and at "let go".
  toneFor(s);
  if (prev) {
    const newRep = s.rep !== prev.rep;
    if (newRep || (s.work && !prev.work)) reachedThisRep = false;
    if (s.work && s.in_band && !reachedThisRep) {
      reachedThisRep = true;
      chime(CHIME_TARGET);
    }
    if (prev.work && !s.work && !s.finished) chime(CHIME_LET_GO);
  }
  prev = s;
  knipRecord(s.arrival_ms, s.span_ms);
}

knipConnect("/events", show);
