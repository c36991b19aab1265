import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { XpErrorCode } from '../errors.js';
import { ClientStatus, SdkErrorCode } from '../types.js';
import type { ClientOptions } from '../types.js';
import { FakeServer } from './fake-server.js';
import { emptyRuleset, eventually, makeRuleset, recordingLogger } from './fixtures.js';
import type { RecordingLogger } from './fixtures.js';

const KEY = 'sdk-test-key';
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function server(version = 1, ruleset = makeRuleset(version)): Promise<FakeServer> {
  const s = await new FakeServer(ruleset).start();
  open.push(s);
  return s;
}

function client(url: string, options: ClientOptions = {}): { c: ExperimentationClient; log: RecordingLogger } {
  const log = recordingLogger();
  const c = new ExperimentationClient(KEY, { apiUrl: url, timeoutMs: 300, retryBaseMs: 20, retryMaxMs: 100, pollIntervalMs: 50, flushIntervalMs: 50, logger: log, ...options });
  open.push(c);
  return { c, log };
}

/** A URL nothing listens on: a server started and closed again. */
async function deadUrl(): Promise<string> {
  const s = await new FakeServer(makeRuleset(1)).start();
  await s.close();
  return s.url;
}

describe('API down at start', () => {
  it('resolves ready() with DEFAULTS and an error, and serves defaults with reason ERROR', async () => {
    const { c } = client(await deadUrl());

    const ready = await c.ready();

    expect(ready.status).toBe(ClientStatus.Defaults);
    expect(ready.error?.code).toBe(XpErrorCode.Network);
    expect(c.getValue('checkout', 'u1', true)).toBe(true);
    expect(c.evaluate('checkout', 'u1', false)).toMatchObject({ value: false, reason: 'ERROR', errorCode: SdkErrorCode.ProviderNotReady });
    expect(c.getVariant('exp-ab', 'u1')).toBeNull();
    expect(c.isFeatureEnabled('checkout', 'u1')).toBe(false);
  });

  it('warns once per outage, not once per retry', async () => {
    const s = await server();
    s.rulesetMode = 'fail';
    s.streamMode = 'fail';
    const { c, log } = client(s.url, { streaming: false });

    await c.ready();
    await eventually(() => s.count('/sdk/v1/ruleset') >= 5);
    const warnings = log.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    s.rulesetMode = 'ok';
    await eventually(() => c.status === ClientStatus.Ready);

    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('serving defaults until the API answers');
    expect(c.status).toBe(ClientStatus.Ready);
  });

  it('does not block beyond timeoutMs when the API stalls', async () => {
    const s = await server();
    s.rulesetMode = 'stall';
    s.streamMode = 'stall';
    const started = Date.now();
    const { c } = client(s.url, { timeoutMs: 150 });

    const ready = await c.ready();

    expect(Date.now() - started).toBeLessThan(1000);
    expect(ready).toMatchObject({ status: ClientStatus.Defaults, error: { code: XpErrorCode.Timeout } });
    expect(c.getValue('color', 'u1', 'red')).toBe('red');
  });

  it('serves the bootstrap ruleset while the API is down, then the API ruleset when it comes back', async () => {
    const s = await server(2);
    s.rulesetMode = 'fail';
    const { c } = client(s.url, { bootstrap: makeRuleset(1, { color: 'boot' }) });
    const changes: string[][] = [];
    c.onChange((flags) => changes.push([...flags]));

    const ready = await c.ready();
    const whileDown = c.getValue('color', 'u1', 'red');
    s.rulesetMode = 'ok';
    s.publish(makeRuleset(2, { color: 'live' }));
    await eventually(() => c.getValue('color', 'u1', 'red') === 'live');

    expect(ready.status).toBe(ClientStatus.Bootstrapped);
    expect(whileDown).toBe('boot');
    expect(c.status).toBe(ClientStatus.Ready);
    expect(changes).toContainEqual(['color']);
  });

  it('recovers from DEFAULTS once the API answers', async () => {
    const s = await server();
    s.rulesetMode = 'fail';
    const { c } = client(s.url);

    expect((await c.ready()).status).toBe(ClientStatus.Defaults);
    s.rulesetMode = 'ok';
    await eventually(() => c.status === ClientStatus.Ready);

    expect(c.evaluate('color', 'u1', 'red')).toMatchObject({ value: 'blue', reason: 'DEFAULT' });
  });

  it('fires onChange when the first ruleset arrives after a failed start, even an empty one', async () => {
    const s = await server(1, emptyRuleset(1));
    s.rulesetMode = 'fail';
    const { c } = client(s.url, { streaming: false });
    const changes: (readonly string[])[] = [];
    c.onChange((flags) => changes.push(flags));

    expect((await c.ready()).status).toBe(ClientStatus.Defaults);
    s.rulesetMode = 'ok';
    await eventually(() => c.status === ClientStatus.Ready);

    expect(changes).toEqual([[]]);
    expect(c.evaluate('checkout', 'u1', true)).toMatchObject({ value: true, reason: 'FLAG_NOT_FOUND' });
  });
});

describe('API trouble later', () => {
  it('keeps serving the last known ruleset when the API fails, stalls or drops the stream', async () => {
    const s = await server();
    const { c } = client(s.url);
    expect((await c.ready()).status).toBe(ClientStatus.Ready);

    s.rulesetMode = 'fail';
    s.streamMode = 'fail';
    s.dropStreams();
    await eventually(() => s.count('/sdk/v1/ruleset') >= 3);
    s.rulesetMode = 'stall';
    await eventually(() => s.count('/sdk/v1/ruleset') >= 4);

    expect(c.getValue('color', 'u1', 'red')).toBe('blue');
    expect(c.status).toBe(ClientStatus.Ready);
  });

  it('keeps the last good ruleset when the API returns garbage or an invalid document', async () => {
    const s = await server();
    const { c, log } = client(s.url, { streaming: false });
    await c.ready();

    s.rulesetMode = 'garbage';
    await eventually(() => log.has('warn', 'not JSON'));
    s.rulesetMode = 'invalid';
    await eventually(() => log.has('warn', 'invalid ruleset'));

    expect(c.getValue('color', 'u1', 'red')).toBe('blue');
    expect(c.getStats().rulesetVersion).toBe(1);
  });

  it('refuses a partly invalid ruleset in place of a fully valid one', async () => {
    const s = await server();
    const { c, log } = client(s.url, { streaming: false });
    await c.ready();
    const broken = makeRuleset(2, { color: 'new' });
    (broken.flags as Record<string, unknown>).bad = { variations: [], default: 0, off: 0 };

    s.publish(broken);
    await eventually(() => log.has('warn', 'keeping the last valid one'));

    expect(c.getValue('color', 'u1', 'red')).toBe('blue');
  });
});

describe('keeping fresh', () => {
  it('fetches once with the key in a header, never in a URL, and revalidates with If-None-Match', async () => {
    const s = await server();
    const { c } = client(s.url, { streaming: false });
    await c.ready();
    c.trackEvent('purchase', 'u1');

    await eventually(() => s.count('/sdk/v1/ruleset') >= 3 && s.events.length === 1);
    await c.close();

    expect(s.requests.every((r) => !r.url.includes(KEY) && r.headers['x-xp-sdk-key'] === KEY)).toBe(true);
    const revalidations = s.requests.filter((r) => r.url === '/sdk/v1/ruleset').slice(1);
    expect(revalidations.every((r) => r.headers['if-none-match'] === '"v1"')).toBe(true);
  });

  it('follows a flag flipping every 100 ms over the stream, firing change listeners with the flag key', async () => {
    const s = await server();
    const { c } = client(s.url, { pollIntervalMs: 60_000 });
    await c.ready();
    await eventually(() => c.getStats().streaming);
    const changes: string[][] = [];
    c.onChange((flags) => changes.push([...flags]));
    const seen: boolean[] = [];

    for (let v = 2; v <= 6; v++) {
      s.publish(makeRuleset(v, { checkoutOn: v % 2 === 0 }));
      await eventually(() => c.getStats().rulesetVersion === v);
      seen.push(c.isFeatureEnabled('checkout', 'u1'));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    expect(seen).toEqual([true, false, true, false, true]);
    expect(changes).toEqual([['checkout'], ['checkout'], ['checkout'], ['checkout'], ['checkout']]);
    expect(s.count('/sdk/v1/ruleset')).toBe(6);
  });

  it('reconnects a dropped stream and picks up what was published meanwhile', async () => {
    const s = await server();
    const { c } = client(s.url, { pollIntervalMs: 60_000 });
    await c.ready();
    await eventually(() => s.openStreams === 1);

    s.dropStreams();
    s.publish(makeRuleset(2, { color: 'after-drop' }));
    await eventually(() => c.getValue('color', 'u1', 'red') === 'after-drop');

    expect(s.count('/sdk/v1/stream')).toBeGreaterThanOrEqual(2);
  });

  it('reconnects after about retryBaseMs each time a stream that worked breaks, however many outages came before', async () => {
    const s = await server();
    // random() = 1: the longest delay of each backoff step, 100, 200, 400, 800, 1600 ms if failures added up.
    const { c } = client(s.url, { pollIntervalMs: 60_000, retryBaseMs: 100, retryMaxMs: 10_000, random: () => 1 });
    await c.ready();
    await eventually(() => c.getStats().streaming);

    const delays: number[] = [];
    for (let outage = 0; outage < 5; outage++) {
      // An outage: the connection breaks (an error, not a clean end) and the first reconnect fails too.
      s.streamMode = 'fail';
      const refusedBefore = s.count('/sdk/v1/stream');
      s.dropStreams();
      await eventually(() => s.count('/sdk/v1/stream') > refusedBefore, 5_000);
      const back = Date.now();
      s.streamMode = 'ok';
      await eventually(() => s.openStreams === 1 && c.getStats().streaming, 5_000);
      delays.push(Date.now() - back);
    }

    // One failed attempt per outage, then one reconnect: 100 ms + 200 ms at most, every time.
    expect(delays.filter((d) => d > 600)).toEqual([]);
  }, 20_000);

  it('releases every stream connection that was refused, broke or ended, so reconnecting does not leak', async () => {
    const s = await server();
    const signals: AbortSignal[] = [];
    const fetch = (url: string, init: RequestInit): Promise<Response> => {
      if (url.endsWith('/sdk/v1/stream') && init.signal) {
        signals.push(init.signal);
      }
      return globalThis.fetch(url, init);
    };
    // A connection destroyed just as it opened may never report its end to fetch: the idle timeout
    // (short here) is what reclaims it, as heartbeats do in production.
    const { c } = client(s.url, { fetch, pollIntervalMs: 60_000, retryBaseMs: 5, retryMaxMs: 10, streamIdleTimeoutMs: 1_000 });
    await c.ready();

    s.streamMode = 'fail';
    s.dropStreams();
    await eventually(() => signals.length >= 4);
    s.streamMode = 'ok';
    await eventually(() => s.openStreams === 1, 5_000);
    const before = signals.length;
    s.dropStreams();
    await eventually(() => s.openStreams === 1 && signals.length > before, 5_000);

    expect(signals.slice(0, -1).filter((signal) => !signal.aborted)).toEqual([]);
    expect(signals.at(-1)?.aborted).toBe(false);
  }, 15_000);

  it('falls back to polling while the stream is refused', async () => {
    const s = await server();
    s.streamMode = 'fail';
    const { c } = client(s.url);
    await c.ready();

    s.publish(makeRuleset(2, { color: 'polled' }));
    await eventually(() => c.getValue('color', 'u1', 'red') === 'polled');

    expect(c.getStats().streaming).toBe(false);
  });

  it('reconnects a stream that goes silent (no heartbeat) after streamIdleTimeoutMs', async () => {
    const s = await server();
    const { c } = client(s.url, { pollIntervalMs: 60_000, streamIdleTimeoutMs: 100 });
    await c.ready();

    await eventually(() => s.count('/sdk/v1/stream') >= 3);

    expect(c.status).toBe(ClientStatus.Ready);
  });

  it('stops all network activity on close()', async () => {
    const s = await server();
    const { c } = client(s.url);
    await c.ready();
    await eventually(() => s.openStreams === 1);

    await c.close();
    const before = s.requests.length;
    await eventually(() => s.openStreams === 0);
    await new Promise((resolve) => setTimeout(resolve, 150));

    expect(s.requests.length).toBe(before);
    expect(c.status).toBe(ClientStatus.Closed);
  });
});
