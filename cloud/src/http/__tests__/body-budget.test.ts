import { describe, expect, it } from 'vitest';
import { BodyBudget } from '../body-limits.js';

describe('BodyBudget', () => {
  it('counts an IPv6 client by its /64, as the login limits do, and an IPv4-mapped address as IPv4', () => {
    const budget = new BodyBudget({ totalBytes: 100, perAddressBytes: 10 });

    const first = budget.claim('2001:db8:0:1::1');
    expect(first.take(8)).toBe(true);
    // Another address of the same /64: the same client's budget.
    expect(budget.claim('2001:db8:0:1:ffff::2').take(5)).toBe(false);
    expect(budget.inFlight('2001:db8:0:1::99')).toBe(8);
    // Another /64 has its own.
    expect(budget.claim('2001:db8:0:2::1').take(5)).toBe(true);
    // A dual-stack socket's IPv4 client is the IPv4 address.
    expect(budget.claim('::ffff:203.0.113.7').take(10)).toBe(true);
    expect(budget.inFlight('203.0.113.7')).toBe(10);

    first.release();
    expect(budget.inFlight('2001:db8:0:1::1')).toBe(0);
    expect(budget.inFlight()).toBe(15);
  });
});
