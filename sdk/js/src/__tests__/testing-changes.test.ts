/**
 * @xp/sdk/testing: a refused change changes nothing (the schema's limits named), per-unit values
 * given as a Map keep their order, options are checked (no silent typo), "__proto__" keys of
 * values are kept as data, recorded events are deeply frozen, and a closed client takes no change.
 */
import { OpenFeature } from '@openfeature/server-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import { XpError, XpErrorCode } from '../errors.js';
import { XpServerProvider } from '../openfeature.js';
import { NotConfiguredError, createTestClient } from '../testing.js';
import type { TestClient } from '../testing.js';
import { recordingLogger } from './fixtures.js';

const clients: ExperimentationClient[] = [];

function testClient(options: Parameters<typeof createTestClient>[0] = {}): TestClient {
  const c = createTestClient({ logger: recordingLogger(), ...options });
  clients.push(c);
  return c;
}

afterEach(async () => {
  await OpenFeature.close();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** The XpError `fn` throws (fails the test when it throws none, or something else). */
function thrown(fn: () => unknown): XpError {
  try {
    fn();
  } catch (e) {
    if (e instanceof XpError) {
      return e;
    }
    throw e;
  }
  throw new Error('expected an XpError, none was thrown');
}

/** `n` units, each with its own value `v<i>`. */
function distinctUnits(n: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`u${i}`, `v${i}`]));
}

describe('a refused change', () => {
  it('names the flag and the 100-variation limit, and changes nothing: later changes work', () => {
    const client = testClient({ flags: { ok: true } });
    const changes: string[][] = [];
    client.onChange((flags) => {
      changes.push([...flags]);
    });
    const version = client.getSnapshot()?.version;

    const e = thrown(() => {
      client.setFlag('many', 'v', { units: distinctUnits(101) });
    });
    expect(e.code).toBe(XpErrorCode.Configuration);
    expect(e.message).toBe(
      'xp testing: flag "many" has 102 distinct values (its value for everyone and the units\'), over the limit of 100 variations per flag; give fewer distinct per-unit values',
    );
    expect(client.getSnapshot()?.version).toBe(version);
    expect(client.getSnapshot()?.flags.many).toBeUndefined();
    expect(changes).toEqual([]);

    // Nothing was kept: every later change works.
    client.setFlag('ok', false);
    expect(client.getValue('ok', 'u1', true)).toBe(false);
    client.setFlag('other', 1);
    client.setExperiment('e', 'a');
    expect(client.removeFlag('ok')).toBe(true);
    expect(client.removeFlag('many')).toBe(false);
    expect(changes).toEqual([['ok'], ['other'], [], ['ok']]);

    // 99 distinct per-unit values and the everyone value: 100 variations, the most a flag holds.
    client.setFlag('many', 'v', { units: distinctUnits(99) });
    expect(client.getValue('many', 'u98', '')).toBe('v98');
  });

  it('names the experiment and the 64-variation limit, and changes nothing', () => {
    const client = testClient({ experiments: { e: 'control' } });
    const e = thrown(() => {
      client.setExperiment('e', 'control', { units: distinctUnits(64) });
    });
    expect(e.message).toBe('xp testing: experiment "e" has 65 distinct variations (the one for everyone and the units\'), over the limit of 64 variations per experiment');
    expect(client.getVariant('e', 'u1')).toBe('control');
    client.setExperiment('e', 'control', { units: distinctUnits(63) });
    expect(client.getVariant('e', 'u62')).toBe('v62');
  });
});

describe('per-unit values in the order first given', () => {
  it('a Map keeps its insertion order, integer-like ids included', () => {
    const client = testClient();
    client.setFlag('label', 'Everyone!', { units: new Map<string | number, string>([['user-7', 'Seven!'], [42, 'Forty-two!']]) });
    const seven = client.evaluate('label', 'user-7', '');
    const fortyTwo = client.evaluate('label', 42, '');
    expect([seven.value, seven.variationKey, seven.ruleId]).toEqual(['Seven!', 'value-1', 'unit-values-1']);
    expect([fortyTwo.value, fortyTwo.variationKey, fortyTwo.ruleId]).toEqual(['Forty-two!', 'value-2', 'unit-values-2']);

    client.setExperiment('exp', 'control', { units: new Map<string | number, string>([['user-7', 'treatment'], [10, 'urgency'], ['2', 'treatment-b']]) });
    const snapshot = client.getSnapshot() as unknown as { experiments: Record<string, { variations: { key: string }[] }> };
    expect(snapshot.experiments.exp?.variations.map((v) => v.key)).toEqual(['control', 'treatment', 'urgency', 'treatment-b']);
    expect(client.getExperiment('exp', 'user-7').variationIndex).toBe(1);
    expect(client.getExperiment('exp', 10).variationKey).toBe('urgency');
    expect(client.getExperiment('exp', '2').variationIndex).toBe(3);
  });

  it('a plain object follows JavaScript property order (integer-like keys first), as documented', () => {
    const client = testClient();
    client.setFlag('label', 'Everyone!', { units: { 'user-7': 'Seven!', 42: 'Forty-two!' } });
    expect(client.evaluate('label', 42, '').variationKey).toBe('value-1');
  });

  it('refuses a unit given twice in a Map (a number id is its string)', () => {
    const client = testClient();
    expect(thrown(() => {
      client.setFlag('f', 1, { units: new Map<string | number, number>([[42, 2], ['42', 3]]) });
    }).message).toBe('xp testing: flag "f": "42" is the unit "42" given twice (a number id is read as its string)');
    expect(thrown(() => {
      client.setFlag('f', 1, { units: new Map([[true, 2]]) as unknown as Map<string, number> });
    }).message).toBe('xp testing: flag "f": a unit id must be a string or a finite number, got boolean');
  });
});

describe('options', () => {
  it('flags and experiments may be Maps', () => {
    const client = testClient({ flags: new Map([['a', true]]), experiments: new Map([['e', 'treatment']]), strict: true });
    expect(client.evaluate('a', 'u1', false).value).toBe(true);
    expect(client.getVariant('e', 'u1')).toBe('treatment');
    client.setExperiment('e', 'control', { units: new Map([['user-7', 'treatment']]) });
    expect(client.getVariant('e', 'user-7')).toBe('treatment');
  });

  it('refuses a strict that is not a boolean, an unknown option and logExposures, naming them', () => {
    expect(thrown(() => createTestClient({ strict: 'yes' as unknown as boolean })).message).toBe('xp testing: strict must be true or false, got the string "yes"');
    expect(thrown(() => createTestClient({ flag: { a: true } } as never)).message).toBe(
      'xp testing: unknown option "flag"; the options are flags, experiments, strict, now, logger, privateAttributes',
    );
    expect(thrown(() => createTestClient({ logExposures: false } as never)).message).toContain('the JavaScript client has no logExposures option: pass { exposure: false }');
    expect(thrown(() => createTestClient({ privateAttributes: 'email' as never })).message).toBe('xp testing: privateAttributes must be an array of attribute names, or true for all');
    const client = testClient({ flags: { f: 'everyone' } });
    expect(thrown(() => {
      client.setFlag('f', 'everyone', { unit: { 'user-7': 'seven' } } as never);
    }).message).toBe('xp testing: flag "f": unknown option "unit" (the only option is "units")');
    expect(thrown(() => {
      client.setExperiment('e', 'a', { units: {}, unit: {} } as never);
    }).message).toBe('xp testing: experiment "e": unknown option "unit" (the only option is "units")');
  });

  it('privateAttributes leaves attributes out of recorded exposures and tracked units, as the real client', () => {
    const client = testClient({ experiments: { e: 'control' }, privateAttributes: ['email'] });
    client.getVariant('e', { id: 'u1', attributes: { email: 'secret@example.com', plan: 'pro' } });
    expect(client.exposures.map((e) => e.attributes)).toEqual([{ plan: 'pro' }]);
    const all = testClient({ experiments: { e: 'control' }, privateAttributes: true });
    all.getVariant('e', { id: 'u1', attributes: { email: 'secret@example.com', plan: 'pro' } });
    expect(all.exposures[0]?.attributes).toBeUndefined();
  });
});

describe('"__proto__" keys of values', () => {
  it('are kept as data and served, as the real client serves them from a ruleset', () => {
    const text = '{"__proto__": {"admin": true}, "plan": "pro"}';
    const client = testClient({ flags: { cfg: JSON.parse(text) as Record<string, unknown> } });
    client.setFlag('primitive', JSON.parse('{"__proto__": 5, "a": 1}') as Record<string, unknown>);
    const served = client.getValue('cfg', 'u1', {}) as Record<string, unknown>;
    expect(Object.keys(served)).toEqual(['__proto__', 'plan']);
    expect(Object.getPrototypeOf(served)).toBe(Object.prototype);
    expect(served.admin).toBeUndefined();
    expect(JSON.stringify(served)).toBe('{"__proto__":{"admin":true},"plan":"pro"}');
    expect(JSON.stringify(client.getValue('primitive', 'u1', null))).toBe('{"__proto__":5,"a":1}');

    // The real client, given the same value in a ruleset, serves the same.
    const real = new ExperimentationClient('xpk_srv_test', {
      logger: recordingLogger(),
      bootstrap: JSON.parse(`{"schemaVersion":1,"environment":"test","version":1,"flags":{"cfg":{"variations":[{"key":"value-0","value":${text}}],"default":0,"off":0}}}`),
    });
    clients.push(real);
    expect(JSON.stringify(real.getValue('cfg', 'u1', {}))).toBe(JSON.stringify(served));
  });
});

describe('recorded events', () => {
  it('are deep copies, deeply frozen', () => {
    const client = testClient({ experiments: { e: 'control' } });
    const properties = { currency: 'EUR', cart: { items: 1 } };
    client.trackEvent('buy', 'u1', properties);
    properties.cart.items = 42;
    const [event] = client.trackedEvents;
    expect(event?.properties).toEqual({ currency: 'EUR', cart: { items: 1 } });
    const cart = event?.properties?.cart as { items: number };
    expect(() => {
      cart.items = 5;
    }).toThrow(TypeError);
    expect(client.trackedEvents[0]?.properties).toEqual({ currency: 'EUR', cart: { items: 1 } });

    client.getVariant('e', { id: 'u1', attributes: { plan: 'pro' } });
    const attributes = client.exposures[0]?.attributes as Record<string, unknown>;
    expect(() => {
      attributes.plan = 'free';
    }).toThrow(TypeError);
    expect(client.exposures[0]?.attributes).toEqual({ plan: 'pro' });
  });
});

describe('after close()', () => {
  it('changes throw a CLOSED XpError and call no listener', async () => {
    const client = testClient({ flags: { f: 'a' }, experiments: { e: 'control' } });
    await client.close();
    const calls: string[][] = [];
    client.onChange((flags) => {
      calls.push([...flags]);
    });
    const changes: [string, () => unknown][] = [
      ['setFlag', () => { client.setFlag('f', 'b'); }],
      ['setExperiment', () => { client.setExperiment('e', 'treatment'); }],
      ['removeFlag', () => client.removeFlag('f')],
      ['removeExperiment', () => client.removeExperiment('e')],
    ];
    for (const [method, change] of changes) {
      const e = thrown(change);
      expect(e.code).toBe(XpErrorCode.Closed);
      expect(e.message).toBe(`xp testing: ${method}() after close(): a closed client takes no new flags or experiments (create a new test client)`);
    }
    expect(calls).toEqual([]);
    // It serves what it served, as a closed real client does.
    expect(client.getValue('f', 'u1', '')).toBe('a');
  });
});

describe('strict mode through OpenFeature', () => {
  it('surfaces as the provider error FLAG_NOT_FOUND, with the did-you-mean message (as documented)', async () => {
    const client = testClient({ flags: { 'new-nav': true }, strict: true });
    await OpenFeature.setProviderAndWait(new XpServerProvider(client));
    const details = await OpenFeature.getClient().getBooleanDetails('new-nva', false, { targetingKey: 'user-1' });
    expect([details.value, details.reason, details.errorCode]).toEqual([false, 'ERROR', 'FLAG_NOT_FOUND']);
    expect(details.errorMessage).toBe('xp testing: flag "new-nva" is not configured in this strict test client (did you mean "new-nav"?); configured flags: "new-nav"');
    expect(() => client.getValue('new-nva', 'user-1', false)).toThrow(NotConfiguredError);
  });
});
