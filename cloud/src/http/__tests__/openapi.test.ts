import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../../auth/passwords.js';
import { Permission } from '../../auth/permissions.js';
import { inviteSchema, passwordChangeSchema } from '../../domain/accounts.js';
import type { Services } from '../../domain/services.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { managementRoutes } from '../app.js';
import { openApiDocument } from '../openapi.js';

type Json = Record<string, any>;

const INFO = { title: 'xp', version: '0', description: 'test' };
const ROUTES: readonly AnyRoute[] = managementRoutes({} as Services);
const doc: Json = openApiDocument(ROUTES, INFO);
const schemas = doc.components.schemas as Record<string, Json>;
const operations = Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ id: `${method} ${path}`, method, path, op })));
const operation = (id: string): Json => operations.find((o) => o.id === id)!.op;
const parameter = (id: string, name: string): Json | undefined => (operation(id).parameters as Json[]).find((p) => p.name === name);
const resolve = (schema: Json): Json => (typeof schema.$ref === 'string' ? resolve(schemas[schema.$ref.replace('#/components/schemas/', '')]!) : schema);
const bodyOf = (id: string): Json => resolve(operation(id).requestBody.content['application/json'].schema);

/** Every string under a `pattern` keyword. */
function patternsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    value.forEach((v) => patternsIn(v, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'pattern' && typeof v === 'string') {
        out.push(v);
      } else {
        patternsIn(v, out);
      }
    }
  }
  return out;
}

describe('the OpenAPI document', () => {
  it("keeps every pattern as zod wrote it: the email's {2,} too", () => {
    // What zod makes of each schema on its own, before the document's components and references.
    const convert = (s: unknown, io: 'input' | 'output'): unknown => (s === undefined ? undefined : z.toJSONSchema(s as z.ZodType, { unrepresentable: 'any', io }));
    const direct = new Set(
      ROUTES.flatMap((r) => [
        convert(r.body, 'input'),
        convert(r.params, 'input'),
        ...Object.values((r.query as z.ZodObject | undefined)?.shape ?? {}).map((s) => convert(s, 'input')),
        ...Object.values(r.responses).map((spec) => convert(spec.schema, 'output')),
      ]).flatMap((s) => patternsIn(s)),
    );
    const email = bodyOf('post /api/v1/users').properties.email.pattern as string;

    expect(email).toBe(z.toJSONSchema(inviteSchema.shape.email).pattern);
    expect(email.endsWith('[A-Za-z]{2,}$')).toBe(true);
    expect(new RegExp(email).test('erin@example.com')).toBe(true);
    // The attr.<name> filters' names are the document's own (a registered catchall), not a zod schema's.
    expect(patternsIn(doc).filter((p) => !direct.has(p))).toEqual(['^attr\\..', '^attr\\..', '^attr\\..']);
    expect(JSON.stringify(doc)).not.toMatch(/"\$(schema|id)"/);
  });

  it('keeps a pattern with any quantifier or brace through the components', () => {
    const tricky = [/^a{2,}$/, /^[,}]{1,3}x{0,}$/, /^"\{2,\}"$/];
    const body = z.strictObject(Object.fromEntries(tricky.map((re, i) => [`f${i}`, z.string().regex(re)])));
    const probe = route({ method: 'post', path: '/api/v1/probe', summary: 'probe', tag: 'Probe', permission: Permission.Read, body, responses: { 200: { description: 'ok', schema: body } }, handler: () => Promise.resolve({ status: 200 }) });
    const probed: Json = openApiDocument([probe], INFO);

    expect(patternsIn(probed.components.schemas.PostApiV1ProbeBodyInput)).toEqual(tricky.map((re) => re.source));
    expect(patternsIn(probed.components.schemas.PostApiV1ProbeResponse200)).toEqual(tricky.map((re) => re.source));
  });

  it('names components after schemas or operations, so adding a route renames none', () => {
    const added = route({
      method: 'post',
      path: '/api/v1/added',
      summary: 'A route listed before every other',
      tag: 'Added',
      permission: Permission.Read,
      body: z.strictObject({ a: z.string() }),
      responses: { 200: { description: 'ok', schema: z.object({ n: z.number() }) } },
      handler: () => Promise.resolve({ status: 200 }),
    });
    const withAdded: Json = openApiDocument([added, ...ROUTES], INFO);

    expect(Object.keys(schemas).filter((name) => /^(Request|Response)\d/.test(name) || /_schema\d/.test(name))).toEqual([]);
    expect(schemas.PostApiV1UsersBodyInput).toBeDefined();
    expect(schemas.GetApiV1UsersResponse200).toBeDefined();
    expect(withAdded.components.schemas).toEqual({ ...schemas, PostApiV1AddedBodyInput: expect.anything(), PostApiV1AddedResponse200: expect.anything() });
  });

  it('declares only the security scheme operations use', () => {
    const used = new Set(operations.flatMap((o) => ((o.op.security ?? []) as Json[]).flatMap((s) => Object.keys(s))));

    expect(Object.keys(doc.components.securitySchemes)).toEqual([...used]);
  });

  it('declares ETag on single-resource reads and writes, Retry-After on 429 and 503', () => {
    const etag = (o: { op: Json }): boolean => Object.entries(o.op.responses as Record<string, Json>).some(([status, r]) => status.startsWith('2') && r.headers?.ETag !== undefined);
    const versionedPaths = new Set(operations.filter((o) => parameter(o.id, 'If-Match') !== undefined && o.method !== 'delete').map((o) => o.path));
    // A read of what a write takes the version of, and every write that answers the resource.
    const expected = operations.filter((o) => (o.method === 'get' && versionedPaths.has(o.path)) || (parameter(o.id, 'If-Match') !== undefined && o.method !== 'delete'));

    expect(expected.filter((o) => !etag(o)).map((o) => o.id)).toEqual([]);
    expect(['post /api/v1/users', 'get /api/v1/me', 'post /api/v1/projects/{project}/flags', 'delete /api/v1/users/{id}/projects/{project}/role'].filter((id) => !etag({ op: operation(id) }))).toEqual([]);
    expect(['get /api/v1/projects/{project}/flags', 'get /api/v1/users', 'delete /api/v1/projects/{project}/webhooks/{id}'].filter((id) => etag({ op: operation(id) }))).toEqual([]);
    const retryable = operations.flatMap((o) => Object.entries(o.op.responses as Record<string, Json>).filter(([status]) => status === '429' || status === '503').map(([status, r]) => [o.id, status, r.headers?.['Retry-After']?.schema?.type]));
    expect(retryable.length).toBeGreaterThan(operations.length);
    expect(retryable.filter(([, , type]) => type !== 'integer')).toEqual([]);
    // 405 is the router's answer (with Allow), declared by no operation.
    expect(operations.filter((o) => '405' in o.op.responses)).toEqual([]);
  });

  it('declares ?version= beside If-Match, one of them required, and Last-Event-ID on the event streams', () => {
    const withIfMatch = operations.filter((o) => parameter(o.id, 'If-Match') !== undefined);
    const withVersion = operations.filter((o) => parameter(o.id, 'version')?.in === 'query');
    const withLastEventId = operations.filter((o) => parameter(o.id, 'Last-Event-ID') !== undefined);

    expect(withIfMatch.length).toBeGreaterThan(20);
    expect(withVersion.map((o) => o.id)).toEqual(withIfMatch.map((o) => o.id));
    for (const o of withIfMatch) {
      expect([o.id, parameter(o.id, 'If-Match')!.description, parameter(o.id, 'version')!.description]).toEqual([o.id, expect.stringContaining('428'), expect.stringContaining('428')]);
      expect(parameter(o.id, 'version')!).toMatchObject({ required: false, schema: { type: 'integer', minimum: 0 } });
    }
    expect(withLastEventId.map((o) => o.id).sort()).toEqual(['get /api/v1/projects/{project}/changes/stream', 'get /api/v1/projects/{project}/events/stream']);
    expect(parameter(withLastEventId[0]!.id, 'Last-Event-ID')).toMatchObject({ in: 'header', required: false });
  });

  it('declares the attr.<name> filters as a form-style object, each property sent as name=value', () => {
    const results = ['results', 'results/breakdown', 'results.csv'].map((r) => parameter(`get /api/v1/projects/{project}/experiments/{key}/${r}`, 'attr'));

    for (const attr of results) {
      expect(attr).toMatchObject({ in: 'query', required: false, style: 'form', explode: true, schema: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 20 } });
      expect(attr!.description).toContain('attr.<name>=<value>');
    }
    const names = new RegExp(results[0]!.schema.propertyNames.pattern as string);
    expect(['attr.country', 'attr.user.plan'].every((n) => names.test(n))).toBe(true);
    expect(['country', 'attr.', 'attrx'].some((n) => names.test(n))).toBe(false);
    expect(operations.filter((o) => parameter(o.id, 'attr') !== undefined)).toHaveLength(3);
  });

  it("declares the password policy's length and the rules the schemas check only in code", () => {
    const limits = { minLength: MIN_PASSWORD_LENGTH, maxLength: MAX_PASSWORD_LENGTH };
    const experiment = schemas.ExperimentInput!;
    const metric = schemas.MetricInput!;

    expect(bodyOf('put /api/v1/me/password').properties.newPassword).toMatchObject(limits);
    expect(bodyOf('post /api/v1/auth/login').properties.newPassword).toMatchObject(limits);
    expect(bodyOf('post /api/v1/users').properties.password).toMatchObject(limits);
    // The policy still refuses a short one, with its own message: the schema lets it through to it.
    expect(passwordChangeSchema.safeParse({ currentPassword: 'x', newPassword: 'short' }).success).toBe(true);
    expect(experiment.properties.variations.description).toContain('At least two');
    expect(resolve(experiment.properties.variations.items).properties.url.pattern).toBe('^https?://');
    expect([metric.properties.event.description, metric.properties.numerator.description, metric.properties.denominator.description]).toEqual([
      expect.stringContaining('Required'),
      expect.stringContaining('ratio'),
      expect.stringContaining('ratio'),
    ]);
    expect(bodyOf('post /api/v1/projects/{project}/webhooks').properties.url.pattern).toBe('^https?://');
    expect(bodyOf('patch /api/v1/projects/{project}/webhooks/{id}').properties.url.pattern).toBe('^https?://');
  });
});
