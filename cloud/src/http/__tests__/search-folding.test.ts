import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { INVITED_PASSWORD, OWNER, booleanFlagBody, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';

describe.each(TARGETS.map((t) => [t().name, t] as const))('?q= ignores case and accents on %s', (_name, makeTarget) => {
  let p: Platform;
  let token: string;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    token = await p.login(OWNER.email, OWNER.password);
    for (const [key, name] of [
      ['office-ist', 'İstanbul office'],
      ['cafe-nfc', 'Caf\u00e9 menu'],
      ['cafe-nfd', 'Cafe\u0301 terrace'],
      ['percent', '50% rollout'],
      ['five-hundred', '500 users'],
      ['hidden', 'zero\u200Bwidth'],
      ['street', 'Hauptstraße'],
    ] as const) {
      const res = await p.request('POST', `${DEMO}/flags`, { token, body: { ...booleanFlagBody(key), name } });
      if (res.status !== 201) {
        throw new Error(`creating ${key} answered ${String(res.status)} ${JSON.stringify(res.body)}`);
      }
    }
    for (const [email, name] of [
      ['irem@example.com', 'İrem Yılmaz'],
      ['zoe@example.com', 'Zoë Adams'],
    ] as const) {
      const res = await p.request('POST', '/api/v1/users', { token, body: { email, name, role: 'viewer', password: INVITED_PASSWORD } });
      if (res.status !== 201) {
        throw new Error(`inviting ${email} answered ${String(res.status)}`);
      }
    }
  });
  afterAll(async () => {
    await p.close();
  });

  const keys = async (q: string): Promise<string[]> => {
    const res = await p.request('GET', `${DEMO}/flags?limit=200&q=${encodeURIComponent(q)}`, { token });
    expect(res.status).toBe(200);
    return (res.body.items as { key: string }[]).map((i) => i.key);
  };
  const emails = async (q: string): Promise<string[]> => {
    const res = await p.request('GET', `/api/v1/users?q=${encodeURIComponent(q)}`, { token });
    expect(res.status).toBe(200);
    return (res.body.items as { email: string }[]).map((i) => i.email);
  };

  it('finds a flag whatever the case of a dotted capital I', async () => {
    for (const q of ['İstanbul', 'istanbul', 'ISTANBUL', 'i\u0307stanbul']) {
      expect(await keys(q)).toEqual(['office-ist']);
    }
  });

  it('finds accented names with or without the accent, composed or not', async () => {
    for (const q of ['cafe', 'café', 'Cafe\u0301', 'CAFÉ']) {
      expect(await keys(q)).toEqual(['cafe-nfc', 'cafe-nfd']);
    }
  });

  it('ignores zero-width characters and keeps "%" and "_" literal, full-width forms included', async () => {
    expect(await keys('zerowidth')).toEqual(['hidden']);
    expect(await keys('zero\uFEFFwid')).toEqual(['hidden']);
    expect(await keys('50%')).toEqual(['percent']);
    expect(await keys('\uFF15\uFF10\uFF05')).toEqual(['percent']);
    expect(await keys('5_0')).toEqual([]);
    expect(await keys('\uFF3F')).toEqual([]);
  });

  it('finds the sharp s as "ss" and the other way round', async () => {
    for (const q of ['straße', 'STRASSE', 'Strasse', 'STRAẞE']) {
      expect(await keys(q)).toEqual(['street']);
    }
  });

  it('folds the user search alike', async () => {
    expect(await emails('irem')).toEqual(['irem@example.com']);
    expect(await emails('İREM')).toEqual(['irem@example.com']);
    expect(await emails('yilmaz')).toEqual([]);
    expect(await emails('zoe adams')).toEqual(['zoe@example.com']);
    expect(await emails('ZOË')).toEqual(['zoe@example.com']);
  });
});
