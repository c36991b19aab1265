import { describe, expect, it } from 'vitest';
import { formatIssues } from '../common.js';
import { flagEnvironmentSchema, flagSchema } from '../flag.js';
import type { FlagInput, Prerequisite } from '../flag.js';

const flagWith = (state: Partial<NonNullable<FlagInput['environments']>[string]>): FlagInput => ({
  key: 'child',
  name: 'Child',
  type: 'boolean',
  variations: [
    { key: 'off', value: false },
    { key: 'on', value: true },
  ],
  environments: { production: { enabled: true, defaultVariation: 'on', offVariation: 'off', ...state } },
});

function errorsOf(result: { success: boolean; error?: Parameters<typeof formatIssues>[0] }): string[] {
  return result.error === undefined ? [] : formatIssues(result.error);
}

describe('prerequisites on the same flag', () => {
  it('refuses two that need different variations of one parent, naming both and why it can never be met', () => {
    const prerequisites: Prerequisite[] = [
      { flag: 'parent', variation: 'a' },
      { flag: 'parent', variation: 'b' },
    ];
    expect(errorsOf(flagSchema.safeParse(flagWith({ prerequisites })))).toEqual([
      'environments.production.prerequisites[1]: prerequisites 0 and 1 both name flag parent but need different variations (a, b): a unit gets one variation, so this flag would never get past them',
    ]);
  });

  it('refuses the same parent and variation twice as a duplicate', () => {
    const prerequisites: Prerequisite[] = [
      { flag: 'parent', variation: 'on' },
      { flag: 'other', variation: 'on' },
      { flag: 'parent', variation: 'on' },
    ];
    expect(errorsOf(flagSchema.safeParse(flagWith({ prerequisites })))).toEqual([
      'environments.production.prerequisites[2]: prerequisites 0 and 2 both need flag parent to serve on: remove the duplicate',
    ]);
  });

  it('refuses them in an environment state on its own (what PUT …/environments/{env} parses)', () => {
    const result = flagEnvironmentSchema.safeParse({
      enabled: true,
      defaultVariation: 'on',
      offVariation: 'off',
      prerequisites: [
        { flag: 'p', variation: 'x' },
        { flag: 'q', variation: 'x' },
        { flag: 'p', variation: 'y' },
        { flag: 'p', variation: 'x' },
      ],
    });
    expect(errorsOf(result)).toEqual([
      'prerequisites[2]: prerequisites 0 and 2 both name flag p but need different variations (x, y): a unit gets one variation, so this flag would never get past them',
      'prerequisites[3]: prerequisites 0 and 3 both need flag p to serve x: remove the duplicate',
    ]);
  });

  it('accepts prerequisites on different flags, whatever variations they need', () => {
    const prerequisites: Prerequisite[] = [
      { flag: 'parent', variation: 'a' },
      { flag: 'other', variation: 'a' },
      { flag: 'third', variation: 'b' },
    ];
    expect(errorsOf(flagSchema.safeParse(flagWith({ prerequisites })))).toEqual([]);
  });
});

describe('split weights', () => {
  const split = (weights: number[]): FlagInput =>
    flagWith({ rules: [{ id: 'split', type: 'split', distribution: weights.map((weight, i) => ({ variation: i === 0 ? 'off' : 'on', weight })) }] });

  it('answers a weight above 1 (Unleash counts out of 1,000) with what a weight is', () => {
    expect(errorsOf(flagSchema.safeParse(split([300, 700])))).toEqual([
      'environments.production.rules[0].distribution[0].weight: a weight is a share of traffic between 0 and 1 (0.3 for 30%); Unleash-style weights out of 1,000 divide by 1,000',
      'environments.production.rules[0].distribution[1].weight: a weight is a share of traffic between 0 and 1 (0.3 for 30%); Unleash-style weights out of 1,000 divide by 1,000',
    ]);
  });

  it('answers a negative weight the same way', () => {
    expect(errorsOf(flagSchema.safeParse(split([-0.5, 1.5])))).toEqual([
      'environments.production.rules[0].distribution[0].weight: a weight is a share of traffic between 0 and 1 (0.3 for 30%); Unleash-style weights out of 1,000 divide by 1,000',
      'environments.production.rules[0].distribution[1].weight: a weight is a share of traffic between 0 and 1 (0.3 for 30%); Unleash-style weights out of 1,000 divide by 1,000',
    ]);
  });

  it('accepts shares of traffic adding up to 1', () => {
    expect(errorsOf(flagSchema.safeParse(split([0.3, 0.7])))).toEqual([]);
  });
});
