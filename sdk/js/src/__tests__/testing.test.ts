/**
 * @xp/sdk/testing: a test client serves what it is given through the real evaluator, fires change
 * listeners on setFlag, records exposures and tracked events, refuses bad configuration with an
 * XpError, and in strict mode refuses keys that are not configured.
 */
import { OpenFeature } from '@openfeature/server-sdk';
import { OpenFeature as WebOpenFeature } from '@openfeature/web-sdk';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keySchema } from '@xp/shared';
import { ErrorCode, Reason } from '@xp/shared/eval';
import { ExperimentationClient } from '../client.js';
import { XpError, XpErrorCode } from '../errors.js';
import { XpServerProvider } from '../openfeature.js';
import { XpWebProvider } from '../openfeature-web.js';
import { createTestClient } from '../testing.js';
import type { TestClient } from '../testing.js';
import { ClientStatus } from '../types.js';
import type { RulesetChange } from '../types.js';
import { recordingLogger } from './fixtures.js';

const clients: TestClient[] = [];

function testClient(options: Parameters<typeof createTestClient>[0] = {}): TestClient {
  const c = createTestClient({ logger: recordingLogger(), ...options });
  clients.push(c);
  return c;
}

afterEach(async () => {
  await OpenFeature.close();
  await WebOpenFeature.close();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** The XpError `fn` throws (fails the test when it throws none, or something else). */
function thrown(fn: () => unknown): XpError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(XpError);
    return e as XpError;
  }
  throw new Error('expected an XpError');
}

describe('createTestClient', () => {
  it('is a real ExperimentationClient, ready at once with status READY', async () => {
    const client = testClient({ flags: { 'new-nav': true } });

    expect(client).toBeInstanceOf(ExperimentationClient);
    expect(client.status).toBe(ClientStatus.Ready);
    expect(await client.ready()).toEqual({ status: ClientStatus.Ready });
    expect(client.getStats().rulesetVersion).toBe(1);
  });

  it('serves each flag with the type of its value, through the real evaluator', () => {
    const client = testClient({ flags: { 'new-nav': true, 'checkout-button': 'green', limits: { max: 5 }, ratio: 0.25, list: [1, 2], nothing: null } });

    expect(client.isFeatureEnabled('new-nav', 'u1')).toBe(true);
    expect(client.getValue('checkout-button', 'u1', 'none')).toBe('green');
    expect(client.getValue('limits', 'u1', { max: 0 })).toEqual({ max: 5 });
    expect(client.getValue('ratio', 'u1', 0)).toBe(0.25);
    expect(client.getValue('list', 'u1', [] as number[])).toEqual([1, 2]);
    expect(client.getValue('nothing', 'u1', null)).toBeNull();
    // Production semantics: truthiness for isFeatureEnabled, type mismatches, reasons, missing flags.
    expect(client.isFeatureEnabled('checkout-button', 'u1')).toBe(true);
    expect(client.evaluate('checkout-button', 'u1', 'none')).toMatchObject({ value: 'green', variationKey: 'green', reason: Reason.Default });
    expect(client.evaluate('checkout-button', 'u1', false)).toMatchObject({ value: false, reason: Reason.Error, errorCode: ErrorCode.TypeMismatch });
    expect(client.evaluate('new-nav', 'u1', false)).toMatchObject({ value: true, variationKey: 'on' });
    expect(client.evaluate('absent', 'u1', 'x')).toMatchObject({ value: 'x', errorCode: ErrorCode.FlagNotFound });
  });

  it('names variations "on"/"off", by the string when it is a key, else "value-<index>"', () => {
    const client = testClient();
    client.setFlag('b', false, { units: { u2: true } });
    client.setFlag('s', 'Big button!', { units: { u2: 'small', u3: 'value-9', u4: 'small' } });
    client.setFlag('j', { a: 1 }, { units: { u2: [1], u3: { a: 1 } } });

    const flags = client.getSnapshot()!.flags as Record<string, { variations: { key: string }[]; rules?: unknown[] }>;
    expect(flags.b!.variations.map((v) => v.key)).toEqual(['off', 'on']);
    expect(flags.s!.variations.map((v) => v.key)).toEqual(['value-0', 'small', 'value-2']);
    expect(flags.s!.rules).toEqual([
      { id: 'unit-values-1', type: 'force', condition: { id: { $in: ['u2', 'u4'] } }, variation: 1 },
      { id: 'unit-values-2', type: 'force', condition: { id: { $in: ['u3'] } }, variation: 2 },
    ]);
    // u3's value equals the everyone value: no rule of its own.
    expect(flags.j!.variations.map((v) => v.key)).toEqual(['value-0', 'value-1']);
    expect(client.getValue('s', 'u4', '')).toBe('small');
    expect(client.getValue('s', 'u3', '')).toBe('value-9');
    expect(client.getValue('s', 'u1', '')).toBe('Big button!');
    expect(client.getValue('j', 'u3', null)).toEqual({ a: 1 });
  });

  it('takes a copy of the values: changing the caller\'s object later changes nothing', () => {
    const limits = { max: 5 };
    const client = testClient({ flags: { limits } });
    limits.max = 9;

    expect(client.getValue('limits', 'u1', { max: 0 })).toEqual({ max: 5 });
  });
});

describe('setFlag and removeFlag', () => {
  it('change the value and call onChange listeners as a ruleset update does', () => {
    const client = testClient({ flags: { 'new-nav': true, other: 1 } });
    const changes: [readonly string[], RulesetChange][] = [];
    client.onChange((flags, change) => {
      changes.push([flags, change]);
    });

    client.setFlag('new-nav', false);
    expect(client.isFeatureEnabled('new-nav', 'u1')).toBe(false);
    client.setFlag('added', 'x');
    expect(client.removeFlag('new-nav')).toBe(true);
    expect(client.removeFlag('new-nav')).toBe(false);

    expect(changes.map(([flags]) => flags)).toEqual([['new-nav'], ['added'], ['new-nav']]);
    expect(changes.map(([, c]) => c.version)).toEqual([2, 3, 4]);
    expect(client.evaluate('new-nav', 'u1', true)).toMatchObject({ value: true, errorCode: ErrorCode.FlagNotFound });
  });

  it('serves per-unit values to those units by id (a string, a number, or a user object)', () => {
    const client = testClient({ flags: { 'checkout-button': 'green' } });
    client.setFlag('checkout-button', 'blue', { units: { 'user-7': 'red', '42': 'red' } });

    expect(client.getValue('checkout-button', 'user-7', 'none')).toBe('red');
    expect(client.getValue('checkout-button', { id: 'user-7', attributes: { plan: 'pro' } }, 'none')).toBe('red');
    expect(client.getValue('checkout-button', 42, 'none')).toBe('red');
    expect(client.getValue('checkout-button', 'user-8', 'none')).toBe('blue');
    expect(client.evaluate('checkout-button', 'user-7', 'none')).toMatchObject({ reason: Reason.TargetingMatch, variationKey: 'red' });
  });

  it('may change the type of a flag (a redefinition), but not within one flag', () => {
    const client = testClient({ flags: { f: true } });
    client.setFlag('f', 'now a string');

    expect(client.getValue('f', 'u1', '')).toBe('now a string');
    const e = thrown(() => {
      client.setFlag('f', true, { units: { u2: 'red' } });
    });
    expect(e.message).toBe('xp testing: flag "f", unit "u2": the value is a string, but the flag serves a boolean (a flag\'s values all have one type)');
    // A refused setFlag changes nothing.
    expect(client.getValue('f', 'u1', '')).toBe('now a string');
  });
});

describe('experiments', () => {
  it('bucket every unit into the variation given, recording one exposure per unit and variation', () => {
    let now = 1_700_000_000_000;
    const client = testClient({ experiments: { 'pricing-page': 'treatment' }, now: () => now });

    expect(client.getVariant('pricing-page', 'u1')).toBe('treatment');
    expect(client.getVariant('pricing-page', 'u1')).toBe('treatment');
    now += 1;
    expect(client.getExperiment('pricing-page', { id: 'u2', attributes: { plan: 'pro' } })).toMatchObject({ inExperiment: true, variationKey: 'treatment', variationIndex: 0 });

    expect(client.exposures).toEqual([
      { experiment: 'pricing-page', variation: 'treatment', unitId: 'u1', hashAttribute: 'id', timestamp: 1_700_000_000_000 },
      { experiment: 'pricing-page', variation: 'treatment', unitId: 'u2', hashAttribute: 'id', attributes: { plan: 'pro' }, timestamp: 1_700_000_000_001 },
    ]);
  });

  it('setExperiment serves per-unit variations, with those units in the experiment', () => {
    const client = testClient({ experiments: { 'pricing-page': 'treatment' } });
    client.setExperiment('pricing-page', 'control', { units: { 'user-7': 'treatment' } });

    expect(client.getVariant('pricing-page', 'user-8')).toBe('control');
    expect(client.getExperiment('pricing-page', 'user-7')).toMatchObject({ inExperiment: true, variationKey: 'treatment', variationIndex: 1 });
    expect(client.exposures.map((e) => [e.unitId, e.variation])).toEqual([
      ['user-8', 'control'],
      ['user-7', 'treatment'],
    ]);
    const exp = client.getSnapshot()!.experiments!['pricing-page'];
    expect(exp).toMatchObject({ coverage: 1, weights: [1, 0], variations: [{ key: 'control' }, { key: 'treatment' }], hashAttribute: 'id' });
  });

  it('{ exposure: false } records none; removeExperiment leaves the unit out', () => {
    const client = testClient({ experiments: { e: 'b' } });

    expect(client.getVariant('e', 'u1', { exposure: false })).toBe('b');
    expect(client.exposures).toEqual([]);
    expect(client.removeExperiment('e')).toBe(true);
    expect(client.getVariant('e', 'u1')).toBeNull();
  });
});

describe('recorded events', () => {
  it('trackEvent is recorded as it would be sent; reset() clears events and exposures', () => {
    const client = testClient({ experiments: { e: 'b' }, now: () => 5 });
    client.trackEvent('purchase', 'u1', { value: 9.5, currency: 'EUR' });
    client.trackEvent('signup', { id: 'u2' });
    client.getVariant('e', 'u1');

    expect(client.trackedEvents).toEqual([
      { name: 'purchase', unitId: 'u1', value: 9.5, properties: { currency: 'EUR' }, timestamp: 5 },
      { name: 'signup', unitId: 'u2', timestamp: 5 },
    ]);
    expect(client.exposures).toHaveLength(1);
    expect(Object.isFrozen(client.trackedEvents)).toBe(true);

    client.reset();
    expect(client.trackedEvents).toEqual([]);
    expect(client.exposures).toEqual([]);
    // A new test starts fresh: the same unit is exposed again.
    client.getVariant('e', 'u1');
    expect(client.exposures).toHaveLength(1);
    // Nothing was queued for sending.
    expect(client.getStats().queuedEvents).toBe(0);
  });

  it('drops what a real client drops: a malformed trackEvent, and anything after close()', async () => {
    const logger = recordingLogger();
    const client = testClient({ experiments: { e: 'b' }, logger });
    client.trackEvent('', 'u1');
    await client.close();
    client.trackEvent('late', 'u1');
    client.getVariant('e', 'u2');

    expect(client.trackedEvents).toEqual([]);
    expect(client.exposures).toEqual([]);
    expect(logger.has('warn', 'trackEvent("") ignored')).toBe(true);
    expect(client.status).toBe(ClientStatus.Closed);
    expect(await client.ready()).toEqual({ status: ClientStatus.Closed });
  });
});

describe('strict mode', () => {
  it('throws for a flag or experiment not configured, naming it, a near miss and the keys configured', () => {
    const client = testClient({ flags: { 'new-nav': true, 'checkout-button': 'green' }, experiments: { 'pricing-page': 'b' }, strict: true });

    const typo = thrown(() => client.isFeatureEnabled('new-nva', 'u1'));
    expect(typo.code).toBe(XpErrorCode.Configuration);
    expect(typo.message).toBe('xp testing: flag "new-nva" is not configured in this strict test client (did you mean "new-nav"?); configured flags: "checkout-button", "new-nav"');
    expect(thrown(() => client.getValue('zzz', 'u1', 'x')).message).toBe('xp testing: flag "zzz" is not configured in this strict test client; configured flags: "checkout-button", "new-nav"');
    expect(thrown(() => client.evaluate('pricing-page', 'u1')).message).toContain('("pricing-page" is configured as an experiment)');
    expect(thrown(() => client.getVariant('pricing-pgae', 'u1')).message).toBe(
      'xp testing: experiment "pricing-pgae" is not configured in this strict test client (did you mean "pricing-page"?); configured experiments: "pricing-page"',
    );
    // A key that is not even a string (plain JavaScript callers) is refused the same way.
    expect(thrown(() => client.getValue(7 as unknown as string, 'u1', 'x')).message).toBe('xp testing: flag 7 is not configured in this strict test client; configured flags: "checkout-button", "new-nav"');
    // Configured keys evaluate as usual; a removed one is no longer configured.
    expect(client.getValue('checkout-button', 'u1', '')).toBe('green');
    client.removeFlag('new-nav');
    expect(() => client.isFeatureEnabled('new-nav', 'u1')).toThrow('configured flags: "checkout-button"');
  });

  it('is off by default: a missing key serves the default', () => {
    const client = testClient({ flags: { a: true } });

    expect(client.getValue('b', 'u1', 'fallback')).toBe('fallback');
    expect(client.getVariant('e', 'u1')).toBeNull();
  });
});

describe('bad configuration', () => {
  it('throws a clear XpError at createTestClient', () => {
    const cases: [unknown, string][] = [
      [{ flags: { 'bad key': true } }, 'xp testing: flag key "bad key" is not a valid key: it must start with an ASCII letter or digit and contain only ASCII letters, digits, "_", "." and "-"'],
      [{ flags: { '': true } }, 'xp testing: flag key "" must be 1 to 128 characters'],
      [{ flags: { f: undefined } }, 'xp testing: flag "f": value is undefined, not a JSON value (use null, a boolean, a string, a finite number, an array or a plain object)'],
      [{ flags: { f: () => true } }, 'xp testing: flag "f": value is a function, not a JSON value (use null, a boolean, a string, a finite number, an array or a plain object)'],
      [{ flags: { f: Number.NaN } }, 'xp testing: flag "f": value is NaN, not a JSON value (numbers must be finite)'],
      [{ flags: { f: { a: [1, Infinity] } } }, 'xp testing: flag "f": value.a[1] is Infinity, not a JSON value (numbers must be finite)'],
      [{ flags: { f: { at: new Date(0) } } }, 'xp testing: flag "f": value.at is a Date object, not a JSON value (use a plain object)'],
      [{ flags: { f: 10n } }, 'xp testing: flag "f": value is a bigint, not a JSON value (use null, a boolean, a string, a finite number, an array or a plain object)'],
      [{ experiments: { e: 'Treatment B' } }, 'xp testing: experiment "e": variation "Treatment B" is not a valid variation name: it must be a string of 1 to 128 characters that must start with an ASCII letter or digit and contain only ASCII letters, digits, "_", "." and "-"'],
      [{ experiments: { e: true } }, 'xp testing: experiment "e": variation (boolean) is not a valid variation name: it must be a string of 1 to 128 characters that must start with an ASCII letter or digit and contain only ASCII letters, digits, "_", "." and "-"'],
      [{ experiments: { 'e/1': 'b' } }, 'xp testing: experiment key "e/1" is not a valid key: it must start with an ASCII letter or digit and contain only ASCII letters, digits, "_", "." and "-"'],
      [{ flags: ['a'] }, 'xp testing: flags must be an object or a Map of key → value'],
      [null, 'xp testing: createTestClient takes an object like { flags: { … }, experiments: { … } }'],
    ];
    for (const [options, message] of cases) {
      const e = thrown(() => createTestClient(options as Parameters<typeof createTestClient>[0]));
      expect(e.code).toBe(XpErrorCode.Configuration);
      expect(e.message).toBe(message);
    }
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(thrown(() => createTestClient({ flags: { f: cycle } })).message).toBe('xp testing: flag "f": value.self refers to itself (a cycle), not a JSON value');
  });

  it('throws at setFlag and setExperiment, changing nothing', () => {
    const client = testClient({ flags: { f: 'a' } });
    const changes: string[][] = [];
    client.onChange((flags) => {
      changes.push([...flags]);
    });

    expect(thrown(() => { client.setFlag('f', 'b', { units: { u1: undefined as unknown as string } }); }).message).toBe(
      'xp testing: flag "f", unit "u1": value is undefined, not a JSON value (use null, a boolean, a string, a finite number, an array or a plain object)',
    );
    expect(thrown(() => { client.setFlag('f', 'b', { units: { '': 'c' } }); }).message).toBe('xp testing: flag "f": a unit id must not be empty');
    expect(thrown(() => { client.setFlag('f', 'b', { units: ['c'] as unknown as Record<string, string> }); }).message).toBe(
      'xp testing: flag "f": units must be an object or a Map of unit id → value, like { "user-1": … }',
    );
    expect(thrown(() => { client.setExperiment('e', 'a', { units: { u1: '-x' } }); }).message).toContain('experiment "e", unit "u1": variation "-x" is not a valid variation name');
    expect(thrown(() => { client.setFlag('x'.repeat(129), true); }).message).toBe(`xp testing: flag key "${'x'.repeat(129)}" must be 1 to 128 characters`);
    expect(client.getValue('f', 'u1', '')).toBe('a');
    expect(changes).toEqual([]);
  });

  it('checks keys as the platform does (the shared key schema)', () => {
    for (const key of ['a', 'A.b_c-d', '9lives', '_x', '.x', 'a b', 'é', 'x'.repeat(128), 'x'.repeat(129)]) {
      let valid = true;
      try {
        createTestClient({ flags: { [key]: true } });
      } catch {
        valid = false;
      }
      expect(valid ? key : `invalid ${key}`).toBe(keySchema.safeParse(key).success ? key : `invalid ${key}`);
    }
  });
});

describe('OpenFeature over a test client', () => {
  it('the server provider serves its flags and follows setFlag', async () => {
    const client = testClient({ flags: { 'new-nav': true, 'checkout-button': 'green' } });
    await OpenFeature.setProviderAndWait(new XpServerProvider(client));
    const of = OpenFeature.getClient();

    expect(await of.getBooleanValue('new-nav', false, { targetingKey: 'u1' })).toBe(true);
    expect(await of.getStringDetails('checkout-button', 'none', { targetingKey: 'u1' })).toMatchObject({ value: 'green', variant: 'green' });
    client.setFlag('checkout-button', 'blue', { units: { 'user-7': 'red' } });
    expect(await of.getStringValue('checkout-button', 'none', { targetingKey: 'user-7' })).toBe('red');
    expect(await of.getStringValue('checkout-button', 'none', { targetingKey: 'u1' })).toBe('blue');
    expect(await of.getNumberDetails('checkout-button', 0, { targetingKey: 'u1' })).toMatchObject({ value: 0, errorCode: 'TYPE_MISMATCH' });
  });

  it('the web provider serves its flags for the context set', async () => {
    const client = testClient({ flags: { 'checkout-button': 'green' } });
    client.setFlag('checkout-button', 'green', { units: { 'user-7': 'red' } });
    await WebOpenFeature.setContext({ targetingKey: 'user-7' });
    await WebOpenFeature.setProviderAndWait(new XpWebProvider(client));

    expect(WebOpenFeature.getClient().getStringValue('checkout-button', 'none')).toBe('red');
  });
});

describe('the package entry', () => {
  it('exports @xp/sdk/testing, with declarations, like the other entries', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, Record<string, string>> };
    const specifier = '@xp/sdk/testing';
    const loaded = (await import(/* @vite-ignore */ specifier)) as { createTestClient: typeof createTestClient };
    const viaPackage = loaded.createTestClient({ flags: { f: 'x' }, logger: recordingLogger() });
    clients.push(viaPackage);

    expect(pkg.exports['./testing']).toEqual({ 'xp-source': './src/testing.ts', types: './dist/testing.d.ts', default: './dist/testing.js' });
    expect(viaPackage.getValue('f', 'u1', '')).toBe('x');
  });

  it('starts no timer: evaluating, tracking, setting flags and closing leave nothing running', async () => {
    // The SDK's own timers are unref'd (invisible to process.getActiveResourcesInfo): count the calls instead.
    const setTimer = vi.spyOn(globalThis, 'setTimeout');
    const setRepeating = vi.spyOn(globalThis, 'setInterval');
    try {
      const client = testClient({ flags: { f: true }, experiments: { e: 'b' } });
      client.isFeatureEnabled('f', 'u1');
      client.getVariant('e', 'u1');
      client.trackEvent('purchase', 'u1', { value: 1 });
      client.setFlag('f', false);
      await client.ready();
      await client.close();

      expect(setTimer).not.toHaveBeenCalled();
      expect(setRepeating).not.toHaveBeenCalled();
    } finally {
      setTimer.mockRestore();
      setRepeating.mockRestore();
    }
  });
});
