// The admin console: every action goes through the admin API with the admin token,
// kept in this tab's sessionStorage and sent only in the Authorization header. Every
// string from the API is shown as text (textContent), never as markup.
"use strict";

const KEY = "scoreboard-admin-token";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(KEY) || "";
let summaryTimer = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.fields = error.fields || {};
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data.data;
}

function notice(text) { $("notice").textContent = text; }
function when(iso) { return iso ? new Date(iso).toLocaleString() : "-"; }

// sign in ------------------------------------------------------------------------
async function signIn(candidate) {
  token = candidate.trim();
  try {
    await api("GET", "/api/v1/admin/summary");
  } catch (e) {
    token = "";
    sessionStorage.removeItem(KEY);
    $("signin-error").textContent = e.status === 403
      ? "This token is not an admin's: it was refused (403)."
      : e.status === 401 ? "This token was refused (401): expired, revoked or not ours."
      : `Sign-in failed: ${e.message}`;
    return false;
  }
  sessionStorage.setItem(KEY, token);
  $("signin").hidden = true;
  $("nav").hidden = false;
  $("signin-error").textContent = "";
  show("overview");
  return true;
}

$("signin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  signIn($("token").value);
});
$("signout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  token = "";
  location.reload();
});

// sections -----------------------------------------------------------------------
const loaders = {
  overview: loadSummary, boards: loadBoards, players: () => {}, flags: loadFlags,
  keys: loadKeys, audit: () => loadAudit(true),
};

function show(tab) {
  for (const button of document.querySelectorAll("#nav button[data-tab]")) {
    const here = button.dataset.tab === tab;
    if (here) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
    $(button.dataset.tab).hidden = !here;
  }
  clearInterval(summaryTimer);
  if (tab === "overview") summaryTimer = setInterval(loadSummary, 2000);
  Promise.resolve(loaders[tab]()).catch((e) => notice(`Could not load: ${e.message}`));
}

for (const button of document.querySelectorAll("#nav button[data-tab]")) {
  button.addEventListener("click", () => show(button.dataset.tab));
}

// overview -----------------------------------------------------------------------
async function loadSummary() {
  const s = await api("GET", "/api/v1/admin/summary");
  $("n-updates").textContent = s.updates_per_s.toFixed(1);
  $("n-watchers").textContent = s.watchers;
  $("n-lag").textContent = `${s.persist_waiting} events, ${s.persist_lag_s.toFixed(1)} s`;
  $("n-flags").textContent = s.open_flags;
}

// boards -------------------------------------------------------------------------
let editing = null;  // the board the form changes, or null: it creates

async function loadBoards() {
  const { boards } = await api("GET", "/api/v1/boards");
  const rows = $("board-rows");
  rows.replaceChildren();
  for (const b of boards) {
    const d = await api("GET", `/api/v1/boards/${encodeURIComponent(b.id)}`);
    const actions = el("td", { class: "actions" },
      el("button", { type: "button", onclick: () => showSeasons(b) }, "Seasons"), " ",
      el("button", { type: "button", onclick: () => editBoard(b) }, "Change"));
    if (b.id !== "global") {
      actions.append(" ",
        el("button", { type: "button", onclick: () => resetBoard(b) }, "Reset"), " ",
        el("button", { type: "button", class: "danger", onclick: () => retireBoard(b) },
           "Retire"));
    }
    rows.append(el("tr", { "data-board": b.id },
      el("td", {}, el("strong", {}, b.title), el("br"), el("span", { class: "muted" }, b.id),
         b.authoritative ? el("span", { class: "badge" }, " server keys only") : null),
      el("td", {}, d.season), el("td", {}, d.next_reset_at ? when(d.next_reset_at) : "never"),
      el("td", { class: "num" }, d.players), actions));
  }
}

async function resetBoard(b) {
  if (!confirm(`End season ${b.season} of "${b.title}" now? Its standings are archived.`)) return;
  const done = await api("POST", `/api/v1/admin/boards/${encodeURIComponent(b.id)}/reset`);
  notice(`${b.id}: season ${done.season} started`);
  await loadBoards();
}

async function retireBoard(b) {
  if (!confirm(`Retire "${b.title}"? It leaves the lists; its history stays readable.`)) return;
  await api("DELETE", `/api/v1/admin/boards/${encodeURIComponent(b.id)}`);
  notice(`${b.id} retired`);
  await loadBoards();
}

let seasonsCursor = null;
let seasonsBoard = null;

async function showSeasons(b, more) {
  if (!more) {
    seasonsBoard = b;
    seasonsCursor = null;
    $("season-list").replaceChildren();
    $("standings").hidden = $("standings-title").hidden = true;
  }
  $("seasons").hidden = false;
  $("seasons-title").textContent = `Seasons of ${b.title}`;
  const query = seasonsCursor ? `?cursor=${encodeURIComponent(seasonsCursor)}` : "";
  const page = await api("GET", `/api/v1/boards/${encodeURIComponent(b.id)}/seasons${query}`);
  for (const s of page.seasons) {
    const winner = s.winner ? ` · winner ${s.winner.username} (${s.winner.score})` : "";
    $("season-list").append(el("li", {},
      el("button", { type: "button", onclick: () => showStandings(b, s.season) },
         `Season ${s.season}`),
      `${s.ended_at ? "ended " + when(s.ended_at) : "live"} · ${s.players} players${winner}`));
  }
  seasonsCursor = page.next_cursor;
  $("seasons-more").hidden = !seasonsCursor;
}
$("seasons-more").addEventListener("click", () => showSeasons(seasonsBoard, true));

async function showStandings(b, season) {
  const id = encodeURIComponent(b.id);
  const page = await api("GET", `/api/v1/boards/${id}/leaderboard?season=${season}&limit=100`);
  $("standings-title").textContent = `${b.title}, season ${season}`;
  $("standings-title").hidden = $("standings").hidden = false;
  $("standing-rows").replaceChildren(...page.leaderboard.map((e) => el("tr", {},
    el("td", {}, e.rank), el("td", {}, e.username || e.user_id),
    el("td", { class: "num" }, e.score))));
}

function formErrors(form, err) {
  for (const p of form.querySelectorAll(".error[data-for]")) p.textContent = "";
  const fields = (err && err.fields) || {};
  let placed = false;
  for (const [name, why] of Object.entries(fields)) {
    const slot = form.querySelector(`.error[data-for="${CSS.escape(name)}"]`);
    if (slot) {
      slot.textContent = Array.isArray(why) ? why.join(" ") : String(why);
      placed = true;
    }
  }
  if (err && !placed) form.querySelector('.error[data-for="_form"]').textContent = err.message;
}

function editBoard(b) {
  const form = $("board-form");
  editing = b;
  form.elements.id.value = b.id;
  form.elements.id.disabled = true;
  form.elements.title.value = b.title;
  form.elements.actions.value = b.actions.join(",");
  form.elements.order.value = b.order;
  form.elements.operator.value = b.operator;
  form.elements.reset.value = b.reset || "";
  form.elements.timezone.value = b.timezone;
  form.elements.authoritative.checked = b.authoritative;
  $("board-form-title").textContent = `Change ${b.id}`;
  $("board-submit").textContent = "Save";
  $("board-cancel").hidden = false;
  form.elements.title.focus();
}

function resetBoardForm() {
  const form = $("board-form");
  HTMLFormElement.prototype.reset.call(form);  // its `reset` field hides form.reset
  form.elements.id.disabled = false;
  editing = null;
  $("board-form-title").textContent = "Create a board";
  $("board-submit").textContent = "Create";
  $("board-cancel").hidden = true;
  formErrors(form, null);
}
$("board-cancel").addEventListener("click", resetBoardForm);

$("board-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const body = {
    title: f.title.value, order: f.order.value, operator: f.operator.value,
    actions: f.actions.value.split(",").map((a) => a.trim()).filter(Boolean),
    reset: f.reset.value.trim() || null, timezone: f.timezone.value.trim() || "UTC",
    authoritative: f.authoritative.checked,
  };
  try {
    if (editing) {
      const changes = {};
      for (const [k, v] of Object.entries(body)) {
        if (JSON.stringify(v) !== JSON.stringify(editing[k])) changes[k] = v;
      }
      await api("PATCH", `/api/v1/admin/boards/${encodeURIComponent(editing.id)}`, changes);
      notice(`${editing.id} changed`);
    } else {
      await api("POST", "/api/v1/admin/boards", { id: f.id.value.trim(), ...body });
      notice(`${f.id.value.trim()} created`);
    }
    resetBoardForm();
    await loadBoards();
  } catch (err) {
    formErrors(e.target, err);
  }
});

// players ------------------------------------------------------------------------
let playersCursor = null;

async function searchPlayers(more) {
  if (!more) {
    playersCursor = null;
    $("player-list").replaceChildren();
  }
  const q = encodeURIComponent($("player-q").value.trim());
  const cursor = playersCursor ? `&cursor=${encodeURIComponent(playersCursor)}` : "";
  const page = await api("GET", `/api/v1/admin/users?q=${q}&limit=20${cursor}`);
  for (const u of page.users) {
    $("player-list").append(el("li", { "data-user": u.id },
      el("button", { type: "button", onclick: () => showPlayer(u) }, u.username),
      u.banned ? el("span", { class: "badge bad" }, "banned") : null,
      el("span", { class: "muted" }, `joined ${when(u.created_at)}`)));
  }
  if (!page.users.length && !more) $("player-list").append(el("li", {}, "No player found."));
  playersCursor = page.next_cursor;
  $("players-more").hidden = !playersCursor;
}
$("player-search").addEventListener("submit", (e) => {
  e.preventDefault();
  searchPlayers(false).catch((err) => notice(err.message));
});
$("players-more").addEventListener("click", () => searchPlayers(true));

async function showPlayer(u) {
  $("player-detail").hidden = false;
  $("player-name").textContent = u.username;
  const ban = $("player-ban");
  ban.textContent = u.banned ? "Unban" : "Ban";
  ban.className = u.banned ? "" : "danger";
  ban.onclick = async () => {
    const verb = u.banned ? "unban" : "ban";
    if (!confirm(`${verb[0].toUpperCase() + verb.slice(1)} ${u.username}?`)) return;
    try {
      const done = await api("POST", `/api/v1/admin/users/${u.id}/${verb}`);
      u.banned = done.banned;
      notice(`${u.username} ${done.banned ? "banned" : "unbanned"}`);
      await showPlayer(u);
      await searchPlayers(false);
    } catch (err) { notice(err.message); }
  };
  const { boards } = await api("GET", "/api/v1/boards");
  const scores = [];
  for (const b of boards) {
    try {
      const r = await api("GET", `/api/v1/boards/${encodeURIComponent(b.id)}/users/${u.id}/rank`);
      scores.push(el("li", {}, `${b.title}: ${r.score} (rank ${r.rank})`));
    } catch (err) { if (err.status !== 404) throw err; }
  }
  $("player-scores").replaceChildren(...(scores.length ? scores : [el("li", {}, "Unranked.")]));
  const { events } = await api("GET", `/api/v1/admin/users/${u.id}/events?limit=20`);
  $("player-events").replaceChildren(...events.map((ev) => el("tr", {},
    el("td", {}, when(ev.at)), el("td", {}, ev.action_type),
    el("td", { class: "num" }, ev.value), el("td", {}, ev.boards.join(", ")),
    el("td", {}, ev.via === "player" ? "player" : `key ${ev.via.slice(0, 8)}`))));
}

// flags --------------------------------------------------------------------------
function chart(events) {
  // the player's latest submissions, oldest left: one bar per value
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 100 30");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "The player's latest submissions, oldest first");
  const values = events.map((e) => e.value).reverse();
  const top = Math.max(1, ...values);
  const w = 100 / Math.max(1, values.length);
  values.forEach((v, i) => {
    const rect = document.createElementNS(ns, "rect");
    const h = Math.max(1, (v / top) * 30);
    rect.setAttribute("x", String(i * w));
    rect.setAttribute("width", String(Math.max(0.5, w * 0.8)));
    rect.setAttribute("y", String(30 - h));
    rect.setAttribute("height", String(h));
    svg.append(rect);
  });
  return svg;
}

async function loadFlags() {
  const { flags } = await api("GET", "/api/v1/admin/flags?status=open&limit=50");
  const list = $("flag-list");
  list.replaceChildren();
  $("flags-empty").hidden = flags.length > 0;
  for (const f of flags) {
    const facts = el("dl", { class: "evidence" });
    for (const [k, v] of Object.entries(f.evidence)) {
      facts.append(el("dt", {}, k.replaceAll("_", " ")),
                   el("dd", {}, typeof v === "number" ? +v.toPrecision(4)
                     : typeof v === "string" ? v : JSON.stringify(v)));
    }
    const item = el("li", { "data-flag": f.id },
      el("strong", {}, f.username), ` · ${f.detector} on ${f.board} · value `,
      String(+Number(f.value).toPrecision(4)), ` (threshold ${f.threshold}) · `,
      el("span", { class: "muted" }, when(f.created_at)), facts);
    try {
      const { events } = await api("GET", `/api/v1/admin/users/${f.user_id}/events?limit=50`);
      if (events.length) item.append(chart(events));
    } catch (err) { /* the chart is a help, not the evidence */ }
    item.append(
      el("button", { type: "button", onclick: () => resolveFlag(f, "dismiss") }, "Dismiss"), " ",
      el("button", { type: "button", class: "danger", onclick: () => resolveFlag(f, "ban") },
         "Ban player"));
    list.append(item);
  }
}

async function resolveFlag(f, resolution) {
  if (resolution === "ban" && !confirm(`Ban ${f.username}?`)) return;
  try {
    await api("POST", `/api/v1/admin/flags/${f.id}/resolve`, { resolution });
    notice(`Flag on ${f.username} ${resolution === "ban" ? "resolved: banned" : "dismissed"}`);
  } catch (err) { notice(err.message); }
  await loadFlags();
}

// server keys --------------------------------------------------------------------
async function loadKeys() {
  const { keys } = await api("GET", "/api/v1/admin/keys");
  $("key-rows").replaceChildren(...keys.map((k) => el("tr", { "data-key": k.id },
    el("td", {}, k.name, el("br"), el("span", { class: "muted" }, k.id)),
    el("td", {}, k.actions ? k.actions.join(", ") : "every action"),
    el("td", {}, when(k.last_used_at)),
    el("td", {}, k.revoked_at ? `revoked ${when(k.revoked_at)}` : "live"),
    el("td", {}, k.revoked_at ? "" : el("button", {
      type: "button", class: "danger", onclick: () => revokeKey(k) }, "Revoke")))));
}

async function revokeKey(k) {
  if (!confirm(`Revoke "${k.name}"? Every process refuses it at once.`)) return;
  await api("DELETE", `/api/v1/admin/keys/${k.id}`);
  notice(`${k.name} revoked`);
  await loadKeys();
}

$("key-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const actions = f.actions.value.split(",").map((a) => a.trim()).filter(Boolean);
  try {
    const made = await api("POST", "/api/v1/admin/keys",
                           { name: f.name.value, actions: actions.length ? actions : null });
    formErrors(e.target, null);
    e.target.reset();
    $("new-key-value").textContent = made.key;
    $("new-key").hidden = false;
    notice(`${made.name} created: copy its key now, it is not shown again`);
    await loadKeys();
  } catch (err) { formErrors(e.target, err); }
});
$("copy-key").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("new-key-value").textContent);
    notice("Key copied");
  } catch (err) { notice("Copy failed: select the key and copy it"); }
});

// audit --------------------------------------------------------------------------
let auditCursor = null;

async function loadAudit(fresh) {
  if (fresh) {
    auditCursor = null;
    $("audit-rows").replaceChildren();
  }
  const query = auditCursor ? `&cursor=${encodeURIComponent(auditCursor)}` : "";
  const page = await api("GET", `/api/v1/admin/audit?limit=50${query}`);
  for (const a of page.entries) {
    $("audit-rows").append(el("tr", {},
      el("td", {}, when(a.at)), el("td", {}, a.actor.slice(0, 8)), el("td", {}, a.action),
      el("td", {}, a.target || "-"), el("td", { class: "muted" }, JSON.stringify(a.details))));
  }
  auditCursor = page.next_cursor;
  $("audit-more").hidden = !auditCursor;
}
$("audit-more").addEventListener("click", () => loadAudit(false));

// start --------------------------------------------------------------------------
if (token) signIn(token);
