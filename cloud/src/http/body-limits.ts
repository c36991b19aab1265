/**
 * How much of request bodies the server holds at once. Each body is buffered whole before it is
 * parsed, so without a bound a hundred clients each sending most of an 8 MB body, and then waiting,
 * hold most of a gigabyte. Three limits:
 *
 * - small routes (sign-in, sign-out, password, tokens, alert acknowledgement…) take 16 KB, refused
 *   from the declared Content-Length, or as soon as a streamed body passes it;
 * - a process-wide budget of body bytes being received, and one per client address: a body that
 *   does not fit (its declared length, or its chunks as they arrive) is answered 503 with
 *   Retry-After, kept nowhere, and the connection is closed (a declared body is read and dropped
 *   first, for up to DISCARD_MS, so that a client still uploading reads the answer).
 *
 * A request's share returns to the budget when its handler is done with it, answered or aborted.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { AppError, AppErrorCode } from '../errors.js';
import { MAX_IDS_PER_CHANGE } from '../domain/segments.js';
import { clientKey } from '../auth/rate-limit.js';
import { clientAddress } from './client-ip.js';
import type { TrustedProxies } from './client-ip.js';

/** The limit of the routes whose bodies are a few fields. */
export const SMALL_BODY_BYTES = 16 * 1024;
/** XP_MAX_BODY_BYTES_IN_FLIGHT's default: body bytes all requests together may be receiving. */
export const DEFAULT_BODY_BYTES_IN_FLIGHT = 256 * 1024 * 1024;
/** XP_MAX_BODY_BYTES_PER_ADDRESS's default: body bytes the requests of one client address may be receiving. */
export const DEFAULT_BODY_BYTES_PER_ADDRESS = 32 * 1024 * 1024;
/** Retry-After of a body refused for the budget: bodies in flight finish (or time out) within seconds. */
export const BODY_BUDGET_RETRY_SECONDS = 5;

/**
 * Routes whose body is a few fields (any method): sign-in and sign-out, the caller's password,
 * sessions and tokens, users and their roles, the token policy, alert acknowledgement.
 */
const SMALL_BODY_ROUTES: readonly RegExp[] = [
  /^\/api\/v1\/auth\//,
  /^\/api\/v1\/me\/(?:password|sessions\/revoke-others|tokens(?:\/[^/]+)?)\/?$/,
  /^\/api\/v1\/users(?:\/[^/]+(?:\/(?:password-reset|unlock|sessions\/revoke|projects\/[^/]+\/role))?)?\/?$/,
  /^\/api\/v1\/service-accounts(?:\/[^/]+(?:\/tokens(?:\/[^/]+)?)?)?\/?$/,
  /^\/api\/v1\/organisation\/token-policy\/?$/,
  /^\/api\/v1\/projects\/[^/]+\/alerts\/[^/]+\/(?:un)?acknowledge\/?$/,
];

/** Whether `path` is a route whose body is a few fields, limited to SMALL_BODY_BYTES. */
export function isSmallBodyRoute(path: string): boolean {
  return SMALL_BODY_ROUTES.some((r) => r.test(path));
}

export interface BodyBudgetLimits {
  /** Body bytes all requests together may be receiving. */
  readonly totalBytes: number;
  /** Body bytes one client address's requests may be receiving. */
  readonly perAddressBytes: number;
  /** XP_TRUSTED_PROXIES: behind them the client is X-Forwarded-For's, not the proxy. */
  readonly trustedProxies?: TrustedProxies | undefined;
}

/** One request's share of a BodyBudget: taken as its body is admitted, given back once by `release`. */
export interface BodyClaim {
  /** Takes `bytes` more; false (nothing taken) when the budget, overall or the address's, has no room. */
  take(bytes: number): boolean;
  /** Gives back all this claim took; later calls do nothing. */
  release(): void;
}

/** The bytes of request bodies being received, overall and per client address. */
export class BodyBudget {
  #inFlight = 0;
  readonly #byAddress = new Map<string, number>();

  constructor(readonly limits: BodyBudgetLimits) {}

  /** Body bytes admitted and not yet released, overall or for `address`. */
  inFlight(address?: string): number {
    return address === undefined ? this.#inFlight : (this.#byAddress.get(clientKey(address)) ?? 0);
  }

  /** The client a request's share is counted under: its address, an IPv6 one by its /64 (clientKey, as the login limits count). */
  addressOf(c: Context): string {
    const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
    return clientKey(clientAddress(env?.incoming?.socket?.remoteAddress, c.req.header('x-forwarded-for'), this.limits.trustedProxies) ?? 'unknown');
  }

  /** A claim for one request's body from `address`. */
  claim(address: string): BodyClaim {
    const key = clientKey(address);
    let held = 0;
    let released = false;
    return {
      take: (bytes) => {
        if (released) {
          return false;
        }
        const mine = this.#byAddress.get(key) ?? 0;
        if (this.#inFlight + bytes > this.limits.totalBytes || mine + bytes > this.limits.perAddressBytes) {
          return false;
        }
        this.#inFlight += bytes;
        this.#byAddress.set(key, mine + bytes);
        held += bytes;
        return true;
      },
      release: () => {
        if (released) {
          return;
        }
        released = true;
        this.#inFlight -= held;
        const left = (this.#byAddress.get(key) ?? 0) - held;
        if (left <= 0) {
          this.#byAddress.delete(key);
        } else {
          this.#byAddress.set(key, left);
        }
        held = 0;
      },
    };
  }
}

/** A byte count as people read it: 8 MB, 16 KB, 900 bytes (binary units, as the limits are set). */
function bytesName(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) {
    return `${bytes / (1024 * 1024)} MB`;
  }
  if (bytes >= 1024 && bytes % 1024 === 0) {
    return `${bytes / 1024} KB`;
  }
  return `${bytes.toLocaleString('en-US')} bytes`;
}

/** The segment routes that take a whole id list (create, replace) and the one that takes part of it. */
const SEGMENT_LIST_ROUTE = /^\/api\/v1\/projects\/[^/]+\/segments(?:\/[^/]+)?\/?$/;
const SEGMENT_IDS_ROUTE = /^\/api\/v1\/projects\/[^/]+\/segments\/[^/]+\/ids\/?$/;

/** What a caller whose body was too large for `path` can do instead. */
function smallerBodyHint(path: string): string {
  if (SEGMENT_LIST_ROUTE.test(path)) {
    return `send a long id list in parts: create (or replace) the segment with part of it, then add the rest with POST /api/v1/projects/{project}/segments/{key}/ids and {"add": [...]}, at most ${MAX_IDS_PER_CHANGE.toLocaleString('en-US')} ids a request`;
  }
  if (SEGMENT_IDS_ROUTE.test(path)) {
    return `send the ids in several requests, fewer per request (at most ${MAX_IDS_PER_CHANGE.toLocaleString('en-US')} each)`;
  }
  return 'split the request into smaller ones, or send less';
}

/**
 * 413 naming the limit and what to do. `size`: the declared length, or (a streamed body, counted as
 * it arrives) undefined: it passed the limit, how far is not known.
 */
export const bodyTooLarge = (path: string, maxBytes: number, size?: number): AppError =>
  new AppError(
    AppErrorCode.PayloadTooLarge,
    `the request body ${size === undefined ? `passed ${maxBytes.toLocaleString('en-US')} bytes` : `is ${size.toLocaleString('en-US')} bytes`}; this route takes at most ${bytesName(maxBytes)} (${maxBytes.toLocaleString('en-US')} bytes): ${smallerBodyHint(path)}`,
    { limit: maxBytes, ...(size === undefined ? {} : { bytes: size }) },
  );

/** 503 with Retry-After: the server receives as many bodies as it will hold at once. */
export const bodyBudgetFull = (): AppError =>
  new AppError(AppErrorCode.Unavailable, 'the server is receiving as many request bodies as it holds at once; retry in a moment', { retryAfterSeconds: BODY_BUDGET_RETRY_SECONDS });

/** A declared Content-Length (without Transfer-Encoding) as a number; NaN when malformed; undefined when none. */
export function declaredLength(c: Context): number | undefined {
  const length = c.req.header('content-length');
  if (length === undefined || c.req.header('transfer-encoding') !== undefined) {
    return undefined;
  }
  return /^\d{1,15}$/.test(length.trim()) ? Number(length.trim()) : Number.NaN;
}

/** A refusal closes the connection: the rest of the body is not read (nor drained). */
function closeAfter(c: Context): void {
  c.header('Connection', 'close');
}

/** How long a body refused for the budget, or declared too large, is read (and dropped) before the refusal is sent. */
export const DISCARD_MS = 10_000;
/**
 * A declared body over a route's limit but within this many times it is read and dropped before the
 * 413 (for DISCARD_MS at most): a client that writes its whole body before reading the answer
 * (Python's urllib, curl) then reads the 413 and what to do instead of a broken pipe. A larger one,
 * and any over a small route's 16 KB (sign-in takes no such body), is cut off at once: reading it
 * would only cost bandwidth.
 */
export const DISCARD_TOO_LARGE_FACTOR = 2;

/**
 * Reads the body and drops it, for at most `ms`: a client that writes its whole body before reading
 * the answer (Python's http.client, curl, most SDKs) then reads the 503 and its Retry-After instead
 * of a broken pipe from a connection closed under its upload. Nothing is kept; a body still arriving
 * after `ms` is cut off.
 */
async function discardBody(c: Context, ms: number): Promise<void> {
  const body: ReadableStream<Uint8Array> | null = c.req.raw.body;
  if (body === null) {
    return;
  }
  const reader = body.getReader();
  const timer = setTimeout(() => {
    void reader.cancel().catch(() => undefined);
  }, ms);
  try {
    for (;;) {
      const { done } = await reader.read();
      if (done) {
        return;
      }
    }
  } catch {
    // Cancelled at the deadline, or the client went away: either way, nothing more to read.
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Admits a request's body against `maxBytes` and the budget (when given), throwing the refusal
 * (413, or 503 with Retry-After) with Connection: close. With a declared length the whole length
 * is taken at once; a streamed body (chunked) is counted chunk by chunk as the handler reads it,
 * through the stream `counted` returns. `release` must be called when the handler is done.
 */
export async function admitBody(c: Context, maxBytes: number, budget: BodyBudget | undefined): Promise<{ readonly release: () => void; readonly counted?: ReadableStream<Uint8Array> }> {
  const declared = declaredLength(c);
  if (declared !== undefined) {
    if (!(declared <= maxBytes)) {
      if (maxBytes > SMALL_BODY_BYTES && declared <= DISCARD_TOO_LARGE_FACTOR * maxBytes) {
        await discardBody(c, DISCARD_MS);
      }
      closeAfter(c);
      throw bodyTooLarge(c.req.path, maxBytes, Number.isNaN(declared) ? undefined : declared);
    }
    if (budget === undefined || declared === 0) {
      return { release: () => undefined };
    }
    const claim = budget.claim(budget.addressOf(c));
    if (!claim.take(declared)) {
      // Read and dropped first (within the length already checked), so the client gets to read the 503.
      await discardBody(c, DISCARD_MS);
      closeAfter(c);
      throw bodyBudgetFull();
    }
    return { release: () => {
      claim.release();
    } };
  }
  const body: ReadableStream<Uint8Array> | null = c.req.raw.body;
  if (body === null) {
    return { release: () => undefined };
  }
  const claim = budget?.claim(budget.addressOf(c));
  const reader = body.getReader();
  let size = 0;
  const refuse = async (controller: ReadableStreamDefaultController<Uint8Array>, error: AppError): Promise<void> => {
    closeAfter(c);
    controller.error(error);
    await reader.cancel().catch(() => undefined);
  };
  const counted = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      size += value.byteLength;
      if (size > maxBytes) {
        await refuse(controller, bodyTooLarge(c.req.path, maxBytes));
        return;
      }
      if (claim !== undefined && !claim.take(value.byteLength)) {
        await refuse(controller, bodyBudgetFull());
        return;
      }
      controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return {
    release: () => {
      claim?.release();
    },
    counted,
  };
}

export interface BodyGuardOptions {
  /** The largest body of a route not in the small list. */
  readonly maxBytes: number;
  /** Body bytes in flight, overall and per address (`xp start`); none (unbounded) when absent. */
  readonly budget?: BodyBudget | undefined;
}

/**
 * The body limit of the management API (in place of Hono's bodyLimit, which buffers a streamed body
 * whole before the handler runs): small routes get SMALL_BODY_BYTES, the others `maxBytes`, all of
 * them within the budget. Refusals are AppErrors, answered by the app's error handler.
 */
export function guardBodies(options: BodyGuardOptions): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.raw.body === null) {
      await next();
      return;
    }
    const maxBytes = isSmallBodyRoute(c.req.path) ? Math.min(SMALL_BODY_BYTES, options.maxBytes) : options.maxBytes;
    const admitted = await admitBody(c, maxBytes, options.budget);
    try {
      if (admitted.counted !== undefined) {
        c.req.raw = new Request(c.req.raw, { body: admitted.counted, duplex: 'half' });
      }
      await next();
    } finally {
      admitted.release();
    }
  };
}
