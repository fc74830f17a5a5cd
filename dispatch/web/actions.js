// What an operator does from the detail panel, through the API the phones use too: assign or reassign (the
// grid's duty roster shown, who is on duty first), rate a resolved case, with a note. The server decides who
// may: its refusal (403, 409) is shown as a message, never hidden by guessing permissions here.

import { el } from "./dom.js";
import { t } from "./i18n.js";
import { workerName } from "./board.js";

const OPEN = new Set(["new", "dispatched", "accepted", "on_site"]);
const CLOSED = new Set(["resolved", "rated"]);

// The people to offer, in the order an operator picks from: on duty now, the rest of the grid, the leader, then
// everyone else the caller may name. [{id, label}]
export function rosterOf(detail, context) {
  const grid = context.grids.find((g) => g.id === detail.dispatch.queue);
  const out = [];
  const seen = new Set();
  const add = (id, tag) => {
    if (!id || seen.has(id)) return;
    seen.add(id);
    out.push({ id, label: `${workerName(context, id)}${tag ? ` · ${tag}` : ""}` });
  };
  for (const id of grid?.on_duty ?? []) add(id, t("on_duty"));
  for (const id of grid?.workers ?? []) add(id, t("off_duty"));
  add(grid?.leader, t("leader"));
  for (const id of Object.keys(context.workers ?? {})) add(id, "");
  return out;
}

function noteField() {
  return el("input", { name: "note", type: "text", maxlength: "2000", placeholder: t("note_hint"), class: "note-input" });
}

export function actionForms(detail, context) {
  const d = detail.dispatch;
  const forms = [];
  if (OPEN.has(d.state)) {
    const roster = rosterOf(detail, context);
    forms.push(el("form", { class: "action", dataset: { action: "assign" } },
      el("label", {}, d.assignee ? t("reassign") : t("assign")),
      el("select", { name: "worker", required: true },
        roster.map((p) => el("option", { value: p.id, selected: p.id === d.assignee }, p.label))),
      noteField(),
      el("button", { type: "submit" }, d.assignee ? t("reassign") : t("assign"))));
  }
  if (CLOSED.has(d.state)) {
    forms.push(el("form", { class: "action", dataset: { action: "rate" } },
      el("label", {}, t("rate")),
      el("select", { name: "score", required: true },
        [5, 4, 3, 2, 1].map((n) => el("option", { value: String(n), selected: n === (d.score ?? 5) }, "★".repeat(n)))),
      noteField(),
      el("button", { type: "submit" }, t("rate"))));
  }
  if (!forms.length) return null;
  return el("div", { class: "actions", dataset: { state: d.state, assignee: d.assignee ?? "" } },
    el("h3", {}, t("actions")), ...forms, el("p", { class: "action-message", role: "status" }));
}

// The call a form stands for: {status, text (the answer as a sentence), view (the alert after it, on 200)}.
export async function postAction(api, id, form) {
  try {
    const response = await fetch(`${api}/alerts/${encodeURIComponent(id)}/${form.dataset.action}`, {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(bodyOf(form)),
    });
    const json = await response.json().catch(() => null);
    const ok = response.status === 200;
    return { status: response.status, text: answerText(response.status, ok ? null : json?.detail),
      view: ok ? json : null };
  } catch {
    return { status: -1, text: t("load_failed"), view: null };
  }
}

// The body of the call from a form: {worker|score, note?}.
function bodyOf(form) {
  const data = Object.fromEntries(new FormData(form).entries());
  const body = {};
  if (data.worker) body.worker = data.worker;
  if (data.score) body.score = Number(data.score);
  if (data.note?.trim()) body.note = data.note.trim();
  return body;
}

// The server's answer as a line for the operator.
function answerText(status, detail) {
  if (status === 200) return t("action_done");
  const why = typeof detail === "string" ? detail : detail ? JSON.stringify(detail) : "";
  const head = status === 403 ? t("action_forbidden") : status === 409 ? t("action_conflict")
    : status === 404 ? t("action_missing") : `${t("action_failed")} (HTTP ${status})`;
  return why ? `${head}${t("colon")}${why}` : head;
}
