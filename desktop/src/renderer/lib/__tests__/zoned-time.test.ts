import { describe, expect, it } from 'vitest';
import { addCalendarDays, calendarDay, knownTimeZone, nextDay, startOfDay } from '../zoned-time.js';

/** The UTC instants a calendar day of `timeZone` runs between, and its length in hours. */
function dayBounds(day: string, timeZone: string): { from: string; to: string; hours: number } {
  const from = startOfDay(day, timeZone);
  const to = startOfDay(nextDay(day), timeZone);
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), hours: (to - from) / 3_600_000 };
}

describe('calendar days in a time zone', () => {
  it('runs a day from its midnight to the next, 25 hours when clocks go back and 23 when they go forward', () => {
    expect(dayBounds('2026-11-01', 'America/New_York')).toEqual({ from: '2026-11-01T04:00:00.000Z', to: '2026-11-02T05:00:00.000Z', hours: 25 });
    expect(dayBounds('2026-03-08', 'America/New_York')).toEqual({ from: '2026-03-08T05:00:00.000Z', to: '2026-03-09T04:00:00.000Z', hours: 23 });
    // The southern hemisphere: Sydney leaves daylight saving time in April, enters it in October.
    expect(dayBounds('2026-04-05', 'Australia/Sydney')).toEqual({ from: '2026-04-04T13:00:00.000Z', to: '2026-04-05T14:00:00.000Z', hours: 25 });
    expect(dayBounds('2026-10-04', 'Australia/Sydney')).toEqual({ from: '2026-10-03T14:00:00.000Z', to: '2026-10-04T13:00:00.000Z', hours: 23 });
    // Half an hour off UTC, without daylight saving time.
    expect(dayBounds('2026-12-04', 'Asia/Kolkata')).toEqual({ from: '2026-12-03T18:30:00.000Z', to: '2026-12-04T18:30:00.000Z', hours: 24 });
    expect(dayBounds('2026-12-04', 'America/New_York')).toEqual({ from: '2026-12-04T05:00:00.000Z', to: '2026-12-05T05:00:00.000Z', hours: 24 });
    // A day whose midnight is skipped (Santiago's clocks jump from 00:00 to 01:00) starts at 01:00.
    expect(new Date(startOfDay('2026-09-06', 'America/Santiago')).toISOString()).toBe('2026-09-06T04:00:00.000Z');
  });

  it('refuses text that is no calendar date', () => {
    expect(startOfDay('2026-02-30', 'UTC')).toBeNaN();
    expect(startOfDay('Dec 4', 'UTC')).toBeNaN();
    expect(nextDay('2026-12-31')).toBe('2027-01-01');
    expect(nextDay('yesterday')).toBe('yesterday');
  });

  it('gives the calendar day of an instant in a zone', () => {
    // 00:49 on Dec 6 in Kolkata is still Dec 5 in UTC and in New York.
    const at = Date.parse('2026-12-05T19:19:00Z');
    expect([calendarDay(at, 'Asia/Kolkata'), calendarDay(at, 'UTC'), calendarDay(at, 'America/New_York')]).toEqual(['2026-12-06', '2026-12-05', '2026-12-05']);
    // The repeated hour of Nov 1 in New York is still Nov 1, both times.
    expect([calendarDay(Date.parse('2026-11-01T05:30:00Z'), 'America/New_York'), calendarDay(Date.parse('2026-11-01T06:30:00Z'), 'America/New_York')]).toEqual(['2026-11-01', '2026-11-01']);
  });

  it('keeps the wall-clock time when adding calendar days across a daylight-saving change', () => {
    const iso = (at: number): string => new Date(at).toISOString();
    // 09:00 EDT on Nov 6, 2027 → 09:00 EST on Nov 7 (25 hours later, not 24).
    expect(iso(addCalendarDays(Date.parse('2027-11-06T13:00:00Z'), 1, 'America/New_York'))).toBe('2027-11-07T14:00:00.000Z');
    // 09:00 EST on Mar 13, 2027 → 09:00 EDT on Mar 14 (23 hours later).
    expect(iso(addCalendarDays(Date.parse('2027-03-13T14:00:00Z'), 1, 'America/New_York'))).toBe('2027-03-14T13:00:00.000Z');
    expect(iso(addCalendarDays(Date.parse('2026-10-03T00:15:30.250Z'), 1, 'Australia/Sydney'))).toBe('2026-10-03T23:15:30.250Z');
    expect(iso(addCalendarDays(Date.parse('2026-12-04T04:30:00Z'), 3, 'Asia/Kolkata'))).toBe('2026-12-07T04:30:00.000Z');
    // 02:30 on the day clocks skip from 02:00 to 03:00 does not exist: it moves forward by the gap.
    expect(iso(addCalendarDays(Date.parse('2027-03-13T07:30:00Z'), 1, 'America/New_York'))).toBe('2027-03-14T07:30:00.000Z');
    // 01:30 on the day it repeats is its first occurrence (EDT).
    expect(iso(addCalendarDays(Date.parse('2027-11-06T05:30:00Z'), 1, 'America/New_York'))).toBe('2027-11-07T05:30:00.000Z');
  });

  it('knows a zone by its IANA name, and nothing else', () => {
    expect(knownTimeZone('America/New_York')).toBe('America/New_York');
    expect(knownTimeZone('asia/kolkata')).toBe(knownTimeZone('Asia/Calcutta'));
    expect(knownTimeZone('Mars/Olympus_Mons')).toBeUndefined();
    expect(knownTimeZone('')).toBeUndefined();
  });
});
