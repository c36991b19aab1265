import { regexBacktrackingRisk, regexBeyondLinearEngine, regexForeignGroup, regexForeignSyntax, regexLookbehindProblem, regexUnicodeEscape } from './regex-safety.js';
import { paddedVersionString } from './version.js';

/**
 * MongoDB-style targeting conditions, compiled once into predicate trees so that evaluation
 * allocates no closures or regular expressions. Semantics follow GrowthBook's SDK specification,
 * including its JavaScript coercions (see shared/spec/README.md).
 */

/** Saved groups (id-list segments) by key. */
export type SavedGroups = Readonly<Record<string, readonly unknown[] | ReadonlySet<unknown>>>;

/** A compiled condition: attributes in, match out. */
export type ConditionTest = (attributes: unknown, groups: SavedGroups) => boolean;
type ValueTest = (value: unknown, groups: SavedGroups) => boolean;

/** Collects problems with their paths; strict compilation turns them into evaluation errors. */
export interface ConditionProblems {
  readonly problems: string[];
}

const KNOWN_OPERATORS = new Set([
  '$eq', '$ne', '$lt', '$lte', '$gt', '$gte', '$exists', '$in', '$nin', '$inGroup', '$notInGroup', '$not',
  '$size', '$elemMatch', '$all', '$alli', '$ini', '$nini', '$regex', '$regexi', '$type', '$veq', '$vne', '$vgt', '$vgte', '$vlt', '$vlte',
]);
/** The names `$type` can match in both SDKs (getType's "undefined" and "unknown" are never JSON). */
const TYPE_NAMES = new Set(['string', 'number', 'boolean', 'array', 'object', 'null']);
const ESCAPE_SLASH = /([^\\])\//g;
const SET_THRESHOLD = 8;

const alwaysTrue: ConditionTest = () => true;
const alwaysFalse: ValueTest = () => false;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when every key starts with "$" (and there is at least one). */
export function isOperatorObject(v: Record<string, unknown>): boolean {
  const keys = Object.keys(v);
  if (keys.length === 0) {
    return false;
  }
  for (const k of keys) {
    if (!k.startsWith('$')) {
      return false;
    }
  }
  return true;
}

/** GrowthBook's $type names. */
export function getType(v: unknown): string {
  if (v === null) {
    return 'null';
  }
  if (Array.isArray(v)) {
    return 'array';
  }
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' || t === 'object' || t === 'undefined' ? t : 'unknown';
}

/**
 * A JavaScript Date given as an attribute (`{ signupDate: new Date() }`) compares as the ISO 8601
 * string conditions write dates in, to the second (`2026-06-01T00:00:00Z`: with milliseconds, the
 * instant `…00.000Z` would sort before `…00Z`), as the Python SDK turns datetimes; an invalid Date is absent.
 */
function dateAsString(v: unknown): unknown {
  return v instanceof Date ? dateInstant(v) : v;
}

/**
 * A Date as conditions and bucketing read it: `toISOString()` without its milliseconds
 * (`2026-06-01T00:00:00Z`, `+010000-01-01T00:00:00Z` for an extended year), the Python SDK's
 * `iso_second`; null for an invalid Date.
 */
export function dateInstant(d: Date): string | null {
  return Number.isNaN(d.getTime()) ? null : `${d.toISOString().slice(0, -5)}Z`;
}

/** Reads a dotted path; anything missing (or not an own property) reads as null. */
function compilePath(path: string): (obj: unknown) => unknown {
  const parts = path.split('.');
  if (parts.length === 1) {
    return (obj) => (typeof obj === 'object' && obj !== null && Object.hasOwn(obj, path) ? dateAsString((obj as Record<string, unknown>)[path]) : null);
  }
  return (obj) => {
    let current = obj;
    for (const part of parts) {
      if (typeof current === 'object' && current !== null && Object.hasOwn(current, part)) {
        current = (current as Record<string, unknown>)[part];
      } else {
        return null;
      }
    }
    return dateAsString(current);
  };
}

function jsonEquals(a: unknown, expectedJson: string): boolean {
  return JSON.stringify(a) === expectedJson;
}

function caseFold(v: unknown): unknown {
  return typeof v === 'string' ? v.toLowerCase() : v;
}

/** Membership of one value in the list (strict equality: an array or object is in no list). */
function makeMember(list: readonly unknown[]): (actual: unknown) => boolean {
  if (list.length > SET_THRESHOLD) {
    const set = new Set(list);
    return (actual) => set.has(actual);
  }
  return (actual) => list.includes(actual);
}

/**
 * Membership: an array attribute matches when any element is in the list (optionally case-folded,
 * the list then given folded). Only one level: an element that is itself an array equals nothing.
 */
function makeIn(list: readonly unknown[], insensitive = false): (actual: unknown) => boolean {
  const member = makeMember(list);
  const fold = insensitive ? caseFold : (v: unknown): unknown => v;
  return (actual) => {
    if (Array.isArray(actual)) {
      for (const el of actual) {
        if (member(fold(el))) {
          return true;
        }
      }
      return false;
    }
    return member(fold(actual));
  };
}

function groupHas(group: readonly unknown[] | ReadonlySet<unknown>, x: unknown): boolean {
  return Array.isArray(group) ? group.includes(x) : (group as ReadonlySet<unknown>).has(x);
}

function inGroup(actual: unknown, group: readonly unknown[] | ReadonlySet<unknown> | undefined): boolean {
  if (group === undefined) {
    return false;
  }
  if (Array.isArray(actual)) {
    for (const el of actual) {
      if (groupHas(group, el)) {
        return true;
      }
    }
    return false;
  }
  return groupHas(group, actual);
}

function any(tests: readonly ConditionTest[], obj: unknown, g: SavedGroups): boolean {
  for (const t of tests) {
    if (t(obj, g)) {
      return true;
    }
  }
  return false;
}

/** The class that compiles one condition tree, collecting problems by path. */
class Compiler {
  readonly problems: string[] = [];

  /**
   * `authoring`: also refuse regexes that can backtrack exponentially (see regex-safety.ts). Stored
   * rulesets are evaluated as they are, but for a counted group of repetitions (regexBeyondLinearEngine).
   */
  constructor(private readonly authoring = false) {}

  problem(path: string, message: string): void {
    this.problems.push(`${path}: ${message}`);
  }

  condition(cond: unknown, path: string): ConditionTest {
    if (!isPlainObject(cond)) {
      this.problem(path, 'a condition must be an object');
      return () => false;
    }
    const tests: ConditionTest[] = [];
    for (const [key, value] of Object.entries(cond)) {
      const at = `${path}.${key}`;
      switch (key) {
        case '$or': {
          const parts = this.list(value, at);
          tests.push(parts.length === 0 ? alwaysTrue : (obj, g) => any(parts, obj, g));
          break;
        }
        case '$nor': {
          const parts = this.list(value, at);
          tests.push(parts.length === 0 ? () => false : (obj, g) => !any(parts, obj, g));
          break;
        }
        case '$and': {
          const parts = this.list(value, at);
          tests.push(combine(parts));
          break;
        }
        case '$not': {
          const inner = this.condition(value, at);
          tests.push((obj, g) => !inner(obj, g));
          break;
        }
        default: {
          if (this.authoring && key.startsWith('$')) {
            this.problem(
              at,
              KNOWN_OPERATORS.has(key)
                ? `"${key}" compares an attribute's value and cannot stand for a condition; write it under an attribute name: {"<attribute>": {"${key}": …}}`
                : `"${key}" is not an operator; use $and, $or, $nor or $not, or an attribute name without "$"`,
            );
          }
          const read = compilePath(key);
          const check = this.value(value, at);
          tests.push((obj, g) => check(read(obj), g));
        }
      }
    }
    return combine(tests);
  }

  private list(value: unknown, path: string): ConditionTest[] {
    if (!Array.isArray(value)) {
      this.problem(path, 'must be an array of conditions');
      return [];
    }
    return value.map((c, i) => this.condition(c, `${path}[${i}]`));
  }

  value(expected: unknown, path: string, insensitive = false): ValueTest {
    if (typeof expected === 'string') {
      if (insensitive) {
        const lower = expected.toLowerCase();
        return (v) => String(v).toLowerCase() === lower;
      }
      return (v) => String(v) === expected;
    }
    if (typeof expected === 'number') {
      return (v) => (v as number) * 1 === expected;
    }
    if (typeof expected === 'boolean') {
      return (v) => v !== null && Boolean(v) === expected;
    }
    if (expected === null) {
      return (v) => v === null;
    }
    if (Array.isArray(expected) || !isPlainObject(expected) || !isOperatorObject(expected)) {
      if (this.authoring && isPlainObject(expected)) {
        this.mixedKeys(expected, path);
      }
      const json = JSON.stringify(expected);
      return (v) => jsonEquals(v, json);
    }
    const ops: ValueTest[] = [];
    for (const [op, arg] of Object.entries(expected)) {
      ops.push(this.operator(op, arg, `${path}.${op}`));
    }
    if (ops.length === 1) {
      return ops[0]!;
    }
    return (v, g) => {
      for (const t of ops) {
        if (!t(v, g)) {
          return false;
        }
      }
      return true;
    };
  }

  private array(arg: unknown, path: string): readonly unknown[] | undefined {
    if (!Array.isArray(arg)) {
      this.problem(path, 'must be an array');
      return undefined;
    }
    return arg as readonly unknown[];
  }

  /**
   * An object with both operator and plain keys is compared whole, as a literal object, so its
   * operators never apply (`{"$gt": 1, "x": 2}` equals only that very object): refused when authored.
   */
  private mixedKeys(expected: Record<string, unknown>, path: string): void {
    const keys = Object.keys(expected);
    const operators = keys.filter((k) => k.startsWith('$'));
    if (operators.length === 0) {
      return;
    }
    const plain = keys.filter((k) => !k.startsWith('$'));
    this.problem(
      path,
      `mixes operators (${operators.join(', ')}) with other keys (${plain.map((k) => JSON.stringify(k)).join(', ')}), so it would be compared as a literal object and its operators would never apply; write only operators here (${JSON.stringify(Object.fromEntries(operators.map((k) => [k, expected[k]])))}) and give each other attribute its own condition`,
    );
  }

  /**
   * Authoring only: operands the evaluator reads without complaint but that cannot mean what was
   * written (`{"$exists": "yes"}` matches everyone, `{"$type": "integer"}` and `{"$vgt": 2}` nobody).
   * Stored conditions are evaluated exactly as before, as GrowthBook and the Python SDK do.
   */
  private operand(op: string, arg: unknown, path: string): void {
    const scalar = (v: unknown): boolean => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
    switch (op) {
      case '$eq':
      case '$ne':
        if (!scalar(arg)) {
          this.problem(path, `must be a string, a number, a boolean or null: ${op} compares with ===, so an array or object ${op === '$eq' ? 'never equals' : 'always differs from'} an attribute; to compare a whole array or object, write it without ${op}`);
        }
        return;
      case '$lt':
      case '$lte':
      case '$gt':
      case '$gte':
        if (typeof arg !== 'number' && typeof arg !== 'string') {
          this.problem(path, `must be a number or a string (a date as an ISO 8601 string), not ${JSON.stringify(arg)}`);
        }
        return;
      case '$exists':
        if (typeof arg !== 'boolean') {
          this.problem(path, `must be true or false, not ${JSON.stringify(arg)}: write {"${op}": true} for "has a value" or {"${op}": false} for "missing"`);
        }
        return;
      case '$in':
      case '$nin':
      case '$ini':
      case '$nini':
        if (Array.isArray(arg)) {
          arg.forEach((e: unknown, i) => {
            if (!scalar(e)) {
              this.problem(`${path}[${i}]`, `must be a string, a number, a boolean or null: an array or object in ${op} is never equal to an attribute`);
            }
          });
        }
        return;
      case '$size':
        if (!(typeof arg === 'number' && Number.isInteger(arg) && arg >= 0) && !(isPlainObject(arg) && isOperatorObject(arg))) {
          this.problem(path, `must be a number of elements (${typeof arg === 'string' && /^\d+$/.test(arg) ? arg : 2}) or a condition on it ({"$gte": 2}), not ${JSON.stringify(arg)}`);
        }
        return;
      case '$type':
        if (typeof arg !== 'string' || !TYPE_NAMES.has(arg)) {
          this.problem(path, `must be one of ${[...TYPE_NAMES].map((t) => `"${t}"`).join(', ')}, not ${JSON.stringify(arg)}${arg === 'integer' || arg === 'int' || arg === 'float' || arg === 'double' ? ' (every number is "number")' : ''}`);
        }
        return;
      case '$veq':
      case '$vne':
      case '$vgt':
      case '$vgte':
      case '$vlt':
      case '$vlte':
        if (typeof arg !== 'string') {
          this.problem(path, `must be a version string such as "${typeof arg === 'number' ? versionExample(arg) : '2.3.0'}", not ${JSON.stringify(arg)}`);
        }
        return;
      default:
        // $in-likes' arrays, $inGroup's key, $regex's pattern, $not's, $elemMatch's and $all's
        // conditions are checked when they are compiled, in every mode.
        return;
    }
  }

  private operator(op: string, arg: unknown, path: string): ValueTest {
    if (this.authoring) {
      this.operand(op, arg, path);
    }
    switch (op) {
      case '$eq':
        return (a) => a === arg;
      case '$ne':
        return (a) => a !== arg;
      case '$lt':
        return (a) => (a as number) < (arg as number);
      case '$lte':
        return (a) => (a as number) <= (arg as number);
      case '$gt':
        return (a) => (a as number) > (arg as number);
      case '$gte':
        return (a) => (a as number) >= (arg as number);
      case '$exists':
        return arg ? (a) => a !== null && a !== undefined : (a) => a === null || a === undefined;
      case '$in': {
        const list = this.array(arg, path);
        if (list === undefined) {
          return alwaysFalse;
        }
        const isIn = makeIn(list);
        return (a) => isIn(a);
      }
      case '$ini':
      case '$nini': {
        const list = this.array(arg, path);
        if (list === undefined) {
          return alwaysFalse;
        }
        const isIn = makeIn(list.map(caseFold), true);
        return op === '$ini' ? (a) => isIn(a) : (a) => !isIn(a);
      }
      case '$nin': {
        const list = this.array(arg, path);
        if (list === undefined) {
          return alwaysFalse;
        }
        const isIn = makeIn(list);
        return (a) => !isIn(a);
      }
      case '$inGroup':
      case '$notInGroup': {
        if (typeof arg !== 'string') {
          this.problem(path, 'must be the key of a saved group');
          return alwaysFalse;
        }
        // Only a group the ruleset names: `constructor` is an unknown group, not Object's.
        const group = (g: SavedGroups): SavedGroups[string] | undefined => (Object.hasOwn(g, arg) ? g[arg] : undefined);
        return op === '$inGroup' ? (a, g) => inGroup(a, group(g)) : (a, g) => !inGroup(a, group(g));
      }
      case '$not': {
        const inner = this.value(arg, path);
        return (a, g) => !inner(a, g);
      }
      case '$size': {
        const inner = this.value(arg, path);
        return (a, g) => Array.isArray(a) && inner(a.length, g);
      }
      case '$elemMatch': {
        const check: ValueTest = isPlainObject(arg) && isOperatorObject(arg) ? this.value(arg, path) : this.condition(arg, path);
        return (a, g) => {
          if (!Array.isArray(a)) {
            return false;
          }
          for (const el of a) {
            if (el !== null && el !== undefined && check(el, g)) {
              return true;
            }
          }
          return false;
        };
      }
      case '$all':
      case '$alli': {
        const list = this.array(arg, path);
        if (list === undefined) {
          return alwaysFalse;
        }
        const checks = list.map((e, i) => this.value(e, `${path}[${i}]`, op === '$alli'));
        return (a, g) => {
          if (!Array.isArray(a)) {
            return false;
          }
          for (const check of checks) {
            let passed = false;
            for (const el of a) {
              if (el !== null && el !== undefined && check(el, g)) {
                passed = true;
                break;
              }
            }
            if (!passed) {
              return false;
            }
          }
          return true;
        };
      }
      case '$regex':
      case '$regexi': {
        if (typeof arg !== 'string') {
          this.problem(path, 'must be a string');
          return alwaysFalse;
        }
        let re: RegExp;
        try {
          re = new RegExp(arg.replace(ESCAPE_SLASH, '$1\\/'), op === '$regexi' ? 'i' : '');
        } catch (e) {
          // (?i), (?P<name>…): say what JavaScript writes instead of V8's "Invalid group".
          this.problem(path, `invalid regular expression: ${regexForeignGroup(arg) ?? (e as Error).message}`);
          return alwaysFalse;
        }
        const risk = this.authoring
          ? (regexBacktrackingRisk(arg) ?? regexUnicodeEscape(arg) ?? regexForeignSyntax(arg) ?? regexLookbehindProblem(arg))
          : regexBeyondLinearEngine(arg);
        if (risk !== undefined) {
          this.problem(path, risk);
          return alwaysFalse;
        }
        return (a) => re.test(a as string);
      }
      case '$type':
        return (a) => getType(a) === arg;
      case '$veq':
      case '$vne':
      case '$vgt':
      case '$vgte':
      case '$vlt':
      case '$vlte': {
        const e = paddedVersionString(arg);
        switch (op) {
          case '$veq':
            return (a) => paddedVersionString(a) === e;
          case '$vne':
            return (a) => paddedVersionString(a) !== e;
          case '$vgt':
            return (a) => paddedVersionString(a) > e;
          case '$vgte':
            return (a) => paddedVersionString(a) >= e;
          case '$vlt':
            return (a) => paddedVersionString(a) < e;
          default:
            return (a) => paddedVersionString(a) <= e;
        }
      }
      default:
        this.problem(path, KNOWN_OPERATORS.has(op) ? 'unsupported here' : `unknown operator "${op}"`);
        return alwaysFalse;
    }
  }
}

/** `2` → "2.0.0", `2.3` → "2.3.0": what a version written as a number meant. */
function versionExample(n: number): string {
  const parts = String(n).split('.');
  return Number.isInteger(n) && n >= 0 ? `${n}.0.0` : parts.length === 2 && n >= 0 ? `${parts[0]}.${parts[1]}.0` : '2.3.0';
}

function combine(tests: ConditionTest[]): ConditionTest {
  if (tests.length === 0) {
    return alwaysTrue;
  }
  if (tests.length === 1) {
    return tests[0]!;
  }
  if (tests.length === 2) {
    const [a, b] = tests as [ConditionTest, ConditionTest];
    return (obj, g) => a(obj, g) && b(obj, g);
  }
  return (obj, g) => {
    for (const t of tests) {
      if (!t(obj, g)) {
        return false;
      }
    }
    return true;
  };
}

/**
 * Compiles a condition. Unknown operators, invalid regular expressions and malformed operands are
 * reported in `problems` (with their path) and compile to "no match", as does a counted group of
 * repetitions, which nothing stops once it runs (regexBeyondLinearEngine). `authoring` (a condition
 * being saved) also reports regular expressions that can take exponential time or that use another
 * engine's syntax JavaScript reads as something else (`\z`, `[[:alpha:]]`: regexForeignSyntax), a condition key
 * starting with "$" that is not $and, $or, $nor or $not (an attribute name read as a mistyped
 * operator), an object mixing operators and plain keys, and operands that cannot mean what was
 * written (`$exists` not a boolean, an unknown `$type`, a version that is not a string…). The
 * compiled test is the same in both modes: authoring only adds problems.
 */
export function compileCondition(condition: unknown, path = 'condition', options: { readonly authoring?: boolean } = {}): { test: ConditionTest; problems: string[] } {
  const compiler = new Compiler(options.authoring === true);
  const test = compiler.condition(condition, path);
  return { test, problems: compiler.problems };
}

const lenientCache = new WeakMap<object, ConditionTest>();

/**
 * Evaluates a condition against attributes, GrowthBook-style: never throws; unknown operators and
 * invalid regular expressions simply do not match. Compiled conditions are cached per object.
 */
export function evalCondition(attributes: unknown, condition: Record<string, unknown>, savedGroups: SavedGroups = {}): boolean {
  let test = lenientCache.get(condition);
  if (test === undefined) {
    test = compileCondition(condition).test;
    lenientCache.set(condition, test);
  }
  try {
    return test(attributes, savedGroups);
  } catch {
    return false;
  }
}

/**
 * An attribute at a dotted path as conditions read it (own properties only, arrays by index), or
 * `undefined` when it is missing: explanations say so, and bucketing reads its hash attribute with it.
 */
export function readAttribute(attributes: unknown, path: string): unknown {
  if (!path.includes('.')) {
    // Most paths are one name: no array to split into on the bucketing path.
    return typeof attributes === 'object' && attributes !== null && Object.hasOwn(attributes, path) ? (attributes as Record<string, unknown>)[path] : undefined;
  }
  let current = attributes;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, part)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/**
 * Why a condition is false for these attributes, in words (for explanations: slow, never on the
 * evaluation path): the first top-level part that fails, followed into `$and`, as
 * `country is "FR", needs {"$in":["US","CA"]}` or `plan is missing, needs "pro"`. The same words
 * as the Python SDK's `explain_condition_failure` (the explain corpus checks both).
 */
export function explainConditionFailure(condition: unknown, attributes: unknown, groups: SavedGroups = {}): string {
  const passes = (c: unknown): boolean => {
    try {
      return compileCondition(c).test(attributes, groups);
    } catch {
      return false;
    }
  };
  if (typeof condition !== 'object' || condition === null || Array.isArray(condition)) {
    return 'the condition is not an object';
  }
  for (const [key, expected] of Object.entries(condition as Record<string, unknown>)) {
    if (passes({ [key]: expected })) {
      continue;
    }
    switch (key) {
      case '$and': {
        const failing: unknown = Array.isArray(expected) ? (expected as unknown[]).find((part) => !passes(part)) : undefined;
        return failing === undefined ? 'a part of $and is false' : explainConditionFailure(failing, attributes, groups);
      }
      case '$or':
        return Array.isArray(expected) ? `none of $or matched (${(expected as unknown[]).map((part) => explainConditionFailure(part, attributes, groups)).join('; ')})` : 'none of $or matched';
      case '$nor': {
        const matching: unknown = Array.isArray(expected) ? (expected as unknown[]).find((part) => passes(part)) : undefined;
        return matching === undefined ? 'a $nor condition matched' : `a $nor condition matched: ${JSON.stringify(matching)}`;
      }
      case '$not':
        return `excluded: ${JSON.stringify(expected)} matched`;
      default: {
        const actual = readAttribute(attributes, key);
        return `${key} is ${actual === undefined ? 'missing' : JSON.stringify(actual)}, needs ${JSON.stringify(expected)}`;
      }
    }
  }
  return 'the condition is false';
}
