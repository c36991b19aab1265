import { describe, expect, it } from 'vitest';
import { ApiError, DeliveryStatus, WebhookFormat, XpApiClient } from '../client.js';
import type { Project, StoredEnvironment, Webhook, WebhookDelivery } from '../client.js';

/** One request the client sent: method, path with query, headers and JSON body. */
interface Sent {
  readonly method: string;
  readonly path: string;
  readonly headers: Headers;
  readonly body: unknown;
}

/** A client on http://api.test whose fetch records each request and answers `status` with `body` (a string as is, anything else as JSON). */
function clientAnswering(status: number, body?: unknown): { client: XpApiClient; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetchFn = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    sent.push({
      method: init?.method ?? 'GET',
      path: `${url.pathname}${url.search}`,
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
    });
    const text = body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body);
    return Promise.resolve(new Response(text, { status, headers: { 'content-type': 'application/json' } }));
  };
  return { client: new XpApiClient({ apiUrl: 'http://api.test/', token: 'tok', client: 'console', fetch: fetchFn }), sent };
}

const AT = '2026-11-25T10:00:00Z';
const WEBHOOK: Webhook = {
  id: 'wh_1',
  name: 'Deploy notifier',
  url: 'https://hooks.example.com/…',
  format: WebhookFormat.Json,
  events: ['flag.*'],
  environments: ['production'],
  enabled: true,
  version: 3,
  previousSecretExpiresAt: null,
  createdAt: AT,
  updatedAt: AT,
  lastDelivery: { id: '7', status: DeliveryStatus.Succeeded, statusCode: 200, at: AT },
};
const DELIVERY: WebhookDelivery = {
  id: '7',
  webhookId: 'wh_1',
  event: 'webhook.test',
  auditId: null,
  status: DeliveryStatus.Failed,
  attempts: 1,
  nextAttemptAt: null,
  statusCode: 500,
  error: 'HTTP 500',
  response: 'boom',
  durationMs: 12,
  createdAt: AT,
  deliveredAt: null,
  payload: { event: 'webhook.test' },
};
const BASE = '/api/v1/projects/my%20shop/webhooks';

describe('XpApiClient webhooks', () => {
  it('lists the webhooks of a project (GET …/webhooks, the items)', async () => {
    const { client, sent } = clientAnswering(200, { items: [WEBHOOK] });
    expect(await client.listWebhooks('my shop')).toEqual([WEBHOOK]);
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['GET', BASE, undefined]]);
    expect(sent[0]!.headers.get('authorization')).toBe('Bearer tok');
    expect(sent[0]!.headers.get('x-xp-client')).toBe('console');
    expect(sent[0]!.headers.get('content-type')).toBeNull();
  });

  it('reads one webhook (GET …/webhooks/{id}, the id encoded)', async () => {
    const { client, sent } = clientAnswering(200, WEBHOOK);
    expect(await client.webhook('my shop', 'wh/1')).toEqual(WEBHOOK);
    expect(sent.map((r) => [r.method, r.path])).toEqual([['GET', `${BASE}/wh%2F1`]]);
  });

  it('creates a webhook with the body given and answers it with its secret (POST …/webhooks)', async () => {
    const { client, sent } = clientAnswering(201, { webhook: WEBHOOK, secret: 'whsec_abc' });
    const body = { name: 'Deploy notifier', url: 'https://hooks.example.com/x?token=t', format: WebhookFormat.Slack, events: ['flag.*'], environments: null, enabled: false };
    expect(await client.createWebhook('my shop', body)).toEqual({ webhook: WEBHOOK, secret: 'whsec_abc' });
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['POST', BASE, body]]);
    expect(sent[0]!.headers.get('content-type')).toBe('application/json');
    expect(sent[0]!.headers.get('if-match')).toBeNull();
  });

  it('sends only the fields of a patch with the version read as If-Match (PATCH …/webhooks/{id}) and answers the webhook', async () => {
    const { client, sent } = clientAnswering(200, { ...WEBHOOK, enabled: false, version: 4 });
    expect(await client.updateWebhook('my shop', 'wh_1', { enabled: false, environments: null }, 3)).toEqual({ ...WEBHOOK, enabled: false, version: 4 });
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['PATCH', `${BASE}/wh_1`, { enabled: false, environments: null }]]);
    expect(sent[0]!.headers.get('if-match')).toBe('"3"');
    expect(sent[0]!.headers.get('content-type')).toBe('application/json');
  });

  it('deletes a webhook from the version read (DELETE …/webhooks/{id}, If-Match) and answers the deleted one', async () => {
    const { client, sent } = clientAnswering(200, WEBHOOK);
    expect(await client.deleteWebhook('my shop', 'wh_1', 3)).toEqual(WEBHOOK);
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['DELETE', `${BASE}/wh_1`, undefined]]);
    expect(sent[0]!.headers.get('if-match')).toBe('"3"');
  });

  it('rotates the secret from the version read (POST …/rotate-secret, If-Match, no body) and answers the new one', async () => {
    const rotated = { webhook: { ...WEBHOOK, version: 4 }, secret: 'whsec_new' };
    const { client, sent } = clientAnswering(200, rotated);
    expect(await client.rotateWebhookSecret('my shop', 'wh_1', 3)).toEqual(rotated);
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['POST', `${BASE}/wh_1/rotate-secret`, undefined]]);
    expect(sent[0]!.headers.get('if-match')).toBe('"3"');
    expect(sent[0]!.headers.get('content-type')).toBeNull();
  });

  it('asks a rotation to keep the previous secret signing for some hours (a JSON body) only when told', async () => {
    const rotated = { webhook: { ...WEBHOOK, version: 4, previousSecretExpiresAt: '2026-11-26T10:00:00.000Z' }, secret: 'whsec_new' };
    const { client, sent } = clientAnswering(200, rotated);
    expect(await client.rotateWebhookSecret('web', 'wh_1', 3, { keepPreviousHours: 24 })).toEqual(rotated);
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['POST', `${BASE.replace('my%20shop', 'web')}/wh_1/rotate-secret`, { keepPreviousHours: 24 }]]);
    expect(sent[0]!.headers.get('if-match')).toBe('"3"');
  });

  it('sends version 0 as If-Match too (a falsy version is still a version)', async () => {
    const { client, sent } = clientAnswering(200, { ...WEBHOOK, version: 1 });
    await client.updateWebhook('my shop', 'wh_1', { name: 'x' }, 0);
    expect(sent[0]!.headers.get('if-match')).toBe('"0"');
  });

  it('maps a stale version (409) to an ApiError VERSION_CONFLICT with the current version in its details', async () => {
    const refusal = { error: { code: 'VERSION_CONFLICT', message: 'webhook was changed by someone else (version 5, you sent 3)', details: { currentVersion: 5 } } };
    const stale = { status: 409, code: 'VERSION_CONFLICT', message: 'webhook was changed by someone else (version 5, you sent 3)', details: { currentVersion: 5 } };
    for (const send of [
      (c: XpApiClient) => c.updateWebhook('web', 'wh_1', { enabled: false }, 3),
      (c: XpApiClient) => c.deleteWebhook('web', 'wh_1', 3),
      (c: XpApiClient) => c.rotateWebhookSecret('web', 'wh_1', 3),
    ]) {
      const { client, sent } = clientAnswering(409, refusal);
      const err = await send(client).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject(stale);
      expect(sent[0]!.headers.get('if-match')).toBe('"3"');
    }
  });

  it('does not send If-Match on reads, tests and redeliveries', async () => {
    const { client, sent } = clientAnswering(200, WEBHOOK);
    await client.webhook('web', 'wh_1');
    await client.listWebhooks('web').catch(() => undefined);
    await client.testWebhook('web', 'wh_1');
    await client.redeliverWebhook('web', 'wh_1', '7');
    expect(sent.map((r) => r.headers.get('if-match'))).toEqual([null, null, null, null]);
  });

  it('sends a test event (POST …/test) and answers the delivery, a failed one included', async () => {
    const { client, sent } = clientAnswering(200, DELIVERY);
    expect(await client.testWebhook('my shop', 'wh_1')).toEqual(DELIVERY);
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['POST', `${BASE}/wh_1/test`, undefined]]);
  });

  it('reads deliveries a page at a time (GET …/deliveries with limit and cursor) and passes nextCursor on', async () => {
    const { client, sent } = clientAnswering(200, { items: [DELIVERY], nextCursor: 'c2' });
    expect(await client.webhookDeliveries('my shop', 'wh_1', { cursor: 'c 1', limit: 50 })).toEqual({ items: [DELIVERY], nextCursor: 'c2' });
    expect(await client.webhookDeliveries('my shop', 'wh_1', { limit: 50 })).toEqual({ items: [DELIVERY], nextCursor: 'c2' });
    expect(await client.webhookDeliveries('my shop', 'wh_1')).toEqual({ items: [DELIVERY], nextCursor: 'c2' });
    expect(sent.map((r) => [r.method, r.path])).toEqual([
      ['GET', `${BASE}/wh_1/deliveries?limit=50&cursor=c+1`],
      ['GET', `${BASE}/wh_1/deliveries?limit=50`],
      ['GET', `${BASE}/wh_1/deliveries`],
    ]);
  });

  it('filters deliveries by status (…/deliveries?status=failed) and reads one with its attempts', async () => {
    const { client, sent } = clientAnswering(200, { items: [DELIVERY], nextCursor: null });
    await client.webhookDeliveries('my shop', 'wh_1', { status: DeliveryStatus.Failed, limit: 20 });
    const detail = { ...DELIVERY, attemptLog: [{ attempt: 1, at: '2026-11-25T12:00:00.000Z', statusCode: 503, error: 'the receiver answered 503', response: 'busy', durationMs: 4 }] };
    const one = clientAnswering(200, detail);
    expect(await one.client.webhookDelivery('my shop', 'wh_1', '7')).toEqual(detail);
    expect([...sent, ...one.sent].map((r) => [r.method, r.path])).toEqual([
      ['GET', `${BASE}/wh_1/deliveries?limit=20&status=failed`],
      ['GET', `${BASE}/wh_1/deliveries/7`],
    ]);
  });

  it('redelivers (POST …/deliveries/{delivery}/redeliver) and answers the new, pending delivery', async () => {
    const pending: WebhookDelivery = { ...DELIVERY, id: '8', status: DeliveryStatus.Pending, attempts: 0, statusCode: null, error: null, response: null, durationMs: null };
    const { client, sent } = clientAnswering(202, pending);
    expect(await client.redeliverWebhook('my shop', 'wh_1', '7')).toEqual(pending);
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['POST', `${BASE}/wh_1/deliveries/7/redeliver`, undefined]]);
  });

  it("maps a refusal to an ApiError with the API's status, code, message and details", async () => {
    const details = { issues: [{ path: 'body.url', message: 'not a URL' }] };
    const { client } = clientAnswering(400, { error: { code: 'VALIDATION_FAILED', message: 'invalid body', details } });
    const err = await client.createWebhook('web', { name: 'x', url: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', message: 'invalid body', details });

    const unavailable = clientAnswering(503, { error: { code: 'WEBHOOKS_UNAVAILABLE', message: 'webhooks need a platform key' } });
    await expect(unavailable.client.listWebhooks('web')).rejects.toMatchObject({ status: 503, code: 'WEBHOOKS_UNAVAILABLE', message: 'webhooks need a platform key' });
    const gone = clientAnswering(404, { error: { code: 'NOT_FOUND', message: 'webhook not found' } });
    await expect(gone.client.redeliverWebhook('web', 'wh_1', '7')).rejects.toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('maps an answer without an error body to HTTP_ERROR', async () => {
    const { client } = clientAnswering(502, '<html>Bad gateway</html>');
    await expect(client.testWebhook('web', 'wh_1')).rejects.toMatchObject({ name: 'ApiError', status: 502, code: 'HTTP_ERROR', message: 'HTTP 502' });
  });
});

const PROJECT: Project = { id: 'p_1', key: 'my shop', name: 'My shop', description: null, version: 4, createdAt: AT, updatedAt: AT };
const STAGING: StoredEnvironment = { key: 'staging', name: 'Staging', production: false, requireApproval: false, color: '#ff7f0e', version: 2, position: 1 };
const PROJECTS = '/api/v1/projects';

describe('XpApiClient projects and environments', () => {
  it('creates a project with the body given and no If-Match (POST /api/v1/projects)', async () => {
    const { client, sent } = clientAnswering(201, PROJECT);
    expect(await client.createProject({ key: 'shop', name: 'Shop', description: 'The web shop' })).toEqual(PROJECT);
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['POST', PROJECTS, { key: 'shop', name: 'Shop', description: 'The web shop' }]]);
    expect(sent[0]!.headers.get('if-match')).toBeNull();
  });

  it('patches a project from the version read (PATCH …/{project}, If-Match, the key encoded)', async () => {
    const { client, sent } = clientAnswering(200, { ...PROJECT, name: 'Shop', version: 5 });
    expect(await client.updateProject('my shop', { name: 'Shop' }, 4)).toMatchObject({ name: 'Shop', version: 5 });
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['PATCH', `${PROJECTS}/my%20shop`, { name: 'Shop' }]]);
    expect(sent[0]!.headers.get('if-match')).toBe('"4"');
  });

  it('deletes a project from the version read (DELETE …/{project}, If-Match, no body) and maps its refusal with the details', async () => {
    const { client, sent } = clientAnswering(204);
    await client.deleteProject('my shop', 4);
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['DELETE', `${PROJECTS}/my%20shop`, undefined]]);
    expect(sent[0]!.headers.get('if-match')).toBe('"4"');
    expect(sent[0]!.headers.get('content-type')).toBeNull();

    const details = { flags: [{ key: 'checkout', environment: 'production' }], experiments: ['cta'] };
    const refused = clientAnswering(409, { error: { code: 'INVALID_STATE', message: 'flags are on in production', details } });
    await expect(refused.client.deleteProject('shop', 4)).rejects.toMatchObject({ status: 409, code: 'INVALID_STATE', message: 'flags are on in production', details });
  });

  it('creates an environment (POST …/environments) with no If-Match', async () => {
    const { client, sent } = clientAnswering(201, STAGING);
    const body = { key: 'staging', name: 'Staging', production: false, requireApproval: false, color: '#ff7f0e' };
    expect(await client.createEnvironment('my shop', body)).toEqual(STAGING);
    expect(sent.map((r) => [r.method, r.path, r.body])).toEqual([['POST', `${PROJECTS}/my%20shop/environments`, body]]);
    expect(sent[0]!.headers.get('if-match')).toBeNull();
  });

  it('replaces an environment (PUT …/environments/{environment}) and deletes one (DELETE), each with the version read as If-Match', async () => {
    const { client, sent } = clientAnswering(200, { ...STAGING, version: 3 });
    const body = { key: 'staging', name: 'Pre-production', production: false, requireApproval: true, color: '#ff7f0e' };
    expect(await client.updateEnvironment('my shop', 'staging', body, 2)).toMatchObject({ version: 3 });
    const deleted = clientAnswering(204);
    await deleted.client.deleteEnvironment('my shop', 'stag/ing', 0);
    expect([...sent, ...deleted.sent].map((r) => [r.method, r.path, r.body, r.headers.get('if-match')])).toEqual([
      ['PUT', `${PROJECTS}/my%20shop/environments/staging`, body, '"2"'],
      ['DELETE', `${PROJECTS}/my%20shop/environments/stag%2Fing`, undefined, '"0"'],
    ]);
  });
});

describe('CSV downloads for spreadsheets', () => {
  it('asks for a byte order mark with bom and keeps it in the text answered', async () => {
    const { client, sent } = clientAnswering(200, '\uFEFFmetric,variation\r\n');

    const results = await client.resultsCsv('web', 'checkout', { bom: true });
    const audit = await client.auditExport({ bom: true });
    await client.auditExport();

    expect(results.startsWith('\uFEFFmetric')).toBe(true);
    expect(audit.charCodeAt(0)).toBe(0xfeff);
    expect(sent.map((r) => new URL(r.path, 'http://x').searchParams.get('bom'))).toEqual(['1', '1', null]);
  });
});
