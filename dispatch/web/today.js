// The strip under the board: today's alerts by type and by hour (GET /api/v1/stats), and the buildings that
// have open alerts now, most first (a click filters the board to one).

import { el } from "./dom.js";
import { severityName, t, typeName } from "./i18n.js";

const RANK = { critical: 2, warning: 1, info: 0 };

export function renderToday(root, stats) {
  const byType = Object.entries(stats?.received_by_type ?? {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const byHour = stats?.received_by_hour?.length === 24 ? stats.received_by_hour : new Array(24).fill(0);
  const most = Math.max(1, ...byHour);
  const hourNow = new Date().getHours();
  root.replaceChildren(
    el("span", { class: "strip-label" }, t("today_by_type")),
    el("div", { class: "by-type" }, byType.length
      ? byType.map(([type, n]) => el("span", { class: "chip", dataset: { type } },
        el("span", {}, typeName(type)), el("b", {}, String(n))))
      : el("span", { class: "dim" }, "0")),
    el("span", { class: "strip-label" }, t("today_by_hour")),
    el("div", { class: "by-hour", title: t("today_by_hour") }, byHour.map((n, hour) => {
      const bar = el("span", { class: `bar${hour === hourNow ? " now" : ""}`, dataset: { hour: String(hour), n: String(n) },
        title: `${String(hour).padStart(2, "0")}:00 · ${n}` });
      bar.style.setProperty("--h", `${Math.round((n / most) * 100)}%`); // CSSOM: the page's CSP allows no style=""
      return bar;
    })),
  );
}

// Open alerts per building: [{id, name, n, severity}], most alerts first, then the most severe.
export function buildingsOf(openAlerts, context) {
  const byBuilding = new Map();
  for (const alert of openAlerts) {
    const id = alert.building ?? "";
    const entry = byBuilding.get(id) ?? { id, name: (id && context.buildings[id]) || id || t("unknown_building"),
      n: 0, severity: "info" };
    entry.n += 1;
    if ((RANK[alert.severity] ?? 0) > RANK[entry.severity]) entry.severity = alert.severity;
    byBuilding.set(id, entry);
  }
  return [...byBuilding.values()].sort((a, b) => b.n - a.n || RANK[b.severity] - RANK[a.severity]
    || a.name.localeCompare(b.name));
}

export function renderBuildings(root, openAlerts, context, selected) {
  const list = buildingsOf(openAlerts, context);
  root.replaceChildren(
    el("span", { class: "strip-label" }, t("buildings_open")),
    el("div", { class: "building-list" }, list.length
      ? list.map((b) => el("button", {
        type: "button", class: `building sev-${b.severity}${selected === b.name ? " selected" : ""}`,
        dataset: { building: b.id, name: b.name }, title: severityName(b.severity),
      }, el("span", {}, b.name), el("b", {}, String(b.n))))
      : el("span", { class: "dim" }, t("empty"))),
  );
  return list.length;
}
