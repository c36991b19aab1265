import { describe, expect, it } from 'vitest';
import { evaluateExperiment, evaluateFlag, resolveSplitUrl } from '../evaluate.js';
import type { EvaluationContext, EvaluationOptions, StickyBucketStore } from '../types.js';
import type { SpecFile } from './load-spec.js';
import { readSpec } from './load-spec.js';

interface SpecContext extends Omit<EvaluationContext, 'stickyBuckets'> {
  stickyAssignments?: Record<string, Record<string, string>>;
}

interface FlagCase {
  ruleset?: string;
  rulesetInline?: unknown;
  flag: string;
  context: SpecContext;
  options?: EvaluationOptions;
  expected: Record<string, unknown>;
  expectedStickyAssignments?: Record<string, Record<string, string>>;
}

interface ExperimentCase {
  ruleset: string;
  experiment: string;
  context: SpecContext;
  splitUrl?: boolean;
  expected: Record<string, unknown>;
}

/** An in-memory sticky bucket store holding what the case provides. */
function memoryStore(initial: Record<string, Record<string, string>>): StickyBucketStore & { docs: Record<string, Record<string, string>> } {
  const docs = structuredClone(initial);
  return {
    docs,
    get: (attribute, value) => docs[`${attribute}||${value}`],
    set: (attribute, value, assignments) => {
      docs[`${attribute}||${value}`] = { ...assignments };
    },
  };
}

function toContext(raw: SpecContext): { context: EvaluationContext; store?: ReturnType<typeof memoryStore> } {
  if (typeof raw !== 'object' || raw.stickyAssignments === undefined) {
    return { context: raw };
  }
  const { stickyAssignments, ...rest } = raw;
  const store = memoryStore(stickyAssignments);
  return { context: { ...rest, stickyBuckets: store }, store };
}

const flagSpec = readSpec('evaluate-flag.json') as SpecFile<FlagCase> & { rulesets: Record<string, unknown> };
const MUST_BE_ABSENT = ['errorCode', 'ruleId', 'bucket', 'prerequisite'] as const;

describe('spec/evaluate-flag.json', () => {
  it('has the breadth the corpus promises', () => {
    expect(flagSpec.cases.length).toBeGreaterThanOrEqual(100);
  });

  it.each(flagSpec.cases)('$name', (c) => {
    const ruleset = c.ruleset === undefined ? c.rulesetInline : flagSpec.rulesets[c.ruleset];
    const { context, store } = toContext(c.context);

    const result = evaluateFlag(ruleset, c.flag, context, c.options);

    const { experiment, ...plain } = c.expected;
    expect(result).toMatchObject(plain);
    const unexpected = MUST_BE_ABSENT.filter((key) => !(key in c.expected) && result[key] !== undefined);
    expect(unexpected, 'fields that should be absent').toEqual([]);
    expect(result.experiment ?? {}).toMatchObject((experiment ?? {}));
    expect(store?.docs).toEqual(c.expectedStickyAssignments ?? store?.docs);
  });
});

describe('spec/experiments.json', () => {
  const spec = readSpec('experiments.json') as SpecFile<ExperimentCase>;
  it.each(spec.cases)('$name', (c) => {
    const { context } = toContext(c.context);
    const ruleset = flagSpec.rulesets[c.ruleset];

    const result = c.splitUrl === true ? resolveSplitUrl(ruleset, c.experiment, context) : evaluateExperiment(ruleset, c.experiment, context);

    expect(result).toMatchObject(c.expected);
    expect('errorCode' in c.expected || result.errorCode === undefined, 'no unexpected error').toBe(true);
  });
});

interface ExplainCase {
  ruleset: string;
  flag: string;
  context: EvaluationContext;
  expected: { value: unknown; reason: string; trace: unknown[] };
}

const explainSpec = readSpec('explain.json') as SpecFile<ExplainCase> & { rulesets: Record<string, unknown> };

describe('spec/explain.json', () => {
  it.each(explainSpec.cases)('$name', (c) => {
    const result = evaluateFlag(explainSpec.rulesets[c.ruleset], c.flag, c.context, { explain: true });
    expect({ value: result.value, reason: result.reason, trace: result.trace }).toEqual(c.expected);
  });
});
