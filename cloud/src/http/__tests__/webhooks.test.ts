/**
 * Project webhooks end to end: the API, the trigger that queues a change in its own transaction,
 * the dispatcher sending to a real HTTP receiver on 127.0.0.1, signatures, retries, the delivery
 * log, filters and bad input — on PGlite and PostgreSQL.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { httpSend } from '../../domain/webhook-http.js';
import { MAX_ATTEMPTS, UNREADABLE_URL, WebhookService, dispatchDueWebhooks } from '../../domain/webhooks.js';
import { PlatformKey, verifyWebhookSignature } from '../../auth/platform-key.js';
import type { Deps } from '../../domain/context.js';
import { deliveries } from '../../store/webhooks.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, startPlatform } from './harness.js';

interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A webhook receiver: records every request, answers with the next queued status (default 200). */
class Receiver {
  readonly received: Received[] = [];
  readonly answers: { status: number; headers?: Record<string, string> }[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const answer = this.answers.shift() ?? { status: 200 };
        res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
        res.end(answer.status < 300 ? 'ok' : 'receiver trouble');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  clear(): void {
    this.received.length = 0;
    this.answers.length = 0;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => { resolve(); }));
  }
}

const BASE = '/api/v1/projects/demo';
/** The harness's clock. */
const T0 = '2026-11-25T12:00:00Z';

describe.each(TARGETS.map((t) => [t().name, t] as const))('webhooks, on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let flagVersion = 0;
  const receiver = new Receiver();

  const request = (method: string, path: string, body?: unknown, version?: number): Promise<{ status: number; body: any }> => requestAs(p, owner, method, path, body, version);
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const dispatch = (deps: Deps = p.services.deps) => dispatchDueWebhooks(deps, httpSend, { until: 0 });
  const advance = (ms: number): void => {
    p.now.value = new Date(p.now.value.getTime() + ms);
  };
  /** Where the test flag is on. */
  const on = new Set<string>();
  /** Toggles the test flag in an environment: one `flag.enabled` / `flag.disabled` change (cases start with it off). */
  const toggle = async (enabled: boolean, environment = 'development'): Promise<void> => {
    // A toggle to the current state changes nothing (and queues nothing).
    expect(on.has(environment)).toBe(!enabled);
    const out = await must('POST', `${BASE}/flags/hooked/environments/${environment}/toggle`, { enabled }, flagVersion);
    flagVersion = out.version as number;
    if (enabled) {
      on.add(environment);
    } else {
      on.delete(environment);
    }
  };
  const versionOf = async (id: string): Promise<number> => (await must('GET', `${BASE}/webhooks/${id}`)).version as number;
  const create = async (body: Record<string, unknown>): Promise<{ id: string; secret: string }> => {
    const out = await must('POST', `${BASE}/webhooks`, { name: 'hook', url: `${receiver.url}/hooks/xp?token=s3cr3t-token`, ...body });
    return { id: out.webhook.id as string, secret: out.secret as string };
  };

  beforeAll(async () => {
    await receiver.start();
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    const flag = await must('POST', `${BASE}/flags`, booleanFlagBody('hooked', { development: { enabled: false, defaultVariation: 'on', offVariation: 'off' }, staging: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    flagVersion = flag.version as number;
  }, 60_000);
  afterAll(async () => {
    await p.close();
    await receiver.stop();
  });
  beforeEach(async () => {
    // Each case starts at the same time (cases move the clock for retries), with no webhooks and nothing queued.
    p.now.value = new Date(T0);
    for (const w of (await must('GET', `${BASE}/webhooks`)).items as { id: string; version: number }[]) {
      await must('DELETE', `${BASE}/webhooks/${w.id}`, undefined, w.version);
    }
    for (const environment of [...on]) {
      await toggle(false, environment);
    }
    receiver.clear();
  });

  it('sends a change, signed, once, and shows it in the delivery log; the URL is stored and shown only as a preview', async () => {
    const { id, secret } = await create({ events: ['flag.*'] });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const view = await must('GET', `${BASE}/webhooks/${id}`);
    expect(view).toMatchObject({ id, name: 'hook', url: `${receiver.url}/…`, format: 'json', events: ['flag.*'], environments: null, enabled: true, lastDelivery: null });
    // Neither the API, the table nor the audit log has the token in the URL.
    const stored = await p.db.query('SELECT * FROM webhooks WHERE id = $1', [id]);
    expect(JSON.stringify(stored.rows)).not.toContain('s3cr3t');
    expect(JSON.stringify(await must('GET', `${BASE}/webhooks`))).not.toContain('s3cr3t');
    expect(JSON.stringify(await must('GET', '/api/v1/audit?project=demo&resourceType=webhook'))).not.toContain('s3cr3t');

    await toggle(true);
    expect(receiver.received).toHaveLength(0);
    const report = await dispatch();
    expect(report).toEqual({ delivered: 1, failed: 0, retried: 0 });

    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    expect(got.path).toBe('/hooks/xp?token=s3cr3t-token');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-xp-event']).toBe('flag.enabled');
    expect(verifyWebhookSignature(secret, got.body, String(got.headers['x-xp-signature']))).toBe(true);
    expect(verifyWebhookSignature(secret, got.body.replace('hooked', 'hacked'), String(got.headers['x-xp-signature']))).toBe(false);
    const body = JSON.parse(got.body);
    expect(body).toMatchObject({
      id: got.headers['x-xp-delivery'],
      event: 'flag.enabled',
      project: { key: 'demo' },
      change: { action: 'flag.enabled', resourceType: 'flag', resourceKey: 'hooked', environment: 'development', actor: OWNER.email, client: 'api' },
    });
    expect(body.change.diff).toEqual([{ op: 'replace', path: '/environments/development/enabled', from: false, to: true }]);
    expect(body.change.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    // Nothing is sent twice.
    expect(await dispatch()).toEqual({ delivered: 0, failed: 0, retried: 0 });
    expect(receiver.received).toHaveLength(1);

    const log = await must('GET', `${BASE}/webhooks/${id}/deliveries`);
    expect(log.items).toHaveLength(1);
    expect(log.items[0]).toMatchObject({ id: got.headers['x-xp-delivery'], event: 'flag.enabled', status: 'succeeded', attempts: 1, statusCode: 200, response: 'ok', error: null, nextAttemptAt: null });
    expect(log.items[0].payload.change.resourceKey).toBe('hooked');
    expect((await must('GET', `${BASE}/webhooks/${id}`)).lastDelivery).toMatchObject({ id: log.items[0].id, status: 'succeeded', statusCode: 200 });
  });

  it('queues only matching events and environments; a rolled-back change queues nothing', async () => {
    const experiments = await create({ events: ['experiment.*'] });
    const staging = await create({ events: ['flag.enabled'], environments: ['staging'] });
    const everything = await create({});

    await toggle(true);
    await toggle(true, 'staging');
    // A stale version is refused (409): its transaction, audit entry included, rolls back.
    expect((await request('POST', `${BASE}/flags/hooked/environments/development/toggle`, { enabled: false }, flagVersion - 1)).status).toBe(409);
    await dispatch();

    const events = async (id: string): Promise<string[]> => ((await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items as { payload: any }[]).map((d) => `${d.payload.event}@${d.payload.change.environment}`);
    expect(await events(experiments.id)).toEqual([]);
    expect(await events(staging.id)).toEqual(['flag.enabled@staging']);
    // '*' gets everything, its own creation first (made in the transaction that queues the entry).
    expect(await events(everything.id)).toEqual(['flag.enabled@staging', 'flag.enabled@development', 'webhook.created@null']);
    expect(receiver.received).toHaveLength(4);
  });

  it('sends a flag change applied through a change request to flag.* and flag.updated, as change-request.applied', async () => {
    const flagHooks = await create({ events: ['flag.*'], environments: ['production'] });
    const updates = await create({ events: ['flag.updated'] });
    const toggles = await create({ events: ['flag.enabled', 'change-request.proposed'] });
    await must('POST', '/api/v1/users', { email: 'ed.hooks@example.com', name: 'Ed', role: 'editor', password: 'a much longer passphrase 42' });
    const editor = await p.login('ed.hooks@example.com', 'a much longer passphrase 42');
    const proposed = await mustAs(p, editor, 'POST', `${BASE}/change-requests`, {
      resourceType: 'flag',
      resourceKey: 'hooked',
      environment: 'production',
      state: { enabled: false, defaultVariation: 'on', offVariation: 'off' },
      baseVersion: flagVersion,
    });
    await must('POST', `${BASE}/change-requests/${proposed.id as string}/approve`);
    await mustAs(p, editor, 'POST', `${BASE}/change-requests/${proposed.id as string}/apply`);
    flagVersion = (await must('GET', `${BASE}/flags/hooked`)).version as number;
    await dispatch();

    const events = async (id: string): Promise<string[]> => ((await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items as { event: string; payload: any }[]).map((d) => `${d.event}@${d.payload.change.environment}`);
    expect(await events(flagHooks.id)).toEqual(['change-request.applied@production']);
    expect(await events(updates.id)).toEqual(['change-request.applied@production']);
    // Exact actions other than flag.updated are not widened: the proposal is sent only where asked for.
    expect(await events(toggles.id)).toEqual(['change-request.proposed@production']);
  });

  it("follows a flag entry's diff: a whole-flag change reaches the environments it changes, and one that turns the flag on or off is flag.enabled / flag.disabled", async () => {
    const stagingFlags = await create({ events: ['flag.*'], environments: ['staging'] });
    const turnedOn = await create({ events: ['flag.enabled'] });
    const stagingOff = await create({ events: ['flag.disabled'], environments: ['staging'] });
    const production = await create({ events: ['flag.*'], environments: ['production'] });
    const put = async (change: (definition: any) => any): Promise<void> => {
      const current = await must('GET', `${BASE}/flags/hooked`);
      flagVersion = (await must('PUT', `${BASE}/flags/hooked`, change(current.definition), current.version as number)).version as number;
    };

    // One PUT turns the flag on in development and staging: no environment of its own.
    await put((d) => ({ ...d, environments: { ...d.environments, development: { ...d.environments.development, enabled: true }, staging: { ...d.environments.staging, enabled: true } } }));
    on.add('development');
    on.add('staging');
    // A rename concerns no environment; a PUT turning staging off again is flag.disabled there.
    await put((d) => ({ ...d, name: 'Hooked, renamed' }));
    await put((d) => ({ ...d, environments: { ...d.environments, staging: { ...d.environments.staging, enabled: false } } }));
    on.delete('staging');
    // A flag created on in staging, then deleted while on there.
    const other = await must('POST', `${BASE}/flags`, booleanFlagBody('hooked-too', { staging: { enabled: true, defaultVariation: 'on', offVariation: 'off' } }));
    await must('DELETE', `${BASE}/flags/hooked-too`, undefined, other.version as number);
    await dispatch();

    const events = async (id: string): Promise<string[]> =>
      ((await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items as { event: string; payload: any }[]).map((d) => `${d.event} ${d.payload.change.resourceKey as string}`).reverse();
    expect(await events(stagingFlags.id)).toEqual(['flag.updated hooked', 'flag.updated hooked', 'flag.created hooked-too', 'flag.deleted hooked-too']);
    expect(await events(turnedOn.id)).toEqual(['flag.updated hooked', 'flag.created hooked-too']);
    expect(await events(stagingOff.id)).toEqual(['flag.updated hooked', 'flag.deleted hooked-too']);
    // The flag has no production state: nothing of this reaches production's channel.
    expect(await events(production.id)).toEqual([]);
  });

  it('subscribes to every action of the catalog, three-part ones included, and refuses events outside it', async () => {
    const targeting = await create({ events: ['flag.environment.updated'] });
    const path = `${BASE}/flags/hooked/environments/development`;
    const state = { enabled: false, offVariation: 'off' };
    flagVersion = (await must('PUT', path, { ...state, defaultVariation: 'off' }, flagVersion)).version as number;
    flagVersion = (await must('PUT', path, { ...state, defaultVariation: 'on' }, flagVersion)).version as number;
    await toggle(true);
    await dispatch();
    const delivered = (await must('GET', `${BASE}/webhooks/${targeting.id}/deliveries`)).items as { event: string }[];
    expect(delivered.map((d) => d.event)).toEqual(['flag.environment.updated', 'flag.environment.updated']);

    const refused = async (events: string[]): Promise<string> => {
      const res = await request('POST', `${BASE}/webhooks`, { name: 'typo', url: 'https://example.com/hook', events });
      expect(res.status).toBe(400);
      return (res.body.error.details.issues as { message: string }[]).map((i) => i.message).join('; ');
    };
    expect(await refused(['flg.*'])).toContain('unknown resource type "flg"');
    expect(await refused(['flag.toggled'])).toContain('flag actions are flag.created, flag.updated, flag.enabled, flag.disabled, flag.environment.updated, flag.deleted');
    expect(await refused(['*', 'deploy'])).toContain('unknown event "deploy"');
    expect((await must('GET', `${BASE}/webhooks`)).items).toHaveLength(1);
  });

  it('retries what failed for a reason worth retrying, on the backoff schedule, and gives up on a refusal', async () => {
    const { id } = await create({ events: ['flag.*'] });
    receiver.answers.push({ status: 503 }, { status: 429, headers: { 'retry-after': '600' } });
    await toggle(true);

    expect(await dispatch()).toEqual({ delivered: 0, failed: 0, retried: 1 });
    let [d] = (await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items;
    expect(d).toMatchObject({ status: 'pending', attempts: 1, statusCode: 503, response: 'receiver trouble', error: 'the receiver answered 503' });
    expect(d.nextAttemptAt).toBe(new Date(p.now.value.getTime() + 30_000).toISOString());

    // Not due yet.
    advance(29_000);
    expect(await dispatch()).toEqual({ delivered: 0, failed: 0, retried: 0 });
    advance(1_000);
    expect(await dispatch()).toEqual({ delivered: 0, failed: 0, retried: 1 });
    [d] = (await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items;
    // 429 with Retry-After: 600 s waits longer than the schedule's 2 minutes.
    expect(d).toMatchObject({ status: 'pending', attempts: 2, statusCode: 429 });
    expect(d.nextAttemptAt).toBe(new Date(p.now.value.getTime() + 600_000).toISOString());
    advance(600_000);
    expect(await dispatch()).toEqual({ delivered: 1, failed: 0, retried: 0 });
    [d] = (await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items;
    expect(d).toMatchObject({ status: 'succeeded', attempts: 3, statusCode: 200, error: null });
    expect(receiver.received.map((r) => r.headers['x-xp-delivery'])).toEqual([d.id, d.id, d.id]);
    // Every attempt is kept, not just the last: why the first two failed is still there.
    const detail = await must('GET', `${BASE}/webhooks/${id}/deliveries/${d.id}`);
    expect(detail).toMatchObject({ id: d.id, status: 'succeeded', attempts: 3 });
    expect(detail.attemptLog.map((a: any) => [a.attempt, a.at, a.statusCode, a.error, a.response])).toEqual([
      [1, T0.replace('Z', '.000Z'), 503, 'the receiver answered 503', 'receiver trouble'],
      [2, '2026-11-25T12:00:30.000Z', 429, 'the receiver answered 429', 'receiver trouble'],
      [3, '2026-11-25T12:10:30.000Z', 200, null, 'ok'],
    ]);
    expect(detail.attemptLog.every((a: any) => Number.isInteger(a.durationMs) && a.durationMs >= 0)).toBe(true);

    // A 400 is the receiver refusing this payload: no retry.
    receiver.answers.push({ status: 400 });
    await toggle(false);
    expect(await dispatch()).toEqual({ delivered: 0, failed: 1, retried: 0 });
    [d] = (await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items;
    expect(d).toMatchObject({ status: 'failed', attempts: 1, statusCode: 400, nextAttemptAt: null });

    // The log by status: the refused one alone, the delivered one alone; an unknown status is a 400.
    const byStatus = async (status: string): Promise<string[]> => ((await must('GET', `${BASE}/webhooks/${id}/deliveries?status=${status}`)).items as { id: string }[]).map((x) => x.id);
    expect(await byStatus('failed')).toEqual([d.id]);
    expect(await byStatus('succeeded')).toEqual([detail.id]);
    expect(await byStatus('pending')).toEqual([]);
    const unknown = await request('GET', `${BASE}/webhooks/${id}/deliveries?status=lost`);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.details.issues[0].path).toBe('query.status');
    expect((await request('GET', `${BASE}/webhooks/${id}/deliveries/999999`)).status).toBe(404);
    expect((await request('GET', `${BASE}/webhooks/${id}/deliveries/abc`)).status).toBe(400);
  });

  it(`fails a delivery after ${MAX_ATTEMPTS} attempts at a receiver that is down`, async () => {
    const { id } = await must('POST', `${BASE}/webhooks`, { name: 'down', url: 'http://127.0.0.1:9/gone', events: ['flag.*'] }).then((o) => o.webhook);
    await toggle(true);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const report = await dispatch();
      expect(report).toEqual(attempt < MAX_ATTEMPTS ? { delivered: 0, failed: 0, retried: 1 } : { delivered: 0, failed: 1, retried: 0 });
      advance(6 * 3_600_000);
    }
    // Back to the start: the session would have expired two days on.
    p.now.value = new Date(T0);
    const [d] = (await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items;
    expect(d).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS, statusCode: null, nextAttemptAt: null });
    expect(d.error).toMatch(/ECONNREFUSED|connect/);
    expect(await dispatch()).toEqual({ delivered: 0, failed: 0, retried: 0 });
  });

  it('sends a delivery whose dispatcher died mid-send again when its lease ends, and never to two dispatchers at once', async () => {
    const { id } = await create({ events: ['flag.*'] });
    await toggle(true);
    // A dispatcher claims it and dies.
    expect(await deliveries.claimDue(p.db, p.now.value, new Date(p.now.value.getTime() + 60_000), 10)).toHaveLength(1);
    expect(await dispatch()).toEqual({ delivered: 0, failed: 0, retried: 0 });
    advance(60_000);
    // Two dispatchers at once: one sends it.
    const reports = await Promise.all([dispatch(), dispatch()]);
    expect(reports.map((r) => r.delivered).sort()).toEqual([0, 1]);
    expect(receiver.received).toHaveLength(1);
    const [d] = (await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items;
    expect(d).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('goes on sending to other webhooks while one receiver takes its time: a slow send holds one slot, not the next claims', async () => {
    const slow = await create({ events: ['flag.*'], url: `${receiver.url}/slow` });
    const fast = await create({ events: ['flag.*'], url: `${receiver.url}/fast` });
    for (let i = 0; i < 3; i++) {
      await toggle(true);
      await toggle(false);
    }
    // The slow receiver answers only when the test lets it (as one taking its 10 s timeout would).
    let letSlowAnswer!: () => void;
    const slowAnswers = new Promise<void>((resolve) => {
      letSlowAnswer = resolve;
    });
    const sender = async (request: Parameters<typeof httpSend>[0]): ReturnType<typeof httpSend> => {
      if (request.url.endsWith('/slow')) {
        await slowAnswers;
      }
      return httpSend(request);
    };
    const statuses = async (id: string): Promise<string[]> => ((await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items as { status: string }[]).map((d) => d.status);
    const stop = new AbortController();
    const dispatching = dispatchDueWebhooks(p.services.deps, sender, { until: Date.now() + 60_000, idleMs: 20, signal: stop.signal });

    // All six of the fast webhook's deliveries (more than one claim takes of a webhook) go out while the slow one hangs.
    await vi.waitFor(async () => {
      expect(await statuses(fast.id)).toEqual(Array(6).fill('succeeded'));
    }, { timeout: 10_000, interval: 50 });
    expect((await statuses(slow.id)).filter((s) => s === 'succeeded')).toEqual([]);
    letSlowAnswer();
    await vi.waitFor(async () => {
      expect(await statuses(slow.id)).toEqual(Array(6).fill('succeeded'));
    }, { timeout: 10_000, interval: 50 });
    // Each delivery once: the slow webhook's later deliveries were not claimed while its first ones were in flight.
    expect(receiver.received.filter((r) => r.path === '/slow')).toHaveLength(6);
    expect(receiver.received.filter((r) => r.path === '/fast')).toHaveLength(6);
    stop.abort();
    expect(await dispatching).toEqual({ delivered: 12, failed: 0, retried: 0 });
  });

  it('claims at most a few deliveries of one webhook per pass, so a flooded receiver holds back no other', async () => {
    const a = await create({ events: ['flag.*'] });
    const b = await create({ events: ['flag.*'] });
    for (let i = 0; i < 3; i++) {
      await toggle(true);
      await toggle(false);
    }
    const now = p.now.value;
    const claimed = await deliveries.claimDue(p.db, now, new Date(now.getTime() + 60_000), 20, 4);
    expect(claimed.filter((d) => d.webhookId === a.id)).toHaveLength(4);
    expect(claimed.filter((d) => d.webhookId === b.id)).toHaveLength(4);
    // The oldest of each first.
    const ofA = claimed.filter((d) => d.webhookId === a.id).sort((x, y) => Number(x.id) - Number(y.id));
    expect(ofA.map((d) => d.payload.event)).toEqual(['flag.enabled', 'flag.disabled', 'flag.enabled', 'flag.disabled']);
    advance(60_000);
    // One pass takes 4 of each; the next takes the rest.
    expect(await dispatch()).toEqual({ delivered: 8, failed: 0, retried: 0 });
    expect(await dispatch()).toEqual({ delivered: 4, failed: 0, retried: 0 });
    expect(receiver.received).toHaveLength(12);
  });

  it('a test send reports how it went; a redelivery sends the same payload as a new delivery', async () => {
    const { id, secret } = await create({ events: ['experiment.*'] });
    const test = await must('POST', `${BASE}/webhooks/${id}/test`);
    expect(test).toMatchObject({ event: 'webhook.test', status: 'succeeded', statusCode: 200, attempts: 1, auditId: null });
    expect(receiver.received).toHaveLength(1);
    const sent = receiver.received[0]!;
    expect(verifyWebhookSignature(secret, sent.body, String(sent.headers['x-xp-signature']))).toBe(true);
    expect(JSON.parse(sent.body)).toMatchObject({ id: test.id, event: 'webhook.test', change: null, webhook: { id, name: 'hook' } });
    // Leased while it was sent, recorded after: the dispatcher does not send it again.
    expect(await dispatch()).toEqual({ delivered: 0, failed: 0, retried: 0 });

    const again = await request('POST', `${BASE}/webhooks/${id}/deliveries/${test.id as string}/redeliver`);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ status: 'pending', attempts: 0, event: 'webhook.test' });
    expect(again.body.id).not.toBe(test.id);
    expect(await dispatch()).toEqual({ delivered: 1, failed: 0, retried: 0 });
    const resent = JSON.parse(receiver.received[1]!.body);
    expect(resent.id).toBe(again.body.id);
    expect({ ...resent, id: test.id }).toEqual(JSON.parse(sent.body));

    // A receiver that is not there: 200 with the failure, not retried.
    await must('PATCH', `${BASE}/webhooks/${id}`, { url: 'http://127.0.0.1:9/nobody' }, await versionOf(id));
    const failed = await must('POST', `${BASE}/webhooks/${id}/test`);
    expect(failed).toMatchObject({ status: 'failed', statusCode: null, attempts: 1 });
    expect(failed.error).toMatch(/ECONNREFUSED|connect/);
    // Link-local addresses (cloud metadata) are refused when set, literal or IPv4-mapped.
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[::ffff:169.254.169.254]/', 'http://0.0.0.0:8080/']) {
      const refused = await request('PATCH', `${BASE}/webhooks/${id}`, { url }, await versionOf(id));
      expect([url, refused.status, refused.body.error.details.issues[0].path]).toEqual([url, 400, 'body.url']);
      expect(refused.body.error.details.issues[0].message).toContain('link-local or unspecified address');
    }
    expect((await request('POST', `${BASE}/webhooks/${id}/deliveries/999999999/redeliver`)).status).toBe(404);
    expect((await request('POST', `${BASE}/webhooks/${id}/deliveries/not-a-number/redeliver`)).status).toBe(400);
  });

  it('audits a test send (webhook.tested, with how it went) and a redelivery (webhook.redelivered, with the delivery and its event), never the URL beyond its preview', async () => {
    const { id } = await create({ name: 'audited hook', events: ['flag.*'] });
    await toggle(true);
    await dispatch();
    const change = ((await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items as { id: string; event: string }[])[0]!;
    expect(change.event).toBe('flag.enabled');

    const test = await must('POST', `${BASE}/webhooks/${id}/test`);
    const again = await must('POST', `${BASE}/webhooks/${id}/deliveries/${change.id}/redeliver`);

    const log = (await must('GET', `/api/v1/audit?project=demo&resourceType=webhook&resourceKey=${id}`)).items as { action: string; actorEmail: string; resourceLabel: string; diff: unknown }[];
    const entries = log.filter((e) => e.action === 'webhook.tested' || e.action === 'webhook.redelivered').reverse();
    expect(entries.map((e) => [e.action, e.actorEmail, e.resourceLabel])).toEqual([
      ['webhook.tested', OWNER.email, 'audited hook'],
      ['webhook.redelivered', OWNER.email, 'audited hook'],
    ]);
    expect(entries[0]!.diff).toEqual([{ op: 'add', path: '', to: { name: 'audited hook', url: `${receiver.url}/…`, delivery: test.id, status: 'succeeded', statusCode: 200 } }]);
    expect(entries[1]!.diff).toEqual([{ op: 'add', path: '', to: { name: 'audited hook', url: `${receiver.url}/…`, delivery: change.id, event: 'flag.enabled', redelivery: again.id } }]);
    expect(JSON.stringify(log)).not.toMatch(/s3cr3t|hooks\/xp|whsec_/);
  });

  it('rotating the secret signs with the new one only; disabling ends what is queued and queues nothing more', async () => {
    const { id, secret } = await create({ events: ['flag.*'] });
    const rotated = await must('POST', `${BASE}/webhooks/${id}/rotate-secret`, undefined, await versionOf(id));
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(secret);
    await must('POST', `${BASE}/webhooks/${id}/test`);
    const sent = receiver.received[0]!;
    expect(verifyWebhookSignature(rotated.secret, sent.body, String(sent.headers['x-xp-signature']))).toBe(true);
    expect(verifyWebhookSignature(secret, sent.body, String(sent.headers['x-xp-signature']))).toBe(false);

    await toggle(true);
    const disabled = await must('PATCH', `${BASE}/webhooks/${id}`, { enabled: false }, await versionOf(id));
    expect(disabled.enabled).toBe(false);
    await toggle(false);
    expect(await dispatch()).toEqual({ delivered: 0, failed: 0, retried: 0 });
    const log = (await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items;
    expect(log.map((d: any) => [d.event, d.status, d.error])).toEqual([
      ['flag.enabled', 'failed', 'the webhook was disabled'],
      ['webhook.test', 'succeeded', null],
    ]);
    expect((await request('POST', `${BASE}/webhooks/${id}/deliveries/${log[1].id as string}/redeliver`)).status).toBe(409);
  });

  it('a rotation may keep the previous secret signing beside the new one for some hours, and then it stops', async () => {
    const { id, secret } = await create({ events: ['flag.*'] });
    const header = (): string => String(receiver.received.at(-1)!.headers['x-xp-signature']);
    const signedBy = (s: string): boolean => verifyWebhookSignature(s, receiver.received.at(-1)!.body, header());

    const first = await must('POST', `${BASE}/webhooks/${id}/rotate-secret`, { keepPreviousHours: 24 }, await versionOf(id));
    expect(first.webhook.previousSecretExpiresAt).toBe('2026-11-26T12:00:00.000Z');
    await toggle(true);
    await dispatch();
    expect(header()).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    expect([signedBy(first.secret), signedBy(secret)]).toEqual([true, true]);

    // A second rotation keeps only the secret it replaces: the first one signs no more.
    advance(3_600_000);
    const second = await must('POST', `${BASE}/webhooks/${id}/rotate-secret`, { keepPreviousHours: 1 }, await versionOf(id));
    await must('POST', `${BASE}/webhooks/${id}/test`);
    expect([signedBy(second.secret), signedBy(first.secret), signedBy(secret)]).toEqual([true, true, false]);

    // Past the overlap: one signature, the new secret's; the view says no previous secret signs.
    advance(3_600_000);
    await must('POST', `${BASE}/webhooks/${id}/test`);
    expect(header()).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect([signedBy(second.secret), signedBy(first.secret)]).toEqual([true, false]);
    expect((await must('GET', `${BASE}/webhooks/${id}`)).previousSecretExpiresAt).toBeNull();

    const refused = await request('POST', `${BASE}/webhooks/${id}/rotate-secret`, { keepPreviousHours: 169 }, await versionOf(id));
    expect([refused.status, refused.body.error.details.issues[0].path]).toEqual([400, 'body.keepPreviousHours']);
    expect((await request('POST', `${BASE}/webhooks/${id}/rotate-secret`, { keep: 1 }, await versionOf(id))).status).toBe(400);
  });

  it('refuses a change made from a stale version (409) or without one (428), and moves the version with each change', async () => {
    const { id } = await create({ events: ['flag.*'] });
    const read = await p.request('GET', `${BASE}/webhooks/${id}`, { token: owner });
    expect(read.body.version).toBe(1);
    expect(read.headers.get('etag')).toBe('"1"');
    const first = await request('PATCH', `${BASE}/webhooks/${id}`, { name: 'first' }, 1);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ name: 'first', version: 2 });
    const stale = await request('PATCH', `${BASE}/webhooks/${id}`, { name: 'second' }, 1);
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'VERSION_CONFLICT', details: { currentVersion: 2 } });
    expect((await request('PATCH', `${BASE}/webhooks/${id}`, { name: 'third' })).status).toBe(428);
    expect((await request('POST', `${BASE}/webhooks/${id}/rotate-secret`, undefined, 1)).status).toBe(409);
    expect((await request('DELETE', `${BASE}/webhooks/${id}`, undefined, 1)).status).toBe(409);
    expect((await must('GET', `${BASE}/webhooks/${id}`)).name).toBe('first');
    // A change that changes nothing writes nothing: same version, no audit entry.
    const current = await must('GET', `${BASE}/webhooks/${id}`);
    const same = await request('PATCH', `${BASE}/webhooks/${id}`, { name: 'first', events: ['flag.*'], enabled: current.enabled }, 2);
    const audited = await p.request('GET', `/api/v1/audit?resourceType=webhook&resourceKey=${id}`, { token: owner });
    expect([same.status, same.body.version]).toEqual([200, 2]);
    expect(audited.body.items.map((e: { action: string }) => e.action)).toEqual(['webhook.updated', 'webhook.created']);
    const rotated = await request('POST', `${BASE}/webhooks/${id}/rotate-secret`, undefined, 2);
    expect(rotated.body.webhook.version).toBe(3);
    expect((await request('DELETE', `${BASE}/webhooks/${id}`, undefined, 3)).status).toBe(200);
  });

  it('posts Slack-formatted text for format slack', async () => {
    await create({ events: ['flag.*'], format: 'slack' });
    await toggle(true);
    await dispatch();
    const body = JSON.parse(receiver.received[0]!.body);
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toContain(`${OWNER.email}: flag.enabled \`hooked\` in development`);
    expect(body.text).toContain('• /environments/development/enabled: false → true');
  });

  it('refuses bad input with the field at fault and writes nothing', async () => {
    const bad = async (body: unknown, field: string): Promise<void> => {
      const res = await request('POST', `${BASE}/webhooks`, body);
      expect({ status: res.status, body }).toMatchObject({ status: 400 });
      // The route's schema names body fields `body.<field>`; the service's own checks name the field.
      const paths = (res.body.error.details.issues as { path: string }[]).map((i) => i.path.replace(/^body\.?/, ''));
      expect(paths).toContain(field);
    };
    const ok = { name: 'x', url: 'https://example.com/hook' };
    await bad({ ...ok, url: 'ftp://example.com/' }, 'url');
    await bad({ ...ok, url: 'not a url' }, 'url');
    await bad({ ...ok, url: `https://example.com/${'a'.repeat(2100)}` }, 'url');
    await bad({ ...ok, events: ['flag.'] }, 'events[0]');
    await bad({ ...ok, events: [] }, 'events');
    await bad({ ...ok, environments: ['nowhere'] }, 'environments');
    await bad({ ...ok, format: 'xml' }, 'format');
    await bad({ ...ok, name: '' }, 'name');
    await bad({ ...ok, secret: 'mine' }, '');
    await bad({ name: 'x' }, 'url');
    const malformed = await p.request('POST', `${BASE}/webhooks`, { token: owner, raw: '{"name":' });
    expect(malformed.status).toBe(400);
    expect((await request('PATCH', `${BASE}/webhooks/nope`, { enabled: false }, 1)).status).toBe(404);
    expect((await must('GET', `${BASE}/webhooks`)).items).toEqual([]);

    for (let i = 0; i < 20; i++) {
      await must('POST', `${BASE}/webhooks`, { ...ok, name: `hook ${i}` });
    }
    const over = await request('POST', `${BASE}/webhooks`, ok);
    expect(over.status).toBe(409);
    expect(over.body.error.message).toContain('at most 20');
  });

  it('keeps webhooks to their project, and answers 503 on a platform without a platform key', async () => {
    const { id } = await create({});
    await must('POST', '/api/v1/projects', { key: 'other', name: 'Other' });
    expect((await request('GET', `/api/v1/projects/other/webhooks/${id}`)).status).toBe(404);
    expect((await request('GET', `/api/v1/projects/other/webhooks/${id}/deliveries`)).status).toBe(404);
    expect((await request('DELETE', `/api/v1/projects/other/webhooks/${id}`, undefined, 1)).status).toBe(404);
    expect((await must('GET', `${BASE}/webhooks/${id}`)).id).toBe(id);

    const { platformKey: _key, ...keyless } = p.services.deps;
    const service = new WebhookService(keyless);
    const org = await p.db.query<{ org_id: string }>("SELECT org_id FROM projects WHERE key = 'demo'");
    const actor = { userId: 'u', orgId: org.rows[0]!.org_id, email: OWNER.email, role: 'owner' as const, client: 'api' };
    await expect(service.create(actor, 'demo', { name: 'x', url: 'https://example.com/' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await dispatchDueWebhooks(keyless, httpSend, { until: 0 })).toEqual({ delivered: 0, failed: 0, retried: 0 });
  });

  it('keeps polling until its deadline, unless asked to stop when no webhook is enabled', async () => {
    const started = Date.now();
    expect(await dispatchDueWebhooks(p.services.deps, httpSend, { until: Date.now() + 60_000, stopWhenUnused: true, idleMs: 50 })).toEqual({ delivered: 0, failed: 0, retried: 0 });
    expect(Date.now() - started).toBeLessThan(30_000);
    const { id } = await create({ events: ['flag.*'] });
    const polling = Date.now();
    await dispatchDueWebhooks(p.services.deps, httpSend, { until: Date.now() + 300, stopWhenUnused: true, idleMs: 50 });
    expect(Date.now() - polling).toBeGreaterThanOrEqual(250);
    await must('PATCH', `${BASE}/webhooks/${id}`, { enabled: false }, await versionOf(id));
    expect(await dispatchDueWebhooks(p.services.deps, httpSend, { until: Date.now() + 60_000, stopWhenUnused: true, idleMs: 50 })).toEqual({ delivered: 0, failed: 0, retried: 0 });
  });

  it('retries a delivery whose URL the platform key in use cannot read, sending it once the key is back, and a new URL works under the new key', async () => {
    const { id } = await create({ events: ['flag.*'] });
    await toggle(true);
    const replaced = { ...p.services.deps, platformKey: PlatformKey.generate() };
    expect(await dispatchDueWebhooks(replaced, httpSend, { until: 0 })).toEqual({ delivered: 0, failed: 0, retried: 1 });
    const [d] = (await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items;
    expect(d).toMatchObject({ status: 'pending', attempts: 1, statusCode: null, error: UNREADABLE_URL });
    // The old key back (a restore that had forgotten platform.key): the retry sends it.
    advance(31_000);
    expect(await dispatch()).toEqual({ delivered: 1, failed: 0, retried: 0 });
    expect(receiver.received).toHaveLength(1);
    receiver.clear();
    const service = new WebhookService(replaced);
    const actor = { userId: 'u', orgId: (await p.db.query<{ org_id: string }>("SELECT org_id FROM projects WHERE key = 'demo'")).rows[0]!.org_id, email: OWNER.email, role: 'owner' as const, client: 'api' };
    expect(await service.test(actor, 'demo', id)).toMatchObject({ status: 'failed', error: UNREADABLE_URL });
    await service.update(actor, 'demo', id, { url: `${receiver.url}/again` }, await versionOf(id));
    expect(await service.test(actor, 'demo', id)).toMatchObject({ status: 'succeeded', statusCode: 200 });
    expect(receiver.received.map((r) => r.path)).toEqual(['/again']);
  });

  it('prunes finished deliveries after 30 days', async () => {
    const { id } = await create({ events: ['flag.*'] });
    await must('POST', `${BASE}/webhooks/${id}/test`);
    const old = await must('POST', `${BASE}/webhooks/${id}/test`);
    await p.db.query("UPDATE webhook_deliveries SET created_at = now() - interval '31 days' WHERE id = $1", [old.id]);
    expect(await deliveries.prune(p.db, 30)).toBe(1);
    expect((await must('GET', `${BASE}/webhooks/${id}/deliveries`)).items).toHaveLength(1);
  });
});
