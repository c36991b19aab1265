import { z } from 'zod';
import { APP_NAME_MESSAGE, APP_NAME_PATTERN, isoDateSchema, keySchema } from '@xp/shared';
import { Permission } from '../../auth/permissions.js';
import { DEFAULT_EVALUATION_SPAN_DAYS, DEFAULT_UNDEFINED_KEYS_LIMIT, MAX_EVALUATION_SPAN_DAYS, MAX_UNDEFINED_KEYS_LIMIT, flagEvaluations, projectFlagEvaluations } from '../../domain/flag-evaluations.js';
import type { Services } from '../../domain/services.js';
import { FLAG_EVALUATION_APP_CAP, FLAG_EVALUATION_KEY_CAP } from '../../store/flag-evaluations.js';
import { route } from '../api.js';
import { badStringReason } from '../text.js';
import type { AnyRoute } from '../api.js';
import { projectParams, queryInt } from './common.js';

/**
 * The key in the path: any key an SDK may count (1-200 characters, as the `evaluations` record's
 * `flag`), not only a well-formed flag key, so that a mistyped or made-up key asked for in code can
 * be looked up too. Percent-encode it.
 */
const flagKeyParams = z.strictObject({
  project: keySchema,
  flag: z
    .string()
    .min(1)
    .max(200)
    .refine((key) => badStringReason(key) === undefined, 'contains a NUL character or an unpaired surrogate')
    .describe('The flag key (any key SDKs count: 1-200 characters, percent-encoded)'),
});

/** The application filter: an app name as the SDKs send it (never seen: an empty answer, not an error). */
const appFilter = z
  .string()
  .regex(APP_NAME_PATTERN, APP_NAME_MESSAGE)
  .optional()
  .describe('Only the counts of this application (the SDKs\' `appName`, the `X-XP-App` header of remote evaluation); default all. An application never seen answers empty counts');

const evaluationsQuery = z.strictObject({
  environment: keySchema.optional().describe('Only this environment (one of the project\'s, else 400); default all'),
  from: isoDateSchema.optional().describe(`Window start, an ISO 8601 instant (rounded down to its bucket's start); default \`to\` − ${DEFAULT_EVALUATION_SPAN_DAYS} days`),
  to: isoDateSchema.optional().describe(`Window end (exclusive); default now. At most ${MAX_EVALUATION_SPAN_DAYS} days after \`from\``),
  interval: z.enum(['hour', 'day'], { error: 'must be hour or day' }).optional().describe('Bucket width (UTC hours or days); default hour when the window is at most 3 days, else day'),
  app: appFilter,
});

const projectQuery = z.strictObject({
  environment: keySchema.optional().describe('Only this environment (one of the project\'s, else 400); default all'),
  days: queryInt(1, MAX_EVALUATION_SPAN_DAYS).default(30).describe('How many days back (from the start of that hour) to now'),
  limit: queryInt(1, MAX_UNDEFINED_KEYS_LIMIT)
    .default(DEFAULT_UNDEFINED_KEYS_LIMIT)
    .describe('How many keys that are not flags of the project to list, the most evaluated first (flags of the project are always all listed); `undefinedOmitted` counts the rest'),
  app: appFilter,
});

const countingSinceSchema = z
  .array(z.object({ environment: z.string(), since: z.string().describe('The start of the earliest hour for which any key has counts kept') }))
  .describe(
    `Project-wide, not per flag: per environment (the one asked for, or every environment of the project), since when counts have been arriving, at most ${MAX_EVALUATION_SPAN_DAYS} days back; an environment with no counts is absent. ` +
      'Say "not evaluated in N days" only where counting began at least N days ago.',
  );

const appCounts = z
  .array(
    z.object({
      app: z.string().nullable().describe('The application (SDK `appName`, remote evaluation\'s `X-XP-App`); null: counted by SDKs (or remote evaluations) that named none'),
      count: z.number().int(),
      lastEvaluatedAt: z.string().describe('The latest evaluation counted in the window'),
    }),
  )
  .describe('Per application over the window (and environment filter), most evaluated first, ties by name');

const droppedSchema = z.number().int();

/** The caps' rule, as the OpenAPI descriptions state it. */
const capsText = `${FLAG_EVALUATION_KEY_CAP.toLocaleString('en-US')} distinct keys that are not flags of the project, ${FLAG_EVALUATION_APP_CAP} distinct named applications: the project's flags are never dropped by the key cap, evaluations naming no application never by the application cap`;

const variation = z.string().nullable().describe("The served variation's key; null: the caller's default value was served (flag missing from the ruleset, wrong type, evaluation error, client not ready)");

const flagEvaluationsSchema = z
  .object({
    flag: z.string(),
    from: z.string().describe('The first bucket start (the requested `from` rounded down)'),
    to: z.string(),
    interval: z.enum(['hour', 'day']),
    series: z
      .array(z.object({ at: z.string().describe('Bucket start'), environment: z.string(), variation, count: z.number().int() }))
      .describe('Buckets with counts, oldest first; a bucket in which nothing was evaluated is absent (not a zero)'),
    totals: z.array(z.object({ environment: z.string(), variation, count: z.number().int() })).describe('Per environment and variation over the window, most evaluated first'),
    lastEvaluated: z.array(z.object({ environment: z.string(), at: z.string() })).describe(`The latest evaluation counted per environment, over the ${MAX_EVALUATION_SPAN_DAYS} days kept (not only the window)`),
    apps: appCounts,
    dropped: droppedSchema.describe(
      `Evaluations in the window, in the environments answered, not stored because an hour of an environment passed the caps (${capsText}): the counts above may then fall short. ` +
        '0 normally; not per key nor application (the same with or without `app`)',
    ),
    countingSince: countingSinceSchema,
  })
  .meta({ id: 'FlagEvaluations' });

const projectFlagEvaluationsSchema = z
  .object({
    since: z.string(),
    flags: z.array(
      z.object({
        flag: z.string(),
        defined: z.boolean().describe('Whether the key is a flag of the project now (false: deleted, or never defined)'),
        total: z.number().int(),
        lastEvaluatedAt: z.string(),
        environments: z.array(z.object({ environment: z.string(), count: z.number().int(), lastEvaluatedAt: z.string() })),
        apps: appCounts,
      }),
    ),
    apps: appCounts.describe('Every application that counted evaluations in the window, over all keys (those left out by `limit` too), most evaluated first'),
    dropped: droppedSchema.describe(`Evaluations in the window not stored because an hour of an environment passed the caps (${capsText}): 0 normally; not per application (the same with or without \`app\`)`),
    undefinedOmitted: z.number().int().describe('How many more keys that are not flags of the project were evaluated in the window than `limit` let list'),
    countingSince: countingSinceSchema,
  })
  .meta({ id: 'ProjectFlagEvaluations' });

export function flagEvaluationRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/flags/{flag}/evaluations',
      permission: Permission.Read,
      tag: 'Flags',
      summary: 'How often SDKs evaluated a flag, by the variation served',
      description:
        'Counts the SDKs (and the server\'s remote evaluation and OFREP of named flags; a bulk evaluation of every flag is not counted) report in `evaluations` records, in hourly buckets of the window\'s end (or of when the record was received, if earlier), kept 90 days. ' +
        'Buckets with no counts are absent. A key that is not a flag of the project but was evaluated (deleted, or never defined) still has its counts; ' +
        'one never evaluated that is not a flag is 404. `app` narrows everything to one application\'s counts; `apps` gives the window\'s counts per application. `dropped` counts the evaluations the per-hour caps left out. ' +
        'Bad dates, an interval other than hour or day, an unknown environment, a malformed `app`, `from` not before `to` or a window over 90 days are 400 naming the parameter.',
      params: flagKeyParams,
      query: evaluationsQuery,
      responses: { 200: { description: 'The flag\'s evaluation counts', schema: flagEvaluationsSchema } },
      handler: async (req) => {
        const body = await flagEvaluations(s.deps, req.actor, req.params.project, req.params.flag, req.query);
        return { status: 200, body };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/flag-evaluations',
      permission: Permission.Read,
      tag: 'Flags',
      summary: 'Every flag key evaluated lately, most evaluated first',
      description:
        'Every key SDKs evaluated in the last `days` days, defined as a flag or not (`defined`): every flag of the project, and up to `limit` keys no flag has, the most evaluated first (`undefinedOmitted` counts the rest). ' +
        'A flag not evaluated in that time is not listed: its absence means "not evaluated in `days` days" only in an environment whose `countingSince` is at least `days` days ago, and only for a flag older than that. ' +
        'Each key and the answer carry `apps` (which applications evaluated it); `app` lists only that application\'s counts. `dropped` counts the evaluations the per-hour caps left out.',
      params: projectParams,
      query: projectQuery,
      responses: { 200: { description: 'Evaluated keys', schema: projectFlagEvaluationsSchema } },
      handler: async (req) => {
        const body = await projectFlagEvaluations(s.deps, req.actor, req.params.project, req.query);
        return { status: 200, body };
      },
    }),
  ];
}
