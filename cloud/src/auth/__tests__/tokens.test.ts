import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  TOKEN_PREFIX,
  TokenKind,
  generateToken,
  hashToken,
  looksLikeToken,
  parseBearer,
  redactSecrets,
  tokenKindOf,
  tokenPrefix,
} from '../tokens.js';

const KINDS = Object.values(TokenKind);
const fixedRandom = (byte: number) => (n: number): Buffer => Buffer.alloc(n, byte);

describe('generateToken', () => {
  it.each([
    [TokenKind.Session, 'xps_'],
    [TokenKind.PersonalAccess, 'xpp_'],
    [TokenKind.ServerSdkKey, 'xpk_srv_'],
    [TokenKind.ClientSdkKey, 'xpk_cli_'],
  ])('gives %s tokens the %s prefix and 32 random bytes in base64url', (kind, prefix) => {
    const token = generateToken(kind);

    expect(token.startsWith(prefix)).toBe(true);
    expect(Buffer.from(token.slice(prefix.length), 'base64url')).toHaveLength(32);
    expect(token.slice(prefix.length)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(looksLikeToken(kind, token)).toBe(true);
    expect(tokenKindOf(token)).toBe(kind);
  });

  it('uses the injected randomness', () => {
    expect(generateToken(TokenKind.Session, fixedRandom(0xff))).toBe(`xps_${'_'.repeat(42)}8`);
  });

  it('never repeats', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => generateToken(TokenKind.PersonalAccess)));

    expect(tokens.size).toBe(1000);
  });
});

describe('looksLikeToken / tokenKindOf', () => {
  const session = generateToken(TokenKind.Session, fixedRandom(7));

  it.each([
    ['another kind', TokenKind.PersonalAccess, session],
    ['a truncated body', TokenKind.Session, session.slice(0, -1)],
    ['an over-long body', TokenKind.Session, `${session}A`],
    ['a character outside base64url', TokenKind.Session, `${session.slice(0, -1)}+`],
    ['surrounding space', TokenKind.Session, ` ${session}`],
    ['an upper-case prefix', TokenKind.Session, session.replace('xps_', 'XPS_')],
    ['the empty string', TokenKind.Session, ''],
  ])('rejects %s', (_name, kind, s) => {
    expect(looksLikeToken(kind, s)).toBe(false);
  });

  it('finds no kind for a non-token', () => {
    expect(tokenKindOf('hello')).toBeUndefined();
    expect(tokenKindOf(`xpk_${'a'.repeat(43)}`)).toBeUndefined();
  });
});

describe('hashToken', () => {
  it('is the SHA-256 hex of the token', () => {
    const token = generateToken(TokenKind.Session, fixedRandom(1));

    expect(hashToken(token)).toBe(createHash('sha256').update(token).digest('hex'));
    expect(hashToken(token)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is deterministic and differs between tokens', () => {
    const a = generateToken(TokenKind.Session, fixedRandom(1));
    const b = generateToken(TokenKind.Session, fixedRandom(2));

    expect(hashToken(a)).toBe(hashToken(a));
    expect(hashToken(a)).not.toBe(hashToken(b));
  });
});

describe('tokenPrefix', () => {
  it.each(KINDS)('keeps the %s prefix and 8 body characters', (kind) => {
    const token = generateToken(kind);

    expect(tokenPrefix(token)).toBe(token.slice(0, TOKEN_PREFIX[kind].length + 8));
  });

  it('is 12 characters for sessions and access tokens', () => {
    expect(tokenPrefix(generateToken(TokenKind.Session))).toHaveLength(12);
    expect(tokenPrefix(generateToken(TokenKind.PersonalAccess))).toHaveLength(12);
  });

  it('reveals only 4 characters of something unrecognised', () => {
    expect(tokenPrefix('secret-of-another-system')).toBe('secr');
  });
});

describe('parseBearer', () => {
  const token = generateToken(TokenKind.PersonalAccess);

  it.each([
    ['the canonical form', `Bearer ${token}`],
    ['a lower-case scheme', `bearer ${token}`],
    ['an upper-case scheme', `BEARER ${token}`],
    ['extra spaces between', `Bearer    ${token}`],
    ['surrounding spaces', `   Bearer ${token}  `],
  ])('accepts %s', (_name, header) => {
    expect(parseBearer(header)).toBe(token);
  });

  it('accepts any RFC 6750 b64token, not only xp tokens', () => {
    expect(parseBearer('Bearer abc.DEF-123_~+/==')).toBe('abc.DEF-123_~+/==');
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['empty', ''],
    ['the scheme alone', 'Bearer'],
    ['the scheme and a space', 'Bearer '],
    ['another scheme', `Basic ${token}`],
    ['no space after the scheme', `Bearer${token}`],
    ['a tab after the scheme', `Bearer\t${token}`],
    ['a token alone', token],
    ['two tokens', `Bearer ${token} ${token}`],
    ['a space inside the token', `Bearer ${token.slice(0, 10)} ${token.slice(10)}`],
    ['a NUL byte', `Bearer ${token}\u0000`],
    ['an escape character', `Bearer \u001b${token}`],
    ['DEL', `Bearer ${token}\u007f`],
    ['a non-ASCII character', `Bearer ${token}é`],
    ['a 513-character token', `Bearer ${'a'.repeat(513)}`],
    ['a huge header', `Bearer ${'a'.repeat(1_000_000)}`],
  ])('rejects %s', (_name, header) => {
    expect(parseBearer(header)).toBeUndefined();
  });

  it('accepts a 512-character token', () => {
    expect(parseBearer(`Bearer ${'a'.repeat(512)}`)).toHaveLength(512);
  });
});

describe('redactSecrets', () => {
  it('replaces every kind of token in a log line with its prefix and an ellipsis', () => {
    const tokens = KINDS.map((kind) => generateToken(kind));
    const line = `auth ok session=${tokens[0]!} pat="${tokens[1]!}" url=/sdk/${tokens[2]!}?k=${tokens[3]!}, done`;

    const redacted = redactSecrets(line);

    for (const token of tokens) {
      expect(redacted).not.toContain(token);
      expect(redacted).toContain(`${tokenPrefix(token)}…`);
    }
    expect(redacted.startsWith('auth ok session=xps_')).toBe(true);
    expect(redacted.endsWith(', done')).toBe(true);
  });

  it('redacts truncated and run-together tokens too', () => {
    const token = generateToken(TokenKind.ServerSdkKey);

    expect(redactSecrets(`key ${token.slice(0, 30)}`)).toBe(`key ${tokenPrefix(token)}…`);
    expect(redactSecrets(`x${token}${token}`)).toBe(`x${tokenPrefix(token)}…`);
  });

  it('leaves other text, display prefixes and token hashes alone', () => {
    const token = generateToken(TokenKind.Session);
    const line = `user 42 logged in with ${tokenPrefix(token)}… hash=${hashToken(token)} xps_ prefix`;

    expect(redactSecrets(line)).toBe(line);
    expect(redactSecrets(redactSecrets(`t=${token}`))).toBe(`t=${tokenPrefix(token)}…`);
  });
});
