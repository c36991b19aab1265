import { describe, expect, it } from 'vitest';
import { InMemoryRateLimiter, LOGIN_RATE_LIMITS, LoginRateLimiter, clientKey } from '../rate-limit.js';

const MINUTE = 60_000;

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

describe('InMemoryRateLimiter', () => {
  it('allows `limit` events, then blocks', async () => {
    const clock = manualClock();
    const limiter = new InMemoryRateLimiter({ limit: 3, windowMs: MINUTE, now: clock.now });

    await expect(limiter.hit('k')).resolves.toEqual({ allowed: true, retryAfterSeconds: 0 });
    await expect(limiter.hit('k')).resolves.toEqual({ allowed: true, retryAfterSeconds: 0 });
    const third = await limiter.hit('k');

    expect(third).toEqual({ allowed: false, retryAfterSeconds: 60 });
    await expect(limiter.check('k')).resolves.toEqual({ allowed: false, retryAfterSeconds: 60 });
    await expect(limiter.check('other')).resolves.toEqual({ allowed: true, retryAfterSeconds: 0 });
  });

  it('check records nothing', async () => {
    const limiter = new InMemoryRateLimiter({ limit: 1, windowMs: MINUTE, now: manualClock().now });

    for (let i = 0; i < 5; i++) {
      await limiter.check('k');
    }

    await expect(limiter.check('k')).resolves.toMatchObject({ allowed: true });
    expect(limiter.size).toBe(0);
  });

  it('reports retryAfter until the oldest counted event leaves the window, rounded up', async () => {
    const clock = manualClock();
    const limiter = new InMemoryRateLimiter({ limit: 2, windowMs: MINUTE, now: clock.now });
    await limiter.hit('k');
    clock.advance(20_000);
    await limiter.hit('k');

    clock.advance(10_500);

    await expect(limiter.check('k')).resolves.toEqual({ allowed: false, retryAfterSeconds: 30 });
    clock.advance(29_499);
    await expect(limiter.check('k')).resolves.toEqual({ allowed: false, retryAfterSeconds: 1 });
    clock.advance(1);
    await expect(limiter.check('k')).resolves.toEqual({ allowed: true, retryAfterSeconds: 0 });
  });

  it('slides: old events expire one by one', async () => {
    const clock = manualClock();
    const limiter = new InMemoryRateLimiter({ limit: 3, windowMs: 10 * MINUTE, now: clock.now });
    for (let i = 0; i < 3; i++) {
      await limiter.hit('k');
      clock.advance(MINUTE);
    }
    await expect(limiter.check('k')).resolves.toEqual({ allowed: false, retryAfterSeconds: 7 * 60 });

    clock.advance(7 * MINUTE);
    const afterFirstExpires = await limiter.hit('k');

    expect(afterFirstExpires).toEqual({ allowed: false, retryAfterSeconds: 60 });
    clock.advance(MINUTE);
    await expect(limiter.check('k')).resolves.toEqual({ allowed: true, retryAfterSeconds: 0 });
  });

  it('forgets a key on reset', async () => {
    const limiter = new InMemoryRateLimiter({ limit: 1, windowMs: MINUTE, now: manualClock().now });
    await limiter.hit('k');

    await limiter.reset('k');

    await expect(limiter.check('k')).resolves.toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(limiter.size).toBe(0);
  });

  it('drops a key once all its events expire', async () => {
    const clock = manualClock();
    const limiter = new InMemoryRateLimiter({ limit: 2, windowMs: MINUTE, now: clock.now });
    await limiter.hit('k');

    clock.advance(MINUTE);
    await limiter.check('k');

    expect(limiter.size).toBe(0);
  });

  it('caps the number of keys, evicting the least recently hit', async () => {
    const limiter = new InMemoryRateLimiter({ limit: 1, windowMs: MINUTE, maxKeys: 3, now: manualClock().now });
    await limiter.hit('a');
    await limiter.hit('b');
    await limiter.hit('c');
    await limiter.hit('a');

    await limiter.hit('d');

    expect(limiter.size).toBe(3);
    await expect(limiter.check('b')).resolves.toMatchObject({ allowed: true });
    await expect(limiter.check('a')).resolves.toMatchObject({ allowed: false });
    await expect(limiter.check('c')).resolves.toMatchObject({ allowed: false });
    await expect(limiter.check('d')).resolves.toMatchObject({ allowed: false });
  });

  it('keeps at most `limit` events per key however often it is hit', async () => {
    const clock = manualClock();
    const limiter = new InMemoryRateLimiter({ limit: 2, windowMs: MINUTE, now: clock.now });
    for (let i = 0; i < 1000; i++) {
      await limiter.hit('k');
    }

    clock.advance(MINUTE);

    await expect(limiter.check('k')).resolves.toEqual({ allowed: true, retryAfterSeconds: 0 });
  });

  it('refuses nonsense options', () => {
    expect(() => new InMemoryRateLimiter({ limit: 0, windowMs: MINUTE })).toThrow(RangeError);
    expect(() => new InMemoryRateLimiter({ limit: 1.5, windowMs: MINUTE })).toThrow(RangeError);
    expect(() => new InMemoryRateLimiter({ limit: 1, windowMs: 0 })).toThrow(RangeError);
  });
});

describe('InMemoryRateLimiter.take', () => {
  it('records only while allowed, and release gives one event back', async () => {
    const limiter = new InMemoryRateLimiter({ limit: 2, windowMs: MINUTE, now: manualClock().now });

    const taken = await Promise.all(Array.from({ length: 10 }, () => limiter.take('k')));

    expect(taken.filter((t) => t.allowed)).toHaveLength(2);
    const first = taken[0]!;
    if (!first.allowed) {
      throw new Error('expected the first take to be allowed');
    }
    await limiter.release('k', first.id);
    await expect(limiter.take('k')).resolves.toMatchObject({ allowed: true });
    await expect(limiter.take('k')).resolves.toMatchObject({ allowed: false, retryAfterSeconds: 60 });
  });
});

describe('LoginRateLimiter', () => {
  const ip = '203.0.113.7';

  it('uses 5 per email and IP, 100 per email and 50 per IP, per 15 minutes, by default', () => {
    expect(LOGIN_RATE_LIMITS).toEqual({
      emailAndIp: { limit: 5, windowMs: 15 * MINUTE },
      email: { limit: 100, windowMs: 15 * MINUTE },
      ip: { limit: 50, windowMs: 15 * MINUTE },
    });
  });

  it('blocks an email from one IP after 5 failures for 15 minutes, whatever its case, but not the same email from elsewhere', async () => {
    const clock = manualClock();
    const login = LoginRateLimiter.inMemory({ now: clock.now });
    for (let i = 0; i < 4; i++) {
      await login.recordFailure({ email: 'ada@example.com', ip });
    }
    await expect(login.check({ email: 'ada@example.com', ip })).resolves.toMatchObject({ allowed: true });

    await login.recordFailure({ email: ' ADA@example.com ', ip });

    await expect(login.check({ email: 'ada@example.com', ip })).resolves.toEqual({ allowed: false, retryAfterSeconds: 900, refusedBy: ['email-and-ip'] });
    await expect(login.check({ email: 'ada@example.com', ip: '198.51.100.2' })).resolves.toMatchObject({ allowed: true });
    await expect(login.check({ email: 'grace@example.com', ip })).resolves.toMatchObject({ allowed: true });
    clock.advance(15 * MINUTE);
    await expect(login.check({ email: 'ada@example.com', ip })).resolves.toMatchObject({ allowed: true });
  });

  it('blocks an email everywhere after 100 failures from many IPs (distributed guessing)', async () => {
    const login = LoginRateLimiter.inMemory({ now: manualClock().now });
    for (let i = 0; i < 100; i++) {
      await login.recordFailure({ email: 'ada@example.com', ip: `198.51.100.${i}` });
    }

    await expect(login.check({ email: 'ada@example.com', ip: '192.0.2.1' })).resolves.toEqual({ allowed: false, retryAfterSeconds: 900, refusedBy: ['email'] });
  });

  it('blocks an IP after 50 failures across emails', async () => {
    const login = LoginRateLimiter.inMemory({ now: manualClock().now });
    for (let i = 0; i < 49; i++) {
      await login.recordFailure({ email: `user${i}@example.com`, ip });
    }
    await expect(login.check({ email: 'new@example.com', ip })).resolves.toMatchObject({ allowed: true });

    await login.recordFailure({ email: 'user49@example.com', ip });

    await expect(login.check({ email: 'new@example.com', ip })).resolves.toEqual({ allowed: false, retryAfterSeconds: 900, refusedBy: ['ip'] });
    await expect(login.check({ email: 'new@example.com', ip: '198.51.100.1' })).resolves.toMatchObject({ allowed: true });
  });

  it('admits at most 5 of 40 concurrent attempts for one email and IP; the refused ones record nothing', async () => {
    const login = LoginRateLimiter.inMemory({ now: manualClock().now });

    const admissions = await Promise.all(Array.from({ length: 40 }, () => login.admit({ email: 'ada@example.com', ip })));

    expect(admissions.filter((a) => a.allowed)).toHaveLength(5);
    // Refused attempts gave their IP reservation back: only the 5 admitted count toward the IP's 50.
    for (let i = 0; i < 45; i++) {
      await login.recordFailure({ email: `user${i}@example.com`, ip });
    }
    await expect(login.check({ email: 'someone@example.com', ip })).resolves.toMatchObject({ allowed: false });
  });

  it('a success takes its own attempt back and forgets the email’s failures from that IP, but not the IP’s', async () => {
    const login = LoginRateLimiter.inMemory({ now: manualClock().now });
    for (let i = 0; i < 4; i++) {
      await login.recordFailure({ email: 'ada@example.com', ip });
    }
    for (let i = 0; i < 45; i++) {
      await login.recordFailure({ email: `user${i}@example.com`, ip });
    }

    const admitted = await login.admit({ email: 'Ada@Example.com', ip });
    if (!admitted.allowed) {
      throw new Error('expected the attempt to be admitted');
    }
    await admitted.succeeded();

    // 49 failures from the IP: the success did not count, and did not clear the IP's failures.
    await expect(login.check({ email: 'other@example.com', ip })).resolves.toMatchObject({ allowed: true });
    await login.recordFailure({ email: 'x@example.com', ip });
    await expect(login.check({ email: 'other@example.com', ip })).resolves.toMatchObject({ allowed: false });
    // The email's failures from the IP were forgotten: 4 more still leave it under its 5.
    const fresh = LoginRateLimiter.inMemory({ now: manualClock().now });
    for (let i = 0; i < 4; i++) {
      await fresh.recordFailure({ email: 'ada@example.com', ip });
    }
    const again = await fresh.admit({ email: 'ada@example.com', ip });
    if (!again.allowed) {
      throw new Error('expected the attempt to be admitted');
    }
    await again.succeeded();
    for (let i = 0; i < 4; i++) {
      await fresh.recordFailure({ email: 'ada@example.com', ip });
    }
    await expect(fresh.check({ email: 'ada@example.com', ip })).resolves.toMatchObject({ allowed: true });
  });

  it('reports the longer wait when several limits apply', async () => {
    const clock = manualClock();
    const login = LoginRateLimiter.inMemory({ now: clock.now });
    for (let i = 0; i < 50; i++) {
      await login.recordFailure({ email: `user${i}@example.com`, ip });
    }
    clock.advance(5 * MINUTE);
    for (let i = 0; i < 5; i++) {
      await login.recordFailure({ email: 'ada@example.com', ip });
    }

    await expect(login.check({ email: 'ada@example.com', ip })).resolves.toEqual({ allowed: false, retryAfterSeconds: 900, refusedBy: ['email-and-ip', 'ip'] });
  });
});

describe('login throttling by client: IPv6 by its /64', () => {
  it('blocks an email after 5 failures from 5 addresses of one IPv6 /64, not from another /64', async () => {
    const login = LoginRateLimiter.inMemory({ now: manualClock().now });
    const statuses: boolean[] = [];
    // The tester's run: 2001:db8:1:2::1 … ::7, each address once.
    for (let i = 1; i <= 7; i++) {
      const ip = `2001:db8:1:2::${i}`;
      const admitted = await login.admit({ email: 'ada@example.com', ip });
      statuses.push(admitted.allowed);
      if (admitted.allowed) {
        await admitted.failed();
      }
    }

    expect(statuses).toEqual([true, true, true, true, true, false, false]);
    await expect(login.check({ email: 'ada@example.com', ip: '2001:db8:1:2:ffff:ffff:ffff:ffff' })).resolves.toMatchObject({ allowed: false, refusedBy: ['email-and-ip'] });
    await expect(login.check({ email: 'ada@example.com', ip: '2001:db8:1:3::1' })).resolves.toMatchObject({ allowed: true });
  });

  it('counts an IPv4-mapped IPv6 address as its IPv4 address', async () => {
    const login = LoginRateLimiter.inMemory({ now: manualClock().now });
    for (let i = 0; i < 5; i++) {
      await login.recordFailure({ email: 'ada@example.com', ip: i % 2 === 0 ? '::ffff:203.0.113.7' : '203.0.113.7' });
    }

    await expect(login.check({ email: 'ada@example.com', ip: '203.0.113.7' })).resolves.toMatchObject({ allowed: false });
    await expect(login.check({ email: 'ada@example.com', ip: '::FFFF:cb00:7107' })).resolves.toMatchObject({ allowed: false });
    await expect(login.check({ email: 'ada@example.com', ip: '203.0.113.8' })).resolves.toMatchObject({ allowed: true });
  });

  it('keys: /64 for IPv6 whatever its spelling, IPv4 for a mapped address, anything else as it is', () => {
    expect(clientKey('2001:db8:1:2::7')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0DB8:0001:0002:0000:0000:0000:0007')).toBe('2001:db8:1:2::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('64:ff9b::198.51.100.1')).toBe('64:ff9b:0:0::/64');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('unknown')).toBe('unknown');
    // Not an address: kept as it is (it only names a counter).
    expect(clientKey('1:2:3:4:5:6:7:8:9')).toBe('1:2:3:4:5:6:7:8:9');
    expect(clientKey('1::2::3')).toBe('1::2::3');
    expect(clientKey('::ffff:300.1.1.1')).toBe('::ffff:300.1.1.1');
  });
});
