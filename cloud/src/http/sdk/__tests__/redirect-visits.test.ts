/**
 * GET /r/{experimentKey} as browsers, crawlers and proxies reach it: sticky bucketing for returning
 * visitors, the referrer the landing page sees, prefetches and bots (no units), the public scheme
 * behind a TLS proxy, and errors no cache keeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExposureEvent } from '@xp/shared';
import { InMemoryStickyAssignmentStore } from '../../../store/sticky-buckets.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { readStream, startSdkPlatform } from './sdk-fixture.js';

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

const splitUrl = (key: string, extra: Record<string, unknown> = {}, weights: readonly [number, number] = [0.5, 0.5]): Record<string, unknown> => ({
  key,
  name: key,
  type: 'split-url',
  variations: [
    { key: 'a', url: `https://example.com/${key}/a`, weight: weights[0] },
    { key: 'b', url: `https://example.com/${key}/b`, weight: weights[1] },
  ],
  ...extra,
});

describe('GET /r/{experimentKey}: returning visitors, prefetches, bots and proxies', () => {
  let s: SdkPlatform;
  let client: string;
  let visitors = 0;
  const sticky = new InMemoryStickyAssignmentStore();

  const start = async (body: Record<string, unknown>): Promise<void> => {
    const created = await s.p.request('POST', '/api/v1/projects/demo/experiments', { token: s.owner, body });
    const started = await s.p.request('POST', `/api/v1/projects/demo/experiments/${String(body.key)}/start`, { token: s.owner, headers: { 'If-Match': created.headers.get('etag') ?? '' } });
    if (created.status !== 201 || started.status !== 200) {
      throw new Error(`setup failed: ${JSON.stringify([created.body, started.body])}`);
    }
  };

  beforeAll(async () => {
    s = await startSdkPlatform({ sticky });
    client = s.p.boot.sdkKeys!.development!.client;
    await start(splitUrl('sticky-landing', { stickyBucketing: { enabled: true } }));
    await start(splitUrl('plain-landing'));
    // Everyone the condition lets in goes to /b, everyone else to the control's /a.
    await start(splitUrl('https-only', { condition: { url: { $regex: '^https://' } } }, [0, 1]));
  });
  afterAll(async () => {
    await s.close();
  });

  const newUid = (): string => `visitor-${++visitors}-${Date.now()}`;
  const visit = (path: string, headers: Record<string, string> = {}, base = 'http://localhost'): Promise<Response> => Promise.resolve(s.p.app.request(`${base}${path}`, { headers }));
  const exposuresOf = async (uid: string): Promise<ExposureEvent[]> =>
    (await readStream(s.kinesis)).map((r) => r.event.event).filter((e): e is ExposureEvent => e.type === 'exposure' && e.unitId === uid);

  it('sends returning visitors of a sticky experiment where they went first after its weights move from 50/50 to 10/90', async () => {
    const uids = Array.from({ length: 80 }, newUid);
    const first = new Map<string, string | null>();
    for (const uid of uids) {
      first.set(uid, (await visit(`/r/sticky-landing?k=${client}`, { cookie: `xp_uid=${uid}`, 'user-agent': CHROME })).headers.get('location'));
    }
    const current = await s.p.request('GET', '/api/v1/projects/demo/experiments/sticky-landing', { token: s.owner });
    const changed = await s.p.request('PUT', '/api/v1/projects/demo/experiments/sticky-landing', {
      token: s.owner,
      headers: { 'If-Match': current.headers.get('etag')! },
      body: { ...current.body.definition, variations: splitUrl('sticky-landing', {}, [0.1, 0.9]).variations },
    });
    expect(changed.status).toBe(200);

    const moved: string[] = [];
    for (const uid of uids) {
      const again = await visit(`/r/sticky-landing?k=${client}`, { cookie: `xp_uid=${uid}`, 'user-agent': CHROME });
      if (again.headers.get('location') !== first.get(uid)) {
        moved.push(uid);
      }
    }
    // New visitors follow the new weights, so the change is served.
    let toB = 0;
    for (let i = 0; i < 40; i++) {
      toB += (await visit(`/r/sticky-landing?k=${client}`, { 'user-agent': CHROME })).headers.get('location')?.endsWith('/b') === true ? 1 : 0;
    }

    expect(new Set(first.values()).size).toBe(2);
    expect(moved).toEqual([]);
    expect(toB).toBeGreaterThanOrEqual(30);
    const [exposure] = (await exposuresOf(uids[0]!)).slice(-1);
    expect(exposure?.variation).toBe(new URL(first.get(uids[0]!)!).pathname.split('/').pop());
  });

  it('sends no Referrer-Policy with the redirect, so the landing page sees the linking page; other answers keep no-referrer', async () => {
    const redirect = await visit(`/r/plain-landing?k=${client}`);
    const notFound = await visit(`/r/nope?k=${client}`);
    const ruleset = await visit('/sdk/v1/ruleset', { 'X-XP-SDK-Key': client });
    const health = await visit('/healthz');

    expect(redirect.status).toBe(302);
    expect([redirect.headers.get('referrer-policy'), notFound.headers.get('referrer-policy')]).toEqual([null, null]);
    expect([ruleset.headers.get('referrer-policy'), health.headers.get('referrer-policy')]).toEqual(['no-referrer', 'no-referrer']);
  });

  it('declines a browser prefetch with a 503 no cache keeps, setting no cookie and logging no exposure, so the real click is counted once', async () => {
    const uid = newUid();
    const prefetches = await Promise.all(
      [{ 'sec-purpose': 'prefetch' }, { 'sec-purpose': 'prefetch;prerender' }, { purpose: 'prefetch' }, { 'x-moz': 'prefetch' }, { 'x-purpose': 'preview' }].map((h) =>
        visit(`/r/plain-landing?k=${client}`, { ...h, cookie: `xp_uid=${uid}`, 'user-agent': CHROME }),
      ),
    );
    const anonymous = await visit(`/r/plain-landing?k=${client}`, { 'sec-purpose': 'prefetch', 'user-agent': CHROME });

    for (const res of [...prefetches, anonymous]) {
      expect([res.status, res.headers.get('cache-control'), res.headers.get('set-cookie'), res.headers.get('location')]).toEqual([503, 'no-store', null, null]);
    }
    expect(await exposuresOf(uid)).toEqual([]);
    const click = await visit(`/r/plain-landing?k=${client}`, { cookie: `xp_uid=${uid}`, 'user-agent': CHROME });
    expect(click.status).toBe(302);
    expect(await exposuresOf(uid)).toHaveLength(1);
  });

  it('redirects a bot that says so but logs no exposure and stores no sticky assignment for it', async () => {
    const bot = newUid();
    const human = newUid();
    const before = sticky.size;

    const crawled = await visit(`/r/sticky-landing?k=${client}`, { cookie: `xp_uid=${bot}`, 'user-agent': GOOGLEBOT });
    const storedAfterBot = sticky.size;
    const visited = await visit(`/r/sticky-landing?k=${client}`, { cookie: `xp_uid=${human}`, 'user-agent': CHROME });

    expect(crawled.status).toBe(302);
    expect(crawled.headers.get('location')).toMatch(/^https:\/\/example\.com\/sticky-landing\/[ab]$/);
    expect(await exposuresOf(bot)).toEqual([]);
    expect(storedAfterBot).toBe(before);
    expect(visited.status).toBe(302);
    expect(await exposuresOf(human)).toHaveLength(1);
    expect(sticky.size).toBe(before + 1);
  });

  it('evaluates the url attribute with the https scheme a TLS-terminating proxy reports, as the Secure cookie does', async () => {
    const proxied = await visit(`/r/https-only?k=${client}`, { 'x-forwarded-proto': 'https', host: 'xp.example.com' }, 'http://xp.example.com');
    const direct = await visit(`/r/https-only?k=${client}`, {}, 'http://xp.example.com');
    const tls = await visit(`/r/https-only?k=${client}`, {}, 'https://xp.example.com');

    expect([proxied.headers.get('location'), proxied.headers.get('set-cookie')?.includes('Secure')]).toEqual(['https://example.com/https-only/b', true]);
    expect([direct.headers.get('location'), direct.headers.get('set-cookie')?.includes('Secure')]).toEqual(['https://example.com/https-only/a', false]);
    expect(tls.headers.get('location')).toBe('https://example.com/https-only/b');
  });

  it('answers every error with Cache-Control: no-store, as the redirect', async () => {
    const server = s.p.boot.sdkKeys!.development!.server;
    const answers = await Promise.all([visit(`/r/plain-landing?k=${server}`), visit('/r/plain-landing'), visit(`/r/plain-landing?k=xpk_cli_bogus`), visit(`/r/nope?k=${client}`)]);

    expect(answers.map((r) => [r.status, r.headers.get('cache-control')])).toEqual([
      [400, 'no-store'],
      [401, 'no-store'],
      [401, 'no-store'],
      [404, 'no-store'],
    ]);
  });
});
