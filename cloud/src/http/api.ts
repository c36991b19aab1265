import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { Permission } from '../auth/permissions.js';
import { assertCan } from '../auth/permissions.js';
import { parseBearer } from '../auth/tokens.js';
import { actorInProject } from '../domain/accounts.js';
import type { Actor } from '../domain/context.js';
import { GUARDRAILS_CLIENT } from '../domain/guardrails.js';
import { issuesOf } from '../domain/validation.js';
import { AppError, AppErrorCode, invalid } from '../errors.js';
import { clientAddress } from './client-ip.js';
import type { TrustedProxies } from './client-ip.js';
import type { ResponseHeader } from './openapi.js';
import { MAX_JSON_DEPTH, refuseDeepJson } from './json-depth.js';
import { noteUser } from './request-log.js';
import { badStringReason, findBadJson, NOT_UTF8_BODY, unsupportedEncoding, utf8Text } from './text.js';

/**
 * A small typed route table: each route declares its path, parameters, body and responses with
 * zod; the same declarations validate requests and generate the OpenAPI document.
 */

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** A non-JSON body (CSV…), sent as is instead of `body`; set its Content-Type in `headers`. */
  readonly text?: string;
  /** A streamed body (server-sent events), sent as is; set its Content-Type in `headers`. */
  readonly stream?: ReadableStream<Uint8Array>;
}

export interface Request<P, Q, B> {
  /** The authenticated caller; routes with `auth: false` get none. */
  readonly actor: Actor;
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  /** The JSON body as sent, before the schema's defaults (to tell a field left out from its default). */
  readonly rawBody: unknown;
  /** From If-Match (or ?version=) on routes with `concurrency: true`. */
  readonly expectedVersion: number;
  readonly token: string | undefined;
  readonly ip: string;
  readonly client: string;
  readonly context: Context;
}

export interface ResponseSpec {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** A body that is not JSON (text/csv, text/event-stream): documented as a string of this media type. */
  readonly mediaType?: string | readonly string[];
  /** Headers the response sends, for the OpenAPI document (`versioned` sends ETag). */
  readonly headers?: readonly ResponseHeader[];
}

export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  readonly method: Method;
  /** OpenAPI-style path: /api/v1/projects/{project}/flags/{key}. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly description?: string;
  /** Defaults to true: a bearer token is required. */
  readonly auth?: boolean;
  /** What the caller's role must allow; checked at the edge before the handler (services check again). */
  readonly permission?: Permission;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  /** Requires the resource version (If-Match: "<version>" or ?version=<n>). */
  readonly concurrency?: boolean;
  readonly responses: Readonly<Record<number, ResponseSpec>>;
  /** Error statuses the route answers beyond the usual ones (429 of a rate limit), for the OpenAPI document. */
  readonly errors?: readonly number[];
  readonly handler: (req: Request<z.output<P>, z.output<Q>, z.output<B>>) => Promise<Reply>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a heterogeneous route table; each entry is typed where it is declared
export type AnyRoute = RouteSpec<any, any, any>;

export function route<P extends z.ZodType = z.ZodObject, Q extends z.ZodType = z.ZodObject, B extends z.ZodType = z.ZodUndefined>(spec: RouteSpec<P, Q, B>): AnyRoute {
  return spec as AnyRoute;
}

export const CLIENT_HEADER = 'x-xp-client';
const CLIENT_NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;

/** The names the platform's own actors record in the audit log: a person's request cannot claim them. */
const SYSTEM_CLIENTS: ReadonlySet<string> = new Set([GUARDRAILS_CLIENT, 'bootstrap', 'alarm-rollback', 'scheduler']);

/** The client named by X-XP-Client (console, vscode, cli…), or "api" (also for a system client's name). */
export function clientOf(c: Context): string {
  const raw = c.req.header(CLIENT_HEADER)?.trim().toLowerCase();
  return raw !== undefined && CLIENT_NAME.test(raw) && !SYSTEM_CLIENTS.has(raw) ? raw : 'api';
}

/** `ipOf` without a socket address (an in-process request). */
export const UNKNOWN_ADDRESS = 'unknown';

/**
 * The caller's address: the socket's, or, when the socket's peer is one of `trusted` (XP_TRUSTED_PROXIES;
 * none by default), the right-most X-Forwarded-For entry that is not a trusted proxy.
 */
export function ipOf(c: Context, trusted?: TrustedProxies): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return clientAddress(env?.incoming?.socket?.remoteAddress, c.req.header('x-forwarded-for'), trusted) ?? UNKNOWN_ADDRESS;
}

function parsePart<S extends z.ZodType>(schema: S | undefined, value: unknown, where: string): z.output<S> {
  if (schema === undefined) {
    return undefined as z.output<S>;
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    if (where === 'body' && value === undefined) {
      // "body: Invalid input: expected object, received undefined" read as if the client had sent something wrong in it.
      throw new AppError(AppErrorCode.Validation, 'the request has no body: send a JSON object (Content-Type: application/json)', { issues: [{ path: 'body', message: 'missing' }] });
    }
    const issues = issuesOf(result.error).map((i) => ({ ...i, path: i.path === '' ? where : `${where}.${i.path}` }));
    const first = issues[0]!;
    const hint = where === 'body' && isStoredRecord(value) ? ' (this is a stored record as a GET answers it: send its "definition" object as the body, and its "version" as If-Match)' : '';
    throw new AppError(AppErrorCode.Validation, `invalid ${where}: ${first.path}: ${first.message}${hint}`, { issues });
  }
  return result.data;
}

/** A body shaped like what GET answers for a definition (`{ key, version, …, definition }`), sent back whole to a PUT. */
function isStoredRecord(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return false;
  }
  const record = value as Record<string, unknown>;
  return typeof record.definition === 'object' && record.definition !== null && typeof record.version === 'number' && 'createdAt' in record;
}

const IF_MATCH = /^\s*(?:W\/)?"(\d{1,9})"\s*$/;

/** The version the caller read: If-Match: "3" (or W/"3"), or ?version=3. */
function expectedVersionOf(c: Context): number {
  const header = c.req.header('if-match');
  if (header !== undefined) {
    const m = IF_MATCH.exec(header);
    if (m === null) {
      throw new AppError(AppErrorCode.Validation, 'If-Match must be a quoted version such as "3"', { issues: [{ path: 'If-Match', message: 'malformed' }] });
    }
    return Number(m[1]);
  }
  const q = c.req.query('version');
  if (q !== undefined) {
    if (!/^\d{1,9}$/.test(q)) {
      throw new AppError(AppErrorCode.Validation, 'version must be a positive integer', { issues: [{ path: 'query.version', message: 'not an integer' }] });
    }
    return Number(q);
  }
  throw new AppError(AppErrorCode.PreconditionRequired, 'send the version you read, as If-Match: "<version>" or ?version=<version>');
}

/** Deepest JSON nesting a body may have (json-depth.ts); deeper input would only exhaust the validators' stacks. */
export { MAX_JSON_DEPTH };

/** Walks a parsed body iteratively: bounded depth, storable strings in keys and values, finite numbers. */
function checkJson(value: unknown): void {
  const bad = findBadJson(value, { root: 'body', maxDepth: MAX_JSON_DEPTH });
  if (bad?.problem === 'depth') {
    throw new AppError(AppErrorCode.Validation, `the body is nested more than ${MAX_JSON_DEPTH} levels deep`, { issues: [{ path: bad.path, message: 'too deeply nested' }] });
  }
  if (bad?.problem === 'number') {
    throw new AppError(AppErrorCode.Validation, `${bad.path}: ${bad.reason}`, { issues: [{ path: bad.path, message: bad.reason }] });
  }
  if (bad?.problem === 'string') {
    throw new AppError(AppErrorCode.Validation, `${bad.path} ${bad.reason}`, { issues: [{ path: bad.path, message: bad.reason }] });
  }
  if (bad?.problem === 'key') {
    throw new AppError(AppErrorCode.Validation, `a key in ${bad.path} ${bad.reason}`, { issues: [{ path: bad.path, message: `key ${bad.reason}` }] });
  }
}

async function readJson(c: Context): Promise<unknown> {
  const encoding = unsupportedEncoding(c.req.header('content-encoding'));
  if (encoding !== undefined) {
    throw new AppError(AppErrorCode.Validation, encoding, { issues: [{ path: 'Content-Encoding', message: 'not supported' }] });
  }
  const text = utf8Text(await c.req.arrayBuffer());
  if (text === undefined) {
    throw new AppError(AppErrorCode.MalformedJson, NOT_UTF8_BODY);
  }
  if (text.trim() === '') {
    return undefined;
  }
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw new AppError(AppErrorCode.Validation, 'send the body as application/json', { issues: [{ path: 'Content-Type', message: `got "${type.slice(0, 64)}"` }] });
  }
  // Before parsing: megabytes of `[[[…` cost a second of parsing only to be refused after.
  refuseDeepJson(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AppError(AppErrorCode.MalformedJson, 'the request body is not valid JSON');
  }
  checkJson(parsed);
  return parsed;
}

/**
 * A route that takes no body refuses one, as a route with a body refuses unknown keys: malformed JSON
 * (or another content type) the same as anywhere, and any JSON but `{}` or `null` (what some clients
 * send with every POST) as a body that cannot have been meant for this route. Without this, a body was
 * ignored and the action ran: a password reset sent `{"a":` reset the password.
 */
async function refuseBody(c: Context, spec: { readonly method: string; readonly path: string }): Promise<void> {
  const body = await readJson(c);
  const empty = body === undefined || body === null || (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0);
  if (!empty) {
    throw invalid(`${spec.method.toUpperCase()} ${spec.path} takes no body`, { issues: [{ path: 'body', message: 'not expected' }] });
  }
}

/**
 * Every path segment decodes as UTF-8 (`%D8%00`, `%C0%AE` do not): Hono hands such a parameter on
 * undecoded, which would be taken for an id that holds a literal "%D8".
 */
function checkPercentEncoding(path: string): void {
  for (const segment of path.split('/')) {
    if (segment.includes('%')) {
      try {
        decodeURIComponent(segment);
      } catch {
        const shown = segment.slice(0, 64);
        throw invalid(`the path segment "${shown}" is not percent-encoded UTF-8`, { issues: [{ path: 'path', message: `"${shown}" is not percent-encoded UTF-8` }] });
      }
    }
  }
}

function checkStrings(values: Record<string, string>, where: string): void {
  for (const [k, v] of Object.entries(values)) {
    const reason = badStringReason(k) ?? badStringReason(v);
    if (reason !== undefined) {
      throw new AppError(AppErrorCode.Validation, `${where}.${k.slice(0, 64)} ${reason}`, { issues: [{ path: `${where}.${k.slice(0, 64)}`, message: reason }] });
    }
  }
}

/** Registers every route on the app; authentication is resolved by `authenticate`. */
export interface MountOptions {
  /** Proxies whose X-Forwarded-For names the client (see client-ip.ts). Default none. */
  readonly trustedProxies?: TrustedProxies | undefined;
  /**
   * For a token limited to some projects: throws 404 unless the project (by key) is one of them.
   * Checked before the permission and the request's validation, so that their answers (403, 400)
   * do not tell such a token which other projects exist, or its user's role there.
   */
  readonly projectInScope?: ((actor: Actor, projectKey: string) => Promise<void>) | undefined;
}

/** The prefix of every route that acts in one project: its requests act with the user's role in it. */
export const PROJECT_ROUTE_PREFIX = '/api/v1/projects/{project}';

export function mount(app: Hono, routes: readonly AnyRoute[], authenticate: (token: string | undefined, client: string) => Promise<Actor>, options: MountOptions = {}): void {
  for (const spec of routes) {
    const honoPath = spec.path.replace(/\{(\w+)\}/g, ':$1');
    // Every route of one project (its definitions, environments, keys, change requests, results,
    // events, code references, webhooks, the project itself) acts with the user's role in that project.
    const inProject = spec.path === PROJECT_ROUTE_PREFIX || spec.path.startsWith(`${PROJECT_ROUTE_PREFIX}/`);
    app.on(spec.method.toUpperCase(), honoPath, async (c) => {
      const client = clientOf(c);
      const ip = ipOf(c, options.trustedProxies);
      const token = parseBearer(c.req.header('authorization'));
      // The actor carries the address its audit entries record (null when unknown); its credential comes from `authenticate`.
      const authenticated = spec.auth === false ? (undefined as unknown as Actor) : { ...(await authenticate(token, client)), ip: ip === UNKNOWN_ADDRESS ? null : ip };
      // Before any permission check (here and in the services): a project role may be higher or lower.
      const actor = spec.auth !== false && inProject ? actorInProject(authenticated, c.req.param('project') ?? '') : authenticated;
      if (spec.auth !== false) {
        if (spec.permission === undefined) {
          throw new AppError(AppErrorCode.Internal, 'route declares no permission');
        }
        noteUser(c, actor.userId);
        if (inProject && actor.projectIds !== undefined) {
          await options.projectInScope?.(actor, c.req.param('project') ?? '');
        }
        assertCan(actor, spec.permission);
      }
      checkPercentEncoding(c.req.path);
      checkStrings(c.req.param(), 'path');
      const params: unknown = parsePart(spec.params, c.req.param(), 'path');
      const queryRaw = c.req.query();
      checkStrings(queryRaw, 'query');
      // Only the first of a repeated parameter would be read: `attr.country=US&attr.country=DE` filtered on US alone.
      for (const [name, values] of Object.entries(c.req.queries())) {
        if (values.length > 1) {
          throw invalid(`query parameter "${name.slice(0, 64)}" is given ${values.length} times; give it once`, { issues: [{ path: `query.${name.slice(0, 64)}`, message: 'repeated' }] });
        }
      }
      const { version: _version, ...queryRest } = queryRaw;
      const given = spec.concurrency === true ? queryRest : queryRaw;
      // A route without query parameters refuses them as the others refuse unknown ones: `?limit=`
      // on a list that is not paged must not look like it was applied.
      const unknownName = spec.query === undefined ? Object.keys(given)[0] : undefined;
      if (unknownName !== undefined) {
        throw invalid(`unknown query parameter "${unknownName.slice(0, 64)}": ${spec.method.toUpperCase()} ${spec.path} takes none${spec.concurrency === true ? ' but version' : ''}`, {
          issues: [{ path: `query.${unknownName.slice(0, 64)}`, message: 'unknown' }],
        });
      }
      const query: unknown = parsePart(spec.query, given, 'query');
      const rawBody: unknown = spec.body === undefined ? undefined : await readJson(c);
      if (spec.body === undefined && spec.method !== 'get') {
        await refuseBody(c, spec);
      }
      const body: unknown = spec.body === undefined ? undefined : parsePart(spec.body, rawBody, 'body');
      const expectedVersion = spec.concurrency === true ? expectedVersionOf(c) : 0;
      const reply = await spec.handler({ actor, params, query, body, rawBody, expectedVersion, token, ip, client, context: c });
      for (const [name, value] of Object.entries(reply.headers ?? {})) {
        c.header(name, value);
      }
      if (reply.text !== undefined) {
        return c.body(reply.text, reply.status as 200);
      }
      if (reply.stream !== undefined) {
        return c.body(reply.stream, reply.status as 200);
      }
      if (reply.body === undefined) {
        return c.body(null, reply.status as 204);
      }
      return c.json(reply.body as object, reply.status as 200);
    });
  }
}

/** Strong ETag for a resource version. */
export const etag = (version: number): string => `"${version}"`;

export const errorSchema = z.object({
  error: z.object({
    code: z.enum(Object.values(AppErrorCode) as [AppErrorCode, ...AppErrorCode[]]),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});

/** Reads a JSON body without a schema (routes whose body is validated by a service). */
export const anyJson = z.unknown();
