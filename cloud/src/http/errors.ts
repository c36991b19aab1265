import type { Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { redactSecrets } from '../auth/tokens.js';
import type { Logger } from '../domain/context.js';
import { AppError, AppErrorCode, STATUS_OF } from '../errors.js';
import { DatabaseError, SqlState, isUnavailableError } from '../store/database.js';
import { isDiskFullError } from '../local/disk-space.js';
import { noteServerError, requestIdOf } from './request-log.js';

/** SQLSTATEs of values the database refuses (NUL bytes, bad encodings, out-of-range numbers): the caller's input, so 400. */
const DATA_ERRORS = new Set(['22021', '22P05', '22P02', '22003', '22001']);

/** SQLSTATEs of a transaction the database rolled back for another one: a deadlock, a serialization failure. */
const ROLLED_BACK_FOR_CONFLICT = new Set(['40P01', '40001']);

/** Retry-After of a 503 for an unavailable database. */
export const UNAVAILABLE_RETRY_SECONDS = 5;

/** During an outage every request fails alike: the first is logged, then one line a minute with the count. */
export const UNAVAILABLE_LOG_EVERY_MS = 60_000;

const outages = new WeakMap<Logger, { loggedAt: number; unlogged: number }>();

function logUnavailable(logger: Logger, c: Context, err: DatabaseError): void {
  const now = Date.now();
  const outage = outages.get(logger);
  if (outage !== undefined && now - outage.loggedAt < UNAVAILABLE_LOG_EVERY_MS) {
    outage.unlogged++;
    return;
  }
  outages.set(logger, { loggedAt: now, unlogged: 0 });
  const requestId = requestIdOf(c);
  logger.warn('database unavailable', {
    ...(requestId === undefined ? {} : { requestId }),
    method: c.req.method,
    path: redactSecrets(c.req.path),
    error: `${err.code ?? 'no code'}: ${err.message}`,
    ...(outage === undefined ? {} : { notLoggedSince: outage.unlogged }),
  });
}

/**
 * What a caller is told when the database lacks a resource (SQLSTATE class 53), instead of a bare
 * "unavailable": a full disk, above all, does not pass by waiting, and the operator must act.
 */
const RESOURCE_MESSAGES: Readonly<Record<string, string>> = {
  [SqlState.DiskFull]: 'the database cannot write: its disk is full; free space, then retry',
  [SqlState.OutOfMemory]: 'the database is out of memory; retry later',
  [SqlState.TooManyConnections]: 'the database has no connection left; retry later',
};

/**
 * Whether a database error says its disk is full: SQLSTATE 53100, or (embedded PGlite, whose file
 * system errors come without a SQLSTATE) the operating system's "No space left on device".
 */
export function isDatabaseDiskFull(err: unknown): boolean {
  return err instanceof DatabaseError && isDiskFullError(err);
}

/** How long a disk-full failure keeps the database `degraded` in the Health view when nothing clears it sooner. */
export const DISK_FULL_HEALTH_MS = 5 * 60_000;

/** The last write the database refused for lack of disk space, per platform (its logger), until a write succeeds again. */
interface DiskFullState {
  sinceMs: number;
  lastMs: number;
  error: string;
  loggedAt: number;
  unlogged: number;
}
const diskFull = new WeakMap<Logger, DiskFullState>();

/**
 * Since when the database of the platform that logs to `logger` has failed writes for lack of disk
 * space, and the last error; undefined when it has not, when a write succeeded since
 * (`databaseWriteSucceeded`), or when the last such failure is DISK_FULL_HEALTH_MS old.
 */
export function databaseDiskFull(logger: Logger, nowMs = Date.now()): { readonly sinceMs: number; readonly lastMs: number; readonly error: string } | undefined {
  const state = diskFull.get(logger);
  if (state === undefined || nowMs - state.lastMs >= DISK_FULL_HEALTH_MS) {
    return undefined;
  }
  return { sinceMs: state.sinceMs, lastMs: state.lastMs, error: state.error };
}

/** A write to the database succeeded, or a check found space again: the disk-full state ends (logged once). */
export function databaseWriteSucceeded(logger: Logger): void {
  const state = diskFull.get(logger);
  if (state !== undefined) {
    diskFull.delete(logger);
    logger.info('database writes work again (its disk had been full)', { since: new Date(state.sinceMs).toISOString(), notLoggedSince: state.unlogged });
  }
}

/** Records and logs (an ERROR naming the cause, then one a minute with the count) a write refused for lack of space. */
function noteDiskFull(logger: Logger, c: Context, err: DatabaseError): void {
  const now = Date.now();
  const error = `${err.code ?? 'no code'}: ${err.message}`;
  const state = diskFull.get(logger);
  if (state !== undefined) {
    state.lastMs = now;
    state.error = error;
    if (now - state.loggedAt < UNAVAILABLE_LOG_EVERY_MS) {
      state.unlogged++;
      return;
    }
  }
  const requestId = requestIdOf(c);
  logger.error('database disk full: it cannot write; free space on its disk', {
    ...(requestId === undefined ? {} : { requestId }),
    method: c.req.method,
    path: redactSecrets(c.req.path),
    error,
    ...(state === undefined ? {} : { since: new Date(state.sinceMs).toISOString(), notLoggedSince: state.unlogged }),
  });
  diskFull.set(logger, { sinceMs: state?.sinceMs ?? now, lastMs: now, error, loggedAt: now, unlogged: 0 });
}

/** The one place errors become responses: `{ error: { code, message, details? } }`, never a stack. */
export function errorResponse(c: Context, err: unknown, logger: Logger): Response {
  if (err instanceof AppError) {
    const body = { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } };
    if (err.status >= 500) {
      const cause = err.cause instanceof Error ? ` (${err.cause.name}: ${err.cause.message})` : '';
      noteServerError(c, `${err.code}: ${err.message}${cause}`);
    }
    if (err.code === AppErrorCode.RateLimited || err.code === AppErrorCode.Unavailable) {
      const retry = (err.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
      if (retry !== undefined) {
        c.header('Retry-After', String(retry));
      }
    }
    return c.json(body, err.status as 400);
  }
  if (err instanceof DatabaseError && err.code !== undefined && DATA_ERRORS.has(err.code)) {
    return c.json({ error: { code: AppErrorCode.Validation, message: 'a value cannot be stored (invalid text or number)' } }, 400);
  }
  if (err instanceof DatabaseError && err.code !== undefined && ROLLED_BACK_FOR_CONFLICT.has(err.code)) {
    // Not an outage: the database rolled this transaction back so that a concurrent one could go on.
    // Nothing was changed, and the same request sent again is expected to work.
    const requestId = requestIdOf(c);
    logger.warn('transaction rolled back for a concurrent one', {
      ...(requestId === undefined ? {} : { requestId }),
      method: c.req.method,
      path: redactSecrets(c.req.path),
      error: `${err.code}: ${err.message}`,
    });
    noteServerError(c, `${AppErrorCode.Unavailable}: rolled back for a concurrent transaction (${err.code}: ${err.message})`);
    c.header('Retry-After', '1');
    return c.json({ error: { code: AppErrorCode.Unavailable, message: 'the change collided with a concurrent one and was rolled back: nothing was changed; send it again' } }, 503);
  }
  if (isDatabaseDiskFull(err)) {
    // Not an outage that passes: the operator must free space. Nothing was written; the same request
    // works once there is room.
    noteDiskFull(logger, c, err as DatabaseError);
    noteServerError(c, `${AppErrorCode.Unavailable}: the database's disk is full (${(err as DatabaseError).code ?? 'no code'}: ${(err as DatabaseError).message})`);
    c.header('Retry-After', String(UNAVAILABLE_RETRY_SECONDS));
    return c.json({ error: { code: AppErrorCode.Unavailable, message: RESOURCE_MESSAGES[SqlState.DiskFull]! } }, 503);
  }
  if (isUnavailableError(err)) {
    // The database is down, restarting or out of connections: the caller may retry, and is told when.
    logUnavailable(logger, c, err);
    noteServerError(c, `${AppErrorCode.Unavailable}: the database is unavailable (${err.code ?? 'no code'}: ${err.message})`);
    c.header('Retry-After', String(UNAVAILABLE_RETRY_SECONDS));
    const resource = err.code?.startsWith(SqlState.InsufficientResourcesClass) === true ? (RESOURCE_MESSAGES[err.code] ?? `the database lacks a resource (${err.code}); retry later`) : undefined;
    return c.json({ error: { code: AppErrorCode.Unavailable, message: resource ?? 'the database is unavailable; retry later' } }, 503);
  }
  if (err instanceof HTTPException) {
    const code = err.status === 413 ? AppErrorCode.PayloadTooLarge : err.status === 401 ? AppErrorCode.Unauthenticated : AppErrorCode.Validation;
    return c.json({ error: { code, message: err.status === 413 ? 'the request body is larger than this route takes: split the request into smaller ones, or send less' : err.message } }, STATUS_OF[code] as 400);
  }
  const requestId = requestIdOf(c);
  logger.error('unhandled error', {
    ...(requestId === undefined ? {} : { requestId }),
    method: c.req.method,
    path: redactSecrets(c.req.path),
    error: redactSecrets(err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err)),
  });
  return c.json({ error: { code: AppErrorCode.Internal, message: 'internal error; it has been logged' } }, 500);
}

const routePatterns = new WeakMap<Hono, { readonly method: string; readonly pattern: RegExp }[]>();

/** A Hono route path (`/api/v1/projects/:project/flags/:key`, `*`) as a RegExp of the paths it serves. */
function pathPattern(path: string): RegExp {
  const source = path
    .split(/(:[A-Za-z0-9_]+(?:\{[^}]*\})?\??|\*)/)
    .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}/?$`);
}

/**
 * The answer for a request no route takes: 405 with `Allow` when the path exists with other
 * methods (a PATCH where the API takes PUT), else 404.
 */
export function noRoute(app: Hono, c: Context): Response {
  let patterns = routePatterns.get(app);
  if (patterns === undefined) {
    // Middleware is registered for every method ('ALL'); only real routes say which methods a path has.
    patterns = app.routes.filter((r) => r.method !== 'ALL').map((r) => ({ method: r.method, pattern: pathPattern(r.path) }));
    routePatterns.set(app, patterns);
  }
  const path = c.req.path;
  const allowed = [...new Set(patterns.filter((p) => p.pattern.test(path)).map((p) => p.method))];
  if (allowed.includes(c.req.method) && path.endsWith('/')) {
    // The route exists without the trailing slash: routes are matched exactly.
    const query = new URL(c.req.url).search;
    return c.json({ error: { code: AppErrorCode.NotFound, message: `no route for ${c.req.method} ${path}; did you mean ${path.replace(/\/+$/, '')}${query}?` } }, 404);
  }
  if (allowed.length > 0) {
    if (allowed.includes('GET') && !allowed.includes('HEAD')) {
      allowed.push('HEAD');
    }
    c.header('Allow', allowed.join(', '));
    return c.json({ error: { code: AppErrorCode.MethodNotAllowed, message: `${c.req.method} is not allowed on ${path}; it takes ${allowed.join(', ')}` } }, 405);
  }
  return c.json({ error: { code: AppErrorCode.NotFound, message: `no route for ${c.req.method} ${path}` } }, 404);
}
