/**
 * UTC calendar periods and their windows (3scale semantics: no rolling windows, weeks start on Monday,
 * eternity spans 1970-01-01 .. 9999-12-31). Times are epoch milliseconds.
 */
import type { Period } from './model.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** 9999-12-31T00:00:00Z: the end of the eternity period, as in 3scale. */
export const ETERNITY_END = Date.UTC(9999, 11, 31);

/** Start of the window of `period` that contains `t`. */
export function windowStart(period: Period, t: number): number {
  switch (period) {
    case 'minute':
      return t - (((t % MINUTE) + MINUTE) % MINUTE);
    case 'hour':
      return t - (((t % HOUR) + HOUR) % HOUR);
    case 'day':
      return t - (((t % DAY) + DAY) % DAY);
    case 'week': {
      const day = t - (((t % DAY) + DAY) % DAY);
      // 1970-01-01 was a Thursday: getUTCDay() 0 = Sunday; Monday-based offset is (dow + 6) % 7.
      const dow = new Date(day).getUTCDay();
      return day - ((dow + 6) % 7) * DAY;
    }
    case 'month': {
      const d = new Date(t);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    }
    case 'year':
      return Date.UTC(new Date(t).getUTCFullYear(), 0, 1);
    case 'eternity':
      return 0;
  }
}

/** End (exclusive) of the window of `period` that starts at `start`. */
export function windowEnd(period: Period, start: number): number {
  switch (period) {
    case 'minute':
      return start + MINUTE;
    case 'hour':
      return start + HOUR;
    case 'day':
      return start + DAY;
    case 'week':
      return start + 7 * DAY;
    case 'month': {
      const d = new Date(start);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    }
    case 'year':
      return Date.UTC(new Date(start).getUTCFullYear() + 1, 0, 1);
    case 'eternity':
      return ETERNITY_END;
  }
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

// Window boundaries repeat across calls (a few per period at any time): formatted once each.
const xmlTimes = new Map<number, string>();

/** `YYYY-MM-DD HH:MM:SS +0000`: the time format of 3scale's XML (always UTC). */
export function formatXmlTime(t: number): string {
  let s = xmlTimes.get(t);
  if (s === undefined) {
    const d = new Date(t);
    s = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(
      d.getUTCMinutes(),
    )}:${pad2(d.getUTCSeconds())} +0000`;
    if (xmlTimes.size >= 1024) xmlTimes.clear();
    xmlTimes.set(t, s);
  }
  return s;
}

/** Compact window id used in counter keys: `YYYYMMDDHHMM` (eternity: `e`). */
export function windowId(period: Period, start: number): string {
  if (period === 'eternity') return 'e';
  const d = new Date(start);
  return `${d.getUTCFullYear()}${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}${pad2(d.getUTCHours())}${pad2(
    d.getUTCMinutes(),
  )}`;
}
