import { gunzipSync } from 'node:zlib';
import type { Ruleset } from '@xp/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublishedRuleset, RulesetStore } from '../../../store/ruleset-store.js';
import { GZIP_MIN_BYTES, RulesetCache, acceptsGzip } from '../ruleset-cache.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { startSdkPlatform } from './sdk-fixture.js';

/** `ruleset` with `count` more copies of its first flag, under new keys: a ruleset of a large project. */
function grown(ruleset: Ruleset, count: number): Ruleset {
  const [key, flag] = Object.entries(ruleset.flags)[0]!;
  const flags = { ...ruleset.flags };
  for (let i = 0; i < count; i++) {
    flags[`${key}-copy-${i}`] = flag;
  }
  return { ...ruleset, flags };
}

describe('GET /sdk/v1/ruleset content encoding', () => {
  let s: SdkPlatform;
  let server: string;
  let client: string;

  beforeAll(async () => {
    s = await startSdkPlatform({ rulesetTtlMs: 0 });
    server = s.p.boot.sdkKeys!.development!.server;
    client = s.p.boot.sdkKeys!.development!.client;
  });
  afterAll(async () => {
    await s.close();
  });

  const get = (headers: Record<string, string>): Promise<Response> => Promise.resolve(s.p.app.request('/sdk/v1/ruleset', { headers }));

  it('gzips a large ruleset for a client that accepts gzip, with the same ETag, Vary and working 304s', async () => {
    const latest = await s.p.rulesets.latest(s.projectId, 'development');
    const published = await s.p.rulesets.put(s.projectId, { ...grown(latest!.ruleset, 500), version: latest!.version + 1 });

    const plain = await get({ 'X-XP-SDK-Key': server });
    const zipped = await get({ 'X-XP-SDK-Key': server, 'Accept-Encoding': 'gzip, deflate, br' });
    const byClient = await get({ 'X-XP-SDK-Key': client, 'Accept-Encoding': 'gzip' });
    const notModified = await get({ 'X-XP-SDK-Key': server, 'Accept-Encoding': 'gzip', 'If-None-Match': `"${published.etag}"` });

    const json = await plain.text();
    expect(json.length).toBeGreaterThan(50_000);
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(plain.headers.get('vary')).toBe('X-XP-SDK-Key, Accept-Encoding');
    expect(zipped.status).toBe(200);
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(zipped.headers.get('content-type')).toMatch(/^application\/json/);
    expect(zipped.headers.get('vary')).toBe('X-XP-SDK-Key, Accept-Encoding');
    expect(zipped.headers.get('etag')).toBe(`"${published.etag}"`);
    const bytes = Buffer.from(await zipped.arrayBuffer());
    expect(bytes.length).toBeLessThan(json.length / 5);
    expect(gunzipSync(bytes).toString('utf8')).toBe(json);
    expect(byClient.headers.get('content-encoding')).toBe('gzip');
    expect((JSON.parse(gunzipSync(Buffer.from(await byClient.arrayBuffer())).toString('utf8')) as Ruleset).version).toBe(published.version);
    expect(notModified.status).toBe(304);
    expect(await notModified.text()).toBe('');
  });

  it('sends the ruleset uncompressed when gzip is refused or not offered', async () => {
    for (const accept of ['identity', 'br', 'gzip;q=0', 'gzip;q=0, *', 'deflate, *;q=0']) {
      const res = await get({ 'X-XP-SDK-Key': server, 'Accept-Encoding': accept });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-encoding')).toBeNull();
      expect(((await res.json()) as Ruleset).flags).toBeDefined();
    }
  });

  it('never compresses a small ruleset', async () => {
    const latest = await s.p.rulesets.latest(s.projectId, 'development');
    await s.p.rulesets.put(s.projectId, { ...latest!.ruleset, version: latest!.version + 1, flags: {}, experiments: {} });

    const res = await get({ 'X-XP-SDK-Key': server, 'Accept-Encoding': 'gzip' });

    expect(res.headers.get('content-encoding')).toBeNull();
    expect((await res.text()).length).toBeLessThan(GZIP_MIN_BYTES);
  });
});

describe('RulesetCache gzip', () => {
  it('compresses each version once, on demand, and keeps the bytes beside the JSON', async () => {
    const base: Ruleset = { version: 1, flags: {}, experiments: {} } as unknown as Ruleset;
    let current: PublishedRuleset = { projectId: 'p', environment: 'e', version: 1, etag: 'a', publishedAt: '', ruleset: { ...base, note: 'x'.repeat(4_000) } as Ruleset };
    const store = { latest: () => Promise.resolve(current), newerThan: (_p: string, _e: string, v: number) => Promise.resolve(current.version > v ? current : undefined) } as unknown as RulesetStore;
    const cache = new RulesetCache(store, { ttlMs: 0, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });

    const first = await cache.get('p', 'e');
    const a = await first!.gzip();
    const b = await (await cache.get('p', 'e'))!.gzip();
    current = { ...current, version: 2, etag: 'b', ruleset: { ...current.ruleset, version: 2 } };
    const c = await (await cache.get('p', 'e'))!.gzip();

    expect(a).toBeInstanceOf(Buffer);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(JSON.parse(gunzipSync(c!).toString('utf8'))).toMatchObject({ version: 2 });
  });

  it('parses Accept-Encoding', () => {
    expect(['gzip', 'GZIP', 'x-gzip', 'br;q=1, gzip;q=0.5', '*', 'identity, *;q=0.1', '*;q=0, gzip'].map(acceptsGzip)).toEqual([true, true, true, true, true, true, true]);
    expect(['', 'identity', 'br', 'gzip;q=0', 'gzip;q=0.0, *', '*;q=0', 'deflate'].map(acceptsGzip)).toEqual([false, false, false, false, false, false, false]);
  });
});
