/**
 * `xp replay --from/--to` read as documented: a date is a UTC day, a date-time must carry its zone
 * (as at every API endpoint), and an impossible date is refused rather than rolled over, whatever
 * the operator's time zone.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, parseInstant } from '../xp.js';

const ACCEPTED = 'must be a date (2026-11-25, a UTC day) or a date-time with Z or an offset (2026-11-25T10:00:00Z, 2026-11-25T10:00:00+05:30)';

describe('xp replay dates', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-replay-dates-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a date as a UTC day (a --to date includes it) and a date-time in the zone it names', () => {
    expect(parseInstant('2026-11-25', 'from', false).toISOString()).toBe('2026-11-25T00:00:00.000Z');
    expect(parseInstant('2026-11-25', 'to', true).toISOString()).toBe('2026-11-26T00:00:00.000Z');
    expect(parseInstant('2028-02-29', 'to', true).toISOString()).toBe('2028-03-01T00:00:00.000Z');
    expect(parseInstant('2026-11-25T10:00:00Z', 'from', false).toISOString()).toBe('2026-11-25T10:00:00.000Z');
    expect(parseInstant('2026-11-25T10:00:00+05:30', 'from', false).toISOString()).toBe('2026-11-25T04:30:00.000Z');
    expect(parseInstant('2026-11-25T10:00:00.250-05:00', 'to', true).toISOString()).toBe('2026-11-25T15:00:00.250Z');
  });

  it('refuses an impossible date and a date-time without a zone, naming the flag and the accepted forms', () => {
    expect(() => parseInstant('2026-02-30', 'from', false)).toThrow(`--from ${ACCEPTED}, got "2026-02-30" (no such date)`);
    expect(() => parseInstant('2026-04-31T10:00:00Z', 'to', true)).toThrow(`--to ${ACCEPTED}, got "2026-04-31T10:00:00Z"`);
    expect(() => parseInstant('2026-11-25T10:00:00', 'from', false)).toThrow(`--from ${ACCEPTED}, got "2026-11-25T10:00:00" (a date-time needs Z or an offset)`);
    expect(() => parseInstant('2026-11-25T10:00', 'to', true)).toThrow('(a date-time needs Z or an offset)');
    expect(() => parseInstant('Nov 25 2026', 'from', false)).toThrow(`--from ${ACCEPTED}, got "Nov 25 2026"`);
  });

  it('exits 1 with that message before touching any data folder, not with "--from must be before --to"', async () => {
    const err: string[] = [];
    const code = await main(['replay', '--from', '2026-02-30', '--to', '2026-03-01', '--data-dir', dir], { DATABASE_URL: '' }, () => undefined, (l) => err.push(l));
    expect(code).toBe(1);
    expect(err).toEqual([`error: --from ${ACCEPTED}, got "2026-02-30" (no such date)`]);
  });

  it('refuses a zoneless date-time under a time zone other than UTC too (the built CLI, TZ=America/New_York)', async () => {
    const bin = fileURLToPath(new URL('../../../bin/xp.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'replay', '--from', '2026-11-25T10:00:00', '--to', '2026-11-26', '--data-dir', dir], {
      env: { ...process.env, TZ: 'America/New_York', DATABASE_URL: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(`error: --from ${ACCEPTED}, got "2026-11-25T10:00:00" (a date-time needs Z or an offset)`);
  });
});
