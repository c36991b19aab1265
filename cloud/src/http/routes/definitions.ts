import { z } from 'zod';
import { DEFAULT_STALE_DAYS, experimentSchema, flagEnvironmentSchema, flagSchema, holdoutSchema, keySchema, metricSchema, segmentSchema } from '@xp/shared';
import { applyChanges, applyRequestSchema } from '../../domain/apply.js';
import type { DefinitionService } from '../../domain/definitions.js';
import type { Services } from '../../domain/services.js';
import type { Deps } from '../../domain/context.js';
import { listFlags } from '../../domain/flag-list.js';
import type { DefinitionKind, ListSort } from '../../store/definitions.js';
import { Permission } from '../../auth/permissions.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { banditRoutes } from './bandit.js';
import { segmentRoutes } from './segments.js';
import { listQuery, pageSchema, pageView, projectKeyParams, projectParams, queryInt, storedSchema, storedView, versioned } from './common.js';

interface KindRoutes {
  readonly kind: DefinitionKind;
  readonly plural: string;
  readonly title: string;
  readonly tag: string;
  readonly schema: z.ZodType;
  readonly service: DefinitionService<DefinitionKind>;
  readonly write: Permission;
  /** Flags: the list with the cleanup filters (stale, temporary, sort) and stale classifications. */
  readonly flagList?: Deps;
}

const named = new Map<string, z.ZodType>();
function stored(name: string, schema: z.ZodType): z.ZodType {
  let s = named.get(name);
  if (s === undefined) {
    s = storedSchema(schema).meta({ id: `Stored${name}` });
    named.set(name, s);
  }
  return s;
}

/** The kinds whose lists filter by `tags` (holdouts have none). */
const TAGGED_KINDS: ReadonlySet<string> = new Set(['flag', 'experiment', 'metric', 'segment']);

/** `?tag=a,b`: definitions having every tag listed (comma-separated; a parameter is given once). */
const tagFilter = z
  .string()
  .max(3_300)
  .transform((raw, ctx) => {
    const tags = [...new Set(raw.split(',').map((t) => t.trim()).filter((t) => t !== ''))];
    // Counted in code points, as the tag schema counts them: 33 emoji are a valid tag.
    if (tags.length === 0 || tags.length > 50 || tags.some((t) => Array.from(t).length > 64)) {
      ctx.addIssue({ code: 'custom', message: 'tag must list 1 to 50 comma-separated tags of at most 64 characters' });
      return z.NEVER;
    }
    return tags;
  })
  .optional()
  .meta({ description: 'Comma-separated tags: only definitions having all of them (e.g. `team-1,checkout`)' });

const trueFalse = z.enum(['true', 'false']).optional();

/** The flag list's cleanup parameters (see listFlags). */
const flagListQuery = {
  stale: trueFalse.meta({ description: 'Only stale flags (`true`: temporary, unarchived, serving one variation to everyone in every environment, unchanged for `staleDays`), or only the others (`false`); the rule the console, `xp code-refs` and the language server apply' }),
  staleDays: queryInt(0, 3650).optional().meta({ description: `Days unchanged before a flag is stale, for \`stale\` and \`include=stale\` (default ${DEFAULT_STALE_DAYS})` }),
  temporary: trueFalse.meta({ description: 'Only temporary flags (`true`) or only permanent ones (`false`)' }),
  sort: z.enum(['key', 'updatedAt', 'servingChangedAt']).optional().meta({ description: 'The order, ascending (oldest first for the times), then by key: `key` (default), `updatedAt` (last change of any kind) or `servingChangedAt` (last change to what the flag serves). A cursor is valid for the sort it came with only.' }),
  include: z.enum(['stale']).optional().meta({ description: '`stale`: each flag carries `stale`, its classification (null: not stale)' }),
};

/** A flag of the list (`flag`: the flag schema as the other routes name it): with `include=stale`, its stale classification. */
const listedFlagSchema = (flag: z.ZodType): z.ZodType => storedSchema(flag)
  .extend({
    stale: z
      .strictObject({
        variation: z.string().meta({ description: 'The variation it serves to every unit in every environment' }),
        since: z.string().meta({ description: 'Since when (ISO instant)' }),
        dependents: z.array(z.string()).optional().meta({ description: 'Unarchived flags whose prerequisites name it: remove those before archiving it' }),
      })
      .nullable()
      .optional()
      .meta({ description: 'With `include=stale`: why the flag is stale, or null when it is not' }),
  })
  .meta({ id: 'ListedFlag' });

/** List, create, read, replace and delete for one kind of definition. */
function crud(k: KindRoutes): AnyRoute[] {
  const base = `/api/v1/projects/{project}/${k.plural}`;
  const one = stored(k.title, k.schema);
  const flagList = k.flagList;
  return [
    flagList !== undefined
      ? route({
          method: 'get',
          path: base,
          permission: Permission.Read,
          tag: k.tag,
          summary: `List ${k.plural} (search by key or name, filter by tag, staleness or temporary, sorted, paginated)`,
          params: projectParams,
          query: listQuery.extend({ tag: tagFilter, ...flagListQuery }),
          responses: { 200: { description: `A page of ${k.plural}`, schema: pageSchema(listedFlagSchema(k.schema)) } },
          handler: async (req) => {
            const q = req.query as z.infer<typeof listQuery> & { tag?: string[]; stale?: 'true' | 'false'; staleDays?: number; temporary?: 'true' | 'false'; sort?: ListSort; include?: 'stale' };
            const page = await listFlags(flagList, req.actor, req.params.project, {
              limit: q.limit,
              cursor: q.cursor,
              search: q.q,
              includeArchived: q.archived === 'true',
              tags: q.tag,
              stale: q.stale === undefined ? undefined : q.stale === 'true',
              staleDays: q.staleDays,
              temporary: q.temporary === undefined ? undefined : q.temporary === 'true',
              sort: q.sort,
              includeStale: q.include === 'stale',
            });
            return { status: 200, body: pageView(page, (item) => (item.stale === undefined ? storedView(item.flag) : { ...storedView(item.flag), stale: item.stale })) };
          },
        })
      : route({
      method: 'get',
      path: base,
      permission: Permission.Read,
      tag: k.tag,
      summary: `List ${k.plural} (search by key or name, paginated)`,
      params: projectParams,
      query: listQuery.extend({
        ...(k.kind === 'experiment' ? { status: z.enum(['draft', 'running', 'stopped']).optional() } : {}),
        ...(TAGGED_KINDS.has(k.kind) ? { tag: tagFilter } : {}),
      }),
      responses: { 200: { description: `A page of ${k.plural}`, schema: pageSchema(one) } },
      handler: async (req) => {
        const q = req.query as z.infer<typeof listQuery> & { status?: string; tag?: string[] };
        const page = await k.service.list(req.actor, req.params.project, { limit: q.limit, cursor: q.cursor, search: q.q, includeArchived: q.archived === 'true', status: q.status, tags: q.tag });
        return { status: 200, body: pageView(page, storedView) };
      },
    }),

    route({
      method: 'post',
      path: base,
      permission: k.write,
      tag: k.tag,
      summary: `Create a ${k.kind}`,
      params: projectParams,
      body: k.schema,
      responses: { 201: { description: 'Created', schema: one, headers: ['ETag'] } },
      handler: async (req) => {
        const created = await k.service.create(req.actor, req.params.project, req.body);
        return versioned(201, created, storedView(created));
      },
    }),
    route({
      method: 'get',
      path: `${base}/{key}`,
      permission: Permission.Read,
      tag: k.tag,
      summary: `One ${k.kind}`,
      params: projectKeyParams,
      responses: { 200: { description: `The ${k.kind}`, schema: one, headers: ['ETag'] } },
      handler: async (req) => {
        const found = await k.service.get(req.actor, req.params.project, req.params.key);
        return versioned(200, found, storedView(found));
      },
    }),
    route({
      method: 'put',
      path: `${base}/{key}`,
      permission: k.write,
      tag: k.tag,
      summary: `Replace a ${k.kind}`,
      params: projectKeyParams,
      body: k.schema,
      concurrency: true,
      responses: { 200: { description: 'Updated', schema: one, headers: ['ETag'] } },
      handler: async (req) => {
        // The service validates again; it sees what was sent, so a field left out can keep its stored value.
        const updated = await k.service.update(req.actor, req.params.project, req.params.key, req.rawBody, req.expectedVersion);
        return versioned(200, updated, storedView(updated));
      },
    }),
    route({
      method: 'delete',
      path: `${base}/{key}`,
      permission: k.write,
      tag: k.tag,
      summary: `Delete a ${k.kind}`,
      ...(k.kind === 'flag'
        ? {
            description:
              'Refused (409 INVALID_STATE) while a running experiment\'s rule in the flag delivers it (`details.experiments`: stop them first), and while the flag has stored code references (`details.codeRefs`: per repository branch) unless `force=true`.',
            query: z.strictObject({ force: z.enum(['true', 'false']).optional().describe('Delete the flag even if code still references it') }),
          }
        : {}),
      params: projectKeyParams,
      concurrency: true,
      responses: { 204: { description: 'Deleted' } },
      handler: async (req) => {
        const force = (req.query as { force?: string } | undefined)?.force === 'true';
        await k.service.delete(req.actor, req.params.project, req.params.key, req.expectedVersion, undefined, { force });
        return { status: 204 };
      },
    }),
  ];
}

const flagEnvParams = z.strictObject({ project: keySchema, key: keySchema, environment: keySchema });

export function definitionRoutes(s: Services): AnyRoute[] {
  const flagOne = stored('Flag', flagSchema);
  const experimentOne = stored('Experiment', experimentSchema);
  return [
    ...crud({ kind: 'flag', plural: 'flags', title: 'Flag', tag: 'Flags', schema: flagSchema.meta({ id: 'Flag' }), service: s.flags, write: Permission.FlagsWrite, flagList: s.deps }),
    route({
      method: 'put',
      path: '/api/v1/projects/{project}/flags/{key}/environments/{environment}',
      permission: Permission.FlagsWrite,
      tag: 'Flags',
      summary: "Replace a flag's state (on/off, default, rules, prerequisites) in one environment",
      description: 'In a protected environment, roles below admin get 403 APPROVAL_REQUIRED and propose a change request instead.',
      params: flagEnvParams,
      body: flagEnvironmentSchema.meta({ id: 'FlagEnvironment' }),
      concurrency: true,
      responses: { 200: { description: 'Updated', schema: flagOne, headers: ['ETag'] } },
      handler: async (req) => {
        const updated = await s.flags.setEnvironmentState(req.actor, req.params.project, req.params.key, req.params.environment, req.body, req.expectedVersion);
        return versioned(200, updated, storedView(updated));
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/flags/{key}/environments/{environment}/toggle',
      permission: Permission.FlagsWrite,
      tag: 'Flags',
      summary: 'Turn a flag on or off in one environment',
      params: flagEnvParams,
      body: z.strictObject({ enabled: z.boolean() }),
      concurrency: true,
      responses: { 200: { description: 'Updated', schema: flagOne, headers: ['ETag'] } },
      handler: async (req) => {
        const updated = await s.flags.toggle(req.actor, req.params.project, req.params.key, req.params.environment, req.body.enabled, req.expectedVersion);
        return versioned(200, updated, storedView(updated));
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/apply',
      // The write permission every role that may change definitions has (a viewer is refused at
      // once); each change is then checked for its own kind's, with the change named.
      permission: Permission.MetricsWrite,
      tag: 'Flags as code',
      summary: 'Create, replace and delete definitions of several kinds in one transaction (what `xp apply` sends)',
      description:
        'Every change is checked as its own request would be (permission, validation, version, protected environments, references) and the first refusal rolls all of them back, naming the change (`details.change`). `dryRun: true` makes the same checks and writes nothing. Rulesets are published once, after the commit.',
      params: projectParams,
      body: applyRequestSchema.meta({ id: 'ApplyRequest' }),
      responses: {
        200: {
          description: 'Applied (or, for a dry run, would be)',
          schema: z.strictObject({
            dryRun: z.boolean(),
            changes: z.array(z.strictObject({ kind: z.string(), key: z.string(), action: z.enum(['create', 'update', 'delete']), version: z.number().int().optional() })),
          }),
        },
      },
      handler: async (req) => ({ status: 200, body: await applyChanges(s, req.actor, req.params.project, req.body) }),
    }),
    ...crud({ kind: 'segment', plural: 'segments', title: 'Segment', tag: 'Segments', schema: segmentSchema.meta({ id: 'Segment' }), service: s.segments, write: Permission.SegmentsWrite }),
    // Adding and removing ids without sending the list (POST …/segments/{key}/ids): routes/segments.ts.
    ...segmentRoutes(s, stored('Segment', segmentSchema)),
    ...crud({ kind: 'metric', plural: 'metrics', title: 'Metric', tag: 'Metrics', schema: metricSchema.meta({ id: 'Metric' }), service: s.metrics, write: Permission.MetricsWrite }),
    ...crud({ kind: 'holdout', plural: 'holdouts', title: 'Holdout', tag: 'Holdouts', schema: holdoutSchema.meta({ id: 'Holdout' }), service: s.holdouts, write: Permission.HoldoutsWrite }),
    ...crud({ kind: 'experiment', plural: 'experiments', title: 'Experiment', tag: 'Experiments', schema: experimentSchema.meta({ id: 'Experiment' }), service: s.experiments, write: Permission.ExperimentsWrite }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/experiments/{key}/start',
      permission: Permission.ExperimentsWrite,
      tag: 'Experiments',
      summary: 'Start a draft experiment (records the start time)',
      params: projectKeyParams,
      concurrency: true,
      responses: { 200: { description: 'Running', schema: experimentOne, headers: ['ETag'] } },
      handler: async (req) => {
        const updated = await s.experiments.start(req.actor, req.params.project, req.params.key, req.expectedVersion);
        return versioned(200, updated, storedView(updated));
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/experiments/{key}/stop',
      permission: Permission.ExperimentsWrite,
      tag: 'Experiments',
      summary: 'Stop a running experiment with a decision, a winner, and whether to release it to everyone',
      params: projectKeyParams,
      // Every field is optional, so the body may be left out altogether.
      body: z.strictObject({ decision: z.enum(['ship', 'rollback', 'inconclusive']).optional(), winner: keySchema.optional(), releaseWinner: z.boolean().optional() }).optional(),
      concurrency: true,
      responses: { 200: { description: 'Stopped', schema: experimentOne, headers: ['ETag'] } },
      handler: async (req) => {
        const updated = await s.experiments.stop(req.actor, req.params.project, req.params.key, req.expectedVersion, req.body ?? {});
        return versioned(200, updated, storedView(updated));
      },
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/experiments/{key}/resume',
      permission: Permission.ExperimentsWrite,
      tag: 'Experiments',
      summary: 'Run a stopped experiment again: same assignments, results continue; its decision is cleared',
      params: projectKeyParams,
      concurrency: true,
      responses: { 200: { description: 'Running', schema: experimentOne, headers: ['ETag'] } },
      handler: async (req) => {
        const updated = await s.experiments.resume(req.actor, req.params.project, req.params.key, req.expectedVersion);
        return versioned(200, updated, storedView(updated));
      },
    }),
    // A bandit experiment's checks (GET …/bandit) and one now (POST …/bandit/update): routes/bandit.ts.
    ...banditRoutes(s),
  ];
}
