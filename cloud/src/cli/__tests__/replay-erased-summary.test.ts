/**
 * `xp replay`'s summary says how many archived events it left out because their unit was erased
 * since (on the data folder's embedded database, as an operator runs it).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { exposure, track } from '../../pipeline/__tests__/fixtures.js';
import { unitHash } from '../../store/erasure.js';
import { partitionOf } from '../../store/event-archive.js';
import { createPgliteDatabase } from '../../store/db.js';
import { migratedPgliteDump } from '../../store/__tests__/test-databases.js';
import { main } from '../xp.js';

const AT = Date.UTC(2026, 10, 1, 10);

describe('xp replay summary', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir !== undefined) {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the events left out because their unit was erased', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-replay-erased-'));
    const db = await createPgliteDatabase(path.join(dir, 'postgres'), { loadDataDir: await migratedPgliteDump() });
    await db.query("INSERT INTO organizations (id, name) VALUES ('org-1', 'Org')");
    await db.query("INSERT INTO projects (id, org_id, key, name) VALUES ('proj-1', 'org-1', 'demo', 'Demo')");
    await db.query('INSERT INTO erased_units (project_id, unit_hash, erased_at) VALUES ($1, $2, $3)', ['proj-1', unitHash('u-gone'), new Date(AT + 3_600_000)]);
    await db.close();
    const events = [exposure('u-gone', 'exp', 'control', AT, 'evt-gone-1', 'proj-1'), track('u-gone', 'purchase', AT + 60_000, 5, 'evt-gone-2', 'proj-1'), track('u-kept', 'purchase', AT + 60_000, 5, 'evt-kept-1', 'proj-1')];
    const hour = path.join(dir, 'archive', 'events', partitionOf(AT));
    await mkdir(hour, { recursive: true });
    await writeFile(path.join(hour, 'xp-events-test.jsonl.gz'), gzipSync(events.map((e) => JSON.stringify(e)).join('\n') + '\n'));

    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['replay', '--from', '2026-11-01', '--to', '2026-11-01', '--data-dir', dir], { DATABASE_URL: '' }, (l) => out.push(l), (l) => err.push(l));

    expect([code, err.filter((l) => l.startsWith('error'))]).toEqual([0, []]);
    expect(out).toEqual(['Replayed 1 events from 1 files; recomputed 0 experiment totals; left out 2 events of erased units.']);
  }, 60_000);
});
