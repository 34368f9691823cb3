// The live top 10 of one board: a WebSocket to /ws/leaderboard?board=..., rows that
// move into place, and a picker of the live boards (#board=id&token=...).
// The token comes from the URL fragment (#token=...), which browsers never send
// to the server, and travels as the WebSocket subprotocol "bearer.<token>", so
// it appears in no URL and no log line.
"use strict";

const statusEl = document.getElementById("status");
const rowsEl = document.getElementById("rows");
const tableEl = document.getElementById("board");
const emptyEl = document.getElementById("empty");
const helpEl = document.getElementById("help");
const rowsById = new Map();  // user_id -> <tr>
let lastSeq = -1;
let retry = 0;

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

function showHelp(reason) {
  document.getElementById("help-reason").textContent = reason;
  document.getElementById("help-url").textContent = `${location.origin}/#token=<token>`;
  helpEl.hidden = false;
  tableEl.hidden = true;
  setStatus("refused", "No valid token");
}

function fragment() {
  return new URLSearchParams(location.hash.slice(1));
}

function tokenFromFragment() {
  return fragment().get("token");
}

function boardFromFragment() {
  return fragment().get("board") || "global";
}

async function fillPicker(current) {
  const picker = document.getElementById("picker");
  try {
    const resp = await fetch("/api/v1/boards");
    const boards = (await resp.json()).data.boards;
    picker.replaceChildren(...boards.map((b) => {
      const opt = document.createElement("option");
      opt.value = b.id;
      opt.textContent = b.order === "asc" ? `${b.title} (lowest first)` : b.title;
      return opt;
    }));
  } catch (err) {
    // the list is a convenience: the board in the URL still plays
  }
  picker.value = current;
  picker.addEventListener("change", () => {
    const params = fragment();
    params.set("board", picker.value);
    location.hash = params.toString();  // hashchange reloads onto the new board
  });
}

function makeRow(entry) {
  const tr = document.createElement("tr");
  tr.dataset.userId = entry.user_id;
  const rank = document.createElement("td");
  rank.className = "rank";
  const player = document.createElement("td");
  player.className = "player";
  const score = document.createElement("td");
  score.className = "num score";
  tr.append(rank, player, score);
  return tr;
}

function fillPlayer(td, entry) {
  td.replaceChildren();
  let pic;
  if (entry.avatar_url) {
    pic = document.createElement("img");
    pic.src = entry.avatar_url;
    pic.alt = "";
    pic.loading = "lazy";
  } else {
    pic = document.createElement("span");
    pic.className = "noavatar";
    pic.setAttribute("aria-hidden", "true");
  }
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = entry.username || entry.user_id.slice(0, 8);
  td.append(pic, name);
}

function render(leaderboard, changes) {
  const moved = new Map((changes || []).map((c) => [c.user_id, c]));
  // FLIP: remember where each row was, lay out the new order, then animate from there
  const before = new Map();
  for (const [id, tr] of rowsById) before.set(id, tr.getBoundingClientRect().top);
  const keep = new Set();
  const ordered = [];
  for (const entry of leaderboard) {
    let tr = rowsById.get(entry.user_id);
    if (!tr) {
      tr = makeRow(entry);
      rowsById.set(entry.user_id, tr);
    }
    keep.add(entry.user_id);
    const [rankTd, playerTd, scoreTd] = tr.children;
    const change = moved.get(entry.user_id);
    rankTd.textContent = String(entry.rank);
    if (change && change.previous_rank !== null && change.previous_rank !== change.rank) {
      const marker = document.createElement("span");
      const up = change.previous_rank > change.rank;
      marker.className = `move ${up ? "up" : "down"}`;
      marker.textContent = up ? `▲${change.previous_rank - change.rank}` : `▼${change.rank - change.previous_rank}`;
      marker.setAttribute("aria-label", up ? "moved up" : "moved down");
      rankTd.append(marker);
    }
    fillPlayer(playerTd, entry);
    const newScore = String(entry.score);
    if (scoreTd.textContent !== newScore) {
      if (scoreTd.textContent !== "") {
        scoreTd.classList.remove("changed");
        void scoreTd.offsetWidth;  // restart the animation
        scoreTd.classList.add("changed");
      }
      scoreTd.textContent = newScore;
    }
    ordered.push(tr);
  }
  for (const [id, tr] of rowsById) {
    if (!keep.has(id)) { tr.remove(); rowsById.delete(id); }
  }
  rowsEl.replaceChildren(...ordered);
  for (const tr of ordered) {
    const was = before.get(tr.dataset.userId);
    if (was === undefined) continue;
    const delta = was - tr.getBoundingClientRect().top;
    if (!delta) continue;
    tr.style.transition = "none";
    tr.style.transform = `translateY(${delta}px)`;
    requestAnimationFrame(() => {
      tr.style.transition = "";
      tr.style.transform = "";
    });
  }
  tableEl.hidden = leaderboard.length === 0;
  emptyEl.hidden = leaderboard.length !== 0;
}

async function tokenIsGood(token) {
  try {
    const resp = await fetch("/api/v1/leaderboard/me?window=0", {
      headers: { Authorization: `Bearer ${token}` },
    });
    return resp.status !== 401 && resp.status !== 403;
  } catch (err) {
    return true;  // the server is unreachable: let the socket's backoff deal with it
  }
}

// The board's season, and for a board with a schedule the time left until it resets;
// for a tournament its status (upcoming, open, ended) and the time until it opens or ends.
const seasonEl = document.getElementById("season");
let season = { number: 0, resetAt: null, status: "open", tournament: false, opensAt: null };

async function loadSeason() {
  try {
    const resp = await fetch(`/api/v1/boards/${encodeURIComponent(boardFromFragment())}`);
    if (!resp.ok) return;
    const board = (await resp.json()).data;
    season = { number: board.season,
               resetAt: board.next_reset_at ? Date.parse(board.next_reset_at) : null,
               status: board.status,
               tournament: board.starts_at !== null || board.ends_at !== null,
               opensAt: board.starts_at ? Date.parse(board.starts_at) : null,
               league: board.league };
    showSeason();
  } catch (err) {
    // the countdown is a convenience; the board itself still plays
  }
}

function left(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  return `${m} min ${s % 60} s`;
}

function tournamentText(now) {
  let status = season.status;
  // the clock moves on between loads: an open window whose end passed has ended
  if (status === "open" && season.resetAt !== null && season.resetAt <= now) status = "ended";
  if (status === "upcoming" && season.opensAt !== null && season.opensAt <= now) {
    status = "open";
  }
  seasonEl.dataset.status = status;
  if (status === "ended") return `Tournament · ended`;
  if (status === "upcoming") {
    return season.opensAt !== null && season.opensAt > now
      ? `Tournament · opens in ${left(season.opensAt - now)}` : "Tournament · upcoming";
  }
  return season.resetAt === null ? "Tournament · open"
    : `Tournament · open · ends in ${left(season.resetAt - now)}`;
}

function showSeason() {
  if (!season.number) return;
  seasonEl.hidden = false;
  const now = Date.now();
  if (season.tournament) {
    seasonEl.textContent = `Season ${season.number} · ${tournamentText(now)}`;
    return;
  }
  seasonEl.textContent = season.resetAt === null ? `Season ${season.number}`
    : `Season ${season.number} · resets in ${left(season.resetAt - now)}`;
}

// A league board: the signed-in player's own bucket, its promotion and relegation zones
// marked (the top `promote` go up, the bottom `relegate` down; promotion wins in a small
// bucket), pushed on the same socket as "bucket_update" messages.
const leagueEl = document.getElementById("league");
const bucketEl = document.getElementById("bucket");
const bucketRowsEl = document.getElementById("bucket-rows");
let myId = null;

function renderBucket(data) {
  leagueEl.hidden = false;
  const note = document.getElementById("league-note");
  if (data.bucket === null) {
    bucketEl.hidden = true;
    note.textContent = data.tier ? `Tier ${data.tier}. You are placed in a bucket with your first score this season.`
      : "You are placed in a bucket with your first score this season.";
    return;
  }
  note.textContent = `Tier ${data.tier} · bucket ${data.bucket} · top ${data.promote} go up, bottom ${data.relegate} go down`;
  const n = data.leaderboard.length;
  const rows = data.leaderboard.map((entry) => {
    const tr = makeRow(entry);
    const [rankTd, playerTd, scoreTd] = tr.children;
    rankTd.textContent = String(entry.rank);
    fillPlayer(playerTd, entry);
    scoreTd.textContent = String(entry.score);
    let zone = null;
    if (entry.rank <= data.promote) zone = "promote";
    else if (entry.rank > Math.max(data.promote, n - data.relegate)) zone = "relegate";
    if (zone) {
      tr.classList.add(zone);
      const mark = document.createElement("span");
      mark.className = `zone ${zone === "promote" ? "up" : "down"}`;
      mark.textContent = zone === "promote" ? "up" : "down";
      rankTd.append(mark);
    }
    if (entry.user_id === myId) tr.classList.add("me");
    return tr;
  });
  bucketRowsEl.replaceChildren(...rows);
  bucketEl.hidden = false;
}
setInterval(showSeason, 1000);

function connect(token) {
  setStatus("connecting", retry ? `Reconnecting (try ${retry})…` : "Connecting…");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const board = encodeURIComponent(boardFromFragment());
  const ws = new WebSocket(`${scheme}//${location.host}/ws/leaderboard?board=${board}`,
                           [`bearer.${token}`]);
  ws.onopen = () => {
    retry = 0;
    setStatus("live", "Live");
  };
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "bucket_update") {
      renderBucket(msg.data);
      return;
    }
    if (msg.type !== "leaderboard_update") return;
    // a snapshot after a reconnect may carry an older seq than a message already shown;
    // it is still the freshest board this connection has, so only drop stale updates
    if (msg.data.changes.length && msg.seq < lastSeq) return;
    lastSeq = msg.seq;
    if (msg.season !== season.number) loadSeason();  // a new season: its next reset too
    render(msg.data.leaderboard, msg.data.changes);
  };
  ws.onclose = async () => {
    if (!(await tokenIsGood(token))) {
      showHelp("The token was refused: it is invalid, expired or logged out.");
      return;
    }
    retry += 1;
    const delay = Math.min(15000, 500 * 2 ** Math.min(retry, 5)) * (0.75 + Math.random() / 2);
    setStatus("down", `Disconnected; retrying in ${Math.round(delay / 1000)} s`);
    setTimeout(() => connect(token), delay);
  };
}

async function start() {
  await fillPicker(boardFromFragment());
  const token = tokenFromFragment();
  if (!token) {
    showHelp("No token was given.");
    return;
  }
  if (!(await tokenIsGood(token))) {
    showHelp("The token was refused: it is invalid, expired or logged out.");
    return;
  }
  myId = subjectOf(token);
  connect(token);
}

function subjectOf(token) {
  // the token's own claims (not verified here: the server did that): which rows are "me"
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).sub || null;
  } catch (err) {
    return null;
  }
}

window.addEventListener("hashchange", () => location.reload());
start();
