import { describe, expect, it } from 'vitest';
import { compileRuleset } from '../../model/compile-ruleset.js';
import { experimentSchema, holdoutSchema } from '../../model/experiment.js';
import { flagSchema } from '../../model/flag.js';
import type { FlagInput } from '../../model/flag.js';
import { rulesetEnvelopeSchema, rulesetExperimentSchema, rulesetFlagSchema, rulesetHoldoutSchema, rulesetSchema } from '../../model/ruleset.js';
import { segmentSchema } from '../../model/segment.js';
import { evaluateFlag } from '../evaluate.js';
import { checkRuleset, checkRulesetEnvelope, checkRulesetExperiment, checkRulesetFlag, checkRulesetHoldout } from '../ruleset-validator.js';
import { readSpec } from './load-spec.js';
import { seededRandom } from '../../random.js';

/**
 * The hand-written validator (what evaluation and the SDK use) against the zod schemas (what the
 * backend uses): both must accept exactly the same documents, entries included.
 */

type Doc = Record<string, unknown>;

interface ZodLike {
  safeParse(value: unknown): { success: boolean };
}

const PAIRS: readonly (readonly [string, (v: unknown) => string[], ZodLike])[] = [
  ['envelope', (v) => checkRulesetEnvelope(v), rulesetEnvelopeSchema],
  ['ruleset', (v) => checkRuleset(v), rulesetSchema],
];
const ENTRY_PAIRS: Readonly<Record<string, readonly [(v: unknown) => string[], ZodLike]>> = {
  flags: [(v) => checkRulesetFlag(v), rulesetFlagSchema],
  experiments: [(v) => checkRulesetExperiment(v), rulesetExperimentSchema],
  holdouts: [(v) => checkRulesetHoldout(v), rulesetHoldoutSchema],
};

interface Tally {
  compared: number;
  valid: number;
  mismatches: string[];
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (v === undefined ? '<undefined>' : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)).slice(0, 400);
  } catch {
    return String(value);
  }
}

/** Compares one value; returns zod's verdict. */
function compareOne(tally: Tally, what: string, value: unknown, check: (v: unknown) => string[], schema: ZodLike): boolean {
  const problems = check(value);
  const zodValid = schema.safeParse(value).success;
  tally.compared++;
  if (zodValid) {
    tally.valid++;
  }
  if ((problems.length === 0) !== zodValid) {
    tally.mismatches.push(`${what}: zod ${zodValid ? 'accepts' : 'rejects'}, validator ${problems.length === 0 ? 'accepts' : `rejects (${problems.join('; ')})`}: ${show(value)}`);
  }
  for (const p of problems) {
    if (!/^[^\s:][^:]*: ./.test(p)) {
      tally.mismatches.push(`${what}: problem without a path: "${p}"`);
    }
  }
  return zodValid;
}

/**
 * Compares the whole document and, where the containers are objects, the entries in them (all of
 * them, or those `only` names as "container.key"). Returns whether zod accepts the whole document.
 */
function compare(tally: Tally, doc: unknown, only?: ReadonlySet<string>): boolean {
  let valid = false;
  for (const [what, check, schema] of PAIRS) {
    valid = compareOne(tally, what, doc, check, schema);
  }
  if (typeof doc !== 'object' || doc === null) {
    return valid;
  }
  for (const [container, [check, schema]] of Object.entries(ENTRY_PAIRS)) {
    const entries = (doc as Doc)[container];
    if (typeof entries === 'object' && entries !== null) {
      for (const [key, entry] of Object.entries(entries)) {
        if (only === undefined || only.has(`${container}.${key}`)) {
          compareOne(tally, `${container}.${key}`, entry, check, schema);
        }
      }
    }
  }
  return valid;
}

const MUTANTS = 3000;
const newTally = (): Tally => ({ compared: 0, valid: 0, mismatches: [] });

// --- the documents ---------------------------------------------------------------------------

const spec = readSpec('evaluate-flag.json') as { rulesets: Record<string, unknown>; cases: { rulesetInline?: unknown }[] };
const specRulesets: unknown[] = [...Object.values(spec.rulesets), ...spec.cases.filter((c) => 'rulesetInline' in c).map((c) => c.rulesetInline)];

const NOW = new Date('2026-11-25T12:00:00Z');

function flagInput(key: string, rules: NonNullable<FlagInput['environments']>[string]['rules'], extra: Partial<FlagInput> = {}): FlagInput {
  return {
    key,
    name: key,
    type: 'string',
    variations: [
      { key: 'old', value: 'old' },
      { key: 'new', value: 'new' },
      { key: 'other', value: 'other' },
    ],
    environments: { production: { enabled: true, defaultVariation: 'old', offVariation: 'old', rules } },
    ...extra,
  };
}

/** Rulesets compiled from model definitions that use every construct the ruleset can hold. */
function compiledRulesets(): unknown[] {
  const segments = [
    segmentSchema.parse({ key: 'beta', name: 'Beta', type: 'ids', values: ['u1', 'u2', 3] }),
    segmentSchema.parse({ key: 'eu', name: 'EU', type: 'condition', condition: { region: { $in: ['eu', 'uk'] } } }),
  ];
  const holdouts = [holdoutSchema.parse({ key: 'global', name: 'Global', coverage: 0.05 })];
  const experiments = [
    experimentSchema.parse({
      key: 'checkout-test',
      name: 'Checkout test',
      status: 'running',
      variations: [
        { key: 'old', weight: 1, value: { layout: 'a' } },
        { key: 'new', weight: 3 },
      ],
      namespace: { id: 'checkout', range: [0, 0.5] },
      holdout: 'global',
      stickyBucketing: { enabled: true, bucketVersion: 2, minBucketVersion: 1 },
      segments: ['eu'],
      condition: { plan: 'pro' },
      fallbackAttribute: 'deviceId',
      allowUrlOverride: false,
    }),
    experimentSchema.parse({
      key: 'landing',
      name: 'Landing',
      type: 'split-url',
      status: 'stopped',
      winner: 'b',
      releaseWinner: true,
      variations: [
        { key: 'a', url: 'https://example.com/a' },
        { key: 'b', url: 'https://example.com/b' },
      ],
    }),
    experimentSchema.parse({
      key: 'mvt',
      name: 'Multivariate',
      type: 'multivariate',
      status: 'running',
      factors: [
        { key: 'color', levels: [{ key: 'red', value: 'red' }, { key: 'blue', value: 'blue' }] },
        { key: 'size', levels: [{ key: 's', value: 1 }, { key: 'l', value: 2 }] },
      ],
    }),
  ];
  const flags = [
    flagSchema.parse(
      flagInput('checkout', [
        { id: 'staff', type: 'force', variation: 'new', segments: ['beta'], excludeSegments: ['eu'], activeFrom: '2026-01-01T00:00:00Z', activeUntil: '2027-01-01T00:00:00Z' },
        {
          id: 'ramp',
          type: 'rollout',
          variation: 'new',
          coverage: 0.25,
          fallbackAttribute: 'deviceId',
          schedule: [
            { at: '2026-12-01T00:00:00Z', coverage: 0.5 },
            { at: '2026-11-01T00:00:00Z', coverage: 0.1 },
          ],
        },
        { id: 'split', type: 'split', hashVersion: 1, seed: 's', distribution: [{ variation: 'old', weight: 0.5 }, { variation: 'other', weight: 0.5 }] },
        { id: 'exp', type: 'experiment', experiment: 'checkout-test' },
        { id: 'landing', type: 'experiment', experiment: 'landing', variations: { a: 'old', b: 'new' } },
        { id: 'off', type: 'force', variation: 'other', enabled: false },
      ]),
    ),
    flagSchema.parse(flagInput('gate', [{ id: 'mvt', type: 'experiment', experiment: 'mvt', variations: { 'color-red.size-s': 'old', 'color-red.size-l': 'new', 'color-blue.size-s': 'other', 'color-blue.size-l': 'old' } }])),
    flagSchema.parse({
      ...flagInput('dependent', [{ id: 'all', type: 'force', variation: 'new', condition: { 'user.tags': { $elemMatch: { $eq: 'x' } } } }]),
      environments: {
        production: { enabled: true, defaultVariation: 'old', offVariation: 'other', prerequisites: [{ flag: 'checkout', variation: 'new' }], rules: [] },
        staging: { enabled: false, defaultVariation: 'old', offVariation: 'old' },
      },
    }),
    flagSchema.parse({ key: 'json-flag', name: 'JSON', type: 'json', variations: [{ key: 'a', value: { nested: [1, 'two', null, { deep: true }] } }, { key: 'b', value: [] }] }),
  ];
  return ['production', 'staging', 'development'].map((environment, i) =>
    compileRuleset({ environment, version: i * 7, generatedAt: NOW, flags, segments, experiments, holdouts }),
  );
}

// --- deterministic mutations -----------------------------------------------------------------

const prng = seededRandom;

class Unit {
  constructor(readonly id: string) {}
}

/** Replacement values: wrong types, boundary and out-of-range numbers and strings, odd objects. */
const REPLACEMENTS: readonly (() => unknown)[] = [
  () => undefined,
  () => null,
  () => true,
  () => false,
  () => 0,
  () => -0,
  () => 1,
  () => 2,
  () => 3,
  () => -1,
  () => 0.5,
  () => 1.5,
  () => 1e-9,
  () => 63,
  () => 64,
  () => 99,
  () => 100,
  () => 1_700_000_000_000,
  () => Number.MAX_SAFE_INTEGER,
  () => 2 ** 53,
  () => -(2 ** 53),
  () => Number.NaN,
  () => Number.POSITIVE_INFINITY,
  () => Number.NEGATIVE_INFINITY,
  () => '',
  () => 'a',
  () => 'ok.key_1-2',
  () => '-starts-with-dash',
  () => 'has space',
  () => 'force',
  () => 'rollout',
  () => 'split',
  () => 'experiment',
  () => 'id',
  () => 'x'.repeat(64),
  () => 'x'.repeat(65),
  () => 'x'.repeat(128),
  () => 'x'.repeat(129),
  () => 'x'.repeat(256),
  () => 'x'.repeat(257),
  () => 'x'.repeat(2048),
  () => 'x'.repeat(2049),
  () => [],
  () => [1],
  () => [0.5, 0.5],
  () => ['a', 'b'],
  () => [0, 0.5],
  () => [1, 0.5, 'z'],
  () => ['ns', 0, 1],
  () => [[1, 0.5]],
  () => ({}),
  () => ({ a: 1 }),
  () => ({ key: 'a', value: 1 }),
  () => ({ flag: 'a', variation: 'b' }),
  () => ({ bucketVersion: 1, minBucketVersion: 0 }),
  () => ({ hashAttribute: 'id', seed: 's', coverage: 0.1 }),
  () => ({ $gt: 1 }),
  () => Object.create(null) as unknown,
  () => new Unit('u1'),
  () => new Date(0),
  () => [, 1],
  () => () => 1,
  () => Symbol('s'),
  () => 10n,
];

const EXTRA_KEYS = ['extra', 'on', 'type', 'weights', 'id', 'value', 'url', 'condition', 'constructor', '__proto__', 'toString', '-bad', ''];
const LENGTHS = [0, 1, 2, 19, 20, 21, 49, 50, 51, 63, 64, 65, 99, 100, 101, 499, 500, 501];

type Container = Record<string, unknown> | unknown[];

interface Node {
  readonly value: Container;
  /** Replaces the node in its parent (undefined for the root). */
  readonly replace: ((v: unknown) => void) | undefined;
  /** The path from the root, e.g. ["flags", "checkout", "rules", "0"]. */
  readonly path: readonly string[];
}

/** Every object and array in the document. */
function nodes(root: Container): Node[] {
  const out: Node[] = [{ value: root, replace: undefined, path: [] }];
  const walk = (node: Container, path: readonly string[]): void => {
    for (const [k, v] of Object.entries(node)) {
      if (typeof v === 'object' && v !== null) {
        const container = v as Container;
        out.push({
          value: container,
          replace: (next) => {
            (node as Record<string, unknown>)[k] = next;
          },
          path: [...path, k],
        });
        walk(container, [...path, k]);
      }
    }
  };
  walk(root, []);
  return out;
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

/**
 * Applies one random mutation somewhere in `doc` (in place); returns the path of the node it
 * picked (the mutation is at or directly under it).
 */
function mutate(doc: Container, rand: () => number): readonly string[] {
  const all = nodes(doc);
  const { value: node, replace, path } = pick(rand, all);
  apply(node, replace, rand);
  return path;
}

function apply(node: Container, replace: Node['replace'], rand: () => number): void {
  const keys = Object.keys(node);
  const op = Math.floor(rand() * 8);
  if (Array.isArray(node)) {
    switch (op) {
      case 0:
        node.length = 0;
        return;
      case 1:
        if (node.length > 0) {
          node.splice(Math.floor(rand() * node.length), 1);
        }
        return;
      case 2: {
        // Grow or shrink to a length at or around a bound, repeating items.
        const target = pick(rand, LENGTHS);
        const items = node.length === 0 ? [pick(rand, REPLACEMENTS)()] : [...node];
        node.length = 0;
        for (let i = 0; i < target; i++) {
          node.push(copyOf(items[i % items.length]));
        }
        return;
      }
      case 3:
        replace?.(Object.assign({}, node));
        return;
      default:
        if (node.length > 0) {
          node[Math.floor(rand() * node.length)] = pick(rand, REPLACEMENTS)();
        } else {
          node.push(pick(rand, REPLACEMENTS)());
        }
        return;
    }
  }
  switch (op) {
    case 0:
      if (keys.length > 0) {
        Reflect.deleteProperty(node, pick(rand, keys));
      }
      return;
    case 1: {
      const extra = pick(rand, EXTRA_KEYS);
      // An own "__proto__" key, as JSON.parse creates one.
      Object.defineProperty(node, extra, { value: pick(rand, REPLACEMENTS)(), enumerable: true, writable: true, configurable: true });
      return;
    }
    case 2:
      if (keys.length > 0) {
        node[pick(rand, keys)] = undefined;
      }
      return;
    case 3:
      replace?.(pick(rand, REPLACEMENTS)());
      return;
    case 4:
      // Same content, odd prototype: no prototype, or a class instance.
      replace?.(rand() < 0.5 ? Object.assign(Object.create(null) as object, node) : Object.assign(new Unit('x'), node));
      return;
    default:
      if (keys.length > 0) {
        node[pick(rand, keys)] = pick(rand, REPLACEMENTS)();
      }
      return;
  }
}

/**
 * A copy of an item to repeat: structured-cloned, or the item itself when it cannot be (a symbol or
 * a function among the replacements, or an object holding one): those hold no state to share.
 */
function copyOf(item: unknown): unknown {
  try {
    return structuredClone(item);
  } catch {
    return item;
  }
}

/** Structured-clones a JSON-shaped document (the bases are plain JSON). */
const clone = <T>(v: T): T => structuredClone(v);

type Path = readonly (string | number)[];

function get(root: unknown, path: Path): unknown {
  return path.reduce<unknown>((node, k) => (node as Record<string | number, unknown>)[k], root);
}

/** Paths to every node under `root`: containers (objects, arrays) and leaves. */
function paths(root: unknown): { containers: Path[]; leaves: Path[] } {
  const containers: Path[] = [];
  const leaves: Path[] = [];
  const walk = (node: unknown, path: Path): void => {
    if (typeof node !== 'object' || node === null) {
      leaves.push(path);
      return;
    }
    containers.push(path);
    for (const [k, v] of Object.entries(node)) {
      walk(v, [...path, Array.isArray(node) ? Number(k) : k]);
    }
  };
  walk(root, []);
  return { containers, leaves };
}

/**
 * Every single-step mutation of `root`, systematically: each leaf replaced by each replacement
 * value, each key dropped, each extra key added, each array resized to each bound, each container
 * swapped for a same-content object with another prototype, or for each replacement value.
 */
function* sweep(root: unknown): Generator {
  const { containers, leaves } = paths(root);
  /** A fresh copy with `edit` applied to the node at `path`'s parent (the root has none). */
  const variant = (path: Path, edit: (parent: Record<string | number, unknown>, key: string | number) => void): unknown => {
    const copy = { root: clone(root) };
    const full: Path = ['root', ...path];
    edit(get(copy, full.slice(0, -1)) as Record<string | number, unknown>, full[full.length - 1]!);
    return copy.root;
  };
  for (const path of [...leaves, ...containers]) {
    for (const make of REPLACEMENTS) {
      yield variant(path, (parent, key) => {
        parent[key] = make();
      });
    }
  }
  for (const path of containers) {
    const node = get(root, path) as Container;
    if (Array.isArray(node)) {
      for (const length of LENGTHS) {
        yield variant(path, (parent, key) => {
          const items = node.length === 0 ? [1] : node;
          parent[key] = Array.from({ length }, (_, i) => clone(items[i % items.length]));
        });
      }
      continue;
    }
    for (const k of Object.keys(node)) {
      yield variant(path, (parent, key) => {
        Reflect.deleteProperty(parent[key] as object, k);
      });
    }
    // Extra keys holding 1, and holding a copy of a sibling (so only the key itself can be wrong).
    const siblings = Object.values(node);
    for (const extra of EXTRA_KEYS) {
      for (const value of siblings.length === 0 ? [1] : [1, siblings[0]]) {
        yield variant(path, (parent, key) => {
          Object.defineProperty(parent[key], extra, { value: clone(value), enumerable: true, writable: true, configurable: true });
        });
      }
    }
    yield variant(path, (parent, key) => {
      parent[key] = Object.assign(Object.create(null) as object, parent[key]);
    });
    yield variant(path, (parent, key) => {
      parent[key] = Object.assign(new Unit('x'), parent[key]);
    });
  }
}

// --- the tests -------------------------------------------------------------------------------

describe('ruleset validator agrees with the zod schemas', () => {
  const bases = [...specRulesets, ...compiledRulesets()].filter((d) => typeof d === 'object' && d !== null);

  it('on every ruleset in shared/spec/evaluate-flag.json', () => {
    const tally = newTally();
    for (const doc of specRulesets) {
      compare(tally, doc);
    }
    expect(tally.mismatches).toEqual([]);
    expect(specRulesets.length).toBeGreaterThanOrEqual(8);
    expect(tally.valid).toBeGreaterThan(20);
    expect(tally.valid).toBeLessThan(tally.compared);
  });

  it('on rulesets from compileRuleset', () => {
    const tally = newTally();
    for (const doc of compiledRulesets()) {
      compare(tally, doc);
      expect(checkRuleset(doc)).toEqual([]);
    }
    expect(tally.mismatches).toEqual([]);
  });

  it('on 3,000 deterministic random mutations of them', () => {
    const rand = prng(0x5eed);
    const tally = newTally();
    let documents = 0;
    let validDocuments = 0;
    for (let n = 0; n < MUTANTS; n++) {
      const doc = clone(pick(rand, bases)) as Container;
      const steps = 1 + Math.floor(rand() * 3);
      // Entries were all compared unmutated above: compare the ones a mutation may have touched.
      const touched = new Set<string>();
      for (let s = 0; s < steps; s++) {
        const path = mutate(doc, rand);
        if (path.length === 1) {
          const entries = (doc as Doc)[path[0]!];
          Object.keys(typeof entries === 'object' && entries !== null ? entries : {}).forEach((k) => touched.add(`${path[0]!}.${k}`));
        } else if (path.length >= 2) {
          touched.add(`${path[0]!}.${path[1]!}`);
        }
      }
      documents++;
      validDocuments += compare(tally, doc, touched) ? 1 : 0;
    }
    expect(tally.mismatches.slice(0, 10)).toEqual([]);
    // Not vacuous: plenty of mutants stay valid and plenty do not, whole documents and entries.
    expect(documents).toBe(MUTANTS);
    expect(validDocuments).toBeGreaterThan(MUTANTS / 30);
    expect(validDocuments).toBeLessThan(MUTANTS * 0.9);
    expect(tally.compared).toBeGreaterThan(MUTANTS * 3);
    // About a fifth of the compared entries stay valid (19.2% with the corpus of December 2026): a
    // sixth leaves room for the corpus to grow without the mix turning vacuous.
    expect(tally.valid).toBeGreaterThan(tally.compared / 6);
    expect(tally.valid).toBeLessThan(tally.compared * 0.8);
  });

  it('on every single-step mutation of every entry of a compiled ruleset and of the envelope', () => {
    const tally = newTally();
    const doc = compiledRulesets()[0] as Doc;
    for (const [container, [check, schema]] of Object.entries(ENTRY_PAIRS)) {
      for (const [key, entry] of Object.entries(doc[container] as Doc)) {
        for (const mutant of sweep(entry)) {
          compareOne(tally, `${container}.${key}`, mutant, check, schema);
        }
      }
    }
    // The envelope: the same sweep over a document whose entries are tiny, so both whole-document checks stay fast.
    const small = { ...spec.rulesets.main as Doc, flags: { a: { variations: [{ key: 'a', value: 1 }], default: 0, off: 0 } }, experiments: {}, holdouts: { h: { hashAttribute: 'id', seed: '', coverage: 0 } } };
    for (const mutant of sweep(small)) {
      compare(tally, mutant);
    }
    expect(tally.mismatches.slice(0, 10)).toEqual([]);
    expect(tally.compared).toBeGreaterThan(10_000);
    expect(tally.valid).toBeGreaterThan(tally.compared / 10);
  });

  it('on values JSON cannot express: symbol and non-enumerable keys, inherited keys, holes', () => {
    const base = clone(compiledRulesets()[0]) as Doc;
    const flags = base.flags as Record<string, Doc>;
    const withSymbol = clone(base);
    (withSymbol.flags as Record<symbol, unknown>)[Symbol('s')] = {};
    const conditionSymbol = clone(flags.checkout!);
    ((conditionSymbol.rules as Doc[])[0]!.condition as Record<symbol, unknown>)[Symbol('c')] = 1;
    const hidden = clone(base);
    Object.defineProperty(hidden, 'extra', { value: 1, enumerable: false });
    const inherited = Object.assign(Object.create({ extra: 1 }) as Doc, base);
    const { schemaVersion: _inheritedInstead, ...withoutVersion } = base;
    const inheritedRequired = Object.assign(Object.create({ schemaVersion: 1 }) as Doc, withoutVersion);
    const hole = clone(flags.checkout!);
    (hole.variations as unknown[]).length = 4;
    const protoKey = JSON.parse('{"__proto__": 5}') as unknown;
    const protoFlag = clone(base);
    (protoFlag.flags as Doc) = JSON.parse('{"__proto__": {"bad": true}}') as Doc;
    const tally = newTally();
    for (const doc of [withSymbol, hidden, inherited, inheritedRequired, protoFlag]) {
      compare(tally, doc);
    }
    for (const entry of [conditionSymbol, hole, protoKey, { ...flags.checkout, variations: [{ key: 'a', value: protoKey }] }]) {
      compareOne(tally, 'flag', entry, (v) => checkRulesetFlag(v), rulesetFlagSchema);
    }
    expect(tally.mismatches).toEqual([]);
  });
});

describe('ruleset validator messages', () => {
  it('name the field path, as formatIssues does', () => {
    const doc = clone(compiledRulesets()[0]) as Doc;
    const checkout = (doc.flags as Record<string, Doc>).checkout!;
    (checkout.rules as Doc[])[1]!.coverage = 2;
    checkout.colour = 'red';
    (doc.experiments as Record<string, Doc>)['checkout-test']!.namespace = ['ns', 0];

    expect(checkRuleset(doc)).toEqual([
      'ruleset.flags.checkout.rules[1].coverage: must be between 0 and 1',
      'ruleset.flags.checkout.colour: unknown key',
      'ruleset.experiments.checkout-test.namespace: must hold 3 items',
    ]);
    expect(checkRulesetEnvelope({ ...doc, version: -1, flags: [] })).toEqual(['ruleset.version: must be at least 0', 'ruleset.flags: expected an object']);
    expect(checkRulesetEnvelope('nope', '')).toEqual(['(root): expected an object']);
    expect(checkRulesetFlag({ variations: [{ key: 'bad key', value: 1 }], default: 0 }, 'flags.x')).toEqual([
      'flags.x.variations[0].key: must match /^[A-Za-z0-9][A-Za-z0-9_.-]*$/',
      'flags.x.off: required',
    ]);
  });

  it('reach evaluation results', () => {
    const doc = clone(compiledRulesets()[0]) as Doc;
    ((doc.flags as Record<string, Doc>).checkout!.rules as Doc[])[0]!.variation = -1;

    expect(evaluateFlag(doc, 'checkout', { attributes: { id: 'u1' } })).toMatchObject({
      reason: 'ERROR',
      errorCode: 'PARSE_ERROR',
      errorMessage: 'flags.checkout.rules[0].variation: must be at least 0',
    });
    expect(evaluateFlag(doc, 'gate', { attributes: { id: 'u1' } }).errorCode).toBeUndefined();
  });
});
