import { z } from 'zod';
import {
  attributeNameSchema,
  authoredConditionSchema,
  fractionSchema,
  hashVersionSchema,
  isoDateSchema,
  jsonValueSchema,
  keySchema,
  nameSchema,
  tagsSchema,
  uniqueKeys,
  variationNameSchema,
  whenFieldsValid,
} from './common.js';

/** The kind of value a flag serves; every variation's value must be of this kind. */
export const FlagType = {
  /** true / false. */
  Boolean: 'boolean',
  /** Any string, such as a copy variant or a colour. */
  String: 'string',
  /** Any finite number, such as a limit or a price. */
  Number: 'number',
  /** Any JSON value, such as a configuration object. */
  Json: 'json',
} as const;
export type FlagType = (typeof FlagType)[keyof typeof FlagType];

export const flagTypeSchema = z.enum([FlagType.Boolean, FlagType.String, FlagType.Number, FlagType.Json]);

export const variationSchema = z.strictObject({
  key: keySchema,
  name: variationNameSchema.optional(),
  description: z.string().max(2000).optional(),
  value: jsonValueSchema,
});
export type Variation = z.output<typeof variationSchema>;

/** One step of a scheduled ramp: from `at` on, the rollout covers `coverage` of units. */
export const scheduleStepSchema = z.strictObject({
  at: isoDateSchema,
  coverage: fractionSchema,
});
export type ScheduleStep = z.output<typeof scheduleStepSchema>;

const ruleBase = {
  /** Stable id so evaluations and audit entries can name the rule. */
  id: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'must contain only ASCII letters, digits, "_" and "-"'),
  description: z.string().max(2000).optional(),
  /** Disabled rules are kept in the definition but left out of the ruleset. */
  enabled: z.boolean().optional(),
  condition: authoredConditionSchema.optional(),
  /** The unit must be in every one of these segments. */
  segments: z.array(keySchema).max(50).optional(),
  /** The unit must be in none of these segments. */
  excludeSegments: z.array(keySchema).max(50).optional(),
  /** The rule applies only from / until these instants. */
  activeFrom: isoDateSchema.optional(),
  activeUntil: isoDateSchema.optional(),
};

const hashing = {
  hashAttribute: attributeNameSchema.default('id'),
  /** Used when the hash attribute is missing (e.g. an anonymous id before login). */
  fallbackAttribute: attributeNameSchema.optional(),
  /** Defaults to the flag key. */
  seed: z.string().max(256).optional(),
  hashVersion: hashVersionSchema.default(2),
};

/** Serve one variation to every unit matching the condition. */
export const forceRuleSchema = z.strictObject({ ...ruleBase, type: z.literal('force'), variation: keySchema });

/** Serve one variation to a fraction of matching units (gradual rollout); the rest fall through. */
export const rolloutRuleSchema = z.strictObject({
  ...ruleBase,
  ...hashing,
  type: z.literal('rollout'),
  variation: keySchema,
  coverage: fractionSchema,
  /** Ramp steps; the coverage of the latest step that has started replaces `coverage`. */
  schedule: z.array(scheduleStepSchema).max(50).optional(),
});

const SPLIT_WEIGHT = "a weight is a share of traffic between 0 and 1 (0.3 for 30%); Unleash-style weights out of 1,000 divide by 1,000";

/** Split matching units across variations by weight, without experiment tracking. */
export const splitRuleSchema = z.strictObject({
  ...ruleBase,
  ...hashing,
  type: z.literal('split'),
  distribution: z
    .array(z.strictObject({ variation: keySchema, weight: z.number().min(0, SPLIT_WEIGHT).max(1, SPLIT_WEIGHT) }))
    .min(1)
    .max(100),
});

/** Assign matching units through a running experiment; units outside it fall through. */
export const experimentRuleSchema = z.strictObject({
  ...ruleBase,
  type: z.literal('experiment'),
  experiment: keySchema,
  /** Experiment variation key → flag variation key; by default keys are matched, then positions. */
  variations: z.record(keySchema, keySchema).optional(),
});

export const ruleSchema = z.discriminatedUnion('type', [forceRuleSchema, rolloutRuleSchema, splitRuleSchema, experimentRuleSchema]);
export type Rule = z.output<typeof ruleSchema>;
export type RuleInput = z.input<typeof ruleSchema>;

export const prerequisiteSchema = z.strictObject({ flag: keySchema, variation: keySchema });
export type Prerequisite = z.output<typeof prerequisiteSchema>;

/**
 * Two prerequisites on the same flag: needing different variations they can never both be met (a
 * unit gets one variation), so the flag would serve its off variation to everyone; needing the same
 * one, the second is a duplicate. Each is refused at the later prerequisite.
 */
function refuseContradictoryPrerequisites(prerequisites: readonly Prerequisite[], ctx: z.RefinementCtx<Prerequisite[]>): void {
  const first = new Map<string, number>();
  prerequisites.forEach((p, i) => {
    const earlier = first.get(p.flag);
    if (earlier === undefined) {
      first.set(p.flag, i);
      return;
    }
    const needed = prerequisites[earlier]!.variation;
    const message =
      needed === p.variation
        ? `prerequisites ${String(earlier)} and ${String(i)} both need flag ${p.flag} to serve ${p.variation}: remove the duplicate`
        : `prerequisites ${String(earlier)} and ${String(i)} both name flag ${p.flag} but need different variations (${needed}, ${p.variation}): a unit gets one variation, so this flag would never get past them`;
    ctx.addIssue({ code: 'custom', path: [i], message });
  });
}

/** A flag's state in one environment. */
export const flagEnvironmentSchema = z.strictObject({
  enabled: z.boolean(),
  /** Served when the flag is on and no rule matches. */
  defaultVariation: keySchema,
  /** Served when the flag is off or a prerequisite fails. */
  offVariation: keySchema,
  prerequisites: z.array(prerequisiteSchema).max(20).default([]).superRefine(refuseContradictoryPrerequisites),
  rules: z.array(ruleSchema).max(500).default([]),
});
export type FlagEnvironment = z.output<typeof flagEnvironmentSchema>;

function valueMatchesType(type: FlagType, value: unknown): boolean {
  switch (type) {
    case FlagType.Boolean:
      return typeof value === 'boolean';
    case FlagType.String:
      return typeof value === 'string';
    case FlagType.Number:
      return typeof value === 'number' && Number.isFinite(value);
    case FlagType.Json:
      return true;
  }
}

export const flagSchema = z
  .strictObject({
    key: keySchema,
    name: nameSchema,
    description: z.string().max(5000).optional(),
    type: flagTypeSchema,
    variations: z.array(variationSchema).min(1).max(100),
    tags: tagsSchema.default([]),
    /** Temporary flags are expected to be removed from code once fully rolled out. */
    temporary: z.boolean().default(true),
    archived: z.boolean().default(false),
    /**
     * false: server-side only, left out of what client-side SDK keys (browsers, apps) download,
     * with the id lists only it uses. Absent or true: available to both.
     */
    clientSide: z.boolean().optional(),
    /** Per-environment state, keyed by environment key. */
    environments: z.record(keySchema, flagEnvironmentSchema).default({}),
  })
  .superRefine((flag, ctx) => {
    uniqueKeys(flag.variations, (v) => v.key, ctx, ['variations'], 'variation key');
    flag.variations.forEach((v, i) => {
      if (!valueMatchesType(flag.type, v.value)) {
        ctx.addIssue({ code: 'custom', path: ['variations', i, 'value'], message: `must be a ${flag.type} for a ${flag.type} flag` });
      }
    });
    const keys = new Set(flag.variations.map((v) => v.key));
    const checkVariation = (key: string, path: (string | number)[]): void => {
      if (!keys.has(key)) {
        ctx.addIssue({ code: 'custom', path, message: `unknown variation "${key}"` });
      }
    };
    for (const [env, state] of Object.entries(flag.environments)) {
      const base = ['environments', env];
      checkVariation(state.defaultVariation, [...base, 'defaultVariation']);
      checkVariation(state.offVariation, [...base, 'offVariation']);
      state.prerequisites.forEach((p, i) => {
        if (p.flag === flag.key) {
          ctx.addIssue({ code: 'custom', path: [...base, 'prerequisites', i, 'flag'], message: 'a flag cannot be its own prerequisite' });
        }
      });
      uniqueKeys(state.rules, (r) => r.id, ctx, [...base, 'rules'], 'rule id');
      state.rules.forEach((rule, i) => {
        const path = [...base, 'rules', i];
        if (rule.activeFrom !== undefined && rule.activeUntil !== undefined && Date.parse(rule.activeFrom) >= Date.parse(rule.activeUntil)) {
          ctx.addIssue({ code: 'custom', path: [...path, 'activeUntil'], message: 'must be after activeFrom' });
        }
        if (rule.type === 'force' || rule.type === 'rollout') {
          checkVariation(rule.variation, [...path, 'variation']);
        } else if (rule.type === 'split') {
          rule.distribution.forEach((d, j) => {
            checkVariation(d.variation, [...path, 'distribution', j, 'variation']);
          });
          uniqueKeys(rule.distribution, (d) => d.variation, ctx, [...path, 'distribution'], 'variation');
          const total = rule.distribution.reduce((sum, d) => sum + d.weight, 0);
          // A weight out of range has its own message (Unleash's 300 + 700 is not "add up to 1000").
          if (Math.abs(total - 1) > 1e-6 && rule.distribution.every((d) => d.weight >= 0 && d.weight <= 1)) {
            ctx.addIssue({ code: 'custom', path: [...path, 'distribution'], message: `weights must add up to 1 (they add up to ${total})` });
          }
        } else {
          for (const [expVariation, flagVariation] of Object.entries(rule.variations ?? {})) {
            checkVariation(flagVariation, [...path, 'variations', expVariation]);
          }
        }
      });
    }
   }, whenFieldsValid('type', 'variations', 'environments'));
export type Flag = z.output<typeof flagSchema>;
export type FlagInput = z.input<typeof flagSchema>;

/**
 * The variation a flag serves in an environment it has no state in, where it is off: the off
 * variation its states agree on; else, for a boolean flag, the variation whose value is `false`;
 * else the first. (Not simply the first: a boolean flag listed `on, off` would serve `true` there,
 * and removing an environment's state would turn a partial rollout into everyone on.)
 */
export function unconfiguredOffVariation(flag: Pick<Flag, 'type' | 'variations' | 'environments'>): string | undefined {
  const offs = new Set(Object.values(flag.environments).map((state) => state.offVariation));
  const [agreed] = offs;
  if (offs.size === 1 && agreed !== undefined && flag.variations.some((v) => v.key === agreed)) {
    return agreed;
  }
  const off = flag.type === FlagType.Boolean ? flag.variations.find((v) => v.value === false) : undefined;
  return (off ?? flag.variations[0])?.key;
}
