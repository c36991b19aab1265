import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { MemoryStickyBucketStore } from '../stores/memory-store.js';
import type { ClientOptions } from '../types.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';
import type { RecordingLogger } from './fixtures.js';

const KEY = 'xpk_srv_test-key';
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

/** makeRuleset at `version` with exp-ab and the `extra` experiments sticky, as a bandit's are (its split moves while it runs). */
function stickyRuleset(version: number, extra: string[] = []): Record<string, unknown> {
  const ruleset = makeRuleset(version) as { experiments: Record<string, Record<string, unknown>> };
  const base = ruleset.experiments['exp-ab']!;
  ruleset.experiments['exp-ab'] = { ...base, sticky: { bucketVersion: 1, minBucketVersion: 0 } };
  for (const key of extra) {
    ruleset.experiments[key] = { ...base, seed: key, sticky: { bucketVersion: 1, minBucketVersion: 0 } };
  }
  return ruleset;
}

/** A client bootstrapped with `first` that then loads `second` from the API (two rulesets installed). */
async function run(first: Record<string, unknown>, second: Record<string, unknown>, options: ClientOptions = {}): Promise<{ s: FakeServer; c: ExperimentationClient; log: RecordingLogger }> {
  const s = await new FakeServer(second).start();
  const log = recordingLogger();
  const c = new ExperimentationClient(KEY, { apiUrl: s.url, timeoutMs: 500, flushIntervalMs: 60_000, logger: log, bootstrap: first, ...options });
  open.push(c, s);
  await c.ready();
  expect(c.getSnapshot()?.version).toBe(second.version);
  return { s, c, log };
}

const stickyWarnings = (log: RecordingLogger): string[] => log.lines.filter((l) => l.message.includes('sticky bucketing')).map((l) => `${l.level}: ${l.message}`);

describe('a sticky experiment served without a stickyBucketStore', () => {
  it('is warned about once per client, naming the experiment and what to do', async () => {
    const { c, log } = await run(stickyRuleset(1), stickyRuleset(2));
    c.getVariant('exp-ab', { id: 'u1' });

    expect(stickyWarnings(log)).toEqual([
      'warn: xp: experiment "exp-ab" uses sticky bucketing (its split may move while it runs, e.g. a bandit); this client has no stickyBucketStore, so its units would be assigned again by the new split: pass one (MemoryStickyBucketStore, LocalStorageStickyBucketStore in browsers, or a shared store such as RedisStickyBucketStore across servers)',
    ]);
  });

  it('is warned about once per experiment across ruleset updates: only a newly sticky one is named later', async () => {
    const { s, c, log } = await run(stickyRuleset(1), stickyRuleset(2));
    s.publish(stickyRuleset(3));
    await eventually(() => c.getSnapshot()?.version === 3);
    s.publish(stickyRuleset(4, ['bandit-b', 'bandit-c']));
    await eventually(() => c.getSnapshot()?.version === 4);
    s.publish(stickyRuleset(5, ['bandit-b', 'bandit-c']));
    await eventually(() => c.getSnapshot()?.version === 5);

    const warnings = stickyWarnings(log);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('experiment "exp-ab" uses sticky bucketing');
    expect(warnings[1]).toContain('experiments "bandit-b", "bandit-c" use sticky bucketing (their splits may move while they run, e.g. a bandit)');
    expect(warnings[1]).not.toContain('exp-ab');
  });

  it('is not warned about when the client has a stickyBucketStore', async () => {
    const { s, c, log } = await run(stickyRuleset(1), stickyRuleset(2), { stickyBucketStore: new MemoryStickyBucketStore() });
    s.publish(stickyRuleset(3, ['bandit-b']));
    await eventually(() => c.getSnapshot()?.version === 3);

    expect(stickyWarnings(log)).toEqual([]);
  });

  it('is absent from rulesets without sticky experiments: nothing is warned', async () => {
    const { s, c, log } = await run(makeRuleset(1), makeRuleset(2));
    s.publish(makeRuleset(3));
    await eventually(() => c.getSnapshot()?.version === 3);

    expect(stickyWarnings(log)).toEqual([]);
  });

  it('is warned about for a bootstrap-only (offline) client too', () => {
    const log = recordingLogger();
    const c = new ExperimentationClient(KEY, { bootstrap: stickyRuleset(1), logger: log });
    open.push(c);

    expect(stickyWarnings(log)).toHaveLength(1);
  });
});
