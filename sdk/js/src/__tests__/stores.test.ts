import { describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { CookieStickyBucketStore } from '../stores/cookie-store.js';
import { LocalStorageStickyBucketStore } from '../stores/local-storage-store.js';
import type { StorageLike } from '../stores/local-storage-store.js';
import { MemoryStickyBucketStore } from '../stores/memory-store.js';
import { RedisStickyBucketStore } from '../stores/redis-store.js';
import type { RedisLikeClient } from '../stores/redis-store.js';
import { makeRuleset, recordingLogger } from './fixtures.js';

function stickyRuleset(weights: number[]): Record<string, unknown> {
  const r = makeRuleset(1) as Record<string, any>;
  r.experiments['exp-ab'].sticky = { bucketVersion: 1, minBucketVersion: 0 };
  r.experiments['exp-ab'].weights = weights;
  return r;
}

function mapStorage(): StorageLike & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return { items, getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, v) };
}

/** A cookie jar with document.cookie's write-one/read-all behaviour. */
function cookieJar(): { cookie: string } {
  const jar = new Map<string, string>();
  return {
    get cookie() {
      return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    },
    set cookie(line: string) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    },
  };
}

describe('sticky bucket stores', () => {
  it.each([
    ['memory', () => new MemoryStickyBucketStore()],
    ['localStorage', () => new LocalStorageStickyBucketStore({ storage: mapStorage() })],
    ['cookie', () => new CookieStickyBucketStore({ document: cookieJar() })],
  ] as const)('%s keeps a unit in its variation when the weights change', (_name, makeStore) => {
    const store = makeStore();
    const before = new ExperimentationClient('', { bootstrap: stickyRuleset([0, 1]), stickyBucketStore: store, logger: recordingLogger() });
    const after = new ExperimentationClient('', { bootstrap: stickyRuleset([1, 0]), stickyBucketStore: store, logger: recordingLogger() });
    const fresh = new ExperimentationClient('', { bootstrap: stickyRuleset([1, 0]), logger: recordingLogger() });

    const first = before.getVariant('exp-ab', 'u1');
    const later = after.getVariant('exp-ab', 'u1');

    expect(first).toBe('treatment');
    expect(later).toBe('treatment');
    expect(fresh.getVariant('exp-ab', 'u1')).toBe('control');
    expect(store.get('id', 'u1')).toEqual({ 'exp-ab__1': 'treatment' });
  });

  it('localStorage and cookie stores treat unreadable or foreign content as absent', () => {
    const storage = mapStorage();
    storage.items.set('xp:sticky:id||u1', 'not json');
    const jar = cookieJar();
    jar.cookie = 'xp_sb_id%7C%7Cu1=%5B1%5D';

    expect(new LocalStorageStickyBucketStore({ storage }).get('id', 'u1')).toBeUndefined();
    expect(new CookieStickyBucketStore({ document: jar }).get('id', 'u1')).toBeUndefined();
    expect(new LocalStorageStickyBucketStore({ storage: undefined as never }).get('id', 'u1')).toBeUndefined();
  });

  it('the Redis example serves preloaded assignments and writes through', async () => {
    const redis = new Map<string, string>([['xp:sticky:id||u1', JSON.stringify({ 'exp-ab__1': 'control' })]]);
    const writes: { key: string; ex: number | undefined }[] = [];
    const client: RedisLikeClient = {
      get: (key) => Promise.resolve(redis.get(key) ?? null),
      set: (key, value, options) => {
        writes.push({ key, ex: options?.EX });
        redis.set(key, value);
        return Promise.resolve('OK');
      },
    };
    const store = new RedisStickyBucketStore(client, { ttlSeconds: 60 });
    const sdk = new ExperimentationClient('', { bootstrap: stickyRuleset([0, 1]), stickyBucketStore: store, logger: recordingLogger() });

    await sdk.preloadStickyBuckets('u1');
    await sdk.preloadStickyBuckets('u2');
    const u1 = sdk.getVariant('exp-ab', 'u1');
    const u2 = sdk.getVariant('exp-ab', 'u2');
    await Promise.resolve();

    expect(u1).toBe('control');
    expect(u2).toBe('treatment');
    expect(writes).toEqual([{ key: 'xp:sticky:id||u2', ex: 60 }]);
    expect(JSON.parse(redis.get('xp:sticky:id||u2')!)).toEqual({ 'exp-ab__1': 'treatment' });
  });

  it("preloads what a logged-in unit's device was given (the fallback's assignments, keyed by the experiment's hashAttribute), and keeps it", async () => {
    const redis = new Map<string, string>([['xp:sticky:id||dev-1', JSON.stringify({ 'exp-ab__1': 'control' })]]);
    const client: RedisLikeClient = {
      get: (key) => Promise.resolve(redis.get(key) ?? null),
      set: (key, value) => {
        redis.set(key, value);
        return Promise.resolve('OK');
      },
    };
    const ruleset = stickyRuleset([0, 1]) as Record<string, any>;
    ruleset.experiments['exp-ab'].fallbackAttribute = 'deviceId';
    const sdk = new ExperimentationClient('', { bootstrap: ruleset, stickyBucketStore: new RedisStickyBucketStore(client), logger: recordingLogger() });
    const anonymous = { attributes: { deviceId: 'dev-1' } };
    const loggedIn = { id: 'u9', attributes: { deviceId: 'dev-1' } };

    await sdk.preloadStickyBuckets(anonymous);
    await sdk.preloadStickyBuckets(loggedIn);
    const before = sdk.getVariant('exp-ab', anonymous);
    const after = sdk.getVariant('exp-ab', loggedIn);
    await Promise.resolve();

    // Every new unit gets treatment (weights 0/1): control can only come from the device's stored assignment.
    expect(before).toBe('control');
    expect(after).toBe('control');
    expect(JSON.parse(redis.get('xp:sticky:id||u9')!)).toEqual({ 'exp-ab__1': 'control' });
  });

  it('where storage is blocked (a sandboxed frame), the stores never throw and the unit is still assigned and exposed', () => {
    const securityError = (): never => {
      throw new DOMException('The operation is insecure.', 'SecurityError');
    };
    // As in an iframe sandboxed without allow-same-origin: reading window.localStorage and touching document.cookie throw.
    const blockedJar = Object.defineProperty({}, 'cookie', { get: securityError, set: securityError }) as { cookie: string };
    const own = Object.getOwnPropertyDescriptor(globalThis, 'localStorage');
    Object.defineProperty(globalThis, 'localStorage', { get: securityError, configurable: true });
    try {
      const local = new LocalStorageStickyBucketStore();
      const cookie = new CookieStickyBucketStore({ document: blockedJar });

      for (const store of [local, cookie]) {
        expect(() => {
          store.set('id', 'u1', { 'exp-ab__1': 'treatment' });
        }).not.toThrow();
        expect(store.get('id', 'u1')).toBeUndefined();
        const client = new ExperimentationClient('', { bootstrap: stickyRuleset([0, 1]), stickyBucketStore: store, logger: recordingLogger() });
        expect(client.getVariant('exp-ab', 'u1')).toBe('treatment');
        expect(client.getStats().queuedEvents).toBe(1);
      }
    } finally {
      if (own === undefined) {
        delete (globalThis as { localStorage?: unknown }).localStorage;
      } else {
        Object.defineProperty(globalThis, 'localStorage', own);
      }
    }
  });

  it('the Redis example reports (never throws) when Redis fails', async () => {
    const errors: unknown[] = [];
    const failing: RedisLikeClient = { get: () => Promise.reject(new Error('down')), set: () => Promise.reject(new Error('down')) };
    const store = new RedisStickyBucketStore(failing, { onError: (e) => errors.push(e) });

    await store.preload('id', 'u1');
    store.set('id', 'u1', { a__0: 'x' });
    await new Promise((resolve) => setImmediate(resolve));

    expect(store.get('id', 'u1')).toEqual({ a__0: 'x' });
    expect(errors).toHaveLength(2);
  });
});
