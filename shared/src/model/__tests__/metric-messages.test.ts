/**
 * The metric schema's numeric fields answer in plain words, as delayHours does (a tester moving from
 * PostHog got zod's "Too small: expected number to be >0" for `windowHours: 0`).
 */
import { describe, expect, it } from 'vitest';
import { metricSchema } from '../metric.js';

const BASE = { key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase', property: 'amount' };

/** The messages of the issues at `path` (dotted) when `fields` are added to a valid metric. */
function messages(fields: Record<string, unknown>, path: string): string[] {
  const r = metricSchema.safeParse({ ...BASE, ...fields });
  return r.success ? [] : r.error.issues.filter((i) => i.path.join('.') === path).map((i) => i.message);
}

describe('metric schema messages', () => {
  it.each([
    [{ windowHours: 0 }, 'windowHours', 'windowHours must be more than 0 (hours after the exposure that count); leave it out to count until the experiment stops'],
    [{ windowHours: -3 }, 'windowHours', 'windowHours must be more than 0 (hours after the exposure that count); leave it out to count until the experiment stops'],
    [{ windowHours: 8761 }, 'windowHours', 'windowHours must be at most 8760 (a year)'],
    [{ capping: { type: 'absolute', value: 0 } }, 'capping.value', 'an absolute cap must be more than 0 (per-unit values above it count as it)'],
    [{ capping: { type: 'percentile', value: 0 } }, 'capping.value', 'a percentile cap must be between 0 and 1, both excluded (0.99 caps at the 99th percentile)'],
    [{ capping: { type: 'percentile', value: 1 } }, 'capping.value', 'a percentile cap must be between 0 and 1, both excluded (0.99 caps at the 99th percentile)'],
  ])('%j: %s', (fields, path, message) => {
    expect(messages(fields, path)).toEqual([message]);
  });

  const OPERATORS = '$eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists';
  it.each([
    [{ where: { plan: { $regex: '^pro' } } }, 'where.plan', `unknown operator "$regex": the operators are ${OPERATORS}`],
    [{ where: { plan: { $eq: 'pro', $like: 'p%', $size: 2 } } }, 'where.plan', `unknown operator "$like", "$size": the operators are ${OPERATORS}`],
    [{ where: { plan: {} } }, 'where.plan', `name at least one operator (${OPERATORS})`],
    [{ where: {} }, 'where', 'names no property: leave where out to count every event'],
    [{ where: { plan: null } }, 'where.plan', `null is not a test: give a string, number or boolean (shorthand for $eq), or an object of operators (${OPERATORS})`],
    [{ where: { plan: ['pro', 'team'] } }, 'where.plan', `a list is not a test: give a string, number or boolean (shorthand for $eq), or an object of operators (${OPERATORS})`],
    [{ where: { plan: { $eq: null } } }, 'where.plan', '$eq takes a string, a number or a boolean'],
    [{ where: { amount: { $gt: true } } }, 'where.amount', '$gt takes a number or a string (numbers compare with numbers, strings with strings)'],
    [{ where: { coupon: { $exists: 'yes' } } }, 'where.coupon', '$exists takes true or false'],
    [{ where: { plan: { $in: 'pro' } } }, 'where.plan', '$in takes a list of strings, numbers or booleans'],
    [{ where: { plan: 'x'.repeat(1001) } }, 'where.plan', 'takes strings of at most 1000 characters'],
    // Filters no event can pass (a tester moving from Statsig got 201 for each, and a metric reading 0).
    [{ where: JSON.parse('{"plan":"pro","__proto__":{"$eq":"x"}}') as unknown }, 'where.__proto__', '"__proto__" cannot be filtered on: events drop a property of that name when they are stored'],
    [{ where: { $eq: 5 } }, 'where.$eq', '"$eq" is an operator, not a property name: operators go inside a property\'s test, e.g. { "plan": { "$eq": … } }'],
    [{ where: { ['p'.repeat(201)]: 1 } }, `where.${'p'.repeat(201)}`, `a property name of 201 characters ("${'p'.repeat(40)}"…): event property names are at most 200, so no event has it`],
    [{ where: { plan: { $exists: false, $eq: 'pro' } } }, 'where.plan', 'never matches: $exists false means the property is missing or null, and $eq needs a value'],
    [{ where: { plan: { $in: ['pro'], $nin: ['pro', 'team'] } } }, 'where.plan', 'never matches: every value $in lists is excluded by $nin'],
    [{ where: { plan: { $eq: 'pro', $nin: ['pro'] } } }, 'where.plan', 'never matches: $nin excludes the value $eq needs ("pro")'],
    [{ where: { plan: { $eq: 'pro', $ne: 'pro' } } }, 'where.plan', 'never matches: $eq and $ne name the same value ("pro")'],
    [{ where: { day: { $gte: '2026-01-01', $lt: 5 } } }, 'where.day', 'never matches: $gte, $lt mix a number and a string, and a property is one or the other (numbers compare with numbers, strings with strings)'],
    // JSON parsing has already rounded 9007199254740993 to 9007199254740992: the filter would not be what was sent.
    [{ where: { id: { $nin: [1, 9007199254740993] } } }, 'where.id.$nin.1', 'takes integers between -(2^53 − 1) and 2^53 − 1 only: a larger one cannot be held exactly (it arrives rounded), so the filter would compare with another number'],
    [
      { type: 'ratio', event: undefined, property: undefined, where: { plan: 'pro' }, numerator: { event: 'a', aggregation: 'count' }, denominator: { event: 'b', aggregation: 'count' } },
      'where',
      'a ratio metric filters its sides: put where on the numerator or the denominator',
    ],
    [
      { type: 'ratio', event: undefined, property: undefined, numerator: { event: 'a', aggregation: 'count', where: { n: { $regex: 1 } } }, denominator: { event: 'b', aggregation: 'count' } },
      'numerator.where.n',
      `unknown operator "$regex": the operators are ${OPERATORS}`,
    ],
  ])('where %j: %s', (fields, path, message) => {
    // One issue in all, the one at the path: no second message from the other side of a union.
    const r = metricSchema.safeParse({ ...BASE, ...fields });
    expect([messages(fields, path), r.success ? 0 : r.error.issues.length]).toEqual([[message], 1]);
  });

  it('takes filters that can match at their edges: a range, $in beside a narrower $nin, the largest exact integer, 200-character names', () => {
    for (const where of [
      { amount: { $gte: 10, $lt: 100 } },
      { plan: { $in: ['pro', 'team'], $nin: ['team'] } },
      { id: { $eq: 9007199254740991 } },
      { id: -9007199254740991 },
      { ['p'.repeat(200)]: true },
      { 'user.tier': 'gold', 'has space': { $exists: true } },
    ]) {
      expect([JSON.stringify(where), metricSchema.safeParse({ ...BASE, where }).success]).toEqual([JSON.stringify(where), true]);
    }
  });

  it('still takes the values at the edges', () => {
    for (const fields of [{ windowHours: 0.5 }, { windowHours: 8760 }, { capping: { type: 'absolute', value: 0.01 } }, { capping: { type: 'percentile', value: 0.99 } }]) {
      expect(metricSchema.safeParse({ ...BASE, ...fields }).success).toBe(true);
    }
  });
});
