/**
 * Server-side rendering and edge runtimes, as docs/sdk-js.md shows them: the SSR snippet on a
 * server that has no ruleset yet, one exposure per unit between the server that renders and the
 * browser that hydrates, and a runtime missing a web global the SDK needs.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExperimentationClient as BrowserClient } from '../browser.js';
import { ExperimentationClient } from '../client.js';
import { FakeServer } from './fake-server.js';
import { makeRuleset, recordingLogger } from './fixtures.js';

const SERVER_KEY = 'xpk_srv_test-key';
const CLIENT_KEY = 'xpk_cli_browser-key';
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  vi.unstubAllGlobals();
  await Promise.all(open.splice(0).map((x) => x.close()));
});

/** A fake API for a page's client (client-side key), serving `ruleset`. */
async function pageApi(ruleset: Record<string, unknown>): Promise<FakeServer> {
  const api = await new FakeServer(ruleset).start();
  api.acceptedKey = CLIENT_KEY;
  open.push(api);
  return api;
}

const quiet = { streaming: false, pollIntervalMs: 60_000, timeoutMs: 1_000, flushIntervalMs: 60_000 } as const;

describe('the SSR snippet on a server without a ruleset', () => {
  it('embeds null when the API answered 503 at boot; the page client serves defaults, then the API ruleset', async () => {
    const api = await new FakeServer(makeRuleset(1)).start();
    api.starting = true; // 503 with Retry-After: 1 to everything
    const server = new ExperimentationClient(SERVER_KEY, { apiUrl: api.url, ...quiet, logger: recordingLogger() });
    open.push(server, api);
    expect((await server.ready()).status).toBe('DEFAULTS');

    // What the doc showed before: JSON.stringify(undefined) is undefined.
    expect(() => JSON.stringify(server.getSnapshot()).replace(/</g, '\\u003c')).toThrow(TypeError);
    // docs/sdk-js.md, "Bootstrap: SSR and offline start".
    const snapshot = JSON.stringify(server.getSnapshot() ?? null).replace(/</g, '\\u003c');
    expect(snapshot).toBe('null');

    const page = await pageApi(makeRuleset(2, { color: 'green' }));
    const log = recordingLogger();
    const browser = new BrowserClient(CLIENT_KEY, { apiUrl: page.url, ...quiet, bootstrap: JSON.parse(snapshot) as unknown, logger: log });
    open.push(browser);

    expect(browser.status).toBe('STARTING');
    expect(browser.evaluate('color', 'u1', 'none')).toMatchObject({ value: 'none', reason: 'ERROR', errorCode: 'PROVIDER_NOT_READY' });
    expect((await browser.ready()).status).toBe('READY');
    expect(browser.getValue('color', 'u1', 'none')).toBe('green');
    // null is no bootstrap, not a refused one.
    expect(log.lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
  });
});

describe('SSR exposures', () => {
  it('renders on the server with { exposure: false } and leaves the one exposure to the hydrating browser', async () => {
    const api = await new FakeServer(makeRuleset(1)).start();
    // Exposures only: the evaluation counts each client would send are not what this test is about.
    const server = new ExperimentationClient(SERVER_KEY, { apiUrl: api.url, ...quiet, logger: recordingLogger(), sendEvaluationCounts: false });
    open.push(server, api);
    await server.ready();
    const user = { id: 'u1', attributes: { plan: 'pro' } };

    const rendered = server.evaluate('exp-flag', user, 'A', { exposure: false });
    const variant = server.getVariant('exp-ab', user, { exposure: false });
    expect(server.getExperiment('exp-ab', user, { exposure: false })).toMatchObject({ inExperiment: true, variationKey: variant });
    expect(rendered.experiment).toMatchObject({ key: 'exp-ab', inExperiment: true, variationKey: variant });
    expect(await server.flush()).toEqual({ delivered: 0, queued: 0 });
    expect(api.events).toEqual([]);

    const page = await pageApi(makeRuleset(1));
    const browser = new BrowserClient(CLIENT_KEY, { apiUrl: page.url, ...quiet, bootstrap: JSON.parse(JSON.stringify(server.getSnapshot() ?? null)) as unknown, logger: recordingLogger(), sendEvaluationCounts: false });
    open.push(browser);
    expect(browser.evaluate('exp-flag', user, 'A').value).toBe(rendered.value);
    expect(await browser.flush()).toEqual({ delivered: 1, queued: 0 });
    expect(page.events).toMatchObject([{ type: 'exposure', experiment: 'exp-ab', unitId: 'u1', variation: variant, flag: 'exp-flag' }]);

    // Per call: the server remembered nothing as logged, so an evaluation without the option logs it.
    server.evaluate('exp-flag', user, 'A');
    await server.flush();
    expect(api.events).toMatchObject([{ type: 'exposure', experiment: 'exp-ab', unitId: 'u1', variation: variant }]);
  });
});

describe('runtimes without some web globals (edge, workers)', () => {
  it('says once at creation that AbortController is missing, instead of failing every request as NETWORK', async () => {
    const api = await new FakeServer(makeRuleset(1)).start();
    const log = recordingLogger();
    vi.stubGlobal('AbortController', undefined);
    let c: ExperimentationClient;
    try {
      c = new ExperimentationClient(SERVER_KEY, { apiUrl: api.url, ...quiet, logger: log });
    } finally {
      vi.unstubAllGlobals();
    }
    open.push(c, api);

    expect(await c.ready()).toMatchObject({ status: 'DEFAULTS', error: { code: 'CONFIGURATION' } });
    c.trackEvent('click', 'u1');
    await c.flush();

    expect(api.requests).toEqual([]);
    expect(log.lines.filter((l) => l.message.includes('AbortController'))).toEqual([
      { level: 'error', message: expect.stringMatching(/^xp: this runtime has no AbortController, .*; the client stays offline, serving defaults$/) as unknown },
    ]);
  });

  it('polls instead of streaming without TextDecoder, and measures events without TextEncoder', async () => {
    const api = await new FakeServer(makeRuleset(1)).start();
    const log = recordingLogger();
    vi.stubGlobal('TextDecoder', undefined);
    vi.stubGlobal('TextEncoder', undefined);
    const c = new ExperimentationClient(SERVER_KEY, { apiUrl: api.url, timeoutMs: 1_000, flushIntervalMs: 60_000, logger: log });
    open.push(c, api);

    expect((await c.ready()).status).toBe('READY');
    c.trackEvent('big', 'u1', { note: 'x'.repeat(20_000) });
    c.trackEvent('small', 'u1', { note: 'é😀' });
    expect(await c.flush()).toEqual({ delivered: 2, queued: 0 });

    expect(api.count('/sdk/v1/stream')).toBe(0);
    expect(log.has('warn', 'no TextDecoder')).toBe(true);
    expect(api.events.map((e) => e.properties)).toEqual([undefined, { note: 'é😀' }]);
  });
});
