import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseError } from '../../store/database.js';
import type { Database } from '../../store/database.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, signedInAs, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';
const HOUR = 3_600_000;

/**
 * SDK keys record their last use and rotate with an overlap: the new key works at once, the old
 * one until its expiry, on the SDK endpoints themselves (the key cache drops an expired key on
 * time, not a TTL later).
 */
describe('SDK key usage and rotation (pglite)', () => {
  let p: Platform;
  let owner = '';
  /** While true, every query fails as when the database is unreachable (a failover). */
  let databaseDown = false;

  beforeAll(async () => {
    const failing = (db: Database): Database =>
      new Proxy(db, {
        get(target, prop, receiver) {
          if (prop === 'query' && databaseDown) {
            return () => Promise.reject(new DatabaseError('57P01', 'terminating connection due to administrator command'));
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    // The SDK endpoints are mounted with an event sink; none of these tests sends events.
    p = await startPlatform(pgliteTarget(), { deps: (d) => ({ ...d, db: failing(d.db), events: { put: () => Promise.resolve() } }) });
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  const ruleset = async (key: string): Promise<number> => (await p.request('GET', '/sdk/v1/ruleset', { headers: { 'x-xp-sdk-key': key } })).status;
  const listed = async (id: string): Promise<Record<string, unknown>> => {
    const list = await p.request('GET', `${DEMO}/sdk-keys?environment=production`, { token: owner });
    return (list.body.items as Record<string, unknown>[]).find((k) => k.id === id)!;
  };
  /** The use is recorded without holding the SDK request: wait for its write. */
  const usedAt = async (id: string, want: string): Promise<unknown> => {
    for (let i = 0; i < 100; i++) {
      const k = await listed(id);
      if (k.lastUsedAt === want) {
        return k.lastUsedAt;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return (await listed(id)).lastUsedAt;
  };
  const newKey = async (name: string): Promise<{ key: string; id: string }> => {
    const created = await p.request('POST', `${DEMO}/sdk-keys`, { token: owner, body: { environment: 'production', kind: 'server', name } });
    expect(created.status).toBe(201);
    return { key: created.body.key as string, id: created.body.sdkKey.id as string };
  };

  it('records when a key was last used, at most once a minute', async () => {
    const { key, id } = await newKey('usage');
    expect(await listed(id)).toMatchObject({ lastUsedAt: null, expiresAt: null });

    const first = p.now.value.toISOString();
    expect(await ruleset(key)).toBe(200);
    expect(await usedAt(id, first)).toBe(first);

    // Past the key cache's 30 s the endpoints look the key up again: within the minute, no new write.
    p.now.value = new Date(p.now.value.getTime() + 31_000);
    expect(await ruleset(key)).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect((await listed(id)).lastUsedAt).toBe(first);

    p.now.value = new Date(p.now.value.getTime() + 60_000);
    const later = p.now.value.toISOString();
    expect(await ruleset(key)).toBe(200);
    expect(await usedAt(id, later)).toBe(later);
  });

  it('rotates a key: the new one works at once, the old one until its expiry, both named alike', async () => {
    const { key: oldKey, id } = await newKey('checkout service');
    expect(await ruleset(oldKey)).toBe(200);
    const rotatedAt = p.now.value.getTime();

    const rotated = await p.request('POST', `${DEMO}/sdk-keys/${id}/rotate`, { token: owner, body: { keepPreviousHours: 2 } });

    expect(rotated.status).toBe(201);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    expect(rotated.body.key).toMatch(/^xpk_srv_/);
    expect(rotated.body.sdkKey).toMatchObject({ environment: 'production', kind: 'server', name: 'checkout service', revokedAt: null, expiresAt: null });
    expect(rotated.body.previous).toMatchObject({ id, revokedAt: null, expiresAt: new Date(rotatedAt + 2 * HOUR).toISOString() });
    const newKeyValue = rotated.body.key as string;
    expect(await ruleset(newKeyValue)).toBe(200);
    expect(await ruleset(oldKey)).toBe(200);

    // Ten seconds before the expiry the old key still works, and the key cache takes it…
    p.now.value = new Date(rotatedAt + 2 * HOUR - 10_000);
    expect(await ruleset(oldKey)).toBe(200);
    // …which lets go of it at the expiry, not 30 s later.
    p.now.value = new Date(rotatedAt + 2 * HOUR + 1_000);
    const refused = await p.request('GET', '/sdk/v1/ruleset', { headers: { 'x-xp-sdk-key': oldKey } });
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toBe('the SDK key is unknown, revoked or expired');
    expect(await ruleset(newKeyValue)).toBe(200);

    // An expired key cannot be rotated again; the audit log tells the story.
    const again = await p.request('POST', `${DEMO}/sdk-keys/${id}/rotate`, { token: owner });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain('expired');
    const audit = await p.request('GET', '/api/v1/audit?limit=10', { token: owner });
    const entry = (audit.body.items as { action: string; resourceKey: string; diff: unknown }[]).find((e) => e.action === 'sdk-key.rotated' && e.resourceKey === id);
    expect(entry).toBeDefined();
    expect(JSON.stringify(entry!.diff)).toContain(new Date(rotatedAt + 2 * HOUR).toISOString());
    expect(JSON.stringify(entry!.diff)).toContain((rotated.body.sdkKey as { prefix: string }).prefix);
    expect(JSON.stringify(audit.body)).not.toContain(newKeyValue);
  });

  it('rotates with the default 24 hours, stops the old key at once with 0, and never lengthens an expiry', async () => {
    const a = await newKey('default');
    const t0 = p.now.value.getTime();
    const byDefault = await p.request('POST', `${DEMO}/sdk-keys/${a.id}/rotate`, { token: owner });
    expect(byDefault.status).toBe(201);
    expect(byDefault.body.previous.expiresAt).toBe(new Date(t0 + 24 * HOUR).toISOString());

    // Rotating the old key again (it still works) shortens its expiry; a longer one is not taken.
    const longer = await p.request('POST', `${DEMO}/sdk-keys/${a.id}/rotate`, { token: owner, body: { keepPreviousHours: 100 } });
    expect(longer.status).toBe(201);
    expect(longer.body.previous.expiresAt).toBe(new Date(t0 + 24 * HOUR).toISOString());

    const b = await newKey('leaked');
    expect(await ruleset(b.key)).toBe(200);
    const atOnce = await p.request('POST', `${DEMO}/sdk-keys/${b.id}/rotate`, { token: owner, body: { keepPreviousHours: 0 } });
    expect(atOnce.status).toBe(201);
    expect(await ruleset(b.key)).toBe(401);
    expect(await ruleset(atOnce.body.key as string)).toBe(200);
  });

  it('keeps an expired key refused while the database is down, when other known keys still work from the cache', async () => {
    const kept = await newKey('kept through the outage');
    const rotating = await newKey('rotated before the outage');
    const rotated = await p.request('POST', `${DEMO}/sdk-keys/${rotating.id}/rotate`, { token: owner, body: { keepPreviousHours: 1 } });
    expect(rotated.status).toBe(201);
    p.now.value = new Date(p.now.value.getTime() + HOUR - 5_000);
    expect(await ruleset(kept.key)).toBe(200);
    expect(await ruleset(rotating.key)).toBe(200);
    await new Promise((r) => setTimeout(r, 50));

    p.now.value = new Date(p.now.value.getTime() + 60_000);
    databaseDown = true;
    try {
      // Both cache entries are past their TTL and the lookups fail: the last known record answers
      // for a working key, never for one past its expiry.
      expect(await ruleset(kept.key)).toBe(200);
      expect(await ruleset(rotating.key)).toBe(401);
    } finally {
      databaseDown = false;
    }
  });

  it('refuses bad rotations with a clear error, and roles without sdk-keys:manage', async () => {
    const { id } = await newKey('guarded');
    const bad = await Promise.all(
      [{ keepPreviousHours: -1 }, { keepPreviousHours: 169 }, { keepPreviousHours: '24' }, { keepPreviousHours: 1.5 }, { expiresIn: 24 }, [1]].map((body) =>
        p.request('POST', `${DEMO}/sdk-keys/${id}/rotate`, { token: owner, body }),
      ),
    );
    expect(bad.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 400]);
    expect(bad[1]!.body.error.message).toContain('keepPreviousHours');
    const unknown = await p.request('POST', `${DEMO}/sdk-keys/no-such-key/rotate`, { token: owner });
    expect(unknown.status).toBe(404);

    const editor = await signedInAs(p, owner, 'editor', 'ed-rot@example.com');
    const byEditor = await p.request('POST', `${DEMO}/sdk-keys/${id}/rotate`, { token: editor });
    expect(byEditor.status).toBe(403);

    const revoked = await p.request('DELETE', `${DEMO}/sdk-keys/${id}`, { token: owner });
    expect(revoked.status).toBe(200);
    const afterRevoke = await p.request('POST', `${DEMO}/sdk-keys/${id}/rotate`, { token: owner });
    expect(afterRevoke.status).toBe(409);
    expect(afterRevoke.body.error.message).toContain('revoked');
    // Nothing was half-made by the refusals: one key of that name, revoked.
    const list = await p.request('GET', `${DEMO}/sdk-keys`, { token: owner });
    expect((list.body.items as { name: string }[]).filter((k) => k.name === 'guarded')).toHaveLength(1);
  });
});
