/**
 * Project webhooks: each audit entry of a project whose action matches a webhook's event patterns
 * (and environment list) is queued by a trigger in the entry's transaction (migration 0013) and
 * POSTed by the dispatcher, signed with the webhook's secret, retried with backoff, logged.
 * Delivery is at least once (a dispatcher that dies mid-send leaves the row to be sent again
 * when its lease ends): receivers deduplicate on the X-XP-Delivery header. No order is promised.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { keySchema, webhookEventProblem } from '@xp/shared';
import type { DeliveryStatus, Webhook, WebhookDeliveryDetail } from '@xp/shared';
import { Permission, assertCan } from '../auth/permissions.js';
import type { PlatformKey} from '../auth/platform-key.js';
import { webhookSignature } from '../auth/platform-key.js';
import { AppError, AppErrorCode, invalid, versionConflict } from '../errors.js';
import type { Queryable } from '../store/db.js';
import type { Page } from '../store/pagination.js';
import { DEFAULT_PAGE_SIZE, decodeCursor } from '../store/pagination.js';
import { environments } from '../store/projects.js';
import { deliveries, webhooks } from '../store/webhooks.js';
import type { AttemptRecord, ClaimedDelivery, StoredDelivery, StoredWebhook, WebhookFields } from '../store/webhooks.js';
import { record } from './audit-trail.js';
import { jsonDiff } from './json-diff.js';
import type { Actor, Deps } from './context.js';
import { projectFor } from './definitions.js';
import { httpSend, isBlockedAddress, urlHost } from './webhook-http.js';
import type { WebhookOutcome, WebhookRequest, WebhookSender } from './webhook-http.js';
import { parseOrThrow } from './validation.js';

export type { WebhookOutcome, WebhookRequest, WebhookSender } from './webhook-http.js';

/** Webhooks a project may have. */
export const MAX_WEBHOOKS_PER_PROJECT = 20;
/** How long a receiver has to answer. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Waits before the 2nd, 3rd… attempt; after the last wait's attempt fails the delivery has failed. */
export const RETRY_DELAYS_MS: readonly number[] = [30_000, 120_000, 600_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000];
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
/** Longest a Retry-After header may push the next attempt. */
const MAX_RETRY_AFTER_MS = 3_600_000;
/** Longest a rotated-out secret may keep signing (a week, as receivers are redeployed). */
export const MAX_PREVIOUS_SECRET_HOURS = 168;
/** A claimed delivery is another dispatcher's again after this (well past the send's timeout). */
const LEASE_MS = 60_000;
/** Days deliveries are kept. */
export const DELIVERY_RETENTION_DAYS = 30;
const CLAIM_BATCH = 20;
/** Deliveries of one webhook per pass: one slow or flooded receiver holds back no other. */
const CLAIM_PER_WEBHOOK = 4;
const SEND_CONCURRENCY = 8;
const PRUNE_EVERY_MS = 3_600_000;
/** The purpose the URLs are encrypted under (see PlatformKey.encrypt). */
const URL_PURPOSE = 'webhook-url';

const eventPattern = z
  .string()
  .max(100)
  .superRefine((value, ctx) => {
    const problem = webhookEventProblem(value);
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', message: problem });
    }
  });

const webhookUrl = z
  .string()
  .max(2048)
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a URL' });
      return;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      ctx.addIssue({ code: 'custom', message: 'the URL must start with https:// or http://' });
    }
    const host = urlHost(url);
    if (isBlockedAddress(host)) {
      ctx.addIssue({ code: 'custom', message: `${host} is a link-local or unspecified address (where cloud credentials are served), which webhooks may not reach` });
    }
  });

const formatSchema = z.enum(['json', 'slack']);
const eventsSchema = z
  .array(eventPattern)
  .min(1)
  .max(50)
  .transform((e) => [...new Set(e)]);
const environmentsSchema = z
  .array(keySchema)
  .min(1)
  .max(50)
  .transform((e) => [...new Set(e)].sort())
  .nullable();

export const webhookCreateSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  url: webhookUrl,
  format: formatSchema.default('json'),
  events: eventsSchema.default(['*']),
  environments: environmentsSchema.default(null),
  enabled: z.boolean().default(true),
});

/** POST …/rotate-secret: how long the secret being replaced keeps signing beside the new one. */
export const rotateSecretSchema = z
  .strictObject({
    keepPreviousHours: z.number().int().min(0).max(MAX_PREVIOUS_SECRET_HOURS).default(0),
  })
  .default({ keepPreviousHours: 0 });

export const webhookPatchSchema = z.strictObject({
  name: webhookCreateSchema.shape.name.optional(),
  url: webhookUrl.optional(),
  format: formatSchema.optional(),
  events: eventsSchema.optional(),
  environments: environmentsSchema.optional(),
  enabled: z.boolean().optional(),
});

/** What lists and the audit log show of a URL: scheme, host and port; the path and query may hold a token. */
export function urlPreview(value: string): string {
  const url = new URL(value);
  const rest = url.pathname === '/' && url.search === '' ? '/' : '/…';
  return `${url.protocol}//${url.host}${rest}`;
}

/** A webhook as the API shows it at `now`: never its URL or secret. */
export function webhookView(w: StoredWebhook, now: Date): Webhook {
  return {
    id: w.id,
    name: w.name,
    url: w.urlPreview,
    format: w.format,
    events: w.events,
    environments: w.environments,
    enabled: w.enabled,
    version: w.version,
    previousSecretExpiresAt: previousSigns(w, now) ? w.previousSecretUntil : null,
    createdAt: w.createdAt,
    updatedAt: w.updatedAt,
    lastDelivery: w.lastDelivery,
  };
}

/** The audit log's record of a webhook: no URL beyond its preview, no secret. */
export const webhookAudit = (w: Pick<StoredWebhook, 'name' | 'urlPreview' | 'format' | 'events' | 'environments' | 'enabled'>): Record<string, unknown> => ({
  name: w.name,
  url: w.urlPreview,
  format: w.format,
  events: w.events,
  environments: w.environments,
  enabled: w.enabled,
});

/**
 * Takes a deleted environment out of the project's webhooks' environment filters, in the
 * transaction that deletes it (else a webhook would wake up again for an environment created later
 * under the key). A filter that would be left empty (it named only that environment) is not widened
 * to every environment (null): the webhook is disabled, its filter left empty (matching nothing) and
 * its queued deliveries cancelled; the audit entry gives the reason. Enabling it again needs a filter.
 */
export async function removeEnvironmentFromWebhooks(tx: Queryable, actor: Actor, projectId: string, environment: string, now: Date): Promise<void> {
  for (const before of await webhooks.filteringOn(tx, projectId, environment)) {
    const left = (before.environments ?? []).filter((e) => e !== environment);
    const disable = left.length === 0 && before.enabled;
    const after = await webhooks.update(tx, projectId, before.id, { ...before, environments: left, enabled: left.length === 0 ? false : before.enabled }, now);
    const reason = `environment "${environment}" was deleted`;
    if (disable) {
      await webhooks.cancelPending(tx, before.id, `the webhook was disabled: ${reason}, the only environment it was filtered on`);
    }
    await record(tx, actor, {
      projectId,
      action: 'webhook.updated',
      resourceType: 'webhook',
      resourceKey: before.id,
      before: webhookAudit(before),
      after: { ...webhookAudit(after), reason: disable ? `${reason}, the only environment its filter named: disabled` : reason },
    });
  }
}

function keyOf(deps: Deps): PlatformKey {
  if (deps.platformKey === undefined) {
    throw new AppError(AppErrorCode.Unavailable, 'webhooks need the platform key, which this deployment does not have (XP_PLATFORM_KEY locally, the platform-key secret on AWS)');
  }
  return deps.platformKey;
}

const escapeSlack = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const short = (value: unknown): string => {
  const text = value === undefined ? '∅' : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
};

/** The text a Slack incoming webhook shows for a payload: who did what to which resource, and the first changes. */
export function slackText(payload: Readonly<Record<string, unknown>>): string {
  const project = payload.project as { key?: string; name?: string } | undefined;
  const change = payload.change as
    | { action: string; resourceType: string; resourceKey: string; environment: string | null; actor: string | null; diff?: { op: string; path: string; from?: unknown; to?: unknown }[] }
    | null
    | undefined;
  const where = `[${escapeSlack(project?.name ?? project?.key ?? '')}]`;
  if (change === null || change === undefined) {
    return `${where} test delivery from xp`;
  }
  const lines = [
    `${where} ${escapeSlack(change.actor ?? 'someone')}: ${escapeSlack(change.action)} \`${escapeSlack(change.resourceKey)}\`${change.environment === null ? '' : ` in ${escapeSlack(change.environment)}`}`,
  ];
  const diff = Array.isArray(change.diff) ? change.diff : [];
  for (const d of diff.slice(0, 10)) {
    lines.push(`• ${escapeSlack(d.path === '' ? '/' : d.path)}: ${escapeSlack(d.op === 'add' ? short(d.to) : d.op === 'remove' ? `${short(d.from)} → ∅` : `${short(d.from)} → ${short(d.to)}`)}`);
  }
  if (diff.length > 10) {
    lines.push(`…and ${diff.length - 10} more changes`);
  }
  return lines.join('\n');
}

type Sendable = Pick<ClaimedDelivery, 'id' | 'webhookId' | 'event' | 'payload' | 'urlCiphertext' | 'format' | 'secretVersion' | 'previousSecretUntil'>;

/** Whether a rotated-out secret still signs at `now`. */
const previousSigns = (w: Pick<StoredWebhook, 'previousSecretUntil' | 'secretVersion'>, now: Date): boolean =>
  w.previousSecretUntil !== null && w.secretVersion > 1 && Date.parse(w.previousSecretUntil) > now.getTime();

/**
 * The HTTP request of one attempt to `url` (the decrypted URL): the body for the webhook's format,
 * signed now with the secret, and with the previous one too while a rotation keeps it (its v1 last).
 */
export function webhookRequest(key: PlatformKey, d: Sendable, url: string, now: Date): WebhookRequest {
  const body = d.format === 'slack' ? JSON.stringify({ text: slackText(d.payload) }) : JSON.stringify({ id: d.id, ...d.payload });
  const secrets = [key.webhookSecret(d.webhookId, d.secretVersion), ...(previousSigns(d, now) ? [key.webhookSecret(d.webhookId, d.secretVersion - 1)] : [])];
  return {
    url,
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': 'xp-webhooks/1',
      'X-XP-Event': d.event,
      'X-XP-Delivery': d.id,
      'X-XP-Signature': webhookSignature(secrets, body, Math.floor(now.getTime() / 1000)),
    },
    body,
    timeoutMs: WEBHOOK_TIMEOUT_MS,
  };
}

/** Why a stored URL cannot be read: the platform key is not the one it was encrypted under. */
export const UNREADABLE_URL = 'the stored URL cannot be decrypted (the platform key changed since it was set): put the old platform key back, or set the URL again';

/** A sender that throws (a Lambda invocation failing) counts as no response: retried. */
async function sendSafely(sender: WebhookSender, request: WebhookRequest): Promise<WebhookOutcome> {
  try {
    return await sender(request);
  } catch (e) {
    return { statusCode: null, error: e instanceof Error ? e.message : 'send failed', response: null, durationMs: 0 };
  }
}

/** A webhook's URL, or undefined when the platform key cannot decrypt it (it was set under another key). */
export const readUrl = (key: PlatformKey, w: Pick<StoredWebhook, 'id' | 'urlCiphertext'>): string | undefined => {
  try {
    return key.decrypt(w.urlCiphertext, URL_PURPOSE, w.id);
  } catch {
    return undefined;
  }
};

const unreadable: WebhookOutcome = { statusCode: null, error: UNREADABLE_URL, response: null, durationMs: 0 };

/**
 * One attempt at a delivery: decrypts the URL, signs and sends the request, and says what becomes
 * of the delivery (`retries` false: a failure is final). A URL the platform key cannot read is
 * retried on the usual schedule, as no answer is: a platform started without its key (a restore
 * that forgot `platform.key`) sends the queued deliveries once the key is put back, as `xp start`'s
 * warning advises; a key replaced for good fails them after the last attempt.
 */
async function attempt(key: PlatformKey, sender: WebhookSender, d: Sendable, attempts: number, now: () => Date, retries: boolean): Promise<{ outcome: WebhookOutcome; record: AttemptRecord }> {
  const url = readUrl(key, { id: d.webhookId, urlCiphertext: d.urlCiphertext });
  const outcome = url === undefined ? unreadable : await sendSafely(sender, webhookRequest(key, d, url, now()));
  return { outcome, record: attemptRecord(outcome, attempts, now(), retries) };
}

const succeeded = (o: WebhookOutcome): boolean => o.statusCode !== null && o.statusCode >= 200 && o.statusCode < 300;
const retryable = (o: WebhookOutcome): boolean => o.statusCode === null || o.statusCode === 408 || o.statusCode === 429 || o.statusCode >= 500;

/** What an attempt's outcome makes of the delivery: done, failed, or due again later. */
export function attemptRecord(o: WebhookOutcome, attempts: number, now: Date, retries = true): AttemptRecord {
  const base = { at: now, statusCode: o.statusCode, response: o.response, durationMs: o.durationMs };
  if (succeeded(o)) {
    return { ...base, status: 'succeeded', error: null, nextAttemptAt: null, deliveredAt: now };
  }
  const error = o.error ?? `the receiver answered ${o.statusCode ?? 'nothing'}`;
  if (retries && retryable(o) && o.refused !== true && attempts < MAX_ATTEMPTS) {
    const wait = Math.max(RETRY_DELAYS_MS[attempts - 1] ?? RETRY_DELAYS_MS[RETRY_DELAYS_MS.length - 1]!, Math.min(o.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
    return { ...base, status: 'pending', error, nextAttemptAt: new Date(now.getTime() + wait), deliveredAt: null };
  }
  return { ...base, status: 'failed', error, nextAttemptAt: null, deliveredAt: null };
}

/** The webhook, locked, if it is still at the version the caller read (409 otherwise). */
async function lockedAt(tx: Queryable, projectId: string, id: string, expectedVersion: number): Promise<StoredWebhook> {
  const current = await webhooks.get(tx, projectId, id, true);
  if (current.version !== expectedVersion) {
    throw versionConflict(`webhook`, current.version, expectedVersion);
  }
  return current;
}

/** The webhook endpoints' service: every call needs `webhooks:manage` in the webhook's project. */
export class WebhookService {
  private readonly sender: WebhookSender;

  constructor(private readonly deps: Deps) {
    this.sender = deps.webhookSender ?? httpSend;
  }

  private async project(actor: Actor, projectKey: string): Promise<{ id: string; key: string; name: string }> {
    assertCan(actor, Permission.WebhooksManage);
    return projectFor(this.deps.db, actor, projectKey);
  }

  private async checkEnvironments(projectId: string, keys: readonly string[] | null): Promise<void> {
    if (keys === null) {
      return;
    }
    const known = new Set((await environments.list(this.deps.db, projectId)).map((e) => e.key));
    const unknown = keys.filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw invalid(`unknown environment${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}`, { issues: [{ path: 'environments', message: `not an environment of this project: ${unknown.join(', ')}` }] });
    }
  }

  async list(actor: Actor, projectKey: string): Promise<Webhook[]> {
    const project = await this.project(actor, projectKey);
    const now = this.deps.now();
    return (await webhooks.list(this.deps.db, project.id)).map((w) => webhookView(w, now));
  }

  async get(actor: Actor, projectKey: string, id: string): Promise<Webhook> {
    const project = await this.project(actor, projectKey);
    return webhookView(await webhooks.get(this.deps.db, project.id, id), this.deps.now());
  }

  /** Creates a webhook; its signing secret is returned once (it is derived, never stored). */
  async create(actor: Actor, projectKey: string, input: unknown): Promise<{ webhook: Webhook; secret: string }> {
    const project = await this.project(actor, projectKey);
    const key = keyOf(this.deps);
    const data = parseOrThrow(webhookCreateSchema, input, 'webhook');
    await this.checkEnvironments(project.id, data.environments);
    const id = this.deps.newId();
    const created = await this.deps.db.withTransaction(async (tx) => {
      await webhooks.lockProject(tx, project.id);
      if ((await webhooks.count(tx, project.id)) >= MAX_WEBHOOKS_PER_PROJECT) {
        throw new AppError(AppErrorCode.InvalidState, `a project has at most ${MAX_WEBHOOKS_PER_PROJECT} webhooks`);
      }
      const fields: WebhookFields = { ...data, urlCiphertext: key.encrypt(data.url, URL_PURPOSE, id), urlPreview: urlPreview(data.url) };
      const webhook = await webhooks.create(tx, { ...fields, id, projectId: project.id, createdBy: actor.userId, now: this.deps.now() });
      await record(tx, actor, { projectId: project.id, action: 'webhook.created', resourceType: 'webhook', resourceKey: id, before: undefined, after: webhookAudit(webhook) });
      return webhook;
    });
    return { webhook: webhookView(created, this.deps.now()), secret: key.webhookSecret(id, created.secretVersion) };
  }

  async update(actor: Actor, projectKey: string, id: string, input: unknown, expectedVersion: number): Promise<Webhook> {
    const project = await this.project(actor, projectKey);
    const key = keyOf(this.deps);
    const data = parseOrThrow(webhookPatchSchema, input, 'webhook');
    if (data.environments !== undefined) {
      await this.checkEnvironments(project.id, data.environments);
    }
    const updated = await this.deps.db.withTransaction(async (tx) => {
      const before = await lockedAt(tx, project.id, id, expectedVersion);
      const settings = (w: Pick<WebhookFields, 'name' | 'format' | 'events' | 'environments' | 'enabled'>): unknown => [w.name, w.format, w.events, w.environments, w.enabled];
      const sameUrl = data.url === undefined || readUrl(key, before) === data.url;
      if (sameUrl && jsonDiff(settings(before), settings({ name: data.name ?? before.name, format: data.format ?? before.format, events: data.events ?? before.events, environments: data.environments === undefined ? before.environments : data.environments, enabled: data.enabled ?? before.enabled })).length === 0) {
        // Nothing to write: no new version, no audit entry (and no webhook.updated event).
        return before;
      }
      if ((data.enabled ?? before.enabled) && (data.environments === undefined ? before.environments : data.environments)?.length === 0) {
        // Left empty when its only environment was deleted (removeEnvironmentFromWebhooks): it matches nothing.
        throw invalid('the webhook\'s environment filter is empty (its environments were deleted): give environments (or null for all) to enable it', { issues: [{ path: 'environments', message: 'required to enable the webhook: its filter is empty' }] });
      }
      const fields: WebhookFields = {
        name: data.name ?? before.name,
        format: data.format ?? before.format,
        events: data.events ?? before.events,
        environments: data.environments === undefined ? before.environments : data.environments,
        enabled: data.enabled ?? before.enabled,
        urlCiphertext: data.url === undefined ? before.urlCiphertext : key.encrypt(data.url, URL_PURPOSE, id),
        urlPreview: data.url === undefined ? before.urlPreview : urlPreview(data.url),
      };
      const after = await webhooks.update(tx, project.id, id, fields, this.deps.now());
      if (before.enabled && !after.enabled) {
        await webhooks.cancelPending(tx, id, 'the webhook was disabled');
      }
      const urlChanged = data.url !== undefined && readUrl(key, before) !== data.url;
      // A new URL with the same preview (another token) still shows in the log, as a marker.
      await record(tx, actor, {
        projectId: project.id,
        action: 'webhook.updated',
        resourceType: 'webhook',
        resourceKey: id,
        before: webhookAudit(before),
        after: { ...webhookAudit(after), ...(urlChanged && before.urlPreview === after.urlPreview ? { url: `${after.urlPreview} (changed)` } : {}) },
      });
      return after;
    });
    return webhookView(updated, this.deps.now());
  }

  async delete(actor: Actor, projectKey: string, id: string, expectedVersion: number): Promise<Webhook> {
    const project = await this.project(actor, projectKey);
    return this.deps.db.withTransaction(async (tx) => {
      const before = await lockedAt(tx, project.id, id, expectedVersion);
      await webhooks.delete(tx, project.id, id);
      await record(tx, actor, { projectId: project.id, action: 'webhook.deleted', resourceType: 'webhook', resourceKey: id, before: webhookAudit(before), after: undefined });
      return webhookView(before, this.deps.now());
    });
  }

  /**
   * A new signing secret, returned once. The one it replaces stops signing at once, or keeps
   * signing beside it for `keepPreviousHours` (requests then carry both signatures) while the
   * receiver is given the new one.
   */
  async rotateSecret(actor: Actor, projectKey: string, id: string, expectedVersion: number, input?: unknown): Promise<{ webhook: Webhook; secret: string }> {
    const project = await this.project(actor, projectKey);
    const key = keyOf(this.deps);
    const { keepPreviousHours } = parseOrThrow(rotateSecretSchema, input, 'rotation');
    const now = this.deps.now();
    const previousUntil = keepPreviousHours === 0 ? null : new Date(now.getTime() + keepPreviousHours * 3_600_000);
    const rotated = await this.deps.db.withTransaction(async (tx) => {
      const before = await lockedAt(tx, project.id, id, expectedVersion);
      const after = await webhooks.rotateSecret(tx, project.id, id, now, previousUntil);
      await record(tx, actor, {
        projectId: project.id,
        action: 'webhook.secret-rotated',
        resourceType: 'webhook',
        resourceKey: id,
        before: { secretVersion: before.secretVersion },
        after: { secretVersion: after.secretVersion, previousSecretUntil: after.previousSecretUntil },
      });
      return after;
    });
    return { webhook: webhookView(rotated, now), secret: key.webhookSecret(id, rotated.secretVersion) };
  }

  /** Sends a `webhook.test` delivery now and says how it went (a failure is not retried). */
  async test(actor: Actor, projectKey: string, id: string): Promise<StoredDelivery> {
    const project = await this.project(actor, projectKey);
    const key = keyOf(this.deps);
    const webhook = await webhooks.get(this.deps.db, project.id, id);
    const now = this.deps.now();
    const payload = {
      event: 'webhook.test',
      createdAt: now.toISOString(),
      project: { key: project.key, name: project.name },
      change: null,
      webhook: { id: webhook.id, name: webhook.name },
    };
    // Leased, so no dispatcher sends it too.
    const delivery = await deliveries.enqueue(this.deps.db, { webhookId: id, auditId: null, event: 'webhook.test', payload, now, leaseUntil: new Date(now.getTime() + LEASE_MS) });
    const sent = await attempt(
      key,
      this.sender,
      { ...delivery, urlCiphertext: webhook.urlCiphertext, format: webhook.format, secretVersion: webhook.secretVersion, previousSecretUntil: webhook.previousSecretUntil },
      1,
      this.deps.now,
      false,
    );
    // Audited with how it went (never the URL beyond its preview, nor the receiver's answer).
    return this.deps.db.withTransaction(async (tx) => {
      const done = await deliveries.record(tx, delivery.id, 1, sent.record);
      await record(tx, actor, {
        projectId: project.id,
        action: 'webhook.tested',
        resourceType: 'webhook',
        resourceKey: id,
        before: undefined,
        after: { name: webhook.name, url: webhook.urlPreview, delivery: done.id, status: done.status, statusCode: done.statusCode },
      });
      return done;
    });
  }

  async deliveries(
    actor: Actor,
    projectKey: string,
    id: string,
    query: { limit?: number | undefined; cursor?: string | undefined; status?: DeliveryStatus | undefined },
  ): Promise<Page<StoredDelivery>> {
    const project = await this.project(actor, projectKey);
    decodeCursor(query.cursor, 'number');
    await webhooks.get(this.deps.db, project.id, id);
    return deliveries.list(this.deps.db, id, { limit: query.limit ?? DEFAULT_PAGE_SIZE, cursor: query.cursor }, query.status);
  }

  /** One delivery with every attempt made of it. */
  async delivery(actor: Actor, projectKey: string, id: string, deliveryId: string): Promise<WebhookDeliveryDetail> {
    const project = await this.project(actor, projectKey);
    await webhooks.get(this.deps.db, project.id, id);
    const delivery = await deliveries.get(this.deps.db, id, deliveryId);
    return { ...delivery, attemptLog: await deliveries.attempts(this.deps.db, delivery.id) };
  }

  /** Queues a new delivery of a past delivery's payload (same event, same change). */
  async redeliver(actor: Actor, projectKey: string, id: string, deliveryId: string): Promise<StoredDelivery> {
    const project = await this.project(actor, projectKey);
    const webhook = await webhooks.get(this.deps.db, project.id, id);
    if (!webhook.enabled) {
      throw new AppError(AppErrorCode.InvalidState, 'the webhook is disabled: enable it to redeliver');
    }
    const past = await deliveries.get(this.deps.db, id, deliveryId);
    // Audited: the past payload goes to the webhook's current URL (shown as its preview only).
    return this.deps.db.withTransaction(async (tx) => {
      const queued = await deliveries.enqueue(tx, { webhookId: id, auditId: past.auditId, event: past.event, payload: past.payload, now: this.deps.now() });
      await record(tx, actor, {
        projectId: project.id,
        action: 'webhook.redelivered',
        resourceType: 'webhook',
        resourceKey: id,
        before: undefined,
        after: { name: webhook.name, url: webhook.urlPreview, delivery: past.id, event: past.event, redelivery: queued.id },
      });
      return queued;
    });
  }
}

export interface DispatchReport {
  readonly delivered: number;
  readonly failed: number;
  readonly retried: number;
}

let lastPrune = 0;

/**
 * Sends every due delivery, then keeps polling (every `idleMs`) until `until` (epoch ms): one
 * pass always runs. Several dispatchers may run at once (claims skip each other's rows).
 */
export async function dispatchDueWebhooks(
  deps: Deps,
  sender: WebhookSender,
  options: {
    readonly until: number;
    readonly idleMs?: number;
    readonly signal?: AbortSignal;
    /** Return as soon as a pass finds nothing due and no webhook is enabled anywhere (the scheduled function: no polling, the database may pause). */
    readonly stopWhenUnused?: boolean;
    /** Called after each pass that could read what is due (the local dispatcher logs an outage's end). */
    readonly onPass?: () => void;
  },
): Promise<DispatchReport> {
  const counts = { delivered: 0, failed: 0, retried: 0 };
  const key = deps.platformKey;
  if (key === undefined) {
    deps.logger.warn('webhooks are not dispatched: no platform key');
    return counts;
  }
  const idleMs = options.idleMs ?? 1_000;
  // Claimed deliveries are sent side by side, up to SEND_CONCURRENCY, and the next claim is made as
  // soon as the claimed ones have all started: a receiver that takes its whole timeout holds one
  // slot, not every other webhook's deliveries behind the slowest send of a batch. A webhook with a
  // delivery claimed and not yet done is left out of the next claims (`busy`), so a slow receiver
  // cannot fill the slots with its own backlog.
  const queue: ClaimedDelivery[] = [];
  const inFlight = new Set<Promise<void>>();
  const busy = new Map<string, number>();
  let failure: { error: unknown } | undefined;
  /** Read through a call: sends set it while the loop awaits. */
  const failed = (): { error: unknown } | undefined => failure;
  const release = (webhookId: string): void => {
    const left = (busy.get(webhookId) ?? 1) - 1;
    if (left === 0) {
      busy.delete(webhookId);
    } else {
      busy.set(webhookId, left);
    }
  };
  const pump = (): void => {
    while (inFlight.size < SEND_CONCURRENCY && queue.length > 0) {
      const d = queue.shift()!;
      const task: Promise<void> = (async () => {
        const { outcome, record } = await attempt(key, sender, d, d.attempts, deps.now, true);
        const result = await deliveries.record(deps.db, d.id, d.attempts, record);
        counts[result.status === 'succeeded' ? 'delivered' : result.status === 'failed' ? 'failed' : 'retried']++;
        if (result.status !== 'succeeded') {
          deps.logger.warn('webhook delivery failed', { webhook: d.webhookId, delivery: d.id, attempt: d.attempts, statusCode: outcome.statusCode, error: result.error, final: result.status === 'failed' });
        }
      })()
        .catch((error: unknown) => {
          // Recording failed (the database down): the pass fails once its other sends have ended.
          failure ??= { error };
        })
        .finally(() => {
          inFlight.delete(task);
          release(d.webhookId);
          pump();
        });
      inFlight.add(task);
    }
  };
  /** Waits until every claimed delivery was sent and recorded. */
  const drain = async (): Promise<void> => {
    while (inFlight.size > 0) {
      await Promise.race(inFlight);
    }
  };
  for (;;) {
    const early = failed();
    if (early !== undefined) {
      await drain();
      throw early.error;
    }
    if (Date.now() - lastPrune >= PRUNE_EVERY_MS) {
      lastPrune = Date.now();
      await deliveries.prune(deps.db, DELIVERY_RETENTION_DAYS);
    }
    let claimed = 0;
    if (queue.length === 0) {
      const now = deps.now();
      let due: ClaimedDelivery[];
      try {
        due = await deliveries.claimDue(deps.db, now, new Date(now.getTime() + LEASE_MS), CLAIM_BATCH, CLAIM_PER_WEBHOOK, [...busy.keys()]);
      } catch (error) {
        await drain();
        throw error;
      }
      options.onPass?.();
      for (const d of due) {
        busy.set(d.webhookId, (busy.get(d.webhookId) ?? 0) + 1);
      }
      queue.push(...due);
      claimed = due.length;
      pump();
    }
    if (options.signal?.aborted === true || Date.now() >= options.until) {
      await drain();
      const late = failed();
      if (late !== undefined) {
        throw late.error;
      }
      return counts;
    }
    const idle = claimed === 0 && inFlight.size === 0;
    if (idle && options.stopWhenUnused === true && !(await webhooks.anyEnabled(deps.db))) {
      return counts;
    }
    // Claims were capped per webhook: anything claimed may mean more is due, once these have started.
    if (claimed > 0 && queue.length === 0) {
      continue;
    }
    if (idle && Date.now() + idleMs >= options.until) {
      return counts;
    }
    // A send ending frees a slot (queued deliveries start) and maybe a webhook; else poll again after idleMs.
    try {
      await Promise.race([...inFlight, sleep(queue.length > 0 ? Math.max(0, options.until - Date.now()) : idleMs, undefined, options.signal === undefined ? {} : { signal: options.signal })]);
    } catch {
      await drain();
      return counts;
    }
  }
}

/** How often a dispatcher that keeps failing logs it again (the first failure is logged at once). */
export const DISPATCH_FAILURE_LOG_EVERY_MS = 60_000;

/**
 * The local stack's dispatcher: polls until stopped; a failing pass is retried after `retryMs`
 * (default 5 s). During an outage (the database down) the first failure is logged at error level,
 * then one line at most every `logEveryMs` (default a minute) with the count since, and the
 * recovery once.
 */
export function startWebhookDispatcher(
  deps: Deps,
  sender: WebhookSender,
  options: { readonly idleMs?: number; readonly retryMs?: number; readonly logEveryMs?: number } = {},
): { stop(): Promise<void> } {
  const controller = new AbortController();
  const retryMs = options.retryMs ?? 5_000;
  const logEveryMs = options.logEveryMs ?? DISPATCH_FAILURE_LOG_EVERY_MS;
  const outage = { failures: 0, since: 0, loggedAt: 0, unlogged: 0 };
  const recovered = (): void => {
    if (outage.failures > 0) {
      deps.logger.info('webhook dispatch recovered', { failures: outage.failures, downSeconds: Math.round((Date.now() - outage.since) / 1000) });
      outage.failures = 0;
      outage.unlogged = 0;
    }
  };
  const loop = (async () => {
    while (!controller.signal.aborted) {
      try {
        await dispatchDueWebhooks(deps, sender, {
          until: Date.now() + 60_000,
          signal: controller.signal,
          ...(options.idleMs === undefined ? {} : { idleMs: options.idleMs }),
          // The first pass that gets past its first query ends an outage.
          onPass: recovered,
        });
        recovered();
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        const now = Date.now();
        outage.failures++;
        if (outage.failures === 1) {
          outage.since = now;
          outage.loggedAt = now;
          deps.logger.error('webhook dispatch failed', { error });
        } else if (now - outage.loggedAt >= logEveryMs) {
          deps.logger.error('webhook dispatch still failing', { error, failures: outage.failures, sinceSeconds: Math.round((now - outage.since) / 1000), notLogged: outage.unlogged });
          outage.loggedAt = now;
          outage.unlogged = 0;
        } else {
          outage.unlogged++;
        }
        await sleep(retryMs, undefined, { signal: controller.signal }).catch(() => undefined);
      }
    }
  })();
  return {
    async stop() {
      controller.abort();
      await loop;
    },
  };
}
