import { notFound } from '../errors.js';
import type { Queryable } from './db.js';
import type { Page, PageRequest } from './pagination.js';
import { decodeCursor, toPage } from './pagination.js';
import { iso, isoOrNull } from './rows.js';

import type { DeliveryStatus, WebhookDelivery, WebhookDeliveryAttempt, WebhookFormat } from '@xp/shared';

/** What a webhook's create or update writes. */
export interface WebhookFields {
  readonly name: string;
  readonly urlCiphertext: string;
  readonly urlPreview: string;
  readonly format: WebhookFormat;
  readonly events: readonly string[];
  readonly environments: readonly string[] | null;
  readonly enabled: boolean;
}

export interface StoredWebhook extends WebhookFields {
  readonly id: string;
  readonly projectId: string;
  /** Bumped by every change (optimistic concurrency: If-Match). */
  readonly version: number;
  readonly secretVersion: number;
  /** Until when the previous secret (secretVersion - 1) signs too, after a rotation that kept it; null: it does not. */
  readonly previousSecretUntil: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastDelivery: { readonly id: string; readonly status: DeliveryStatus; readonly statusCode: number | null; readonly at: string } | null;
}

/** A delivery as stored is what the API shows (the shared client's type). */
export type StoredDelivery = WebhookDelivery;

/** A claimed delivery with what sending it needs. */
export interface ClaimedDelivery extends StoredDelivery {
  readonly urlCiphertext: string;
  readonly format: WebhookFormat;
  readonly secretVersion: number;
  readonly previousSecretUntil: string | null;
}

/** How one attempt ended, as the dispatcher records it. */
export interface AttemptRecord {
  /** When the attempt ended. */
  readonly at: Date;
  readonly status: DeliveryStatus;
  readonly nextAttemptAt: Date | null;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly response: string | null;
  readonly durationMs: number;
  readonly deliveredAt: Date | null;
}

interface WebhookRow {
  id: string;
  project_id: string;
  name: string;
  url_ciphertext: string;
  url_preview: string;
  format: WebhookFormat;
  events: string[];
  environments: string[] | null;
  enabled: boolean;
  secret_version: number;
  previous_secret_until: Date | null;
  version: number;
  created_at: Date;
  updated_at: Date;
  last_id: string | number | null;
  last_status: DeliveryStatus | null;
  last_status_code: number | null;
  last_at: Date | null;
}

interface DeliveryRow {
  id: string | number;
  webhook_id: string;
  event: string;
  audit_id: string | number | null;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date | null;
  status_code: number | null;
  error: string | null;
  response: string | null;
  duration_ms: number | null;
  created_at: Date;
  delivered_at: Date | null;
  payload: Readonly<Record<string, unknown>>;
}

const webhookFromRow = (r: WebhookRow): StoredWebhook => ({
  id: r.id,
  projectId: r.project_id,
  name: r.name,
  urlCiphertext: r.url_ciphertext,
  urlPreview: r.url_preview,
  format: r.format,
  events: r.events,
  environments: r.environments,
  enabled: r.enabled,
  secretVersion: r.secret_version,
  previousSecretUntil: isoOrNull(r.previous_secret_until),
  version: r.version,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
  lastDelivery:
    r.last_id === null || r.last_status === null || r.last_at === null ? null : { id: String(r.last_id), status: r.last_status, statusCode: r.last_status_code, at: iso(r.last_at) },
});

const deliveryFromRow = (r: DeliveryRow): StoredDelivery => ({
  id: String(r.id),
  webhookId: r.webhook_id,
  event: r.event,
  auditId: r.audit_id === null ? null : Number(r.audit_id),
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: r.status === 'pending' ? isoOrNull(r.next_attempt_at) : null,
  statusCode: r.status_code,
  error: r.error,
  response: r.response,
  durationMs: r.duration_ms,
  createdAt: iso(r.created_at),
  deliveredAt: isoOrNull(r.delivered_at),
  payload: r.payload,
});

interface AttemptRow {
  attempt: number;
  attempted_at: Date;
  status_code: number | null;
  error: string | null;
  response: string | null;
  duration_ms: number | null;
}

const attemptFromRow = (r: AttemptRow): WebhookDeliveryAttempt => ({
  attempt: r.attempt,
  at: iso(r.attempted_at),
  statusCode: r.status_code,
  error: r.error,
  response: r.response,
  durationMs: r.duration_ms,
});

/** The newest delivery that has been attempted, per webhook: what a list shows as "last delivery". */
const SELECT_WEBHOOK = `
  SELECT w.*, l.id AS last_id, l.status AS last_status, l.status_code AS last_status_code, l.at AS last_at
  FROM webhooks w
  LEFT JOIN LATERAL (
    SELECT d.id, d.status, d.status_code, COALESCE(d.delivered_at, d.created_at) AS at
    FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.attempts > 0 ORDER BY d.id DESC LIMIT 1
  ) l ON true`;

/** Rows a store call may write at most per call: bounds a delete of old deliveries. */
const PRUNE_BATCH = 5_000;

export const webhooks = {
  async list(db: Queryable, projectId: string): Promise<StoredWebhook[]> {
    const out = await db.query<WebhookRow>(`${SELECT_WEBHOOK} WHERE w.project_id = $1 ORDER BY w.created_at, w.id`, [projectId]);
    return out.rows.map(webhookFromRow);
  },

  /** Serialises webhook creation in a project (the per-project limit), until the transaction ends. */
  async lockProject(db: Queryable, projectId: string): Promise<void> {
    await db.query('SELECT 1 FROM projects WHERE id = $1 FOR UPDATE', [projectId]);
  },

  /** Whether any project has an enabled webhook. */
  async anyEnabled(db: Queryable): Promise<boolean> {
    const out = await db.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM webhooks WHERE enabled) AS any');
    return out.rows[0]?.any === true;
  },

  async count(db: Queryable, projectId: string): Promise<number> {
    const out = await db.query<{ n: string | number }>('SELECT count(*) AS n FROM webhooks WHERE project_id = $1', [projectId]);
    return Number(out.rows[0]?.n ?? 0);
  },

  /** The webhook, locked for update when `lock`; 404 when the project has no such webhook. */
  async get(db: Queryable, projectId: string, id: string, lock = false): Promise<StoredWebhook> {
    const out = await db.query<WebhookRow>(`${SELECT_WEBHOOK} WHERE w.project_id = $1 AND w.id = $2${lock ? ' FOR UPDATE OF w' : ''}`, [projectId, id]);
    const row = out.rows[0];
    if (row === undefined) {
      throw notFound(`webhook "${id}"`);
    }
    return webhookFromRow(row);
  },

  async create(db: Queryable, w: WebhookFields & { id: string; projectId: string; createdBy: string | null; now: Date }): Promise<StoredWebhook> {
    await db.query(
      `INSERT INTO webhooks (id, project_id, name, url_ciphertext, url_preview, format, events, environments, enabled, created_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
      [w.id, w.projectId, w.name, w.urlCiphertext, w.urlPreview, w.format, w.events, w.environments, w.enabled, w.createdBy, w.now],
    );
    return webhooks.get(db, w.projectId, w.id);
  },

  async update(db: Queryable, projectId: string, id: string, w: WebhookFields, now: Date): Promise<StoredWebhook> {
    await db.query(
      `UPDATE webhooks SET name = $3, url_ciphertext = $4, url_preview = $5, format = $6, events = $7, environments = $8, enabled = $9, updated_at = $10, version = version + 1
       WHERE project_id = $1 AND id = $2`,
      [projectId, id, w.name, w.urlCiphertext, w.urlPreview, w.format, w.events, w.environments, w.enabled, now],
    );
    return webhooks.get(db, projectId, id);
  },

  /** A new secret version; the one it replaces keeps signing until `previousUntil` (null: not at all). */
  async rotateSecret(db: Queryable, projectId: string, id: string, now: Date, previousUntil: Date | null): Promise<StoredWebhook> {
    await db.query(
      'UPDATE webhooks SET secret_version = secret_version + 1, previous_secret_until = $4, version = version + 1, updated_at = $3 WHERE project_id = $1 AND id = $2',
      [projectId, id, now, previousUntil],
    );
    return webhooks.get(db, projectId, id);
  },

  /** The webhooks whose environment filter names `environment`, locked for update. */
  async filteringOn(db: Queryable, projectId: string, environment: string): Promise<StoredWebhook[]> {
    const out = await db.query<WebhookRow>(`${SELECT_WEBHOOK} WHERE w.project_id = $1 AND $2 = ANY (w.environments) ORDER BY w.created_at, w.id FOR UPDATE OF w`, [projectId, environment]);
    return out.rows.map(webhookFromRow);
  },

  async delete(db: Queryable, projectId: string, id: string): Promise<void> {
    await db.query('DELETE FROM webhooks WHERE project_id = $1 AND id = $2', [projectId, id]);
  },

  /** Ends a webhook's queued deliveries (it was disabled): they fail with `reason` instead of waiting. */
  async cancelPending(db: Queryable, id: string, reason: string): Promise<void> {
    await db.query("UPDATE webhook_deliveries SET status = 'failed', error = $2, lease_until = NULL WHERE webhook_id = $1 AND status = 'pending'", [id, reason]);
  },
};

export const deliveries = {
  /** A webhook's deliveries, newest first; only those in `status` when it is given. */
  async list(db: Queryable, webhookId: string, page: PageRequest, status?: DeliveryStatus): Promise<Page<StoredDelivery>> {
    const before = decodeCursor(page.cursor, 'number');
    const out = await db.query<DeliveryRow>(
      `SELECT * FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::bigint IS NULL OR id < $2) AND ($4::text IS NULL OR status = $4) ORDER BY id DESC LIMIT $3`,
      [webhookId, before ?? null, page.limit + 1, status ?? null],
    );
    return toPage(out.rows, page.limit, deliveryFromRow, (r) => Number(r.id));
  },

  async get(db: Queryable, webhookId: string, id: string): Promise<StoredDelivery> {
    const out = /^[0-9]{1,18}$/.test(id) ? await db.query<DeliveryRow>('SELECT * FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2', [webhookId, id]) : { rows: [] };
    const row = out.rows[0];
    if (row === undefined) {
      throw notFound(`delivery "${id}"`);
    }
    return deliveryFromRow(row);
  },

  /** Every attempt of a delivery, first to last. */
  async attempts(db: Queryable, deliveryId: string): Promise<WebhookDeliveryAttempt[]> {
    const out = await db.query<AttemptRow>('SELECT * FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt', [deliveryId]);
    return out.rows.map(attemptFromRow);
  },

  /** A new delivery of `payload`; `due` false makes one that the caller sends itself (a test). */
  async enqueue(
    db: Queryable,
    d: { webhookId: string; auditId: number | null; event: string; payload: Record<string, unknown>; now: Date; leaseUntil?: Date },
  ): Promise<StoredDelivery> {
    const out = await db.query<DeliveryRow>(
      `INSERT INTO webhook_deliveries (webhook_id, audit_id, event, payload, created_at, lease_until, attempts)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [d.webhookId, d.auditId, d.event, JSON.stringify(d.payload), d.now, d.leaseUntil ?? null, d.leaseUntil === undefined ? 0 : 1],
    );
    return deliveryFromRow(out.rows[0]!);
  },

  /**
   * Claims up to `limit` due deliveries of enabled webhooks for one attempt each, at most
   * `perWebhook` of any one webhook (the oldest), so a flood to one receiver, or one that times
   * out, does not hold back the others: counts the attempt and leases the row until `leaseUntil`,
   * in one statement, skipping rows another dispatcher holds.
   */
  async claimDue(db: Queryable, now: Date, leaseUntil: Date, limit: number, perWebhook = limit, skipWebhooks: readonly string[] = []): Promise<ClaimedDelivery[]> {
    // `skipWebhooks`: webhooks this dispatcher is still sending to (their next deliveries wait for those).
    const due = `x.status = 'pending' AND (x.next_attempt_at IS NULL OR x.next_attempt_at <= $1) AND (x.lease_until IS NULL OR x.lease_until <= $1) AND x.webhook_id <> ALL ($5::text[])`;
    const out = await db.query<DeliveryRow & { url_ciphertext: string; format: WebhookFormat; secret_version: number; previous_secret_until: Date | null }>(
      `UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_until = $2
       FROM webhooks w
       WHERE w.id = d.webhook_id AND d.id IN (
         SELECT x.id FROM webhook_deliveries x
         WHERE ${due} AND x.id IN (
           SELECT ranked.id FROM (
             SELECT x.id, row_number() OVER (PARTITION BY x.webhook_id ORDER BY x.id) AS n
             FROM webhook_deliveries x JOIN webhooks xw ON xw.id = x.webhook_id AND xw.enabled
             WHERE ${due}) ranked
           WHERE ranked.n <= $4)
         ORDER BY x.id LIMIT $3 FOR UPDATE OF x SKIP LOCKED)
       RETURNING d.*, w.url_ciphertext, w.format, w.secret_version, w.previous_secret_until`,
      [now, leaseUntil, limit, perWebhook, skipWebhooks],
    );
    return out.rows.map((r) => ({
      ...deliveryFromRow(r),
      urlCiphertext: r.url_ciphertext,
      format: r.format,
      secretVersion: r.secret_version,
      previousSecretUntil: isoOrNull(r.previous_secret_until),
    }));
  },

  /**
   * Records attempt number `attempt` (the count its claim made) in the delivery's history, and its
   * outcome on the delivery, releasing the lease. A late record of an attempt whose lease ran out
   * while another dispatcher tried again has its own number, so neither overwrites the other's history.
   */
  async record(db: Queryable, id: string, attempt: number, a: AttemptRecord): Promise<StoredDelivery> {
    const out = await db.query<DeliveryRow>(
      `WITH logged AS (
         INSERT INTO webhook_delivery_attempts (delivery_id, attempt, attempted_at, status_code, error, response, duration_ms)
         VALUES ($1, $9, $10, $4, $5, $6, $7) ON CONFLICT (delivery_id, attempt) DO NOTHING)
       UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3, status_code = $4, error = $5, response = $6, duration_ms = $7, delivered_at = $8, lease_until = NULL
       WHERE id = $1 RETURNING *`,
      [id, a.status, a.nextAttemptAt, a.statusCode, a.error, a.response, Math.round(a.durationMs), a.deliveredAt, attempt, a.at],
    );
    return deliveryFromRow(out.rows[0]!);
  },

  /** Deletes up to a batch of finished deliveries older than `days` (by the database's clock). */
  async prune(db: Queryable, days: number): Promise<number> {
    const out = await db.query(
      `DELETE FROM webhook_deliveries WHERE id IN (
         SELECT id FROM webhook_deliveries WHERE created_at < now() - make_interval(days => $1) AND status <> 'pending' ORDER BY created_at LIMIT $2)`,
      [days, PRUNE_BATCH],
    );
    return out.rowCount;
  },
};
