/**
 * OFREP (OpenFeature Remote Evaluation Protocol, github.com/open-feature/protocol service/openapi.yaml)
 * on the real app: POST /ofrep/v1/evaluate/flags/{key} and POST /ofrep/v1/evaluate/flags, mapped onto
 * xp's remote evaluation (/sdk/v1/evaluate): keys, validation, client-side views and exposures alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvaluationApp } from '../../../functions/evaluation.js';
import { EmfMetrics } from '../../../functions/metrics.js';
import { createApp } from '../../app.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { readStream, startSdkPlatform } from './sdk-fixture.js';
import { OFREP_EXPERIMENT, OFREP_FLAGS, addOfrepFlags } from './ofrep-fixture.js';

const SINGLE = (key: string): string => `/ofrep/v1/evaluate/flags/${encodeURIComponent(key)}`;
const BULK = '/ofrep/v1/evaluate/flags';

interface Answer {
  readonly status: number;
  readonly body: any;
  readonly headers: Headers;
}

describe('OFREP endpoints', () => {
  let s: SdkPlatform;
  let server: string;
  let client: string;

  /** A POST as an OFREP provider sends it: the key as a bearer token, `{ context }` as JSON. */
  const post = async (path: string, options: { key?: string | null; context?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Answer> => {
    const key = options.key === undefined ? server : options.key;
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...options.headers };
    const body = options.raw ?? JSON.stringify(options.context === undefined ? {} : { context: options.context });
    const res = await s.p.app.request(path, { method: 'POST', headers, body });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown), headers: res.headers };
  };

  beforeAll(async () => {
    s = await startSdkPlatform();
    server = s.p.boot.sdkKeys!.development!.server;
    client = s.p.boot.sdkKeys!.development!.client;
    await addOfrepFlags(s);
  });
  afterAll(async () => {
    await s.close();
  });

  describe('single flag', () => {
    it('evaluates a boolean flag: TARGETING_MATCH for a matching rule, DEFAULT otherwise, with the variation as variant', async () => {
      const matched = await post(SINGLE(OFREP_FLAGS.bool), { context: { targetingKey: 'user-1', country: 'DE' } });
      const other = await post(SINGLE(OFREP_FLAGS.bool), { context: { targetingKey: 'user-1', country: 'FR' } });

      expect(matched.status).toBe(200);
      expect(matched.headers.get('content-type')).toMatch(/^application\/json/);
      expect(matched.headers.get('cache-control')).toBe('no-store');
      expect(matched.body).toEqual({ key: OFREP_FLAGS.bool, value: true, reason: 'TARGETING_MATCH', variant: 'on', metadata: { xpReason: 'TARGETING_MATCH', ruleId: 'de' } });
      expect(other.status).toBe(200);
      expect(other.body).toEqual({ key: OFREP_FLAGS.bool, value: false, reason: 'DEFAULT', variant: 'off', metadata: { xpReason: 'DEFAULT' } });
    });

    it('evaluates string, number and JSON flags: STATIC for a flag without rules, SPLIT for a rollout, DISABLED for a flag that is off', async () => {
      const str = await post(SINGLE(OFREP_FLAGS.string), { context: { targetingKey: 'user-2' } });
      const num = await post(SINGLE(OFREP_FLAGS.number), { context: { targetingKey: 'user-2' } });
      const json = await post(SINGLE(OFREP_FLAGS.json), { context: { targetingKey: 'user-2' } });

      expect([str.status, num.status, json.status]).toEqual([200, 200, 200]);
      expect(str.body).toEqual({ key: OFREP_FLAGS.string, value: 'blue', reason: 'STATIC', variant: 'blue', metadata: { xpReason: 'DEFAULT' } });
      expect(num.body).toEqual({ key: OFREP_FLAGS.number, value: 10, reason: 'SPLIT', variant: 'ten', metadata: { xpReason: 'SPLIT', ruleId: 'everyone' } });
      expect(json.body).toEqual({ key: OFREP_FLAGS.json, value: { theme: 'dark' }, reason: 'DISABLED', variant: 'dark', metadata: { xpReason: 'DISABLED' } });
    });

    it('names the experiment in the metadata of a flag an experiment served', async () => {
      const res = await post(SINGLE(OFREP_FLAGS.experiment), { context: { targetingKey: 'user-3' } });

      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ key: OFREP_FLAGS.experiment, reason: 'SPLIT', metadata: { xpReason: 'SPLIT', ruleId: 'exp', experimentKey: OFREP_EXPERIMENT, inExperiment: true } });
      expect(res.body.metadata.experimentVariation).toBe(res.body.variant);
      expect(res.body.value).toBe(res.body.variant === 'treatment' ? 'new' : 'old');
    });

    it('answers 404 FLAG_NOT_FOUND for an unknown flag, and for a key that cannot be a flag key', async () => {
      const unknown = await post(SINGLE('no-such-flag'), { context: { targetingKey: 'u' } });
      const malformed = await post(SINGLE('Not A Key!'), { context: { targetingKey: 'u' } });

      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ key: 'no-such-flag', errorCode: 'FLAG_NOT_FOUND', errorDetails: 'flag "no-such-flag" not found' });
      expect(malformed.status).toBe(404);
      expect(malformed.body).toMatchObject({ key: 'Not A Key!', errorCode: 'FLAG_NOT_FOUND' });
    });

    it('answers 400 TARGETING_KEY_MISSING when a rule bucketing on the unit id passed a context without targetingKey by, and evaluates flags that need no id', async () => {
      const missing = await post(SINGLE(OFREP_FLAGS.number), { context: { country: 'DE' } });
      const missingForExperiment = await post(SINGLE(OFREP_FLAGS.experiment), { context: { country: 'DE' } });
      const noIdNeeded = await post(SINGLE(OFREP_FLAGS.bool), { context: { country: 'DE' } });
      // The id as a plain `id` attribute counts, as in /sdk/v1/evaluate.
      const idAttribute = await post(SINGLE(OFREP_FLAGS.number), { context: { id: 'user-4' } });
      // A finite number is an id (its decimal string), as in the xp OpenFeature provider.
      const numeric = await post(SINGLE(OFREP_FLAGS.number), { context: { targetingKey: 42 } });

      expect(missing.status).toBe(400);
      expect(missing.body).toEqual({ key: OFREP_FLAGS.number, errorCode: 'TARGETING_KEY_MISSING', errorDetails: expect.stringContaining('targetingKey') });
      expect(missingForExperiment.status).toBe(400);
      expect(missingForExperiment.body).toMatchObject({ key: OFREP_FLAGS.experiment, errorCode: 'TARGETING_KEY_MISSING' });
      expect(noIdNeeded.status).toBe(200);
      expect(noIdNeeded.body).toMatchObject({ value: true, reason: 'TARGETING_MATCH' });
      expect(idAttribute.status).toBe(200);
      expect(idAttribute.body).toMatchObject({ value: 10, reason: 'SPLIT' });
      expect(numeric.status).toBe(200);
      expect(numeric.body).toMatchObject({ value: 10, reason: 'SPLIT' });
    });

    it('takes the key as a bearer token, as X-API-Key (the protocol\'s API-key scheme) or as X-XP-SDK-Key', async () => {
      const context = { targetingKey: 'user-5', country: 'DE' };
      const bearerLower = await post(SINGLE(OFREP_FLAGS.bool), { key: null, context, headers: { authorization: `bearer ${server}` } });
      const apiKey = await post(SINGLE(OFREP_FLAGS.bool), { key: null, context, headers: { 'x-api-key': server } });
      const xpHeader = await post(SINGLE(OFREP_FLAGS.bool), { key: null, context, headers: { 'x-xp-sdk-key': server } });
      const bare = await post(SINGLE(OFREP_FLAGS.bool), { key: null, context, headers: { authorization: server } });
      const same = await post(SINGLE(OFREP_FLAGS.bool), { context, headers: { 'x-xp-sdk-key': server } });

      for (const res of [bearerLower, apiKey, xpHeader, bare, same]) {
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ value: true, reason: 'TARGETING_MATCH' });
      }
    });
  });

  describe('bulk', () => {
    it('evaluates every flag the key sees as the flags array, with successes and failures side by side', async () => {
      const res = await post(BULK, { context: { targetingKey: 'user-6', country: 'DE' } });

      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const flags = res.body.flags as { key: string }[];
      const byKey = new Map(flags.map((f) => [f.key, f]));
      expect(byKey.get(OFREP_FLAGS.bool)).toEqual({ key: OFREP_FLAGS.bool, value: true, reason: 'TARGETING_MATCH', variant: 'on', metadata: { xpReason: 'TARGETING_MATCH', ruleId: 'de' } });
      expect(byKey.get(OFREP_FLAGS.string)).toMatchObject({ value: 'blue', reason: 'STATIC', variant: 'blue' });
      expect(byKey.get(OFREP_FLAGS.number)).toMatchObject({ value: 10, reason: 'SPLIT', variant: 'ten' });
      expect(byKey.get(OFREP_FLAGS.json)).toMatchObject({ value: { theme: 'dark' }, reason: 'DISABLED', variant: 'dark' });
      expect(byKey.get(OFREP_FLAGS.serverOnly)).toMatchObject({ value: true });
      // The demo project's own flags come along: every flag of the environment.
      expect(byKey.get('button-color')).toMatchObject({ value: 'green', variant: 'green' });
      expect(new Set(flags.map((f) => f.key)).size).toBe(flags.length);

      const anonymous = await post(BULK, { context: { country: 'DE' } });
      const entries = new Map((anonymous.body.flags as { key: string }[]).map((f) => [f.key, f]));
      expect(anonymous.status).toBe(200);
      expect(entries.get(OFREP_FLAGS.number)).toEqual({ key: OFREP_FLAGS.number, errorCode: 'TARGETING_KEY_MISSING', errorDetails: expect.any(String) });
      expect(entries.get(OFREP_FLAGS.bool)).toMatchObject({ value: true, reason: 'TARGETING_MATCH' });
    });

    it('gives an ETag of the answer and 304 for an If-None-Match that still holds; another context or a changed flag gets 200 and a new ETag', async () => {
      const context = { targetingKey: 'user-7', country: 'DE' };
      const first = await post(BULK, { context });
      const etag = first.headers.get('etag')!;
      const again = await post(BULK, { context, headers: { 'if-none-match': etag } });
      const weak = await post(BULK, { context, headers: { 'if-none-match': `"other", W/${etag}` } });
      const otherContext = await post(BULK, { context: { ...context, country: 'FR' }, headers: { 'if-none-match': etag } });

      expect(first.status).toBe(200);
      expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
      expect(again.status).toBe(304);
      expect(again.body).toBeUndefined();
      expect(again.headers.get('etag')).toBe(etag);
      expect(weak.status).toBe(304);
      expect(otherContext.status).toBe(200);
      expect(otherContext.headers.get('etag')).not.toBe(etag);

      // A change of a flag's value changes the answer, and the ETag.
      const setDefault = async (variation: string): Promise<number> => {
        const path = `/api/v1/projects/demo/flags/${OFREP_FLAGS.string}`;
        const flag = await s.p.request('GET', path, { token: s.owner });
        const res = await s.p.request('PUT', `${path}/environments/development`, {
          token: s.owner,
          headers: { 'If-Match': flag.headers.get('etag')! },
          body: { enabled: true, defaultVariation: variation, offVariation: 'red' },
        });
        return res.status;
      };
      expect(await setDefault('red')).toBe(200);
      const after = await post(BULK, { context, headers: { 'if-none-match': etag } });
      expect(await setDefault('blue')).toBe(200);
      expect(after.status).toBe(200);
      expect((after.body.flags as { key: string; value: unknown }[]).find((f) => f.key === OFREP_FLAGS.string)?.value).toBe('red');
      expect(after.headers.get('etag')).not.toBe(etag);
    });

    it('takes an empty body as an empty context', async () => {
      const res = await s.p.app.request(BULK, { method: 'POST', headers: { authorization: `Bearer ${server}` } });

      expect(res.status).toBe(200);
      expect(((await res.json()) as { flags: unknown[] }).flags.length).toBeGreaterThan(0);
    });

    it('answers 200 { flags: [] } (an environment without flags) where nothing was published yet; a single flag is FLAG_NOT_FOUND there', async () => {
      // A ruleset store holding nothing yet (as a DynamoDB table before the first publish); the keys are real.
      const deps = s.p.services.deps;
      const empty = { ...deps.rulesets, latest: () => Promise.resolve(undefined), newerThan: () => Promise.resolve(undefined), get: () => Promise.resolve(undefined) };
      const app = createEvaluationApp({ ...deps, rulesets: empty }, { metrics: new EmfMetrics({ service: 'evaluation', stage: 'test', write: () => undefined }), sdk: { streaming: false } });
      const send = async (path: string, headers: Record<string, string> = {}): Promise<Answer> => {
        const res = await app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${server}`, ...headers }, body: JSON.stringify({ context: { targetingKey: 'user-1' } }) });
        const text = await res.text();
        return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown), headers: res.headers };
      };
      // Nothing published: the SDK endpoint says so.
      expect((await app.request('/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': server } })).status).toBe(404);

      const bulk = await send(BULK);
      const again = await send(BULK, { 'if-none-match': bulk.headers.get('etag') ?? '' });
      const single = await send(SINGLE(OFREP_FLAGS.bool));

      expect(bulk.status).toBe(200);
      expect(bulk.body).toEqual({ flags: [] });
      expect(bulk.headers.get('etag')).toMatch(/^"/);
      expect(again.status).toBe(304);
      expect(single.status).toBe(404);
      expect(single.body).toMatchObject({ key: OFREP_FLAGS.bool, errorCode: 'FLAG_NOT_FOUND' });
    });
  });

  describe('bad input gets the protocol\'s error shape, never a 500', () => {
    const cases: { name: string; raw?: string; context?: unknown; headers?: Record<string, string>; errorCode: string }[] = [
      { name: 'malformed JSON', raw: '{"context": {', errorCode: 'PARSE_ERROR' },
      { name: 'a body that is not an object', raw: '[1, 2]', errorCode: 'PARSE_ERROR' },
      { name: 'a body that is not JSON', raw: 'context=x', headers: { 'content-type': 'text/plain' }, errorCode: 'PARSE_ERROR' },
      { name: 'a context that is not an object', context: 'user-1', errorCode: 'INVALID_CONTEXT' },
      { name: 'a context that is an array', context: ['user-1'], errorCode: 'INVALID_CONTEXT' },
      { name: 'a targetingKey that is not a string', context: { targetingKey: { id: 1 } }, errorCode: 'INVALID_CONTEXT' },
      { name: 'a targetingKey over 256 characters', context: { targetingKey: 'u'.repeat(257) }, errorCode: 'INVALID_CONTEXT' },
      { name: 'an attribute name over 200 characters', context: { targetingKey: 'u', ['a'.repeat(201)]: 1 }, errorCode: 'INVALID_CONTEXT' },
      { name: 'an attribute with a NUL character', context: { targetingKey: 'u', name: 'a\u0000b' }, errorCode: 'INVALID_CONTEXT' },
      { name: 'attributes nested too deep', context: { targetingKey: 'u', deep: JSON.parse('['.repeat(40) + ']'.repeat(40)) as unknown }, errorCode: 'INVALID_CONTEXT' },
      { name: 'a context over 64 KiB', context: { targetingKey: 'u', big: 'x'.repeat(70 * 1024) }, errorCode: 'INVALID_CONTEXT' },
    ];

    for (const c of cases) {
      it(`answers 400 ${c.errorCode} for ${c.name}, single and bulk`, async () => {
        const single = await post(SINGLE(OFREP_FLAGS.bool), { ...(c.raw === undefined ? { context: c.context } : { raw: c.raw }), ...(c.headers === undefined ? {} : { headers: c.headers }) });
        const bulk = await post(BULK, { ...(c.raw === undefined ? { context: c.context } : { raw: c.raw }), ...(c.headers === undefined ? {} : { headers: c.headers }) });

        expect(single.status).toBe(400);
        expect(single.body).toEqual({ key: OFREP_FLAGS.bool, errorCode: c.errorCode, errorDetails: expect.any(String) });
        expect(bulk.status).toBe(400);
        expect(bulk.body).toEqual({ errorCode: c.errorCode, errorDetails: expect.any(String) });
      });
    }

    it('names the context path that is wrong', async () => {
      const res = await post(SINGLE(OFREP_FLAGS.bool), { context: { targetingKey: 'u', plan: { tier: 'a\u0000' } } });

      expect(res.status).toBe(400);
      expect(res.body.errorDetails).toContain('context.plan.tier');
      const long = await post(SINGLE(OFREP_FLAGS.bool), { context: { targetingKey: 'u'.repeat(257) } });
      expect(long.body.errorDetails).toContain('context.targetingKey');
    });
  });

  describe('keys', () => {
    it('answers 401 without a key, with an unknown, malformed or non-bearer one, or with two different keys', async () => {
      const answers = [
        await post(SINGLE(OFREP_FLAGS.bool), { key: null }),
        await post(SINGLE(OFREP_FLAGS.bool), { key: 'xpk_srv_unknownunknownunknownunknown' }),
        await post(SINGLE(OFREP_FLAGS.bool), { key: 'not-a-key' }),
        await post(BULK, { key: null, headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')} extra` } }),
        await post(BULK, { headers: { 'x-xp-sdk-key': client } }),
      ];

      for (const res of answers) {
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ errorDetails: expect.any(String) });
      }
    });

    it('answers 403 to a server-side key sent from a web page (Origin), as every SDK endpoint does', async () => {
      const res = await post(BULK, { headers: { origin: 'https://shop.example.com' } });

      expect(res.status).toBe(403);
      expect(res.body).toEqual({ errorDetails: expect.stringContaining('server-side SDK key') });
    });

    it('refuses a key in the URL (400), readably', async () => {
      const res = await post(`${BULK}?key=${server}`);

      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ errorCode: 'GENERAL', errorDetails: expect.stringContaining('never in the URL') });
    });

    it('shows a client-side key only the client-side flags: the bulk answer leaves the others out, a single evaluation does not find them', async () => {
      const bulk = await post(BULK, { key: client, context: { targetingKey: 'user-8' } });
      const single = await post(SINGLE(OFREP_FLAGS.serverOnly), { key: client, context: { targetingKey: 'user-8' } });
      const visible = await post(SINGLE(OFREP_FLAGS.bool), { key: client, context: { targetingKey: 'user-8', country: 'DE' } });
      const asServer = await post(SINGLE(OFREP_FLAGS.serverOnly), { context: { targetingKey: 'user-8' } });

      expect(bulk.status).toBe(200);
      const keys = (bulk.body.flags as { key: string }[]).map((f) => f.key);
      expect(keys).toContain(OFREP_FLAGS.bool);
      expect(keys).not.toContain(OFREP_FLAGS.serverOnly);
      expect(single.status).toBe(404);
      expect(single.body).toMatchObject({ key: OFREP_FLAGS.serverOnly, errorCode: 'FLAG_NOT_FOUND' });
      expect(visible.status).toBe(200);
      expect(asServer.status).toBe(200);
    });

    it('serves browsers on other sites: the preflight allows the Authorization header, and every answer (refusals too) is readable', async () => {
      const origin = { origin: 'https://shop.example.com' };
      const preflight = await s.p.app.request(BULK, { method: 'OPTIONS', headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, if-none-match' } });
      const ok = await post(BULK, { key: client, headers: origin });
      const refused = await post(BULK, { key: 'xpk_cli_nope', headers: origin });

      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
      expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('authorization'));
      expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toEqual(expect.stringContaining('if-none-match'));
      expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
      expect(ok.status).toBe(200);
      expect(ok.headers.get('access-control-allow-origin')).toBe('*');
      expect(ok.headers.get('access-control-expose-headers')).toContain('ETag');
      expect(refused.status).toBe(401);
      expect(refused.headers.get('access-control-allow-origin')).toBe('*');
    });
  });

  describe('where the SDK endpoints run', () => {
    it('the evaluation Lambda (behind API Gateway) serves OFREP too', async () => {
      const lines: string[] = [];
      const lambdaApp = createEvaluationApp(s.p.services.deps, { metrics: new EmfMetrics({ service: 'evaluation', stage: 'test', write: (line) => lines.push(line) }), sdk: { streaming: false } });

      const res = await lambdaApp.request(SINGLE(OFREP_FLAGS.bool), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${server}` },
        body: JSON.stringify({ context: { targetingKey: 'lambda-user', country: 'DE' } }),
      });
      const bulk = await lambdaApp.request(BULK, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${client}` }, body: '{"context":{}}' });

      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ key: OFREP_FLAGS.bool, value: true, reason: 'TARGETING_MATCH', variant: 'on' });
      expect(bulk.status).toBe(200);
      expect(bulk.headers.get('etag')).toMatch(/^"/);
    });
  });

  describe('metrics', () => {
    /** A single, a bulk, the same bulk again (304) and a /sdk/v1/evaluate of one flag, against `app`; the number of flags the bulk one evaluated. */
    const sendAll = async (app: { request: (path: string, init: RequestInit) => Response | Promise<Response> }): Promise<{ statuses: number[]; flags: number }> => {
      const ofrep = (path: string, headers: Record<string, string> = {}): Promise<Response> =>
        Promise.resolve(app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${server}`, ...headers }, body: JSON.stringify({ context: { targetingKey: 'metrics-user' } }) }));
      const single = await ofrep(SINGLE(OFREP_FLAGS.bool));
      const bulk = await ofrep(BULK);
      const flags = ((await bulk.json()) as { flags: unknown[] }).flags.length;
      const unchanged = await ofrep(BULK, { 'if-none-match': bulk.headers.get('etag')! });
      const sdk = await app.request('/sdk/v1/evaluate', { method: 'POST', headers: { 'content-type': 'application/json', 'X-XP-SDK-Key': server }, body: JSON.stringify({ unit: { id: 'metrics-user' }, flags: [OFREP_FLAGS.bool] }) });
      return { statuses: [single.status, bulk.status, unchanged.status, sdk.status], flags };
    };

    it('counts the flags each OFREP request evaluated in the Lambda\'s EMF lines, as /sdk/v1/evaluate\'s (a 304 evaluated them too)', async () => {
      const lines: string[] = [];
      const lambdaApp = createEvaluationApp(s.p.services.deps, { metrics: new EmfMetrics({ service: 'evaluation', stage: 'test', write: (line) => lines.push(line) }), sdk: { streaming: false } });

      const { statuses, flags } = await sendAll(lambdaApp);

      expect(statuses).toEqual([200, 200, 304, 200]);
      expect(flags).toBeGreaterThan(1);
      // One line per request (flushed after each), each with its latency and the flags it evaluated.
      const parsed = lines.map((line) => JSON.parse(line) as { Evaluations?: number; EvaluationLatency?: number });
      expect(parsed.map((p) => p.Evaluations)).toEqual([1, flags, flags, 1]);
      expect(parsed.every((p) => typeof p.EvaluationLatency === 'number')).toBe(true);
    });

    it('counts them in the local app\'s metric sink (the Health view) once per request, latency included', async () => {
      const put: { name: string; value: number }[] = [];
      const local = createApp(s.p.services, { sdkMetrics: { put: (name, value) => void put.push({ name, value }) } });

      const { statuses, flags } = await sendAll(local);

      expect(statuses).toEqual([200, 200, 304, 200]);
      expect(put.filter((m) => m.name === 'Evaluations').map((m) => m.value)).toEqual([1, flags, flags, 1]);
      expect(put.filter((m) => m.name === 'EvaluationLatency')).toHaveLength(4);
    });
  });

  describe('exposures', () => {
    /** The exposures of a unit, without what differs between two units (ids, the unit, its variation). */
    const exposuresOf = async (unitId: string): Promise<{ variation: string; rest: Record<string, unknown> }[]> => {
      const records = (await readStream(s.kinesis)).filter((r) => r.event.event.type === 'exposure' && r.event.event.unitId === unitId);
      return records.map((r) => {
        const { event, ...envelope } = r.event;
        const { id: _id, unitId: _unit, variation, ...rest } = event as unknown as Record<string, unknown>;
        return { variation: variation as string, rest: { ...envelope, ...rest, partitionKeyIsUnit: r.key === unitId } };
      });
    };

    it('logs an exposure for an experiment flag exactly as /sdk/v1/evaluate logs it, once per evaluation', async () => {
      const attributes = { country: 'US', visits: 3, profile: { nested: true } };
      const single = await post(SINGLE(OFREP_FLAGS.experiment), { context: { targetingKey: 'ofrep-unit-1', ...attributes } });
      const bulk = await post(BULK, { context: { targetingKey: 'ofrep-unit-2', ...attributes } });
      const sdk = await s.p.request('POST', '/sdk/v1/evaluate', { headers: { 'X-XP-SDK-Key': server }, body: { unit: { id: 'sdk-unit-1', attributes } } });
      expect([single.status, bulk.status, sdk.status]).toEqual([200, 200, 200]);

      const viaSingle = await exposuresOf('ofrep-unit-1');
      const viaBulk = await exposuresOf('ofrep-unit-2');
      const viaSdk = await exposuresOf('sdk-unit-1');
      expect(viaSingle).toHaveLength(1);
      expect(viaBulk).toHaveLength(1);
      expect(viaSdk).toHaveLength(1);
      expect(viaSingle[0]!.variation).toBe(single.body.variant);
      expect(viaBulk[0]!.variation).toBe((bulk.body.flags as { key: string; variant: string }[]).find((f) => f.key === OFREP_FLAGS.experiment)!.variant);
      expect(viaSingle[0]!.rest).toEqual(viaSdk[0]!.rest);
      expect(viaBulk[0]!.rest).toEqual(viaSdk[0]!.rest);
      expect(viaSingle[0]!.rest).toMatchObject({
        projectId: s.projectId,
        environment: 'development',
        experiment: OFREP_EXPERIMENT,
        flag: OFREP_FLAGS.experiment,
        hashAttribute: 'id',
        attributes: { country: 'US', visits: 3 },
        partitionKeyIsUnit: true,
      });
    });

    it('logs no exposure for flags no experiment served', async () => {
      const res = await post(SINGLE(OFREP_FLAGS.number), { context: { targetingKey: 'ofrep-unit-3' } });

      expect(res.status).toBe(200);
      expect(await exposuresOf('ofrep-unit-3')).toEqual([]);
    });
  });
});
