// The command-center page: log in (cookie), load the alerts, follow the feed, keep the board and figures current.
//
// Order matters on connect: the feed is opened first and the list fetched once it is open, with the feed's
// events held back meanwhile and applied on top; so no change falls between the list and the live part.

import { $ } from "./dom.js";
import { lang, loadCatalogue, setLang, t, translateStatic } from "./i18n.js";
import { formatClock, formatDate, formatPercent, formatSeconds } from "./format.js";
import { isOpen, isOverdue, renderBoard, renderRecent, tickClock } from "./board.js";
import { renderDetail } from "./panel.js";
import { postAction } from "./actions.js";
import { renderBuildings, renderToday } from "./today.js";
import { CriticalAnnouncer, startAutoScroll, wallMode } from "./wall.js";
import { matches, readFilters, renderFilterOptions } from "./filters.js";

const API = "api/v1"; // relative: see index.html
const STATS_EVERY_MS = 10_000;
const RECONNECT_MS = 3_000;
const FEED_OPEN_WAIT_MS = 5_000;
const OPEN_STATES = ["new", "dispatched", "accepted", "on_site"];
const KEEP_CLOSED = 50; // closed alerts kept for the "recently closed" strip; older ones are let go

class AuthError extends Error {}

const page = {
  context: null, // GET /api/v1/board: the caller's grids and the names to show
  alerts: new Map(), // id → AlertView, as the list and the feed say
  stats: null,
  feed: null,
  loading: false, // a list fetch is in flight: feed events wait in `held`
  held: [],
  panelId: null,
  detail: null,
  reconnectTimer: null,
  critical: new CriticalAnnouncer(() => scheduleRender()), // new critical alerts: flash and chime once
  filters: null, // the filter bar's choices (filters.js)
};

async function api(path, options = {}) {
  const response = await fetch(`${API}/${path}`, { credentials: "same-origin", ...options });
  if (response.status === 401) throw new AuthError(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.status === 204 ? null : response.json();
}

// ---- login -------------------------------------------------------------------------------------------------------

function showLogin(message = "") {
  closeFeed();
  page.context = null;
  page.alerts.clear();
  thumbs.clear();
  page.stats = null;
  delete document.body.dataset.loaded;
  closePanel();
  render();
  $("#logout").hidden = true;
  $("#who").textContent = "";
  $("#login-error").textContent = message;
  $("#login").hidden = false;
  $("#token").focus();
}

async function login(token) {
  let response;
  try {
    response = await fetch(`${API}/session`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  } catch {
    showLogin(t("login_failed"));
    return;
  }
  if (!response.ok) {
    showLogin(response.status === 401 || response.status === 403 ? t("login_bad") : t("login_failed"));
    return;
  }
  $("#login").hidden = true;
  $("#token").value = "";
  await connect();
}

async function logout() {
  try {
    await fetch(`${API}/session`, { method: "DELETE" });
  } finally {
    showLogin();
  }
}

// A `#token=...` link (the demo prints one) logs in once; the token leaves the address bar at once.
function takeTokenFromUrl() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token !== null) history.replaceState(null, "", location.pathname + location.search);
  return token;
}

// ---- data --------------------------------------------------------------------------------------------------------

async function connect() {
  clearTimeout(page.reconnectTimer);
  try {
    page.context = await api("board");
  } catch (error) {
    if (error instanceof AuthError) showLogin();
    else retryLater();
    return;
  }
  $("#login").hidden = true;
  $("#logout").hidden = false;
  renderWho();
  await openFeed();
  await reloadAlerts();
  refreshStats();
}

function retryLater() {
  setConnection("offline");
  clearTimeout(page.reconnectTimer);
  page.reconnectTimer = setTimeout(connect, RECONNECT_MS);
}

async function reloadAlerts() {
  page.loading = true;
  page.held = [];
  try {
    // Every open alert however old, and the last closed ones for the strip (both newest change first).
    const [open, closed] = await Promise.all([
      api(`alerts?${OPEN_STATES.map((s) => `dispatch_state=${s}`).join("&")}&limit=5000`),
      api(`alerts?dispatch_state=resolved&dispatch_state=rated&limit=${KEEP_CLOSED}`),
    ]);
    page.alerts = new Map([...closed.alerts, ...open.alerts].map((alert) => [alert.id, alert]));
    for (const event of page.held) page.alerts.set(event.alert.id, event.alert);
  } catch (error) {
    if (error instanceof AuthError) showLogin();
    else retryLater();
    return;
  } finally {
    page.loading = false;
    page.held = [];
  }
  render();
  document.body.dataset.loaded = "true"; // for whoever waits on the page: the list is on the board
}

async function refreshStats() {
  if (!page.context) return;
  try {
    page.stats = await api("stats");
  } catch (error) {
    if (error instanceof AuthError) return showLogin();
    // Keep the last figures through an outage (the connection state says so); the board works without them.
  }
  renderStats();
}

// ---- feed --------------------------------------------------------------------------------------------------------

function closeFeed() {
  page.feed?.close();
  page.feed = null;
}

// Resolves once the stream is open (or after a while regardless: the list is worth showing even without it).
function openFeed() {
  closeFeed();
  setConnection("connecting");
  const source = new EventSource(`${API}/feed`);
  page.feed = source;
  const opened = new Promise((resolve) => {
    source.addEventListener("open", resolve, { once: true });
    setTimeout(resolve, FEED_OPEN_WAIT_MS);
  });
  source.addEventListener("open", () => setConnection("live"));
  source.addEventListener("error", () => {
    if (source !== page.feed) return;
    // CONNECTING: the browser retries by itself and resumes with Last-Event-ID. CLOSED: it gave up (an HTTP
    // error such as 401 after a restart with new tokens): start over, which also checks the login.
    if (source.readyState === EventSource.CLOSED) retryLater();
    else setConnection("reconnecting");
  });
  for (const kind of ["change", "transition"]) source.addEventListener(kind, onFeedEvent);
  return opened;
}

function onFeedEvent(message) {
  let event;
  try {
    event = JSON.parse(message.data);
  } catch {
    return;
  }
  if (page.loading) {
    page.held.push(event);
    return;
  }
  const before = page.alerts.get(event.alert.id);
  page.alerts.set(event.alert.id, event.alert);
  if (isOpen(event.alert) && event.alert.severity === "critical" && before?.severity !== "critical") {
    page.critical.announce(event.alert.id);
  }
  scheduleRender();
  scheduleStats();
  if (event.alert.id === page.panelId) schedulePanel();
}

// ---- rendering ---------------------------------------------------------------------------------------------------

let renderQueued = false;

// Bursts of events become one render: on the next frame, or shortly when frames are not drawn (hidden tab).
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(flushRender);
  setTimeout(flushRender, 250);
}

function flushRender() {
  if (renderQueued) render();
}

// A screen runs for days: keep the open alerts and only the latest closed ones.
function prune() {
  const closed = [...page.alerts.values()].filter((a) => !isOpen(a));
  if (closed.length <= KEEP_CLOSED) return;
  const when = (a) => Date.parse(a.dispatch.resolved_at ?? a.dispatch.last_change_at);
  closed.sort((a, b) => when(b) - when(a));
  for (const alert of closed.slice(KEEP_CLOSED)) page.alerts.delete(alert.id);
}

function render() {
  renderQueued = false;
  prune();
  const context = page.context ?? { grids: [], unassigned: false, workers: {}, buildings: {}, stations: {} };
  const alerts = page.context ? [...page.alerts.values()] : [];
  renderFilterOptions($("#filters"), context, alerts);
  const shown = alerts.filter((a) => matches(a, page.filters, context));
  renderBoard($("#board"), shown, context, thumbnail, page.critical.flashing());
  $("#recent").hidden = renderRecent($("#recent-items"), shown, context) === 0;
  renderBuildings($("#buildings"), alerts.filter(isOpen), context, page.filters?.q);
  renderStats();
}

// Snapshot thumbnails for the cards: the list and the feed carry no snapshot, so each is fetched once per change
// of its alert, one at a time, and the decoded <img> is moved from card to card instead of decoded again.
const thumbs = new Map(); // id → {key, img}
const thumbQueue = [];
let thumbBusy = false;

function thumbnail(alert) {
  const key = alert.dispatch.last_change_at;
  const cached = thumbs.get(alert.id);
  if (cached && Date.parse(cached.key) >= Date.parse(key)) return cached.img; // the detail may be ahead of the feed
  if (!thumbQueue.includes(alert.id)) thumbQueue.push(alert.id);
  loadThumbs();
  return cached?.img ?? null; // the older picture until the new one is in
}

async function loadThumbs() {
  if (thumbBusy) return;
  thumbBusy = true;
  try {
    while (thumbQueue.length) {
      const id = thumbQueue.shift();
      const alert = page.alerts.get(id);
      if (!alert || !isOpen(alert)) continue;
      try {
        const detail = await api(`alerts/${encodeURIComponent(id)}`);
        if (!detail.snapshot_jpeg_b64) continue;
        const img = Object.assign(document.createElement("img"), { className: "thumb", alt: t("snapshot") });
        img.src = `data:image/jpeg;base64,${detail.snapshot_jpeg_b64}`;
        thumbs.set(id, { key: detail.dispatch.last_change_at, img });
        scheduleRender();
      } catch (error) {
        if (error instanceof AuthError) return showLogin();
        // no thumbnail this time; the next change of the alert tries again
        thumbs.set(id, { key: alert.dispatch.last_change_at, img: thumbs.get(id)?.img ?? null });
      }
    }
  } finally {
    thumbBusy = false;
  }
  for (const id of thumbs.keys()) {
    if (!page.alerts.has(id) || !isOpen(page.alerts.get(id))) thumbs.delete(id); // closed: let it go
  }
}

let statsTimer = null;

function scheduleStats() {
  if (statsTimer) return;
  statsTimer = setTimeout(() => {
    statsTimer = null;
    refreshStats();
  }, 1000);
}

function setFigure(name, value) {
  $(`[data-figure="${name}"] .value`).textContent = value;
}

function renderStats() {
  const s = page.stats;
  const show = (value) => (value === null || value === undefined ? "—" : String(value));
  setFigure("received", show(s?.received));
  setFigure("dispatched", show(s?.dispatched));
  setFigure("resolved", show(s?.resolved));
  setFigure("completion", formatPercent(s?.completion_rate));
  setFigure("response", formatSeconds(s?.response_s_p50));
  // Between two fetches the board's own clocks are newer than the figure: never show fewer than are red.
  const now = Date.now();
  const red = page.context ? [...page.alerts.values()].filter((a) => isOverdue(a, now)).length : null;
  const overdue = s?.overdue ?? null;
  const value = overdue === null ? red : red === null ? overdue : Math.max(overdue, red);
  setFigure("overdue", show(value));
  $('[data-figure="overdue"]').classList.toggle("alarm", Boolean(value));
  renderToday($("#today-figures"), s);
}

function renderWho() {
  const c = page.context;
  $("#who").textContent = !c ? "" : c.worker ? c.worker.name || c.worker.id : t("operator");
}

function setConnection(state) {
  const node = $("#conn");
  node.dataset.state = state;
  node.querySelector(".text").textContent = t(state);
}

function tick() {
  const now = new Date();
  $("#clock .date").textContent = formatDate(now);
  $("#clock .time").textContent = formatClock(now);
  for (const clock of document.querySelectorAll(".sla[data-due]")) tickClock(clock, now.getTime());
  renderStats();
}

// ---- detail panel ------------------------------------------------------------------------------------------------

async function openPanel(id) {
  page.panelId = id;
  page.actionMessage = null;
  page.editing = false;
  page.detail = null;
  const body = $("#panel-body");
  body.replaceChildren(Object.assign(document.createElement("p"), { className: "loading", textContent: t("loading") }));
  $("#panel").hidden = false;
  await loadPanel();
}

async function loadPanel() {
  const id = page.panelId;
  if (!id) return;
  try {
    const detail = await api(`alerts/${encodeURIComponent(id)}`);
    if (page.panelId !== id) return; // another card was opened meanwhile
    page.detail = detail;
    // An operator half-way through a form keeps it (and what was typed) while the rest of the panel redraws,
    // unless the alert moved on so far that the form no longer fits (another state or assignee).
    const editing = page.editing ? $("#panel-body .actions") : null;
    renderDetail($("#panel-body"), detail, page.context);
    const fresh = $("#panel-body .actions");
    if (editing && fresh && editing.dataset.state === fresh.dataset.state
        && editing.dataset.assignee === fresh.dataset.assignee) fresh.replaceWith(editing);
    else page.editing = false;
    showActionMessage();
  } catch (error) {
    if (error instanceof AuthError) return showLogin();
    console.error(error);
    if (page.panelId === id && !page.detail) $("#panel-body").textContent = t("load_failed");
  }
}

let panelTimer = null;

function schedulePanel() {
  clearTimeout(panelTimer);
  panelTimer = setTimeout(loadPanel, 300);
}

function closePanel() {
  page.panelId = null;
  page.detail = null;
  $("#panel").hidden = true;
}

// A form of the panel's actions: POST it, say what the server answered, show the alert as it now is.
async function onAction(event) {
  const form = event.target.closest("form[data-action]");
  if (!form) return;
  event.preventDefault();
  page.editing = false;
  const id = page.panelId;
  const button = form.querySelector("button");
  button.disabled = true;
  const { status, text, view } = await postAction(API, id, form).finally(() => { button.disabled = false; });
  if (status === 401) return showLogin();
  if (view) {
    page.alerts.set(view.id, view);
    scheduleRender();
  }
  page.actionMessage = { id, text, status };
  showActionMessage();
  if (status === 200) await loadPanel();
}

// The last answer stays in the panel through its re-renders (a feed event redraws it), until another alert opens.
function showActionMessage() {
  const node = $("#panel-body .action-message");
  const m = page.actionMessage;
  if (!node || !m || m.id !== page.panelId) return;
  node.textContent = m.text;
  node.dataset.status = String(m.status);
}

function onBoardClick(event) {
  const item = event.target.closest("[data-id]");
  if (item) openPanel(item.dataset.id);
}

// ---- start -------------------------------------------------------------------------------------------------------

function applyLanguage(value) {
  setLang(value);
  translateStatic();
  fitPanel();
  renderWho();
  setConnection($("#conn").dataset.state);
  render();
  tick();
  if (page.detail) renderDetail($("#panel-body"), page.detail, page.context);
}

// The panel opens below the header, so the clock, the figures and the language toggle stay in view.
function fitPanel() {
  document.documentElement.style.setProperty("--header-h", `${$("#top").offsetHeight}px`);
}

function onFiltersChanged() {
  page.filters = readFilters($("#filters"));
  render();
}

// A click on a building of the strip shows only its alerts; a second click shows all again.
function onBuildingClick(event) {
  const button = event.target.closest("[data-name]");
  if (!button) return;
  const search = $("#filter-q");
  search.value = search.value === button.dataset.name ? "" : button.dataset.name;
  onFiltersChanged();
}

async function start() {
  if (wallMode) document.documentElement.classList.add("wall");
  await loadCatalogue();
  applyLanguage(lang());
  fitPanel();
  window.addEventListener("resize", fitPanel);
  $("#lang").addEventListener("click", () => applyLanguage(lang() === "zh" ? "en" : "zh"));
  $("#logout").addEventListener("click", logout);
  $("#panel-close").addEventListener("click", closePanel);
  $("#panel-body").addEventListener("submit", onAction);
  for (const kind of ["input", "change", "focusin"]) {
    $("#panel-body").addEventListener(kind, (event) => {
      if (event.target.closest("form[data-action]")) page.editing = true;
    });
  }
  for (const kind of ["input", "change"]) $("#filters").addEventListener(kind, onFiltersChanged);
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  $("#buildings").addEventListener("click", onBuildingClick);
  if (wallMode) startAutoScroll($("#board"));
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    login($("#token").value.trim());
  });
  for (const root of [$("#board"), $("#recent-items")]) {
    root.addEventListener("click", onBoardClick);
    root.addEventListener("keydown", (event) => {
      if (event.key === "Enter") onBoardClick(event);
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePanel();
  });
  // Leaving the page closes the stream cleanly instead of cutting it mid-chunk.
  window.addEventListener("pagehide", closeFeed);
  setInterval(tick, 1000);
  setInterval(refreshStats, STATS_EVERY_MS);
  const token = takeTokenFromUrl();
  if (token) login(token);
  else connect();
}

start();
