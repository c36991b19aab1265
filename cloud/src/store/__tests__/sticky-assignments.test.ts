import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../domain/context.js';
import type { Database } from '../db.js';
import { purgeExperimentData } from '../experiment-data.js';
import { projects } from '../projects.js';
import { SharedStoreKind, StickyStoreKind, memoryStores, openSharedStores } from '../shared-stores.js';
import { InMemoryStickyAssignmentStore, PostgresStickyAssignmentStore, pruneStickyAssignments } from '../sticky-buckets.js';
import { TARGETS } from './test-databases.js';

const unit = (hashValue: string, hashAttribute = 'id'): { hashAttribute: string; hashValue: string } => ({ hashAttribute, hashValue });

describe.each(TARGETS.map((t) => [t().name, t] as const))('sticky assignments in PostgreSQL on %s', (_name, makeTarget) => {
  const target = makeTarget();
  let db: Database;
  let store: PostgresStickyAssignmentStore;

  beforeAll(async () => {
    db = await target.open();
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await projects.create(db, { id: 'p1', orgId: 'o1', key: 'web', name: 'Web' });
    await projects.create(db, { id: 'p2', orgId: 'o1', key: 'app', name: 'App' });
    store = new PostgresStickyAssignmentStore(db);
  });
  afterAll(async () => {
    await target.dispose();
  });

  it('loads nothing for units without assignments, and nothing for no units', async () => {
    expect(await store.load('p1', [unit('nobody'), unit('nobody', 'deviceId')])).toEqual(new Map());
    expect(await store.load('p1', [])).toEqual(new Map());
  });

  it('loads what was saved, by attribute and value, and only the units asked for', async () => {
    await store.save(
      'p1',
      new Map([
        ['id||u1', { exp__0: 'treatment' }],
        ['deviceId||d1', { exp__0: 'control', other__1: 'b' }],
        ['id||u2', { exp__0: 'control' }],
      ]),
    );

    const loaded = await store.load('p1', [unit('u1'), unit('d1', 'deviceId'), unit('u9')]);

    expect(loaded).toEqual(
      new Map([
        ['id||u1', { exp__0: 'treatment' }],
        ['deviceId||d1', { exp__0: 'control', other__1: 'b' }],
      ]),
    );
  });

  it('forgets a deleted experiment\'s assignments, every bucket version, and only its own', async () => {
    await store.save(
      'p1',
      new Map([
        ['id||gone-1', { gone__0: 'control', gone__3: 'treatment', 'gone-too__0': 'b', gone__x: 'kept' }],
        ['id||gone-2', { gone__1: 'control' }],
      ]),
    );
    await store.save('p2', new Map([['id||gone-1', { gone__0: 'control' }]]));

    await purgeExperimentData(db, 'p1', 'gone');

    expect(await store.load('p1', [unit('gone-1'), unit('gone-2')])).toEqual(
      new Map([
        ['id||gone-1', { 'gone-too__0': 'b', gone__x: 'kept' }],
        ['id||gone-2', {}],
      ]),
    );
    // Another project's experiment of the same key keeps its units.
    expect((await store.load('p2', [unit('gone-1')])).get('id||gone-1')).toEqual({ gone__0: 'control' });
  });

  it('merges two saves of one unit with different experiment keys (both kept), the later value winning per key', async () => {
    const a = { experimentA__0: 'control' };
    const b = { experimentB__0: 'treatment' };
    // Two requests that each saw the unit without the other's assignment, concurrently.
    await Promise.all([store.save('p1', new Map([['id||merge', a]])), store.save('p1', new Map([['id||merge', b]]))]);
    await store.save('p1', new Map([['id||merge', { experimentA__0: 'treatment' }]]));

    expect((await store.load('p1', [unit('merge')])).get('id||merge')).toEqual({ experimentA__0: 'treatment', experimentB__0: 'treatment' });
  });

  it('ignores a corrupt stored value, and the next save replaces it', async () => {
    await db.query("INSERT INTO sticky_assignments (project_id, unit_key, assignments) VALUES ('p1', 'id||bad-array', '[1,2]'), ('p1', 'id||bad-number', '{\"exp__0\":7}'), ('p1', 'id||bad-scalar', '\"x\"')");

    const loaded = await store.load('p1', [unit('bad-array'), unit('bad-number'), unit('bad-scalar'), unit('u1')]);
    await store.save('p1', new Map([['id||bad-array', { exp__0: 'control' }]]));

    expect([...loaded.keys()]).toEqual(['id||u1']);
    expect((await store.load('p1', [unit('bad-array')])).get('id||bad-array')).toEqual({ exp__0: 'control' });
  });

  it('keeps projects apart, and a project deleted takes its assignments with it', async () => {
    await store.save('p2', new Map([['id||u1', { exp__0: 'control' }]]));

    expect((await store.load('p1', [unit('u1')])).get('id||u1')).toEqual({ exp__0: 'treatment' });
    expect((await store.load('p2', [unit('u1')])).get('id||u1')).toEqual({ exp__0: 'control' });
    await db.query("DELETE FROM projects WHERE id = 'p2'");
    expect(await db.query("SELECT 1 FROM sticky_assignments WHERE project_id = 'p2'")).toMatchObject({ rowCount: 0 });
  });

  it('prunes assignments unchanged for the retention (default 90 days), in chunks, and keeps those changed since', async () => {
    const units = Array.from({ length: 25 }, (_, i) => `old-${i}`);
    await store.save('p1', new Map(units.map((u) => [`id||${u}`, { exp__0: 'control' }])));
    await db.query("UPDATE sticky_assignments SET updated_at = now() - interval '1 day' * $2::float8 WHERE project_id = $1 AND unit_key LIKE 'id||old-%'", ['p1', 91]);
    await db.query('UPDATE sticky_assignments SET updated_at = now() - interval \'1 day\' * $2::float8 WHERE project_id = $1 AND unit_key = $3', ['p1', 89, 'id||u2']);
    // A change refreshes a unit's time: this one is kept.
    await store.save('p1', new Map([['id||old-0', { exp__1: 'treatment' }]]));

    const deleted = await pruneStickyAssignments(db, undefined, { chunk: 10 });
    const left = await store.load('p1', [...units.map((u) => unit(u)), unit('u2'), unit('u1')]);

    expect(deleted).toBe(24);
    expect([...left.keys()].sort()).toEqual(['id||old-0', 'id||u1', 'id||u2']);
    expect(left.get('id||old-0')).toEqual({ exp__0: 'control', exp__1: 'treatment' });
    expect(await pruneStickyAssignments(db, 30)).toBe(1);
  });

  it('stops pruning at the deadline after a chunk', async () => {
    await store.save('p1', new Map(Array.from({ length: 15 }, (_, i) => [`id||late-${i}`, { exp__0: 'control' }])));
    await db.query("UPDATE sticky_assignments SET updated_at = now() - interval '1 day' * $1::float8 WHERE unit_key LIKE 'id||late-%'", [100]);

    expect(await pruneStickyAssignments(db, 90, { chunk: 10, deadline: 0 })).toBe(10);
    expect(await pruneStickyAssignments(db, 90, { chunk: 10 })).toBe(5);
  });

  it('is the sticky store the shared stores choose without Redis when given the database', async () => {
    const stores = await openSharedStores({ db, logger: silentLogger });
    const blank = await openSharedStores({ redisUrl: ' ', db, logger: silentLogger });
    const noDb = await openSharedStores({ logger: silentLogger });

    expect([stores.kind, stores.stickyKind]).toEqual([SharedStoreKind.Memory, StickyStoreKind.Postgres]);
    expect(stores.sticky).toBeInstanceOf(PostgresStickyAssignmentStore);
    expect([blank.kind, blank.stickyKind]).toEqual([SharedStoreKind.Memory, StickyStoreKind.Postgres]);
    expect([noDb.stickyKind, memoryStores().stickyKind]).toEqual([StickyStoreKind.Memory, StickyStoreKind.Memory]);
    expect(noDb.sticky).toBeInstanceOf(InMemoryStickyAssignmentStore);
    // Redis unreachable at start: rate limits per instance, sticky assignments still in the database.
    const logged: string[] = [];
    const unreachable = await openSharedStores({ redisUrl: 'redis://127.0.0.1:1', db, logger: { ...silentLogger, error: (m) => logged.push(m) } });
    expect([unreachable.kind, unreachable.stickyKind]).toEqual([SharedStoreKind.Memory, StickyStoreKind.Postgres]);
    expect(logged).toEqual(['shared store: Redis unreachable, using process memory (rate limits are per instance; sticky assignments are in the database)']);
    // What one instance saves, another (a new process on the same database) loads.
    await stores.sticky.save('p1', new Map([['id||shared', { exp__0: 'treatment' }]]));
    expect((await (await openSharedStores({ db, logger: silentLogger })).sticky.load('p1', [unit('shared')])).get('id||shared')).toEqual({ exp__0: 'treatment' });
  });
});
