// Times in the browser's local time, 24 h; durations as a wall screen reads them.

import { t } from "./i18n.js";

const clockFormat = new Intl.DateTimeFormat("en-GB", {
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});
const dateFormat = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit" });

const pad = (n) => String(n).padStart(2, "0");

export function toDate(value) {
  if (value === null || value === undefined) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

// "14:03:09" today, "03-01 14:03:09" on another day, so a history reads without a date column.
export function formatTime(value) {
  const date = toDate(value);
  if (!date) return "—";
  const time = clockFormat.format(date);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay ? time : `${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${time}`;
}

export function formatClock(date) {
  return clockFormat.format(date);
}

export function formatDate(date) {
  return dateFormat.format(date);
}

// A countdown: "04:59", "1:02:03"; never negative (the caller says which side of the deadline).
export function formatSpan(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}

// "3分12秒" / "3m 12s": the median response time of the day.
export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const sep = t("seconds") === "s" ? " " : "";
  if (h > 0) return `${h}${t("hours")}${sep}${m}${t("minutes")}`;
  if (m > 0) return `${m}${t("minutes")}${sep}${s}${t("seconds")}`;
  return `${s}${t("seconds")}`;
}

export function formatPercent(ratio) {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "—";
  return `${Math.round(ratio * 100)}%`;
}
