// knip's web screen: the state stream, shared by both pages. No external code.
"use strict";

// Latencies (ms) from a block's arrival in knip to this page's DOM update, and to the next
// frame drawn, measured on the one host clock (performance.timeOrigin + performance.now()).
window.knipLatency = { dom: [], frame: [], span: [], max: 20000 };

function knipNow() {
  return performance.timeOrigin + performance.now();
}

function knipRecord(arrivalMs, spanMs) {
  const L = window.knipLatency;
  if (!(arrivalMs > 0) || L.dom.length >= L.max) return;
  L.dom.push(knipNow() - arrivalMs);
  L.span.push(spanMs || 0);
  requestAnimationFrame(() => L.frame.push(knipNow() - arrivalMs));
}

// Listen to `path` (Server-Sent Events); `onState` gets each parsed state.
function knipConnect(path, onState) {
  const link = document.getElementById("link");
  let source = null;
  function open() {
    source = new EventSource(path);
    source.onopen = () => { if (link) link.textContent = "connected"; };
    source.onmessage = (ev) => {
      let s;
      try { s = JSON.parse(ev.data); } catch (e) { return; }
      onState(s);
    };
    source.onerror = () => {
      if (link) link.textContent = "reconnecting…";
      // EventSource retries by itself; a closed one (server gone) is opened again later.
      if (source.readyState === EventSource.CLOSED) setTimeout(open, 2000);
    };
  }
  open();
}
