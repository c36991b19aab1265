import { describe, expect, it } from 'vitest';
import { compileCondition, evalCondition } from '../condition.js';

const authored = (condition: unknown): string[] => compileCondition(condition, 'condition', { authoring: true }).problems;
const stored = (condition: unknown): string[] => compileCondition(condition).problems;

/**
 * Each malformed shape: the problem authoring reports (path first), and what a stored condition of
 * that shape answers for some attributes, which must not change (GrowthBook's and the Python SDK's
 * answers: stored rulesets keep evaluating as they always have).
 */
const REFUSED: readonly {
  readonly name: string;
  readonly condition: Record<string, unknown>;
  readonly problem: string;
  readonly evaluates: readonly (readonly [Record<string, unknown>, boolean])[];
}[] = [
  {
    name: 'a "$" key that is no operator at the condition level ($xor, a typo for $or)',
    condition: { $xor: [{ plan: 'pro' }, { beta: true }] },
    problem: 'condition.$xor: "$xor" is not an operator; use $and, $or, $nor or $not, or an attribute name without "$"',
    evaluates: [
      [{ plan: 'pro' }, false],
      [{ $xor: [{ plan: 'pro' }, { beta: true }] }, true],
    ],
  },
  {
    name: '$where',
    condition: { $where: 'this.age > 18' },
    problem: 'condition.$where: "$where" is not an operator; use $and, $or, $nor or $not, or an attribute name without "$"',
    evaluates: [
      [{ age: 30 }, false],
      [{ $where: 'this.age > 18' }, true],
    ],
  },
  {
    name: 'a value operator where a condition is expected',
    condition: { $in: ['US'] },
    problem: `condition.$in: "$in" compares an attribute's value and cannot stand for a condition; write it under an attribute name: {"<attribute>": {"$in": …}}`,
    evaluates: [
      [{ country: 'US' }, false],
      [{ $in: ['US'] }, true],
    ],
  },
  {
    name: 'a "$" key nested in $or',
    condition: { $or: [{ plan: 'pro' }, { $xor: 1 }] },
    problem: 'condition.$or[1].$xor: "$xor" is not an operator; use $and, $or, $nor or $not, or an attribute name without "$"',
    evaluates: [
      [{ plan: 'pro' }, true],
      [{ plan: 'free' }, false],
    ],
  },
  {
    name: 'a $type that is not a type name',
    condition: { plan: { $type: 'integer' } },
    problem: 'condition.plan.$type: must be one of "string", "number", "boolean", "array", "object", "null", not "integer" (every number is "number")',
    evaluates: [
      [{ plan: 5 }, false],
      [{ plan: 'integer' }, false],
    ],
  },
  {
    name: '$type "undefined" (a missing attribute is null)',
    condition: { plan: { $type: 'undefined' } },
    problem: 'condition.plan.$type: must be one of "string", "number", "boolean", "array", "object", "null", not "undefined"',
    evaluates: [[{}, false]],
  },
  {
    name: '$exists with a string',
    condition: { beta: { $exists: 'yes' } },
    problem: 'condition.beta.$exists: must be true or false, not "yes": write {"$exists": true} for "has a value" or {"$exists": false} for "missing"',
    evaluates: [
      [{ beta: false }, true],
      [{}, false],
    ],
  },
  {
    name: '$exists with a number',
    condition: { beta: { $exists: 0 } },
    problem: 'condition.beta.$exists: must be true or false, not 0: write {"$exists": true} for "has a value" or {"$exists": false} for "missing"',
    evaluates: [
      [{ beta: false }, false],
      [{}, true],
    ],
  },
  {
    name: '$size with a string',
    condition: { tags: { $size: '2' } },
    problem: 'condition.tags.$size: must be a number of elements (2) or a condition on it ({"$gte": 2}), not "2"',
    evaluates: [
      [{ tags: ['a', 'b'] }, true],
      [{ tags: ['a'] }, false],
    ],
  },
  {
    name: '$size with a literal object',
    condition: { tags: { $size: { min: 2 } } },
    problem: 'condition.tags.$size: must be a number of elements (2) or a condition on it ({"$gte": 2}), not {"min":2}',
    evaluates: [[{ tags: ['a', 'b'] }, false]],
  },
  {
    name: '$size with a negative number',
    condition: { tags: { $size: -1 } },
    problem: 'condition.tags.$size: must be a number of elements (2) or a condition on it ({"$gte": 2}), not -1',
    evaluates: [[{ tags: [] }, false]],
  },
  {
    name: 'a version operator with a number',
    condition: { v: { $vgt: 2 } },
    problem: 'condition.v.$vgt: must be a version string such as "2.0.0", not 2',
    evaluates: [
      [{ v: '3.0.0' }, true],
      [{ v: '1.0.0' }, false],
    ],
  },
  {
    name: 'every version operator',
    condition: { v: { $veq: 2.3, $vne: null, $vgte: true, $vlt: ['1'], $vlte: { v: 1 } } },
    problem: [
      'condition.v.$veq: must be a version string such as "2.3.0", not 2.3',
      'condition.v.$vne: must be a version string such as "2.3.0", not null',
      'condition.v.$vgte: must be a version string such as "2.3.0", not true',
      'condition.v.$vlt: must be a version string such as "2.3.0", not ["1"]',
      'condition.v.$vlte: must be a version string such as "2.3.0", not {"v":1}',
    ].join('\n'),
    evaluates: [[{ v: '2.3.0' }, false]],
  },
  {
    name: 'an object mixing operators and plain keys',
    condition: { age: { $gt: 1, x: 2 } },
    problem:
      'condition.age: mixes operators ($gt) with other keys ("x"), so it would be compared as a literal object and its operators would never apply; write only operators here ({"$gt":1}) and give each other attribute its own condition',
    evaluates: [
      [{ age: 5 }, false],
      [{ age: { $gt: 1, x: 2 } }, true],
    ],
  },
  {
    name: 'a mixed object under $not',
    condition: { age: { $not: { $lt: 18, max: 65 } } },
    problem:
      'condition.age.$not: mixes operators ($lt) with other keys ("max"), so it would be compared as a literal object and its operators would never apply; write only operators here ({"$lt":18}) and give each other attribute its own condition',
    evaluates: [[{ age: 10 }, true]],
  },
  {
    name: '$eq with an array',
    condition: { tags: { $eq: ['a'] } },
    problem: 'condition.tags.$eq: must be a string, a number, a boolean or null: $eq compares with ===, so an array or object never equals an attribute; to compare a whole array or object, write it without $eq',
    evaluates: [[{ tags: ['a'] }, false]],
  },
  {
    name: '$ne with an object',
    condition: { meta: { $ne: {} } },
    problem: 'condition.meta.$ne: must be a string, a number, a boolean or null: $ne compares with ===, so an array or object always differs from an attribute; to compare a whole array or object, write it without $ne',
    evaluates: [[{ meta: {} }, true]],
  },
  {
    name: 'comparisons with null, a boolean or an object',
    condition: { age: { $gt: null, $gte: true, $lt: { n: 1 }, $lte: [9] } },
    problem: [
      'condition.age.$gt: must be a number or a string (a date as an ISO 8601 string), not null',
      'condition.age.$gte: must be a number or a string (a date as an ISO 8601 string), not true',
      'condition.age.$lt: must be a number or a string (a date as an ISO 8601 string), not {"n":1}',
      'condition.age.$lte: must be a number or a string (a date as an ISO 8601 string), not [9]',
    ].join('\n'),
    evaluates: [[{ age: 5 }, false]],
  },
  {
    name: 'arrays and objects in $in-like lists',
    condition: { a: { $in: [1, [2]] }, b: { $nin: [{ x: 1 }] }, c: { $ini: [['x']] }, d: { $nini: [{}] } },
    problem: [
      'condition.a.$in[1]: must be a string, a number, a boolean or null: an array or object in $in is never equal to an attribute',
      'condition.b.$nin[0]: must be a string, a number, a boolean or null: an array or object in $nin is never equal to an attribute',
      'condition.c.$ini[0]: must be a string, a number, a boolean or null: an array or object in $ini is never equal to an attribute',
      'condition.d.$nini[0]: must be a string, a number, a boolean or null: an array or object in $nini is never equal to an attribute',
    ].join('\n'),
    evaluates: [
      [{ a: 1, c: 'x' }, false],
      [{ a: 1, b: { x: 1 }, d: {} }, false],
    ],
  },
  {
    name: 'a mixed object inside $elemMatch (read as a condition on the elements)',
    condition: { items: { $elemMatch: { $gt: 1, sku: 'a' } } },
    problem: `condition.items.$elemMatch.$gt: "$gt" compares an attribute's value and cannot stand for a condition; write it under an attribute name: {"<attribute>": {"$gt": …}}`,
    evaluates: [[{ items: [{ sku: 'a' }] }, false]],
  },
];

describe('authored conditions: malformed shapes are refused with their path', () => {
  for (const c of REFUSED) {
    it(`refuses ${c.name}`, () => {
      expect(authored(c.condition).join('\n')).toBe(c.problem);
    });

    it(`evaluates ${c.name} exactly as before when stored`, () => {
      expect(stored(c.condition)).toEqual([]);
      // A fresh copy each time: evalCondition caches compiled conditions by object.
      const answers = c.evaluates.map(([attributes]) => evalCondition(attributes, structuredClone(c.condition)));
      expect(answers).toEqual(c.evaluates.map(([, expected]) => expected));
      expect(c.evaluates.map(([attributes]) => compileCondition(c.condition, 'condition', { authoring: true }).test(attributes, {}))).toEqual(answers);
    });
  }

  it('still refuses an unknown operator under an attribute in both modes', () => {
    expect(authored({ age: { $foo: 1 } })).toEqual(['condition.age.$foo: unknown operator "$foo"']);
    expect(stored({ age: { $foo: 1 } })).toEqual(['condition.age.$foo: unknown operator "$foo"']);
  });

  it('reports every problem of a condition, each with its own path', () => {
    expect(authored({ $and: [{ beta: { $exists: 'yes' } }, { $nor: [{ plan: { $type: 'int' } }] }], $where: 1 })).toEqual([
      'condition.$and[0].beta.$exists: must be true or false, not "yes": write {"$exists": true} for "has a value" or {"$exists": false} for "missing"',
      'condition.$and[1].$nor[0].plan.$type: must be one of "string", "number", "boolean", "array", "object", "null", not "int" (every number is "number")',
      'condition.$where: "$where" is not an operator; use $and, $or, $nor or $not, or an attribute name without "$"',
    ]);
  });
});

describe('authored conditions: the valid forms are accepted', () => {
  const VALID: readonly Record<string, unknown>[] = [
    { country: { $in: ['US', 'CA'] }, appVersion: { $vgte: '2.3.0' }, $or: [{ plan: 'pro' }, { seats: { $gt: 5 } }] },
    { $and: [{ a: 1 }], $nor: [{ b: 2 }], $not: { c: 3 }, $or: [] },
    { age: { $eq: 30, $ne: null, $lt: 65, $lte: '9', $gt: 17, $gte: 18 } },
    { signup: { $gte: '2026-06-01T00:00:00Z' } },
    { beta: { $exists: true }, gone: { $exists: false } },
    { a: { $type: 'string' }, b: { $type: 'number' }, c: { $type: 'boolean' }, d: { $type: 'array' }, e: { $type: 'object' }, f: { $type: 'null' } },
    { tags: { $size: 0 } },
    { tags: { $size: { $gte: 2, $lt: 5 } } },
    { tags: { $all: ['a', { $regex: '^b' }], $elemMatch: { $eq: 'a' } } },
    { tags: { $alli: ['A'], $ini: ['x', 1, true, null], $nini: ['y'] } },
    { items: { $elemMatch: { sku: 'a', qty: { $gt: 1 } } } },
    { v: { $veq: '1.0.0', $vne: '1.0.1', $vgt: '0.9', $vgte: '1.0.0-rc.1', $vlt: '2', $vlte: '2.0.0' } },
    { id: { $inGroup: 'beta-users' }, other: { $notInGroup: 'blocked' } },
    { name: { $not: 'bob' }, age: { $not: { $gt: 65 } }, email: { $regex: '@acme\\.com$', $regexi: 'ACME' } },
    { device: { os: 'ios', version: 17 } },
    { 'device.os': 'ios', tags: ['a', 'b'], plan: null, beta: true },
    { meta: { $eq: 'x' }, list: { $nin: [] } },
  ];
  for (const condition of VALID) {
    it(`accepts ${JSON.stringify(condition)}`, () => {
      expect(authored(condition)).toEqual([]);
    });
  }
});
