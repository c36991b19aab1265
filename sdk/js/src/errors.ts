/** What went wrong inside the SDK; reported to the logger and by `ready()`, never thrown at callers. */
export const XpErrorCode = {
  /** The request could not be sent or the connection broke. */
  Network: 'NETWORK',
  /** The server did not answer within `timeoutMs`. */
  Timeout: 'TIMEOUT',
  /** The server answered with an unexpected HTTP status. */
  Http: 'HTTP',
  /** The SDK key was refused (401 or 403). */
  Unauthorized: 'UNAUTHORIZED',
  /** A ruleset was not JSON or failed `rulesetSchema`; the last good one stays in use. */
  InvalidRuleset: 'INVALID_RULESET',
  /** The options given to the client cannot work (no SDK key, a malformed apiUrl, …). */
  Configuration: 'CONFIGURATION',
  /** The client was closed. */
  Closed: 'CLOSED',
} as const;
export type XpErrorCode = (typeof XpErrorCode)[keyof typeof XpErrorCode];

/** Base class of every error the SDK reports. */
export class XpError extends Error {
  override readonly name: string = 'XpError';

  constructor(
    readonly code: XpErrorCode,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A strict test client (`@xp/sdk/testing`) was asked for a flag or experiment it was not given: a
 * mistake of the test. The OpenFeature providers answer it as FLAG_NOT_FOUND, with this message.
 */
export class NotConfiguredError extends XpError {
  override readonly name: string = 'NotConfiguredError';
}

/** A request failed before an HTTP status arrived (connection refused, reset, timed out). */
export class NetworkError extends XpError {
  override readonly name: string = 'NetworkError';
}

/** The server answered with a status the SDK cannot use. */
export class HttpError extends XpError {
  override readonly name: string = 'HttpError';

  constructor(
    readonly status: number,
    message: string,
    /** The server's Retry-After, in milliseconds, when it sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(status === 401 || status === 403 ? XpErrorCode.Unauthorized : XpErrorCode.Http, message);
  }
}

/** A ruleset was rejected (not JSON, or not a valid ruleset document). */
export class RulesetError extends XpError {
  override readonly name: string = 'RulesetError';

  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(XpErrorCode.InvalidRuleset, message, options);
  }
}

/**
 * An error's message followed by its causes' (`request to /sdk/v1/ruleset failed: fetch failed:
 * connect ECONNREFUSED 127.0.0.1:8080`), for log lines about expected, retried failures: the
 * message says what happened without a stack trace per retry.
 */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e !== undefined && e !== null; depth++) {
    const message = e instanceof Error ? e.message : typeof e === 'string' ? e : undefined;
    if (message === undefined) {
      break;
    }
    if (message !== '' && parts.at(-1) !== message) {
      parts.push(message);
    }
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.length === 0 ? String(error) : parts.join(': ');
}
