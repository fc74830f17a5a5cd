// The wall screen (`?wall=1`): the page sized from the viewport (style.css, html.wall), long columns that scroll
// by themselves, and a new critical alert that flashes and chimes once. `?chime=0|1` and `?flash=0|1` override
// the defaults: on for the wall, off on a desk (a chime at every desk of a room is noise).

const params = new URLSearchParams(location.search);
const flag = (name, fallback) => (params.has(name) ? params.get(name) !== "0" : fallback);

export const wallMode = flag("wall", false);
export const chimeOn = flag("chime", wallMode);
export const flashOn = flag("flash", wallMode);
export const FLASH_MS = 20_000; // a new critical card flashes this long, then stays red as any critical card

const SCROLL_EVERY_MS = 50;
const SCROLL_PX_PER_S = 40; // slow enough to read a card as it passes
const PAUSE_MS = 4_000; // at the top and at the bottom of a column

let audio = null;

// One short two-tone chime, made by the browser (no sound file to serve). Counted on <body data-chimes>, so
// whoever watches the page (a test, a kiosk's monitor) sees that it rang even where audio is muted.
export function chime() {
  document.body.dataset.chimes = String(Number(document.body.dataset.chimes ?? 0) + 1);
  try {
    audio ??= new AudioContext();
    audio.resume?.();
    const now = audio.currentTime;
    for (const [i, freq] of [880, 660].entries()) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.35);
      gain.gain.exponentialRampToValueAtTime(0.4, now + i * 0.35 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.35 + 0.33);
      tone.connect(gain).connect(audio.destination);
      tone.start(now + i * 0.35);
      tone.stop(now + i * 0.35 + 0.34);
    }
  } catch {
    // no audio device: the flash still says it
  }
}

// A critical alert new to this screen flashes, and the screen chimes once for it (only the feed announces: a
// reload does not ring again for what the list already holds).
export class CriticalAnnouncer {
  constructor(redraw) {
    this.redraw = redraw;
    this.until = new Map(); // id → when its flash ends (ms)
    this.chimed = new Set();
  }

  announce(id) {
    if (flashOn) {
      this.until.set(id, Date.now() + FLASH_MS);
      setTimeout(this.redraw, FLASH_MS + 50);
    }
    if (chimeOn && !this.chimed.has(id)) {
      this.chimed.add(id);
      chime();
    }
  }

  flashing() {
    const now = Date.now();
    for (const [id, until] of this.until) if (until < now) this.until.delete(id);
    return new Set(this.until.keys());
  }
}

// Columns longer than the screen scroll down slowly, pause at the end, and start again from the top; a person
// pointing at a column stops it.
export function startAutoScroll(board) {
  const state = new WeakMap(); // .cards → {pausedUntil, exact}
  setInterval(() => {
    const now = Date.now();
    for (const list of board.querySelectorAll(".cards")) {
      const room = list.scrollHeight - list.clientHeight;
      if (room <= 1 || list.matches(":hover")) continue;
      const s = state.get(list) ?? { pausedUntil: now + PAUSE_MS, exact: list.scrollTop };
      state.set(list, s);
      if (now < s.pausedUntil) continue;
      if (s.exact >= room) {
        s.exact = 0;
        s.pausedUntil = now + PAUSE_MS;
      } else {
        s.exact = Math.min(room, s.exact + (SCROLL_PX_PER_S * SCROLL_EVERY_MS) / 1000);
        if (s.exact >= room) s.pausedUntil = now + PAUSE_MS;
      }
      list.scrollTop = s.exact;
      list.dataset.autoscrolled = "true";
    }
  }, SCROLL_EVERY_MS);
}
