// The side panel: one alert in full (GET /api/v1/alerts/{id}): snapshot, evidence, and its history, the edge's
// changes and the dispatch loop's steps merged by time.

import { el, fill } from "./dom.js";
import { actionName, describeAlert, escalationName, evidenceRows, severityName, stateName, t, typeName }
  from "./i18n.js";
import { formatTime } from "./format.js";
import { buildingName, workerName } from "./board.js";
import { actionForms } from "./actions.js";

const TOLD = new Set(["dispatch", "assign", "escalate"]); // actions whose `assignee` names who got or was told of it

function recipientName(context, id) {
  if (id?.startsWith("station:")) return context.stations?.[id.slice(8)] || id.slice(8);
  return workerName(context, id);
}

export function actorName(context, actor) {
  if (actor === "operator") return t("operator");
  if (actor === "system") return t("system");
  if (actor?.startsWith("worker:")) return workerName(context, actor.slice(7));
  return actor ?? "";
}

function changeLabel(change, index) {
  if (change.alert.state === "cleared") return t("change_cleared");
  return index === 0 ? t("change_raised") : t("change_updated");
}

// One list, oldest first; an edge change sorts before a loop step of the same instant (the change caused it).
export function timeline(detail, context) {
  const items = (detail.history ?? []).map((change, index) => ({
    at: change.received_at,
    order: 0,
    kind: "change",
    label: changeLabel(change, index),
    who: `${t("edge")} ${change.alert.edge_id}`,
    note: `${severityName(change.alert.severity)}${change.applied ? "" : ` ${t("change_stale")}`}`,
  }));
  for (const step of detail.transitions ?? []) {
    const to = TOLD.has(step.action) && step.assignee ? ` → ${recipientName(context, step.assignee)}` : "";
    items.push({
      at: step.at,
      order: 1,
      kind: `step step-${step.action}`,
      label: actionName(step.action) + to,
      who: actorName(context, step.actor),
      note: [step.score ? "★".repeat(step.score) : "", step.note ?? ""].filter(Boolean).join(" "),
    });
  }
  return items.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.order - b.order);
}

const PREVIEW_STEP_MS = 400;

// The clip's preview: the few small frames the edge sent with it, played in turn, over and over.
function clipPreview(frames) {
  const img = el("img", { class: "clip-preview", alt: t("clip"), src: `data:image/jpeg;base64,${frames[0]}` });
  let i = 0;
  const timer = setInterval(() => {
    if (!img.isConnected && i > 0) return clearInterval(timer); // the panel was redrawn or closed
    i += 1;
    img.src = `data:image/jpeg;base64,${frames[i % frames.length]}`;
    img.dataset.frame = String(i % frames.length);
  }, PREVIEW_STEP_MS);
  return img;
}

// The clip itself stays on the edge box (MB, in a codec a browser may not play): its preview plays here, and
// the note says where the full clip is.
function clipNote(evidence) {
  if (!evidence?.clip) return null;
  const frames = evidence.clip_preview_jpeg_b64 ?? [];
  const length = evidence.clip_s ? ` · ${evidence.clip_s} ${t("seconds_long")}` : "";
  return el("figure", { class: "clip" },
    frames.length ? clipPreview(frames) : null,
    el("figcaption", {}, `${t("clip")}${length}`, el("span", { class: "dim" }, ` · ${t("clip_on_edge")}`),
      el("code", {}, String(evidence.clip))));
}

function fact(label, value) {
  return value ? [el("dt", {}, label), el("dd", {}, value)] : [];
}

export function renderDetail(root, detail, context) {
  const d = detail.dispatch;
  const grid = context.grids.find((g) => g.id === d.queue);
  const evidence = evidenceRows(detail.evidence);
  const { what, ended } = describeAlert(detail);
  fill(root,
    el("div", { class: `detail-head sev-${detail.severity}`, dataset: { id: detail.id } },
      el("span", { class: "sev" }, severityName(detail.severity)),
      el("h2", { class: "type" }, typeName(detail.type))),
    el("div", { class: "badges" },
      el("span", { class: `state state-${d.state}` }, stateName(d.state)),
      d.escalation ? el("span", { class: "badge esc" }, escalationName(d.escalation)) : null,
      detail.state === "cleared" ? el("span", { class: "badge cleared" }, t("edge_cleared_mark")) : null),
    el("p", { class: "summary" }, what),
    ended ? el("p", { class: "ended" }, `${t("edge_cleared_mark")}${t("colon")}${ended}`) : null,
    detail.snapshot_jpeg_b64
      ? el("figure", { class: "snapshot" },
        el("img", { src: `data:image/jpeg;base64,${detail.snapshot_jpeg_b64}`, alt: t("snapshot") }),
        el("figcaption", {}, `${t("snapshot")} · ${formatTime(detail.raised_at)}`))
      : null,
    el("dl", { class: "facts" },
      fact(t("grid"), grid ? grid.name || grid.id : d.queue === "unassigned" ? t("unassigned") : d.queue),
      fact(t("building"), buildingName(context, detail.building)),
      fact(t("subject"), detail.subject),
      fact(t("assignee"), d.assignee ? workerName(context, d.assignee) : ""),
      fact(t("score"), d.score ? "★".repeat(d.score) : "")),
    evidence.length
      ? [el("h3", {}, t("evidence")),
        el("dl", { class: "evidence" }, evidence.map(([label, value]) => [el("dt", {}, label), el("dd", {}, value)]))]
      : null,
    clipNote(detail.evidence),
    actionForms(detail, context),
    el("h3", {}, t("timeline")),
    el("ol", { class: "timeline" }, timeline(detail, context).map((item) => el("li", { class: item.kind },
      el("span", { class: "time" }, formatTime(item.at)),
      el("span", { class: "label" }, item.label),
      el("span", { class: "who" }, item.who),
      item.note ? el("span", { class: "note" }, item.note) : null))),
  );
}
