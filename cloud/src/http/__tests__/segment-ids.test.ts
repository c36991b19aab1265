/**
 * `POST …/segments/{key}/ids`: an id-list segment grown or shrunk without sending it whole (a
 * PostHog user's finding: a 700,000-id list was refused 413 with nothing to do, and one opt-in meant
 * reading the list and PUTting it back, retrying on 409). Applied to the stored list under its lock,
 * held to what a PUT is (1,000,000 ids, the ruleset size, protected environments), audited alike.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XpApiClient, evaluateFlag } from '@xp/shared';
import { pgliteTarget, postgresTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, signedInAs, startPlatform } from './harness.js';

const BASE = '/api/v1/projects/demo';
const MB = 1024 * 1024;

async function must(p: Platform, token: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await p.request(method, path, { token, ...(body === undefined ? {} : { body }) });
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`setup ${method} ${path} failed: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  }
  return res.body;
}

const idsOf = async (p: Platform, token: string, key: string): Promise<{ version: number; values: unknown[] }> => {
  const got = await must(p, token, 'GET', `${BASE}/segments/${key}`);
  return { version: got.version as number, values: got.definition.values as unknown[] };
};

describe('adding and removing ids of a segment (pglite)', () => {
  let p: Platform;
  let owner = '';
  let viewer = '';
  let editor = '';

  const change = (key: string, body: unknown, headers: Record<string, string> = {}, token = owner): ReturnType<Platform['request']> =>
    p.request('POST', `${BASE}/segments/${key}/ids`, { token, body, headers });

  beforeAll(async () => {
    // Bodies up to 16 MB: a segment of almost 1,000,000 ids is created in one request. An event
    // sink: the SDK routes (the ruleset the SDKs download) are served with one.
    p = await startPlatform(pgliteTarget(), { app: { maxBodyBytes: 16 * MB }, deps: (d) => ({ ...d, events: { put: () => Promise.resolve() } }) });
    owner = await p.login(OWNER.email, OWNER.password);
    viewer = await signedInAs(p, owner, 'viewer', 'ids-viewer@example.com');
    editor = await signedInAs(p, owner, 'editor', 'ids-editor@example.com');
  }, 60_000);
  afterAll(async () => {
    await p.close();
  });

  it('adds and removes ids, counting what changed, and answers the segment with its new version', async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'early-access', name: 'Early access', type: 'ids', values: ['u1', 'u2', 'u3'] });

    const res = await change('early-access', { add: ['u4', 'u5'], remove: ['u2'] });

    expect(res.status).toBe(200);
    expect([res.body.added, res.body.removed]).toEqual([2, 1]);
    expect(res.body.segment.version).toBe(2);
    expect(res.headers.get('etag')).toBe('"2"');
    expect(res.body.segment.definition.values).toEqual(['u1', 'u3', 'u4', 'u5']);
    expect(await idsOf(p, owner, 'early-access')).toEqual({ version: 2, values: ['u1', 'u3', 'u4', 'u5'] });
    // Audited (and so sent to webhooks) as an update, with the list before and after.
    const audit = (await p.db.query<{ action: string }>("SELECT action FROM audit_log WHERE resource_type = 'segment' AND resource_key = 'early-access' ORDER BY id")).rows.map((r) => r.action);
    expect(audit).toEqual(['segment.created', 'segment.updated']);
  });

  it('audits one id added to a long list as that id, not as the list before and after', async () => {
    const values = Array.from({ length: 2_000 }, (_, i) => `cust-${i}`);
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'long-list', name: 'Long list', type: 'ids', values });

    expect((await change('long-list', { add: ['cust-new'], remove: ['cust-5'] })).status).toBe(200);

    const { rows } = await p.db.query<{ diff: unknown }>("SELECT diff FROM audit_log WHERE resource_type = 'segment' AND resource_key = 'long-list' AND action = 'segment.updated'");
    expect(rows.map((r) => r.diff)).toEqual([
      [
        { op: 'remove', path: '/values/5', from: 'cust-5' },
        { op: 'add', path: '/values/1999', to: 'cust-new' },
      ],
    ]);
  });

  it('is idempotent: an id already there, or one absent, changes nothing and writes no version', async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'idem', name: 'Idem', type: 'ids', values: ['a', 7] });

    const again = await change('idem', { add: ['a', 'a', 7], remove: ['zz', '7'] });

    expect(again.status).toBe(200);
    expect([again.body.added, again.body.removed, again.body.segment.version]).toEqual([0, 0, 1]);
    expect(await idsOf(p, owner, 'idem')).toEqual({ version: 1, values: ['a', 7] });
    // A number and its digits as a string are different values, as a PUT stores them.
    const string7 = await change('idem', { add: ['7'] });
    expect([string7.body.added, string7.body.segment.definition.values]).toEqual([1, ['a', 7, '7']]);
    // Removing an id the list holds twice (a PUT may store duplicates) removes both, counted once.
    const put = await p.request('PUT', `${BASE}/segments/idem`, { token: owner, body: { key: 'idem', name: 'Idem', type: 'ids', values: ['a', 'b', 'a'] }, headers: { 'If-Match': '"2"' } });
    expect(put.status).toBe(200);
    const twice = await p.request('POST', `${BASE}/segments/idem/ids`, { token: owner, body: { remove: ['a'] } });
    expect([twice.body.removed, twice.body.segment.definition.values]).toEqual([1, ['b']]);
  });

  it("is the API client's changeSegmentIds", async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'from-client', name: 'From the client', type: 'ids', values: ['a'] });
    const client = new XpApiClient({ apiUrl: 'http://platform.test', token: owner, fetch: (input, init) => Promise.resolve(p.app.request(input instanceof Request ? input : input.toString(), init)) });

    const changed = await client.changeSegmentIds('demo', 'from-client', { add: ['b'], remove: ['a'] });
    const stale = client.changeSegmentIds('demo', 'from-client', { add: ['c'] }, { version: 1 });

    expect([changed.added, changed.removed, changed.segment.version, changed.segment.definition]).toMatchObject([1, 1, 2, { values: ['b'] }]);
    await expect(stale).rejects.toMatchObject({ status: 409 });
  });

  it('honours an If-Match when one is sent, and needs none', async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'matched', name: 'Matched', type: 'ids', values: ['a'] });

    const stale = await change('matched', { add: ['b'] }, { 'If-Match': '"7"' });
    const malformed = await change('matched', { add: ['b'] }, { 'If-Match': '7' });
    const current = await change('matched', { add: ['b'] }, { 'If-Match': '"1"' });

    expect([stale.status, stale.body.error.code]).toEqual([409, 'VERSION_CONFLICT']);
    expect([malformed.status, malformed.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect([current.status, current.body.segment.version]).toEqual([200, 2]);
  });

  it('refuses bad input with the field named, and changes nothing', async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'strict', name: 'Strict', type: 'ids', values: ['a'] });
    const cases: [unknown, string, RegExp][] = [
      [{}, 'body.add', /at least one id/],
      [{ add: [], remove: [] }, 'body.add', /at least one id/],
      [{ add: ['x'], remove: ['y', 'x'] }, 'body.remove[1]', /both added and removed/],
      [{ add: ['x'.repeat(513)] }, 'body.add[0]', /./],
      [{ add: Array.from({ length: 100_001 }, (_, i) => i) }, 'body.add', /at most 100,000 ids per request/],
      [{ remove: [true] }, 'body.remove[0]', /./],
    ];
    const seen: [number, string][] = [];
    for (const [body, path] of cases) {
      const res = await change('strict', body);
      const issue = (res.body.error?.details?.issues as { path: string; message: string }[] | undefined)?.find((i) => i.path === path);
      seen.push([res.status, issue?.message ?? `no issue at ${path}: ${JSON.stringify(res.body).slice(0, 300)}`]);
    }
    expect(seen).toEqual(cases.map(([, , message]) => [400, expect.stringMatching(message)]));
    expect(await idsOf(p, owner, 'strict')).toEqual({ version: 1, values: ['a'] });
    expect((await change('no-such-segment', { add: ['a'] })).status).toBe(404);
  });

  it('is described in the OpenAPI document: its body, its limits and the segment it answers', async () => {
    const doc = await p.request('GET', '/openapi.json');

    const op = doc.body.paths['/api/v1/projects/{project}/segments/{key}/ids'].post;
    expect(op.tags).toEqual(['Segments']);
    expect(op.description).toContain('at most 100,000 ids');
    expect(op.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/SegmentIdsChangeInput');
    const body = doc.body.components.schemas.SegmentIdsChangeInput;
    expect([Object.keys(body.properties), body.properties.add.maxItems, body.additionalProperties]).toEqual([['add', 'remove'], 100_000, false]);
    expect(op.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/SegmentIdsChanged');
    expect(doc.body.components.schemas.SegmentIdsChanged.properties.segment.$ref).toBe('#/components/schemas/StoredSegment');
  });

  it('refuses a condition segment, saying to edit its condition', async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'pro-plan', name: 'Pro', type: 'condition', condition: { plan: 'pro' } });

    const res = await change('pro-plan', { add: ['u1'] });

    expect([res.status, res.body.error.code]).toEqual([409, 'INVALID_STATE']);
    expect(res.body.error.message).toBe('segment "pro-plan" is a condition segment, which has no id list: change its condition with PUT /api/v1/projects/demo/segments/pro-plan');
  });

  it('refuses a viewer (403), as a PUT does', async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'viewed', name: 'Viewed', type: 'ids', values: ['a'] });

    const res = await change('viewed', { add: ['b'] }, {}, viewer);

    expect([res.status, res.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect(await idsOf(p, owner, 'viewed')).toEqual({ version: 1, values: ['a'] });
  });

  it("refuses an editor's change to a segment a protected environment's flag uses, as a PUT, and lets an admin make it", async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'prod-vips', name: 'VIPs', type: 'ids', values: ['a'] });
    await must(p, owner, 'POST', `${BASE}/flags`, booleanFlagBody('vip-banner', { production: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'vips', type: 'force', variation: 'on', segments: ['prod-vips'] }] } }));

    const put = await p.request('PUT', `${BASE}/segments/prod-vips`, { token: editor, body: { key: 'prod-vips', name: 'VIPs', type: 'ids', values: ['a', 'b'] }, headers: { 'If-Match': '"1"' } });
    const ids = await change('prod-vips', { add: ['b'] }, {}, editor);
    const byOwner = await change('prod-vips', { add: ['b'] });

    expect([put.status, put.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
    expect([ids.status, ids.body.error.code, ids.body.error.details]).toEqual([403, 'APPROVAL_REQUIRED', { environments: ['production'] }]);
    expect([byOwner.status, byOwner.body.segment.definition.values]).toEqual([200, ['a', 'b']]);
  });

  it('republishes the ruleset the SDKs download: an added id is matched, a removed one no longer', async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'beta-testers', name: 'Beta testers', type: 'ids', values: ['u1'] });
    await must(p, owner, 'POST', `${BASE}/flags`, booleanFlagBody('beta-banner', { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'beta', type: 'force', variation: 'on', segments: ['beta-testers'] }] } }));
    const served = async (unit: string): Promise<unknown> => {
      const res = await p.request('GET', '/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': p.boot.sdkKeys!.development!.server } });
      expect(res.status).toBe(200);
      return evaluateFlag(res.body, 'beta-banner', { attributes: { id: unit } }).value;
    };
    expect([await served('u1'), await served('u2')]).toEqual([true, false]);

    await must(p, owner, 'POST', `${BASE}/segments/beta-testers/ids`, { add: ['u2'], remove: ['u1'] });
    // Past the SDK routes' ruleset cache (5 s), as an SDK polling next would be.
    p.now.value = new Date(p.now.value.getTime() + 10_000);

    expect([await served('u1'), await served('u2')]).toEqual([false, true]);
  });

  it('refuses a change that would make a flag\'s ruleset too large to publish, as a PUT, and saves nothing', async () => {
    // 20,000 random ids fit; 50,000 more make the ruleset over 400 KB after compression.
    const random = (n: number): string[] => Array.from({ length: n }, () => randomBytes(8).toString('hex'));
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'big-list', name: 'Big list', type: 'ids', values: random(20_000) });
    await must(p, owner, 'POST', `${BASE}/flags`, booleanFlagBody('big-banner', { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'big', type: 'force', variation: 'on', segments: ['big-list'] }] } }));
    const published = async (): Promise<number> => (await must(p, owner, 'GET', `${BASE}/environments/development/ruleset`)).published.version as number;
    const version = await published();

    const res = await change('big-list', { add: random(50_000) });

    expect([res.status, res.body.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(res.body.error.message).toMatch(/^the change would make environment "development"'s ruleset [\d,]+ bytes after compression, over the 409,600 bytes a ruleset can have: nothing was changed/);
    expect((await idsOf(p, owner, 'big-list')).version).toBe(1);
    expect(await published()).toBe(version);
  }, 60_000);

  it('holds the list to 1,000,000 ids: reached, not passed', async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'million', name: 'Million', type: 'ids', values: Array.from({ length: 999_999 }, (_, i) => i) });

    const over = await change('million', { add: ['a', 'b'] });
    const full = await change('million', { add: ['a'] });
    const past = await change('million', { add: ['b'], remove: [] });

    expect([over.status, over.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(over.body.error.message).toBe('segment "million" would have 1,000,001 ids, over the 1,000,000 a segment can have: nothing was changed; remove ids first, or split the list into two segments');
    expect([full.status, full.body.added, full.body.segment.definition.values.length]).toEqual([200, 1, 1_000_000]);
    expect([past.status, past.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
  }, 180_000);
});

describe('concurrent additions (postgres)', () => {
  let p: Platform;
  let owner = '';

  beforeAll(async () => {
    p = await startPlatform(postgresTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  }, 60_000);
  afterAll(async () => {
    await p.close();
  });

  it('keeps every one of 100 single-id additions sent at once, without If-Match', async () => {
    await must(p, owner, 'POST', `${BASE}/segments`, { key: 'opt-ins', name: 'Opt-ins', type: 'ids', values: [] });
    const units = Array.from({ length: 100 }, (_, i) => `user-${i}`);

    const answers = await Promise.all(units.map((u) => p.request('POST', `${BASE}/segments/opt-ins/ids`, { token: owner, body: { add: [u] } })));

    expect(answers.map((a) => a.status).filter((s) => s !== 200)).toEqual([]);
    expect(answers.every((a) => a.body.added === 1)).toBe(true);
    const stored = await idsOf(p, owner, 'opt-ins');
    expect(stored.version).toBe(101);
    expect([...stored.values].sort()).toEqual([...units].sort());
  }, 120_000);
});

describe('a body over the limit (pglite)', () => {
  let p: Platform;
  let owner = '';

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  }, 60_000);
  afterAll(async () => {
    await p.close();
  });

  it('names the limit and, for a segment, the route that takes a list in parts', async () => {
    // The harness's limit is 256 KB.
    const values = Array.from({ length: 30_000 }, (_, i) => `cust-${String(i).padStart(7, '0')}`);
    const raw = JSON.stringify({ key: 'static', name: 'Static', type: 'ids', values });

    const declared = await p.request('POST', `${BASE}/segments`, { token: owner, raw, headers: { 'content-length': String(raw.length) } });
    const streamed = await p.request('PUT', `${BASE}/segments/static`, { token: owner, raw, headers: { 'If-Match': '"1"' } });
    const flag = await p.request('POST', `${BASE}/flags`, { token: owner, raw: JSON.stringify({ ...booleanFlagBody('f'), description: 'x'.repeat(300_000) }) });

    expect([declared.status, declared.body.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(declared.body.error.message).toBe(
      `the request body is ${raw.length.toLocaleString('en-US')} bytes; this route takes at most 256 KB (262,144 bytes): send a long id list in parts: create (or replace) the segment with part of it, then add the rest with POST /api/v1/projects/{project}/segments/{key}/ids and {"add": [...]}, at most 100,000 ids a request`,
    );
    expect(streamed.status).toBe(413);
    expect(streamed.body.error.message).toMatch(/^the request body passed 262,144 bytes; this route takes at most 256 KB \(262,144 bytes\): send a long id list in parts: .*\/ids/);
    expect(flag.status).toBe(413);
    expect(flag.body.error.message).toMatch(/^the request body passed 262,144 bytes; this route takes at most 256 KB \(262,144 bytes\): split the request into smaller ones, or send less$/);
  });
});
