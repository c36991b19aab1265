import { useMemo } from 'react';
import { ApiError } from '@xp/shared';
import type { ApiErrorBody, ClientOptions, Page } from '@xp/shared';
import { useSession } from '../../app/session.js';

/** How a webhook's requests are written. */
export const WebhookFormat = {
  /** The change as JSON, signed (X-XP-Signature), for your own receivers. */
  Json: 'json',
  /** `{"text": "…"}`, for a Slack incoming webhook. */
  Slack: 'slack',
} as const;
export type WebhookFormat = (typeof WebhookFormat)[keyof typeof WebhookFormat];

/** Where a delivery stands. */
export const DeliveryStatus = {
  /** Not sent yet, or to be tried again at `nextAttemptAt`. */
  Pending: 'pending',
  /** The receiver answered 2xx. */
  Succeeded: 'succeeded',
  /** Attempts used up, or refused for good (4xx other than 408 and 429). */
  Failed: 'failed',
} as const;
export type DeliveryStatus = (typeof DeliveryStatus)[keyof typeof DeliveryStatus];

/** A webhook as the API shows it: `url` is a preview (scheme://host/…), never the URL itself. */
export interface Webhook {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly format: WebhookFormat;
  readonly events: readonly string[];
  /** null: every change of the project; a list: only changes made in those environments. */
  readonly environments: readonly string[] | null;
  readonly enabled: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastDelivery: { readonly id: string; readonly status: DeliveryStatus; readonly statusCode: number | null; readonly at: string } | null;
}

export interface WebhookCreate {
  readonly name: string;
  readonly url: string;
  readonly format?: WebhookFormat;
  readonly events?: readonly string[];
  readonly environments?: readonly string[] | null;
  readonly enabled?: boolean;
}

/** The fields to change; `url` only when it changes (the console never has the current one). */
export type WebhookPatch = Partial<WebhookCreate>;

export interface Delivery {
  readonly id: string;
  readonly webhookId: string;
  /** The audit action ('flag.updated'), or 'webhook.test'. */
  readonly event: string;
  readonly auditId: number | null;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly statusCode: number | null;
  readonly error: string | null;
  /** The first kilobyte of the receiver's answer. */
  readonly response: string | null;
  readonly durationMs: number | null;
  readonly createdAt: string;
  readonly deliveredAt: string | null;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** A webhook just created or given a new secret: the signing secret is in this answer only. */
export interface WebhookWithSecret {
  readonly webhook: Webhook;
  readonly secret: string;
}

/**
 * The webhook endpoints of the management API (`/api/v1/projects/{project}/webhooks`), with the
 * session's URL, token and fetch; errors are the shared client's `ApiError`s.
 */
export class WebhooksClient {
  constructor(private readonly connection: ClientOptions) {}

  async list(project: string): Promise<Webhook[]> {
    return (await this.call<{ items: Webhook[] }>('GET', project, '')).items;
  }

  async get(project: string, id: string): Promise<Webhook> {
    return this.call<Webhook>('GET', project, `/${encodeURIComponent(id)}`);
  }

  async create(project: string, body: WebhookCreate): Promise<WebhookWithSecret> {
    return this.call<WebhookWithSecret>('POST', project, '', body);
  }

  async update(project: string, id: string, patch: WebhookPatch): Promise<Webhook> {
    return this.call<Webhook>('PATCH', project, `/${encodeURIComponent(id)}`, patch);
  }

  /** Deletes the webhook and its delivery log; answers the deleted webhook. */
  async remove(project: string, id: string): Promise<Webhook> {
    return this.call<Webhook>('DELETE', project, `/${encodeURIComponent(id)}`);
  }

  /** A new signing secret; the old one stops at once. */
  async rotateSecret(project: string, id: string): Promise<WebhookWithSecret> {
    return this.call<WebhookWithSecret>('POST', project, `/${encodeURIComponent(id)}/rotate-secret`);
  }

  /** Sends a `webhook.test` event now and answers how it went (a failed receiver is a 200 with a failed delivery). */
  async test(project: string, id: string): Promise<Delivery> {
    return this.call<Delivery>('POST', project, `/${encodeURIComponent(id)}/test`);
  }

  /** The webhook's deliveries, newest first. */
  async deliveries(project: string, id: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<Delivery>> {
    const search = new URLSearchParams();
    if (query.limit !== undefined) {
      search.set('limit', String(query.limit));
    }
    if (query.cursor !== undefined) {
      search.set('cursor', query.cursor);
    }
    const qs = search.toString();
    return this.call<Page<Delivery>>('GET', project, `/${encodeURIComponent(id)}/deliveries${qs === '' ? '' : `?${qs}`}`);
  }

  /** Queues a new delivery with the same payload; answers it (pending). */
  async redeliver(project: string, id: string, deliveryId: string): Promise<Delivery> {
    return this.call<Delivery>('POST', project, `/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(deliveryId)}/redeliver`);
  }

  private async call<T>(method: string, project: string, path: string, body?: unknown): Promise<T> {
    const { apiUrl, token, client } = this.connection;
    const fetchFn = this.connection.fetch ?? globalThis.fetch.bind(globalThis);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined) {
      headers.authorization = `Bearer ${token}`;
    }
    if (client !== undefined) {
      headers['x-xp-client'] = client;
    }
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    const url = `${apiUrl.replace(/\/+$/, '')}/api/v1/projects/${encodeURIComponent(project)}/webhooks${path}`;
    const res = await fetchFn(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const err = (parsed as Partial<ApiErrorBody> | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? 'HTTP_ERROR', err?.message ?? `HTTP ${res.status}`, err?.details);
    }
    return parsed as T;
  }
}

/** The session's webhooks client. */
export function useWebhooksClient(): WebhooksClient {
  const { connection } = useSession();
  const client = useMemo(() => (connection === undefined ? undefined : new WebhooksClient(connection)), [connection]);
  if (client === undefined) {
    throw new Error('the console session has no API connection for webhooks');
  }
  return client;
}
