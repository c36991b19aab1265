import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { XpErrorCode } from '../errors.js';
import { ClientStatus, SdkErrorCode } from '../types.js';
import type { ClientOptions, Logger } from '../types.js';
import { FakeServer } from './fake-server.js';
import { emptyRuleset, eventually, makeRuleset, recordingLogger } from './fixtures.js';
import type { RecordingLogger } from './fixtures.js';

const KEY = 'xpk_srv_test-key';
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

describe('change listeners', () => {
  it('logs a listener that throws or whose promise rejects (never an unhandled rejection), and still calls the others', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const s = await server(2);
      const { c, log } = client(s.url, { bootstrap: makeRuleset(1, { color: 'boot' }), streaming: false });
      const called: string[] = [];
      c.onChange(() => {
        throw new Error('sync boom');
      });
      c.onChange(async () => {
        await Promise.resolve();
        throw new Error('async boom');
      });
      c.onChange((flags) => {
        called.push(...flags);
      });

      await c.ready();
      await eventually(() => log.lines.filter((l) => l.message === 'xp: a change listener threw').length === 2);
      await new Promise((resolve) => setTimeout(resolve, 50));

      expect(called).toContain('color');
      expect(log.lines.filter((l) => l.level === 'error').map((l) => l.message)).toEqual(['xp: a change listener threw', 'xp: a change listener threw']);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('SDK keys', () => {
  it('never sends a key that is not an xp SDK key: an error at construction, then defaults (or the bootstrap) offline', async () => {
    const s = await server();
    const sent: string[] = [];
    const fetch = (url: string, init: RequestInit): Promise<Response> => {
      sent.push(url);
      return globalThis.fetch(url, init);
    };
    const log = recordingLogger();
    const c = new ExperimentationClient('hunter2-not-a-key', { apiUrl: s.url, fetch, logger: log });
    const booted = new ExperimentationClient('xpk_srv_test-key\n', { apiUrl: s.url, fetch, logger: log, bootstrap: makeRuleset(1, { color: 'boot' }) });
    open.push(c, booted);

    expect(await c.ready()).toMatchObject({ status: ClientStatus.Defaults, error: { code: XpErrorCode.Configuration } });
    expect((await booted.ready()).status).toBe(ClientStatus.Bootstrapped);
    expect(booted.getValue('color', 'u1', 'red')).toBe('boot');
    expect(log.lines.map((l) => l.level)).toEqual(['error', 'error']);
    expect(log.lines[0]?.message).toBe('xp: the SDK key "hunt…" is not an xp SDK key (they start with xpk_), so it is not sent; the client stays offline, serving defaults');
    expect(log.lines[1]?.message).toContain('(it has spaces or a line break around it), so it is not sent; the client stays offline, serving the bootstrap ruleset');
    expect(log.lines.some((l) => l.message.includes('hunter2') || l.message.includes('test-key'))).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sent).toEqual([]);
    expect(s.requests).toHaveLength(0);
  });

  it('says once that the API refused the key (401), retries at the slowest backoff, and serves as soon as the key is accepted', async () => {
    const s = await server();
    s.acceptedKey = 'xpk_srv_another-key';
    const log = recordingLogger();
    const c = new ExperimentationClient(KEY, { apiUrl: s.url, timeoutMs: 300, retryBaseMs: 5, retryMaxMs: 300, pollIntervalMs: 50, logger: log });
    open.push(c);

    expect(await c.ready()).toMatchObject({ status: ClientStatus.Defaults, error: { code: XpErrorCode.Unauthorized } });
    await eventually(() => s.count('/sdk/v1/ruleset') >= 3 && s.count('/sdk/v1/stream') >= 3);
    const gaps = (path: string): number[] => {
      const at = s.requests.filter((r) => r.url.startsWith(path)).map((r) => r.at);
      return at.slice(1).map((t, i) => t - at[i]!);
    };
    // Backoff from retryBaseMs (5 ms) would retry within ~50 ms (the poll interval); the slowest waits 150-300 ms.
    expect(Math.min(...gaps('/sdk/v1/ruleset'), ...gaps('/sdk/v1/stream'))).toBeGreaterThanOrEqual(140);
    expect(log.lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([
      {
        level: 'error',
        message:
          `xp: the API refused the SDK key "xpk_srv_…" (GET /sdk/v1/ruleset answered 401): the key is invalid, was revoked, or was rotated out and has expired. Check that it is the current server (xpk_srv_…) ` +
          `or client (xpk_cli_…) SDK key of the environment you mean, copied whole, and that ${s.url} is the API that issued it; serving defaults, retrying about every 300 ms`,
      },
    ]);

    s.acceptedKey = KEY;
    await eventually(() => c.status === ClientStatus.Ready);

    expect(c.getValue('color', 'u1', 'red')).toBe('blue');
    expect(log.has('info', 'the API accepts the SDK key again')).toBe(true);
  });
});

describe('bootstrap from another environment', () => {
  it("warns, naming both environments, when the API's ruleset is of another environment than the bootstrap served", async () => {
    const s = await server(2);
    const staging = { ...makeRuleset(1, { color: 'staging' }), environment: 'staging' };
    const { c, log } = client(s.url, { bootstrap: staging, streaming: false });
    const { c: same, log: sameLog } = client(s.url, { bootstrap: makeRuleset(1), streaming: false });

    await Promise.all([c.ready(), same.ready()]);

    expect(c.status).toBe(ClientStatus.Ready);
    expect(c.getValue('color', 'u1', 'red')).toBe('blue');
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      'xp: the bootstrap ruleset is of environment "staging", but the API serves environment "production" to this SDK key; serving the API\'s ruleset from now on (check the bootstrap file or snapshot this client is given)',
    ]);
    expect(sameLog.lines.filter((l) => l.level === 'warn')).toEqual([]);
  });
});

describe('log lines of expected, retried failures', () => {
  /** A logger that keeps every argument, as console does. */
  function fullLogger(): { logger: Logger; warnings: unknown[][] } {
    const warnings: unknown[][] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (...args: unknown[]) => {
        warnings.push(args);
      },
      error: (...args: unknown[]) => {
        warnings.push(args);
      },
    };
    return { logger, warnings };
  }

  it('logs a message, with the cause, and no error object (stack trace) for 5xx answers, bad rulesets and a refused connection', async () => {
    const s = await server();
    const { logger, warnings } = fullLogger();
    const { c } = client(s.url, { logger, retryBaseMs: 50, retryMaxMs: 200 });
    await c.ready();
    await eventually(() => c.getStats().streaming);
    // The stream announces a ruleset the API then serves as garbage, then as a 503.
    s.rulesetMode = 'garbage';
    s.publish(makeRuleset(2, { color: 'green' }));
    await eventually(() => c.getStats().rulesetLag !== undefined);
    s.rulesetMode = 'busy';
    s.retryAfterSeconds = 0;
    s.dropStreams();
    s.streamMode = 'fail';
    await eventually(() => warnings.some((w) => String(w[0]).includes('ruleset refresh failed')));
    const { c: down } = client(await deadUrl(), { logger });
    await down.ready();

    const messages = warnings.map((w) => String(w[0]));
    expect(messages).toContainEqual(expect.stringMatching(/^xp: the ruleset announced by the stream could not be fetched \(INVALID_RULESET: the ruleset is not JSON: .*JSON/));
    expect(messages).toContain('xp: ruleset refresh failed (HTTP: GET /sdk/v1/ruleset answered 503); retrying');
    expect(messages).toContainEqual(expect.stringMatching(/^xp: request to \/sdk\/v1\/ruleset\S* failed: fetch failed: .*ECONNREFUSED.*; serving defaults until the API answers$/));
    expect(warnings.filter((w) => w.length > 1)).toEqual([]);
  });
});

describe('ready() after close()', () => {
  it('resolves CLOSED, as status says, even after it had resolved READY', async () => {
    const s = await server();
    const { c } = client(s.url);
    expect(await c.ready()).toEqual({ status: ClientStatus.Ready });

    await c.close();

    expect(c.status).toBe(ClientStatus.Closed);
    expect(await c.ready()).toEqual({ status: ClientStatus.Closed });
  });

  it('keeps why the API ruleset was not served when it resolved DEFAULTS', async () => {
    const { c } = client(await deadUrl());
    await c.ready();

    await c.close();

    expect(await c.ready()).toMatchObject({ status: ClientStatus.Closed, error: { code: XpErrorCode.Network } });
  });
});
