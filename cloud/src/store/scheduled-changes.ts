import { AppError, AppErrorCode, notFound } from '../errors.js';
import type { Queryable } from './db.js';
import type { Page, PageRequest } from './pagination.js';
import { decodeCursor, toPage } from './pagination.js';
import { iso, isoOrNull } from './rows.js';

/** Lifecycle of a scheduled change: it leaves `scheduled` once, for good. */
export const ScheduledChangeStatus = {
  /** Waiting for its time. */
  Scheduled: 'scheduled',
  /** Written to the flag by the job. */
  Applied: 'applied',
  /** Could not be applied when due (the reason is in `failure`); never retried. */
  Failed: 'failed',
  /** Cancelled before it was due. */
  Cancelled: 'cancelled',
} as const;
export type ScheduledChangeStatus = (typeof ScheduledChangeStatus)[keyof typeof ScheduledChangeStatus];

export const SCHEDULED_CHANGE_STATUSES = Object.values(ScheduledChangeStatus);

export interface ScheduledChange {
  readonly id: string;
  readonly projectId: string;
  readonly flag: string;
  /** When the flag it was scheduled for was created: a flag created again under the key is not it. */
  readonly flagCreatedAt: string;
  readonly environment: string;
  /** When it applies (ISO 8601, UTC). */
  readonly at: string;
  /** The fields of the environment's state it replaces. */
  readonly state: Readonly<Record<string, unknown>>;
  readonly comment: string | null;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly status: ScheduledChangeStatus;
  readonly finishedAt: string | null;
  readonly cancelledBy: string | null;
  readonly failure: string | null;
  readonly appliedVersion: number | null;
}

interface Row {
  id: string;
  project_id: string;
  flag_key: string;
  flag_created_at: Date;
  environment_key: string;
  apply_at: Date;
  state: Record<string, unknown>;
  comment: string | null;
  created_by: string;
  created_at: Date;
  status: ScheduledChangeStatus;
  finished_at: Date | null;
  cancelled_by: string | null;
  failure: string | null;
  applied_version: number | null;
}

const fromRow = (r: Row): ScheduledChange => ({
  id: r.id,
  projectId: r.project_id,
  flag: r.flag_key,
  flagCreatedAt: iso(r.flag_created_at),
  environment: r.environment_key,
  at: iso(r.apply_at),
  state: r.state,
  comment: r.comment,
  createdBy: r.created_by,
  createdAt: iso(r.created_at),
  status: r.status,
  finishedAt: isoOrNull(r.finished_at),
  cancelledBy: r.cancelled_by,
  failure: r.failure,
  appliedVersion: r.applied_version,
});

/** A due change as the job claims it, with its project's key and organisation. */
export type DueChange = ScheduledChange & { readonly projectKey: string; readonly orgId: string };

export const scheduledChanges = {
  async create(
    db: Queryable,
    sc: { id: string; projectId: string; flag: string; flagCreatedAt: string; environment: string; at: Date; state: Record<string, unknown>; comment: string | null; createdBy: string; createdAt: Date },
  ): Promise<ScheduledChange> {
    const result = await db.query<Row>(
      `INSERT INTO scheduled_changes (id, project_id, flag_key, flag_created_at, environment_key, apply_at, state, comment, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
      [sc.id, sc.projectId, sc.flag, sc.flagCreatedAt, sc.environment, sc.at, JSON.stringify(sc.state), sc.comment, sc.createdBy, sc.createdAt],
    );
    return fromRow(result.rows[0]!);
  },

  async get(db: Queryable, projectId: string, id: string, options: { forUpdate?: boolean } = {}): Promise<ScheduledChange> {
    const result = await db.query<Row>(`SELECT * FROM scheduled_changes WHERE project_id = $1 AND id = $2${options.forUpdate === true ? ' FOR UPDATE' : ''}`, [projectId, id]);
    const row = result.rows[0];
    if (row === undefined) {
      throw notFound('scheduled change');
    }
    return fromRow(row);
  },

  /** A project's (or one flag's) changes in the order they apply (at the same time: in the order they were scheduled), optionally of one status. */
  async list(db: Queryable, projectId: string, options: PageRequest & { flag?: string | undefined; status?: ScheduledChangeStatus | undefined }): Promise<Page<ScheduledChange>> {
    const params: unknown[] = [projectId];
    const where = ['project_id = $1'];
    if (options.flag !== undefined) {
      params.push(options.flag);
      where.push(`flag_key = $${params.length}`);
    }
    if (options.status !== undefined) {
      params.push(options.status);
      where.push(`status = $${params.length}`);
    }
    const after = decodeCursor(options.cursor, 'string');
    if (after !== undefined) {
      params.push(after);
      where.push(`(apply_at, created_at, id) > (SELECT apply_at, created_at, id FROM scheduled_changes WHERE project_id = $1 AND id = $${params.length})`);
    }
    params.push(options.limit + 1);
    const result = await db.query<Row>(`SELECT * FROM scheduled_changes WHERE ${where.join(' AND ')} ORDER BY apply_at, created_at, id LIMIT $${params.length}`, params);
    return toPage(result.rows, options.limit, fromRow, (r) => r.id);
  },

  /**
   * Claims the oldest due change no other transaction holds (FOR UPDATE SKIP LOCKED): it stays
   * locked until the caller's transaction ends, so two jobs never work on the same one.
   */
  async claimDue(db: Queryable, now: Date, options: { id?: string; skipFlags?: readonly (readonly [projectId: string, flag: string])[] } = {}): Promise<DueChange | undefined> {
    const params: unknown[] = [now];
    let only = '';
    if (options.id !== undefined) {
      params.push(options.id);
      only = ` AND sc.id = $${params.length}`;
    }
    if (options.skipFlags !== undefined && options.skipFlags.length > 0) {
      // Flags whose earliest due change could not be applied in this run: their later ones wait too (in order), the others go on.
      params.push(options.skipFlags.map(([projectId]) => projectId), options.skipFlags.map(([, flag]) => flag));
      only += ` AND NOT EXISTS (SELECT 1 FROM unnest($${params.length - 1}::text[], $${params.length}::text[]) AS s(project_id, flag_key) WHERE s.project_id = sc.project_id AND s.flag_key = sc.flag_key)`;
    }
    const result = await db.query<Row & { project_key: string; org_id: string }>(
      `SELECT sc.*, p.key AS project_key, p.org_id FROM scheduled_changes sc JOIN projects p ON p.id = sc.project_id
       WHERE sc.status = 'scheduled' AND sc.apply_at <= $1${only}
       ORDER BY sc.apply_at, sc.created_at, sc.id LIMIT 1
       FOR UPDATE OF sc SKIP LOCKED`,
      params,
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { ...fromRow(row), projectKey: row.project_key, orgId: row.org_id };
  },

  /**
   * Cancels every change `createdBy` scheduled that has not applied yet, in every project (its
   * creator is going away: it would only fail at its time). `by` is who cancelled them. Returns them.
   */
  async cancelPendingCreatedBy(db: Queryable, createdBy: string, by: string, at: Date): Promise<ScheduledChange[]> {
    const result = await db.query<Row>(
      `UPDATE scheduled_changes SET status = 'cancelled', finished_at = $3, cancelled_by = $2
       WHERE created_by = $1 AND status = 'scheduled' RETURNING *`,
      [createdBy, by, at],
    );
    return result.rows.map(fromRow).sort((a, b) => a.id.localeCompare(b.id));
  },

  /** Ends a scheduled change; anything but a scheduled one is an INVALID_STATE error (it ended already). */
  async finish(
    db: Queryable,
    projectId: string,
    id: string,
    end: { status: 'applied'; version: number; at: Date } | { status: 'failed'; failure: string; at: Date } | { status: 'cancelled'; by: string; at: Date },
  ): Promise<ScheduledChange> {
    const [sql, params] =
      end.status === 'applied'
        ? [`applied_version = $4`, [end.version]]
        : end.status === 'failed'
          ? [`failure = $4`, [end.failure]]
          : [`cancelled_by = $4`, [end.by]];
    const result = await db.query<Row>(
      `UPDATE scheduled_changes SET status = $3, finished_at = $5, ${sql} WHERE project_id = $1 AND id = $2 AND status = 'scheduled' RETURNING *`,
      [projectId, id, end.status, ...params, end.at],
    );
    const row = result.rows[0];
    if (row === undefined) {
      const current = await scheduledChanges.get(db, projectId, id);
      throw new AppError(AppErrorCode.InvalidState, `scheduled change is ${current.status}`);
    }
    return fromRow(row);
  },
};
