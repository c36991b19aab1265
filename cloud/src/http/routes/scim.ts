/**
 * SCIM 2.0 (RFC 7644) under /api/v1/scim/v2: the base URL an administrator pastes into Okta's or
 * Entra ID's provisioning settings (docs/scim.md). The routes are ordinary management routes (the
 * bearer token, its permission, the body checks); `scimResponses` makes every answer under the base
 * SCIM's: `application/scim+json`, and errors as SCIM error bodies (`scimType`, `detail`).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { Permission } from '../../auth/permissions.js';
import type { Logger } from '../../domain/context.js';
import {
  SCIM_ENTERPRISE_USER_SCHEMA,
  SCIM_ERROR_SCHEMA,
  SCIM_LIST_SCHEMA,
  SCIM_MAX_RESULTS,
  SCIM_USER_SCHEMA,
  ScimService,
  canonicalPatch,
  canonicalUser,
  scimPatchSchema,
  scimUserInputSchema,
  scimUserView,
} from '../../domain/scim.js';
import type { Services } from '../../domain/services.js';
import { AppError, AppErrorCode } from '../../errors.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { admitBody } from '../body-limits.js';
import { errorResponse } from '../errors.js';
import { idParams } from './common.js';

/** A paging parameter: a whole number, negative ones included (the service reads them as the RFC says). */
const scimPagingInt = z
  .string()
  .regex(/^-?\d{1,10}$/, 'must be a whole number, in digits')
  .transform(Number);

/** The SCIM base URL's path. */
export const SCIM_BASE_PATH = '/api/v1/scim/v2';

/** The largest SCIM request body: a User or a PatchOp is a few hundred bytes; bulk is not supported. */
export const SCIM_MAX_BODY_BYTES = 64 * 1024;

/** SCIM's media type (RFC 7644 §8.1), of every JSON answer under the base; requests may send it or application/json. */
export const SCIM_CONTENT_TYPE = 'application/scim+json';

const TAG = 'SCIM';

const scimUserSchema = z
  .object({
    schemas: z.array(z.string()),
    id: z.string(),
    externalId: z.string().optional(),
    userName: z.string().meta({ description: "The person's email" }),
    name: z.object({ formatted: z.string(), givenName: z.string().optional(), familyName: z.string().optional() }),
    displayName: z.string(),
    emails: z.array(z.object({ value: z.string(), type: z.literal('work'), primary: z.literal(true) })),
    active: z.boolean().meta({ description: 'false: disabled (no session, no token works)' }),
    roles: z.array(z.object({ value: z.string(), display: z.string(), primary: z.literal(true) })),
    meta: z.object({ resourceType: z.literal('User'), created: z.string(), lastModified: z.string(), location: z.string(), version: z.string() }),
  })
  .meta({ id: 'ScimUser' });

/**
 * The query every SCIM route takes: `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5), honoured
 * on Users; any other parameter is ignored, as Okta and Entra ID send some of their own.
 */
const attributesQuery = {
  attributes: z.string().max(1000).optional().meta({ description: 'Comma-separated attribute names (userName, name.givenName…; any case, URN-qualified too): a User answers these alone, with id and schemas' }),
  excludedAttributes: z.string().max(1000).optional().meta({ description: 'Comma-separated attribute names a User answers without (id and schemas always come)' }),
};
const scimQuery = z.looseObject(attributesQuery);

/** The attribute names of `attributes` or `excludedAttributes`, lower-case, without the core schema's URN; undefined when none. */
function attributeNames(list: string | undefined): string[] | undefined {
  const names = (list ?? '')
    .split(',')
    .map((a) => a.trim().replace(/^urn:ietf:params:scim:schemas:core:2\.0:user:/i, '').toLowerCase())
    .filter((a) => a !== '');
  return names.length === 0 ? undefined : names;
}

/** `value` (an object, or a list of them) with only (`keep`) or without the sub-attributes `subs`. */
function subAttributes(value: unknown, subs: readonly string[], keep: boolean): unknown {
  const one = (o: unknown): unknown => (typeof o === 'object' && o !== null ? Object.fromEntries(Object.entries(o).filter(([k]) => subs.includes(k.toLowerCase()) === keep)) : o);
  return Array.isArray(value) ? value.map(one) : one(value);
}

/** A User as `attributes` (else `excludedAttributes`) asks for it: `id` and `schemas` always (their `returned` is always). */
export function projectScimUser(view: object, query: { attributes?: string | undefined; excludedAttributes?: string | undefined }): Record<string, unknown> {
  const include = attributeNames(query.attributes);
  const exclude = include === undefined ? attributeNames(query.excludedAttributes) : undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(view)) {
    const k = key.toLowerCase();
    const subs = (include ?? exclude ?? []).filter((a) => a.startsWith(`${k}.`)).map((a) => a.slice(k.length + 1));
    if (k === 'id' || k === 'schemas' || (include === undefined && exclude === undefined)) {
      out[key] = value;
    } else if (include !== undefined) {
      if (include.includes(k)) {
        out[key] = value;
      } else if (subs.length > 0) {
        out[key] = subAttributes(value, subs, true);
      }
    } else if (exclude !== undefined && !exclude.includes(k)) {
      out[key] = subs.length > 0 ? subAttributes(value, subs, false) : value;
    }
  }
  return out;
}

const listSchema = (item: z.ZodType): z.ZodObject =>
  z.object({ schemas: z.array(z.string()), totalResults: z.number().int(), startIndex: z.number().int(), itemsPerPage: z.number().int(), Resources: z.array(item) });

/**
 * The SCIM base URL for `meta.location`: at the console's origin when SSO names it (its redirect URL;
 * in AWS, CloudFront hands the API another Host), else where the request reached this app.
 */
function baseOf(c: Context, s: Services): string {
  const sso = s.deps.sso?.redirectUrl;
  return `${new URL(sso ?? c.req.url).origin}${SCIM_BASE_PATH}`;
}

const list = (resources: readonly unknown[]): Record<string, unknown> => ({ schemas: [SCIM_LIST_SCHEMA], totalResults: resources.length, startIndex: 1, itemsPerPage: resources.length, Resources: resources });

/** An attribute of the User schema, for GET /Schemas. */
function attribute(name: string, options: { type?: string; multiValued?: boolean; required?: boolean; uniqueness?: string; caseExact?: boolean; mutability?: string; description: string; subAttributes?: unknown[] }): Record<string, unknown> {
  return {
    name,
    type: options.type ?? 'string',
    multiValued: options.multiValued ?? false,
    description: options.description,
    required: options.required ?? false,
    caseExact: options.caseExact ?? false,
    mutability: options.mutability ?? 'readWrite',
    returned: 'default',
    uniqueness: options.uniqueness ?? 'none',
    ...(options.subAttributes === undefined ? {} : { subAttributes: options.subAttributes }),
  };
}

/** The User schema as xp supports it (RFC 7643 §7). */
function userSchemaDocument(base: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id: SCIM_USER_SCHEMA,
    name: 'User',
    description: 'An xp person (never a service account)',
    attributes: [
      attribute('userName', { required: true, uniqueness: 'server', description: "The person's email address, their xp sign-in" }),
      attribute('externalId', { caseExact: true, description: "The identity provider's id of the person" }),
      attribute('name', {
        type: 'complex',
        description: 'The name; formatted, else givenName and familyName, becomes the display name',
        subAttributes: [attribute('formatted', { description: 'The full name' }), attribute('givenName', { description: 'Given name' }), attribute('familyName', { description: 'Family name' })],
      }),
      attribute('displayName', { description: 'The name xp shows, when no name is given' }),
      attribute('active', { type: 'boolean', description: 'false disables the person: their sessions and personal access tokens end at once' }),
      attribute('emails', {
        type: 'complex',
        multiValued: true,
        description: 'One work email: the userName',
        subAttributes: [attribute('value', { description: 'The email address' }), attribute('type', { description: 'work' }), attribute('primary', { type: 'boolean', description: 'true' })],
      }),
      attribute('roles', {
        type: 'complex',
        multiValued: true,
        description: "One xp role: admin, editor, analyst or viewer (owner is never given through SCIM)",
        subAttributes: [attribute('value', { description: 'The role name' }), attribute('primary', { type: 'boolean', description: 'The role that applies' })],
      }),
    ],
    meta: { resourceType: 'Schema', location: `${base}/Schemas/${SCIM_USER_SCHEMA}` },
  };
}

/** GET /ServiceProviderConfig (RFC 7643 §5). */
function serviceProviderConfig(base: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: SCIM_MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [{ type: 'oauthbearertoken', name: 'OAuth Bearer Token', description: 'An xp access token of a service account whose role may manage users (admin): Authorization: Bearer <token>', primary: true }],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}

/** The User resource type (RFC 7643 §6). */
function userResourceType(base: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
    id: 'User',
    name: 'User',
    endpoint: '/Users',
    description: 'xp people',
    schema: SCIM_USER_SCHEMA,
    schemaExtensions: [{ schema: SCIM_ENTERPRISE_USER_SCHEMA, required: false }],
    meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/User` },
  };
}

/** 404 as a SCIM error body, for an id of /ResourceTypes or /Schemas xp does not have. */
function scimNotFound(what: string): AppError {
  return new AppError(AppErrorCode.NotFound, `${what} not found`);
}

/** The SCIM routes (all need a token whose role may manage users: `users:manage`, as PATCH /api/v1/users/{id}). */
export function scimRoutes(s: Services): AnyRoute[] {
  const scim = new ScimService(s.deps);
  const permission = Permission.UsersManage;
  const errorsNote = 'Answers application/scim+json; errors are SCIM error bodies (`schemas` …:Error, `status`, `scimType`, `detail`).';
  return [
    route({
      method: 'get',
      path: `${SCIM_BASE_PATH}/ServiceProviderConfig`,
      permission,
      tag: TAG,
      summary: 'What this SCIM service provider supports',
      description: `PATCH and filters (at most ${String(SCIM_MAX_RESULTS)} results a page) are supported; bulk, password changes, sorting and ETags are not. ${errorsNote}`,
      query: scimQuery,
      responses: { 200: { description: 'The ServiceProviderConfig', schema: z.record(z.string(), z.unknown()) } },
      handler: (req) => Promise.resolve({ status: 200, body: serviceProviderConfig(baseOf(req.context, s)) }),
    }),
    route({
      method: 'get',
      path: `${SCIM_BASE_PATH}/ResourceTypes`,
      permission,
      tag: TAG,
      summary: 'The SCIM resource types: User',
      description: errorsNote,
      query: scimQuery,
      responses: { 200: { description: 'A ListResponse of ResourceTypes', schema: listSchema(z.record(z.string(), z.unknown())) } },
      handler: (req) => Promise.resolve({ status: 200, body: list([userResourceType(baseOf(req.context, s))]) }),
    }),
    route({
      method: 'get',
      path: `${SCIM_BASE_PATH}/ResourceTypes/{id}`,
      permission,
      tag: TAG,
      summary: 'One SCIM resource type: User (the meta.location of GET /ResourceTypes)',
      description: `Any other id is 404. ${errorsNote}`,
      params: idParams,
      query: scimQuery,
      responses: { 200: { description: 'The ResourceType', schema: z.record(z.string(), z.unknown()) } },
      handler: (req) => {
        if (req.params.id !== 'User') {
          throw scimNotFound('resource type');
        }
        return Promise.resolve({ status: 200, body: userResourceType(baseOf(req.context, s)) });
      },
    }),
    route({
      method: 'get',
      path: `${SCIM_BASE_PATH}/Schemas`,
      permission,
      tag: TAG,
      summary: 'The SCIM schemas: the User attributes xp keeps',
      description: errorsNote,
      query: scimQuery,
      responses: { 200: { description: 'A ListResponse of Schemas', schema: listSchema(z.record(z.string(), z.unknown())) } },
      handler: (req) => Promise.resolve({ status: 200, body: list([userSchemaDocument(baseOf(req.context, s))]) }),
    }),
    route({
      method: 'get',
      path: `${SCIM_BASE_PATH}/Schemas/{id}`,
      permission,
      tag: TAG,
      summary: `One SCIM schema: ${SCIM_USER_SCHEMA} (the meta.location of GET /Schemas)`,
      description: `Any other id is 404. ${errorsNote}`,
      params: idParams,
      query: scimQuery,
      responses: { 200: { description: 'The Schema', schema: z.record(z.string(), z.unknown()) } },
      handler: (req) => {
        if (req.params.id.toLowerCase() !== SCIM_USER_SCHEMA.toLowerCase()) {
          throw scimNotFound('schema');
        }
        return Promise.resolve({ status: 200, body: userSchemaDocument(baseOf(req.context, s)) });
      },
    }),
    route({
      method: 'get',
      path: `${SCIM_BASE_PATH}/Users`,
      permission,
      tag: TAG,
      summary: 'People of the organisation (never service accounts), optionally filtered',
      description: `filter: \`userName eq "…"\`, \`emails.value eq "…"\`, \`emails[type eq "work"].value eq "…"\` (case-insensitive) or \`externalId eq "…"\` (attribute names in any case, or qualified with the User schema's URN); any other is 400 invalidFilter. startIndex is 1-based; count at most ${String(SCIM_MAX_RESULTS)} (0: totalResults only). People the IdP deleted are not listed. sortBy and sortOrder are ignored (sorting is not supported: oldest first), as are parameters SCIM does not define. ${errorsNote}`,
      query: z.looseObject({
        filter: z.string().max(1000).optional(),
        // RFC 7644 §3.4.2.4: below 1 is read as 1, a negative count as 0 (ScimService.list), not refused.
        startIndex: scimPagingInt.optional(),
        count: scimPagingInt.optional(),
        sortBy: z.string().max(1000).optional().meta({ description: 'Ignored: ServiceProviderConfig says sort is not supported' }),
        sortOrder: z.string().max(1000).optional().meta({ description: 'Ignored' }),
        ...attributesQuery,
      }),
      responses: { 200: { description: 'A ListResponse of Users', schema: listSchema(scimUserSchema) } },
      handler: async (req) => {
        const page = await scim.list(req.actor, { filter: req.query.filter, startIndex: req.query.startIndex, count: req.query.count });
        const base = baseOf(req.context, s);
        const resources = page.users.map((u) => projectScimUser(scimUserView(u, base), req.query));
        return { status: 200, body: { schemas: [SCIM_LIST_SCHEMA], totalResults: page.total, startIndex: page.startIndex, itemsPerPage: page.users.length, Resources: resources } };
      },
    }),
    route({
      method: 'post',
      path: `${SCIM_BASE_PATH}/Users`,
      permission,
      tag: TAG,
      summary: 'Provision a person (no password: they sign in with SSO)',
      description: `userName is the email (emails never are). Role from roles (admin, editor, analyst, viewer; other values are ignored, and named in the audit entry), else SSO's default role, else viewer; never owner. An email another user has is 409 uniqueness: find them with a filter and update them (an existing person is adopted so). A person the IdP deleted is provisioned again (same id), with their former roles only when the externalId is the one they had (or they had none). Audited as user.created with via "scim". ${errorsNote}`,
      query: scimQuery,
      body: scimUserInputSchema,
      responses: { 201: { description: 'The User', schema: scimUserSchema } },
      handler: async (req) => {
        const user = await scim.create(req.actor, req.rawBody);
        const view = scimUserView(user, baseOf(req.context, s));
        return { status: 201, body: projectScimUser(view, req.query), headers: { Location: view.meta.location } };
      },
    }),
    route({
      method: 'get',
      path: `${SCIM_BASE_PATH}/Users/{id}`,
      permission,
      tag: TAG,
      summary: 'One person',
      description: errorsNote,
      params: idParams,
      query: scimQuery,
      responses: { 200: { description: 'The User', schema: scimUserSchema } },
      handler: async (req) => ({ status: 200, body: projectScimUser(scimUserView(await scim.get(req.actor, req.params.id), baseOf(req.context, s)), req.query) }),
    }),
    route({
      method: 'put',
      path: `${SCIM_BASE_PATH}/Users/{id}`,
      permission,
      tag: TAG,
      summary: 'Replace a person: email, name, active, externalId, role',
      description: `active, roles and externalId left out stay as they are; emails never change the email (userName is it). active false disables the person: their sessions and personal access tokens end at once (true enables them again; revoked tokens stay revoked). An owner cannot be disabled or get another role or email (403). Audited as user.updated with via "scim". ${errorsNote}`,
      params: idParams,
      query: scimQuery,
      body: scimUserInputSchema,
      responses: { 200: { description: 'The User', schema: scimUserSchema } },
      handler: async (req) => ({ status: 200, body: projectScimUser(scimUserView(await scim.replace(req.actor, req.params.id, req.rawBody), baseOf(req.context, s)), req.query) }),
    }),
    route({
      method: 'patch',
      path: `${SCIM_BASE_PATH}/Users/{id}`,
      permission,
      tag: TAG,
      summary: 'Change a person with a PatchOp (add, replace, remove)',
      description: `Paths (any case, optionally qualified with the User schema's URN): active, userName (the xp email), name.formatted, name.givenName, name.familyName, displayName, externalId, roles; emails and emails[type eq "work"].value are accepted and never change the email (userName is it); other User attributes (title, phoneNumbers…, the enterprise extension) are accepted and ignored; an unknown path is 400 invalidPath. remove takes every path but active and userName (roles: the default role; the name: the name parts left, else the email's local part). Entra ID's forms are taken: "Replace", "False", and an operation without a path whose value holds the attributes. An owner's email, role and active cannot change (403). ${errorsNote}`,
      params: idParams,
      query: scimQuery,
      body: scimPatchSchema,
      responses: { 200: { description: 'The User', schema: scimUserSchema } },
      handler: async (req) => ({ status: 200, body: projectScimUser(scimUserView(await scim.patch(req.actor, req.params.id, req.rawBody), baseOf(req.context, s)), req.query) }),
    }),
    route({
      method: 'delete',
      path: `${SCIM_BASE_PATH}/Users/{id}`,
      permission,
      tag: TAG,
      summary: 'Deprovision a person: disabled (sessions and tokens end), not erased',
      description: `Their audit history and authorship stay, and the console lists them as disabled; SCIM answers 404 for them from then on, until a POST of their email provisions them again. An owner cannot be deleted (403). ${errorsNote}`,
      params: idParams,
      query: scimQuery,
      responses: { 204: { description: 'Deprovisioned' } },
      handler: async (req) => {
        await scim.delete(req.actor, req.params.id);
        return { status: 204 };
      },
    }),
  ];
}

/** RFC 7644 §3.12's scimType of an xp error that has none of its own. */
function scimTypeOf(code: string, details: unknown): string | undefined {
  const own = (details as { scimType?: unknown } | undefined)?.scimType;
  if (typeof own === 'string') {
    return own;
  }
  if (code === AppErrorCode.MalformedJson) {
    return 'invalidSyntax';
  }
  if (code === AppErrorCode.Validation) {
    // The body as a whole is not a SCIM message (an array, a string): its structure, not a value, is wrong.
    const issues = (details as { issues?: { path?: unknown }[] } | undefined)?.issues;
    return issues?.some((i) => i.path === 'body') === true ? 'invalidSyntax' : 'invalidValue';
  }
  if (code === AppErrorCode.AlreadyExists) {
    return 'uniqueness';
  }
  return undefined;
}

/** An answer of the app under the SCIM base, as SCIM's: errors as SCIM error bodies, JSON as application/scim+json. */
async function toScim(res: Response): Promise<Response> {
  const type = res.headers.get('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) {
    return res;
  }
  const headers = new Headers(res.headers);
  headers.set('content-type', `${SCIM_CONTENT_TYPE}; charset=utf-8`);
  headers.delete('content-length');
  if (res.status === 401 && !headers.has('www-authenticate')) {
    // RFC 7644 §2 (RFC 6750 §3): the scheme the IdP must use.
    headers.set('www-authenticate', 'Bearer');
  }
  if (res.status < 400) {
    return new Response(res.body, { status: res.status, headers });
  }
  let code: string = AppErrorCode.Internal;
  let detail = 'internal error; it has been logged';
  let details: unknown;
  try {
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    code = typeof body.error?.code === 'string' ? body.error.code : code;
    detail = typeof body.error?.message === 'string' ? body.error.message : detail;
    details = body.error?.details;
  } catch {
    // Not the app's error body: the status alone is told.
  }
  const scimType = scimTypeOf(code, details);
  const body = { schemas: [SCIM_ERROR_SCHEMA], status: String(res.status), ...(scimType === undefined ? {} : { scimType }), detail };
  return new Response(JSON.stringify(body), { status: res.status, headers });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A User (POST, PUT /Users…) or PatchOp (PATCH) body with its attribute names spelt as xp reads them
 * (RFC 7643 §2.1: they are case-insensitive; `UserName`, `operations`, `Op`), before the routes'
 * body checks read it. A body that is not a JSON object (or is compressed) is left to those checks.
 */
async function canonicalBody(c: Context): Promise<void> {
  const users = c.req.path.startsWith(`${SCIM_BASE_PATH}/Users`);
  if (!users || !['POST', 'PUT', 'PATCH'].includes(c.req.method) || c.req.header('content-encoding') !== undefined || c.req.raw.body === null) {
    return;
  }
  const bytes = new Uint8Array(await c.req.raw.arrayBuffer());
  let body: Uint8Array | string = bytes;
  try {
    const parsed: unknown = JSON.parse(UTF8.decode(bytes));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      body = JSON.stringify(c.req.method === 'PATCH' ? canonicalPatch(parsed) : canonicalUser(parsed));
    }
  } catch {
    // Not UTF-8 JSON: the body checks say so.
  }
  const headers = new Headers(c.req.raw.headers);
  headers.delete('content-length');
  c.req.raw = new Request(c.req.raw, { headers, body });
}

/**
 * Middleware for everything under the SCIM base (registered before the app's body limits): a body of
 * another content type than JSON is 415, bodies above SCIM_MAX_BODY_BYTES are 413, and every answer (the routes', the token's 401 and 403, the
 * body checks' 400 and 413, an unknown path's 404) is made SCIM's (`toScim`).
 */
export function scimResponses(logger: Logger): MiddlewareHandler {
  return async (c, next) => {
    let release: (() => void) | undefined;
    const type = c.req.header('content-type')?.trim() ?? '';
    if (['POST', 'PUT', 'PATCH'].includes(c.req.method) && type !== '' && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
      // RFC 7644 §3.1, §8.1: the body is application/scim+json (or application/json); another type is 415.
      const body = { schemas: [SCIM_ERROR_SCHEMA], status: '415', detail: `send the body as ${SCIM_CONTENT_TYPE} (or application/json), not "${type.slice(0, 64)}"` };
      c.res = undefined;
      c.res = new Response(JSON.stringify(body), { status: 415, headers: { 'content-type': `${SCIM_CONTENT_TYPE}; charset=utf-8` } });
      return;
    }
    try {
      if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && c.req.raw.body !== null) {
        const admitted = await admitBody(c, SCIM_MAX_BODY_BYTES, undefined);
        release = admitted.release;
        if (admitted.counted !== undefined) {
          c.req.raw = new Request(c.req.raw, { body: admitted.counted, duplex: 'half' });
        }
        await canonicalBody(c);
      }
      await next();
    } catch (err) {
      c.res = errorResponse(c, err, logger);
    } finally {
      release?.();
    }
    const scim = await toScim(c.res);
    // Replaced whole (not through `c.res =`, which would keep the JSON answer's Content-Type).
    c.res = undefined;
    c.res = scim;
  };
}

