import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { createTestClient } from '../testing.js';
import { ClientStatus } from '../types.js';
import type { ClientOptions, Exposure } from '../types.js';
import { FakeServer } from './fake-server.js';
import { eventually, makeRuleset, recordingLogger } from './fixtures.js';

/**
 * The exposure listener (`onExposure`): what teams coming from GrowthBook's trackingCallback,
 * Statsig or Optimizely forward to Segment, GA or a warehouse. Once per exposure logged, with the
 * fields sent to xp, frozen, and never able to break an evaluation.
 */

const NOW = 1_700_000_000_000;
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

/** An offline client (no apiUrl) serving makeRuleset's flag `exp-flag` over experiment `exp-ab`. */
function offline(options: ClientOptions = {}): ExperimentationClient {
  const c = new ExperimentationClient('', { bootstrap: makeRuleset(1), now: () => NOW, logger: recordingLogger(), ...options });
  open.push(c);
  return c;
}

describe('onExposure', () => {
  it('is called once per new exposure, with the exposure as sent, on an offline client serving a bootstrap', () => {
    const seen: Exposure[] = [];
    const c = offline({ onExposure: (e) => seen.push(e) });
    expect(c.status).toBe(ClientStatus.Bootstrapped);
    const user = { id: 'u1', attributes: { plan: 'pro', nested: { no: 1 } } };

    const variation = c.evaluate('exp-flag', user).experiment?.variationKey;
    c.evaluate('exp-flag', user);
    c.getValue('exp-flag', user, 'x');
    // The same experiment, unit and variation by another path: the same exposure, de-duplicated.
    c.getVariant('exp-ab', user);

    expect(variation).toMatch(/^(control|treatment)$/);
    expect(seen).toEqual([{ unitId: 'u1', timestamp: NOW, experiment: 'exp-ab', variation, hashAttribute: 'id', flag: 'exp-flag', attributes: { plan: 'pro' } }]);

    // Another unit, and a standalone assignment (no flag), are new exposures.
    c.getVariant('exp-ab', 'u2');
    expect(seen).toHaveLength(2);
    expect(seen[1]).toEqual({ unitId: 'u2', timestamp: NOW, experiment: 'exp-ab', variation: c.getVariant('exp-ab', 'u2'), hashAttribute: 'id' });
    expect(seen[1]).not.toHaveProperty('flag');
    expect(seen[1]).not.toHaveProperty('attributes');
  });

  it('is not called for { exposure: false }, nor for evaluations outside an experiment', () => {
    const seen: Exposure[] = [];
    const c = offline({ onExposure: (e) => seen.push(e) });

    c.evaluate('exp-flag', 'u1', null, { exposure: false });
    c.getVariant('exp-ab', 'u1', { exposure: false });
    c.getValue('checkout', 'u1', false);
    c.getValue('missing', 'u1', 'x');
    expect(seen).toEqual([]);

    // Not remembered as logged either: the next evaluation with an exposure reports it.
    c.evaluate('exp-flag', 'u1');
    expect(seen).toHaveLength(1);
  });

  it('passes a deeply frozen copy: a listener cannot change the event sent to xp', async () => {
    const s = await new FakeServer(makeRuleset(1)).start();
    const seen: Exposure[] = [];
    const tamper = (e: Exposure): void => {
      seen.push(e);
      (e as { variation: string }).variation = 'hacked';
    };
    const log = recordingLogger();
    const c = new ExperimentationClient('xpk_srv_test-key', { apiUrl: s.url, streaming: false, pollIntervalMs: 60_000, timeoutMs: 500, flushIntervalMs: 60_000, now: () => NOW, logger: log, onExposure: tamper, sendEvaluationCounts: false });
    open.push(c, s);
    await c.ready();

    c.evaluate('exp-flag', { id: 'u1', attributes: { plan: 'pro' } });
    await c.flush();
    await eventually(() => s.events.length === 1);

    const [exposure] = seen;
    expect(Object.isFrozen(exposure)).toBe(true);
    expect(Object.isFrozen(exposure?.attributes)).toBe(true);
    const { id, type, ...sent } = s.events[0]!;
    expect(type).toBe('exposure');
    expect(typeof id).toBe('string');
    // What the listener got is exactly what was sent (less the event's id and type), unchanged by it.
    expect(sent).toEqual(exposure);
    expect(sent.variation).not.toBe('hacked');
    expect(log.has('error', 'xp: an exposure listener threw')).toBe(true);
  });

  it('leaves private attributes out, as the exposure sent does', () => {
    const some: Exposure[] = [];
    const all: Exposure[] = [];
    const user = { id: 'u1', attributes: { plan: 'pro', email: 'a@example.com' } };

    offline({ privateAttributes: ['email'], onExposure: (e) => some.push(e) }).evaluate('exp-flag', user);
    offline({ privateAttributes: true, onExposure: (e) => all.push(e) }).evaluate('exp-flag', user);

    expect(some[0]?.attributes).toEqual({ plan: 'pro' });
    expect(all[0]).toBeDefined();
    expect(all[0]).not.toHaveProperty('attributes');
  });

  it('keeps evaluating when a listener throws or rejects, and logs each broken listener once', async () => {
    const log = recordingLogger();
    const seen: string[] = [];
    const c = offline({
      logger: log,
      onExposure: () => {
        throw new Error('segment is down');
      },
    });
    c.onExposure(() => Promise.reject(new Error('async failure')));
    c.onExposure((e) => seen.push(e.unitId));

    const first = c.evaluate('exp-flag', 'u1');
    const second = c.evaluate('exp-flag', 'u2');
    const variant = c.getVariant('exp-ab', 'u3');
    await new Promise((resolve) => setTimeout(resolve, 0));

    expect(first.reason).toBe('SPLIT');
    expect(first).not.toHaveProperty('errorCode');
    expect(first.value).toMatch(/^[AB]$/);
    expect(second.value).toMatch(/^[AB]$/);
    expect(variant).toMatch(/^(control|treatment)$/);
    // The listeners after a broken one still get every exposure.
    expect(seen).toEqual(['u1', 'u2', 'u3']);
    const errors = log.lines.filter((l) => l.level === 'error' && l.message.includes('an exposure listener threw'));
    // Three exposures, two broken listeners: one line each.
    expect(errors).toHaveLength(2);
  });

  it('stops calling a listener once unsubscribed, and the others go on', () => {
    const c = offline();
    const a: string[] = [];
    const b: string[] = [];
    const stopA = c.onExposure((e) => a.push(e.unitId));
    c.onExposure((e) => b.push(e.unitId));

    c.getVariant('exp-ab', 'u1');
    stopA();
    stopA();
    c.getVariant('exp-ab', 'u2');

    expect(a).toEqual(['u1']);
    expect(b).toEqual(['u1', 'u2']);
  });

  it('is not called after close(), when exposures are dropped', async () => {
    const seen: string[] = [];
    const c = offline({ onExposure: (e) => seen.push(e.unitId) });
    c.getVariant('exp-ab', 'u1');
    await c.close();
    c.getVariant('exp-ab', 'u2');
    c.getVariant('exp-ab', 'u2');
    expect(seen).toEqual(['u1']);
  });

  it('refuses a listener that is not a function, without throwing', () => {
    const log = recordingLogger();
    const c = offline({ logger: log });
    const unsubscribe = c.onExposure('track' as never);
    expect(() => c.getVariant('exp-ab', 'u1')).not.toThrow();
    unsubscribe();
    expect(log.has('error', 'xp: onExposure takes a function, got a string; ignored')).toBe(true);
  });
});

describe('onExposure on the test client', () => {
  it('reports what `exposures` records, once per exposure, again after reset()', () => {
    const first: Exposure[] = [];
    const second: Exposure[] = [];
    const c = createTestClient({ experiments: { checkout: 'treatment' }, flags: { banner: true }, now: () => NOW, privateAttributes: ['email'] });
    open.push(c);
    c.onExposure((e) => first.push(e));
    c.onExposure((e) => second.push(e));
    const user = { id: 'u1', attributes: { plan: 'pro', email: 'a@example.com' } };

    expect(c.getVariant('checkout', user)).toBe('treatment');
    c.getVariant('checkout', user);
    c.getValue('banner', user, false);

    expect(first).toEqual([{ unitId: 'u1', timestamp: NOW, experiment: 'checkout', variation: 'treatment', hashAttribute: 'id', attributes: { plan: 'pro' } }]);
    expect(first).toEqual(c.exposures);
    expect(second).toEqual(first);

    c.reset();
    c.getVariant('checkout', user);
    expect(first).toHaveLength(2);
  });
});
