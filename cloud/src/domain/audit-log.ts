import { Permission, assertCan } from '../auth/permissions.js';
import type { AuditEntry, AuditFilter, ExportedAuditEntry } from '../store/audit.js';
import { audit } from '../store/audit.js';
import type { Page } from '../store/pagination.js';
import type { Actor, Deps } from './context.js';
import { projectFor } from './definitions.js';
import { invalid } from '../errors.js';

/** The most entries one export holds; a larger one is refused, to be narrowed by time. */
export const MAX_AUDIT_EXPORT_ENTRIES = 100_000;

type ListFilter = Omit<AuditFilter, 'projectId'> & { project?: string | undefined };

export class AuditService {
  constructor(private readonly deps: Deps) {}

  /** The organisation's audit log, newest first, filtered by project, resource, user, environment or time. */
  async list(actor: Actor, filter: ListFilter): Promise<Page<AuditEntry>> {
    return audit.list(this.deps.db, actor.orgId, await this.scoped(actor, filter));
  }

  /**
   * Every entry the filter matches, oldest first (the same filters and access as `list`), for an
   * export; more than MAX_AUDIT_EXPORT_ENTRIES is refused with the advice to narrow it.
   */
  async export(actor: Actor, filter: Omit<ListFilter, 'limit' | 'cursor'>): Promise<ExportedAuditEntry[]> {
    const { entries, more } = await audit.exportEntries(this.deps.db, actor.orgId, await this.scoped(actor, filter), MAX_AUDIT_EXPORT_ENTRIES);
    if (more) {
      throw invalid(`more than ${MAX_AUDIT_EXPORT_ENTRIES.toLocaleString('en-US')} entries match; export them in parts with from and to`, {
        issues: [{ path: 'query.from', message: `more than ${MAX_AUDIT_EXPORT_ENTRIES} entries match` }],
      });
    }
    return entries;
  }

  private async scoped<F extends Omit<ListFilter, 'limit' | 'cursor'>>(actor: Actor, filter: F): Promise<F & { projectId: string | undefined; projectIds?: string[] }> {
    assertCan(actor, Permission.AuditRead);
    if (filter.actorId?.includes('@') === true) {
      // Entries are filtered by the actor's id: an e-mail would match nothing and answer an empty log, as if they had done nothing.
      throw invalid(`actor must be a user id (as in GET /api/v1/users), not an e-mail: find ${filter.actorId}'s id with GET /api/v1/users?q=${filter.actorId}`, {
        issues: [{ path: 'query.actor', message: 'must be a user id, not an e-mail' }],
      });
    }
    const projectId = filter.project === undefined ? undefined : (await projectFor(this.deps.db, actor, filter.project)).id;
    // A token limited to some projects reads their entries only: not the organisation's (sign-ins, users, tokens).
    const scoped = { ...filter, projectId, ...(actor.projectIds === undefined ? {} : { projectIds: [...actor.projectIds] }) };
    if (filter.environment !== undefined && filter.environment !== '') {
      await this.refuseUnknownEnvironment(actor.orgId, filter.environment, projectId ?? scoped.projectIds, filter.project);
    }
    return scoped;
  }

  /**
   * A misspelled environment (`prod` for `production`) would answer an empty log, as if nothing had
   * happened there: refused, naming the environments there are, unless entries name it (an
   * environment deleted since keeps its history).
   */
  private async refuseUnknownEnvironment(orgId: string, environment: string, projects: string | readonly string[] | undefined, projectKey: string | undefined): Promise<void> {
    const ids = projects === undefined ? null : typeof projects === 'string' ? [projects] : [...projects];
    const known = await this.deps.db.query<{ key: string; named: boolean }>(
      `SELECT DISTINCT e.key, e.key = $3 AS named FROM environments e JOIN projects p ON p.id = e.project_id
       WHERE p.org_id = $1 AND ($2::text[] IS NULL OR p.id = ANY($2::text[])) ORDER BY e.key`,
      [orgId, ids, environment],
    );
    if (known.rows.some((r) => r.named)) {
      return;
    }
    const inHistory = await this.deps.db.query(
      `SELECT 1 FROM audit_log WHERE org_id = $1 AND environment_key = $2 AND ($3::text[] IS NULL OR project_id = ANY($3::text[])) LIMIT 1`,
      [orgId, environment, ids],
    );
    if (inHistory.rows.length > 0) {
      return;
    }
    const where = projectKey === undefined ? '' : ` in project ${projectKey}`;
    throw invalid(`no environment "${environment}"${where}, and no entry names one: the environments are ${known.rows.map((r) => r.key).join(', ') || 'none'}`, {
      issues: [{ path: 'query.environment', message: 'unknown environment' }],
    });
  }
}
