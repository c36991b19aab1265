import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../store/db.js';
import { postgresTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';

const flagBody = (key: string): Record<string, unknown> => booleanFlagBody(key);


/** Lets a test hold one transaction open after its work, before COMMIT. */
function holdable(db: Database): { db: Database; holdNext(): { reached: Promise<void>; release(): void } } {
  let hold: { reached: () => void; released: Promise<void> } | undefined;
  const wrapped: Database = {
    kind: db.kind,
    query: (sql, params) => db.query(sql, params),
    close: () => db.close(),
    withTransaction: (fn) =>
      db.withTransaction(async (tx) => {
        const result = await fn(tx);
        const h = hold;
        if (h !== undefined) {
          hold = undefined;
          h.reached();
          await h.released;
        }
        return result;
      }),
  };
  return {
    db: wrapped,
    holdNext() {
      let reached = (): void => undefined;
      let release = (): void => undefined;
      const reachedP = new Promise<void>((r) => (reached = r));
      const released = new Promise<void>((r) => (release = r));
      hold = { reached, released };
      return { reached: reachedP, release };
    },
  };
}

describe('concurrent changes on real PostgreSQL', () => {
  let p: Platform;
  let gate: ReturnType<typeof holdable>;
  let owner: string;

  /** Until a request of this test's database waits on a lock (the racing change has reached it). */
  const waitingOnLock = async (): Promise<void> => {
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
      const r = await p.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (r.rows[0]!.n > 0) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('the racing request never waited on a lock');
  };

  beforeAll(async () => {
    p = await startPlatform(postgresTarget(), {
      deps: (deps) => {
        gate = holdable(deps.db);
        return { ...deps, db: gate.db };
      },
    });
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  it('publishes a ruleset holding both of two concurrent changes to different flags', async () => {
    for (const key of ['race-a', 'race-b']) {
      expect((await p.request('POST', `${DEMO}/flags`, { token: owner, body: flagBody(key) })).status).toBe(201);
    }
    const toggle = (key: string) =>
      p.request('POST', `${DEMO}/flags/${key}/environments/development/toggle`, { token: owner, body: { enabled: true }, headers: { 'If-Match': '"1"' } });

    // The first change has compiled its ruleset and holds the version lock, not yet committed…
    const held = gate.holdNext();
    const first = toggle('race-a');
    await held.reached;
    // …when the second one starts; it must compile from the definitions as they are once the first commits.
    const second = toggle('race-b');
    await waitingOnLock();
    held.release();
    const [a, b] = await Promise.all([first, second]);

    expect([a.status, b.status]).toEqual([200, 200]);
    const published = await p.request('GET', `${DEMO}/environments/development/ruleset`, { token: owner });
    expect(published.body.expectedVersion).toBe(published.body.published.version);
    const flags = published.body.published.ruleset.flags as Record<string, { on?: boolean }>;
    expect({ a: flags['race-a']?.on ?? true, b: flags['race-b']?.on ?? true }).toEqual({ a: true, b: true });
  });

  it('keeps an owner when two owners demote each other at the same time', async () => {
    const second = await p.request('POST', '/api/v1/users', { token: owner, body: { email: 'own2@example.com', name: 'Own Two', role: 'owner', password: 'a much longer passphrase 42' } });
    expect(second.status).toBe(201);
    const other = await p.login('own2@example.com', 'a much longer passphrase 42');
    const me = await p.request('GET', '/api/v1/me', { token: owner });
    const demote = (token: string, id: string, version: number) => p.request('PATCH', `/api/v1/users/${id}`, { token, body: { role: 'editor' }, headers: { 'If-Match': `"${version}"` } });

    const held = gate.holdNext();
    const first = demote(owner, second.body.user.id as string, second.body.user.version as number);
    await held.reached;
    const racing = demote(other, me.body.id as string, me.body.version as number);
    await waitingOnLock();
    held.release();
    const results = await Promise.all([first, racing]);

    const users = await p.db.query<{ role: string }>(`SELECT role FROM users WHERE disabled = false AND role = 'owner'`);
    expect(users.rows.length).toBe(1);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
  });
});
