import { z } from 'zod';
import type { AnyRoute } from './api.js';
import { errorSchema } from './api.js';

type JsonObject = Record<string, unknown>;

/** Names for schemas so the document refers to components instead of repeating them. */
export type SchemaNames = ReadonlyMap<z.ZodType, string>;

const ERROR_STATUSES: Record<number, string> = {
  400: 'Invalid request: malformed JSON, wrong types, unknown fields, failed validation',
  401: 'Missing, invalid or expired token (for login: wrong email or password)',
  403: 'The role does not allow this, or the change needs approval',
  404: 'Not found',
  409: 'Version conflict, duplicate key or invalid state',
  413: 'Body too large',
  428: 'The version (If-Match) is required',
  429: 'Rate limited',
  431: 'Request headers too large',
  500: 'Internal error (logged; no details are given)',
  503: 'Unavailable for now (e.g. the database); retry after Retry-After seconds',
};

/** Errors any operation can answer, whatever it does. */
const ALWAYS = [431, 500, 503];

function toComponents(named: ReadonlyMap<z.ZodType, string>, io: 'input' | 'output', suffix: string): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [schema, name] of named) {
    registry.add(schema, { id: `${name}${suffix}` });
  }
  const out = z.toJSONSchema(registry, { uri: (id) => `#/components/schemas/${id}`, unrepresentable: 'any', io }) as { schemas: Record<string, JsonObject> };
  const components: Record<string, JsonObject> = {};
  const shared = (out.schemas.__shared?.$defs ?? {}) as Record<string, JsonObject>;
  for (const [name, schema] of Object.entries(out.schemas)) {
    if (name !== '__shared') {
      components[name] = schema;
    }
  }
  for (const [name, schema] of Object.entries(shared)) {
    components[`Shared${suffix}_${name}`] = schema;
  }
  // Rewrite zod's "__shared#/$defs/x" references into plain component references.
  const text = JSON.stringify(components)
    .replace(/#\/components\/schemas\/__shared#\/\$defs\/(\w+)/g, `#/components/schemas/Shared${suffix}_$1`)
    .replace(/"\$schema":"[^"]*",?/g, '')
    .replace(/"\$id":"[^"]*",?/g, '')
    .replace(/,}/g, '}');
  return JSON.parse(text) as Record<string, JsonObject>;
}

/** Builds the OpenAPI 3.1 document from the route table. */
export function openApiDocument(routes: readonly AnyRoute[], info: { title: string; version: string; description: string }): JsonObject {
  const requestNames = new Map<z.ZodType, string>();
  const responseNames = new Map<z.ZodType, string>([[errorSchema, 'Error']]);
  let anonymous = 0;
  const nameFor = (map: Map<z.ZodType, string>, schema: z.ZodType, hint: string): string => {
    let name = map.get(schema);
    if (name === undefined) {
      const meta = z.globalRegistry.get(schema) as { id?: string } | undefined;
      name = meta?.id ?? `${hint}${anonymous++}`;
      map.set(schema, name);
    }
    return name;
  };
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const r of routes) {
    const op: JsonObject = { summary: r.summary, tags: [r.tag], operationId: `${r.method}${r.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? '').toUpperCase())}` };
    if (r.description !== undefined) {
      op.description = r.description;
    }
    const parameters: JsonObject[] = [];
    const paramSchema = r.params as z.ZodObject | undefined;
    for (const [name, schema] of Object.entries(paramSchema?.shape ?? {})) {
      parameters.push({ name, in: 'path', required: true, schema: z.toJSONSchema(schema as z.ZodType, { unrepresentable: 'any' }) });
    }
    const querySchema = r.query as z.ZodObject | undefined;
    for (const [name, schema] of Object.entries(querySchema?.shape ?? {})) {
      const s = schema as z.ZodType;
      parameters.push({ name, in: 'query', required: !s.safeParse(undefined).success, schema: z.toJSONSchema(s, { unrepresentable: 'any', io: 'input' }) });
    }
    if (r.concurrency === true) {
      parameters.push({ name: 'If-Match', in: 'header', required: false, description: 'The version you read, quoted ("3"); or pass ?version=3', schema: { type: 'string' } });
    }
    parameters.push({ name: 'X-XP-Client', in: 'header', required: false, description: 'The client making the change (console, vscode, cli…), recorded in the audit log', schema: { type: 'string' } });
    for (const p of parameters) {
      const schema = p.schema as JsonObject;
      delete schema.$schema;
    }
    op.parameters = parameters;
    if (r.body !== undefined) {
      const name = nameFor(requestNames, r.body as z.ZodType, 'Request');
      op.requestBody = { required: !(r.body as z.ZodType).safeParse(undefined).success, content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}Input` } } } };
    }
    const responses: Record<string, JsonObject> = {};
    for (const [status, spec] of Object.entries(r.responses)) {
      responses[status] =
        spec.schema !== undefined
          ? { description: spec.description, content: { 'application/json': { schema: { $ref: `#/components/schemas/${nameFor(responseNames, spec.schema, 'Response')}` } } } }
          : spec.mediaType !== undefined
            ? { description: spec.description, content: Object.fromEntries((typeof spec.mediaType === 'string' ? [spec.mediaType] : spec.mediaType).map((m) => [m, { schema: { type: 'string' } }])) }
            : { description: spec.description };
    }
    const errors = [...(r.auth === false ? [400, 401, 413, 429] : [400, 401, 403, 404, 409, 413, ...(r.concurrency === true ? [428] : [])]), ...(r.errors ?? []), ...ALWAYS];
    for (const status of errors) {
      responses[String(status)] ??= { description: ERROR_STATUSES[status] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    op.responses = responses;
    if (r.auth !== false) {
      op.security = [{ bearer: [] }];
      op['x-permission'] = r.permission;
    }
    const path = (paths[r.path] ??= {});
    path[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info,
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A login session (POST /api/v1/auth/login) or a personal access token' },
        sdkKey: { type: 'apiKey', in: 'header', name: 'X-XP-SDK-Key' },
      },
      schemas: { ...toComponents(requestNames, 'input', 'Input'), ...toComponents(responseNames, 'output', '') },
    },
  };
}
