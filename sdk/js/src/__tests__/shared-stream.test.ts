import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { keyHash } from '../ruleset-sync.js';
import type { LockManagerLike } from '../ruleset-sync.js';
import type { ClientOptions } from '../types.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';

/**
 * Pages of one origin share one event stream per API URL and key (finding: the 7th tab of an
 * HTTP/1.1 API got no ruleset): a Web Lock elects the page that streams, a BroadcastChannel
 * (Node's, the same API as browsers') carries its news to the others, and another page takes over
 * when the leader goes. The lock manager is a faithful stand-in for `navigator.locks`
 * (exclusive, FIFO, released when the callback settles, a waiting request aborted by its signal).
 */

class FakeLocks implements LockManagerLike {
  readonly names: string[] = [];
  private readonly held = new Set<string>();
  private readonly queues = new Map<string, { run: () => void; aborted: boolean }[]>();

  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<unknown> {
    this.names.push(name);
    return new Promise((resolve, reject) => {
      const entry = {
        aborted: false,
        run: () => {
          void Promise.resolve()
            .then(callback)
            .then(resolve, reject)
            .finally(() => {
              this.held.delete(name);
              this.pump(name);
            });
        },
      };
      options.signal?.addEventListener('abort', () => {
        if (!entry.aborted && (this.queues.get(name) ?? []).includes(entry)) {
          entry.aborted = true;
          this.queues.set(name, (this.queues.get(name) ?? []).filter((e) => e !== entry));
          reject(new Error('AbortError'));
        }
      });
      this.queues.set(name, [...(this.queues.get(name) ?? []), entry]);
      this.pump(name);
    });
  }

  private pump(name: string): void {
    const queue = this.queues.get(name) ?? [];
    if (this.held.has(name) || queue.length === 0) {
      return;
    }
    const next = queue.shift()!;
    this.held.add(name);
    next.run();
  }
}

const KEY = 'xpk_srv_test-key';
const open: { close(): Promise<void> }[] = [];
let locks: FakeLocks;

afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
  vi.unstubAllGlobals();
});

async function server(): Promise<FakeServer> {
  const s = await new FakeServer(makeRuleset(1)).start();
  open.push(s);
  return s;
}

function page(url: string, options: ClientOptions = {}): ExperimentationClient {
  const c = new ExperimentationClient(KEY, { apiUrl: url, timeoutMs: 300, retryBaseMs: 20, retryMaxMs: 100, pollIntervalMs: 60_000, logger: recordingLogger(), shareStream: true, ...options });
  open.push(c);
  return c;
}

function withLocks(): void {
  locks = new FakeLocks();
  vi.stubGlobal('navigator', { locks });
}

describe('one event stream shared by the pages of an origin', () => {
  it('opens one stream for 8 pages, and every page follows a publish (followers without a fetch of their own)', async () => {
    withLocks();
    const s = await server();
    const pages = Array.from({ length: 8 }, () => page(s.url));
    await Promise.all(pages.map((p) => p.ready()));

    await eventually(() => pages.every((p) => p.getStats().streaming));
    expect(s.openStreams).toBe(1);
    const gets = s.count('/sdk/v1/ruleset');

    s.publish(makeRuleset(2, { checkoutOn: true }));
    await eventually(() => pages.every((p) => p.isFeatureEnabled('checkout', 'u1')));

    // The leader fetched the new ruleset once and passed it on.
    expect(s.count('/sdk/v1/ruleset')).toBe(gets + 1);
    expect(s.count('/sdk/v1/stream')).toBe(1);
  });

  it('hands the stream over when the leader page goes', async () => {
    withLocks();
    const s = await server();
    const [first, second, third] = [page(s.url), page(s.url), page(s.url)];
    await Promise.all([first.ready(), second.ready(), third.ready()]);
    await eventually(() => s.openStreams === 1 && first.getStats().streaming);

    await first.close();
    await eventually(() => s.openStreams === 1 && s.count('/sdk/v1/stream') === 2);
    s.publish(makeRuleset(2, { color: 'green' }));

    await eventually(() => second.getValue('color', 'u1', 'red') === 'green' && third.getValue('color', 'u1', 'red') === 'green');
    expect(s.openStreams).toBe(1);
  });

  it('a follower fetches the announced ruleset itself when the leader does not pass it on in time', async () => {
    withLocks();
    const s = await server();
    const leader = page(s.url);
    await leader.ready();
    await eventually(() => leader.getStats().streaming);
    const follower = page(s.url, { timeoutMs: 100 });
    await follower.ready();
    await eventually(() => follower.getStats().streaming);
    // The leader's refresh fails (and is retried later); the follower's own attempt after its grace succeeds.
    s.rulesetMode = 'busy';
    s.retryAfterSeconds = 5;
    s.publish(makeRuleset(2, { color: 'green' }));
    await eventually(() => leader.getStats().rulesetLag !== undefined);
    s.rulesetMode = 'ok';

    await eventually(() => follower.getValue('color', 'u1', 'red') === 'green');
    expect(follower.getStats().rulesetVersion).toBe(2);
  });

  it('names the lock and channel after the API URL and a hash of the key, never the key', async () => {
    withLocks();
    const s = await server();
    await page(s.url).ready();
    await eventually(() => locks.names.length === 1);

    expect(locks.names[0]).toContain(s.url);
    expect(locks.names[0]).toContain(keyHash(KEY));
    expect(locks.names[0]).not.toContain(KEY);
  });

  it('streams per client with shareStream: false, or where Web Locks are missing', async () => {
    withLocks();
    const s = await server();
    const a = page(s.url, { shareStream: false });
    const b = page(s.url, { shareStream: false });
    await Promise.all([a.ready(), b.ready()]);
    await eventually(() => s.openStreams === 2);

    vi.stubGlobal('navigator', {});
    const c = page(s.url);
    await c.ready();
    await eventually(() => s.openStreams === 3);
    expect(locks.names).toEqual([]);
  });
});
