import { describe, expect, it } from 'vitest';
import { InMemoryRateLimiter, LOGIN_RATE_LIMITS, LoginRateLimiter } from '../rate-limit.js';

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

describe('LoginRateLimiter', () => {
  const ip = '203.0.113.7';

  it('uses 5 per email and 50 per IP per 15 minutes by default', () => {
    expect(LOGIN_RATE_LIMITS).toEqual({ email: { limit: 5, windowMs: 15 * MINUTE }, ip: { limit: 50, windowMs: 15 * MINUTE } });
  });

  it('blocks an email after 5 failures for 15 minutes, whatever its case', async () => {
    const clock = manualClock();
    const login = LoginRateLimiter.inMemory({ now: clock.now });
    for (let i = 0; i < 4; i++) {
      await login.recordFailure({ email: 'ada@example.com', ip });
    }
    await expect(login.check({ email: 'ada@example.com', ip })).resolves.toMatchObject({ allowed: true });

    await login.recordFailure({ email: ' ADA@example.com ', ip: '198.51.100.1' });

    await expect(login.check({ email: 'ada@example.com', ip: '198.51.100.2' })).resolves.toEqual({ allowed: false, retryAfterSeconds: 900 });
    await expect(login.check({ email: 'grace@example.com', ip })).resolves.toMatchObject({ allowed: true });
    clock.advance(15 * MINUTE);
    await expect(login.check({ email: 'ada@example.com', ip })).resolves.toMatchObject({ allowed: true });
  });

  it('blocks an IP after 50 failures across emails', async () => {
    const login = LoginRateLimiter.inMemory({ now: manualClock().now });
    for (let i = 0; i < 49; i++) {
      await login.recordFailure({ email: `user${i}@example.com`, ip });
    }
    await expect(login.check({ email: 'new@example.com', ip })).resolves.toMatchObject({ allowed: true });

    await login.recordFailure({ email: 'user49@example.com', ip });

    await expect(login.check({ email: 'new@example.com', ip })).resolves.toEqual({ allowed: false, retryAfterSeconds: 900 });
    await expect(login.check({ email: 'new@example.com', ip: '198.51.100.1' })).resolves.toMatchObject({ allowed: true });
  });

  it('resets the email counter on success, but not the IP counter', async () => {
    const login = LoginRateLimiter.inMemory({ now: manualClock().now });
    for (let i = 0; i < 4; i++) {
      await login.recordFailure({ email: 'ada@example.com', ip });
    }
    for (let i = 0; i < 46; i++) {
      await login.recordFailure({ email: `user${i}@example.com`, ip: '198.51.100.9' });
    }

    await login.recordSuccess({ email: 'Ada@Example.com' });
    for (let i = 0; i < 4; i++) {
      await login.recordFailure({ email: 'ada@example.com', ip: '198.51.100.9' });
    }

    await expect(login.check({ email: 'ada@example.com', ip })).resolves.toMatchObject({ allowed: true });
    await expect(login.check({ email: 'other@example.com', ip: '198.51.100.9' })).resolves.toMatchObject({ allowed: false });
  });

  it('reports the longer wait when both limits apply', async () => {
    const clock = manualClock();
    const login = LoginRateLimiter.inMemory({ now: clock.now });
    for (let i = 0; i < 50; i++) {
      await login.recordFailure({ email: `user${i}@example.com`, ip });
    }
    clock.advance(5 * MINUTE);
    for (let i = 0; i < 5; i++) {
      await login.recordFailure({ email: 'ada@example.com', ip: '198.51.100.1' });
    }

    await expect(login.check({ email: 'ada@example.com', ip })).resolves.toEqual({ allowed: false, retryAfterSeconds: 900 });
  });
});
