import { z } from 'zod';
import { conditionSchema, jsonValueSchema } from '@xp/shared';
import type { AnyRoute, ResponseSpec } from './api.js';
import { errorSchema } from './api.js';
import {
  SDK_SECURITY_SCHEMES,
  evaluateAnswerSchema,
  evaluateBodySchema,
  eventsAnswerSchema,
  eventsBodySchema,
  ofrepBodySchema,
  ofrepBulkAnswerSchema,
  ofrepFailureSchema,
  ofrepGeneralErrorSchema,
  ofrepSuccessSchema,
  sdkPaths,
  sdkRulesetSchema,
} from './sdk/sdk-openapi.js';

type JsonObject = Record<string, unknown>;

/** Names for schemas so the document refers to components instead of repeating them. */
export type SchemaNames = ReadonlyMap<z.ZodType, string>;

/** Headers a response can declare it sends (`ResponseSpec.headers`), as the document describes them. */
const RESPONSE_HEADERS = {
  ETag: { description: 'The version of the resource, quoted ("3"): send it back as If-Match (or ?version=3) to change it', schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before sending the request again', schema: { type: 'integer', minimum: 0 } },
  Location: { description: 'Where the redirect goes', schema: { type: 'string' } },
  'Set-Cookie': { description: 'A cookie for the browser (single sign-on: `xp_sso_<16 hex>`, one per sign-in, HttpOnly, SameSite=Lax, Path=/api/v1/auth/sso)', schema: { type: 'string' } },
} as const;

export type ResponseHeader = keyof typeof RESPONSE_HEADERS;

/** Errors whose answer says when to try again. */
const RETRY_AFTER_STATUSES = ['429', '503'];

/**
 * Query parameters named by the caller (a query schema's catchall, such as attr.country=US), as the
 * document declares them: OpenAPI has such parameters only as one object of the form style, which
 * serialises each property as name=value.
 */
export interface CallerNamedParameters {
  /** The object parameter's name in the document; never sent (its properties' names are). */
  readonly name: string;
  readonly description: string;
  /** What every parameter name matches. */
  readonly names: RegExp;
  readonly maxProperties?: number;
}

/** Register a query schema's catchall here to declare the parameters it takes. */
export const callerNamedParameters = z.registry<CallerNamedParameters>();

/** Read with If-Match and ?version=, which the server takes one of. */
const VERSION_REQUIRED = 'Send this or the other of If-Match and version: one is required (428 otherwise); If-Match wins when both are sent.';

/**
 * Schemas nested in many others that have no id of their own: named here, else zod numbers them in
 * the order it meets them (schema0…), and adding a route could rename them.
 */
const NESTED_NAMES: ReadonlyMap<z.ZodType, string> = new Map<z.ZodType, string>([
  [jsonValueSchema, 'JsonValue'],
  [conditionSchema.valueType, 'ConditionValue'],
]);

const ERROR_STATUSES: Record<number, string> = {
  400: 'Invalid request: malformed JSON, wrong types, unknown fields, failed validation',
  401: 'Missing, invalid or expired token (for login: wrong email or password)',
  403: 'The role does not allow this, or the change needs approval',
  404: 'Not found',
  409: 'Version conflict, duplicate key or invalid state',
  413: 'Body too large',
  428: 'The version (If-Match or ?version=) is required',
  429: 'Rate limited; retry after Retry-After seconds',
  431: 'Request headers too large',
  500: 'Internal error (logged; no details are given)',
  503: 'Unavailable for now (e.g. the database); retry after Retry-After seconds',
};

/** Errors any operation can answer, whatever it does. */
const ALWAYS = [431, 500, 503];

/**
 * Points zod's "__shared#/$defs/x" references at plain components. Walked, not rewritten as text:
 * a text replace of ",}" once turned a pattern's `{2,}` into `{2}`.
 */
function withComponentRefs(value: unknown, sharedPrefix: string): unknown {
  if (Array.isArray(value)) {
    return value.map((v) => withComponentRefs(v, sharedPrefix));
  }
  if (value === null || typeof value !== 'object') {
    return value;
  }
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? v.replace(/^#\/components\/schemas\/__shared#\/\$defs\//, `#/components/schemas/${sharedPrefix}`) : withComponentRefs(v, sharedPrefix)]),
  );
}

function toComponents(named: ReadonlyMap<z.ZodType, string>, io: 'input' | 'output', suffix: string): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [schema, name] of named) {
    registry.add(schema, { id: `${name}${suffix}` });
  }
  const out = z.toJSONSchema(registry, { uri: (id) => `#/components/schemas/${id}`, unrepresentable: 'any', io }) as { schemas: Record<string, JsonObject> };
  const { __shared, ...schemas } = out.schemas;
  const sharedPrefix = `Shared${suffix}_`;
  const components: Record<string, JsonObject> = {};
  for (const [name, schema] of Object.entries(schemas)) {
    // Keywords of a standalone schema, not of a component.
    const { $schema: _schema, $id: _id, ...rest } = schema;
    components[name] = withComponentRefs(rest, sharedPrefix) as JsonObject;
  }
  for (const [name, schema] of Object.entries((__shared?.$defs ?? {}) as Record<string, JsonObject>)) {
    components[`${sharedPrefix}${name}`] = withComponentRefs(schema, sharedPrefix) as JsonObject;
  }
  return components;
}

/** `post /api/v1/projects/{project}/flags` → postApiV1ProjectsProjectFlags: from the route itself, so it never changes as routes are added. */
function operationIdOf(r: AnyRoute): string {
  return `${r.method}${r.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? '').toUpperCase())}`;
}

function mediaTypesOf(spec: ResponseSpec): readonly string[] {
  return spec.mediaType === undefined ? [] : typeof spec.mediaType === 'string' ? [spec.mediaType] : spec.mediaType;
}

function headersOf(names: readonly ResponseHeader[]): JsonObject {
  return Object.fromEntries(names.map((h) => [h, RESPONSE_HEADERS[h]]));
}

/** A parameter's schema, inline: without the `$schema` of a standalone one. */
function parameterSchema(schema: z.core.$ZodType): JsonObject {
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as JsonObject;
  return rest;
}

/** The query parameters of a route: its schema's named ones, and those a registered catchall takes. */
function queryParameters(querySchema: z.ZodObject | undefined): JsonObject[] {
  const parameters: JsonObject[] = Object.entries(querySchema?.shape ?? {}).map(([name, schema]) => {
    const s = schema as z.ZodType;
    return { name, in: 'query', required: !s.safeParse(undefined).success, schema: parameterSchema(s) };
  });
  const catchall = querySchema?._zod.def.catchall;
  const named = catchall === undefined ? undefined : callerNamedParameters.get(catchall);
  if (catchall !== undefined && named !== undefined) {
    parameters.push({
      name: named.name,
      in: 'query',
      required: false,
      style: 'form',
      explode: true,
      description: named.description,
      schema: {
        type: 'object',
        propertyNames: { pattern: named.names.source },
        additionalProperties: parameterSchema(catchall),
        ...(named.maxProperties === undefined ? {} : { maxProperties: named.maxProperties }),
      },
    });
  }
  return parameters;
}

export interface OpenApiOptions {
  /**
   * Also describe the SDK endpoints (/sdk/v1/ruleset, stream, evaluate, events, /r/{experimentKey}
   * and OFREP's /ofrep/v1/evaluate/flags[/{key}], sdk/sdk-openapi.ts) with their SDK-key security schemes: for an app that mounts them (deps.events).
   */
  readonly sdk?: boolean;
}

/** Builds the OpenAPI 3.1 document from the route table (and the SDK endpoints with `sdk`). */
export function openApiDocument(routes: readonly AnyRoute[], info: { title: string; version: string; description: string }, options: OpenApiOptions = {}): JsonObject {
  const requestNames = new Map<z.ZodType, string>(NESTED_NAMES);
  const responseNames = new Map<z.ZodType, string>([[errorSchema, 'Error'], ...NESTED_NAMES]);
  if (options.sdk === true) {
    requestNames.set(evaluateBodySchema, 'SdkEvaluateBody').set(eventsBodySchema, 'SdkEventBatch').set(ofrepBodySchema, 'OfrepEvaluationRequest');
    responseNames.set(evaluateAnswerSchema, 'SdkEvaluation').set(eventsAnswerSchema, 'SdkEventsAccepted').set(sdkRulesetSchema, 'Ruleset');
    responseNames
      .set(ofrepSuccessSchema, 'OfrepEvaluationSuccess')
      .set(ofrepFailureSchema, 'OfrepEvaluationFailure')
      .set(ofrepGeneralErrorSchema, 'OfrepGeneralError')
      .set(ofrepBulkAnswerSchema, 'OfrepBulkEvaluationSuccess');
  }
  // A schema without an id is named after the first operation that uses it, never after its place in the table.
  const nameFor = (map: Map<z.ZodType, string>, schema: z.ZodType, fallback: string): string => {
    let name = map.get(schema);
    if (name === undefined) {
      const meta = z.globalRegistry.get(schema) as { id?: string } | undefined;
      name = meta?.id ?? fallback;
      map.set(schema, name);
    }
    return name;
  };
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const r of routes) {
    const operationId = operationIdOf(r);
    const typeName = `${operationId.charAt(0).toUpperCase()}${operationId.slice(1)}`;
    const op: JsonObject = { summary: r.summary, tags: [r.tag], operationId };
    if (r.description !== undefined) {
      op.description = r.description;
    }
    const parameters: JsonObject[] = [];
    const paramSchema = r.params as z.ZodObject | undefined;
    for (const [name, schema] of Object.entries(paramSchema?.shape ?? {})) {
      parameters.push({ name, in: 'path', required: true, schema: parameterSchema(schema as z.ZodType) });
    }
    parameters.push(...queryParameters(r.query as z.ZodObject | undefined));
    if (r.concurrency === true) {
      parameters.push(
        { name: 'If-Match', in: 'header', required: false, description: `The version you read, quoted ("3"), as its ETag gave it. ${VERSION_REQUIRED}`, schema: { type: 'string' } },
        { name: 'version', in: 'query', required: false, description: `The version you read (3), for clients that cannot set If-Match. ${VERSION_REQUIRED}`, schema: { type: 'integer', minimum: 0, maximum: 999_999_999 } },
      );
    }
    if (Object.values(r.responses).some((spec) => mediaTypesOf(spec).includes('text/event-stream'))) {
      parameters.push({ name: 'Last-Event-ID', in: 'header', required: false, description: 'Resume after this event id (what a reconnecting EventSource sends); in digits, else ignored. Wins over `after`', schema: { type: 'string' } });
    }
    parameters.push({ name: 'X-XP-Client', in: 'header', required: false, description: 'The client making the change (console, vscode, cli…), recorded in the audit log', schema: { type: 'string' } });
    op.parameters = parameters;
    if (r.body !== undefined) {
      const name = nameFor(requestNames, r.body as z.ZodType, `${typeName}Body`);
      op.requestBody = { required: !(r.body as z.ZodType).safeParse(undefined).success, content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}Input` } } } };
    }
    const responses: Record<string, JsonObject> = {};
    for (const [status, spec] of Object.entries(r.responses)) {
      const response: JsonObject = { description: spec.description };
      if (spec.headers !== undefined) {
        response.headers = headersOf(spec.headers);
      }
      if (spec.schema !== undefined) {
        response.content = { 'application/json': { schema: { $ref: `#/components/schemas/${nameFor(responseNames, spec.schema, `${typeName}Response${status}`)}` } } };
      } else if (spec.mediaType !== undefined) {
        response.content = Object.fromEntries(mediaTypesOf(spec).map((m) => [m, { schema: { type: 'string' } }]));
      }
      responses[status] = response;
    }
    const errors = [...(r.auth === false ? [400, 401, 413, 429] : [400, 401, 403, 404, 409, 413, ...(r.concurrency === true ? [428] : [])]), ...(r.errors ?? []), ...ALWAYS];
    for (const status of errors) {
      responses[String(status)] ??= { description: ERROR_STATUSES[status] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    for (const status of RETRY_AFTER_STATUSES) {
      const response = responses[status];
      if (response !== undefined) {
        response.headers = { ...(response.headers as JsonObject | undefined), ...headersOf(['Retry-After']) };
      }
    }
    op.responses = responses;
    if (r.auth !== false) {
      op.security = [{ bearer: [] }];
      op['x-permission'] = r.permission;
    }
    const path = (paths[r.path] ??= {});
    path[r.method] = op;
  }
  if (options.sdk === true) {
    const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });
    Object.assign(
      paths,
      sdkPaths({
        evaluateBody: ref('SdkEvaluateBodyInput'),
        eventsBody: ref('SdkEventBatchInput'),
        evaluateAnswer: ref('SdkEvaluation'),
        eventsAnswer: ref('SdkEventsAccepted'),
        ruleset: ref('Ruleset'),
        error: ref('Error'),
        ofrepBody: ref('OfrepEvaluationRequestInput'),
        ofrepSuccess: ref('OfrepEvaluationSuccess'),
        ofrepFailure: ref('OfrepEvaluationFailure'),
        ofrepGeneralError: ref('OfrepGeneralError'),
        ofrepBulkAnswer: ref('OfrepBulkEvaluationSuccess'),
      }),
    );
  }
  return {
    openapi: '3.1.0',
    info,
    servers: [{ url: '/' }],
    paths,
    components: {
      // The SDK endpoints (/sdk/v1, X-XP-SDK-Key; /r with ?k=; /ofrep/v1, also a bearer SDK key or X-API-Key) have their own schemes, with `sdk` only.
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A login session (POST /api/v1/auth/login) or a personal access token' },
        ...(options.sdk === true ? SDK_SECURITY_SCHEMES : {}),
      },
      schemas: { ...toComponents(requestNames, 'input', 'Input'), ...toComponents(responseNames, 'output', '') },
    },
  };
}
