/**
 * Token lifetimes (migration 0043): a token minted with an access token never outlives it, an
 * organisation's token policy bounds and defaults new tokens' lifetimes, and token lists name who
 * minted each token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XpApiClient } from '@xp/shared';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, requestAs, signedInAs, startPlatform } from './harness.js';

const DAY = 86_400_000;

interface Minted {
  readonly token: string;
  readonly accessToken: { id: string; name: string; expiresAt: string | null; createdBy: { id: string; name: string } | null };
}

describe.each(TARGETS.map((t) => [t().name, t] as const))('token lifetimes (%s)', (_name, target) => {
  let p: Platform;
  let owner = '';
  let ownerId = '';
  let ownerName = '';
  let n = 0;

  const must = (token: string, method: string, path: string, body?: unknown): Promise<any> => mustAs(p, token, method, path, body);
  const inDays = (days: number): string => new Date(p.now.value.getTime() + days * DAY).toISOString();
  const account = async (role = 'editor'): Promise<string> => ((await must(owner, 'POST', '/api/v1/service-accounts', { name: `ci-${String(++n)}`, role })) as { id: string }).id;
  const issues = (res: { body: any }): string[] => ((res.body.error?.details?.issues ?? []) as { path: string }[]).map((i) => i.path);
  const POLICY = '/api/v1/organisation/token-policy';
  const version = async (): Promise<number> => ((await must(owner, 'GET', POLICY)) as { version: number }).version;
  /** PUTs the policy at the version the owner reads now (If-Match). */
  const policy = async (body: unknown) => requestAs(p, owner, 'PUT', POLICY, body, await version());
  const setPolicy = async (body: unknown): Promise<any> => mustAs(p, owner, 'PUT', POLICY, body, await version());
  const lifetimes = (read: { maxLifetimeDays: unknown; defaultLifetimeDays: unknown }) => ({ maxLifetimeDays: read.maxLifetimeDays, defaultLifetimeDays: read.defaultLifetimeDays });

  beforeAll(async () => {
    p = await startPlatform(target());
    owner = await p.login(OWNER.email, OWNER.password);
    const me = (await must(owner, 'GET', '/api/v1/me')) as { id: string; name: string };
    ownerId = me.id;
    ownerName = me.name;
  });
  afterAll(async () => {
    await p.close();
  });

  it("refuses a personal token minted with a token that would outlive it, naming expiresInDays and the minting token's expiry", async () => {
    const short = (await must(owner, 'POST', '/api/v1/me/tokens', { name: 'one day', expiresInDays: 1 })) as Minted;
    const count = async (): Promise<number> => ((await must(owner, 'GET', '/api/v1/me/tokens')) as { items: unknown[] }).items.length;
    const before = await count();

    const forever = await requestAs(p, short.token, 'POST', '/api/v1/me/tokens', { name: 'forever' });
    const longer = await requestAs(p, short.token, 'POST', '/api/v1/me/tokens', { name: 'a year', expiresInDays: 365 });
    const within = await requestAs(p, short.token, 'POST', '/api/v1/me/tokens', { name: 'a day', expiresInDays: 1 });

    for (const refused of [forever, longer]) {
      expect(refused.status).toBe(400);
      expect(issues(refused)).toEqual(['expiresInDays']);
      expect(refused.body.error.message).toContain('cannot outlive');
      expect(refused.body.error.message).toContain(short.accessToken.expiresAt);
      expect(refused.body.error.message).toContain('at most 1');
    }
    expect(within.status).toBe(201);
    expect(within.body.accessToken.expiresAt).toBe(short.accessToken.expiresAt);
    expect(await count()).toBe(before + 1);
  });

  it("refuses a service-account token that would outlive the personal token minting it: a leaked short-lived token mints nothing lasting", async () => {
    const short = (await must(owner, 'POST', '/api/v1/me/tokens', { name: 'ci for a day', expiresInDays: 1 })) as Minted;
    const id = await account('admin');

    const forever = await requestAs(p, short.token, 'POST', `/api/v1/service-accounts/${id}/tokens`, { name: 'forever' });
    const month = await requestAs(p, short.token, 'POST', `/api/v1/service-accounts/${id}/tokens`, { name: 'a month', expiresInDays: 30 });
    const day = await requestAs(p, short.token, 'POST', `/api/v1/service-accounts/${id}/tokens`, { name: 'a day', expiresInDays: 1 });
    const fromSession = (await must(owner, 'POST', `/api/v1/service-accounts/${id}/tokens`, { name: 'from a session' })) as Minted;

    for (const refused of [forever, month]) {
      expect(refused.status).toBe(400);
      expect(issues(refused)).toEqual(['expiresInDays']);
      expect(refused.body.error.message).toContain(short.accessToken.expiresAt);
    }
    expect(day.status).toBe(201);
    expect(day.body.accessToken.expiresAt).toBe(short.accessToken.expiresAt);
    expect(fromSession.accessToken.expiresAt).toBeNull();
    const names = ((await must(owner, 'GET', `/api/v1/service-accounts/${id}/tokens`)) as { items: { name: string }[] }).items.map((t) => t.name).sort();
    expect(names).toEqual(['a day', 'from a session']);
    p.now.value = new Date(p.now.value.getTime() + 2 * DAY);
    try {
      expect((await requestAs(p, day.body.token as string, 'GET', '/api/v1/me')).status).toBe(401);
    } finally {
      p.now.value = new Date(p.now.value.getTime() - 2 * DAY);
    }
  });

  it('says a token with less than a day left can mint nothing, and a session still can', async () => {
    const short = (await must(owner, 'POST', '/api/v1/me/tokens', { name: 'nearly done', expiresInDays: 1 })) as Minted;
    p.now.value = new Date(p.now.value.getTime() + 11 * 3_600_000);
    try {
      const res = await requestAs(p, short.token, 'POST', '/api/v1/me/tokens', { name: 'one more day', expiresInDays: 1 });
      const session = await requestAs(p, owner, 'POST', '/api/v1/me/tokens', { name: 'from the console', expiresInDays: 1 });

      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain('less than a day left');
      expect(session.status).toBe(201);
    } finally {
      p.now.value = new Date(p.now.value.getTime() - 11 * 3_600_000);
    }
  });

  it("lets owners set the token policy, which bounds and defaults new tokens' lifetimes and leaves existing ones as they are", async () => {
    const viewer = await signedInAs(p, owner, 'viewer', 'policy-viewer@example.com');
    const admin = await signedInAs(p, owner, 'admin', 'policy-admin@example.com');
    const id = await account();
    const old = (await must(owner, 'POST', '/api/v1/me/tokens', { name: 'from before the policy' })) as Minted;
    await must(owner, 'POST', `/api/v1/service-accounts/${id}/tokens`, { name: 'robot from before' });

    expect(lifetimes(await must(viewer, 'GET', POLICY))).toEqual({ maxLifetimeDays: null, defaultLifetimeDays: null });
    expect((await requestAs(p, admin, 'PUT', POLICY, { maxLifetimeDays: 30, defaultLifetimeDays: 7 }, await version())).status).toBe(403);
    const set = await policy({ maxLifetimeDays: 30, defaultLifetimeDays: 7 });

    expect(set.status).toBe(200);
    expect(set.body.maxLifetimeDays).toBe(30);
    expect(set.body.defaultLifetimeDays).toBe(7);
    // Every never-expiring live token minted above (and by the other tests) outlasts the maximum.
    const live = (await p.db.query<{ n: number }>('SELECT count(*)::int AS n FROM access_tokens WHERE revoked_at IS NULL AND expires_at IS NULL')).rows[0]!.n;
    expect(set.body.liveTokensExceedingMax).toBeGreaterThanOrEqual(2);
    expect(set.body.liveTokensExceedingMax).toBe(live);
    expect(lifetimes(await must(viewer, 'GET', POLICY))).toEqual({ maxLifetimeDays: 30, defaultLifetimeDays: 7 });

    const defaulted = (await must(owner, 'POST', '/api/v1/me/tokens', { name: 'defaulted' })) as Minted;
    const robot = (await must(owner, 'POST', `/api/v1/service-accounts/${id}/tokens`, { name: 'robot defaulted' })) as Minted;
    const atMax = (await must(owner, 'POST', '/api/v1/me/tokens', { name: 'thirty', expiresInDays: 30 })) as Minted;
    const tooLong = await requestAs(p, owner, 'POST', '/api/v1/me/tokens', { name: 'thirty-one', expiresInDays: 31 });
    const robotTooLong = await requestAs(p, owner, 'POST', `/api/v1/service-accounts/${id}/tokens`, { name: 'a year', expiresInDays: 365 });

    expect([defaulted.accessToken.expiresAt, robot.accessToken.expiresAt, atMax.accessToken.expiresAt]).toEqual([inDays(7), inDays(7), inDays(30)]);
    for (const refused of [tooLong, robotTooLong]) {
      expect(refused.status).toBe(400);
      expect(issues(refused)).toEqual(['expiresInDays']);
      expect(refused.body.error.message).toContain("token policy allows tokens of at most 30 days");
    }
    const mine = ((await must(owner, 'GET', '/api/v1/me/tokens')) as { items: { id: string; expiresAt: string | null; revokedAt: string | null }[] }).items;
    expect(mine.find((t) => t.id === old.accessToken.id)).toMatchObject({ expiresAt: null, revokedAt: null });
    expect((await requestAs(p, old.token, 'GET', '/api/v1/me')).status).toBe(200);

    // No default: the maximum. No maximum: the default.
    await setPolicy({ maxLifetimeDays: 5, defaultLifetimeDays: null });
    expect(((await must(owner, 'POST', '/api/v1/me/tokens', { name: 'max' })) as Minted).accessToken.expiresAt).toBe(inDays(5));
    await setPolicy({ maxLifetimeDays: null, defaultLifetimeDays: 10 });
    expect(((await must(owner, 'POST', '/api/v1/me/tokens', { name: 'default' })) as Minted).accessToken.expiresAt).toBe(inDays(10));
    expect(((await must(owner, 'POST', '/api/v1/me/tokens', { name: 'long', expiresInDays: 3650 })) as Minted).accessToken.expiresAt).toBe(inDays(3650));
    await setPolicy({ maxLifetimeDays: null, defaultLifetimeDays: null });
    expect(((await must(owner, 'POST', '/api/v1/me/tokens', { name: 'unbounded again' })) as Minted).accessToken.expiresAt).toBeNull();
  });

  it('refuses a default above the maximum, and audits a change once as an organisation action', async () => {
    const wrong = await policy({ maxLifetimeDays: 7, defaultLifetimeDays: 8 });
    expect(wrong.status).toBe(400);
    expect(issues(wrong)).toEqual(['body.defaultLifetimeDays']);
    expect(lifetimes(await must(owner, 'GET', POLICY))).toEqual({ maxLifetimeDays: null, defaultLifetimeDays: null });

    await setPolicy({ maxLifetimeDays: 90, defaultLifetimeDays: 30 });
    await setPolicy({ maxLifetimeDays: 90, defaultLifetimeDays: 30 });
    const entries = ((await must(owner, 'GET', '/api/v1/audit?action=organization.token-policy-updated&limit=200')) as { items: { projectId: string | null; resourceType: string; actorId: string; diff: { path: string; to?: unknown }[] }[] }).items;
    const last = entries[0]!;

    expect(last).toMatchObject({ projectId: null, resourceType: 'organization', actorId: ownerId });
    expect(last.diff).toEqual(expect.arrayContaining([expect.objectContaining({ path: '/maxLifetimeDays', to: 90 }), expect.objectContaining({ path: '/defaultLifetimeDays', to: 30 })]));
    // The second, unchanged PUT is not recorded: the entry before this one is another change.
    expect(entries.filter((e) => JSON.stringify(e.diff).includes('"to":90')).length).toBe(1);
    await setPolicy({ maxLifetimeDays: null, defaultLifetimeDays: null });
  });

  it("versions the policy: a PUT needs the version read (428 without), another owner's change since is 409, and only a change makes a new version", async () => {
    // Another console session stands for another owner: versions do not depend on who sends them.
    const other = await p.login(OWNER.email, OWNER.password);
    const read = await requestAs(p, owner, 'GET', POLICY);
    const v = read.body.version as number;
    expect(read.headers.get('etag')).toBe(`"${String(v)}"`);
    const auditCount = async (): Promise<number> => (await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log WHERE action = 'organization.token-policy-updated'")).rows[0]!.n;
    const audited = await auditCount();

    const without = await requestAs(p, owner, 'PUT', POLICY, { maxLifetimeDays: 30, defaultLifetimeDays: null });
    expect(without.status).toBe(428);
    expect(without.body.error.code).toBe('PRECONDITION_REQUIRED');

    // The other owner saves first: the first owner's version is stale, even for a PUT that would change nothing.
    const first = await requestAs(p, other, 'PUT', POLICY, { maxLifetimeDays: 60, defaultLifetimeDays: 20 }, v);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ maxLifetimeDays: 60, defaultLifetimeDays: 20, version: v + 1 });
    expect(first.headers.get('etag')).toBe(`"${String(v + 1)}"`);
    for (const body of [{ maxLifetimeDays: 30, defaultLifetimeDays: null }, { maxLifetimeDays: 60, defaultLifetimeDays: 20 }]) {
      const stale = await requestAs(p, owner, 'PUT', POLICY, body, v);
      expect(stale.status).toBe(409);
      expect(stale.body.error).toEqual({ code: 'VERSION_CONFLICT', message: `the token policy was changed by someone else (version ${String(v + 1)}, you sent ${String(v)})`, details: { currentVersion: v + 1 } });
    }
    const future = await requestAs(p, owner, 'PUT', POLICY, { maxLifetimeDays: 30, defaultLifetimeDays: null }, v + 5);
    expect(future.status).toBe(409);
    expect(future.body.error.details).toEqual({ currentVersion: v + 1 });
    expect(lifetimes(await must(owner, 'GET', POLICY))).toEqual({ maxLifetimeDays: 60, defaultLifetimeDays: 20 });

    // Unchanged: the same version, no audit entry. A change: the next version.
    const same = await requestAs(p, owner, 'PUT', POLICY, { maxLifetimeDays: 60, defaultLifetimeDays: 20 }, v + 1);
    expect(same.status).toBe(200);
    expect(same.body.version).toBe(v + 1);
    expect(same.headers.get('etag')).toBe(`"${String(v + 1)}"`);
    const reset = await requestAs(p, owner, 'PUT', POLICY, { maxLifetimeDays: null, defaultLifetimeDays: null }, v + 1);
    expect(reset.status).toBe(200);
    expect(reset.body).toEqual({ maxLifetimeDays: null, defaultLifetimeDays: null, version: v + 2, liveTokensExceedingMax: 0 });
    expect(await auditCount()).toBe(audited + 2);

    // The audit entry records the lifetimes as before, never the version.
    const entry = (await p.db.query<{ diff: { path: string }[] }>("SELECT diff FROM audit_log WHERE action = 'organization.token-policy-updated' ORDER BY id DESC LIMIT 1")).rows[0]!;
    expect(entry.diff.map((d) => d.path).sort()).toEqual(['/defaultLifetimeDays', '/liveTokensExceedingMax', '/maxLifetimeDays']);
  });

  it("reads and sets the policy through the shared API client, whose token lists name the minter", async () => {
    const client = new XpApiClient({ apiUrl: 'http://platform.test', token: owner, fetch: (input, init) => Promise.resolve(p.app.request(input instanceof Request ? input : input.toString(), init)) });

    const before = await client.tokenPolicy();
    const set = await client.setTokenPolicy({ maxLifetimeDays: 60, defaultLifetimeDays: 14 }, before.version!);
    const read = await client.tokenPolicy();
    const minted = await client.createAccessToken({ name: 'through the client' });
    const listed = (await client.accessTokens()).find((t) => t.id === minted.accessToken.id);
    await client.setTokenPolicy({ maxLifetimeDays: null, defaultLifetimeDays: null }, read.version!);

    expect(set).toMatchObject({ maxLifetimeDays: 60, defaultLifetimeDays: 14, version: before.version! + 1 });
    expect(typeof set.liveTokensExceedingMax).toBe('number');
    expect(read).toEqual({ maxLifetimeDays: 60, defaultLifetimeDays: 14, version: before.version! + 1 });
    expect(minted.accessToken.expiresAt).toBe(inDays(14));
    expect(listed?.createdBy).toEqual({ id: ownerId, name: ownerName });
  });

  it('names who minted each token: the person, the administrator, or a service account', async () => {
    const adminEmail = 'minter-admin@example.com';
    const admin = await signedInAs(p, owner, 'admin', adminEmail);
    const adminMe = (await must(admin, 'GET', '/api/v1/me')) as { id: string; name: string };
    const mine = (await must(owner, 'POST', '/api/v1/me/tokens', { name: 'mine' })) as Minted;
    const robot = await account('admin');
    const robotName = `ci-${String(n)}`;
    const robotToken = (await must(owner, 'POST', `/api/v1/service-accounts/${robot}/tokens`, { name: 'robot admin' })) as Minted;
    const target = await account('viewer');
    await must(admin, 'POST', `/api/v1/service-accounts/${target}/tokens`, { name: 'by the admin' });
    await must(robotToken.token, 'POST', `/api/v1/service-accounts/${target}/tokens`, { name: 'by a robot' });

    const own = ((await must(owner, 'GET', '/api/v1/me/tokens')) as { items: Minted['accessToken'][] }).items;
    const robots = ((await must(owner, 'GET', `/api/v1/service-accounts/${target}/tokens`)) as { items: Minted['accessToken'][] }).items;

    expect(mine.accessToken.createdBy).toEqual({ id: ownerId, name: ownerName });
    expect(own.find((t) => t.id === mine.accessToken.id)?.createdBy).toEqual({ id: ownerId, name: ownerName });
    expect(Object.fromEntries(robots.map((t) => [t.name, t.createdBy]))).toEqual({
      'by the admin': { id: adminMe.id, name: adminMe.name },
      'by a robot': { id: robot, name: `${robotName} (service account)` },
    });
  });
});
