import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ssoConfirmationCode } from '../sso-code.js';

describe('ssoConfirmationCode', () => {
  it("is the first 8 base32 characters of SHA-256 of the challenge, as XXXX-XXXX (RFC 7636's example challenge)", async () => {
    // Worked out independently: base64.b32encode(hashlib.sha256(challenge).digest())[:8] in Python.
    expect(await ssoConfirmationCode('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM')).toBe('BUUZ-WHVV');
    expect(await ssoConfirmationCode('A'.repeat(43))).toBe('B4AH-HBNW');
  });

  it('uses only the base32 alphabet, and differs between challenges', async () => {
    const challenges = Array.from({ length: 50 }, (_, i) => createHash('sha256').update(String(i)).digest('base64url'));
    const codes = await Promise.all(challenges.map(ssoConfirmationCode));
    for (const code of codes) {
      expect(code).toMatch(/^[A-Z2-7]{4}-[A-Z2-7]{4}$/);
    }
    expect(new Set(codes).size).toBe(codes.length);
  });
});
