/**
 * Calendar days and wall-clock times in a named time zone (IANA: "America/New_York"), as UTC
 * instants in ms. Exact across daylight-saving changes (days of 23 or 25 hours, a midnight that is
 * skipped) and zones off the hour (Asia/Kolkata, UTC+5:30): what the browser's Date cannot do for
 * any zone but its own.
 */

const DAY_MS = 86_400_000;

/** The browser's time zone (IANA name), in which the console shows every time. */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** The canonical IANA name of a zone, as `Intl` knows it (an alias gives its zone's name: Asia/Kolkata may give Asia/Calcutta), undefined for no zone. */
export function knownTimeZone(name: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** The offset of `timeZone` from UTC at an instant, in ms (UTC+1: 3,600,000). */
function zoneOffset(at: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(new Date(at));
  const part = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'));
  return wall - Math.floor(at / 1000) * 1000;
}

/**
 * The instant a wall-clock time (given as the ms of the same fields in UTC) has in `timeZone`. A
 * time a change to daylight saving time skips moves forward by the gap (02:30 on a day clocks jump
 * from 02:00 to 03:00 is 03:30); a time a change back repeats is its first occurrence.
 */
function instantOfWallTime(wall: number, timeZone: string): number {
  // No zone changes its offset twice within two days: the offsets a day either side are the only candidates.
  const before = zoneOffset(wall - DAY_MS, timeZone);
  const after = zoneOffset(wall + DAY_MS, timeZone);
  const matching = [wall - before, wall - after].filter((at) => at + zoneOffset(at, timeZone) === wall);
  return matching.length === 0 ? wall - before : Math.min(...matching);
}

/** The calendar day of an instant in `timeZone`, as "2026-12-03". */
export function calendarDay(at: number, timeZone: string): string {
  return new Date(at + zoneOffset(at, timeZone)).toISOString().slice(0, 10);
}

/**
 * The first instant of a calendar day ("2026-12-03") in `timeZone`: its midnight, or where a
 * daylight-saving change skips midnight, the first time the day has. NaN when it is no date.
 */
export function startOfDay(day: string, timeZone: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (match === null) {
    return Number.NaN;
  }
  const utcMidnight = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  if (Number.isNaN(utcMidnight) || new Date(utcMidnight).toISOString().slice(0, 10) !== day) {
    return Number.NaN;
  }
  return instantOfWallTime(utcMidnight, timeZone);
}

/** "2026-12-03" → "2026-12-04" (any text that is not a date stays as it is, and is refused). */
export function nextDay(day: string): string {
  const at = Date.parse(`${day}T00:00:00Z`);
  return /^\d{4}-\d{2}-\d{2}$/.test(day) && !Number.isNaN(at) ? new Date(at + DAY_MS).toISOString().slice(0, 10) : day;
}

/**
 * The same wall-clock time `days` calendar days after an instant, in `timeZone`: 09:00 stays 09:00
 * across a change to or from daylight saving time (which adding 24 hours would make 08:00 or 10:00).
 */
export function addCalendarDays(at: number, days: number, timeZone: string): number {
  return instantOfWallTime(at + zoneOffset(at, timeZone) + days * DAY_MS, timeZone);
}
