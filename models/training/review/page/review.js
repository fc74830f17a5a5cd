// The labelling page: one frame at a time, its boxes drawn over it, every decision by key (mouse for new boxes).
// Boxes travel as YOLO shares of the image {cls, cx, cy, w, h}; the server writes the label files.
"use strict";

const COLOURS = ["#ff5252", "#40c4ff", "#69f0ae", "#ffd740", "#e040fb", "#ff6e40", "#b2ff59", "#18ffff", "#ffab40"];
const MIN_DRAG_PX = 4; // a shorter drag is a click (select), not a box

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");

const view = {
  names: [],
  frames: [], // [{stem, state}]
  index: 0,
  frame: null, // {stem, state, boxes, error}
  saved: [], // the boxes as loaded, for `r` and to tell an edit
  boxes: [],
  selected: -1,
  cls: 0,
  image: null,
  drag: null, // {x0, y0, x1, y1} in shares of the image
  leaveArmed: false, // an arrow key was pressed once with unsaved changes
  busy: false,
};

async function api(path, options = {}) {
  const response = await fetch(path, {...options, headers: {"Content-Type": "application/json"}});
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

const dirty = () => JSON.stringify(view.boxes) !== JSON.stringify(view.saved);
const colour = (cls) => COLOURS[cls % COLOURS.length];

function say(text) { $("message").textContent = text || ""; }

function counts() {
  const labelled = view.frames.filter((f) => f.state !== "unreviewed" && f.state !== "skip").length;
  const skipped = view.frames.filter((f) => f.state === "skip").length;
  return {labelled, skipped};
}

function renderSide() {
  const {labelled, skipped} = counts();
  $("progress").textContent = `${labelled} of ${view.frames.length} reviewed · ${skipped} skipped · ` +
    `frame ${view.frames.length ? view.index + 1 : 0} of ${view.frames.length}`;
  $("frame-name").textContent = view.frame ? view.frame.stem : "no frames";
  $("frame-state").textContent = view.frame ? view.frames[view.index].state : "";
  $("dirty").hidden = !dirty();
  $("error").hidden = !(view.frame && view.frame.error);
  $("error").textContent = view.frame && view.frame.error ? `${view.frame.error} · s skips it` : "";
  const classes = $("classes");
  classes.replaceChildren(...view.names.map((name, i) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour(i);
    li.append(swatch, name);
    if (i === view.cls) li.className = "current";
    return li;
  }));
  const boxes = $("boxes");
  boxes.replaceChildren(...view.boxes.map((b, i) => {
    const li = document.createElement("li");
    li.textContent = `${view.names[b.cls] ?? b.cls} · ${Math.round(b.w * 100)}% × ${Math.round(b.h * 100)}%`;
    if (i === view.selected) li.className = "selected";
    return li;
  }));
  if (!view.boxes.length) {
    const li = document.createElement("li");
    li.textContent = "none";
    boxes.append(li);
  }
}

function fitCanvas() {
  if (!view.image) return;
  const stage = $("stage");
  const scale = Math.min(stage.clientWidth / view.image.naturalWidth, stage.clientHeight / view.image.naturalHeight);
  canvas.width = Math.max(1, Math.round(view.image.naturalWidth * scale));
  canvas.height = Math.max(1, Math.round(view.image.naturalHeight * scale));
}

function drawBox(b, selected) {
  const w = canvas.width, h = canvas.height;
  const x = (b.cx - b.w / 2) * w, y = (b.cy - b.h / 2) * h;
  ctx.strokeStyle = colour(b.cls);
  ctx.lineWidth = selected ? 4 : 2;
  ctx.setLineDash(selected ? [10, 4] : []);
  ctx.strokeRect(x, y, b.w * w, b.h * h);
  ctx.setLineDash([]);
  const label = `${view.names[b.cls] ?? b.cls}`;
  ctx.font = "bold 14px system-ui, sans-serif";
  ctx.fillStyle = colour(b.cls);
  ctx.fillRect(x, Math.max(0, y - 18), ctx.measureText(label).width + 8, 18);
  ctx.fillStyle = "#000";
  ctx.fillText(label, x + 4, Math.max(13, y - 5));
}

function render() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (view.image) ctx.drawImage(view.image, 0, 0, canvas.width, canvas.height);
  view.boxes.forEach((b, i) => drawBox(b, i === view.selected));
  if (view.drag) {
    const d = view.drag;
    ctx.strokeStyle = colour(view.cls);
    ctx.lineWidth = 2;
    ctx.setLineDash([6, 4]);
    ctx.strokeRect(Math.min(d.x0, d.x1) * canvas.width, Math.min(d.y0, d.y1) * canvas.height,
      Math.abs(d.x1 - d.x0) * canvas.width, Math.abs(d.y1 - d.y0) * canvas.height);
    ctx.setLineDash([]);
  }
  renderSide();
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error("the image did not load"));
    image.src = src;
  });
}

async function show(index) {
  if (!view.frames.length) { view.frame = null; render(); say("no frames in this folder yet"); return; }
  view.index = Math.min(Math.max(index, 0), view.frames.length - 1);
  const stem = view.frames[view.index].stem;
  const path = `/api/frames/${encodeURIComponent(stem)}`;
  const frame = await api(path);
  view.frame = frame;
  view.frames[view.index].state = frame.state;
  view.saved = frame.boxes.map((b) => ({...b}));
  view.boxes = frame.boxes.map((b) => ({...b}));
  view.selected = -1;
  view.drag = null;
  view.leaveArmed = false;
  view.image = null;
  if (!frame.error) {
    try { view.image = await loadImage(`${path}/image`); } catch (e) { frame.error = `${stem}: ${e.message}`; }
  }
  fitCanvas();
  document.body.dataset.stem = stem; // for the tests: which frame is on screen, once loaded
  render();
}

async function loadFolder() {
  const folder = await api("/api/folder");
  view.names = folder.names;
  view.frames = folder.frames;
  $("folder").textContent = folder.folder;
  return folder.start;
}

async function decide(action) {
  if (view.frame.error && action !== "skip") { say("this frame cannot be labelled: s skips it"); return; }
  const index = view.index;
  const result = await api(`/api/frames/${encodeURIComponent(view.frame.stem)}`, {
    method: "POST", body: JSON.stringify({action, boxes: action === "save" ? view.boxes : []}),
  });
  view.frames[index].state = result.state;
  say(`${view.frame.stem}: ${result.state}`);
  if (index + 1 < view.frames.length) { await show(index + 1); return; }
  await loadFolder(); // frames the edge saved meanwhile come at the end
  if (index + 1 < view.frames.length) { await show(index + 1); return; }
  await show(index);
  const {labelled, skipped} = counts();
  say(`last frame done: ${labelled} of ${view.frames.length} reviewed, ${skipped} skipped`);
}

async function go(step) {
  if (dirty() && !view.leaveArmed) {
    view.leaveArmed = true;
    say("unsaved changes: Enter saves them, press the arrow again to leave them");
    return;
  }
  const target = view.index + step;
  if (target < 0 || target >= view.frames.length) { say(step < 0 ? "first frame" : "last frame"); return; }
  say("");
  await show(target);
}

function setClass(cls) {
  if (cls >= view.names.length) { say(`no class ${cls + 1}: ${view.names.length} classes`); return; }
  view.cls = cls;
  if (view.selected >= 0) view.boxes[view.selected] = {...view.boxes[view.selected], cls};
  render();
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || !view.frame) return;
  const key = event.key;
  const actions = {
    Enter: () => decide("save"),
    n: () => decide("empty"),
    s: () => decide("skip"),
    ArrowLeft: () => go(-1),
    ArrowRight: () => go(1),
    Tab: () => {
      if (!view.boxes.length) return;
      const n = view.boxes.length;
      view.selected = event.shiftKey ? (view.selected <= 0 ? n - 1 : view.selected - 1) : (view.selected + 1) % n;
      view.cls = view.boxes[view.selected].cls;
      render();
    },
    Backspace: () => deleteSelected(),
    Delete: () => deleteSelected(),
    Escape: () => { view.drag = null; view.selected = -1; render(); },
    r: () => { view.boxes = view.saved.map((b) => ({...b})); view.selected = -1; say("changes undone"); render(); },
  };
  let run = actions[key];
  if (!run && /^[1-9]$/.test(key)) run = () => setClass(Number(key) - 1);
  if (!run) return;
  event.preventDefault();
  if (view.busy) return; // one decision at a time: a held key must not save the next frame unseen
  view.busy = true;
  Promise.resolve(run()).catch((e) => say(`error: ${e.message}`)).finally(() => { view.busy = false; });
}

function deleteSelected() {
  if (view.selected < 0) { say("no box selected: Tab selects one"); return; }
  view.boxes.splice(view.selected, 1);
  view.selected = Math.min(view.selected, view.boxes.length - 1);
  render();
}

function share(event) {
  const rect = canvas.getBoundingClientRect();
  const clamp = (v) => Math.min(Math.max(v, 0), 1);
  return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)];
}

canvas.addEventListener("mousedown", (event) => {
  if (event.button !== 0 || !view.image) return;
  const [x, y] = share(event);
  view.drag = {x0: x, y0: y, x1: x, y1: y};
  event.preventDefault();
});

window.addEventListener("mousemove", (event) => {
  if (!view.drag) return;
  [view.drag.x1, view.drag.y1] = share(event);
  render();
});

window.addEventListener("mouseup", (event) => {
  const d = view.drag;
  if (!d) return;
  view.drag = null;
  [d.x1, d.y1] = share(event);
  const wide = Math.abs(d.x1 - d.x0) * canvas.width >= MIN_DRAG_PX, high = Math.abs(d.y1 - d.y0) * canvas.height >= MIN_DRAG_PX;
  if (wide && high) {
    const [x1, x2] = [Math.min(d.x0, d.x1), Math.max(d.x0, d.x1)];
    const [y1, y2] = [Math.min(d.y0, d.y1), Math.max(d.y0, d.y1)];
    view.boxes.push({cls: view.cls, cx: (x1 + x2) / 2, cy: (y1 + y2) / 2, w: x2 - x1, h: y2 - y1});
    view.selected = view.boxes.length - 1;
    say("new box: 1-9 sets its class");
  } else {
    // A click selects the smallest box under it, or nothing.
    const hits = view.boxes.map((b, i) => [b, i])
      .filter(([b]) => Math.abs(d.x1 - b.cx) <= b.w / 2 && Math.abs(d.y1 - b.cy) <= b.h / 2)
      .sort(([a], [b]) => a.w * a.h - b.w * b.h);
    view.selected = hits.length ? hits[0][1] : -1;
    if (view.selected >= 0) view.cls = view.boxes[view.selected].cls;
  }
  render();
});

window.addEventListener("resize", () => { fitCanvas(); render(); });
document.addEventListener("keydown", onKey);

loadFolder().then(show).catch((e) => say(`error: ${e.message}`));
