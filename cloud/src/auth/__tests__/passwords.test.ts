import { describe, expect, it } from 'vitest';
import {
  COMMON_PASSWORDS,
  DEFAULT_SCRYPT_PARAMS,
  PasswordProblemCode,
  hashPassword,
  needsRehash,
  parsePasswordHash,
  validatePasswordStrength,
  verifyPassword,
} from '../passwords.js';
import type { ScryptParams } from '../passwords.js';

// A cheap cost keeps the suite fast; one test covers the default cost.
const CHEAP: ScryptParams = { N: 1024, r: 8, p: 1 };
const PASSWORD = 'correct horse battery staple';

describe('hashPassword / verifyPassword', () => {
  it('verifies the password it hashed', async () => {
    const stored = await hashPassword(PASSWORD, CHEAP);

    await expect(verifyPassword(PASSWORD, stored)).resolves.toBe(true);
  });

  it('verifies with the default cost and encodes it', async () => {
    const stored = await hashPassword(PASSWORD);

    expect(stored.startsWith(`scrypt$${DEFAULT_SCRYPT_PARAMS.N}$8$1$`)).toBe(true);
    await expect(verifyPassword(PASSWORD, stored)).resolves.toBe(true);
  });

  it('rejects a wrong password', async () => {
    const stored = await hashPassword(PASSWORD, CHEAP);

    await expect(verifyPassword('correct horse battery stapler', stored)).resolves.toBe(false);
    await expect(verifyPassword('', stored)).resolves.toBe(false);
  });

  it('matches the same password in composed and decomposed Unicode', async () => {
    const stored = await hashPassword('caf\u00e9 au lait, s\u2019il vous pla\u00eet', CHEAP);

    await expect(verifyPassword('cafe\u0301 au lait, s\u2019il vous pla\u00eet', stored)).resolves.toBe(true);
  });

  it('gives different hashes for the same password (random salt)', async () => {
    const [a, b] = await Promise.all([hashPassword(PASSWORD, CHEAP), hashPassword(PASSWORD, CHEAP)]);

    expect(a).not.toBe(b);
    expect(parsePasswordHash(a)!.salt.equals(parsePasswordHash(b)!.salt)).toBe(false);
  });

  it('encodes scrypt$N$r$p$salt$hash with base64url salt and hash', async () => {
    const stored = await hashPassword(PASSWORD, { N: 2048, r: 4, p: 2 });

    const parts = stored.split('$');
    const parsed = parsePasswordHash(stored);

    expect(parts.slice(0, 4)).toEqual(['scrypt', '2048', '4', '2']);
    expect(parts[4]).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(parts[5]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(parsed?.params).toEqual({ N: 2048, r: 4, p: 2 });
    expect(parsed?.salt).toHaveLength(16);
    expect(parsed?.hash).toHaveLength(32);
  });

  it('verifies with the parameters read from the string, not the current defaults', async () => {
    const stored = await hashPassword(PASSWORD, { N: 4096, r: 2, p: 1 });
    const tampered = stored.replace('scrypt$4096$2$1$', 'scrypt$2048$2$1$');

    await expect(verifyPassword(PASSWORD, stored)).resolves.toBe(true);
    await expect(verifyPassword(PASSWORD, tampered)).resolves.toBe(false);
  });

  it.each([
    ['empty', ''],
    ['not scrypt', 'bcrypt$10$8$1$c2FsdA$aGFzaA'],
    ['too few parts', 'scrypt$1024$8$1$c2FsdHNhbHRzYWx0c2FsdA'],
    ['too many parts', 'scrypt$1024$8$1$a$b$c'],
    ['N not a power of two', 'scrypt$1000$8$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'],
    ['N absurdly large', 'scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'],
    ['r zero', 'scrypt$1024$0$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'],
    ['p not a number', 'scrypt$1024$8$x$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'],
    ['salt not base64url', 'scrypt$1024$8$1$c2Fsd+Nhb/RzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'],
    ['salt too short', 'scrypt$1024$8$1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'],
    ['hash empty', 'scrypt$1024$8$1$c2FsdHNhbHRzYWx0c2FsdA$'],
  ])('returns false, never throws, on a malformed stored hash (%s)', async (_name, stored) => {
    expect(parsePasswordHash(stored)).toBeUndefined();
    await expect(verifyPassword(PASSWORD, stored)).resolves.toBe(false);
  });

  it('refuses to hash with out-of-range parameters', async () => {
    await expect(hashPassword(PASSWORD, { N: 1000, r: 8, p: 1 })).rejects.toThrow(RangeError);
  });
});

describe('needsRehash', () => {
  it('asks for a re-hash when the stored cost is below the current one', async () => {
    const stored = await hashPassword(PASSWORD, CHEAP);

    expect(needsRehash(stored, CHEAP)).toBe(false);
    expect(needsRehash(stored, { ...CHEAP, N: 2048 })).toBe(true);
    expect(needsRehash(stored)).toBe(true);
    expect(needsRehash('garbage')).toBe(true);
  });
});

describe('validatePasswordStrength', () => {
  const codes = (password: string, context?: { email?: string; name?: string }): string[] =>
    validatePasswordStrength(password, context).map((p) => p.code);

  it.each(['correct horse battery staple', 'tr0ub4dor&3xyz', 'mañana-por-la-mañana', 'zebra kettle moon'])(
    'accepts a long or varied password: %s',
    (password) => {
      expect(codes(password)).toEqual([]);
    },
  );

  it('counts characters, not bytes or UTF-16 units', () => {
    expect(codes('🦊🐙🐳🦉🐝🦋🐢🦀🐌🦔🐧')).toContain(PasswordProblemCode.TooShort);
    expect(codes('🦊🐙🐳🦉🐝🦋🐢🦀🐌🦔🐧🐬')).toEqual([]);
  });

  it('enforces the length bounds', () => {
    expect(codes('short pass1')).toEqual([PasswordProblemCode.TooShort]);
    expect(codes('x'.repeat(257))).toEqual([PasswordProblemCode.TooLong]);
    expect(codes('k3#v'.repeat(64))).not.toContain(PasswordProblemCode.TooLong);
  });

  it.each([
    ['only digits', '928374659102', PasswordProblemCode.OnlyDigits],
    ['one character', 'aaaaaaaaaaaaaa', PasswordProblemCode.Repetitive],
    ['a short unit repeated', 'abcabcabcabcabc', PasswordProblemCode.Repetitive],
    ['an alphabet run', 'abcdefghijklmn', PasswordProblemCode.Repetitive],
    ['a reversed digit run', '987654321098', PasswordProblemCode.Repetitive],
    ['a keyboard run', 'qwertyuiopasd', PasswordProblemCode.Repetitive],
    ['a padded common password', 'Password1234!', PasswordProblemCode.Common],
    ['a repeated common password', 'dragondragon', PasswordProblemCode.Common],
    ['a common password with a suffix', 'iloveyou2024', PasswordProblemCode.Common],
    ['a short pattern repeated, padded', 'xpxpxpxpxpxp1', PasswordProblemCode.Repetitive],
    ['one character repeated, padded', 'Aaaaaaaaaaa1', PasswordProblemCode.Repetitive],
    ['too few different characters', 'abbaabbaabab', PasswordProblemCode.Repetitive],
    ['a padded keyboard run', 'qwertyuiop12', PasswordProblemCode.Repetitive],
    ['a season and a year', 'Summer2024!!', PasswordProblemCode.Common],
    ['a month and a year', 'September2025', PasswordProblemCode.Common],
    ['a substituted common password', 'P@ssw0rd2024!', PasswordProblemCode.Common],
    ['a leading substitution', '@dministrator1', PasswordProblemCode.Common],
    ['a common name padded', 'Jennifer1985!', PasswordProblemCode.Common],
    ['a famous example', 'correcthorse1', PasswordProblemCode.Common],
  ])('rejects %s', (_name, password, code) => {
    expect(codes(password)).toContain(code);
  });

  it('keeps a sizeable common list and accepts ordinary passphrases built from common words', () => {
    expect(COMMON_PASSWORDS.size).toBeGreaterThanOrEqual(300);
    expect(codes('Tangerine-Quokka-Lantern-77')).toEqual([]);
    expect(codes('summer rain on the old roof')).toEqual([]);
    expect(codes('Correct-Horse-Battery-Staple-42')).toEqual([]);
  });

  it('rejects a password containing the email name or display name', () => {
    expect(codes('my-ada.lovelace-pw', { email: 'Ada.Lovelace@example.com' })).toEqual([PasswordProblemCode.ContainsUserInfo]);
    expect(codes('grace hopper rocks', { name: 'Grace Hopper' })).toEqual([PasswordProblemCode.ContainsUserInfo]);
    expect(codes('correct horse battery staple', { email: 'ada@example.com', name: 'Ada L' })).toEqual([]);
  });

  it('gives a message with each problem', () => {
    const problems = validatePasswordStrength('123');

    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.message.length > 0)).toBe(true);
  });
});
