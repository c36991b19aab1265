import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import type { EventDetails } from '@openfeature/server-sdk';
import { ExperimentationClient } from '../client.js';
import { XpServerProvider } from '../openfeature/server-provider.js';
import { MAX_TIMER_MS, flagsChangedBetween, nextTimedChange } from '../timed-changes.js';
import type { RulesetDocument } from '../ruleset-state.js';
import type { RulesetChange } from '../types.js';
import { recordingLogger } from './fixtures.js';

const T = Date.parse('2026-12-01T00:00:00Z');
const SECOND = 1000;
const onOff = [
  { key: 'off', value: false },
  { key: 'on', value: true },
];
const rollout = (schedule: [number, number][], coverage = 0) => ({ id: 'r', type: 'rollout', variation: 1, coverage, schedule, hashAttribute: 'id', seed: 'ramp', hashVersion: 2 });

/**
 * `ramp` goes from 0 to 100% at T+10 s, `window` serves `on` from T+20 s to T+30 s, `dependent`
 * needs `ramp` on, `plain` has no timed rule.
 */
function ruleset(version: number, flags: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 1,
    environment: 'production',
    version,
    flags: {
      ramp: { variations: onOff, default: 0, off: 0, rules: [rollout([[T + 10 * SECOND, 1]])] },
      window: { variations: onOff, default: 0, off: 0, rules: [{ id: 'w', type: 'force', variation: 1, from: T + 20 * SECOND, until: T + 30 * SECOND }] },
      dependent: { variations: onOff, default: 1, off: 0, prerequisites: [{ flag: 'ramp', variation: 'on' }] },
      plain: { variations: onOff, default: 0, off: 0 },
      ...flags,
    },
  };
}

describe('timed rules taking effect', () => {
  const open: ExperimentationClient[] = [];
  beforeEach(() => {
    vi.useFakeTimers({ now: T });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    vi.useRealTimers();
  });

  function client(bootstrap: unknown): { c: ExperimentationClient; changes: [readonly string[], RulesetChange][] } {
    const c = new ExperimentationClient('', { bootstrap, logger: recordingLogger() });
    open.push(c);
    const changes: [readonly string[], RulesetChange][] = [];
    c.onChange((flags, change) => {
      changes.push([[...flags].sort(), change]);
    });
    return { c, changes };
  }

  it('calls onChange with the flags a ramp step or an active window changes, when it takes effect', () => {
    const { c, changes } = client(ruleset(1));
    expect(c.getValue('ramp', 'u1', false)).toBe(false);

    vi.advanceTimersByTime(10 * SECOND - 1);
    expect(changes).toEqual([]);
    vi.advanceTimersByTime(1);
    // The dependent flag's prerequisite is the ramped one: it may evaluate differently too.
    expect(changes).toEqual([[['dependent', 'ramp'], { flags: expect.any(Array), experiments: [], version: 1, timed: true }]]);
    expect([c.getValue('ramp', 'u1', false), c.getValue('dependent', 'u1', false)]).toEqual([true, true]);

    vi.advanceTimersByTime(10 * SECOND);
    vi.advanceTimersByTime(10 * SECOND);
    expect(changes.slice(1).map(([flags]) => flags)).toEqual([['window'], ['window']]);
    expect(c.getValue('window', 'u1', true)).toBe(false);
    // Nothing left to come: no timer.
    vi.advanceTimersByTime(365 * 86_400 * SECOND);
    expect(changes).toHaveLength(3);
  });

  it('waits out a step further away than setTimeout can, re-arming on the way', () => {
    const far = T + MAX_TIMER_MS + 5 * SECOND;
    const { changes } = client(ruleset(1, { ramp: { variations: onOff, default: 0, off: 0, rules: [rollout([[far, 1]])] }, window: { variations: onOff, default: 0, off: 0 } }));

    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(changes).toEqual([]);
    vi.advanceTimersByTime(5 * SECOND);
    expect(changes.map(([flags]) => flags)).toEqual([['dependent', 'ramp']]);
  });

  it('stops on close()', async () => {
    const { c, changes } = client(ruleset(1));
    await c.close();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60 * SECOND);
    expect(changes).toEqual([]);
  });

  it('replaces the timer with the next ruleset’s, and emits PROVIDER_CONFIGURATION_CHANGED through the OpenFeature provider', async () => {
    let served = ruleset(1);
    const fetch = vi.fn(() => Promise.resolve(new Response(JSON.stringify(served), { status: 200, headers: { 'content-type': 'application/json', etag: `"${String(served.version)}"` } })));
    const c = new ExperimentationClient('xpk_srv_test-key', { apiUrl: 'https://xp.example.com', fetch, streaming: false, pollIntervalMs: 5 * SECOND, logger: recordingLogger() });
    open.push(c);
    const provider = new XpServerProvider(c);
    await OpenFeature.setProviderAndWait(provider);
    const events: (EventDetails | undefined)[] = [];
    OpenFeature.addHandler(ProviderEvents.ConfigurationChanged, (details) => events.push(details));
    try {
      // At the next poll the ramp has no step any more, and `plain` gets one at T+12 s.
      served = ruleset(2, { ramp: { variations: onOff, default: 0, off: 0, rules: [rollout([], 0)] }, plain: { variations: onOff, default: 0, off: 0, rules: [rollout([[T + 12 * SECOND, 1]])] } });
      await vi.advanceTimersByTimeAsync(6 * SECOND);
      expect(events.map((e) => [...((e?.flagsChanged ?? []) as string[])].sort())).toEqual([['dependent', 'plain', 'ramp']]);

      await vi.advanceTimersByTimeAsync(5 * SECOND);
      expect(events).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1 * SECOND);
      expect(events.map((e) => [...((e?.flagsChanged ?? []) as string[])].sort())).toEqual([['dependent', 'plain', 'ramp'], ['plain']]);
    } finally {
      await OpenFeature.clearProviders();
    }
  });
});

describe('nextTimedChange and flagsChangedBetween', () => {
  const doc = ruleset(1) as unknown as RulesetDocument;

  it('find the instants at which a rule changes what it serves, and the flags it changes', () => {
    expect(nextTimedChange(doc, T)).toBe(T + 10 * SECOND);
    expect(nextTimedChange(doc, T + 10 * SECOND)).toBe(T + 20 * SECOND);
    expect(nextTimedChange(doc, T + 30 * SECOND)).toBeUndefined();
    expect(flagsChangedBetween(doc, T, T + 10 * SECOND - 1)).toEqual([]);
    expect(flagsChangedBetween(doc, T, T + 20 * SECOND).sort()).toEqual(['dependent', 'ramp', 'window']);
  });

  it('skip a step that keeps the coverage, and entries that are not timed rules', () => {
    const same = { schemaVersion: 1, environment: 'p', version: 1, flags: { keep: { variations: onOff, default: 0, off: 0, rules: [rollout([[T + SECOND, 0.5], [T + 2 * SECOND, 0.5]], 0.5)] }, broken: { rules: 'nope' }, nothing: null } } as unknown as RulesetDocument;
    expect(nextTimedChange(same, T)).toBeUndefined();
  });
});
