// The filter bar: grid, type, severity and state, and a search by subject or building (id or name). Pure but
// for the bar's own <select>s, whose options follow what is on the board.

import { el } from "./dom.js";
import { severityName, stateName, t, typeName } from "./i18n.js";

const SEVERITIES = ["critical", "warning", "info"];
const STATES = ["new", "dispatched", "accepted", "on_site", "resolved", "rated"];

export function readFilters(form) {
  const value = (name) => form.elements[name]?.value ?? "";
  return { grid: value("grid"), type: value("type"), severity: value("severity"), state: value("state"),
    q: value("q").trim() };
}

export function matches(alert, filters, context) {
  if (!filters) return true;
  const d = alert.dispatch;
  if (filters.grid && d.queue !== filters.grid) return false;
  if (filters.type && alert.type !== filters.type) return false;
  if (filters.severity && alert.severity !== filters.severity) return false;
  if (filters.state && d.state !== filters.state) return false;
  if (filters.q) {
    const q = filters.q.toLowerCase();
    const building = (alert.building && context.buildings?.[alert.building]) || "";
    const haystack = [alert.subject, alert.building ?? "", building].join("\n").toLowerCase();
    if (!haystack.includes(q)) return false;
  }
  return true;
}

function fillSelect(select, choices, allLabel) {
  const keep = select.value;
  const wanted = [["", allLabel], ...choices];
  const current = [...select.options].map((o) => [o.value, o.textContent]);
  if (JSON.stringify(current) !== JSON.stringify(wanted)) {
    select.replaceChildren(...wanted.map(([value, label]) => el("option", { value }, label)));
  }
  select.value = wanted.some(([value]) => value === keep) ? keep : "";
}

export function renderFilterOptions(form, context, alerts) {
  const queues = [...context.grids.map((g) => [g.id, g.name || g.id])];
  if (context.unassigned) queues.push(["unassigned", t("unassigned")]);
  const types = [...new Set(alerts.map((a) => a.type))].sort().map((type) => [type, typeName(type)]);
  fillSelect(form.elements.grid, queues, t("all_grids"));
  fillSelect(form.elements.type, types, t("all_types"));
  fillSelect(form.elements.severity, SEVERITIES.map((s) => [s, severityName(s)]), t("all_severities"));
  fillSelect(form.elements.state, STATES.map((s) => [s, stateName(s)]), t("all_states"));
}
