/**
 * The public types as an application uses them. This file is type-checked by `tsc --build` (it is
 * under src): a declaration that stops compiling fails the build, so most assertions here are
 * compile-time ones; the runtime ones check that the values match the types.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import type { JsonValue } from '../client.js';
import type { ChangeListener, EvaluationDetails, FlushResult, RulesetSnapshot } from '../types.js';
import { makeRuleset, recordingLogger } from './fixtures.js';

/** True only when A and B are assignable to each other (`false` is not `boolean`). */
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** Limits as an app would type them: an interface, which has no index signature. */
interface Limits {
  readonly max: number;
  readonly tiers?: readonly string[];
}

function offline(): ExperimentationClient {
  return new ExperimentationClient('', { bootstrap: makeRuleset(1), logger: recordingLogger() });
}

describe('typings', () => {
  it('evaluate() widens a boolean, string or number default as getValue() does', () => {
    const c = offline();

    const flag = c.evaluate('checkout', 'u1', true);
    const color = c.evaluate('color', 'u1', 'red');
    const count = c.evaluate('missing', 'u1', 10);
    const _flagIsBoolean: Equal<typeof flag.value, boolean> = true;
    const _colorIsString: Equal<typeof color.value, string> = true;
    const _countIsNumber: Equal<typeof count.value, number> = true;
    const _detailsOfBoolean: Equal<typeof flag, EvaluationDetails<boolean>> = true;
    // Each compiled to TS2367 ("no overlap") or TS2322 while the default's literal was the type.
    const off: typeof flag.value = !flag.value;
    const green = color.value === 'green';
    const eleven = count.value === 11;

    expect([off, green, eleven]).toEqual([true, false, false]);
    expect(flag.value).toBe(false);
  });

  it('evaluate() without a default gives any JSON value, with or without options', () => {
    const c = offline();

    const plain = c.evaluate('color', 'u1');
    const explained = c.evaluate('color', 'u1', undefined, { explain: true });
    const _plainIsJson: Equal<typeof plain.value, JsonValue> = true;
    const _explainedIsJson: Equal<typeof explained.value, JsonValue> = true;

    expect(plain.value).toBe('blue');
    expect(explained.trace).toBeDefined();
  });

  it('getValue() and evaluate() take a default typed with an interface, and give that type back', () => {
    const c = offline();
    const fallback: Limits = { max: 0 };

    const limits = c.getValue('limits', 'u1', fallback);
    const details = c.evaluate('limits', 'u1', fallback);
    const explicit = c.getValue<Limits>('limits', 'u1', { max: 1, tiers: ['pro'] });
    const _limitsIsLimits: Equal<typeof limits, Limits> = true;
    const _detailsOfLimits: Equal<typeof details.value, Limits> = true;
    const _explicitIsLimits: Equal<typeof explicit, Limits> = true;
    const list = c.getValue('missing', 'u1', ['a', 'b']);
    const _listIsStrings: Equal<typeof list, string[]> = true;

    expect(limits.max).toBe(3);
    expect(explicit).toEqual({ max: 3 });
    expect(details.value).toEqual({ max: 3 });
    expect(list).toEqual(['a', 'b']);
  });

  it('keeps primitive widening for unions and a null default, and passes generic JSON through', () => {
    const c = offline();
    const shade = 'red' as 'red' | 'blue';
    const json = JSON.parse('{"max":0}') as JsonValue;

    const color = c.getValue('color', 'u1', shade);
    const any = c.getValue('limits', 'u1', null);
    const same = c.getValue('limits', 'u1', json);
    const passThrough = <T extends JsonValue>(value: T): T => c.evaluate('limits', 'u1', value).value;
    const _unionIsString: Equal<typeof color, string> = true;
    const _nullGivesJson: Equal<typeof any, JsonValue> = true;
    const _jsonGivesJson: Equal<typeof same, JsonValue> = true;

    expect(color).toBe('blue');
    expect(any).toEqual({ max: 3 });
    expect(same).toEqual({ max: 3 });
    expect(passThrough({ max: 1 })).toEqual({ max: 3 });
  });

  it('refuses defaults that cannot be JSON', () => {
    const c = offline();

    // @ts-expect-error -- a function is no flag default
    expect(c.getValue('color', 'u1', () => 'red')).toBeTypeOf('function');
    // @ts-expect-error -- neither is undefined (omit the default of evaluate() instead)
    expect(c.getValue('color', 'u1', undefined)).toBe('blue');
    // @ts-expect-error -- nor a symbol
    expect(c.evaluate('color', 'u1', Symbol('x')).reason).toBe('ERROR');
  });

  it('types a change listener as sync or async', () => {
    const sync: ChangeListener = () => undefined;
    const async: ChangeListener = async () => {
      await Promise.resolve();
    };
    const _listenerMayReturnAnything: Equal<ReturnType<ChangeListener>, unknown> = true;

    expect([sync, async]).toHaveLength(2);
  });

  it('types getSnapshot() as a ruleset or undefined (before any ruleset), and flush() with its result, which callers of the former Promise<void> can ignore', async () => {
    const c = offline();
    const none = new ExperimentationClient('', { logger: recordingLogger() });

    const snapshot = c.getSnapshot();
    const _snapshotMayBeUndefined: Equal<typeof snapshot, RulesetSnapshot | undefined> = true;
    // @ts-expect-error -- possibly undefined: guard it (`?? null` for a page)
    expect(snapshot.version).toBe(1);
    expect(none.getSnapshot()).toBeUndefined();
    const flushed = await c.flush();
    const _flushResult: Equal<typeof flushed, FlushResult> = true;
    // What callers of the former Promise<void> do still compiles.
    const legacy = async (): Promise<void> => {
      await c.flush();
    };

    expect(flushed).toEqual({ delivered: 0, queued: 0 });
    await expect(legacy()).resolves.toBeUndefined();
  });

  it('gives every package export its declarations; the single-file ES module those of the browser entry it is bundled from', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, { types?: string }> };

    expect(Object.entries(pkg.exports).filter(([, conditions]) => conditions.types === undefined)).toEqual([]);
    expect(pkg.exports['./browser.mjs']?.types).toBe(pkg.exports['./browser']?.types);
  });
});
