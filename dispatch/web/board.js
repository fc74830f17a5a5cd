// The board: one column per grid (and the unassigned queue), the open alerts as cards, and a strip of the
// recently closed ones. Pure rendering from (alerts, context); app.js owns the data.

import { el } from "./dom.js";
import { describeAlert, escalationName, severityName, stateName, t, typeName } from "./i18n.js";
import { formatSpan, formatTime } from "./format.js";

export const UNASSIGNED = "unassigned";
const OPEN = new Set(["new", "dispatched", "accepted", "on_site"]);
const RANK = { critical: 2, warning: 1, info: 0 };
const SEVERITIES = ["critical", "warning", "info"];
const RECENT_MAX = 12;
const SOON_MS = 5 * 60 * 1000; // the last five minutes before a deadline are shown amber

export const isOpen = (alert) => OPEN.has(alert.dispatch.state);

// Most severe first; within a severity the one waiting longest first.
function byUrgency(a, b) {
  return (RANK[b.severity] ?? -1) - (RANK[a.severity] ?? -1)
    || Date.parse(a.dispatch.first_change_at) - Date.parse(b.dispatch.first_change_at)
    || a.id.localeCompare(b.id);
}

export function workerName(context, id) {
  return (id && context.workers[id]) || id || "";
}

export function buildingName(context, id) {
  return (id && context.buildings[id]) || id || "";
}

// The deadline the clock counts to: accepting before the worker accepted, resolving after.
export function slaOf(dispatch) {
  const beforeAccept = dispatch.state === "new" || dispatch.state === "dispatched";
  const due = beforeAccept ? dispatch.accept_due : dispatch.resolve_due;
  return due ? { due, phase: beforeAccept ? "accept" : "resolve" } : null;
}

export function tickClock(node, now) {
  const left = Date.parse(node.dataset.due) - now;
  const over = left < 0;
  node.classList.toggle("over", over);
  node.classList.toggle("soon", !over && left < SOON_MS);
  node.textContent = over ? `${t("sla_over")} +${formatSpan(left)}` : `${t(`sla_${node.dataset.phase}`)} ${formatSpan(left)}`;
}

export function isOverdue(alert, now) {
  const sla = isOpen(alert) ? slaOf(alert.dispatch) : null;
  return sla !== null && Date.parse(sla.due) < now;
}

function card(alert, context, thumb, flashing) {
  const d = alert.dispatch;
  const sla = slaOf(d);
  const clock = sla ? el("span", { class: "sla", dataset: { due: sla.due, phase: sla.phase } }) : null;
  if (clock) tickClock(clock, Date.now());
  const where = [buildingName(context, alert.building), alert.subject].filter(Boolean).join(" · ");
  const { what, ended } = describeAlert(alert);
  return el(
    "article",
    {
      class: `card sev-${alert.severity}${flashing.has(alert.id) ? " flash" : ""}`,
      tabindex: "0",
      role: "button",
      dataset: { id: alert.id, state: d.state, type: alert.type, severity: alert.severity },
    },
    el("div", { class: "card-top" },
      el("span", { class: "sev" }, severityName(alert.severity)),
      el("span", { class: "type" }, typeName(alert.type)),
      clock),
    el("div", { class: "card-main" },
      el("div", { class: "card-text" },
        el("div", { class: "where" }, where),
        el("p", { class: "summary" }, what),
        ended ? el("p", { class: "ended" }, `${t("edge_cleared_mark")}${t("colon")}${ended}`) : null),
      d.has_snapshot ? thumb(alert) : null),
    el("div", { class: "card-bottom" },
      el("span", { class: `state state-${d.state}` }, stateName(d.state)),
      d.assignee ? el("span", { class: "assignee" }, workerName(context, d.assignee)) : null,
      d.escalation ? el("span", { class: `badge esc esc-${d.escalation}` }, escalationName(d.escalation)) : null,
      alert.state === "cleared" ? el("span", { class: "badge cleared" }, t("edge_cleared_mark")) : null,
      d.has_snapshot ? el("span", { class: "badge photo" }, t("snapshot")) : null),
  );
}

function counts(alerts) {
  return el("span", { class: "counts" },
    SEVERITIES.map((sev) => {
      const n = alerts.filter((a) => a.severity === sev).length;
      return n ? el("span", { class: `count sev-${sev}`, title: severityName(sev) }, String(n)) : null;
    }));
}

// Columns: the caller's grids in registry order, any other queue an alert is in, then the unassigned queue.
export function columnsOf(context, openAlerts) {
  const columns = context.grids.map((g) => ({ id: g.id, name: g.name || g.id }));
  const known = new Set(columns.map((c) => c.id));
  for (const alert of openAlerts) {
    const queue = alert.dispatch.queue;
    if (!known.has(queue) && queue !== UNASSIGNED) {
      known.add(queue);
      columns.push({ id: queue, name: queue });
    }
  }
  if (context.unassigned || openAlerts.some((a) => a.dispatch.queue === UNASSIGNED)) {
    columns.push({ id: UNASSIGNED, name: t("unassigned") });
  }
  return columns;
}

// A column's share of the width grows with its cards: a busy grid gets room, an empty one a narrow strip.
export function columnWeight(cards) {
  return cards === 0 ? 0.6 : Math.min(5, 1 + (cards - 1) * 0.5);
}

// Columns are kept by queue id, so a column's scroll position survives the re-render of its cards.
// `thumb(alert)` gives the snapshot thumbnail of an alert that has one (or null while it loads); `flashing` the
// ids of the new critical alerts that flash.
export function renderBoard(root, alerts, context, thumb = () => null, flashing = new Set()) {
  const open = alerts.filter(isOpen);
  const columns = columnsOf(context, open);
  const byQueue = new Map(columns.map((c) => [c.id, []]));
  for (const alert of open) byQueue.get(alert.dispatch.queue)?.push(alert);
  const existing = new Map([...root.children].map((node) => [node.dataset.queue, node]));
  const nodes = columns.map((column) => {
    const items = byQueue.get(column.id).sort(byUrgency);
    const node = existing.get(column.id) ?? el("section", { class: "column", dataset: { queue: column.id } },
      el("header", { class: "column-head" }), el("div", { class: "cards" }));
    node.querySelector(".column-head").replaceChildren(el("h2", {}, column.name), counts(items));
    const list = node.querySelector(".cards");
    list.replaceChildren(...(items.length ? items.map((a) => card(a, context, thumb, flashing))
      : [el("p", { class: "empty" }, t("empty"))]));
    node.dataset.cards = String(items.length);
    return node;
  });
  root.replaceChildren(...nodes);
  root.style.setProperty("--columns", String(Math.max(columns.length, 1)));
  root.style.gridTemplateColumns = nodes.length
    ? nodes.map((n) => `minmax(var(--column-min), ${columnWeight(Number(n.dataset.cards)).toFixed(2)}fr)`).join(" ")
    : "";
}

export function renderRecent(root, alerts, context) {
  const closed = alerts
    .filter((a) => !isOpen(a) && a.dispatch.resolved_at)
    .sort((a, b) => Date.parse(b.dispatch.resolved_at) - Date.parse(a.dispatch.resolved_at))
    .slice(0, RECENT_MAX);
  root.replaceChildren(...closed.map((alert) => {
    const d = alert.dispatch;
    return el("span", { class: `recent-item sev-${alert.severity}`, role: "button", tabindex: "0",
      dataset: { id: alert.id, state: d.state } },
    el("span", { class: "time" }, formatTime(d.resolved_at)),
    el("span", {}, typeName(alert.type)),
    el("span", { class: "where" }, buildingName(context, alert.building) || alert.subject),
    el("span", { class: `state state-${d.state}` }, stateName(d.state) + (d.score ? ` ${"★".repeat(d.score)}` : "")),
    d.assignee ? el("span", { class: "assignee" }, workerName(context, d.assignee)) : null);
  }));
  return closed.length;
}
