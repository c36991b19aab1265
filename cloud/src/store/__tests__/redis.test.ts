import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateLimiter, sharedLoginRateLimiter } from '../../auth/shared-rate-limit.js';
import { connectRedis, safeRedisUrl, SharedStoreError } from '../redis.js';
import type { SharedStoreClient } from '../redis.js';
import { openSharedStores, SharedStoreKind } from '../shared-stores.js';
import { RedisStickyAssignmentStore, StickySnapshot } from '../sticky-buckets.js';

// The machine's Redis (started by .ci/run); every key this run writes carries a unique prefix.
const REDIS_URL = process.env.XP_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN = `xp-test:${randomUUID()}:`;

const lines: string[] = [];
const logger = {
  info: (m: string, f?: Record<string, unknown>) => lines.push(`${m} ${JSON.stringify(f ?? {})}`),
  warn: (m: string, f?: Record<string, unknown>) => lines.push(`${m} ${JSON.stringify(f ?? {})}`),
  error: (m: string, f?: Record<string, unknown>) => lines.push(`${m} ${JSON.stringify(f ?? {})}`),
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

/** A private redis-server this test can stop, to see how the stores behave when Redis goes away. */
async function startPrivateRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const probe = await connectRedis({ url, connectTimeoutMs: 500 });
      await probe.close();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw error;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => {
          resolve();
        });
        child.kill('SIGKILL');
      }),
  };
}

describe('Redis shared stores (real Redis at 127.0.0.1:6379)', () => {
  let a: SharedStoreClient;
  let b: SharedStoreClient;

  beforeAll(async () => {
    a = await connectRedis({ url: REDIS_URL, logger });
    b = await connectRedis({ url: REDIS_URL, logger });
  });
  afterAll(async () => {
    const keys = await a.scanKeys(`${RUN}*`);
    await a.del(keys);
    await a.close();
    await b.close();
  });

  describe('RedisRateLimiter', () => {
    it('is a sliding log shared by two instances: the limit counts hits from both, and frees up as the window slides', async () => {
      const clock = { now: 1_000_000 };
      const options = { limit: 3, windowMs: 60_000, prefix: `${RUN}rl1:`, now: () => clock.now, logger };
      const one = new RedisRateLimiter({ ...options, client: a });
      const two = new RedisRateLimiter({ ...options, client: b });

      const first = await one.hit('ip-1');
      clock.now += 10_000;
      const second = await two.hit('ip-1');
      clock.now += 10_000;
      const third = await one.hit('ip-1');
      const checked = await two.check('ip-1');
      const other = await two.check('ip-2');
      clock.now += 40_001;
      const afterSlide = await one.check('ip-1');

      expect([first.allowed, second.allowed, third.allowed]).toEqual([true, true, false]);
      expect(checked).toEqual({ allowed: false, retryAfterSeconds: 40 });
      expect(other.allowed).toBe(true);
      expect(afterSlide).toEqual({ allowed: true, retryAfterSeconds: 0 });
    });

    it('is atomic: 40 concurrent hits from two instances allow exactly limit - 1 more', async () => {
      const options = { limit: 10, windowMs: 60_000, prefix: `${RUN}rl2:`, logger };
      const one = new RedisRateLimiter({ ...options, client: a });
      const two = new RedisRateLimiter({ ...options, client: b });

      const decisions = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? one : two).hit('burst')));

      expect(decisions.filter((d) => d.allowed)).toHaveLength(9);
    });

    it('take is atomic: 40 concurrent takes from two instances reserve exactly limit; release gives one back', async () => {
      const options = { limit: 5, windowMs: 60_000, prefix: `${RUN}rl5:`, logger };
      const one = new RedisRateLimiter({ ...options, client: a });
      const two = new RedisRateLimiter({ ...options, client: b });

      const taken = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? one : two).take('burst')));
      const won = taken.flatMap((t) => (t.allowed ? [t.id] : []));
      await two.release('burst', won[0]!);

      expect(won).toHaveLength(5);
      expect(taken.filter((t) => !t.allowed).every((t) => t.retryAfterSeconds === 60)).toBe(true);
      expect((await one.take('burst')).allowed).toBe(true);
      expect((await two.take('burst')).allowed).toBe(false);
    });

    it('a shared login limiter verifies at most 5 of 40 concurrent attempts', async () => {
      const login = sharedLoginRateLimiter(a, { prefix: `${RUN}rl6:`, logger });
      const other = sharedLoginRateLimiter(b, { prefix: `${RUN}rl6:`, logger });

      const admissions = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? login : other).admit({ email: 'ada@example.com', ip: '203.0.113.9' })));

      expect(admissions.filter((x) => x.allowed)).toHaveLength(5);
    });

    it('reset forgets the key for every instance', async () => {
      const options = { limit: 1, windowMs: 60_000, prefix: `${RUN}rl3:`, logger };
      const one = new RedisRateLimiter({ ...options, client: a });
      const two = new RedisRateLimiter({ ...options, client: b });
      await one.hit('someone@example.com');
      const blocked = await two.check('someone@example.com');

      await one.reset('someone@example.com');

      expect(blocked.allowed).toBe(false);
      expect((await two.check('someone@example.com')).allowed).toBe(true);
    });
  });

  describe('RedisStickyAssignmentStore', () => {
    it('round-trips assignments per project in the SDK key format, and ignores corrupt values', async () => {
      const store = new RedisStickyAssignmentStore(a, { prefix: `${RUN}sticky:`, ttlSeconds: 60 });
      await store.save('p1', new Map([['id||u1', { 'exp__0': 'treatment' }]]));
      await a.setMany([{ key: `${RUN}sticky:p1:id||u2`, value: 'not json' }]);

      const loaded = await new RedisStickyAssignmentStore(b, { prefix: `${RUN}sticky:` }).load('p1', [
        { hashAttribute: 'id', hashValue: 'u1' },
        { hashAttribute: 'id', hashValue: 'u2' },
        { hashAttribute: 'id', hashValue: 'u3' },
      ]);
      const otherProject = await store.load('p2', [{ hashAttribute: 'id', hashValue: 'u1' }]);

      expect(Object.fromEntries(loaded)).toEqual({ 'id||u1': { 'exp__0': 'treatment' } });
      expect(otherProject.size).toBe(0);
      expect(await a.mGet([`${RUN}sticky:p1:id||u1`])).toEqual(['{"exp__0":"treatment"}']);
    });

    it('keeps both assignments when two instances save a unit they loaded at the same time', async () => {
      const onA = new RedisStickyAssignmentStore(a, { prefix: `${RUN}sticky:`, ttlSeconds: 60 });
      const onB = new RedisStickyAssignmentStore(b, { prefix: `${RUN}sticky:`, ttlSeconds: 60 });
      const unit = [{ hashAttribute: 'id', hashValue: 'both' }];
      await onA.save('p1', new Map([['id||both', { 'old__0': 'control' }]]));
      // Each instance loads the unit, then assigns it in its own experiment and saves its map.
      const [seenByA, seenByB] = await Promise.all([onA.load('p1', unit), onB.load('p1', unit)]);
      await Promise.all([
        onA.save('p1', new Map([['id||both', { ...seenByA.get('id||both'), 'exp-a__0': 'treatment' }]])),
        onB.save('p1', new Map([['id||both', { ...seenByB.get('id||both'), 'exp-b__0': 'control' }]])),
      ]);
      // A value stored corrupt is replaced, not merged into.
      await a.setMany([{ key: `${RUN}sticky:p1:id||corrupt`, value: '[1,2' }]);
      await onA.save('p1', new Map([['id||corrupt', { 'exp-a__0': 'control' }]]));

      const loaded = await onB.load('p1', [...unit, { hashAttribute: 'id', hashValue: 'corrupt' }]);
      expect(loaded.get('id||both')).toEqual({ 'old__0': 'control', 'exp-a__0': 'treatment', 'exp-b__0': 'control' });
      expect(loaded.get('id||corrupt')).toEqual({ 'exp-a__0': 'control' });
    });

    it('a snapshot serves what it loaded and records only what evaluation changed', () => {
      const snapshot = new StickySnapshot(new Map([['id||u1', { a__0: 'x' }]]));

      snapshot.set('id', 'u2', { b__0: 'y' });

      expect(snapshot.get('id', 'u1')).toEqual({ a__0: 'x' });
      expect(snapshot.get('id', 'u2')).toEqual({ b__0: 'y' });
      expect([...snapshot.changes.keys()]).toEqual(['id||u2']);
    });
  });

  describe('degradation', () => {
    it('an unreachable server fails the connection within the timeout, and the stores fall back to memory with an error log', async () => {
      const port = await freePort();
      const url = `redis://:hunter2@127.0.0.1:${port}`;

      await expect(connectRedis({ url, connectTimeoutMs: 500 })).rejects.toBeInstanceOf(SharedStoreError);
      const stores = await openSharedStores({ redisUrl: url, logger });

      expect(stores.kind).toBe(SharedStoreKind.Memory);
      const logged = lines.find((l) => l.startsWith('shared store: Redis unreachable'));
      expect(logged).toContain('127.0.0.1');
      expect(logged).not.toContain('hunter2');
      expect(safeRedisUrl(url)).toBe(`redis://:***@127.0.0.1:${port}`);
    });

    it('when Redis goes away mid-flight, commands fail fast and the limiter keeps limiting in process memory', async () => {
      const redis = await startPrivateRedis();
      const client = await connectRedis({ url: redis.url, logger, commandTimeoutMs: 1_000 });
      const limiter = new RedisRateLimiter({ limit: 2, windowMs: 60_000, prefix: `${RUN}rl4:`, client, logger });
      const before = await limiter.hit('k');
      await redis.stop();

      const during = [await limiter.hit('k'), await limiter.hit('k')];
      await client.close();

      expect(before.allowed).toBe(true);
      // The fallback counts from zero: first hit allowed, second reaches the limit of 2.
      expect(during.map((d) => d.allowed)).toEqual([true, false]);
      expect(lines.some((l) => l.startsWith('rate limiter: Redis unavailable'))).toBe(true);
    });
  });
});
