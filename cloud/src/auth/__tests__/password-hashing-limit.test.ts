import { describe, expect, it } from 'vitest';
import { AppError, AppErrorCode } from '../../errors.js';
import { ConcurrencyLimiter, HASHING_BUSY_MESSAGE, MAX_CONCURRENT_HASHES, MAX_QUEUED_HASHES, hashPassword, verifyPassword } from '../passwords.js';

/** A task that runs until released, recording how many ran at once. */
function gated(state: { running: number; most: number }): { task: () => Promise<string>; release: (fail?: boolean) => void; started: () => boolean } {
  let finish: (fail: boolean) => void = () => undefined;
  let started = false;
  return {
    task: () =>
      new Promise<string>((resolve, reject) => {
        started = true;
        state.running++;
        state.most = Math.max(state.most, state.running);
        finish = (fail) => {
          state.running--;
          if (fail) {
            reject(new Error('scrypt failed'));
          } else {
            resolve('done');
          }
        };
      }),
    release: (fail = false) => {
      finish(fail);
    },
    started: () => started,
  };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('password hashing concurrency', () => {
  it('runs at most 2 scrypt computations at once, with 64 waiting, in order', async () => {
    expect([MAX_CONCURRENT_HASHES, MAX_QUEUED_HASHES]).toEqual([2, 64]);
    const limiter = new ConcurrencyLimiter(MAX_CONCURRENT_HASHES, MAX_QUEUED_HASHES);
    const state = { running: 0, most: 0 };
    const tasks = Array.from({ length: 66 }, () => gated(state));
    const results = tasks.map((t) => limiter.run(t.task));
    await tick();

    expect([state.running, limiter.active, limiter.queued]).toEqual([2, 2, 64]);
    expect(tasks.map((t) => t.started()).filter(Boolean)).toHaveLength(2);
    for (let i = 0; i < tasks.length; i++) {
      tasks[i]!.release();
      await tick();
      expect(state.running).toBeLessThanOrEqual(2);
    }
    expect(await Promise.all(results)).toHaveLength(66);
    expect(state.most).toBe(2);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('refuses the 67th waiting caller with 503 Unavailable and Retry-After 1', async () => {
    const limiter = new ConcurrencyLimiter(2, 64);
    const state = { running: 0, most: 0 };
    const tasks = Array.from({ length: 66 }, () => gated(state));
    const results = tasks.map((t) => limiter.run(t.task));
    await tick();

    const refused = await limiter.run(() => Promise.resolve('never')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: AppErrorCode.Unavailable, status: 503, message: HASHING_BUSY_MESSAGE, details: { retryAfterSeconds: 1 } });
    for (const t of tasks) {
      t.release();
      await tick();
    }
    await Promise.all(results);
  });

  it('gives the slot back when a computation fails', async () => {
    const limiter = new ConcurrencyLimiter(2, 1);
    const state = { running: 0, most: 0 };
    const [a, b, c] = [gated(state), gated(state), gated(state)];
    const ra = limiter.run(a.task).catch((e: unknown) => e);
    const rb = limiter.run(b.task).catch((e: unknown) => e);
    const rc = limiter.run(c.task);
    await tick();
    expect(c.started()).toBe(false);

    a.release(true);
    b.release(true);
    await tick();
    expect(c.started()).toBe(true);
    c.release();
    expect(await rc).toBe('done');
    expect(await ra).toBeInstanceOf(Error);
    expect(await rb).toBeInstanceOf(Error);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
    expect(await limiter.run(() => Promise.resolve('again'))).toBe('again');
  });

  it('hashes and verifies through the limit, a burst beyond it refused rather than counted a wrong password', async () => {
    const cheap = { N: 1024, r: 8, p: 1 };
    const stored = await hashPassword('correct horse battery staple', cheap);
    const burst = await Promise.allSettled(Array.from({ length: 100 }, () => verifyPassword('correct horse battery staple', stored)));

    const refused = burst.filter((r) => r.status === 'rejected');
    expect(burst.filter((r) => r.status === 'fulfilled').map((r) => r.value)).toEqual(Array.from({ length: 66 }, () => true));
    expect(refused.map((r) => (r.reason as AppError).code)).toEqual(Array.from({ length: 34 }, () => AppErrorCode.Unavailable));
    expect(await verifyPassword('wrong password', stored)).toBe(false);
  });
});
