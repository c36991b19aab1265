import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SdkPlatform } from './sdk-fixture.js';
import { eventually, sseReader, startSdkPlatform } from './sdk-fixture.js';

describe('GET /sdk/v1/ruleset and /sdk/v1/stream', () => {
  let s: SdkPlatform;
  let server: string;
  let client: string;

  beforeAll(async () => {
    s = await startSdkPlatform({ pollMs: 50, heartbeatMs: 200, maxStreams: 3 });
    server = s.p.boot.sdkKeys!.development!.server;
    client = s.p.boot.sdkKeys!.development!.client;
  });
  afterAll(async () => {
    await s.close();
  });

  const get = (path: string, headers: Record<string, string> = {}): Promise<Response> => Promise.resolve(s.p.app.request(path, { headers }));

  it('serves the published ruleset with the store etag as a strong ETag, to server and client keys', async () => {
    const latest = await s.p.rulesets.latest(s.projectId, 'development');

    const res = await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': server });
    const byClient = await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': client });

    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${latest!.etag}"`);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { version: number; environment: string; flags: Record<string, unknown> };
    expect(body).toMatchObject({ version: latest!.version, environment: 'development' });
    expect(Object.keys(body.flags)).toContain('new-checkout');
    expect(byClient.status).toBe(200);
    expect(byClient.headers.get('etag')).toBe(res.headers.get('etag'));
  });

  it('answers 304 without a body when If-None-Match holds the current ETag (strong or weak form)', async () => {
    const etag = (await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': server })).headers.get('etag')!;

    const same = await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': server, 'If-None-Match': etag });
    const weak = await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': server, 'If-None-Match': `"other", W/${etag}` });
    const stale = await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': server, 'If-None-Match': '"0000"' });

    expect(same.status).toBe(304);
    expect(await same.text()).toBe('');
    expect(same.headers.get('etag')).toBe(etag);
    expect(weak.status).toBe(304);
    expect(stale.status).toBe(200);
  });

  it('serves warm requests from memory: no DynamoDB read and no SQL query', async () => {
    await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': server });
    await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': client });
    s.counts.latest = 0;
    s.counts.queries = 0;

    for (let i = 0; i < 20; i++) {
      const res = await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': i % 2 === 0 ? server : client });
      expect(res.status).toBe(200);
    }

    expect(s.counts).toEqual({ latest: 0, queries: 0 });
  });

  it('keeps the security headers on SDK answers, errors and management routes', async () => {
    const answers = [
      await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': server }),
      await get('/sdk/v1/ruleset'),
      await get('/no/such/route'),
      await get('/healthz'),
      await get('/api/v1/me'),
    ];

    expect(answers.map((r) => r.status)).toEqual([200, 401, 404, 200, 401]);
    for (const res of answers) {
      expect([res.headers.get('x-content-type-options'), res.headers.get('referrer-policy'), res.headers.get('x-frame-options')]).toEqual(['nosniff', 'no-referrer', 'DENY']);
    }
  });

  it('rejects a missing, malformed or unknown key with 401 and the error format', async () => {
    const missing = await get('/sdk/v1/ruleset');
    const malformed = await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': 'xpk_srv_short' });
    const unknown = await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': `xpk_srv_${'A'.repeat(43)}` });

    for (const res of [missing, malformed, unknown]) {
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED', message: expect.any(String) } });
    }
  });

  it('rejects SDK keys in the query string with 400 and says why, even with a valid header', async () => {
    for (const query of [`?key=${server}`, `?sdk_key=abc`, `?access_token=abc`, `?auth-token=abc`, `?k=${client}`, `?anything=${encodeURIComponent(server)}`]) {
      const res = await get(`/sdk/v1/ruleset${query}`, { 'X-XP-SDK-Key': server });
      const body = (await res.json()) as { error: { code: string; message: string } };

      expect(res.status).toBe(400);
      expect(body.error.code).toBe('VALIDATION_FAILED');
      expect(body.error.message).toContain('X-XP-SDK-Key header');
      expect(JSON.stringify(body)).not.toContain(server);
    }
  });

  it('keeps honouring a key revoked by another instance for at most the key-cache TTL (30 s), then answers 401', async () => {
    const created = await s.p.request('POST', '/api/v1/projects/demo/sdk-keys', { token: s.owner, body: { environment: 'development', kind: 'server', name: 'short-lived' } });
    const key = created.body.key as string;
    expect((await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': key })).status).toBe(200);

    // Revoked in the database, as another instance's API would: this one's cache is not told
    // (a revocation through this instance drops the key at once: sdk-key-revocation.test.ts).
    const revoked = await s.p.db.query('UPDATE sdk_keys SET revoked_at = now() WHERE id = $1', [created.body.sdkKey.id as string]);
    const withinTtl = await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': key });
    s.p.now.value = new Date(s.p.now.value.getTime() + 31_000);
    const afterTtl = await get('/sdk/v1/ruleset', { 'X-XP-SDK-Key': key });

    expect(revoked.rowCount).toBe(1);
    expect(withinTtl.status).toBe(200);
    expect(afterTtl.status).toBe(401);
    expect(((await afterTtl.json()) as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
  });

  it('ends an open stream once its key is revoked, within the key-cache TTL', async () => {
    const created = await s.p.request('POST', '/api/v1/projects/demo/sdk-keys', { token: s.owner, body: { environment: 'development', kind: 'client', name: 'streaming' } });
    const key = created.body.key as string;
    const res = await get('/sdk/v1/stream', { 'X-XP-SDK-Key': key });
    const stream = sseReader(res.body!);
    await stream.next((m) => m.event === 'ruleset');

    await s.p.request('DELETE', `/api/v1/projects/demo/sdk-keys/${created.body.sdkKey.id as string}`, { token: s.owner });
    await stream.next((m) => m.comment === 'heartbeat', 2_000);
    s.p.now.value = new Date(s.p.now.value.getTime() + 31_000);
    const ended = await stream.next(() => false, 2_000).then(
      () => 'open',
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );

    expect(ended).toBe('stream ended');
    await eventually(() => (s.metrics.streamsOpen === 0 ? true : undefined));
  });

  it('streams the current version, then a new one within 1 s of a flag change through the management API', async () => {
    const res = await get('/sdk/v1/stream', { 'X-XP-SDK-Key': client });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const stream = sseReader(res.body!);
    const first = await stream.next((m) => m.event === 'ruleset');
    const before = JSON.parse(first.data!) as { version: number; etag: string };
    const flag = await s.p.request('GET', '/api/v1/projects/demo/flags/button-color', { token: s.owner });

    const toggled = await s.p.request('POST', '/api/v1/projects/demo/flags/button-color/environments/development/toggle', {
      token: s.owner,
      body: { enabled: false },
      headers: { 'If-Match': flag.headers.get('etag')! },
    });
    // From the change's commit (the toggle's answer), not from the request: on a loaded machine the
    // write itself can take most of a second, which is not the stream's delay.
    const committed = Date.now();
    const next = await stream.next((m) => m.event === 'ruleset', 10_000);
    const elapsed = Date.now() - committed;
    await stream.cancel();

    expect(toggled.status).toBe(200);
    const after = JSON.parse(next.data!) as { version: number; etag: string };
    const latest = await s.p.rulesets.latest(s.projectId, 'development');
    expect(after).toEqual({ version: before.version + 1, etag: `"${latest!.etag}"` });
    expect(next.id).toBe(String(after.version));
    expect(elapsed).toBeLessThan(1_000);
    await eventually(() => (s.metrics.streamsOpen === 0 ? true : undefined));
  });

  it('includes the ruleset itself with ?include=ruleset and rejects other include values', async () => {
    const res = await get('/sdk/v1/stream?include=ruleset', { 'X-XP-SDK-Key': server });
    const stream = sseReader(res.body!);
    const first = JSON.parse((await stream.next((m) => m.event === 'ruleset')).data!) as { version: number; ruleset: { version: number; flags: object } };
    await stream.cancel();
    const bad = await get('/sdk/v1/stream?include=everything', { 'X-XP-SDK-Key': server });

    expect(first.ruleset.version).toBe(first.version);
    expect(Object.keys(first.ruleset.flags)).toContain('button-color');
    expect(bad.status).toBe(400);
  });

  it("learns of another instance's publish by polling the store", async () => {
    const staging = s.p.boot.sdkKeys!.staging!.server;
    const res = await get('/sdk/v1/stream', { 'X-XP-SDK-Key': staging });
    const stream = sseReader(res.body!);
    const first = JSON.parse((await stream.next((m) => m.event === 'ruleset')).data!) as { version: number };
    const latest = await s.p.rulesets.latest(s.projectId, 'staging');

    // Written straight to the store, as another instance would: this process's notifier never hears of it.
    const published = await s.p.rulesets.put(s.projectId, { ...latest!.ruleset, version: first.version + 1, flags: {} });
    const next = JSON.parse((await stream.next((m) => m.event === 'ruleset', 2_000)).data!) as { version: number; etag: string };
    await stream.cancel();

    expect(next).toEqual({ version: first.version + 1, etag: `"${published.etag}"` });
  });

  it('sends heartbeat comments', async () => {
    const res = await get('/sdk/v1/stream', { 'X-XP-SDK-Key': server });
    const stream = sseReader(res.body!);

    const beat = await stream.next((m) => m.comment === 'heartbeat', 2_000);
    await stream.cancel();

    expect(beat.comment).toBe('heartbeat');
  });

  it('frees the stream when a real HTTP client disconnects (Node server)', async () => {
    await eventually(() => (s.metrics.streamsOpen === 0 ? true : undefined));
    const httpServer = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const srv = serve({ fetch: s.p.app.fetch, hostname: '127.0.0.1', port: 0 }, () => {
        resolve(srv);
      });
    });
    const { port } = httpServer.address() as AddressInfo;
    const received = await new Promise<{ req: http.ClientRequest; first: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/sdk/v1/stream', headers: { 'X-XP-SDK-Key': client } }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          if (text.includes('event: ruleset')) {
            resolve({ req, first: text });
          }
        });
      });
      req.on('error', reject);
    });
    const whileOpen = s.metrics.streamsOpen;

    received.req.destroy();
    await eventually(() => (s.metrics.streamsOpen === 0 ? true : undefined));
    await new Promise<void>((resolve) => {
      httpServer.close(() => {
        resolve();
      });
      if ('closeAllConnections' in httpServer) {
        httpServer.closeAllConnections();
      }
    });

    expect(received.first).toContain('event: ruleset');
    expect(whileOpen).toBe(1);
  });

  it('refuses streams beyond the per-process limit with 503 and Retry-After, and frees slots on disconnect', async () => {
    await eventually(() => (s.metrics.streamsOpen === 0 ? true : undefined));
    const open = await Promise.all([1, 2, 3].map(() => get('/sdk/v1/stream', { 'X-XP-SDK-Key': server })));
    const readers = open.map((r) => sseReader(r.body!));

    const refused = await get('/sdk/v1/stream', { 'X-XP-SDK-Key': server });
    await Promise.all(readers.map((r) => r.cancel()));
    await eventually(() => (s.metrics.streamsOpen === 0 ? true : undefined));
    const again = await get('/sdk/v1/stream', { 'X-XP-SDK-Key': server });
    await sseReader(again.body!).cancel();

    expect(open.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    expect(again.status).toBe(200);
  });
});

describe('GET /sdk/v1/stream: one SDK key cannot take every stream slot', () => {
  let s: SdkPlatform;

  beforeAll(async () => {
    s = await startSdkPlatform({ pollMs: 50, heartbeatMs: 200, maxStreams: 10 });
  });
  afterAll(async () => {
    await s.close();
  });

  const open = (key: string): Promise<Response> => Promise.resolve(s.p.app.request('/sdk/v1/stream', { headers: { 'X-XP-SDK-Key': key } }));

  it('refuses a key its tenth stream of ten with 429 and Retry-After, while other keys still connect until the instance is full', async () => {
    const keys = s.p.boot.sdkKeys!;
    const busy = keys.development!.client;
    const others = [keys.development!.server, keys.production!.client];
    const held = await Promise.all(Array.from({ length: 9 }, () => open(busy)));
    const readers = held.map((r) => sseReader(r.body!));

    const refused = await open(busy);
    const other = await open(others[0]!);
    const otherReader = sseReader(other.body!);
    const full = await open(others[1]!);
    // One of the busy key's streams ends, and the other key's: the busy key may open another.
    await Promise.all([readers.pop()!.cancel(), otherReader.cancel()]);
    await eventually(() => (s.metrics.streamsOpen === 8 ? true : undefined));
    const again = await open(busy);
    const againReader = sseReader(again.body!);
    await Promise.all([...readers, againReader].map((r) => r.cancel()));
    await eventually(() => (s.metrics.streamsOpen === 0 ? true : undefined));

    expect(held.map((r) => r.status)).toEqual(Array.from({ length: 9 }, () => 200));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('5');
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('RATE_LIMITED');
    expect(body.error.message).toContain('this SDK key holds 9 open streams');
    expect(other.status).toBe(200);
    // The instance's own limit still holds for every key.
    expect(full.status).toBe(503);
    expect(again.status).toBe(200);
  });

  it('keeps the last tenth for keys holding few streams, so several busy keys together cannot take every slot', async () => {
    const keys = s.p.boot.sdkKeys!;
    const [a, b, small] = [keys.development!.client, keys.development!.server, keys.production!.client];
    const held = await Promise.all([...Array.from({ length: 5 }, () => open(a)), ...Array.from({ length: 4 }, () => open(b))]);
    const readers = held.map((r) => sseReader(r.body!));

    const refused = await open(b);
    const fresh = await open(small);
    const freshReader = sseReader(fresh.body!);
    await Promise.all([...readers, freshReader].map((r) => r.cancel()));
    await eventually(() => (s.metrics.streamsOpen === 0 ? true : undefined));

    expect(held.every((r) => r.status === 200)).toBe(true);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain("this instance's last 1 stream slots are kept for SDK keys holding fewer than 1 streams, and this key holds 4");
    expect(fresh.status).toBe(200);
  });

  it('holds the limits when connects arrive together (a reconnect storm): each takes its slot before it waits for anything', async () => {
    await eventually(() => (s.metrics.streamsOpen === 0 ? true : undefined));
    const busy = s.p.boot.sdkKeys!.development!.client;
    const burst = await Promise.all(Array.from({ length: 14 }, () => open(busy)));
    const statuses = burst.map((r) => r.status);
    const readers = burst.filter((r) => r.status === 200).map((r) => sseReader(r.body!));
    expect(s.metrics.streamsOpen).toBe(9);
    await Promise.all([...readers.map((r) => r.cancel()), ...burst.filter((r) => r.status !== 200).map((r) => r.body?.cancel())]);
    await eventually(() => (s.metrics.streamsOpen === 0 ? true : undefined));

    expect(statuses.filter((x) => x === 200)).toHaveLength(9);
    expect(statuses.filter((x) => x === 429)).toHaveLength(5);
  });

  it('answers HEAD with the stream headers and holds no slot (a HEAD body is never read, so it never ended)', async () => {
    const key = s.p.boot.sdkKeys!.development!.client;
    const heads = await Promise.all(Array.from({ length: 20 }, () => Promise.resolve(s.p.app.request('/sdk/v1/stream', { method: 'HEAD', headers: { 'X-XP-SDK-Key': key } }))));

    expect(heads.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 200));
    expect(heads[0]!.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(s.metrics.streamsOpen).toBe(0);
    const unauthenticated = await s.p.app.request('/sdk/v1/stream', { method: 'HEAD' });
    expect(unauthenticated.status).toBe(401);
    const get = await open(key);
    await sseReader(get.body!).cancel();
    expect(get.status).toBe(200);
  });
});
