// The event browser of the jetsource gateway: plain JavaScript, no
// framework, no build step. It reads the gateway's /v1/admin endpoints and
// writes every value with textContent, never as HTML: payloads are data.
"use strict";

const api = "/v1/admin";
const tokenKey = "jetsource-browser-token";
const projectionsEvery = 2000; // ms between two reads of the projections
const reconnectAfter = 2000; // ms before the live pane reconnects
const liveKept = 200; // the live pane keeps this many events

const $ = (sel) => document.querySelector(sel);

// view is what is shown: the aggregate looked up and its events.
const view = { type: "", id: "", events: [], version: 0 };

function headers() {
  const token = sessionStorage.getItem(tokenKey) || "";
  return token ? { Authorization: "Bearer " + token } : {};
}

// get reads one JSON endpoint; a refusal becomes an Error with the
// gateway's message.
async function get(path) {
  const resp = await fetch(api + path, { headers: headers() });
  let body = null;
  try {
    body = await resp.json();
  } catch (e) {
    // not JSON: the status says enough
  }
  if (!resp.ok) {
    const msg = body && body.error ? body.error.message : resp.statusText;
    throw new Error(resp.status + ": " + msg);
  }
  return body;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function json(v) {
  return JSON.stringify(v, null, 2);
}

// shortTime is an RFC 3339 time as date and time to the millisecond, UTC.
function shortTime(t) {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d{1,3})?/.exec(t || "");
  return m ? m[1] + " " + m[2] + (m[3] || "") : t;
}

// --- search and timeline ---------------------------------------------------

async function lookUp(type, id) {
  const status = $("#search-status");
  status.textContent = "loading…";
  status.className = "";
  try {
    const path = "/aggregates/" + encodeURIComponent(type) + "/" + encodeURIComponent(id);
    const body = await get(path + "/events");
    view.type = type;
    view.id = id;
    view.events = body.events || [];
    history.replaceState(null, "", "#" + type + "/" + id);
    renderTimeline();
    status.textContent = view.events.length + " events";
    if (view.events.length > 0) {
      await showVersion(view.events[view.events.length - 1].version);
    }
  } catch (err) {
    view.events = [];
    renderTimeline();
    $("#state").textContent = "";
    status.textContent = err.message;
    status.className = "error";
  }
}

function renderTimeline() {
  $("#subject").textContent = view.type ? view.type + " " + view.id : "";
  const body = $("#timeline tbody");
  body.replaceChildren();
  for (const ev of view.events) {
    const tr = el("tr");
    tr.dataset.version = ev.version;
    const time = el("td", shortTime(ev.time), "time");
    time.title = ev.time;
    const type = el("td", ev.type, "type");
    type.title = Object.entries(ev.headers || {}).map(([k, v]) => k + ": " + v).join("\n");
    if (ev.voided_by) type.append(el("span", " voided by #" + ev.voided_by, "error"));
    tr.append(el("td", ev.version, "version"), el("td", ev.sequence, "sequence"), time, type);
    const payload = el("td", null, "payload");
    payload.append(el("pre", JSON.stringify(ev.payload), "json"));
    tr.append(payload);
    tr.addEventListener("click", () => showVersion(ev.version));
    body.append(tr);
  }
  const slider = $("#slider");
  const last = view.events.length ? view.events[view.events.length - 1].version : 0;
  slider.min = view.events.length ? view.events[0].version : 1;
  slider.max = last || 1;
  slider.disabled = view.events.length === 0;
  $("#last-version").textContent = last || "–";
  $("#version").textContent = "–";
}

// --- time travel -----------------------------------------------------------

async function showVersion(version) {
  if (!view.events.length) return;
  const slider = $("#slider");
  version = Math.max(Number(slider.min), Math.min(Number(slider.max), Number(version)));
  view.version = version;
  slider.value = version;
  for (const tr of document.querySelectorAll("#timeline tbody tr")) {
    tr.classList.toggle("current", Number(tr.dataset.version) === version);
    tr.classList.toggle("future", Number(tr.dataset.version) > version);
  }
  const path = "/aggregates/" + encodeURIComponent(view.type) + "/" + encodeURIComponent(view.id) +
    "/state?version=" + version;
  try {
    const body = await get(path);
    if (view.version !== version) return; // a later step was asked for meanwhile
    $("#version").textContent = body.version;
    $("#state").textContent = json(body.state);
    $("#state").classList.remove("error");
  } catch (err) {
    if (view.version !== version) return;
    $("#version").textContent = version;
    $("#state").textContent = err.message;
    $("#state").classList.add("error");
  }
}

// --- projections -----------------------------------------------------------

async function refreshProjections() {
  const status = $("#projections-status");
  try {
    const body = await get("/projections");
    const tbody = $("#projections tbody");
    tbody.replaceChildren();
    for (const p of body.projections || []) {
      const tr = el("tr", null, "state-" + p.state);
      tr.dataset.name = p.name;
      let failed = "";
      if (p.failed) {
        failed = "#" + p.failed.sequence + " " + p.failed.type + " on " + p.failed.subject + ": " + p.failed.error;
      }
      tr.append(el("td", p.name, "name"), el("td", p.state, "status"), el("td", p.checkpoint, "checkpoint"),
        el("td", p.lag, "lag"), el("td", p.generation, "generation"), el("td", failed, "failed"));
      tbody.append(tr);
    }
    const last = body.projections && body.projections.length ? body.projections[0].stream_last_sequence : 0;
    status.textContent = "stream at " + last + ", read " + new Date().toLocaleTimeString();
    status.className = "muted";
  } catch (err) {
    status.textContent = err.message;
    status.className = "error";
  }
}

// --- live events -----------------------------------------------------------

// follow reads the live events as Server-Sent Events. It uses fetch rather
// than EventSource, which cannot send an Authorization header.
async function follow(signal) {
  const status = $("#live-status");
  while (!signal.aborted) {
    try {
      const h = headers();
      h.Accept = "text/event-stream";
      const resp = await fetch(api + "/live", { headers: h, signal });
      if (!resp.ok) {
        let msg = resp.statusText;
        try {
          msg = (await resp.json()).error.message;
        } catch (e) {
          // keep the status text
        }
        throw new Error(resp.status + ": " + msg);
      }
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const msg = parseEvent(buf.slice(0, end));
          buf = buf.slice(end + 2);
          if (msg.event === "ready") {
            status.textContent = "following";
            status.className = "ok";
          } else if (msg.event === "message" && msg.data) {
            showLive(JSON.parse(msg.data));
          } else if (msg.event === "failed") {
            throw new Error(JSON.parse(msg.data).message);
          }
        }
      }
      throw new Error("the stream ended");
    } catch (err) {
      if (signal.aborted) return;
      status.textContent = "reconnecting (" + err.message + ")";
      status.className = "error";
      await new Promise((r) => setTimeout(r, reconnectAfter));
    }
  }
}

// parseEvent reads one Server-Sent Event block.
function parseEvent(block) {
  const msg = { event: "message", data: "", id: "" };
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") msg.event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") msg.id = value;
  }
  msg.data = data.join("\n");
  return msg;
}

function showLive(ev) {
  const li = el("li");
  li.dataset.sequence = ev.sequence;
  // events.<type>.<id>: an id holds no dot.
  const [, type, id] = ev.subject.split(".");
  const link = el("a", type + " " + id, "aggregate");
  link.href = "#" + type + "/" + id;
  li.append(el("span", "#" + ev.sequence, "sequence"), " ", el("span", ev.type, "type"), " ", link,
    " ", el("span", "v" + ev.version, "version"), " ", el("span", shortTime(ev.time), "time muted"));
  li.append(el("pre", JSON.stringify(ev.payload), "json"));
  const list = $("#live");
  list.prepend(li);
  while (list.children.length > liveKept) list.lastChild.remove();
}

// --- wiring ----------------------------------------------------------------

function fromHash() {
  const m = /^#([a-z][a-z0-9_]{0,63})\/([A-Za-z0-9_-]{1,128})$/.exec(location.hash);
  if (!m) return false;
  $("#type").value = m[1];
  $("#id").value = m[2];
  lookUp(m[1], m[2]);
  return true;
}

async function loadTypes() {
  try {
    const body = await get("/types");
    const list = $("#types");
    list.replaceChildren(...(body.types || []).map((t) => {
      const o = el("option");
      o.value = t;
      return o;
    }));
  } catch (err) {
    // the type can still be typed in
  }
}

let live = new AbortController();

function start() {
  loadTypes();
  refreshProjections();
  live.abort();
  live = new AbortController();
  follow(live.signal);
}

document.addEventListener("DOMContentLoaded", () => {
  const token = $("#token");
  token.value = sessionStorage.getItem(tokenKey) || "";
  token.addEventListener("change", () => {
    sessionStorage.setItem(tokenKey, token.value.trim());
    start();
  });
  $("#search").addEventListener("submit", (e) => {
    e.preventDefault();
    lookUp($("#type").value.trim(), $("#id").value.trim());
  });
  $("#first").addEventListener("click", () => showVersion($("#slider").min));
  $("#prev").addEventListener("click", () => showVersion(view.version - 1));
  $("#next").addEventListener("click", () => showVersion(view.version + 1));
  $("#last").addEventListener("click", () => showVersion($("#slider").max));
  $("#slider").addEventListener("input", (e) => showVersion(e.target.value));
  window.addEventListener("hashchange", fromHash);
  setInterval(refreshProjections, projectionsEvery);
  start();
  fromHash();
});
