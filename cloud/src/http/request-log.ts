/**
 * One structured log line per request: request id, method, route, status, latency, client, user
 * id, and (with COLLECT_REQUEST_BODY=true) the JSON body with every secret-looking field redacted
 * and URLs that may carry a token (webhook URLs) cut to `scheme://host/…`.
 * Errors are logged with their stack by the error mapper, carrying the same request id; responses
 * never contain either.
 */
import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import { redactSecrets } from '../auth/tokens.js';
import type { Logger } from '../domain/context.js';
import { urlPreview } from '../domain/webhooks.js';

export interface RequestLogOptions {
  /** Log the request body (JSON only, first 16 KB) with secrets redacted. Default false. */
  readonly collectBody?: boolean;
  /** Milliseconds clock; injectable for tests. */
  readonly now?: () => number;
  /** `X-XP-Client` values (lower case) whose successful requests are not logged, e.g. the local demo traffic; errors (status ≥ 400) still are. */
  readonly quietClients?: readonly string[];
  /** Log only the requests that failed (status ≥ 400): under heavy SDK traffic a line per request costs throughput. Default false. */
  readonly failuresOnly?: boolean;
}

export const REQUEST_ID_HEADER = 'X-Request-Id';
const REQUEST_ID = /^[A-Za-z0-9._-]{8,128}$/;
const MAX_BODY_CHARS = 16 * 1024;
/**
 * Field names whose values are never logged. `code` only as the whole name: the one-time code of an
 * SSO exchange, an OAuth authorization code (`?code=`); `countryCode`, `statusCode`… stay. `verifier`:
 * a PKCE verifier (a desktop app's SSO exchange, `code_verifier`).
 */
const SECRET_FIELD = /pass(word|phrase)?|pwd|secret|token|bearer|otp$|otp[-_]?code|mfa[-_]?code|^code$|verifier|api[-_]?key|sdk[-_]?key|authorization|cookie|credential|private[-_]?key|session|signature|dsn/i;
export const REDACTED = '[redacted]';
/** Field names holding a URL (`url`, `callbackUrl`, `uri`…): shown as `scheme://host/…`, as webhook URLs are everywhere else. */
const URL_FIELD = /ur[il]$/i;
/** An absolute URL inside a string (scheme, `://`, then up to whitespace or a quote). */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]{0,31}:\/\/[^\s"'<>`]+/gi;
/** The password of a URL's user information (`postgres://user:password@host`), in any string. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]{0,31}:\/\/[^\s"'<>`/:@]*:)[^\s"'<>`/@]+@/gi;
/** A query parameter in any string (`?password=…`, `&api_key=…`); its value is redacted when its name is secret-like. */
const QUERY_PARAMETER = /([?&;]([A-Za-z0-9_.[\]-]{1,64})=)([^&#;\s"'<>`]*)/g;
/** Routes whose bodies hold receiver URLs, which are secrets (stored encrypted, shown as previews). */
const URL_SECRET_ROUTE = /\/webhooks(\/|$)/;

const requestIds = new WeakMap<Request, string>();
const requestUsers = new WeakMap<Request, string>();
const requestErrors = new WeakMap<Request, string>();

/** Called where an error becomes a 5xx answer, so the request line says why (`UNAVAILABLE: …`). */
export function noteServerError(c: Context, error: string): void {
  requestErrors.set(c.req.raw, error);
}

/** The request's id (as logged and returned in X-Request-Id), if the middleware ran. */
export const requestIdOf = (c: Context): string | undefined => requestIds.get(c.req.raw);

/** Called by the route table once the caller is authenticated, so the request line names them. */
export function noteUser(c: Context, userId: string): void {
  requestUsers.set(c.req.raw, userId);
}

/** `scheme://host/…` of a URL (its path and query may hold a token); a value that is not a URL is redacted whole. */
function previewUrl(value: string): string {
  try {
    return urlPreview(value);
  } catch {
    return REDACTED;
  }
}

export interface RedactOptions {
  /** Cut every URL in every string to `scheme://host/…` (bodies of webhook routes). Default false. */
  readonly allUrls?: boolean;
}

/**
 * A copy of a parsed JSON value with secret-named fields replaced, URL-named fields (and, with
 * `allUrls`, URLs anywhere) cut to `scheme://host/…`, and token-shaped strings redacted.
 */
export function redactBody(value: unknown, options: RedactOptions = {}, depth = 0): unknown {
  if (depth > 32) {
    return REDACTED;
  }
  if (typeof value === 'string') {
    const text = value
      .replace(URL_PASSWORD, `$1${REDACTED}@`)
      .replace(QUERY_PARAMETER, (whole, head: string, name: string) => (SECRET_FIELD.test(name) ? `${head}${REDACTED}` : whole));
    return redactSecrets(options.allUrls === true ? text.replace(URL_IN_TEXT, previewUrl) : text);
  }
  if (Array.isArray(value)) {
    return value.map((v) => redactBody(v, options, depth + 1));
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => {
        if (SECRET_FIELD.test(k)) {
          return [k, REDACTED];
        }
        if (URL_FIELD.test(k) && typeof v === 'string') {
          return [k, previewUrl(v.trim())];
        }
        return [k, redactBody(v, options, depth + 1)];
      }),
    );
  }
  return value;
}

async function bodyOf(c: Context): Promise<unknown> {
  if (!/json/i.test(c.req.header('content-type') ?? '')) {
    return undefined;
  }
  const text = await c.req.raw.clone().text();
  if (text === '') {
    return undefined;
  }
  if (text.length > MAX_BODY_CHARS) {
    return `[${text.length} characters, not logged]`;
  }
  try {
    return redactBody(JSON.parse(text), { allUrls: URL_SECRET_ROUTE.test(c.req.path) });
  } catch {
    return '[not JSON]';
  }
}

export function requestLogger(logger: Logger, options: RequestLogOptions = {}): MiddlewareHandler {
  const now = options.now ?? (() => performance.now());
  return async (c, next) => {
    const started = now();
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const requestId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    requestIds.set(c.req.raw, requestId);
    c.header(REQUEST_ID_HEADER, requestId);
    const body = options.collectBody === true && c.req.method !== 'GET' && c.req.method !== 'HEAD' ? await bodyOf(c) : undefined;
    try {
      await next();
    } finally {
      const status = c.res.status;
      const client = c.req.header('x-xp-client')?.trim().toLowerCase().slice(0, 32) ?? 'api';
      const quiet = status < 400 && (options.failuresOnly === true || options.quietClients?.includes(client) === true);
      // A quiet request's line is not even built: under SDK traffic this runs for every request.
      if (!quiet) {
        const fields: Record<string, unknown> = {
          requestId,
          method: c.req.method,
          // The last matched route is the handler's (the first ones are middleware on '*').
          route: routePath(c, -1),
          path: redactSecrets(c.req.path),
          status,
          latencyMs: Math.round((now() - started) * 10) / 10,
          client,
          ...(requestUsers.has(c.req.raw) ? { userId: requestUsers.get(c.req.raw) } : {}),
          ...(body === undefined ? {} : { body }),
        };
        if (status >= 500) {
          const error = requestErrors.get(c.req.raw);
          logger.error('request', error === undefined ? fields : { ...fields, error: redactSecrets(error) });
        } else {
          logger.info('request', fields);
        }
      }
    }
  };
}
