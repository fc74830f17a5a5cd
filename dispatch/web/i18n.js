// The page's words in Chinese (default) and English. One table, so a missing word shows up in review, not on the wall.

export const LANGS = ["zh", "en"];
const STORAGE_KEY = "gridwatch.lang";

const WORDS = {
  zh: {
    title: "网格预警指挥中心",
    toggle: "EN",
    logout: "退出",
    live: "实时",
    connecting: "连接中…",
    reconnecting: "重新连接中…",
    offline: "已断开",
    received: "今日接警",
    dispatched: "已派单",
    resolved: "已办结",
    completion: "办结率",
    response: "响应中位数",
    overdue: "超时",
    unassigned: "未分配",
    empty: "暂无预警",
    recent: "最近办结",
    login_title: "请输入访问令牌",
    login_hint: "值班员或网格员的令牌",
    login_submit: "登录",
    login_bad: "令牌无效，请重试",
    login_failed: "无法连接指挥中心",
    operator: "值班员",
    system: "系统",
    close: "关闭",
    assignee: "处置人",
    nobody: "无人值守",
    building: "楼栋",
    subject: "设备",
    grid: "网格",
    summary: "描述",
    snapshot: "现场抓拍",
    evidence: "依据",
    timeline: "处置记录",
    dispatch: "派单状态",
    score: "评分",
    edge_cleared_mark: "设备已恢复",
    loading: "加载中…",
    load_failed: "加载失败",
    sla_accept: "接单",
    sla_resolve: "办结",
    sla_over: "超时",
    change_raised: "告警产生",
    change_updated: "告警更新",
    change_cleared: "设备报告恢复",
    change_stale: "（过期，仅存档）",
    edge: "边缘设备",
    seconds: "秒",
    minutes: "分",
    hours: "小时",
    colon: "：",
    today_by_type: "今日预警",
    today_by_hour: "分时",
    buildings_open: "有预警的楼栋",
    unknown_building: "未登记楼栋",
    all_grids: "全部网格",
    all_types: "全部类型",
    all_severities: "全部级别",
    all_states: "全部状态",
    search_hint: "搜索设备或楼栋",
    actions: "处置",
    assign: "指派",
    reassign: "改派",
    rate: "评价",
    note_hint: "备注（可选）",
    on_duty: "值班中",
    off_duty: "未值班",
    leader: "网格长",
    action_done: "已完成",
    action_forbidden: "无权操作",
    action_conflict: "当前状态不能这样操作",
    action_missing: "预警不存在",
    action_failed: "操作失败",
    frames: "帧",
    clip_on_edge: "完整录像保存在边缘设备上：",
    clip: "现场录像",
    seconds_long: "秒",
  },
  en: {
    title: "Grid alert command center",
    toggle: "中文",
    logout: "Log out",
    live: "Live",
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    offline: "Offline",
    received: "Received today",
    dispatched: "Dispatched",
    resolved: "Resolved",
    completion: "Completion",
    response: "Median response",
    overdue: "Overdue",
    unassigned: "Unassigned",
    empty: "No alerts",
    recent: "Recently closed",
    login_title: "Enter your access token",
    login_hint: "An operator's or grid worker's token",
    login_submit: "Log in",
    login_bad: "Invalid token, try again",
    login_failed: "Cannot reach the command center",
    operator: "Operator",
    system: "System",
    close: "Close",
    assignee: "Assignee",
    nobody: "Nobody on duty",
    building: "Building",
    subject: "Device",
    grid: "Grid",
    summary: "Summary",
    snapshot: "Snapshot",
    evidence: "Evidence",
    timeline: "History",
    dispatch: "Dispatch state",
    score: "Score",
    edge_cleared_mark: "Device recovered",
    loading: "Loading…",
    load_failed: "Could not load",
    sla_accept: "accept",
    sla_resolve: "resolve",
    sla_over: "overdue",
    change_raised: "Alert raised",
    change_updated: "Alert updated",
    change_cleared: "Device reported recovery",
    change_stale: "(stale, kept for the record)",
    edge: "Edge device",
    seconds: "s",
    minutes: "m",
    hours: "h",
    colon: ": ",
    today_by_type: "Today",
    today_by_hour: "By hour",
    buildings_open: "Buildings with alerts",
    unknown_building: "Unregistered building",
    all_grids: "All grids",
    all_types: "All types",
    all_severities: "All severities",
    all_states: "All states",
    search_hint: "Search device or building",
    actions: "Actions",
    assign: "Assign",
    reassign: "Reassign",
    rate: "Rate",
    note_hint: "Note (optional)",
    on_duty: "on duty",
    off_duty: "off duty",
    leader: "grid leader",
    action_done: "Done",
    action_forbidden: "Not allowed",
    action_conflict: "Not possible in this state",
    action_missing: "No such alert",
    action_failed: "Failed",
    frames: "frames",
    clip_on_edge: "the full clip is on the edge box: ",
    clip: "Clip",
    seconds_long: "s",
  },
};

// The alert messages and type names: messages.json, the catalogue the pushes use too (dispatch/messages.py).
let catalogue = { types: {}, messages: {}, evidence: {}, hidden_evidence: [] };

export async function loadCatalogue() {
  try {
    const response = await fetch("static/messages.json", { credentials: "same-origin" });
    if (response.ok) catalogue = await response.json();
  } catch {
    // without it the cards show the edge's own summary and the type codes: readable, if not translated
  }
}

const SEVERITIES = {
  critical: { zh: "紧急", en: "Critical" },
  warning: { zh: "警告", en: "Warning" },
  info: { zh: "提示", en: "Info" },
};

const STATES = {
  new: { zh: "待派单", en: "Awaiting dispatch" },
  dispatched: { zh: "已派单", en: "Dispatched" },
  accepted: { zh: "已接单", en: "Accepted" },
  on_site: { zh: "已到场", en: "On site" },
  resolved: { zh: "已办结", en: "Resolved" },
  rated: { zh: "已评价", en: "Rated" },
};

const ESCALATIONS = {
  1: { zh: "已上报组长", en: "Escalated to grid leader" },
  2: { zh: "已上报社区工作站", en: "Escalated to community station" },
};

const ACTIONS = {
  dispatch: { zh: "派单", en: "Dispatched" },
  accept: { zh: "接单", en: "Accepted" },
  arrive: { zh: "到场", en: "Arrived" },
  resolve: { zh: "办结", en: "Resolved" },
  rate: { zh: "评价", en: "Rated" },
  assign: { zh: "指派", en: "Assigned" },
  escalate: { zh: "超时上报", en: "Escalated" },
  edge_cleared: { zh: "设备已恢复", en: "Device recovered" },
};

// `?lang=en|zh` in the address wins (a wall screen is set up by its URL), then the last choice, then Chinese.
const fromUrl = new URLSearchParams(location.search).get("lang");
const stored = localStorage.getItem(STORAGE_KEY);
let current = LANGS.includes(fromUrl) ? fromUrl : LANGS.includes(stored) ? stored : "zh";

export function lang() {
  return current;
}

export function setLang(value) {
  current = LANGS.includes(value) ? value : "zh";
  localStorage.setItem(STORAGE_KEY, current);
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
}

function pick(table, key) {
  const entry = table[key];
  return entry ? entry[current] : String(key); // an unknown code is shown as is rather than hidden
}

export const t = (key) => WORDS[current][key] ?? key;
export const typeName = (type) => pick(catalogue.types, type);
export const severityName = (severity) => pick(SEVERITIES, severity);
export const stateName = (state) => pick(STATES, state);
export const escalationName = (level) => (level ? pick(ESCALATIONS, level) : "");
export const actionName = (action) => pick(ACTIONS, action);

const pad2 = (n) => String(n).padStart(2, "0");

function number(value) {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 10) / 10);
}

// "03-01 14:03" in the browser's time zone.
function shortTime(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

function param(value, kind) {
  if (value === null || value === undefined) return "—";
  if (kind === "time") return shortTime(value);
  if (typeof value === "number") return number(kind === "abs" ? Math.abs(value) : value);
  return String(value);
}

// A reason ({key, params}) as a sentence in the current language; null when the catalogue lacks the key.
export function reasonText(reason) {
  const entry = reason && catalogue.messages[reason.key];
  if (!entry) return null;
  const params = reason.params ?? {};
  return entry[current].replace(/\{(\w+)(?::(\w+))?\}/g, (_, name, kind) => param(params[name], kind));
}

// What an alert is about, and (cleared) why it ended, in the reader's language; the edge's summary when the
// alert carries no reason (an older edge).
export function describeAlert(alert) {
  const evidence = alert.evidence ?? {};
  const what = reasonText(evidence.reason);
  if (what === null) return { what: alert.summary, ended: null };
  const ended = alert.state === "cleared"
    ? reasonText(evidence.cleared_reason) ?? catalogue.messages.cleared?.[current] ?? null
    : null;
  return { what, ended };
}

// The evidence a person reads: labelled, with units and times, without the machine's own fields.
export function evidenceRows(evidence) {
  const hidden = new Set(catalogue.hidden_evidence);
  const rows = [];
  for (const [key, value] of Object.entries(evidence ?? {})) {
    if (hidden.has(key) || value === null || value === undefined || typeof value === "object") continue;
    const spec = catalogue.evidence[key];
    if (!spec) {
      rows.push([key, String(value)]);
      continue;
    }
    let shown;
    if (spec.kind === "time") shown = shortTime(value);
    else if (spec.kind === "percent" && typeof value === "number") shown = `${Math.round(value * 100)}%`;
    else if (spec.values?.[value]) shown = spec.values[value][current];
    else shown = typeof value === "number" ? number(value) : String(value);
    rows.push([spec[current], spec.unit ? `${shown} ${spec.unit}` : shown]);
  }
  return rows;
}

// Fills every element marked data-i18n="key" (static text of index.html).
export function translateStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  document.title = t("title");
}
