import { describe, expect, it } from 'vitest';
import { configFromEnv } from '../stack.js';

const interval = (value: string | undefined): number => configFromEnv(value === undefined ? {} : { XP_GUARDRAIL_INTERVAL_SECONDS: value }).guardrailIntervalMs;

describe('XP_GUARDRAIL_INTERVAL_SECONDS', () => {
  it('takes whole seconds from 0 (off) to one day, 60 by default', () => {
    expect(interval(undefined)).toBe(60_000);
    expect(interval('0')).toBe(0);
    expect(interval(' 30 ')).toBe(30_000);
    expect(interval('86400')).toBe(86_400_000);
  });

  it.each(['1e9', '86401', '1e3', '2.5', '-5', '0x10', 'soon'])('refuses %s, naming the variable', (value) => {
    expect(() => interval(value)).toThrow(`XP_GUARDRAIL_INTERVAL_SECONDS must be a whole number of seconds from 0 (off) to 86400 (one day), got "${value}"`);
  });
});
