/**
 * `xp units erase` against the real API over HTTP (PGlite): erasing by arguments and by --file,
 * requests of 1,000 ids (each audited on its own), the confirmation (asked on a terminal, --yes
 * required without one), roles below admin refused with the API's message, and usage errors.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OWNER, markPasswordChosen, mustAs, startPlatform } from '../../http/__tests__/harness.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { withExplorer } from '../../pipeline/explorer-hook.js';
import { exposure, toRecord, track } from '../../pipeline/__tests__/fixtures.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { XpApiClient } from '@xp/shared';
import { runUnits } from '../units.js';
import type { Prompt } from '../units.js';
import { main } from '../xp.js';
import { runXp, serveApi } from './cli-over-http.js';

const KEY = 'erase-cli';
const BASE = `/api/v1/projects/${KEY}`;
const PASSWORD = 'a much longer passphrase 42';
const AT = Date.UTC(2026, 10, 1);
const HOUR = 3_600_000;

describe('xp units erase', () => {
  let p: Platform;
  let api: Awaited<ReturnType<typeof serveApi>>;
  let owner: string;
  let projectId: string;
  let dir: string;
  const as: Record<string, NodeJS.ProcessEnv> = {};
  let stdinIsTTY: PropertyDescriptor | undefined;

  /** Units seen by the pipeline: an exposure and a purchase each. */
  const seed = async (units: readonly string[]): Promise<void> => {
    const events = units.flatMap((u, i) => [exposure(u, 'exp', i % 2 === 0 ? 'control' : 'treatment', AT + i * 60_000, undefined, projectId), track(u, 'purchase', AT + HOUR + i * 60_000, 10, undefined, projectId)]);
    const out = await withExplorer()(p.db, events.map((e) => toRecord(e)), { logger: p.services.deps.logger });
    if (out.processed !== events.length) {
      throw new Error(`the events were not aggregated: ${JSON.stringify(out)}`);
    }
  };
  const exposures = async (unit: string): Promise<number> =>
    (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM exposures WHERE project_id = $1 AND unit_id = $2', [projectId, unit])).rows[0]!.n;
  /** The project's unit.erased audit entries, newest first: the units each counted, and its client. */
  const erasures = async (): Promise<{ units: number; client: string }[]> =>
    ((await mustAs(p, owner, 'GET', `/api/v1/audit?action=unit.erased&project=${KEY}`)) as { items: { client: string; diff: unknown }[] }).items.map((e) => ({
      units: Number(/"units":(\d+)/.exec(JSON.stringify(e.diff))?.[1] ?? NaN),
      client: e.client,
    }));
  const run = async (args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> => {
    const { code, out, err } = await runXp(['units', ...args], env);
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    api = await serveApi(p);
    const apiUrl = api.url;
    owner = await p.login(OWNER.email, OWNER.password);
    as.owner = { XP_API_URL: apiUrl, XP_TOKEN: owner };
    for (const role of ['admin', 'editor', 'viewer']) {
      const email = `${role}-cli@example.com`;
      await mustAs(p, owner, 'POST', '/api/v1/users', { email, name: role, role, password: PASSWORD });
      await markPasswordChosen(p.db, email);
      as[role] = { XP_API_URL: apiUrl, XP_TOKEN: await p.login(email, PASSWORD) };
    }
    await mustAs(p, owner, 'POST', '/api/v1/projects', { key: KEY, name: KEY });
    await mustAs(p, owner, 'POST', `${BASE}/metrics`, { key: 'purchases', name: 'Purchases', type: 'count', event: 'purchase' });
    await mustAs(p, owner, 'POST', `${BASE}/experiments`, {
      key: 'exp',
      name: 'Exp',
      variations: [{ key: 'control' }, { key: 'treatment' }],
      metrics: { primary: ['purchases'] },
      status: 'running',
      startedAt: new Date(AT - HOUR).toISOString(),
    });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [KEY])).rows[0]!.id;
    await seed(['u-args-1', 'u-args-2', 'u-file-1', 'u-keep', 'u-editor', 'u-chunk-0', 'u-chunk-1000']);
    dir = await mkdtemp(path.join(tmpdir(), 'xp-units-erase-'));
    // The CLI asks on a terminal; these tests run without one unless a test says otherwise.
    stdinIsTTY = Object.getOwnPropertyDescriptor(process.stdin, 'isTTY');
    Object.defineProperty(process.stdin, 'isTTY', { value: false, configurable: true });
  }, 60_000);
  afterEach(() => {
    Object.defineProperty(process.stdin, 'isTTY', { value: false, configurable: true });
  });
  afterAll(async () => {
    if (stdinIsTTY === undefined) {
      delete (process.stdin as { isTTY?: boolean }).isTTY;
    } else {
      Object.defineProperty(process.stdin, 'isTTY', stdinIsTTY);
    }
    await rm(dir, { recursive: true, force: true });
    await api.close();
    await p.close();
  });

  it('erases the units given as arguments with --yes and prints the counts, not the ids', async () => {
    const before = (await erasures()).length;
    const res = await run(['erase', 'u-args-1', 'u-args-2', 'never-seen', '--project', KEY, '--yes'], as.owner!);

    // Each unit: 1 exposure, 1 purchase (1 totals row, 1 event), 2 explorer rows; never-seen counts, matching nothing.
    expect(res).toEqual({
      code: 0,
      out: `Erased 3 units of project ${KEY}: 2 exposures, 2 metric totals, 2 tracked events, 4 explorer events, 0 sticky assignments, 0 dead letters.`,
      err: '',
    });
    expect(res.out).not.toContain('u-args');
    expect(await exposures('u-args-1')).toBe(0);
    expect(await exposures('u-args-2')).toBe(0);
    expect(await exposures('u-keep')).toBe(1);
    expect(await erasures()).toHaveLength(before + 1);
  });

  it('reads --file (trimmed, blank lines skipped, repeats once) and sends more than 1,000 ids as requests of 1,000, each audited', async () => {
    const file = path.join(dir, 'ids.txt');
    // 1,001 distinct ids: u-chunk-0 in the first request, u-chunk-1000 in the second; padding and blank lines around them.
    const ids = Array.from({ length: 1001 }, (_, i) => `u-chunk-${i}`);
    await writeFile(file, `\ufeff${ids.map((id, i) => (i % 250 === 0 ? `  ${id}\t\r\n\n` : `${id}\n`)).join('')}u-chunk-7\n   \n`);
    const before = (await erasures()).length;

    const res = await run(['erase', '--file', file, '--project', KEY, '--yes'], as.admin!);

    expect(res.code).toBe(0);
    expect(res.err).toBe('');
    expect(res.out.split('\n')).toEqual([
      `Erased 1,000 units of project ${KEY} (request 1 of 2): 1 exposure, 1 metric total, 1 tracked event, 2 explorer events, 0 sticky assignments, 0 dead letters.`,
      `Erased 1 unit of project ${KEY} (request 2 of 2): 1 exposure, 1 metric total, 1 tracked event, 2 explorer events, 0 sticky assignments, 0 dead letters.`,
    ]);
    expect(await exposures('u-chunk-0')).toBe(0);
    expect(await exposures('u-chunk-1000')).toBe(0);
    const audited = await erasures();
    expect(audited).toHaveLength(before + 2);
    // Newest first: the second request's entry, then the first's.
    expect(audited.slice(0, 2)).toEqual([{ units: 1, client: 'cli' }, { units: 1000, client: 'cli' }]);
  });

  it('erases a unit from a one-line --file', async () => {
    const file = path.join(dir, 'one.txt');
    await writeFile(file, 'u-file-1\n');
    const res = await run(['erase', '--project', KEY, '--file', file, '-y'], as.owner!);
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/^Erased 1 unit of project erase-cli: 1 exposure, /);
    expect(await exposures('u-file-1')).toBe(0);
  });

  it('refuses without --yes when stdin is not a terminal (exit code 2), erasing nothing', async () => {
    const res = await run(['erase', 'u-keep', '--project', KEY], as.owner!);
    expect(res.code).toBe(2);
    expect(res.out).toBe('');
    expect(res.err).toContain('pass --yes');
    expect(await exposures('u-keep')).toBe(1);
  });

  it('asks on a terminal, erasing on yes and nothing otherwise', async () => {
    const asked: string[] = [];
    const prompt = (answer: string): Prompt => ({
      interactive: true,
      ask: (q) => {
        asked.push(q);
        return Promise.resolve(answer);
      },
    });
    const out: string[] = [];
    const err: string[] = [];
    const api = (): XpApiClient => new XpApiClient({ apiUrl: as.owner!.XP_API_URL!, token: as.owner!.XP_TOKEN! });
    const direct = (answer: string): Promise<number> => runUnits(['erase', 'u-keep', '--project', KEY], api, (l) => out.push(l), (l) => err.push(l), (m) => new Error(m), prompt(answer));
    const declined = await direct('');
    expect([declined, out, err]).toEqual([1, [], ['Nothing erased.']]);
    expect(asked).toEqual([`Erase 1 unit of project ${KEY}? This cannot be undone [y/N] `]);
    expect(await exposures('u-keep')).toBe(1);

    const accepted = await direct(' Y ');
    expect(accepted).toBe(0);
    expect(out).toEqual([expect.stringMatching(/^Erased 1 unit of project erase-cli: 1 exposure, /)]);
    expect(await exposures('u-keep')).toBe(0);
  });

  it('refuses editors and viewers with the API\'s message (exit code 1), erasing nothing', async () => {
    for (const role of ['editor', 'viewer']) {
      const res = await run(['erase', 'u-editor', '--project', KEY, '--yes'], as[role]!);
      expect([role, res.code, res.out]).toEqual([role, 1, '']);
      expect(res.err).toMatch(/^error: .*units:erase/);
    }
    expect(await exposures('u-editor')).toBe(1);
  });

  it('answers usage errors with exit code 2 and bad input with 1', async () => {
    const file = path.join(dir, 'bad.txt');
    await writeFile(file, `ok-1\n${'x'.repeat(257)}\n`);
    const empty = path.join(dir, 'empty.txt');
    await writeFile(empty, '\n  \n');
    const cases: [string[], number, string][] = [
      [['erase', '--project', KEY, '--yes'], 2, 'needs the unit ids'],
      [['wipe', 'u-keep', '--project', KEY, '--yes'], 2, 'unknown units subcommand "wipe"'],
      [[], 2, 'units needs a subcommand'],
      [['erase', 'u-keep', '--file', file, '--project', KEY, '--yes'], 2, 'not both'],
      [['erase', 'u-keep', '--yes'], 1, 'needs --project'],
      [['erase', '--file', file, '--project', KEY, '--yes'], 1, `${file} line 2: a unit id is 1 to 256 characters`],
      [['erase', 'u-keep', 'x'.repeat(257), '--project', KEY, '--yes'], 1, 'unit id 2 is longer than 256 characters'],
      [['erase', '--file', empty, '--project', KEY, '--yes'], 1, 'holds no unit ids'],
      [['erase', '--file', path.join(dir, 'missing.txt'), '--project', KEY, '--yes'], 1, 'cannot read'],
      [['erase', 'u-keep', '--project', 'no-such-project', '--yes'], 1, 'no-such-project'],
    ];
    for (const [args, code, message] of cases) {
      const res = await run(args, as.owner!);
      expect([args.join(' '), res.code, res.err]).toEqual([args.join(' '), code, expect.stringContaining(message)]);
    }
    const noToken = await run(['erase', 'u-editor', '--project', KEY, '--yes'], { XP_API_URL: as.owner!.XP_API_URL });
    expect([noToken.code, noToken.err]).toEqual([1, expect.stringContaining('XP_TOKEN')]);
    expect(await exposures('u-editor')).toBe(1);
  });

  it('is in the help', async () => {
    const out: string[] = [];
    expect(await main(['--help'], {}, (l) => out.push(l), () => undefined)).toBe(0);
    expect(out.join('\n')).toContain('xp units erase ID [ID…] --project KEY [--yes]');
    expect(out.join('\n')).toContain('requests of 1,000');
  });
});
