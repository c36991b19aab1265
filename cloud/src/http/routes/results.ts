import { z } from 'zod';
import { ALPHA_MESSAGE, alphaBounds, attributeNameSchema, correctionMethodSchema, isoDateSchema, keySchema } from '@xp/shared';
import { Permission } from '../../auth/permissions.js';
import { BOM_VALUES, UTF8_BOM, resultsCsv, timeSeriesCsv } from '../../domain/results-csv.js';
import { MAX_BREAKDOWN_VALUES, ResultsService, experimentResultsSchema, resultsBreakdownSchema } from '../../domain/results.js';
import type { ExperimentResults, ResultsRequest } from '../../domain/results.js';
import type { Services } from '../../domain/services.js';
import { invalid } from '../../errors.js';
import { BucketWidth } from '../../store/results.js';
import { route } from '../api.js';
import type { AnyRoute, Request } from '../api.js';
import { callerNamedParameters } from '../openapi.js';
import { projectKeyParams, queryInt } from './common.js';

const ATTRIBUTE_PREFIX = 'attr.';
const MAX_ATTRIBUTE_FILTERS = 20;

/** Every parameter the query does not name: an attr.<name>=<value> filter (checked in `filtersOf`). */
const attributeFilter = z.string().register(callerNamedParameters, {
  name: 'attr',
  description:
    "attr.<name>=<value> filters, one parameter each (attr.country=US&attr.beta=true): the attributes sent with the unit's first exposure; the value matches as text and, when it spells one, as a number or boolean",
  names: new RegExp(`^${ATTRIBUTE_PREFIX.replace('.', '\\.')}.`),
  maxProperties: MAX_ATTRIBUTE_FILTERS,
});

/** How an analysis option's default reads: the experiment's analysis plan first (resolveAnalysis). */
const PLANNED = "default: the experiment's analysis plan (analysis), else";

const known = {
  environment: keySchema.optional().describe("Default: where the experiment runs (its production environment among those it lists, else the first it lists; running everywhere, the project's production environment)"),
  from: isoDateSchema.optional().describe('Units first exposed at or after this instant'),
  to: isoDateSchema.optional().describe('Units first exposed before this instant'),
  segment: keySchema.optional().describe('A segment key: id lists match unit ids, conditions the attributes stored with the first exposure'),
  sequential: z.enum(['true', 'false']).optional().describe(`Confidence sequences (always-valid p-values) instead of the fixed-horizon test; ${PLANNED} false`),
  cuped: z.enum(['true', 'false']).optional().describe(`CUPED variance reduction when pre-exposure data exists; ${PLANNED} true`),
  alpha: alphaBounds(z.coerce.number({ error: ALPHA_MESSAGE })).optional().describe(`Significance level, above 0 and below 1; ${PLANNED} 0.05`),
  correction: correctionMethodSchema.optional().describe(`Multiple-comparison correction; ${PLANNED} holm`),
  interval: z.enum([BucketWidth.Hour, BucketWidth.Day]).default(BucketWidth.Day).describe('Time-series bucket width: whole hours, or days from the hour the experiment (or the analysed split phase) started in'),
  phase: z
    .string()
    .regex(/^(?:current|all|stratified|0|[1-9]\d{0,2})$/, 'must be current, all, stratified, or a phase index in digits (0 = before the first split change)')
    .optional()
    .describe(
      "Which split phase to analyse when the experiment's split moved while running (splitHistory): current (the default, except for a bandit; units first exposed since the last change, from the next whole hour once the phase spans a day), " +
        'all (every phase pooled: the effects may be confounded, see warnings), ' +
        "stratified (the default of a bandit: each phase analysed on its own at the exact split changes (one scan: nothing rounded away), and each variation's estimates combined weighted by the phases' shares of the units: every phase's data without the confounding; filters.phase.stratified says how many phases were combined), " +
        'or an index (0 = before the first change). Intersected with from and to',
    ),
};

/** The phase parameter as the results take it. */
function phaseOf(phase: string | undefined): Pick<ResultsRequest, 'phase'> {
  if (phase === undefined) {
    return {};
  }
  return { phase: phase === 'current' || phase === 'all' || phase === 'stratified' ? phase : Number(phase) };
}

const breakdownKnown = {
  environment: known.environment,
  dimension: attributeNameSchema.describe("One of the experiment's dimensions"),
  limit: queryInt(1, MAX_BREAKDOWN_VALUES).default(20).describe('Values analysed, largest first; the rest are counted in omitted'),
  from: known.from,
  to: known.to,
  phase: known.phase,
  segment: known.segment,
  sequential: known.sequential,
  cuped: known.cuped,
  alpha: known.alpha,
  correction: known.correction,
};
/**
 * Known parameters, plus attr.<name>=<value> filters on other attributes than the dimension (checked
 * in `filtersOf`, as the results check theirs, then by the breakdown). When the query is refused
 * anyway (no dimension), an unknown parameter is named among the issues too, as a strict object would.
 */
const breakdownQuery = z
  .object(breakdownKnown)
  .catchall(attributeFilter)
  .superRefine(
    (query, ctx) => {
      // Run on a refused query: it may be anything (Object() of a non-object has no keys).
      for (const name of Object.keys(Object(query) as object)) {
        if (!Object.hasOwn(breakdownKnown, name) && !name.startsWith(ATTRIBUTE_PREFIX)) {
          ctx.addIssue({ code: 'custom', path: [name.slice(0, 64)], message: 'unknown parameter' });
        }
      }
    },
    { when: (payload) => payload.issues.length > 0 },
  );

/** Known parameters, plus attr.<name>=<value> filters (checked in `toRequest`). */
const resultsQuery = z.object(known).catchall(attributeFilter);
const csvQuery = z
  .object({
    ...known,
    table: z.enum(['summary', 'timeseries']).default('summary').describe('summary: one row per metric × variation; timeseries: the cumulative series'),
    bom: z.enum(BOM_VALUES, { error: 'must be 1 or true' }).optional().describe('1 or true: start with a UTF-8 byte order mark (U+FEFF), for Excel'),
  })
  .catchall(attributeFilter);

type ResultsQuery = z.output<typeof resultsQuery>;

function toRequest(query: ResultsQuery, extra: readonly string[] = []): ResultsRequest {
  return {
    environment: query.environment,
    interval: query.interval,
    ...phaseOf(query.phase),
    ...filtersOf(query, (name) => Object.hasOwn(known, name) || extra.includes(name)),
    ...analysisOptions(query),
  };
}

/**
 * The population filters of a results or breakdown query: from, to, segment, and every parameter
 * that is not `isKnown` as an attr.<name>=<value> filter (anything else is an unknown parameter).
 */
function filtersOf(query: Readonly<Record<string, unknown>> & Pick<ResultsQuery, 'from' | 'to' | 'segment'>, isKnown: (name: string) => boolean): Pick<ResultsRequest, 'from' | 'to' | 'segment' | 'attributes'> {
  // No prototype: attr.__proto__ is a filter like any other (assigned to a literal it vanished), and
  // only the known parameters themselves are known (`toString` is not).
  const attributes: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(query)) {
    if (isKnown(name)) {
      continue;
    }
    const attribute = name.startsWith(ATTRIBUTE_PREFIX) ? name.slice(ATTRIBUTE_PREFIX.length) : undefined;
    if (attribute === undefined || !attributeNameSchema.safeParse(attribute).success || typeof value !== 'string' || value.length > 1024) {
      throw invalid(`unknown query parameter "${name.slice(0, 64)}"; filter on attributes with attr.<name>=<value>`, {
        issues: [{ path: `query.${name.slice(0, 64)}`, message: 'unknown parameter' }],
      });
    }
    attributes[attribute] = value;
  }
  if (Object.keys(attributes).length > MAX_ATTRIBUTE_FILTERS) {
    throw invalid(`at most ${MAX_ATTRIBUTE_FILTERS} attribute filters`, { issues: [{ path: 'query', message: 'too many attr.* filters' }] });
  }
  return {
    attributes,
    ...(query.from === undefined ? {} : { from: new Date(query.from) }),
    ...(query.to === undefined ? {} : { to: new Date(query.to) }),
    ...(query.segment === undefined ? {} : { segment: query.segment }),
  };
}

/** The analysis choices both the results and the breakdown take. */
function analysisOptions(query: Pick<ResultsQuery, 'sequential' | 'cuped' | 'alpha' | 'correction'>): Pick<ResultsRequest, 'sequential' | 'cuped' | 'alpha' | 'correction'> {
  return {
    ...(query.sequential === undefined ? {} : { sequential: query.sequential === 'true' }),
    ...(query.cuped === undefined ? {} : { cuped: query.cuped === 'true' }),
    ...(query.alpha === undefined ? {} : { alpha: query.alpha }),
    ...(query.correction === undefined ? {} : { correction: query.correction }),
  };
}

const DESCRIPTION =
  'Filter the exposed population with attr.<name>=<value> (the attributes sent with the unit\'s first exposure; ' +
  'the value matches as text and, when it spells one, as a number or boolean), segment, from and to. ' +
  "When the experiment's split moved while running (splitHistory), only the current split phase is analysed unless phase says otherwise — a bandit combines its phases stratified by default (filters.phase says which; warnings flag effects that pool phases). " +
  'unit names what a unit is (the experiment\'s hashAttribute and fallbackAttribute): every units count counts its values, accounts and not users for an experiment bucketed by accountId. ' +
  'Unbounded interval ends are null. Degenerate comparisons carry error.code and neutral numbers.';

export function resultRoutes(services: Services): AnyRoute[] {
  // The route table is listed before any database exists (OpenAPI, permission tests): build lazily.
  let service: ResultsService | undefined;
  const results = async (req: Request<z.output<typeof projectKeyParams>, ResultsQuery, undefined>, extra: readonly string[] = []): Promise<ExperimentResults> => {
    service ??= new ResultsService(services.deps);
    return service.get(req.actor, req.params.project, req.params.key, toRequest(req.query, extra));
  };
  return [
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/experiments/{key}/results',
      permission: Permission.Read,
      tag: 'Results',
      summary: 'Experiment results: per variation and metric, SRM, corrected p-values, CUPED, Bayesian summary and a cumulative time series',
      description: DESCRIPTION,
      params: projectKeyParams,
      query: resultsQuery,
      responses: { 200: { description: 'The results', schema: experimentResultsSchema } },
      handler: async (req) => ({ status: 200, body: await results(req), headers: { 'Cache-Control': 'no-store' } }),
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/experiments/{key}/results/breakdown',
      permission: Permission.Read,
      tag: 'Results',
      summary: "Results per value of one of the experiment's dimensions (from the dimension's rollups), largest values first",
      description:
        'Each value is analysed as attr.<dimension>=<value> would be, with the same filters as the results (from, to, segment and attr.<name>=<value> on other attributes than the dimension), without the time series. ' +
        'With filters, each value counts the units they keep, in the order of the unfiltered rollups; values without any are left out. The corrections apply within each value, not across values.',
      params: projectKeyParams,
      query: breakdownQuery,
      responses: { 200: { description: 'The results per value', schema: resultsBreakdownSchema } },
      handler: async (req) => {
        service ??= new ResultsService(services.deps);
        const q = req.query;
        const filters = filtersOf(q, (name) => Object.hasOwn(breakdownKnown, name));
        const body = await service.breakdown(req.actor, req.params.project, req.params.key, { environment: q.environment, dimension: q.dimension, limit: q.limit, ...phaseOf(q.phase), ...filters, ...analysisOptions(q) });
        return { status: 200, body, headers: { 'Cache-Control': 'no-store' } };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/experiments/{key}/results.csv',
      permission: Permission.Read,
      tag: 'Results',
      summary: 'Experiment results as CSV (text/csv): one row per metric × variation, or the time series with table=timeseries',
      description: DESCRIPTION,
      params: projectKeyParams,
      query: csvQuery,
      responses: { 200: { description: 'text/csv; charset=utf-8, as an attachment', mediaType: 'text/csv' } },
      handler: async (req) => {
        const body = await results(req, ['table', 'bom']);
        const series = req.query.table === 'timeseries';
        const name = `${req.params.key}-${body.environment}-${series ? 'timeseries' : 'results'}.csv`;
        return {
          status: 200,
          text: (req.query.bom === undefined ? '' : UTF8_BOM) + (series ? timeSeriesCsv(body) : resultsCsv(body)),
          headers: { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="${name}"`, 'Cache-Control': 'no-store' },
        };
      },
    }),
  ];
}
