import { z } from 'zod';
import { isoDateSchema, keySchema } from '@xp/shared';
import { changeRequestCreateSchema } from '../../domain/change-requests.js';
import type { Services } from '../../domain/services.js';
import { Permission } from '../../auth/permissions.js';
import { invalid } from '../../errors.js';
import { AUDIT_RESOURCE_TYPES } from '../../store/audit.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { pageQuery, pageSchema, pageView, projectIdParams, projectParams } from './common.js';
import { MAX_AUDIT_EXPORT_ENTRIES } from '../../domain/audit-log.js';
import { BOM_VALUES, UTF8_BOM, toCsv } from '../../domain/results-csv.js';
import type { ExportedAuditEntry } from '../../store/audit.js';

/** A session's or personal access token's id (a UUID, as `GET /api/v1/me/tokens` and entries' `credential.id` give it). */
const CREDENTIAL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The audit log's filters, shared by the page and the export. */
const auditFilterQuery = {
        project: keySchema.optional(),
        resourceType: z.enum(AUDIT_RESOURCE_TYPES, { error: `must be one of ${AUDIT_RESOURCE_TYPES.join(', ')}` }).optional(),
        resourceKey: z.string().max(128).optional(),
        actor: z.string().max(64).optional(),
        credential: z
          .string()
          .max(64)
          .regex(CREDENTIAL_ID, "must be a personal access token's id as GET /api/v1/me/tokens lists it (or a session's id as entries' credential.id show it), not the token, its prefix or its name")
          .optional()
          .describe("Only entries made with this credential: a personal access token's id (GET /api/v1/me/tokens), or a session's id from an entry's credential.id"),
        environment: keySchema.optional(),
        action: z
          .string()
          .max(64)
          .regex(/^[a-z][a-z-]*(?:\.[a-z][a-z-]*)*\.(?:[a-z][a-z-]*|\*)$/, 'an action such as flag.updated or user.login-failed, or resource.* for every action of one resource type')
          .optional()
          .describe('One action (flag.updated), or every action of a resource type (flag.*)'),
        turned: z
          .enum(['on', 'off'], { error: 'must be on or off' })
          .optional()
          .describe(
            'Only entries that turned a flag on (off), whatever their action: toggle, environment or flag edit, flags file applied, approved change request; with environment, in that environment',
          ),
        from: isoDateSchema.optional().describe('Entries made at or after this instant (ISO 8601 with a time zone: 2026-11-25T00:00:00Z)'),
        to: isoDateSchema.optional().describe('Entries made before this instant'),
};

/** The service's filter from the query; `from` must come before `to`. */
function auditFilter(q: {
  project?: string | undefined;
  resourceType?: string | undefined;
  resourceKey?: string | undefined;
  actor?: string | undefined;
  credential?: string | undefined;
  environment?: string | undefined;
  action?: string | undefined;
  turned?: 'on' | 'off' | undefined;
  from?: string | undefined;
  to?: string | undefined;
}) {
  if (q.from !== undefined && q.to !== undefined && Date.parse(q.from) >= Date.parse(q.to)) {
    throw invalid('from must be before to', { issues: [{ path: 'query.from', message: 'not before to' }] });
  }
  return {
    project: q.project,
    resourceType: q.resourceType,
    resourceKey: q.resourceKey,
    actorId: q.actor,
    // Ids are stored lower-case (randomUUID); one pasted in upper case finds them all the same.
    credentialId: q.credential?.toLowerCase(),
    environment: q.environment,
    action: q.action,
    turned: q.turned,
    from: q.from === undefined ? undefined : new Date(q.from),
    to: q.to === undefined ? undefined : new Date(q.to),
  };
}

/**
 * Columns added later come last (`resource_label`, then the credential and `ip`), after the columns
 * exports had before them, so scripts reading columns by position keep working.
 */
const AUDIT_CSV_HEADER = [
  'id',
  'created_at',
  'project',
  'project_id',
  'actor_email',
  'actor_id',
  'client',
  'action',
  'resource_type',
  'resource_key',
  'environment',
  'diff',
  'resource_label',
  'credential_kind',
  'credential_id',
  'credential_prefix',
  'ip',
];

/** One row per entry; the diff as its JSON text; the label, credential and address empty when there is none. */
function auditCsv(entries: readonly ExportedAuditEntry[]): string {
  return toCsv(
    AUDIT_CSV_HEADER,
    entries.map((e) => [
      e.id,
      e.createdAt,
      e.projectKey,
      e.projectId,
      e.actorEmail,
      e.actorId,
      e.client,
      e.action,
      e.resourceType,
      e.resourceKey,
      e.environment,
      e.diff === null ? null : JSON.stringify(e.diff),
      e.resourceLabel ?? null,
      e.credential?.kind ?? null,
      e.credential?.id ?? null,
      e.credential?.prefix ?? null,
      e.ip,
    ]),
  );
}

const changeRequestSchema = z
  .object({
    id: z.string(),
    resourceType: z.string(),
    resourceKey: z.string(),
    environment: z.string(),
    status: z.enum(['open', 'applied', 'rejected', 'cancelled', 'failed']),
    baseVersion: z.number().int(),
    proposed: z.unknown(),
    diff: z.unknown(),
    comment: z.string().nullable(),
    proposedBy: z.string(),
    approvedBy: z.string().nullable(),
    approvedAt: z.string().nullable(),
    approvalVoid: z.string().nullable().describe('Why the approval of an open request no longer counts (its reviewer was disabled, removed or can no longer approve); null when it counts or there is none'),
    reviewedBy: z.string().nullable(),
    reviewedAt: z.string().nullable(),
    appliedAt: z.string().nullable(),
    createdAt: z.string(),
    applyAt: z.string().nullable().describe('When the job applies it once approved (within about a minute after); null: applied on demand'),
    failure: z.string().nullable().describe('Why it could not be applied at its time (status failed)'),
  })
  .meta({ id: 'ChangeRequest' });

const auditEntrySchema = z
  .object({
    id: z.number().int(),
    projectId: z.string().nullable(),
    actorId: z.string().nullable(),
    actorEmail: z.string().nullable(),
    client: z.string(),
    action: z.string(),
    resourceType: z.string(),
    resourceKey: z.string(),
    resourceLabel: z
      .string()
      .optional()
      .describe(
        "What the target is called, for a target whose key is an internal id: a user's e-mail, a webhook's name, an SDK key's or access token's name and public prefix (`production server (xpk_srv_ab12cd34…)`). Resolved when read, so it is the target's current name; for a target deleted since, what the entry recorded of it; absent when neither is known (and for other resource types, whose key is their name). Never a secret: no webhook URL, key or token.",
      ),
    environment: z.string().nullable(),
    diff: z.array(z.object({ op: z.enum(['add', 'remove', 'replace']), path: z.string(), from: z.unknown().optional(), to: z.unknown().optional() })),
    createdAt: z.string(),
    credential: z
      .object({
        kind: z.enum(['session', 'token', 'system']).describe("session: a console or CLI sign-in; token: a personal access token; system: the platform's own actor (guardrails, bootstrap, alarm-rollback)"),
        id: z.string().describe("The session's or token's id (a token's as GET /api/v1/me/tokens lists it; the `credential` filter takes it); a system actor's name"),
        prefix: z.string().nullable().describe("A token's display prefix (`xpp_ab12cd34`); null for a session or system actor"),
      })
      .nullable()
      .describe('The credential the change was made with. Never a secret or hash. Null for entries written before it was recorded, failed logins (nobody was authenticated) and CLI commands run by the operator on the server'),
    ip: z
      .string()
      .nullable()
      .describe("The client's address: the TCP peer's, or, when that is a proxy listed in XP_TRUSTED_PROXIES, the right-most X-Forwarded-For entry that is not one. Null when unknown and for entries written before it was recorded"),
  })
  .meta({ id: 'AuditEntry' });

function crView(cr: Omit<z.infer<typeof changeRequestSchema>, 'approvalVoid'> & { projectId?: string; base?: unknown; approvalVoid?: string | null }): z.infer<typeof changeRequestSchema> {
  // `base` (what the request was based on) is the service's to compare; `proposed` and `diff` show it.
  const { projectId: _p, base: _b, ...rest } = cr;
  // An approval just given, or a request no longer open, has no void approval to report.
  return { ...rest, approvalVoid: cr.approvalVoid ?? null };
}

const ACTION_PERMISSION = {
  approve: Permission.ChangeRequestsApprove,
  reject: Permission.ChangeRequestsReject,
  apply: Permission.ChangeRequestsApply,
  cancel: Permission.ChangeRequestsPropose,
} as const;

export function governanceRoutes(s: Services): AnyRoute[] {
  const action = (name: 'approve' | 'reject' | 'apply' | 'cancel', summary: string): AnyRoute =>
    route({
      method: 'post',
      path: `/api/v1/projects/{project}/change-requests/{id}/${name}`,
      permission: ACTION_PERMISSION[name],
      tag: 'Change requests',
      summary,
      params: projectIdParams,
      responses: { 200: { description: 'The change request', schema: changeRequestSchema } },
      handler: async (req) => ({ status: 200, body: crView(await s.changeRequests[name](req.actor, req.params.project, req.params.id)) }),
    });
  return [
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/change-requests',
      permission: Permission.Read,
      tag: 'Change requests',
      summary: 'Change requests, newest first',
      params: projectParams,
      query: z.strictObject({ ...pageQuery, status: z.enum(['open', 'applied', 'rejected', 'cancelled', 'failed']).optional(), resourceKey: keySchema.optional() }),
      responses: { 200: { description: 'A page of change requests', schema: pageSchema(changeRequestSchema) } },
      handler: async (req) => ({
        status: 200,
        body: pageView(await s.changeRequests.list(req.actor, req.params.project, { limit: req.query.limit, cursor: req.query.cursor, status: req.query.status, resourceKey: req.query.resourceKey }), crView),
      }),
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/change-requests',
      permission: Permission.ChangeRequestsPropose,
      tag: 'Change requests',
      summary: "Propose a change to a flag's state in a protected environment",
      params: projectParams,
      body: changeRequestCreateSchema,
      responses: { 201: { description: 'Proposed', schema: changeRequestSchema } },
      handler: async (req) => ({ status: 201, body: crView(await s.changeRequests.propose(req.actor, req.params.project, req.body)) }),
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/change-requests/{id}',
      permission: Permission.Read,
      tag: 'Change requests',
      summary: 'One change request, with its diff',
      params: projectIdParams,
      responses: { 200: { description: 'The change request', schema: changeRequestSchema } },
      handler: async (req) => ({ status: 200, body: crView(await s.changeRequests.get(req.actor, req.params.project, req.params.id)) }),
    }),
    action('approve', 'Approve (another user’s) change request'),
    action('reject', 'Reject (another user’s) change request'),
    action('apply', 'Apply an approved change request (proposer or reviewer)'),
    action('cancel', 'Withdraw your own change request'),
    route({
      method: 'get',
      path: '/api/v1/audit',
      permission: Permission.AuditRead,
      tag: 'Audit',
      summary: 'The audit log, newest first, filterable by project, resource, action, user, credential, environment and time',
      query: z.strictObject({ ...pageQuery, ...auditFilterQuery }),
      responses: { 200: { description: 'A page of entries', schema: pageSchema(auditEntrySchema) } },
      handler: async (req) => {
        const page = await s.audit.list(req.actor, { limit: req.query.limit, cursor: req.query.cursor, ...auditFilter(req.query) });
        return { status: 200, body: pageView(page) };
      },
    }),
    route({
      method: 'get',
      path: '/api/v1/audit/export',
      permission: Permission.AuditRead,
      tag: 'Audit',
      summary: 'The audit log as a file: every entry the filters match, oldest first, as CSV (default) or NDJSON',
      description: `The same filters as GET /api/v1/audit, without paging. At most ${MAX_AUDIT_EXPORT_ENTRIES.toLocaleString('en-US')} entries: a larger export is refused (400) and is made in parts with from and to.`,
      query: z.strictObject({
        ...auditFilterQuery,
        format: z.enum(['csv', 'ndjson'], { error: 'must be csv or ndjson' }).default('csv').describe('csv (text/csv, RFC 4180) or ndjson (application/x-ndjson, one entry per line)'),
        bom: z.enum(BOM_VALUES, { error: 'must be 1 or true' }).optional().describe('CSV only, 1 or true: start with a UTF-8 byte order mark (U+FEFF), for Excel'),
      }),
      responses: { 200: { description: 'text/csv; charset=utf-8 or application/x-ndjson, as an attachment', mediaType: ['text/csv', 'application/x-ndjson'] } },
      handler: async (req) => {
        const entries = await s.audit.export(req.actor, auditFilter(req.query));
        const csv = req.query.format === 'csv';
        const name = `xp-audit-${new Date().toISOString().slice(0, 10)}.${csv ? 'csv' : 'ndjson'}`;
        return {
          status: 200,
          text: csv ? (req.query.bom === undefined ? '' : UTF8_BOM) + auditCsv(entries) : entries.map((e) => `${JSON.stringify(e)}\n`).join(''),
          headers: {
            'Content-Type': csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
            'Content-Disposition': `attachment; filename="${name}"`,
            'Cache-Control': 'no-store',
          },
        };
      },
    }),
  ];
}
