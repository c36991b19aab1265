import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SdkPlatform } from './sdk-fixture.js';
import { readStream, startSdkPlatform } from './sdk-fixture.js';

const LANDING = {
  key: 'landing',
  name: 'Landing page',
  type: 'split-url',
  variations: [
    { key: 'a', url: 'https://example.com/a?src=xp' },
    { key: 'b', url: 'https://example.com/b' },
  ],
};

describe('GET /r/{experimentKey}', () => {
  let s: SdkPlatform;
  let client: string;
  let server: string;

  beforeAll(async () => {
    s = await startSdkPlatform();
    client = s.p.boot.sdkKeys!.development!.client;
    server = s.p.boot.sdkKeys!.development!.server;
    const created = await s.p.request('POST', '/api/v1/projects/demo/experiments', { token: s.owner, body: LANDING });
    const started = await s.p.request('POST', '/api/v1/projects/demo/experiments/landing/start', { token: s.owner, headers: { 'If-Match': created.headers.get('etag')! } });
    const draft = await s.p.request('POST', '/api/v1/projects/demo/experiments', {
      token: s.owner,
      body: { ...LANDING, key: 'draft-landing', variations: [{ key: 'a', url: 'https://example.com/draft-a' }, { key: 'b', url: 'https://example.com/draft-b' }] },
    });
    const ab = await s.p.request('POST', '/api/v1/projects/demo/experiments', { token: s.owner, body: { key: 'plain-ab', name: 'Plain', variations: [{ key: 'a' }, { key: 'b' }] } });
    if (created.status !== 201 || started.status !== 200 || draft.status !== 201 || ab.status !== 201) {
      throw new Error(`setup failed: ${JSON.stringify([created.body, started.body, draft.body, ab.body])}`);
    }
  });
  afterAll(async () => {
    await s.close();
  });

  const visit = (path: string, headers: Record<string, string> = {}, base = 'http://localhost'): Promise<Response> =>
    Promise.resolve(s.p.app.request(`${base}${path}`, { headers }));
  const uidOf = (res: Response): string | undefined => /xp_uid=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];

  it("redirects a new visitor to their variation's URL with the query string kept (minus k), and sets the cookie", async () => {
    const res = await visit(`/r/landing?utm_source=mail&k=${client}&q=a%20b`);

    expect(res.status).toBe(302);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const location = new URL(res.headers.get('location')!);
    expect(['https://example.com/a', 'https://example.com/b']).toContain(`${location.origin}${location.pathname}`);
    expect(location.searchParams.get('utm_source')).toBe('mail');
    expect(location.searchParams.get('q')).toBe('a b');
    expect(location.searchParams.has('k')).toBe(false);
    expect(location.searchParams.get('src')).toBe(location.pathname === '/a' ? 'xp' : null);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^xp_uid=[A-Za-z0-9_-]{8,64};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax');
    expect(cookie).toContain('Max-Age=31536000');
    expect(cookie).not.toContain('Secure');
  });

  it("forwards the query string as it came, bytes that are not UTF-8 included, after the variation's own", async () => {
    const res = await visit(`/r/landing?name=Ren%E9e&k=${client}&plus=a%2Bb&space=a+b&flag`);
    const location = res.headers.get('location')!;

    expect(res.status).toBe(302);
    expect(location).toMatch(/\?(src=xp&)?name=Ren%E9e&plus=a%2Bb&space=a\+b&flag$/);
    expect(location).not.toContain(client);
  });

  it('sends the same visitor to the same URL every time and logs their exposure to Kinesis', async () => {
    const first = await visit(`/r/landing?k=${client}`);
    const uid = uidOf(first)!;

    const again = await Promise.all([1, 2, 3, 4].map(() => visit(`/r/landing?k=${client}`, { cookie: `xp_uid=${uid}` })));

    expect(again.map((r) => r.headers.get('location'))).toEqual(again.map(() => first.headers.get('location')));
    expect(again.map(uidOf)).toEqual(again.map(() => uid));
    const exposures = (await readStream(s.kinesis)).filter((r) => r.event.event.unitId === uid);
    expect(exposures).toHaveLength(5);
    const variation = new URL(first.headers.get('location')!).pathname.slice(1);
    expect(exposures[0]!.key).toBe(uid);
    expect(exposures[0]!.event.event).toMatchObject({ type: 'exposure', experiment: 'landing', variation, hashAttribute: 'id' });
  });

  it('answers HEAD (link previews, prefetchers) with the same redirect but no cookie and no exposure', async () => {
    const first = await visit(`/r/landing?k=${client}`);
    const uid = uidOf(first)!;
    const before = (await readStream(s.kinesis)).filter((r) => r.event.event.unitId === uid).length;

    const head = await Promise.resolve(s.p.app.request(`http://localhost/r/landing?k=${client}`, { method: 'HEAD', headers: { cookie: `xp_uid=${uid}` } }));
    const anonymous = await Promise.resolve(s.p.app.request(`http://localhost/r/landing?k=${client}`, { method: 'HEAD' }));

    expect(head.status).toBe(302);
    expect(head.headers.get('location')).toBe(first.headers.get('location'));
    expect([head.headers.get('set-cookie'), anonymous.headers.get('set-cookie')]).toEqual([null, null]);
    expect(anonymous.status).toBe(302);
    expect((await readStream(s.kinesis)).filter((r) => r.event.event.unitId === uid)).toHaveLength(before);
  });

  it('spreads visitors over both variations', async () => {
    const paths = new Set<string>();
    for (let i = 0; i < 40 && paths.size < 2; i++) {
      paths.add(new URL((await visit(`/r/landing?k=${client}`)).headers.get('location')!).pathname);
    }

    expect([...paths].sort()).toEqual(['/a', '/b']);
  });

  it('marks the cookie Secure on https', async () => {
    const res = await visit(`/r/landing?k=${client}`, {}, 'https://xp.example.com');

    expect(res.status).toBe(302);
    expect(res.headers.get('set-cookie')).toContain('Secure');
  });

  it('replaces a malformed cookie with a fresh id', async () => {
    const res = await visit(`/r/landing?k=${client}`, { cookie: 'xp_uid=<script>' });

    expect(uidOf(res)).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
  });

  it('rejects a server key in the URL with 400 without echoing it, and a server key in the header with 403', async () => {
    const inUrl = await visit(`/r/landing?k=${server}`);
    const inHeader = await visit('/r/landing', { 'X-XP-SDK-Key': server });
    const otherParam = await visit(`/r/landing?k=${client}&token=${server}`);

    expect(inUrl.status).toBe(400);
    const text = await inUrl.text();
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    expect(text).not.toContain(server);
    expect(inHeader.status).toBe(403);
    expect(otherParam.status).toBe(400);
    // The destination's own parameters named like keys (a sign-in link's token) pass through.
    const passed = await visit(`/r/landing?k=${client}&token=abc123&api_key=partner-7&key=x&access_token=t`);
    expect(passed.status).toBe(302);
    expect(passed.headers.get('location')).toContain('token=abc123&api_key=partner-7&key=x&access_token=t');
    const twice = await visit(`/r/landing?k=${client}&k=${client}`);
    expect([twice.status, ((await twice.json()) as { error: { message: string } }).error.message]).toEqual([400, 'give the client-side SDK key once (?k= appears more than once)']);
    // Beside a client key in the link, a server key in the header is still refused.
    const both = await visit(`/r/landing?k=${client}`, { 'X-XP-SDK-Key': server });
    expect(both.status).toBe(403);
    // A link cut short is a bad key (401), not a server key in the URL.
    for (const k of [client.slice(0, -3), 'xpk_cli_bogus', 'garbage', '']) {
      const cut = await visit(`/r/landing?k=${k}`);
      expect([k, cut.status, ((await cut.json()) as { error: { code: string } }).error.code]).toEqual([k, 401, 'UNAUTHENTICATED']);
    }
  });

  it('answers 401 without a key and 404 JSON for an unknown experiment', async () => {
    const noKey = await visit('/r/landing');
    const unknown = await visit(`/r/nope?k=${client}`);

    expect(noKey.status).toBe(401);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it("sends visitors of an experiment that stopped here to the released winner's URL or the first variation's; a draft or another environment's is 404", async () => {
    const create = async (key: string, extra: Record<string, unknown> = {}): Promise<string> => {
      const res = await s.p.request('POST', '/api/v1/projects/demo/experiments', { token: s.owner, body: { ...LANDING, key, ...extra } });
      const started = await s.p.request('POST', `/api/v1/projects/demo/experiments/${key}/start`, { token: s.owner, headers: { 'If-Match': res.headers.get('etag')! } });
      return started.headers.get('etag')!;
    };
    const stop = async (key: string, etag: string, body: Record<string, unknown>): Promise<void> => {
      const res = await s.p.request('POST', `/api/v1/projects/demo/experiments/${key}/stop`, { token: s.owner, body, headers: { 'If-Match': etag } });
      expect(res.status).toBe(200);
    };
    await stop('stopped-rollback', await create('stopped-rollback'), { decision: 'rollback' });
    await stop('stopped-shipped', await create('stopped-shipped'), { decision: 'ship', winner: 'b', releaseWinner: true });
    await stop('stopped-staging', await create('stopped-staging', { environments: ['staging'] }), { decision: 'rollback' });

    const rollback = await visit(`/r/stopped-rollback?k=${client}&x=1`);
    const shipped = await visit(`/r/stopped-shipped?k=${client}`);
    const elsewhere = await visit(`/r/stopped-staging?k=${client}`);
    const draft = await visit(`/r/draft-landing?k=${client}&x=1`);

    expect([rollback.status, rollback.headers.get('location')]).toEqual([302, 'https://example.com/a?src=xp&x=1']);
    expect([shipped.status, shipped.headers.get('location')]).toEqual([302, 'https://example.com/b']);
    expect(elsewhere.status).toBe(404);
    expect(draft.status).toBe(404);
    expect(rollback.headers.get('set-cookie')).toBeNull();
  });

  it("keeps the links of an archived stopped experiment working: archiving changes nothing visitors get", async () => {
    const created = await s.p.request('POST', '/api/v1/projects/demo/experiments', { token: s.owner, body: { ...LANDING, key: 'archived-landing' } });
    const started = await s.p.request('POST', '/api/v1/projects/demo/experiments/archived-landing/start', { token: s.owner, headers: { 'If-Match': created.headers.get('etag')! } });
    const stopped = await s.p.request('POST', '/api/v1/projects/demo/experiments/archived-landing/stop', { token: s.owner, body: { decision: 'rollback' }, headers: { 'If-Match': started.headers.get('etag')! } });
    const archived = await s.p.request('PUT', '/api/v1/projects/demo/experiments/archived-landing', { token: s.owner, body: { ...stopped.body.definition, archived: true }, headers: { 'If-Match': stopped.headers.get('etag')! } });
    expect([archived.status, archived.body.archived]).toEqual([200, true]);

    const res = await visit(`/r/archived-landing?k=${client}&x=1`);

    expect([res.status, res.headers.get('location')]).toEqual([302, 'https://example.com/a?src=xp&x=1']);
  });

  it('answers 503 with Retry-After, not a hang, when the database cannot say where a link that is not running goes', async () => {
    await visit(`/r/landing?k=${client}`); // the key is looked up (and cached) while the database answers
    s.faults.mode = 'stall';
    try {
      const res = await visit(`/r/not-in-the-ruleset?k=${client}`);
      expect([res.status, res.headers.get('retry-after')]).toEqual([503, '2']);
    } finally {
      s.faults.mode = 'none';
    }
  });

  it('answers 404 for a running experiment without URLs, without a cookie or an exposure', async () => {
    const created = await s.p.request('POST', '/api/v1/projects/demo/experiments', { token: s.owner, body: { key: 'running-ab', name: 'Running A/B', variations: [{ key: 'a' }, { key: 'b' }] } });
    const started = await s.p.request('POST', '/api/v1/projects/demo/experiments/running-ab/start', { token: s.owner, headers: { 'If-Match': created.headers.get('etag')! } });
    const flag = await s.p.request('POST', '/api/v1/projects/demo/flags', {
      token: s.owner,
      body: {
        key: 'running-ab-flag',
        name: 'Running A/B flag',
        type: 'boolean',
        variations: [{ key: 'a', value: false }, { key: 'b', value: true }],
        environments: { development: { enabled: true, defaultVariation: 'a', offVariation: 'a', rules: [{ id: 'exp', type: 'experiment', experiment: 'running-ab' }] } },
      },
    });
    expect([started.status, flag.status]).toEqual([200, 201]);

    const res = await visit(`/r/running-ab?k=${client}`);

    expect(res.status).toBe(404);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect((await readStream(s.kinesis)).filter((r) => r.event.event.type === 'exposure' && r.event.event.experiment === 'running-ab')).toEqual([]);
  });
});
