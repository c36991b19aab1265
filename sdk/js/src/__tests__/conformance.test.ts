import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../client.js';
import type { JsonValue } from '../client.js';
import { RulesetError } from '../errors.js';
import { loadRuleset } from '../ruleset-state.js';
import { MemoryStickyBucketStore } from '../stores/memory-store.js';
import { SdkErrorCode } from '../types.js';
import type { UserContext } from '../types.js';
import { recordingLogger } from './fixtures.js';

/** The shared corpus, read from shared/spec (no copy), run through the SDK's public API. */
function readSpec(file: string): any {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../../../shared/spec/${file}`, import.meta.url)), 'utf8'));
}

type Sticky = Record<string, Record<string, string>>;
interface SpecContext {
  attributes?: unknown;
  now?: number;
  url?: string;
  forcedVariations?: Record<string, string | number>;
  stickyAssignments?: Sticky;
}

const flagSpec = readSpec('evaluate-flag.json');
const experimentSpec = readSpec('experiments.json');
const MUST_BE_ABSENT = ['errorCode', 'ruleId', 'bucket', 'prerequisite'] as const;

/** The corpus context as an SDK user; undefined when the SDK's user model cannot express it (not an object). */
function toUser(context: SpecContext): UserContext | undefined {
  if (typeof context !== 'object' || typeof context.attributes !== 'object' || context.attributes === null || Array.isArray(context.attributes)) {
    return context.attributes === undefined && typeof context === 'object' ? {} : undefined;
  }
  return {
    attributes: context.attributes as Record<string, unknown>,
    ...(context.url === undefined ? {} : { url: context.url }),
    ...(context.forcedVariations === undefined ? {} : { forcedVariations: context.forcedVariations }),
  };
}

function clientFor(ruleset: unknown, context: SpecContext): { client: ExperimentationClient; store: MemoryStickyBucketStore | undefined } {
  const store = context.stickyAssignments === undefined ? undefined : new MemoryStickyBucketStore({ initial: context.stickyAssignments });
  const now = context.now;
  const client = new ExperimentationClient('', {
    bootstrap: ruleset,
    logger: recordingLogger(),
    ...(store === undefined ? {} : { stickyBucketStore: store }),
    ...(now === undefined ? {} : { now: () => now }),
  });
  return { client, store };
}

function storeContents(store: MemoryStickyBucketStore, keys: Iterable<string>): Sticky {
  const out: Sticky = {};
  for (const key of keys) {
    const [attribute, value] = key.split('||') as [string, string];
    const docs = store.get(attribute, value);
    if (docs !== undefined) {
      out[key] = { ...docs };
    }
  }
  return out;
}

interface FlagCase {
  name: string;
  ruleset?: string;
  rulesetInline?: unknown;
  flag: string;
  context: SpecContext;
  options?: { defaultValue?: JsonValue };
  expected: Record<string, unknown>;
  expectedStickyAssignments?: Sticky;
}

interface ExperimentCase {
  name: string;
  ruleset: string;
  experiment: string;
  context: SpecContext;
  splitUrl?: boolean;
  expected: Record<string, unknown>;
}

const rulesetOf = (c: FlagCase): unknown => (c.ruleset === undefined ? c.rulesetInline : flagSpec.rulesets[c.ruleset]);

describe('shared/spec/evaluate-flag.json through ExperimentationClient.evaluate', () => {
  const mapped = (flagSpec.cases as FlagCase[]).filter((c) => toUser(c.context) !== undefined);
  const accepted = mapped.filter((c) => !(loadRuleset(rulesetOf(c)) instanceof RulesetError));
  const refused = mapped.filter((c) => loadRuleset(rulesetOf(c)) instanceof RulesetError);

  it('maps all but the cases whose context is not an object', () => {
    expect(flagSpec.cases.length - mapped.length).toBeLessThanOrEqual(4);
    expect(accepted.length).toBeGreaterThanOrEqual(140);
  });

  it.each(accepted)('$name', async (c) => {
    const { client, store } = clientFor(rulesetOf(c), c.context);

    const result = client.evaluate(c.flag, toUser(c.context)!, c.options?.defaultValue);

    const { experiment, ...plain } = c.expected;
    expect(result).toMatchObject(plain);
    const unexpected = MUST_BE_ABSENT.filter((key) => !(key in c.expected) && result[key] !== undefined);
    expect(unexpected, 'fields that should be absent').toEqual([]);
    expect(result.experiment ?? {}).toMatchObject(experiment ?? {});
    const expectedSticky = c.expectedStickyAssignments;
    const keys = Object.keys({ ...expectedSticky, ...c.context.stickyAssignments });
    expect(store === undefined || expectedSticky === undefined ? undefined : storeContents(store, keys)).toEqual(store === undefined ? undefined : expectedSticky);
    await client.close();
  });

  it.each(refused)('$name (ruleset refused at bootstrap: defaults, reason ERROR)', async (c) => {
    const { client } = clientFor(rulesetOf(c), c.context);

    const result = client.evaluate(c.flag, toUser(c.context)!, c.options?.defaultValue);

    expect(c.expected.errorCode).toBe('PARSE_ERROR');
    expect(result).toMatchObject({ value: c.expected.value, reason: 'ERROR', errorCode: SdkErrorCode.ProviderNotReady });
    await client.close();
  });
});

describe('shared/spec/experiments.json through getVariant / getExperiment', () => {
  const cases = (experimentSpec.cases as ExperimentCase[]).filter((c) => c.splitUrl !== true);

  it.each(cases)('$name', async (c) => {
    const { client } = clientFor(flagSpec.rulesets[c.ruleset], c.context);
    const user = toUser(c.context)!;

    const variant = client.getVariant(c.experiment, user);
    const details = client.getExperiment(c.experiment, user);

    expect(variant).toBe(c.expected.variationKey);
    expect(details).toMatchObject(c.expected);
    await client.close();
  });
});
