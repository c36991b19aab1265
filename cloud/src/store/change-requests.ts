import { AppError, AppErrorCode, notFound } from '../errors.js';
import type { Queryable } from './db.js';
import type { Page, PageRequest } from './pagination.js';
import { decodeCursor, toPage } from './pagination.js';
import { iso, isoOrNull } from './rows.js';

/** Lifecycle of a change request. */
export const ChangeRequestStatus = {
  /** Proposed; waiting for approval (or approved and waiting to be applied). */
  Open: 'open',
  /** Applied to the resource. */
  Applied: 'applied',
  /** Rejected by a reviewer. */
  Rejected: 'rejected',
  /** Withdrawn by the proposer. */
  Cancelled: 'cancelled',
  /** Had a time (`applyAt`) and could not be applied then (the reason in `failure`); never retried. */
  Failed: 'failed',
} as const;
export type ChangeRequestStatus = (typeof ChangeRequestStatus)[keyof typeof ChangeRequestStatus];

/**
 * What a request was based on when proposed: the flag's state in its environment then (absent when
 * it had none) and the values of the flag's variations that the proposed state names.
 */
export interface ChangeRequestBase {
  readonly state?: unknown;
  readonly variations: Readonly<Record<string, unknown>>;
  /** The keys of those variations in the flag's order (requests proposed before it was stored have none). */
  readonly order?: readonly string[];
}

export interface ChangeRequest {
  readonly id: string;
  readonly projectId: string;
  readonly resourceType: string;
  readonly resourceKey: string;
  readonly environment: string;
  readonly status: ChangeRequestStatus;
  readonly baseVersion: number;
  /** Null for requests proposed before it was stored (migration 0026): they need the flag at `baseVersion`. */
  readonly base: ChangeRequestBase | null;
  readonly proposed: unknown;
  readonly diff: unknown;
  readonly comment: string | null;
  readonly proposedBy: string;
  readonly approvedBy: string | null;
  readonly approvedAt: string | null;
  readonly reviewedBy: string | null;
  readonly reviewedAt: string | null;
  readonly appliedAt: string | null;
  readonly createdAt: string;
  /** When the job applies it once approved (migration 0037); null: applied on demand. */
  readonly applyAt: string | null;
  /** Why it failed (status failed). */
  readonly failure: string | null;
}

interface Row {
  id: string;
  project_id: string;
  resource_type: string;
  resource_key: string;
  environment_key: string;
  status: ChangeRequestStatus;
  base_version: number;
  base: ChangeRequestBase | null;
  proposed: unknown;
  diff: unknown;
  comment: string | null;
  proposed_by: string;
  approved_by: string | null;
  approved_at: Date | null;
  reviewed_by: string | null;
  reviewed_at: Date | null;
  applied_at: Date | null;
  created_at: Date;
  apply_at: Date | null;
  failure: string | null;
}

const fromRow = (r: Row): ChangeRequest => ({
  id: r.id,
  projectId: r.project_id,
  resourceType: r.resource_type,
  resourceKey: r.resource_key,
  environment: r.environment_key,
  status: r.status,
  baseVersion: r.base_version,
  base: r.base,
  proposed: r.proposed,
  diff: r.diff,
  comment: r.comment,
  proposedBy: r.proposed_by,
  approvedBy: r.approved_by,
  approvedAt: isoOrNull(r.approved_at),
  reviewedBy: r.reviewed_by,
  reviewedAt: isoOrNull(r.reviewed_at),
  appliedAt: isoOrNull(r.applied_at),
  createdAt: iso(r.created_at),
  applyAt: isoOrNull(r.apply_at),
  failure: r.failure,
});

export const changeRequests = {
  async create(
    db: Queryable,
    cr: { id: string; projectId: string; resourceType: string; resourceKey: string; environment: string; baseVersion: number; base: ChangeRequestBase; proposed: unknown; diff: unknown; comment: string | null; proposedBy: string; applyAt?: Date | undefined },
  ): Promise<ChangeRequest> {
    const result = await db.query<Row>(
      `INSERT INTO change_requests (id, project_id, resource_type, resource_key, environment_key, status, base_version, base, proposed, diff, comment, proposed_by, apply_at)
       VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
      [cr.id, cr.projectId, cr.resourceType, cr.resourceKey, cr.environment, cr.baseVersion, JSON.stringify(cr.base), JSON.stringify(cr.proposed), JSON.stringify(cr.diff), cr.comment, cr.proposedBy, cr.applyAt ?? null],
    );
    return fromRow(result.rows[0]!);
  },

  async get(db: Queryable, projectId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<ChangeRequest> {
    const result = await db.query<Row>(`SELECT * FROM change_requests WHERE project_id = $1 AND id = $2${options.forUpdate === true ? ' FOR UPDATE' : ''}`, [
      projectId,
      id,
    ]);
    const row = result.rows[0];
    if (row === undefined) {
      throw notFound('change request');
    }
    return fromRow(row);
  },

  async list(db: Queryable, projectId: string, options: PageRequest & { status?: string | undefined; resourceKey?: string | undefined }): Promise<Page<ChangeRequest>> {
    const params: unknown[] = [projectId];
    const where = ['project_id = $1'];
    if (options.status !== undefined) {
      params.push(options.status);
      where.push(`status = $${params.length}`);
    }
    if (options.resourceKey !== undefined) {
      params.push(options.resourceKey);
      where.push(`resource_key = $${params.length}`);
    }
    const before = decodeCursor(options.cursor, 'string');
    if (before !== undefined) {
      params.push(before);
      where.push(`(created_at, id) < (SELECT created_at, id FROM change_requests WHERE id = $${params.length})`);
    }
    params.push(options.limit + 1);
    const result = await db.query<Row>(`SELECT * FROM change_requests WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`, params);
    return toPage(result.rows, options.limit, fromRow, (r) => r.id);
  },

  /**
   * Cancels the open requests of a resource that is going away (a deleted flag): an approval covers
   * the flag it was given for, never a new one created later under the same key. Returns their ids.
   */
  /** The open requests for a resource, with who proposed each. */
  async openFor(db: Queryable, projectId: string, resourceType: string, resourceKey: string): Promise<{ id: string; proposedBy: string }[]> {
    const result = await db.query<{ id: string; proposed_by: string }>(
      `SELECT id, proposed_by FROM change_requests WHERE project_id = $1 AND resource_type = $2 AND resource_key = $3 AND status = 'open' ORDER BY id`,
      [projectId, resourceType, resourceKey],
    );
    return result.rows.map((r) => ({ id: r.id, proposedBy: r.proposed_by }));
  },

  async cancelOpenFor(db: Queryable, projectId: string, resourceType: string, resourceKey: string, by: string): Promise<string[]> {
    const result = await db.query<{ id: string }>(
      `UPDATE change_requests SET status = 'cancelled', reviewed_by = $4, reviewed_at = now()
       WHERE project_id = $1 AND resource_type = $2 AND resource_key = $3 AND status = 'open'
       RETURNING id`,
      [projectId, resourceType, resourceKey, by],
    );
    return result.rows.map((r) => r.id).sort();
  },

  /**
   * Cancels the open requests for an environment that is going away: an approval covers the
   * environment it was given for, never a new one created later under the same key. Returns them.
   */
  async cancelOpenInEnvironment(db: Queryable, projectId: string, environment: string, by: string): Promise<{ id: string; resourceKey: string }[]> {
    const result = await db.query<{ id: string; resource_key: string }>(
      `UPDATE change_requests SET status = 'cancelled', reviewed_by = $3, reviewed_at = now()
       WHERE project_id = $1 AND environment_key = $2 AND status = 'open'
       RETURNING id, resource_key`,
      [projectId, environment, by],
    );
    return result.rows.map((r) => ({ id: r.id, resourceKey: r.resource_key })).sort((a, b) => a.id.localeCompare(b.id));
  },

  /**
   * The open requests `userId` approved, in every project of theirs, with the project's key; their
   * rows locked until commit (a change to the user withdraws the approvals that no longer count).
   */
  async openApprovedBy(db: Queryable, userId: string): Promise<{ id: string; projectId: string; projectKey: string; resourceKey: string; environment: string; approvedAt: string }[]> {
    const result = await db.query<{ id: string; project_id: string; project_key: string; resource_key: string; environment_key: string; approved_at: Date }>(
      `SELECT cr.id, cr.project_id, p.key AS project_key, cr.resource_key, cr.environment_key, cr.approved_at
       FROM change_requests cr JOIN projects p ON p.id = cr.project_id
       WHERE cr.approved_by = $1 AND cr.status = 'open'
       ORDER BY p.key, cr.id
       FOR UPDATE OF cr`,
      [userId],
    );
    return result.rows.map((r) => ({ id: r.id, projectId: r.project_id, projectKey: r.project_key, resourceKey: r.resource_key, environment: r.environment_key, approvedAt: iso(r.approved_at) }));
  },

  /** Clears an open request's approval: it awaits a review again. Whether there was one to clear. */
  async withdrawApproval(db: Queryable, projectId: string, id: string): Promise<boolean> {
    const result = await db.query(`UPDATE change_requests SET approved_by = NULL, approved_at = NULL WHERE project_id = $1 AND id = $2 AND status = 'open' AND approved_by IS NOT NULL`, [projectId, id]);
    return result.rowCount > 0;
  },

  /** The project's open requests with what they propose, by id (few: they are applied, rejected or cancelled). */
  async openProposals(db: Queryable, projectId: string): Promise<{ id: string; resourceKey: string; environment: string; proposed: unknown }[]> {
    const result = await db.query<{ id: string; resource_key: string; environment_key: string; proposed: unknown }>(
      `SELECT id, resource_key, environment_key, proposed FROM change_requests WHERE project_id = $1 AND status = 'open' ORDER BY id`,
      [projectId],
    );
    return result.rows.map((r) => ({ id: r.id, resourceKey: r.resource_key, environment: r.environment_key, proposed: r.proposed }));
  },

  /** Open requests whose time (`applyAt`) has come, oldest first, with their project's key and organisation (not locked: applying locks each). */
  async due(db: Queryable, now: Date, limit: number): Promise<{ id: string; projectId: string; projectKey: string; orgId: string; resourceKey: string; environment: string; proposedBy: string; approvedBy: string | null; applyAt: string }[]> {
    const result = await db.query<{ id: string; project_id: string; project_key: string; org_id: string; resource_key: string; environment_key: string; proposed_by: string; approved_by: string | null; apply_at: Date }>(
      `SELECT cr.id, cr.project_id, p.key AS project_key, p.org_id, cr.resource_key, cr.environment_key, cr.proposed_by, cr.approved_by, cr.apply_at
       FROM change_requests cr JOIN projects p ON p.id = cr.project_id
       WHERE cr.status = 'open' AND cr.apply_at <= $1 ORDER BY cr.apply_at, cr.id LIMIT $2`,
      [now, limit],
    );
    return result.rows.map((r) => ({ id: r.id, projectId: r.project_id, projectKey: r.project_key, orgId: r.org_id, resourceKey: r.resource_key, environment: r.environment_key, proposedBy: r.proposed_by, approvedBy: r.approved_by, applyAt: iso(r.apply_at) }));
  },

  /** Marks an open request failed with the reason; whether it was still open (another run may have ended it). */
  async fail(db: Queryable, projectId: string, id: string, reason: string): Promise<boolean> {
    const result = await db.query(`UPDATE change_requests SET status = 'failed', failure = $3 WHERE project_id = $1 AND id = $2 AND status = 'open'`, [projectId, id, reason]);
    return result.rowCount > 0;
  },

  /** Moves an open request to its next state; anything else is an INVALID_STATE error. */
  async transition(
    db: Queryable,
    projectId: string,
    id: string,
    change: { kind: 'approve'; by: string } | { kind: 'reject'; by: string } | { kind: 'cancel'; by: string } | { kind: 'apply' },
  ): Promise<ChangeRequest> {
    const current = await changeRequests.get(db, projectId, id, { forUpdate: true });
    if (current.status !== ChangeRequestStatus.Open) {
      throw new AppError(AppErrorCode.InvalidState, `change request is ${current.status}`);
    }
    const sql = {
      approve: `UPDATE change_requests SET approved_by = $3, approved_at = now() WHERE project_id = $1 AND id = $2 RETURNING *`,
      reject: `UPDATE change_requests SET status = 'rejected', reviewed_by = $3, reviewed_at = now() WHERE project_id = $1 AND id = $2 RETURNING *`,
      cancel: `UPDATE change_requests SET status = 'cancelled', reviewed_by = $3, reviewed_at = now() WHERE project_id = $1 AND id = $2 RETURNING *`,
      apply: `UPDATE change_requests SET status = 'applied', applied_at = now() WHERE project_id = $1 AND id = $2 RETURNING *`,
    }[change.kind];
    const result = await db.query<Row>(sql, change.kind === 'apply' ? [projectId, id] : [projectId, id, change.by]);
    return fromRow(result.rows[0]!);
  },
};
