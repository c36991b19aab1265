/**
 * The SDK endpoints in the OpenAPI document (`openApiDocument(…, { sdk: true })`, sdk-openapi.ts):
 * described with their SDK-key security schemes, and held to the handlers — the evaluate body schema
 * gives parseEvaluateBody's verdict on a corpus, and live answers parse with the answer schemas.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../../domain/services.js';
import { managementRoutes } from '../../app.js';
import { openApiDocument } from '../../openapi.js';
import { OfrepErrorCode, parseOfrepBody } from '../ofrep.js';
import { parseEvaluateBody } from '../sdk-routes.js';
import {
  OFREP_ERROR_CODES,
  evaluateAnswerSchema,
  evaluateBodySchema,
  eventsAnswerSchema,
  eventsBodySchema,
  ofrepBodySchema,
  ofrepBulkAnswerSchema,
  ofrepFailureSchema,
  ofrepGeneralErrorSchema,
  ofrepSuccessSchema,
  sdkRulesetSchema,
} from '../sdk-openapi.js';
import { OFREP_FLAGS, addOfrepFlags } from './ofrep-fixture.js';
import type { SdkPlatform } from './sdk-fixture.js';
import { startSdkPlatform } from './sdk-fixture.js';

type Json = Record<string, any>;

const INFO = { title: 'xp', version: '0', description: 'test' };
const ROUTES = managementRoutes({} as Services);

describe('the SDK endpoints in the OpenAPI document', () => {
  const doc: Json = openApiDocument(ROUTES, INFO, { sdk: true });

  it('describes /sdk/v1 and /r with the SDK-key security schemes, every reference resolving', () => {
    const sdkOps = Object.entries(doc.paths as Record<string, Record<string, Json>>)
      .filter(([path]) => path.startsWith('/sdk/') || path.startsWith('/r/'))
      .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ id: `${method} ${path}`, op })));

    expect(sdkOps.map((o) => o.id).sort()).toEqual(['get /r/{experimentKey}', 'get /sdk/v1/ruleset', 'get /sdk/v1/stream', 'post /sdk/v1/evaluate', 'post /sdk/v1/events']);
    const ofrepOps = Object.entries(doc.paths as Record<string, Record<string, Json>>)
      .filter(([path]) => path.startsWith('/ofrep/'))
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`));
    expect(ofrepOps.sort()).toEqual(['post /ofrep/v1/evaluate/flags', 'post /ofrep/v1/evaluate/flags/{key}']);
    expect(doc.components.securitySchemes.sdkKey).toEqual(expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-XP-SDK-Key' }));
    expect(doc.components.securitySchemes.sdkClientKeyQuery).toEqual(expect.objectContaining({ type: 'apiKey', in: 'query', name: 'k' }));
    expect(sdkOps.filter((o) => o.id.includes('/sdk/')).map((o) => o.op.security)).toEqual(Array.from({ length: 4 }, () => [{ sdkKey: [] }]));
    expect(doc.paths['/sdk/v1/evaluate'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/SdkEvaluateBodyInput' });
    expect(doc.components.schemas.SdkEvaluateBodyInput.properties.exposure).toMatchObject({ type: 'boolean' });
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.filter((name) => doc.components.schemas[name] === undefined)).toEqual([]);
    // Without the option the document is the management API's alone, as before.
    expect(Object.keys(openApiDocument(ROUTES, INFO).paths as object).filter((p) => !p.startsWith('/api/'))).toEqual([]);
  });

  it('describes the OFREP operations: { context } in, the protocol\'s success and error shapes out, 304 for the bulk one, an SDK key as bearer, X-API-Key or X-XP-SDK-Key', () => {
    const single = doc.paths['/ofrep/v1/evaluate/flags/{key}'].post;
    const bulk = doc.paths['/ofrep/v1/evaluate/flags'].post;
    const ofrepSecurity = [{ sdkKeyBearer: [] }, { sdkKeyApiKey: [] }, { sdkKey: [] }];
    const schemaOf = (response: Json): unknown => response.content?.['application/json']?.schema;

    expect(doc.components.securitySchemes.sdkKeyBearer).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    expect(doc.components.securitySchemes.sdkKeyApiKey).toEqual(expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }));
    expect([single.security, bulk.security]).toEqual([ofrepSecurity, ofrepSecurity]);
    for (const op of [single, bulk]) {
      expect(op.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/OfrepEvaluationRequestInput' });
      expect(schemaOf(op.responses['400'])).toEqual({ $ref: '#/components/schemas/OfrepEvaluationFailure' });
      for (const status of ['401', '403', '429', '503']) {
        expect(schemaOf(op.responses[status])).toEqual({ $ref: '#/components/schemas/OfrepGeneralError' });
      }
    }
    // X-XP-App: the application the answer counts under (optional, checked as the SDKs' appName).
    expect(single.parameters).toEqual([
      expect.objectContaining({ name: 'key', in: 'path', required: true }),
      expect.objectContaining({ name: 'X-XP-App', in: 'header', required: false, schema: expect.objectContaining({ maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }) }),
    ]);
    expect(schemaOf(single.responses['200'])).toEqual({ $ref: '#/components/schemas/OfrepEvaluationSuccess' });
    expect(schemaOf(single.responses['404'])).toEqual({ $ref: '#/components/schemas/OfrepEvaluationFailure' });
    expect(schemaOf(bulk.responses['200'])).toEqual({ $ref: '#/components/schemas/OfrepBulkEvaluationSuccess' });
    expect(bulk.responses['200'].headers.ETag).toBeDefined();
    expect(bulk.responses['304']).toBeDefined();
    expect(bulk.parameters).toEqual([expect.objectContaining({ name: 'If-None-Match', in: 'header' })]);
    expect(doc.components.schemas.OfrepEvaluationRequestInput.properties.context).toBeDefined();
    expect(doc.components.schemas.OfrepEvaluationFailure.properties.errorCode.enum).toEqual([...OFREP_ERROR_CODES]);
    // The documented codes are the handler's.
    expect([...OFREP_ERROR_CODES].sort()).toEqual(Object.values(OfrepErrorCode).sort());
  });

  it("gives the OFREP body parseOfrepBody's verdict", () => {
    const valid: unknown[] = [
      {},
      { context: null },
      { context: {} },
      { context: { targetingKey: 'u' } },
      { context: { targetingKey: 42 } },
      { context: { targetingKey: '' } },
      { context: { targetingKey: null, country: 'NL', visits: 3, tags: ['a', null], nested: { deep: true } } },
      { context: { targetingKey: 'u' }, later: 'ignored' },
    ];
    const invalid: unknown[] = [[], null, 'u', 3, { context: 'u' }, { context: [] }, { context: { targetingKey: true } }, { context: { targetingKey: {} } }, { context: { targetingKey: 'x'.repeat(257) } }];
    const handler = (body: unknown): boolean => {
      try {
        parseOfrepBody(structuredClone(body));
        return true;
      } catch {
        return false;
      }
    };
    const verdicts = [...valid, ...invalid].map((body) => ({ body: JSON.stringify(body).slice(0, 80), handler: handler(body), schema: ofrepBodySchema.safeParse(body).success }));

    expect(verdicts.filter((v) => v.handler !== v.schema)).toEqual([]);
    expect(verdicts.map((v) => v.handler)).toEqual([...valid.map(() => true), ...invalid.map(() => false)]);
  });

  it("gives the evaluate body parseEvaluateBody's verdict", () => {
    const valid: unknown[] = [
      { unit: { id: 'u' } },
      { unit: {} },
      { unit: { id: null, attributes: null } },
      { unit: { id: 'x'.repeat(256), attributes: { country: 'NL', visits: 3, tags: ['a', null], nested: { deep: true } } } },
      { unit: { id: 'u' }, flags: [] },
      { unit: { id: 'u' }, flags: ['checkout', 'a.b_c-1'] },
      { unit: { id: 'u' }, explain: true, exposure: false },
      { unit: { id: 'u' }, exposure: true },
      ...[true, false, null, [], ['email']].map((privateAttributes) => ({ unit: { id: 'u' }, privateAttributes })),
    ];
    const invalid: unknown[] = [
      [],
      null,
      'u',
      {},
      { unit: null },
      { unit: 'u' },
      { unit: { id: '' } },
      { unit: { id: 5 } },
      { unit: { id: 'x'.repeat(257) } },
      { unit: { id: 'u', email: 'x' } },
      { unit: { attributes: [] } },
      { unit: { attributes: 'x' } },
      { unit: { attributes: { ['k'.repeat(201)]: 1 } } },
      ...[null, 'checkout', [''], ['not a key'], [1], Array.from({ length: 201 }, (_, i) => `f-${i}`)].map((flags) => ({ unit: { id: 'u' }, flags })),
      ...[null, 'yes', 1].map((explain) => ({ unit: { id: 'u' }, explain })),
      ...['email', 0, [''], [3], ['x'.repeat(201)]].map((privateAttributes) => ({ unit: { id: 'u' }, privateAttributes })),
      ...[null, 'false', 0, {}].map((exposure) => ({ unit: { id: 'u' }, exposure })),
      { unit: { id: 'u' }, logExposures: false },
    ];
    const handler = (body: unknown): boolean => {
      try {
        parseEvaluateBody(structuredClone(body));
        return true;
      } catch {
        return false;
      }
    };
    const verdicts = [...valid, ...invalid].map((body) => ({ body: JSON.stringify(body).slice(0, 80), handler: handler(body), schema: evaluateBodySchema.safeParse(body).success }));

    expect(verdicts.filter((v) => v.handler !== v.schema)).toEqual([]);
    expect(verdicts.map((v) => v.handler)).toEqual([...valid.map(() => true), ...invalid.map(() => false)]);
  });
});

describe('live SDK answers parse with the documented schemas', () => {
  let s: SdkPlatform;
  let server: string;

  beforeAll(async () => {
    s = await startSdkPlatform();
    server = s.p.boot.sdkKeys!.development!.server;
  });
  afterAll(async () => {
    await s.close();
  });

  it('are in the /openapi.json the app serves where it mounts them', async () => {
    const served = await s.p.request('GET', '/openapi.json');
    expect(served.status).toBe(200);
    expect(Object.keys(served.body.paths as object).filter((p) => !p.startsWith('/api/')).sort()).toEqual([
      '/ofrep/v1/evaluate/flags',
      '/ofrep/v1/evaluate/flags/{key}',
      '/r/{experimentKey}',
      '/sdk/v1/evaluate',
      '/sdk/v1/events',
      '/sdk/v1/ruleset',
      '/sdk/v1/stream',
    ]);
  });

  it('OFREP answers: a flag, the bulk answer (successes and failures), a failure and a general error', async () => {
    await addOfrepFlags(s);
    const ofrep = async (path: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${server}` }): Promise<{ status: number; body: any }> => {
      const res = await s.p.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    };
    const body = { context: { targetingKey: 'u-1', country: 'DE' } };
    expect(ofrepBodySchema.safeParse(body).success).toBe(true);

    const flag = await ofrep(`/ofrep/v1/evaluate/flags/${OFREP_FLAGS.experiment}`, body);
    const bulk = await ofrep('/ofrep/v1/evaluate/flags', { context: {} }, { 'x-api-key': server });
    const missing = await ofrep('/ofrep/v1/evaluate/flags/no-such-flag', body, { 'X-XP-SDK-Key': server });
    const unauthenticated = await ofrep('/ofrep/v1/evaluate/flags', body, { authorization: 'Bearer xpk_srv_unknown' });

    expect([flag.status, bulk.status, missing.status, unauthenticated.status]).toEqual([200, 200, 404, 401]);
    expect(ofrepSuccessSchema.strict().safeParse(flag.body).error).toBeUndefined();
    expect(flag.body.metadata).toHaveProperty('experimentKey');
    expect(ofrepBulkAnswerSchema.safeParse(bulk.body).error).toBeUndefined();
    // Without targetingKey, a flag bucketing on the unit id fails in the bulk answer: both shapes occur.
    const items = bulk.body.flags as Json[];
    expect(items.some((f) => 'errorCode' in f)).toBe(true);
    expect(items.some((f) => 'value' in f)).toBe(true);
    for (const item of items) {
      const strict = 'errorCode' in item ? ofrepFailureSchema.strict() : ofrepSuccessSchema.strict();
      expect(strict.safeParse(item).error).toBeUndefined();
    }
    expect(ofrepFailureSchema.strict().safeParse(missing.body).error).toBeUndefined();
    expect(missing.body.errorCode).toBe('FLAG_NOT_FOUND');
    expect(ofrepGeneralErrorSchema.strict().safeParse(unauthenticated.body).error).toBeUndefined();
  });

  it('the ruleset, an explained evaluation and an events answer', async () => {
    const headers = { 'X-XP-SDK-Key': server };
    const ruleset = await s.p.request('GET', '/sdk/v1/ruleset', { headers });
    const evaluation = await s.p.request('POST', '/sdk/v1/evaluate', { headers, body: { unit: { id: 'u-1' }, flags: ['button-color', 'no-such-flag'], explain: true } });
    const batch = {
      events: [
        { type: 'track', id: `t-${randomUUID()}`, unitId: 'u-1', timestamp: s.p.now.value.getTime(), name: 'purchase', value: 3 },
        { type: 'track', id: 'bad', unitId: 'u-1', timestamp: 0, name: 'purchase' },
      ],
    };
    const events = await s.p.request('POST', '/sdk/v1/events', { headers, body: batch });

    expect([ruleset.status, evaluation.status, events.status]).toEqual([200, 200, 202]);
    expect(sdkRulesetSchema.safeParse(ruleset.body).error).toBeUndefined();
    expect(evaluateAnswerSchema.safeParse(evaluation.body).error).toBeUndefined();
    // Every field the handler answers is documented (the answer schemas are not strict).
    const documented = Object.keys(evaluateAnswerSchema.shape.flags.valueType.shape);
    const answered = Object.values(evaluation.body.flags as Record<string, object>).flatMap((f) => Object.keys(f));
    expect(answered.filter((k) => !documented.includes(k))).toEqual([]);
    expect(answered).toContain('trace');
    expect(eventsAnswerSchema.safeParse(events.body).error).toBeUndefined();
    expect(events.body.rejected).toHaveLength(1);
    expect(eventsBodySchema.safeParse({ events: [batch.events[0]] }).success).toBe(true);
  });
});
