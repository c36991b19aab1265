import { z } from 'zod';
import {
  attributeNameSchema,
  authoredConditionSchema,
  conditionSchema,
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
import { CorrectionMethod } from '../stats/corrections.js';
import { DEFAULT_ALPHA } from '../stats/frequentist.js';

/** What is being compared. */
export const ExperimentType = {
  /** Two or more variations of one change (A/B, A/B/n). */
  AB: 'ab',
  /** Several factors; every combination of their levels is a variation. */
  Multivariate: 'multivariate',
  /** Each variation is a URL; visitors are redirected to their variation's page. */
  SplitUrl: 'split-url',
} as const;
export type ExperimentType = (typeof ExperimentType)[keyof typeof ExperimentType];

/** Lifecycle of an experiment. */
export const ExperimentStatus = {
  /** Being designed; not served. */
  Draft: 'draft',
  /** Assigning units and collecting data. */
  Running: 'running',
  /** No longer assigning; a decision may release the winner to everyone. */
  Stopped: 'stopped',
} as const;
export type ExperimentStatus = (typeof ExperimentStatus)[keyof typeof ExperimentStatus];

/**
 * Fields the platform sets: the lifecycle actions (start, stop, resume) the first three, a change of
 * a started sticky experiment's split the history, a resume the pauses, turning sticky bucketing on
 * for a started experiment its time; a replace keeps them as stored.
 */
export const EXPERIMENT_LIFECYCLE_FIELDS = ['status', 'startedAt', 'stoppedAt', 'splitHistory', 'pauses', 'stickyBucketingSince'] as const;
/** The decision recorded when an experiment stops; a replace may revise it only once stopped. */
export const EXPERIMENT_DECISION_FIELDS = ['decision', 'winner', 'releaseWinner'] as const;

export const experimentVariationSchema = z.strictObject({
  key: keySchema,
  name: variationNameSchema.optional(),
  /** Relative share of covered traffic; weights are normalised to add up to 1. */
  weight: z.number().min(0).max(1_000_000).optional(),
  /** Value served by standalone experiments (getVariant); flag-attached ones map to flag variations. */
  value: jsonValueSchema.optional(),
  /** Required for split-URL experiments: where this variation's visitors go. */
  url: z
    .url({
      protocol: /^https?$/,
      // zod's own "Invalid URL" does not say that a path alone (`/landing`) is not enough.
      error: (issue) => (issue.code === 'invalid_format' ? 'must be an absolute http(s) URL, such as https://example.com/landing' : undefined),
    })
    // The protocol rule as JSON Schema can say it (format uri allows any scheme); validation is zod's.
    .meta({ pattern: '^https?://' })
    .optional(),
});
export type ExperimentVariation = z.output<typeof experimentVariationSchema>;

export const factorSchema = z.strictObject({
  key: keySchema,
  name: variationNameSchema.optional(),
  levels: z.array(z.strictObject({ key: keySchema, value: jsonValueSchema })).min(2).max(10),
});
export type Factor = z.output<typeof factorSchema>;

/** A namespace (layer): experiments in one namespace with disjoint ranges never share a unit. */
export const namespaceSchema = z
  .strictObject({ id: z.string().min(1).max(128), range: z.tuple([fractionSchema, fractionSchema]) })
  .refine((ns) => ns.range[0] < ns.range[1], { message: 'range start must be below its end', path: ['range'] });

export const stickyBucketingSchema = z.strictObject({
  enabled: z.boolean(),
  /** Bump to re-assign everyone; assignments from older versions are ignored. */
  bucketVersion: z.number().int().min(0).default(0),
  /** Units assigned under a version below this are excluded from the experiment. */
  minBucketVersion: z.number().int().min(0).default(0),
});

/**
 * A split a started experiment served before a change of its variations or weights (allowed under
 * sticky bucketing): units first exposed before `until` (and at or after the previous entry's) were
 * split by `shares`. The SRM check expects each period's units in its own split.
 */
export const previousSplitSchema = z.strictObject({
  until: isoDateSchema,
  /** Each variation's share of covered traffic, adding up to 1. */
  shares: z.record(keySchema, z.number().min(0).max(1)),
});
export type PreviousSplit = z.output<typeof previousSplitSchema>;
/** Most split changes one experiment records; past them, a new split needs a new experiment. */
export const MAX_SPLIT_HISTORY = 100;

/** A period a started experiment spent stopped before it resumed: events in it count for nothing. */
export const pauseSchema = z.strictObject({ stoppedAt: isoDateSchema, resumedAt: isoDateSchema });
export type Pause = z.output<typeof pauseSchema>;
export const MAX_PAUSES = 100;

/**
 * A multi-armed bandit: while the experiment runs, the platform moves its split towards the
 * variations most likely to be best on one metric (Thompson sampling: each variation's share is its
 * chance to be best, floored at minShare), every updateEveryHours after a burn-in at the authored
 * weights. Each move is recorded in splitHistory like a manual one, so sticky bucketing (which keeps
 * every unit's variation) is required and the results weigh each split phase separately.
 */
export const banditSchema = z.strictObject({
  /** The metric to optimise, one of the experiment's primary metrics; absent, the first of them. */
  metric: keySchema.optional(),
  /** Hours between two reweightings. */
  updateEveryHours: z.number().int().min(1).max(720).default(24),
  /** Hours after the start during which the authored weights are kept. */
  burnInHours: z.number().int().min(0).max(720).default(24),
  /** Each variation's least share of the traffic, so that none is starved; minShare × variations must not exceed 1. */
  minShare: z.number().min(0).max(0.5).default(0.01),
});
export type Bandit = z.output<typeof banditSchema>;
export type BanditInput = z.input<typeof banditSchema>;

/** Most result dimensions one experiment may list. */
export const MAX_RESULT_DIMENSIONS = 10;

/**
 * The longest comment a guardrail alert's acknowledgement keeps, in characters (UTF-16 code units,
 * as a text field's maxLength counts), after its surrounding blanks are trimmed.
 */
export const MAX_ACKNOWLEDGE_COMMENT = 2000;

export const experimentMetricsSchema = z.strictObject({
  primary: z.array(keySchema).max(20).default([]),
  secondary: z.array(keySchema).max(100).default([]),
  guardrails: z.array(keySchema).max(20).default([]),
});

/**
 * The attributes a split-URL experiment's links (GET /r/{key}) can hash a visitor on: the cookie's
 * random `id`, and the string attributes the server derives from the request (cloud's
 * visitor-attributes.ts). Nothing else reaches /r: no SDK passes attributes there.
 */
export const SPLIT_URL_HASH_ATTRIBUTES: readonly string[] = ['id', 'url', 'path', 'userAgent', 'browser', 'deviceType', 'os', 'language', 'referrer', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'];

/** Where a split-URL link (/r/{key}?k=xpk_…) ends a URL's path, its client key given. */
const SPLIT_URL_LINK_PATH = /\/r\/[^/]+\/?$/;

/** Whether `url` (a parsed http(s) URL) is a split-URL link of this platform: the redirect itself. */
function isSplitUrlLink(url: URL): boolean {
  return SPLIT_URL_LINK_PATH.test(url.pathname) && url.searchParams.getAll('k').some((k) => k.toLowerCase().startsWith('xpk_'));
}

/** Whether `text` holds a server-side SDK key's prefix, also percent-encoded (`xpk%5Fsrv%5F`). */
function holdsServerKey(text: string): boolean {
  let decoded = text;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    // A malformed escape elsewhere in the URL: the raw text is checked alone.
  }
  return [text, decoded].some((t) => t.toLowerCase().includes('xpk_srv_'));
}

/** The multiple-comparison corrections the results take (`correction`). */
export const correctionMethodSchema = z.enum([CorrectionMethod.Holm, CorrectionMethod.BenjaminiHochberg, CorrectionMethod.None]);

/** What an alpha outside (0, 1), or not a number, is told. */
export const ALPHA_MESSAGE = 'must be a significance level between 0 and 1 (both excluded), such as 0.05';

/**
 * `schema` held to the significance levels the results take (`alpha`): above 0 and below 1. Given
 * the number schema, so that a query parameter can coerce its text first.
 */
export function alphaBounds<T extends z.ZodNumber | z.ZodCoercedNumber>(schema: T): T {
  return schema.gt(0, ALPHA_MESSAGE).lt(1, ALPHA_MESSAGE) as T;
}

/**
 * An experiment's analysis plan, saved with it (pre-registration: "a sequential test at α 0.05 with
 * CUPED, Holm-corrected"): the default of each option of its results — the JSON, the CSV, the
 * breakdown, the console's toggles — which a results request's query parameter of the same name
 * still overrides. A field left out keeps the platform's default (ANALYSIS_DEFAULTS). It changes how
 * the results are read, never which variation a unit gets: it may change while the experiment runs.
 */
export const analysisPlanSchema = z.strictObject({
  /** Confidence sequences (always-valid p-values: safe to look at any time) instead of the fixed-horizon test. */
  sequential: z.boolean().optional(),
  /** Significance level, above 0 and below 1. */
  alpha: alphaBounds(z.number({ error: ALPHA_MESSAGE })).optional(),
  /** CUPED variance reduction with each unit's pre-exposure data, when there is some. */
  cuped: z.boolean().optional(),
  /** Multiple-comparison correction across metrics × variations: holm (family-wise error), bh (false discovery rate) or none. */
  correction: correctionMethodSchema.optional(),
});
export type AnalysisPlan = z.output<typeof analysisPlanSchema>;
/** Every option of an analysis plan, given. */
export type ResolvedAnalysisPlan = { readonly [K in keyof AnalysisPlan]-?: Exclude<AnalysisPlan[K], undefined> };

/** What the results analyse with when neither the request nor the experiment's plan says. */
export const ANALYSIS_DEFAULTS: ResolvedAnalysisPlan = { sequential: false, alpha: DEFAULT_ALPHA, cuped: true, correction: CorrectionMethod.Holm };

/** Each option of the first of `plans` that gives it (a results request's, then the experiment's), else ANALYSIS_DEFAULTS'. */
export function appliedAnalysisPlan(...plans: readonly (AnalysisPlan | undefined)[]): ResolvedAnalysisPlan {
  const first = <K extends keyof AnalysisPlan>(option: K): ResolvedAnalysisPlan[K] => (plans.find((p) => p?.[option] !== undefined)?.[option] ?? ANALYSIS_DEFAULTS[option]) as ResolvedAnalysisPlan[K];
  return { sequential: first('sequential'), alpha: first('alpha'), cuped: first('cuped'), correction: first('correction') };
}

const experimentFieldsSchema = z
  .strictObject({
    key: keySchema,
    name: nameSchema,
    hypothesis: z.string().max(5000).optional(),
    type: z.enum([ExperimentType.AB, ExperimentType.Multivariate, ExperimentType.SplitUrl]).default(ExperimentType.AB),
    status: z.enum([ExperimentStatus.Draft, ExperimentStatus.Running, ExperimentStatus.Stopped]).default(ExperimentStatus.Draft),
    tags: tagsSchema.default([]),
    /**
     * Out of the default lists (`?archived=true` includes it), its results kept and still readable;
     * only a draft or a stopped experiment can be archived, and an archived one is neither started,
     * resumed nor changed until it is unarchived. Absent means not archived (the API stores no `false`).
     */
    archived: z.boolean().optional(),
    hashAttribute: attributeNameSchema.default('id'),
    fallbackAttribute: attributeNameSchema.optional(),
    hashVersion: hashVersionSchema.default(2),
    /** Defaults to the experiment key. */
    seed: z.string().max(256).optional(),
    /** Fraction of eligible units that enter the experiment. */
    coverage: fractionSchema.default(1),
    // Said, not enforced, in the document: the rule depends on `type` (checked below, with its own message).
    variations: z
      .array(experimentVariationSchema)
      .max(64)
      .default([])
      .meta({ description: 'At least two, each with a url in a split-URL experiment; none in a multivariate experiment, whose variations are generated from its factors' }),
    /** Multivariate only: variations are generated from every combination of factor levels. */
    factors: z.array(factorSchema).max(5).optional(),
    condition: authoredConditionSchema.optional(),
    segments: z.array(keySchema).max(50).optional(),
    namespace: namespaceSchema.optional(),
    holdout: keySchema.optional(),
    stickyBucketing: stickyBucketingSchema.optional(),
    /** Environments the experiment runs in; empty means all. */
    environments: z.array(keySchema).max(50).default([]),
    /** Lets QA force a variation with `?xp_<key>=<variation>`; the forced unit is not tracked. */
    allowUrlOverride: z.boolean().default(true),
    /**
     * false: server-side only, left out of what client-side SDK keys download (unless a client-side
     * flag runs it). Absent or true: available to both.
     */
    clientSide: z.boolean().optional(),
    metrics: experimentMetricsSchema.default({ primary: [], secondary: [], guardrails: [] }),
    /**
     * Unit attributes whose values get their own results rollups: a results filter on one of them
     * (`attr.country=US`) reads those instead of scanning every unit. Each costs the aggregator one
     * more rollup delta per change, so list the few that analysts slice by.
     */
    dimensions: z.array(attributeNameSchema).max(MAX_RESULT_DIMENSIONS).optional(),
    startedAt: isoDateSchema.optional(),
    stoppedAt: isoDateSchema.optional(),
    /** The splits served before the current one, oldest first (recorded by the platform). */
    splitHistory: z.array(previousSplitSchema).max(MAX_SPLIT_HISTORY).optional(),
    /** The periods it was stopped before a resume, oldest first (recorded by the platform). */
    pauses: z.array(pauseSchema).max(MAX_PAUSES).optional(),
    /**
     * When sticky bucketing was turned on after the start (recorded by the platform); absent when it
     * is off, or on since before the start. Units exposed before then have no stored variation, so
     * the split may not move: they would be hashed again into the new one.
     */
    stickyBucketingSince: isoDateSchema.optional(),
    decision: z.enum(['ship', 'rollback', 'inconclusive']).optional(),
    /** The winning variation; once stopped with `releaseWinner`, it is served to everyone. */
    winner: keySchema.optional(),
    releaseWinner: z.boolean().default(false),
    /** What a significant guardrail degradation does: record an alert (the default when absent), or also stop the experiment. */
    guardrailAction: z.enum(['alert', 'stop']).optional(),
    /** The analysis plan: the defaults of its results (analysisPlanSchema); absent, the platform's. */
    analysis: analysisPlanSchema.optional(),
    /** Multi-armed bandit: the platform moves the split towards the best variation while it runs (banditSchema). */
    bandit: banditSchema.optional(),
  })
  .superRefine((exp, ctx) => {
    exp.pauses?.forEach((pause, i) => {
      if (Date.parse(pause.resumedAt) < Date.parse(pause.stoppedAt)) {
        ctx.addIssue({ code: 'custom', path: ['pauses', i, 'resumedAt'], message: 'must not be before stoppedAt' });
      } else if (i > 0 && Date.parse(pause.stoppedAt) < Date.parse(exp.pauses![i - 1]!.resumedAt)) {
        ctx.addIssue({ code: 'custom', path: ['pauses', i, 'stoppedAt'], message: 'must not be before the previous pause\'s resumedAt' });
      }
    });
    exp.splitHistory?.forEach((split, i) => {
      if (i > 0 && Date.parse(split.until) < Date.parse(exp.splitHistory![i - 1]!.until)) {
        ctx.addIssue({ code: 'custom', path: ['splitHistory', i, 'until'], message: 'must not be before the previous split\'s until' });
      }
    });
    if (exp.dimensions !== undefined) {
      uniqueKeys(exp.dimensions, (d) => d, ctx, ['dimensions'], 'dimension');
    }
    if (exp.type === ExperimentType.Multivariate) {
      if (exp.factors === undefined || exp.factors.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['factors'], message: 'a multivariate experiment needs at least one factor' });
      } else {
        uniqueKeys(exp.factors, (f) => f.key, ctx, ['factors'], 'factor key');
        exp.factors.forEach((f, i) => {
          uniqueKeys(f.levels, (l) => l.key, ctx, ['factors', i, 'levels'], 'level key');
        });
        const combos = exp.factors.reduce((n, f) => n * f.levels.length, 1);
        if (combos > 64) {
          ctx.addIssue({ code: 'custom', path: ['factors'], message: `too many combinations (${combos}); at most 64` });
        }
      }
      if (exp.variations.length > 0) {
        ctx.addIssue({ code: 'custom', path: ['variations'], message: 'multivariate variations are generated from factors; leave this empty' });
      }
      return;
    }
    if (exp.factors !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['factors'], message: 'factors apply only to multivariate experiments' });
    }
    if (exp.variations.length < 2) {
      ctx.addIssue({ code: 'custom', path: ['variations'], message: 'an experiment needs at least two variations' });
    }
    uniqueKeys(exp.variations, (v) => v.key, ctx, ['variations'], 'variation key');
    if (exp.type === ExperimentType.SplitUrl) {
      exp.variations.forEach((v, i) => {
        if (v.url === undefined) {
          ctx.addIssue({ code: 'custom', path: ['variations', i, 'url'], message: 'every split-URL variation needs a url' });
        }
      });
    }
    const weights = exp.variations.map((v) => v.weight);
    if (weights.some((w) => w !== undefined) && weights.some((w) => w === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['variations'], message: 'give a weight to every variation or to none' });
    }
    if (exp.winner !== undefined && !exp.variations.some((v) => v.key === exp.winner)) {
      ctx.addIssue({ code: 'custom', path: ['winner'], message: `unknown variation "${exp.winner}"` });
    }
    if (exp.stickyBucketing !== undefined && exp.stickyBucketing.minBucketVersion > exp.stickyBucketing.bucketVersion) {
      ctx.addIssue({ code: 'custom', path: ['stickyBucketing', 'minBucketVersion'], message: 'must not exceed bucketVersion' });
    }
   }, whenFieldsValid('pauses', 'splitHistory', 'dimensions', 'type', 'factors', 'variations', 'winner', 'stickyBucketing'));

/**
 * The experiment as authored: also refuses variation URLs that cannot work or must not be published
 * (every URL goes into the ruleset browsers download), a split-URL experiment hashed on an
 * attribute its links never have, and a metric listed twice in one of its metric lists.
 */
export const experimentSchema = experimentFieldsSchema.superRefine((exp, ctx) => {
  // A metric listed twice in one list would be analysed (and, as a guardrail, alerted on) twice.
  for (const list of ['primary', 'secondary', 'guardrails'] as const) {
    uniqueKeys(exp.metrics[list], (m) => m, ctx, ['metrics', list], list === 'guardrails' ? 'guardrail' : `${list} metric`);
  }
  exp.variations.forEach((v, i) => {
    if (v.url === undefined || !URL.canParse(v.url)) {
      return;
    }
    if (holdsServerKey(v.url)) {
      ctx.addIssue({
        code: 'custom',
        path: ['variations', i, 'url'],
        message: 'holds a server-side SDK key (xpk_srv_…), which would be published to every browser in the client ruleset: remove it (a server key is secret and never goes in a URL)',
      });
    } else if (isSplitUrlLink(new URL(v.url))) {
      ctx.addIssue({
        code: 'custom',
        path: ['variations', i, 'url'],
        message: "is a split-URL link (/r/{key}?k=…): visitors sent there would be redirected again, and exposed once per hop; give the landing page's own URL",
      });
    }
  });
  if (exp.bandit !== undefined) {
    banditIssues(exp, ctx);
  }
  if (exp.type === ExperimentType.SplitUrl && !SPLIT_URL_HASH_ATTRIBUTES.includes(exp.hashAttribute) && (exp.fallbackAttribute === undefined || !SPLIT_URL_HASH_ATTRIBUTES.includes(exp.fallbackAttribute))) {
    ctx.addIssue({
      code: 'custom',
      path: ['hashAttribute'],
      message: `a split-URL experiment is evaluated by its /r/{key} links, which know a visitor only by the cookie's "id" and what the request says (${SPLIT_URL_HASH_ATTRIBUTES.slice(1).join(', ')}); "${exp.hashAttribute}" is never among them, so every visitor would go to the first variation unexposed: use "id"`,
    });
  }
}, whenFieldsValid('type', 'variations', 'hashAttribute', 'fallbackAttribute', 'metrics', 'bandit', 'stickyBucketing'));

/** What a bandit needs of its experiment: explicit variations, sticky bucketing, a primary metric, room for every minShare. */
function banditIssues(exp: z.output<typeof experimentFieldsSchema>, ctx: z.RefinementCtx): void {
  const bandit = exp.bandit!;
  if (exp.type === ExperimentType.Multivariate) {
    ctx.addIssue({ code: 'custom', path: ['bandit'], message: 'a bandit moves the weights of explicit variations; a multivariate experiment has none (its variations come from factors): use an A/B or split-URL experiment' });
    return;
  }
  if (exp.stickyBucketing?.enabled !== true) {
    ctx.addIssue({
      code: 'custom',
      path: ['stickyBucketing', 'enabled'],
      message: 'a bandit moves the split while the experiment runs, which would move units already exposed to another variation: turn sticky bucketing on so that every unit keeps its variation',
    });
  }
  if (bandit.metric === undefined) {
    if (exp.metrics.primary.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['bandit', 'metric'], message: 'a bandit optimises a metric: add a primary metric (metrics.primary) or name one here' });
    }
  } else if (!exp.metrics.primary.includes(bandit.metric)) {
    ctx.addIssue({ code: 'custom', path: ['bandit', 'metric'], message: `must be one of the experiment's primary metrics (metrics.primary: ${exp.metrics.primary.length === 0 ? 'none' : exp.metrics.primary.join(', ')})` });
  }
  // Shares are whole basis points (banditShares): the floor, rounded up to one, must fit every variation.
  if (Math.ceil(bandit.minShare * 1e4 - 1e-9) * exp.variations.length > 1e4) {
    ctx.addIssue({ code: 'custom', path: ['bandit', 'minShare'], message: `${bandit.minShare} for each of ${exp.variations.length} variations exceeds the whole traffic (shares are whole basis points, 0.0001): at most ${Math.floor((1 / exp.variations.length) * 1e4) / 1e4}` });
  }
}

/**
 * An experiment as read back from storage, for readers of what is stored (results, guardrails):
 * its condition is not held to the checks of today's authoring (a pattern refused since it was
 * saved, such as a backreference), which the evaluators report as INVALID_RULE instead, nor are its
 * variation URLs, split-URL hash attribute and metrics listed twice (refused since some were saved). Every other check is
 * the same, so a stored experiment reads as what it is rather than failing as invalid.
 */
export const storedExperimentSchema = experimentFieldsSchema.safeExtend({ condition: conditionSchema.optional() });
export type Experiment = z.output<typeof experimentSchema>;
export type ExperimentInput = z.input<typeof experimentSchema>;

export { decisionIssues, expandVariations, reassigningChanges, reassignmentMessage, runsIn, sameKeys, sameSplit, splitShares, stoppedRedirectUrl, variationShares } from './variations.js';
export type { ReassignmentReason } from './variations.js';

/** A global holdout: a stable fraction of units kept out of every experiment that names it. */
export const holdoutSchema = z.strictObject({
  key: keySchema,
  name: nameSchema,
  description: z.string().max(2000).optional(),
  hashAttribute: attributeNameSchema.default('id'),
  /** Fraction of units held out. */
  coverage: fractionSchema,
});
export type Holdout = z.output<typeof holdoutSchema>;
/**
 * The holdout fields units are hashed by (its seed is derived from its key, which never changes):
 * changed under a started experiment, units held out would get it, and units that got it be held out.
 */
export const HOLDOUT_HASHING_FIELDS = ['hashAttribute'] as const satisfies readonly (keyof Holdout)[];
export type HoldoutInput = z.input<typeof holdoutSchema>;
