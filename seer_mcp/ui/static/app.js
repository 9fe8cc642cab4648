// seer-mcp web UI: the sandbox list and a live notebook view. Plain DOM, no framework, no build.
// Every piece of text from a sandbox goes in through textContent; images only as data: URLs of PNG
// or JPEG. Nothing a cell prints is ever parsed as HTML.
"use strict";

const API = "/ui/api";
const state = { route: null, sessionId: null, running: {}, ended: false, refreshTimer: null, listTimer: null };

// ----- small DOM helpers ------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]/g;
function clean(text) {
  return joinText(text).replace(ANSI, "");
}
function joinText(value) {
  if (Array.isArray(value)) return value.join("");
  return value === null || value === undefined ? "" : String(value);
}

function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds || 0));
  if (seconds < 120) return seconds + "s";
  if (seconds < 7200) return Math.floor(seconds / 60) + "m";
  return Math.floor(seconds / 3600) + "h" + String(Math.floor((seconds % 3600) / 60)).padStart(2, "0") + "m";
}

function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

async function api(path, options) {
  const response = await fetch(API + path, { credentials: "same-origin", ...(options || {}) });
  let body = null;
  try { body = await response.json(); } catch (err) { body = null; }
  if (!response.ok) {
    const message = (body && body.error) || ("HTTP " + response.status);
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function post(path) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
}

function view() { return document.getElementById("view"); }

function showError(err) {
  if (err.status === 401) {
    view().replaceChildren(el("h1", { text: "Not logged in" }),
      el("p", { text: "Open the web UI link printed when the server started (…/ui/login?token=…)." }));
  } else {
    toast(err.message);
  }
}

// ----- routing ----------------------------------------------------------------

function route() {
  const hash = location.hash || "#/";
  const match = hash.match(/^#\/session\/([A-Za-z0-9_-]+)$/);
  clearInterval(state.listTimer);
  state.ended = false;
  if (match) {
    state.route = "session";
    state.sessionId = match[1];
    showSession(match[1]);
  } else {
    state.route = "list";
    state.sessionId = null;
    showList();
    state.listTimer = setInterval(() => { if (state.route === "list") refreshList(); }, 5000);  // ages and idle times
  }
}

// ----- the sandbox list -------------------------------------------------------

function showList() {
  view().replaceChildren(el("h1", { text: "Sandboxes" }), el("div", { id: "sandboxes" }, el("p", { class: "muted", text: "Loading…" })),
    el("h2", { text: "Snapshots" }), el("div", { id: "snapshots" }));
  refreshList();
}

async function refreshList() {
  let sandboxes, snapshots;
  try {
    [sandboxes, snapshots] = await Promise.all([api("/sandboxes"), api("/snapshots")]);
  } catch (err) { showError(err); return; }
  const box = document.getElementById("sandboxes");
  if (!box) return;
  box.replaceChildren(sandboxTable(sandboxes.sandboxes));
  document.getElementById("snapshots").replaceChildren(snapshotTable(snapshots.snapshots));
}

function sandboxTable(rows) {
  if (!rows.length) return el("p", { class: "muted", text: "No sandbox is running. An agent creates one with create_sandbox." });
  const head = el("tr", {}, ...["Sandbox", "Backend", "GPU", "Status", "Age", "Idle", "Sessions", "Interfaces", ""].map(
    (name) => el("th", { text: name })));
  const body = rows.map((row) => el("tr", { "data-sandbox": row.sandbox_id },
    el("td", {}, el("div", { class: "mono", text: row.sandbox_id }), row.name ? el("div", { class: "muted", text: row.name }) : null),
    el("td", { text: row.backend }),
    el("td", { text: row.gpu || "–" }),
    el("td", {}, el("span", { class: "badge " + row.status, text: row.status })),
    el("td", { text: duration(row.age_s) }),
    el("td", { text: duration(row.idle_s) }),
    el("td", {}, ...(row.sessions.length ? row.sessions.map(sessionLink) : [el("span", { class: "muted", text: "none" })])),
    el("td", {}, ...(row.interfaces.length ? row.interfaces.map((i) => el("div", {},
      el("span", { class: "mono", text: i.name }), " ", el("span", { class: "muted", text: i.expose_as + ": " + i.functions.join(", ") })))
      : [el("span", { class: "muted", text: "none" })])),
    el("td", {}, el("button", { class: "danger", "data-action": "terminate", onclick: () => terminate(row.sandbox_id) }, "Terminate")),
  ));
  return el("table", { id: "sandbox-table" }, el("thead", {}, head), el("tbody", {}, ...body));
}

function sessionLink(session) {
  return el("div", { class: "session" },
    el("a", { href: "#/session/" + session.session_id, class: "mono", text: session.session_id }),
    " ", el("span", { class: "muted", text: session.name + (session.kind === "cli" ? " (cli)" : "") }),
    session.running ? el("span", { class: "badge busy", text: " running " + duration(session.running.elapsed) }) : null);
}

function snapshotTable(rows) {
  if (!rows.length) return el("p", { class: "muted", text: "No snapshots." });
  const head = el("tr", {}, ...["Snapshot", "Label", "From sandbox", "Backend", "Taken", "Notebooks"].map((n) => el("th", { text: n })));
  const body = rows.map((row) => el("tr", {},
    el("td", { class: "mono", text: row.snapshot_id }), el("td", { text: row.label || "–" }),
    el("td", { class: "mono", text: row.sandbox_id }), el("td", { text: row.backend }),
    el("td", { text: new Date(row.created_at * 1000).toLocaleString() }),
    el("td", { text: (row.notebooks || []).join(", ") || "–" })));
  return el("table", { id: "snapshot-table" }, el("thead", {}, head), el("tbody", {}, ...body));
}

async function terminate(sandboxId) {
  if (!confirm("Terminate sandbox " + sandboxId + "? Its kernels and their variables are gone; notebooks stay saved.")) return;
  try {
    await post("/sandboxes/" + encodeURIComponent(sandboxId) + "/terminate");
    toast("Terminated " + sandboxId);
  } catch (err) { showError(err); }
  if (state.route === "list") refreshList(); else location.hash = "#/";
}

// ----- a session --------------------------------------------------------------

function showSession(sessionId) {
  const id = encodeURIComponent(sessionId);
  const transcript = el("a", { class: "button", href: "/ui/download/" + id + "/transcript", "data-action": "transcript",
                               onclick: (event) => download(event, transcript) }, "Download transcript");
  const notebook = el("a", { class: "button", href: "/ui/download/" + id + ".ipynb", "data-action": "download",
                             onclick: (event) => download(event, notebook) }, "Download .ipynb");
  view().replaceChildren(
    el("div", { class: "toolbar" },
      el("h1", { id: "title", text: sessionId }), el("span", { class: "spacer" }),
      el("button", { "data-action": "restart", onclick: () => restart(sessionId) }, "Restart kernel"),
      notebook, transcript,
      el("button", { class: "danger", "data-action": "terminate", id: "terminate-sandbox" }, "Terminate sandbox")),
    el("p", { id: "session-info", class: "muted" }),
    el("div", { id: "cells" }, el("p", { class: "muted", text: "Loading…" })),
    el("div", { id: "running" }));
  refreshNotebook();
}

async function refreshNotebook() {
  const sessionId = state.sessionId;
  let data;
  try {
    data = await api("/sessions/" + encodeURIComponent(sessionId) + "/notebook");
  } catch (err) {
    if (err.status === 404) { markEnded(err.message); return; }
    showError(err);
    return;
  }
  if (state.sessionId !== sessionId) return;
  document.getElementById("title").textContent = data.name + "  ·  " + sessionId;
  document.getElementById("session-info").textContent =
    (data.kind === "cli" ? "shell session" : "notebook session") + " in sandbox " + data.sandbox_id;
  const button = document.getElementById("terminate-sandbox");
  button.onclick = () => terminate(data.sandbox_id);
  const cellsBox = document.getElementById("cells");
  const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  if (data.kind === "cli") {
    document.querySelector('[data-action="download"]').hidden = true;
    cellsBox.replaceChildren(el("pre", { class: "transcript", text: clean(data.transcript) }));
  } else {
    const cells = data.notebook.cells || [];
    cellsBox.replaceChildren(...(cells.length ? cells.map(renderCell)
      : [el("p", { class: "muted", text: "No cells yet. They appear here as the agent runs them." })]));
  }
  if (data.running) state.running[sessionId] = { ...data.running, seen: Date.now() };
  else delete state.running[sessionId];
  renderRunning();
  if (atBottom) window.scrollTo(0, document.body.scrollHeight);
}

function markEnded(message) {
  state.ended = true;
  delete state.running[state.sessionId];
  renderRunning();
  for (const button of document.querySelectorAll("[data-action]")) {
    if (button.tagName === "BUTTON") button.disabled = true;
  }
  const info = document.getElementById("session-info");
  if (info) info.textContent = "This session has ended (" + message + "). What is shown is its last state.";
  const cells = document.getElementById("cells");
  if (cells && cells.querySelector("p.muted") && cells.children.length === 1) cells.replaceChildren();
}

function renderCell(cell, index) {
  const source = joinText(cell.source);
  if (cell.cell_type === "markdown") {
    return el("div", { class: "cell markdown", "data-index": index },
      el("div", { class: "head" }, el("span", { text: "markdown · cell " + index })), renderMarkdown(source));
  }
  const meta = (cell.metadata && cell.metadata.seer) || {};
  const head = el("div", { class: "head" },
    el("span", { class: "mono", text: "[" + (cell.execution_count === null || cell.execution_count === undefined ? " " : cell.execution_count) + "]" }),
    el("span", { text: "cell " + index }),
    meta.duration !== undefined ? el("span", { text: meta.duration.toFixed(2) + "s" }) : null,
    meta.status && meta.status !== "ok" ? el("span", { class: "badge failed", text: meta.status }) : null);
  const outputs = el("div", { class: "outputs" }, ...(cell.outputs || []).map(renderOutput));
  return el("div", { class: "cell code status-" + (meta.status || "ok"), "data-index": index },
    head, el("pre", { class: "source" }, el("code", { text: source })), outputs);
}

function renderOutput(output) {
  switch (output.output_type) {
    case "stream":
      return el("pre", { class: "out " + (output.name === "stderr" ? "stderr" : "stdout"), text: clean(output.text) });
    case "error":
      return el("pre", { class: "out error",
                         text: clean((output.traceback || []).join("\n")) || (output.ename + ": " + output.evalue) });
    case "execute_result":
    case "display_data":
      return renderData(output.data || {});
    default:
      return el("pre", { class: "out", text: "[" + output.output_type + " output]" });
  }
}

const BASE64 = /^[A-Za-z0-9+/=\s]+$/;

function renderData(data) {
  for (const mime of ["image/png", "image/jpeg"]) {
    const payload = joinText(data[mime]);
    if (payload && BASE64.test(payload)) {
      return el("div", { class: "image" }, el("img", { src: "data:" + mime + ";base64," + payload.replace(/\s/g, ""), alt: mime }));
    }
  }
  const plain = joinText(data["text/plain"]);
  const html = joinText(data["text/html"]);
  // A rich object's text/plain is often just "<IPython.core.display.HTML object>": then its HTML, as text.
  if (html && (!plain || /^<[\w.]+ object>$/.test(plain.trim()))) {
    return el("div", {}, el("span", { class: "mime", text: "text/html, shown as text" }), el("pre", { class: "out", text: html }));
  }
  if (plain) return el("pre", { class: "out", text: clean(plain) });
  const other = Object.keys(data);
  return el("pre", { class: "out muted", text: other.length ? "[" + other.join(", ") + " output]" : "" });
}

// Markdown, safely: headings, fenced code, paragraphs, **bold** and `code`, all built as DOM nodes.
function renderMarkdown(text) {
  const box = el("div", { class: "md" });
  const lines = text.split("\n");
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) box.append(el("p", {}, ...inline(paragraph.join(" "))));
    paragraph = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (line.startsWith("```")) {
      flush();
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      box.append(el("pre", {}, el("code", { text: code.join("\n") })));
    } else if (heading) {
      flush();
      box.append(el("h" + Math.min(heading[1].length + 1, 6), {}, ...inline(heading[2])));
    } else if (/^\s*[-*]\s+/.test(line)) {
      flush();
      box.append(el("div", {}, "• ", ...inline(line.replace(/^\s*[-*]\s+/, ""))));
    } else if (!line.trim()) {
      flush();
    } else {
      paragraph.push(line);
    }
  }
  flush();
  return box;
}

function inline(text) {
  const parts = [];
  const pattern = /(\*\*[^*]+\*\*|`[^`]+`)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    const token = match[0];
    parts.push(token.startsWith("**") ? el("strong", { text: token.slice(2, -2) }) : el("code", { text: token.slice(1, -1) }));
    last = match.index + token.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

// The cell running now: its code, elapsed time, last printed line, and Interrupt.
function renderRunning() {
  const box = document.getElementById("running");
  if (!box) return;
  const run = state.running[state.sessionId];
  if (!run || state.ended) { box.replaceChildren(); return; }
  const elapsed = (run.elapsed || 0) + (Date.now() - run.seen) / 1000;
  box.replaceChildren(el("div", { class: "cell running", id: "running-cell" },
    el("div", { class: "head" }, el("span", { class: "badge busy", text: "running" }),
      el("span", { id: "running-elapsed", text: elapsed.toFixed(0) + "s" }), el("span", { class: "spacer" }),
      el("button", { "data-action": "interrupt", onclick: () => interrupt(state.sessionId) }, "Interrupt")),
    el("pre", { class: "source" }, el("code", { text: run.code || "" })),
    el("div", { class: "outputs" }, el("pre", { class: "out running-line", id: "running-line", text: clean(run.last_line) || "…" }))));
}

setInterval(() => {
  const run = state.running[state.sessionId];
  const node = document.getElementById("running-elapsed");
  if (run && node) node.textContent = ((run.elapsed || 0) + (Date.now() - run.seen) / 1000).toFixed(0) + "s";
}, 1000);

async function interrupt(sessionId) {
  try {
    await post("/sessions/" + encodeURIComponent(sessionId) + "/interrupt");
    toast("Interrupted the running cell");
  } catch (err) { showError(err); }
}

async function restart(sessionId) {
  if (!confirm("Restart the kernel of " + sessionId + "? Its variables are lost; the notebook keeps its cells.")) return;
  try {
    await post("/sessions/" + encodeURIComponent(sessionId) + "/restart");
    toast("The kernel was restarted");
  } catch (err) { showError(err); }
}

// Downloads go through fetch, so a missing transcript shows its reason instead of a bare error page.
async function download(event, link) {
  event.preventDefault();
  const response = await fetch(link.href, { credentials: "same-origin" });
  if (!response.ok) {
    let message = "HTTP " + response.status;
    try { message = (await response.json()).error || message; } catch (err) { /* not JSON */ }
    toast(message);
    return;
  }
  const name = (response.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
  const url = URL.createObjectURL(await response.blob());
  const save = el("a", { href: url, download: name ? name[1] : "download" });
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ----- live events ------------------------------------------------------------

function scheduleNotebookRefresh() {
  // Events come in bursts (a cell finishing, then its markdown): one fetch serves them all.
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => { state.refreshTimer = null; refreshNotebook(); }, 0);
}

function onEvent(event) {
  if (event.type === "hello") {
    state.running = {};
    for (const [id, run] of Object.entries(event.running || {})) state.running[id] = { ...run, seen: Date.now() };
    if (state.route === "session") refreshNotebook(); else refreshList();
    return;
  }
  const mine = state.route === "session" && event.session_id === state.sessionId;
  if (event.type === "cell_started") {
    state.running[event.session_id] = { code: event.code, elapsed: 0, last_line: "", seen: Date.now() };
  } else if (event.type === "cell_progress" && state.running[event.session_id]) {
    Object.assign(state.running[event.session_id], { elapsed: event.elapsed, last_line: event.last_line, seen: Date.now() });
  } else if (event.type === "cell_finished") {
    delete state.running[event.session_id];
  }
  if (state.route === "list") {
    if (event.type !== "cell_progress") refreshList();
    return;
  }
  if (event.type === "sandbox_terminated" && !state.ended && document.getElementById("terminate-sandbox")) {
    scheduleNotebookRefresh();  // a 404 then marks the session ended
  }
  if (!mine) return;
  if (event.type === "cell_started" || event.type === "cell_progress") {
    if (event.type === "cell_progress" && document.getElementById("running-line")) {
      document.getElementById("running-line").textContent = clean(event.last_line) || "…";
    } else {
      renderRunning();
    }
  } else if (event.type === "session_ended") {
    markEnded("ended");
  } else {
    scheduleNotebookRefresh();  // cell_finished, markdown_added, kernel_restarted, kernel_interrupted
  }
}

function connect() {
  const live = document.getElementById("live");
  const source = new EventSource(API + "/events");
  source.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  source.onerror = () => { live.textContent = "reconnecting"; live.className = "live off"; };
  source.onmessage = (message) => {
    try { onEvent(JSON.parse(message.data)); } catch (err) { console.error(err); }
  };
}

window.addEventListener("hashchange", route);
route();
connect();
