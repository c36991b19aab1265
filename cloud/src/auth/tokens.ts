import { hash, randomBytes } from 'node:crypto';

/**
 * Opaque bearer secrets: session tokens, personal access tokens and SDK keys. Each is a kind prefix
 * plus 32 random bytes in base64url; only the SHA-256 of a token is stored, and only its display
 * prefix is ever logged or shown again.
 */

/** What a token authenticates. */
export const TokenKind = {
  /** A console or CLI login session (`xps_`). */
  Session: 'session',
  /** A personal access token for the API, acting as its user (`xpp_`). */
  PersonalAccess: 'personal-access',
  /** A server-side SDK key for one environment; sees the full ruleset (`xpk_srv_`). */
  ServerSdkKey: 'server-sdk-key',
  /** A client-side SDK key for one environment; shipped in browsers and apps (`xpk_cli_`). */
  ClientSdkKey: 'client-sdk-key',
} as const;
export type TokenKind = (typeof TokenKind)[keyof typeof TokenKind];

export const TOKEN_PREFIX: Readonly<Record<TokenKind, string>> = {
  session: 'xps_',
  'personal-access': 'xpp_',
  'server-sdk-key': 'xpk_srv_',
  'client-sdk-key': 'xpk_cli_',
};

const TOKEN_BYTES = 32;
/** Length of the base64url body of 32 bytes, unpadded. */
const BODY_LENGTH = 43;
/** Characters of the body kept in a display prefix: 48 of 256 bits, enough to tell tokens apart. */
const DISPLAY_BODY_CHARS = 8;
const MAX_BEARER_LENGTH = 512;
const TOKEN_KINDS = Object.values(TokenKind);
const BODY = `[A-Za-z0-9_-]{${BODY_LENGTH}}`;
const TOKEN_PATTERN: Readonly<Record<TokenKind, RegExp>> = Object.fromEntries(
  TOKEN_KINDS.map((kind) => [kind, new RegExp(`^${TOKEN_PREFIX[kind]}${BODY}$`)]),
) as Record<TokenKind, RegExp>;
// Loose on purpose: a truncated or over-long token in a log line is still a secret worth hiding.
const SECRET_IN_TEXT = /(xps_|xpp_|xpk_srv_|xpk_cli_)([A-Za-z0-9_-]{16,})/g;
// RFC 6750 b64token: no whitespace, no control characters, no non-ASCII.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BEARER = /^bearer +(\S+)$/i;

/** A new random token of the given kind; `random` is injectable for deterministic tests. */
export function generateToken(kind: TokenKind, random: (bytes: number) => Buffer = randomBytes): string {
  return TOKEN_PREFIX[kind] + random(TOKEN_BYTES).toString('base64url');
}

// Tokens carry 256 random bits, so an unsalted fast hash is safe: there is nothing to brute-force or precompute.
/** The value stored and looked up in place of the token: SHA-256, lower-case hex. */
export function hashToken(token: string): string {
  // The one-shot form: every SDK request hashes its key, and it costs a quarter of createHash's.
  return hash('sha256', token, 'hex');
}

/** The kind of a well-formed token, or undefined. */
export function tokenKindOf(s: string): TokenKind | undefined {
  return TOKEN_KINDS.find((kind) => TOKEN_PATTERN[kind].test(s));
}

/** Whether `s` has the exact shape of a token of `kind` (prefix and 43 base64url characters). */
export function looksLikeToken(kind: TokenKind, s: string): boolean {
  return TOKEN_PATTERN[kind].test(s);
}

/**
 * The part of a token safe to display and store in the clear: its kind prefix plus 8 characters
 * (12 characters for sessions and access tokens, 16 for SDK keys). Unrecognised input gives its first 4.
 */
export function tokenPrefix(token: string): string {
  const kind = TOKEN_KINDS.find((k) => token.startsWith(TOKEN_PREFIX[k]));
  return kind === undefined ? token.slice(0, 4) : token.slice(0, TOKEN_PREFIX[kind].length + DISPLAY_BODY_CHARS);
}

/**
 * The token from an `Authorization: Bearer <token>` header, or undefined. The scheme is
 * case-insensitive and surrounding spaces are ignored; anything else unusual is refused.
 */
export function parseBearer(header: string | null | undefined): string | undefined {
  if (header === null || header === undefined || header.length > MAX_BEARER_LENGTH + 16) {
    return undefined;
  }
  const match = BEARER.exec(header.trim());
  const token = match?.[1];
  if (token === undefined || token.length > MAX_BEARER_LENGTH || !B64TOKEN.test(token)) {
    return undefined;
  }
  return token;
}

/** Replaces every xp token-shaped substring with its display prefix and `…`, for log lines. */
export function redactSecrets(text: string): string {
  return text.replace(SECRET_IN_TEXT, (_match, prefix: string, body: string) => `${prefix}${body.slice(0, DISPLAY_BODY_CHARS)}…`);
}
