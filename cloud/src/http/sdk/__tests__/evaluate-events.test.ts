import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EVENTS_PER_BATCH, MAX_EVENT_BYTES } from '@xp/shared';
import { createKinesisEventSink } from '../../../store/event-sink.js';
import type { PutRecordsClient } from '../../../store/event-sink.js';
import { booleanFlagBody } from '../../__tests__/harness.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { STREAM, readStream, startSdkPlatform } from './sdk-fixture.js';

const HOUR = 60 * 60 * 1000;

describe('POST /sdk/v1/evaluate and /sdk/v1/events', () => {
  let s: SdkPlatform;
  let server: string;
  let client: string;
  let now: number;

  beforeAll(async () => {
    s = await startSdkPlatform();
    server = s.p.boot.sdkKeys!.development!.server;
    client = s.p.boot.sdkKeys!.development!.client;
    now = s.p.now.value.getTime();
    const exp = await s.p.request('POST', '/api/v1/projects/demo/experiments', {
      token: s.owner,
      body: { key: 'checkout-exp', name: 'Checkout experiment', variations: [{ key: 'control' }, { key: 'treatment' }] },
    });
    const started = await s.p.request('POST', '/api/v1/projects/demo/experiments/checkout-exp/start', { token: s.owner, headers: { 'If-Match': exp.headers.get('etag')! } });
    const flag = await s.p.request('POST', '/api/v1/projects/demo/flags', {
      token: s.owner,
      body: {
        key: 'checkout-flag',
        name: 'Checkout flag',
        type: 'string',
        variations: [
          { key: 'control', value: 'old' },
          { key: 'treatment', value: 'new' },
        ],
        environments: { development: { enabled: true, defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'exp', type: 'experiment', experiment: 'checkout-exp' }] } },
      },
    });
    if (exp.status !== 201 || started.status !== 200 || flag.status !== 201) {
      throw new Error(`setup failed: ${JSON.stringify([exp.body, started.body, flag.body])}`);
    }
  });
  afterAll(async () => {
    await s.close();
  });

  const post = async (path: string, key: string, body: unknown, raw?: string | Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> =>
    s.p.request('POST', path, { ...(raw === undefined ? { body } : { raw }), headers: { 'X-XP-SDK-Key': key, ...headers } });

  const track = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'track', id: `t-${randomUUID()}`, unitId: 'u-1', timestamp: now - 1_000, name: 'purchase', value: 9.5, ...over });

  describe('from a browser on another site (CORS)', () => {
    it('answers the preflight for the SDK key header and lets the page read the answers', async () => {
      const origin = { Origin: 'https://shop.example.com' };
      const preflight = await s.p.request('OPTIONS', '/sdk/v1/events', {
        headers: { ...origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-xp-sdk-key, content-type' },
      });
      const ruleset = await s.p.request('GET', '/sdk/v1/ruleset', { headers: { ...origin, 'X-XP-SDK-Key': client } });
      const events = await post('/sdk/v1/events', client, { events: [track()] }, undefined, origin);

      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
      expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('x-xp-sdk-key');
      expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
      expect(ruleset.status).toBe(200);
      expect(ruleset.headers.get('access-control-allow-origin')).toBe('*');
      expect(ruleset.headers.get('access-control-expose-headers')).toContain('ETag');
      expect(events.status).toBe(202);
      expect(events.headers.get('access-control-allow-origin')).toBe('*');
      // Never with credentials: the key is a header, not a cookie.
      expect(ruleset.headers.get('access-control-allow-credentials')).toBeNull();
      // Refusals too, so the page can read their code and Retry-After.
      const refused = await s.p.request('GET', '/sdk/v1/ruleset', { headers: { ...origin, 'X-XP-SDK-Key': 'xpk_cli_nope' } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('access-control-allow-origin')).toBe('*');
      expect(refused.headers.get('access-control-expose-headers')).toContain('Retry-After');
      expect(preflight.headers.get('access-control-max-age')).toBe('86400');
    });

    it('refuses a server-side key from a web page (a request with Origin) on every SDK endpoint, readably, and serves it to servers', async () => {
      const origin = { Origin: 'https://shop.example.com' };
      const fromPage = [
        await s.p.request('GET', '/sdk/v1/ruleset', { headers: { ...origin, 'X-XP-SDK-Key': server } }),
        await s.p.request('GET', '/sdk/v1/ruleset?include=serverOnly', { headers: { ...origin, 'X-XP-SDK-Key': server } }),
        await s.p.request('GET', '/sdk/v1/stream', { headers: { ...origin, 'X-XP-SDK-Key': server } }),
        await post('/sdk/v1/evaluate', server, { unit: { id: 'page-1' } }, undefined, origin),
        await post('/sdk/v1/events', server, { events: [track()] }, undefined, origin),
        // Refused alike whether the key is valid or not: a page gets no answer to try keys with.
        await s.p.request('GET', '/sdk/v1/ruleset', { headers: { ...origin, 'X-XP-SDK-Key': 'xpk_srv_not-a-real-key' } }),
      ];
      for (const res of fromPage) {
        expect([res.status, res.body.error.code, res.headers.get('access-control-allow-origin')]).toEqual([403, 'FORBIDDEN', '*']);
        expect(res.body.error.message).toMatch(/^a server-side SDK key \(xpk_srv_…\) cannot be used from a web page: .*client-side key \(xpk_cli_…\).*revoke this server key/);
        expect(JSON.stringify(res.body)).not.toContain(server);
      }
      // The same key from a server (no Origin), and a client key from a page, are served.
      expect((await s.p.request('GET', '/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': server } })).status).toBe(200);
      expect((await post('/sdk/v1/evaluate', server, { unit: { id: 'server-1' } })).status).toBe(200);
      expect((await post('/sdk/v1/evaluate', client, { unit: { id: 'page-2' } }, undefined, origin)).status).toBe(200);
    });
  });

  describe('evaluate', () => {
    it('evaluates every flag with reasons, and logs an exposure for the unit in the experiment to Kinesis', async () => {
      const res = await post('/sdk/v1/evaluate', server, { unit: { id: 'user-42', attributes: { id: 'someone-else', country: 'US', visits: 3, profile: { nested: true } } } });

      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.body.flags['button-color']).toEqual({ value: 'green', variationKey: 'green', reason: 'DEFAULT' });
      const result = res.body.flags['checkout-flag'];
      expect(result).toMatchObject({ reason: 'SPLIT', ruleId: 'exp' });
      expect(['control', 'treatment']).toContain(result.variationKey);
      const exposures = (await readStream(s.kinesis)).filter((r) => r.event.event.type === 'exposure' && r.event.event.unitId === 'user-42');
      expect(exposures).toHaveLength(1);
      expect(exposures[0]!.key).toBe('user-42');
      expect(exposures[0]!.event).toMatchObject({
        v: 1,
        projectId: s.projectId,
        environment: 'development',
        occurredAt: now,
        event: { type: 'exposure', experiment: 'checkout-exp', variation: result.variationKey, flag: 'checkout-flag', hashAttribute: 'id', unitId: 'user-42' },
      });
      // The unit's flat attributes travel with the exposure (result filters and dimensions); nested ones do not.
      expect(exposures[0]!.event.event).toMatchObject({ attributes: { country: 'US', visits: 3 } });
      expect(exposures[0]!.event.event).not.toHaveProperty('attributes.id');
      expect(exposures[0]!.event.event).not.toHaveProperty('attributes.profile');
    });

    it('evaluates only the named flags, with FLAG_NOT_FOUND for unknown ones; client keys may evaluate', async () => {
      const res = await post('/sdk/v1/evaluate', client, { unit: { id: 'user-7' }, flags: ['button-color', 'no-such-flag'] });

      expect(res.status).toBe(200);
      expect(Object.keys(res.body.flags)).toEqual(['button-color', 'no-such-flag']);
      expect(res.body.flags['no-such-flag']).toEqual({ value: null, variationKey: null, reason: 'FLAG_NOT_FOUND', errorCode: 'FLAG_NOT_FOUND' });
    });

    it('explains each flag when asked: the bucket and the trace of every rule considered, as the SDKs do', async () => {
      const explained = await post('/sdk/v1/evaluate', server, { unit: { id: 'user-explain' }, flags: ['checkout-flag', 'button-color', 'no-such-flag'], explain: true });
      const plain = await post('/sdk/v1/evaluate', server, { unit: { id: 'user-explain' }, flags: ['checkout-flag'] });
      const wrong = await post('/sdk/v1/evaluate', server, { unit: { id: 'u' }, explain: 'yes' });

      expect(explained.status).toBe(200);
      const checkout = explained.body.flags['checkout-flag'];
      expect(checkout.trace).toEqual([{ ruleId: 'exp', outcome: 'matched', detail: `checkout-exp: ${String(checkout.variationKey)}` }]);
      expect(checkout.bucket).toEqual(expect.any(Number));
      expect(checkout.experiment).toEqual({ key: 'checkout-exp', variationKey: checkout.variationKey, inExperiment: true, sticky: false, hashAttribute: 'id', bucket: checkout.bucket });
      expect({ ...checkout, trace: undefined, bucket: undefined, experiment: undefined }).toEqual({ ...plain.body.flags['checkout-flag'], trace: undefined, bucket: undefined });
      expect(plain.body.flags['checkout-flag']).not.toHaveProperty('trace');
      expect(explained.body.flags['button-color']).toMatchObject({ reason: 'DEFAULT', trace: [] });
      // The caller's default comes back: no trace, as the SDKs give none.
      expect(explained.body.flags['no-such-flag']).toMatchObject({ reason: 'FLAG_NOT_FOUND' });
      expect(explained.body.flags['no-such-flag']).not.toHaveProperty('trace');
      expect([wrong.status, wrong.body.error.details.issues[0].path]).toEqual([400, 'body.explain']);
    });

    it('evaluates and exposes a flag named twice once', async () => {
      const res = await post('/sdk/v1/evaluate', server, { unit: { id: 'user-twice' }, flags: ['checkout-flag', 'checkout-flag', 'checkout-flag'] });

      expect(Object.keys(res.body.flags)).toEqual(['checkout-flag']);
      const exposures = (await readStream(s.kinesis)).filter((r) => r.event.event.type === 'exposure' && r.event.event.unitId === 'user-twice');
      expect(exposures).toHaveLength(1);
    });

    it('validates the body: unit id required, at most 200 flags, JSON only', async () => {
      const noUnit = await post('/sdk/v1/evaluate', server, { flags: [] });
      const tooMany = await post('/sdk/v1/evaluate', server, { unit: { id: 'u' }, flags: Array.from({ length: 201 }, (_, i) => `f-${i}`) });
      const malformed = await post('/sdk/v1/evaluate', server, undefined, '{"unit":');
      const extra = await post('/sdk/v1/evaluate', server, { unit: { id: 'u', email: 'x' } });

      expect([noUnit.status, tooMany.status, malformed.status, extra.status]).toEqual([400, 400, 400, 400]);
      expect(noUnit.body.error.code).toBe('VALIDATION_FAILED');
      expect(tooMany.body.error.message).toContain('flags');
      expect(malformed.body.error.code).toBe('MALFORMED_JSON');
      // attributes: null counts as absent, as in the SDKs; another non-object is refused.
      const nulled = await post('/sdk/v1/evaluate', server, { unit: { id: 'u', attributes: null }, flags: ['button-color'] });
      const listed = await post('/sdk/v1/evaluate', server, { unit: { id: 'u', attributes: [] } });
      expect([nulled.status, listed.status]).toEqual([200, 400]);
      expect(nulled.body.flags['button-color']).toMatchObject({ reason: 'DEFAULT' });
    });

    it('evaluates a unit known by its attributes alone: rules on them apply, what hashes on an id passes it by', async () => {
      const created = await s.p.request('POST', '/api/v1/projects/demo/flags', {
        token: s.owner,
        body: booleanFlagBody('fr-banner', { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'fr', type: 'force', variation: 'on', condition: { country: 'FR' } }] } }),
      });
      expect(created.status).toBe(201);
      const anonymous = await post('/sdk/v1/evaluate', client, { unit: { attributes: { country: 'FR' } }, flags: ['fr-banner', 'checkout-flag'] });
      const nullId = await post('/sdk/v1/evaluate', client, { unit: { id: null, attributes: { country: 'DE' } }, flags: ['fr-banner'] });
      // attributes.id is the id when unit.id is left out, as in the SDKs.
      const byAttribute = await post('/sdk/v1/evaluate', client, { unit: { attributes: { id: 'u-attr' } }, flags: ['checkout-flag'] });
      const byUnit = await post('/sdk/v1/evaluate', client, { unit: { id: 'u-attr' }, flags: ['checkout-flag'] });
      const emptyId = await post('/sdk/v1/evaluate', client, { unit: { id: '' } });

      expect([anonymous.status, nullId.status, byAttribute.status, emptyId.status]).toEqual([200, 200, 200, 400]);
      expect(anonymous.body.flags['fr-banner']).toMatchObject({ value: true, reason: 'TARGETING_MATCH' });
      expect(anonymous.body.flags['checkout-flag']).toMatchObject({ value: 'old', reason: 'DEFAULT' });
      expect(nullId.body.flags['fr-banner']).toMatchObject({ value: false, reason: 'DEFAULT' });
      expect(byAttribute.body.flags['checkout-flag']).toEqual(byUnit.body.flags['checkout-flag']);
      expect(byAttribute.body.flags['checkout-flag'].reason).toBe('SPLIT');
    });

    it('refuses a body that is not UTF-8 rather than evaluating a repaired unit id', async () => {
      const bytes = Buffer.concat([Buffer.from('{"unit":{"id":"u-'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]);
      const streamed = await post('/sdk/v1/evaluate', server, undefined, bytes);
      const declared = await post('/sdk/v1/evaluate', server, undefined, bytes, { 'content-length': String(bytes.length) });
      const events = await post('/sdk/v1/events', server, undefined, Buffer.concat([Buffer.from(`{"events":[${JSON.stringify(track()).slice(0, -1)},"properties":{"n":"`), Buffer.from([0xc3]), Buffer.from('"}}]}')]));

      expect([streamed.status, declared.status, events.status]).toEqual([400, 400, 400]);
      expect([streamed.body.error.code, declared.body.error.code, events.body.error.code]).toEqual(['MALFORMED_JSON', 'MALFORMED_JSON', 'MALFORMED_JSON']);
      expect(streamed.body.error.message).toBe('the request body is not valid JSON: it is not UTF-8 text');
    });

    it('names a compressed body as such (Content-Encoding), and loses none of a later plain one', async () => {
      const body = JSON.stringify({ events: [track()] });
      const gzipped = await post('/sdk/v1/events', server, undefined, gzipSync(body), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      const identity = await post('/sdk/v1/events', server, undefined, body, { 'content-type': 'application/json', 'content-encoding': 'identity' });

      expect([gzipped.status, gzipped.body.error.code, gzipped.body.error.message]).toEqual([400, 'VALIDATION_FAILED', 'Content-Encoding "gzip" is not supported: send the body uncompressed']);
      expect(gzipped.body.error.details.issues).toEqual([{ path: 'Content-Encoding', message: 'not supported' }]);
      expect([identity.status, identity.body]).toEqual([202, { accepted: 1, rejected: [] }]);
    });

    it('refuses NUL characters and unpaired surrogates in the unit id and attributes, which the aggregator could not store', async () => {
      const nulId = await post('/sdk/v1/evaluate', server, { unit: { id: 'nul\u0000unit' } });
      const surrogate = await post('/sdk/v1/evaluate', server, undefined, '{"unit":{"id":"u-ok","attributes":{"plan":"\\ud800"}}}');
      const nulKey = await post('/sdk/v1/evaluate', server, { unit: { id: 'u-ok', attributes: { 'a\u0000': 1 } } });

      expect([nulId.status, surrogate.status, nulKey.status]).toEqual([400, 400, 400]);
      expect(nulId.body.error.details.issues).toEqual([{ path: 'body.unit.id', message: 'contains a NUL character' }]);
      expect(surrogate.body.error.details.issues[0].path).toBe('body.unit.attributes.plan');
      expect(nulKey.body.error.code).toBe('VALIDATION_FAILED');
      const logged = (await readStream(s.kinesis)).filter((r) => r.event.event.unitId.startsWith('nul'));
      expect(logged).toEqual([]);
    });

    it('refuses attribute numbers beyond doubles (1e999 reads as Infinity) and attributes nested deeper than event properties may be, as /events does', async () => {
      const nest = (levels: number): unknown => Array.from({ length: levels }).reduce<unknown>((inner) => ({ a: inner }), 1);
      const infinite = await post('/sdk/v1/evaluate', server, undefined, '{"unit":{"id":"u-ok","attributes":{"score":1e999}}}');
      const deep = await post('/sdk/v1/evaluate', server, { unit: { id: 'u-ok', attributes: { doc: nest(40) } } });
      const fine = await post('/sdk/v1/evaluate', server, { unit: { id: 'u-ok', attributes: { doc: nest(30), score: 1e300 } } });

      expect([infinite.status, infinite.body.error.details.issues]).toEqual([400, [{ path: 'body.unit.attributes.score', message: 'expected a finite number (JSON such as 1e999 reads as infinity)' }]]);
      expect([deep.status, deep.body.error.details.issues[0].message]).toEqual([400, 'too deeply nested']);
      expect(fine.status).toBe(200);
    });

    it('refuses bodies above 64 KB with 413, whether the length is declared or the body is streamed', async () => {
      const big = JSON.stringify({ unit: { id: 'u', attributes: { blob: 'x'.repeat(70_000) } } });
      const declared = await s.p.app.request('/sdk/v1/evaluate', {
        method: 'POST',
        headers: { 'X-XP-SDK-Key': server, 'content-type': 'application/json', 'content-length': String(big.length) },
        body: big,
      });
      const streamed = await post('/sdk/v1/evaluate', server, undefined, big);

      expect(declared.status).toBe(413);
      expect(((await declared.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(streamed.status).toBe(413);
    });

    it('sends the exposures of concurrent evaluations to Kinesis together, every one of them', async () => {
      const puts: number[] = [];
      s.useSink({
        put: async (events) => {
          // Exposures only: the evaluation counts ride along in the same puts.
          puts.push(events.filter((e) => e.event.type === 'exposure').length);
          await s.sink.put(events);
        },
      });
      const units = Array.from({ length: 40 }, (_, i) => `user-batch-${i}`);
      const answers = await Promise.all(units.map(async (id) => s.p.app.request('/sdk/v1/evaluate', {
        method: 'POST',
        headers: { 'X-XP-SDK-Key': server, 'content-type': 'application/json' },
        body: JSON.stringify({ unit: { id }, flags: ['checkout-flag'] }),
      })));
      s.restoreSink();

      expect(answers.map((a) => a.status)).toEqual(units.map(() => 200));
      // Fewer Kinesis requests than evaluations, and no exposure lost or repeated.
      expect(puts.reduce((a, b) => a + b, 0)).toBe(40);
      expect(puts.length).toBeLessThan(40);
      const logged = (await readStream(s.kinesis)).filter((r) => r.event.event.type === 'exposure' && r.event.event.unitId.startsWith('user-batch-'));
      expect(logged.map((r) => r.event.event.unitId).sort()).toEqual([...units].sort());
    });

    it('gathers the exposures of evaluations arriving while two puts are in flight into the next put (group commit)', async () => {
      const puts: number[] = [];
      let inFlight = 0;
      let most = 0;
      s.useSink({
        put: async (events) => {
          inFlight++;
          most = Math.max(most, inFlight);
          // Exposures only: the evaluation counts ride along in the same puts.
          puts.push(events.filter((e) => e.event.type === 'exposure').length);
          try {
            // A slow stream: each put has a fixed cost.
            await new Promise((resolve) => setTimeout(resolve, 30));
            await s.sink.put(events);
          } finally {
            inFlight--;
          }
        },
      });
      const units = Array.from({ length: 20 }, (_, i) => `user-gather-${i}`);
      const pending: Promise<Response>[] = [];
      for (const id of units) {
        // Each evaluation in its own event-loop turn: the same-turn batching alone would put each on its own.
        pending.push(Promise.resolve(s.p.app.request('/sdk/v1/evaluate', { method: 'POST', headers: { 'X-XP-SDK-Key': server, 'content-type': 'application/json' }, body: JSON.stringify({ unit: { id }, flags: ['checkout-flag'] }) })));
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      const answers = await Promise.all(pending);
      s.restoreSink();

      expect(answers.map((a) => a.status)).toEqual(units.map(() => 200));
      expect(most).toBeLessThanOrEqual(2);
      expect(puts.reduce((a, b) => a + b, 0)).toBe(20);
      expect(puts.length).toBeLessThanOrEqual(10);
      const logged = (await readStream(s.kinesis)).filter((r) => r.event.event.type === 'exposure' && r.event.event.unitId.startsWith('user-gather-'));
      expect(logged.map((r) => r.event.event.unitId).sort()).toEqual([...units].sort());
    });

    it('still answers when the event sink is down, queueing the exposures for retry and logging it', async () => {
      const dead = await s.deadSink();
      s.useSink(dead.sink);
      const dropped = s.metrics.exposuresDropped;

      const res = await post('/sdk/v1/evaluate', server, { unit: { id: 'user-sink-down' }, flags: ['checkout-flag'] });
      s.restoreSink();
      dead.dispose();

      expect(res.status).toBe(200);
      expect(res.body.flags['checkout-flag'].reason).toBe('SPLIT');
      // Waiting for a retry (the first is at least half a second away), not dropped.
      expect(s.metrics.exposuresDropped).toBe(dropped);
      expect(s.metrics.exposuresRetrying).toBe(1);
      expect(s.p.logs.some((l) => l.startsWith('exposures not logged'))).toBe(true);
    });
  });

  describe('events', () => {
    it('keeps the valid events of a mixed batch and gives every other one a reason; duplicates pass through', async () => {
      const first = track({ unitId: 'mix-1' });
      const exposure = { type: 'exposure', id: `x-${randomUUID()}`, unitId: 'mix-2', timestamp: new Date(now - HOUR).toISOString(), experiment: 'checkout-exp', variation: 'control' };
      const batch = [
        first,
        track({ unitId: undefined }),
        exposure,
        track({ value: 'ten' }),
        track({ id: 'future-1', timestamp: now + 25 * HOUR }),
        track({ id: 'ancient-1', timestamp: now - 31 * 24 * HOUR }),
        { ...first },
        track({ id: 'huge-1', properties: { blob: 'x'.repeat(MAX_EVENT_BYTES) } }),
        'not an event',
      ];

      const res = await post('/sdk/v1/events', client, { events: batch });

      expect(res.status).toBe(202);
      expect(res.body.accepted).toBe(3);
      expect(res.body.rejected.map((r: { index: number; code: string; id?: string }) => [r.index, r.code, r.id])).toEqual([
        [1, 'INVALID_EVENT', (batch[1] as { id: string }).id],
        [3, 'INVALID_EVENT', (batch[3] as { id: string }).id],
        [4, 'CLOCK_SKEW', 'future-1'],
        [5, 'CLOCK_SKEW', 'ancient-1'],
        [7, 'EVENT_TOO_LARGE', 'huge-1'],
        [8, 'INVALID_EVENT', undefined],
      ]);
      expect(res.body.rejected[0].reason).toContain('unitId');
      expect(res.body.rejected[2].reason).toContain('future');
      const stored = (await readStream(s.kinesis)).filter((r) => r.key === 'mix-1' || r.key === 'mix-2');
      expect(stored.map((r) => r.event.event.id).sort()).toEqual([first.id, first.id, exposure.id].sort());
      const storedExposure = stored.find((r) => r.event.event.id === exposure.id)!;
      expect(storedExposure.event).toMatchObject({ projectId: s.projectId, environment: 'development', receivedAt: now, occurredAt: now - HOUR });
    });

    it('rejects events with a NUL character or an unpaired surrogate in a string or key, keeping the rest of the batch', async () => {
      const good = track({ unitId: 'clean-1' });
      const batch = [track({ unitId: 'nul\u0000unit' }), track({ name: 'pur\u0000chase' }), track({ properties: { plan: 'pro\ud800' } }), track({ properties: { ['k\u0000']: 1 } }), good];

      const res = await post('/sdk/v1/events', server, { events: batch });

      expect(res.status).toBe(202);
      expect(res.body.accepted).toBe(1);
      expect(res.body.rejected.map((r: { index: number; code: string; reason: string }) => [r.index, r.code, r.reason])).toEqual([
        [0, 'INVALID_EVENT', 'unitId: contains a NUL character'],
        [1, 'INVALID_EVENT', 'name: contains a NUL character'],
        [2, 'INVALID_EVENT', 'properties.plan: is not valid Unicode (unpaired surrogate)'],
        [3, 'INVALID_EVENT', 'properties: has a key that contains a NUL character'],
      ]);
      const stored = (await readStream(s.kinesis)).filter((r) => batch.some((e) => e.id === r.event.event.id));
      expect(stored.map((r) => r.event.event.id)).toEqual([good.id]);
    });

    it("accepts a tracked event's other unit ids (units) and rejects malformed ones with the field named, keeping the rest of the batch", async () => {
      const good = track({ unitId: 'units-1', units: { deviceId: 'dev-1', anonymousId: 'anon-1' } });
      const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`attr${i}`, `v${i}`]));
      const exposure = { type: 'exposure', id: `x-${randomUUID()}`, unitId: 'units-x', timestamp: now, experiment: 'checkout-exp', variation: 'control', units: { deviceId: 'dev-1' } };
      const batch = [
        good,
        track({ units: eleven }),
        track({ units: { deviceId: 42 } }),
        track({ units: { deviceId: '' } }),
        track({ units: { deviceId: 'dev\u0000nul' } }),
        exposure,
        track({ units: { ['k'.repeat(257)]: 'v' } }),
        track({ units: ['dev-1'] }),
        track({ units: { deviceId: 'x'.repeat(257) } }),
      ];

      const res = await post('/sdk/v1/events', server, { events: batch });

      expect(res.status).toBe(202);
      expect(res.body.accepted).toBe(1);
      expect(res.body.rejected.map((r: { index: number; code: string; reason: string }) => [r.index, r.code, r.reason])).toEqual([
        [1, 'INVALID_EVENT', 'units: must have at most 10 entries'],
        [2, 'INVALID_EVENT', 'units.deviceId: expected string, received number'],
        [3, 'INVALID_EVENT', 'units.deviceId: must not be empty'],
        [4, 'INVALID_EVENT', 'units.deviceId: contains a NUL character'],
        [5, 'INVALID_EVENT', 'event: unrecognized key "units"'],
        [6, 'INVALID_EVENT', `units.${'k'.repeat(257)}: key must be 1-256 characters`],
        [7, 'INVALID_EVENT', 'units: expected object, received array'],
        [8, 'INVALID_EVENT', 'units.deviceId: must be at most 256 UTF-16 code units (an emoji counts as 2)'],
      ]);
      const stored = (await readStream(s.kinesis)).filter((r) => batch.some((e) => (e as { id: string }).id === r.event.event.id));
      // Carried as sent, for the aggregator.
      expect(stored.map((r) => r.event.event)).toEqual([good]);
    });

    it('rejects properties nested past 32 levels with a path, however deep, keeping the rest of the batch', async () => {
      const nested = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
      const good = track({ unitId: 'shallow-1', properties: { d: JSON.parse(nested(31)) as unknown } });
      const deep = (depth: number): string => JSON.stringify(track({ unitId: `deep-${depth}` })).replace(/}$/, `,"properties":{"d":${nested(depth)}}}`);
      const raw = `{"events":[${deep(33)},${deep(2_500)},${deep(200_000)},${JSON.stringify(good)}]}`;

      const res = await post('/sdk/v1/events', server, undefined, raw, { 'content-type': 'application/json' });

      expect(res.status).toBe(202);
      expect(res.body.accepted).toBe(1);
      expect(res.body.rejected.map((r: { index: number; code: string; reason: string }) => [r.index, r.code, r.reason])).toEqual([
        [0, 'INVALID_EVENT', 'properties.d: nested more than 32 levels deep'],
        [1, 'INVALID_EVENT', 'properties.d: nested more than 32 levels deep'],
        [2, 'INVALID_EVENT', 'properties: nested more than 32 levels deep'],
      ]);
      const stored = (await readStream(s.kinesis)).filter((r) => r.event.event.unitId === 'shallow-1');
      expect(stored).toHaveLength(1);
    });

    it('answers 400 with every reason when no event is valid, and for an empty or misshapen body', async () => {
      const none = await post('/sdk/v1/events', server, { events: [{ type: 'track' }, track({ timestamp: now + 48 * HOUR })] });
      const empty = await post('/sdk/v1/events', server, { events: [] });
      const shape = await post('/sdk/v1/events', server, [track()]);
      const unknownKey = await post('/sdk/v1/events', server, { events: [track()], sentAt: now });

      expect(none.status).toBe(400);
      expect(none.body.error.code).toBe('VALIDATION_FAILED');
      expect(none.body.error.details.rejected.map((r: { code: string }) => r.code)).toEqual(['INVALID_EVENT', 'CLOCK_SKEW']);
      expect(empty.status).toBe(400);
      expect(shape.status).toBe(400);
      expect([unknownKey.status, unknownKey.body.error.details.issues]).toEqual([400, [{ path: 'body', message: 'unrecognized key "sentAt"' }]]);
    });

    it('keeps the first 500 events of an oversized batch and rejects the rest with BATCH_LIMIT', async () => {
      const batch = Array.from({ length: MAX_EVENTS_PER_BATCH + 2 }, (_, i) => track({ id: `big-${i}-${randomUUID().slice(0, 8)}`, unitId: `big-${i % 10}` }));

      const res = await post('/sdk/v1/events', server, { events: batch });

      expect(res.status).toBe(202);
      expect(res.body.accepted).toBe(MAX_EVENTS_PER_BATCH);
      expect(res.body.rejected.map((r: { index: number; code: string }) => [r.index, r.code])).toEqual([
        [500, 'BATCH_LIMIT'],
        [501, 'BATCH_LIMIT'],
      ]);
      const ids = new Set((await readStream(s.kinesis)).map((r) => r.event.event.id));
      expect(batch.filter((e) => ids.has(e.id as string))).toHaveLength(MAX_EVENTS_PER_BATCH);
    });

    it('answers 503 UNAVAILABLE with Retry-After when Kinesis is down, acknowledging nothing', async () => {
      const dead = await s.deadSink();
      s.useSink(dead.sink);
      const event = track({ unitId: 'while-down' });

      const res = await post('/sdk/v1/events', server, { events: [event] });
      s.restoreSink();
      dead.dispose();

      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(res.body.error.code).toBe('UNAVAILABLE');
      expect(res.body.accepted).toBeUndefined();
      expect((await readStream(s.kinesis)).some((r) => r.event.event.id === event.id)).toBe(false);
    });

    it('answers 503 with Retry-After when the database cannot look a key up, and keeps known keys working through it', async () => {
      const newKey = async (name: string): Promise<string> => {
        const res = await s.p.request('POST', '/api/v1/projects/demo/sdk-keys', { token: s.owner, body: { environment: 'development', kind: 'server', name } });
        expect(res.status).toBe(201);
        return res.body.key as string;
      };
      const known = await newKey('known');
      const unseen = await newKey('unseen');
      expect((await post('/sdk/v1/events', known, { events: [track()] })).status).toBe(202);
      const started = s.p.now.value;
      try {
        s.faults.mode = 'stall';
        const t0 = performance.now();
        const stalled = await post('/sdk/v1/events', unseen, { events: [track()] });
        const waited = performance.now() - t0;
        const cached = await post('/sdk/v1/events', known, { events: [track()] });
        // Past the key cache's 30 s: the last known record still answers while the database cannot.
        s.p.now.value = new Date(started.getTime() + 60_000);
        const stale = await post('/sdk/v1/events', known, { events: [track({ timestamp: s.p.now.value.getTime() })] });
        s.faults.mode = 'down';
        const down = await post('/sdk/v1/evaluate', unseen, { unitId: 'u-1' });
        const management = await s.p.request('GET', '/api/v1/projects/demo/flags', { token: s.owner });

        expect([stalled.status, stalled.headers.get('retry-after'), stalled.body.error.code]).toEqual([503, '2', 'UNAVAILABLE']);
        expect(waited).toBeLessThan(10_000);
        expect([cached.status, stale.status]).toEqual([202, 202]);
        expect([down.status, down.headers.get('retry-after'), down.body.error.code]).toEqual([503, '2', 'UNAVAILABLE']);
        // Every endpoint: a database that is down is a 503 to retry, not a 500.
        expect([management.status, management.headers.get('retry-after'), management.body.error.code]).toEqual([503, '5', 'UNAVAILABLE']);
      } finally {
        s.faults.mode = 'none';
        s.p.now.value = started;
      }
    });

    it('answers 503 when too many writes are in flight, and 202 to the write that held the slot', async () => {
      let release = (): void => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      // A held PutRecords call stands in for a slow Kinesis; kinesalite cannot be made slow on demand.
      const slow: PutRecordsClient = {
        call: async (_operation, input) => {
          await gate;
          return { FailedRecordCount: 0, Records: (input.Records ?? []).map(() => ({ SequenceNumber: '1', ShardId: 's' })) };
        },
      };
      s.useSink(createKinesisEventSink({ client: slow, streamName: STREAM, maxInFlight: 1, retryAfterSeconds: 1 }));

      const first = post('/sdk/v1/events', server, { events: [track()] });
      const second = await post('/sdk/v1/events', server, { events: [track()] });
      release();
      const firstDone = await first;
      s.restoreSink();

      expect(second.status).toBe(503);
      expect(second.headers.get('retry-after')).toBe('1');
      expect(firstDone.status).toBe(202);
    });

    it('never writes an SDK key to the logs', () => {
      expect(s.p.logs.length).toBeGreaterThan(0);
      const logs = s.p.logs.join('\n');
      for (const keys of Object.values(s.p.boot.sdkKeys!)) {
        expect(logs).not.toContain(keys.server);
        expect(logs).not.toContain(keys.client);
      }
      expect(logs).not.toMatch(/xpk_(srv|cli)_[A-Za-z0-9_-]{20,}/);
    });
  });
});
