import { Permission, assertCan } from '../auth/permissions.js';
import type { AuditEntry, AuditFilter } from '../store/audit.js';
import { audit } from '../store/audit.js';
import type { Page } from '../store/pagination.js';
import type { Actor, Deps } from './context.js';
import { projectFor } from './definitions.js';

export class AuditService {
  constructor(private readonly deps: Deps) {}

  /** The organisation's audit log, newest first, filtered by project, resource, user, environment or time. */
  async list(actor: Actor, filter: Omit<AuditFilter, 'projectId'> & { project?: string | undefined }): Promise<Page<AuditEntry>> {
    assertCan(actor, Permission.AuditRead);
    const projectId = filter.project === undefined ? undefined : (await projectFor(this.deps.db, actor, filter.project)).id;
    // A token limited to some projects reads their entries only: not the organisation's (sign-ins, users, tokens).
    return audit.list(this.deps.db, actor.orgId, { ...filter, projectId, ...(actor.projectIds === undefined ? {} : { projectIds: [...actor.projectIds] }) });
  }
}
