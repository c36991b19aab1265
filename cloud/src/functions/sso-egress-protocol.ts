/**
 * What the API function and the SSO egress function (sso-egress.ts) exchange: one HTTPS request to
 * the identity provider and its answer, bodies in base64. Kept apart from both, so neither bundle
 * carries the other's code.
 */

/** The issuer whose discovery document names the only other URLs the egress function reaches (the API's XP_SSO_ISSUER). */
export const SSO_EGRESS_ISSUER_VARIABLE = 'XP_SSO_ISSUER';

/** How long the egress function waits for the IdP (connection, headers and body). */
export const SSO_EGRESS_FETCH_TIMEOUT_MS = 10_000;

/** The longest request body it forwards (a token request is well under 4 KiB). */
export const SSO_EGRESS_MAX_REQUEST_BYTES = 64 * 1024;

/** The longest answer it returns (a JWKS or discovery document is a few KiB; Lambda answers at most 6 MB). */
export const SSO_EGRESS_MAX_RESPONSE_BYTES = 1024 * 1024;

export interface SsoEgressRequest {
  readonly url: string;
  /** GET or POST. */
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The body's bytes in base64; absent for none. */
  readonly body?: string | undefined;
}

/** The IdP's answer: its status, headers (lower-case names) and body bytes in base64. */
export interface SsoEgressAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * No answer: `refused` (a URL, method or request the function does not send), `timeout` (the IdP did
 * not answer within SSO_EGRESS_FETCH_TIMEOUT_MS), `unreachable` (DNS, connection or TLS failed),
 * `too-large` (the answer exceeds SSO_EGRESS_MAX_RESPONSE_BYTES). The message names no header or body.
 */
export interface SsoEgressFailure {
  readonly error: 'refused' | 'timeout' | 'unreachable' | 'too-large';
  readonly message: string;
}

export type SsoEgressResult = SsoEgressAnswer | SsoEgressFailure;

const FAILURES: ReadonlySet<string> = new Set(['refused', 'timeout', 'unreachable', 'too-large']);

const isStringRecord = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');

/** The egress function's answer, if it has the shape of one. */
export function parseSsoEgressResult(value: unknown): SsoEgressResult | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const { status, headers, body, error, message } = value as Record<string, unknown>;
  if (typeof error === 'string') {
    return FAILURES.has(error) && typeof message === 'string' ? { error: error as SsoEgressFailure['error'], message } : undefined;
  }
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599 || !isStringRecord(headers) || typeof body !== 'string') {
    return undefined;
  }
  return { status, headers, body };
}
