import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import type { ClientOptions } from '../types.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';
import type { RecordingLogger } from './fixtures.js';

/**
 * A stream announcement of a newer ruleset is followed until that ruleset is served: a failed
 * refresh (503, timeout) or an older copy (a lagging instance or cache) is retried with backoff,
 * reported in getStats().rulesetLag and warned about once; close() stops the retries.
 */

const KEY = 'xpk_srv_test-key';
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function server(): Promise<FakeServer> {
  const s = await new FakeServer(makeRuleset(1)).start();
  open.push(s);
  return s;
}

function client(url: string, options: ClientOptions = {}): { c: ExperimentationClient; log: RecordingLogger } {
  const log = recordingLogger();
  // Polling far off: only the stream (and its catch-up retries) can bring the new ruleset.
  const c = new ExperimentationClient(KEY, { apiUrl: url, timeoutMs: 300, retryBaseMs: 20, retryMaxMs: 100, pollIntervalMs: 60_000, logger: log, ...options });
  open.push(c);
  return { c, log };
}

const rulesetGets = (s: FakeServer): number => s.count('/sdk/v1/ruleset');

describe('catching up with the ruleset the stream announced', () => {
  it('retries a refresh that failed with 503 (honouring Retry-After) until the kill switch arrives', async () => {
    const s = await server();
    const { c, log } = client(s.url);
    await c.ready();
    await eventually(() => c.getStats().streaming);
    s.rulesetMode = 'busy';
    s.retryAfterSeconds = 1;
    const before = rulesetGets(s);

    s.publish(makeRuleset(2, { checkoutOn: true }));
    await eventually(() => rulesetGets(s) === before + 1);
    await eventually(() => c.getStats().rulesetLag?.lastError !== undefined);
    const lag = c.getStats().rulesetLag;
    s.rulesetMode = 'ok';
    await eventually(() => c.getStats().rulesetVersion === 2, 3_000);

    // Retry-After: 1 → the retry came a second after the refused fetch, not sooner (timed by the
    // server's own clock, so a slow machine cannot make a fixed wait pass or fail).
    const gets = s.requests.filter((r) => r.url.startsWith('/sdk/v1/ruleset')).slice(before);
    expect(gets.length).toBeGreaterThanOrEqual(2);
    expect(gets[1]!.at - gets[0]!.at).toBeGreaterThanOrEqual(950);

    expect(lag).toMatchObject({ announcedVersion: 2, heldVersion: 1 });
    expect(lag?.lastError).toContain('503');
    expect(c.isFeatureEnabled('checkout', 'u1')).toBe(true);
    expect(c.getStats().rulesetLag).toBeUndefined();
    expect(c.getStats().streaming).toBe(true);
    expect(log.lines.filter((l) => l.level === 'warn' && l.message.includes('announced'))).toHaveLength(1);
  });

  it('does not take an older copy (lagging instance) as current: retries without If-None-Match until the announced version arrives', async () => {
    const s = await server();
    const { c, log } = client(s.url);
    await c.ready();
    await eventually(() => c.getStats().streaming);
    s.staleRuleset = makeRuleset(1);
    s.rulesetMode = 'stale';
    const before = rulesetGets(s);

    s.publish(makeRuleset(2, { checkoutOn: true }));
    await eventually(() => rulesetGets(s) >= before + 4);

    expect(c.getStats().rulesetVersion).toBe(1);
    expect(c.getStats().rulesetLag).toMatchObject({ announcedVersion: 2, heldVersion: 1 });
    expect(c.getStats().rulesetLag?.lastError).toContain('older than the announced 2');
    const retries = s.requests.filter((r) => r.url.startsWith('/sdk/v1/ruleset')).slice(before + 1);
    expect(retries.every((r) => r.headers['if-none-match'] === undefined && r.headers['cache-control'] === 'no-cache')).toBe(true);

    s.rulesetMode = 'ok';
    await eventually(() => c.getStats().rulesetVersion === 2);
    expect(c.isFeatureEnabled('checkout', 'u1')).toBe(true);
    expect(log.lines.filter((l) => l.level === 'warn' && l.message.includes('announced'))).toHaveLength(1);
    // Caught up: the retries stop.
    const settled = rulesetGets(s);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(rulesetGets(s)).toBe(settled);
  });

  it('takes a fetch that a newer announcement overtook for what it is: fetches again at once, without a warning', async () => {
    const s = await server();
    const { c, log } = client(s.url);
    await c.ready();
    await eventually(() => c.getStats().streaming);
    // Version 2's fetch is slow; version 3 is published (a toggle and a rule edit together) before it answers.
    s.rulesetMode = 'held';
    s.publish(makeRuleset(2));
    await eventually(() => s.heldCount() === 1);
    s.publish(makeRuleset(3, { checkoutOn: true }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    s.rulesetMode = 'ok';
    s.releaseHeld();

    await eventually(() => c.getStats().rulesetVersion === 3);
    expect(c.isFeatureEnabled('checkout', 'u1')).toBe(true);
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([]);
    expect(c.getStats().rulesetLag).toBeUndefined();
  });

  it('retries a refresh that timed out (no connection left for it)', async () => {
    const s = await server();
    const { c } = client(s.url, { timeoutMs: 100 });
    await c.ready();
    await eventually(() => c.getStats().streaming);
    s.rulesetMode = 'stall';

    s.publish(makeRuleset(2, { color: 'green' }));
    await eventually(() => c.getStats().rulesetLag?.lastError?.includes('TIMEOUT') === true);
    s.rulesetMode = 'ok';

    await eventually(() => c.getValue('color', 'u1', 'red') === 'green');
    expect(c.getStats().rulesetLag).toBeUndefined();
  });

  it('stops retrying on close()', async () => {
    const s = await server();
    const { c } = client(s.url);
    await c.ready();
    await eventually(() => c.getStats().streaming);
    s.rulesetMode = 'fail';
    const before = rulesetGets(s);
    s.publish(makeRuleset(2));
    await eventually(() => rulesetGets(s) >= before + 2);

    await c.close();
    const atClose = rulesetGets(s);
    await new Promise((resolve) => setTimeout(resolve, 400));

    expect(rulesetGets(s)).toBe(atClose);
  });
});
