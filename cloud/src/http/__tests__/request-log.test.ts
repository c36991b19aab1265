import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLogger } from '../../local/logger.js';
import type { Database } from '../../store/db.js';
import { DatabaseError } from '../../store/database.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { REDACTED, redactBody, requestLogger } from '../request-log.js';
import { configFromEnv } from '../../local/stack.js';
import { Hono } from 'hono';
import type { Platform } from './harness.js';
import { OWNER, mustAs, requestAs, startPlatform } from './harness.js';

/** A database whose health probe fails, to provoke an unhandled error. */
function failingHealthProbe(db: Database): Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'query') {
        return (sql: string, params?: readonly unknown[]) =>
          sql === 'SELECT 1'
            ? Promise.reject(new Error('probe exploded at the socket layer'))
            : // The audit log's reads meet a database going down, to provoke a 503.
              sql.includes('(SELECT * FROM audit_log WHERE')
              ? Promise.reject(new DatabaseError('57P01', 'terminating connection due to administrator command'))
              : target.query(sql, params);
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const requestLines = (p: Platform): Record<string, any>[] => p.logs.filter((l) => l.startsWith('request {')).map((l) => JSON.parse(l.slice('request '.length)) as Record<string, any>);

describe('structured request logs and error capture', () => {
  let p: Platform;
  let quiet: Platform;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget(), { app: { requestLog: { collectBody: true, quietClients: ['demo-traffic'] } }, deps: (d) => ({ ...d, db: failingHealthProbe(d.db) }) });
    quiet = await startPlatform(pgliteTarget());
  }, 120_000);
  afterAll(async () => {
    await p.close();
    await quiet.close();
  });

  it('logs one JSON line per request with request id, route, status, latency, client and user id', async () => {
    const token = await p.login(OWNER.email, OWNER.password);
    const res = await p.request('GET', '/api/v1/projects/demo/flags?limit=1', { token, headers: { 'X-XP-Client': 'console', 'X-Request-Id': 'trace-0123456789' } });
    const me = await p.request('GET', '/api/v1/me', { token });

    const lines = requestLines(p);
    const flags = lines.find((l) => l.requestId === 'trace-0123456789');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('trace-0123456789');
    expect(flags).toMatchObject({ method: 'GET', route: '/api/v1/projects/:project/flags', path: '/api/v1/projects/demo/flags', status: 200, client: 'console', userId: me.body.id });
    expect(typeof flags!.latencyMs).toBe('number');
    expect(me.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('leaves out the successful requests of a quiet client (the local demo traffic) but not its failures', async () => {
    const headers = { 'X-XP-Client': 'Demo-Traffic' };
    const ok = await p.request('GET', '/openapi.json', { headers: { ...headers, 'X-Request-Id': 'quiet-ok-000001' } });
    const missing = await p.request('GET', '/api/v1/no-such-route', { headers: { ...headers, 'X-Request-Id': 'quiet-404-00001' } });
    const other = await p.request('GET', '/openapi.json', { headers: { 'X-XP-Client': 'console', 'X-Request-Id': 'loud-ok-0000001' } });

    expect([ok.status, missing.status, other.status]).toEqual([200, 404, 200]);
    const ids = requestLines(p).map((l) => l.requestId);
    expect(ids).not.toContain('quiet-ok-000001');
    expect(ids).toContain('quiet-404-00001');
    expect(ids).toContain('loud-ok-0000001');
    expect(requestLines(p).find((l) => l.requestId === 'quiet-404-00001')).toMatchObject({ client: 'demo-traffic', status: 404 });
  });

  it('with COLLECT_REQUEST_BODY the body is logged with passwords, tokens and keys redacted', async () => {
    const token = await p.login(OWNER.email, OWNER.password);
    const created = await p.request('POST', '/api/v1/me/tokens', { token, body: { name: 'ci token' } });
    const secret = created.body.token as string;
    await p.request('POST', '/api/v1/projects/demo/flags', { token, body: { key: 'logged-flag', name: `note ${secret}`, type: 'boolean', variations: [{ key: 'off', value: false }, { key: 'on', value: true }], environments: {} } });

    const login = requestLines(p).find((l) => l.route === '/api/v1/auth/login');
    const flag = requestLines(p).find((l) => l.route === '/api/v1/projects/:project/flags' && l.method === 'POST');
    expect(login?.body).toEqual({ email: OWNER.email, password: REDACTED });
    expect(flag?.body.name).toMatch(/^note xpp_.{1,12}…$/);
    expect(p.logs.join('\n')).not.toContain(OWNER.password);
    expect(p.logs.join('\n')).not.toContain(secret);
  });

  it("redacts the one-time code of an SSO exchange entirely, not to its token's prefix", async () => {
    const code = 'xps_5rc_91zjQ2wErTyUiOpAsDfGhJkL';
    await p.request('POST', '/api/v1/auth/sso/exchange', { body: { code }, headers: { 'X-Request-Id': 'sso-exchange-0001' } });

    expect(requestLines(p).find((l) => l.requestId === 'sso-exchange-0001')?.body).toEqual({ code: REDACTED });
    expect(p.logs.join('\n')).not.toContain(code.slice(0, 12));
  });

  it('redacts a field or query parameter named code, keeping the fields that only end in code', () => {
    const body = { Code: 'AbC123', countryCode: 'FR', errorCode: 'E42', nested: [{ code: 7 }], note: 'back at /callback?state=s1&code=LEAK14' };
    expect(redactBody(body)).toEqual({ Code: REDACTED, countryCode: 'FR', errorCode: 'E42', nested: [{ code: REDACTED }], note: `back at /callback?state=s1&code=${REDACTED}` });
  });

  it('redacts nested secret-named fields and token-shaped strings anywhere in a body', () => {
    const body = { user: { newPassword: 'x', currentPassword: 'y' }, apiKey: 'k', items: [{ sdkKey: 'z', note: 'xpk_srv_ABCDEFGHIJKLMNOPQRSTUV' }], clientSecret: 's', plain: 42 };

    expect(redactBody(body)).toEqual({ user: { newPassword: REDACTED, currentPassword: REDACTED }, apiKey: REDACTED, items: [{ sdkKey: REDACTED, note: 'xpk_srv_ABCDEFGH…' }], clientSecret: REDACTED, plain: 42 });
  });

  it('says on the request line of a 503 why it was answered, and names the request in the outage warning', async () => {
    const token = await p.login(OWNER.email, OWNER.password);
    const res = await p.request('GET', '/api/v1/audit', { token, headers: { 'X-Request-Id': 'outage-request-7' } });

    expect(res.status).toBe(503);
    const line = requestLines(p).find((l) => l.requestId === 'outage-request-7');
    expect(line).toMatchObject({ status: 503, error: 'UNAVAILABLE: the database is unavailable (57P01: terminating connection due to administrator command)' });
    const warning = p.logs.find((l) => l.startsWith('database unavailable'));
    expect(warning).toContain('"requestId":"outage-request-7"');
  });

  it('an unhandled error is logged with its stack and request id, and answered with neither', async () => {
    const res = await p.request('GET', '/healthz', { headers: { 'X-Request-Id': 'failing-request-42' } });

    const error = p.logs.find((l) => l.startsWith('unhandled error'));
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'INTERNAL', message: 'internal error; it has been logged' } });
    expect(JSON.stringify(res.body)).not.toContain('exploded');
    expect(error).toContain('failing-request-42');
    expect(error).toContain('probe exploded at the socket layer');
    expect(error).toMatch(/at .*request-log\.test\.ts/);
    expect(requestLines(p).find((l) => l.requestId === 'failing-request-42')?.status).toBe(500);
  });

  it('cuts URL-named fields to scheme://host/… on any route', () => {
    expect(redactBody({ callbackUrl: 'https://example.com/cb?token=abc', nested: { uri: 'not a url at all' }, note: 'https://example.com/kept' })).toEqual({
      callbackUrl: 'https://example.com/…',
      nested: { uri: REDACTED },
      note: 'https://example.com/kept',
    });
  });

  it('redacts other secret-named fields, and the password in any URL with user information', () => {
    const body = { pwd: 'p1', otp: '123456', mfa_otp: '1', myOtp: '2', 'x-otp': '3', bearer: 'b1', dsn: 'postgres://u:LEAK8@h/db', description: 'copy of postgres://admin:LEAK10@db/prod and ftp://anon@files/x', footprint: 'kept' };
    expect(redactBody(body)).toEqual({
      pwd: REDACTED,
      otp: REDACTED,
      mfa_otp: REDACTED,
      myOtp: REDACTED,
      'x-otp': REDACTED,
      bearer: REDACTED,
      dsn: REDACTED,
      description: `copy of postgres://admin:${REDACTED}@db/prod and ftp://anon@files/x`,
      footprint: 'kept',
    });
  });

  it('redacts secret-named query parameters inside any string, keeping the others', () => {
    const body = { note: 'try https://h.example/login?user=ann&password=LEAK11&lang=en', steps: ['open /reset?otp=LEAK12#top', 'then ?page=2;api_key=LEAK13'] };
    expect(redactBody(body)).toEqual({
      note: `try https://h.example/login?user=ann&password=${REDACTED}&lang=en`,
      steps: [`open /reset?otp=${REDACTED}#top`, `then ?page=2;api_key=${REDACTED}`],
    });
  });

  it('without COLLECT_REQUEST_BODY no body is logged', async () => {
    await quiet.login(OWNER.email, OWNER.password);

    const login = requestLines(quiet).find((l) => l.route === '/api/v1/auth/login');
    expect(login).toMatchObject({ status: 200 });
    expect(login).not.toHaveProperty('body');
  });
});

describe('request bodies of webhook routes, through the JSON logger', () => {
  const lines: string[] = [];
  let p: Platform;
  const SLACK = 'https://hooks.slack.com/services/T000/B000/XXXX';

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget(), { app: { requestLog: { collectBody: true } }, deps: (d) => ({ ...d, logger: jsonLogger((line) => lines.push(line)) }) });
  }, 120_000);
  afterAll(async () => {
    await p.close();
  });

  const logged = (method: string, route: string): Record<string, any>[] =>
    lines.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.message === 'request' && l.method === method && l.route === route);

  it('logs webhook URLs (create, patch, refused bodies, URLs inside other fields) as scheme://host/…, never in clear', async () => {
    const token = await p.login(OWNER.email, OWNER.password);
    const created = await mustAs(p, token, 'POST', '/api/v1/projects/demo/webhooks', { name: `alerts, see ${SLACK}?x=1`, url: SLACK, format: 'slack' });
    await mustAs(p, token, 'PATCH', `/api/v1/projects/demo/webhooks/${created.webhook.id}`, { url: 'https://hooks.slack.com/services/T000/B000/YYYY' }, created.webhook.version);
    const refused = await requestAs(p, token, 'POST', '/api/v1/projects/demo/webhooks', { name: 'no scheme', url: 'hooks.slack.com/services/T000/B000/ZZZZ' });

    expect(refused.status).toBe(400);
    const [create, bad] = logged('POST', '/api/v1/projects/:project/webhooks');
    expect(create?.body).toEqual({ name: 'alerts, see https://hooks.slack.com/…', url: 'https://hooks.slack.com/…', format: 'slack' });
    expect(bad?.body).toEqual({ name: 'no scheme', url: REDACTED });
    expect(logged('PATCH', '/api/v1/projects/:project/webhooks/:id')[0]?.body).toEqual({ url: 'https://hooks.slack.com/…' });
    expect(lines.join('\n')).not.toMatch(/T000|B000|XXXX|YYYY|ZZZZ/);
  });
});

describe('XP_REQUEST_LOG=failures', () => {
  it('logs only the requests that failed, and says so at start-up rather than accepting another value', async () => {
    const lines: string[] = [];
    const app = new Hono();
    app.use('*', requestLogger(jsonLogger((line) => lines.push(line)), { failuresOnly: true }));
    app.get('/ok', (c) => c.json({ ok: true }));
    app.get('/missing', (c) => c.json({ error: { code: 'NOT_FOUND', message: 'no' } }, 404));

    await app.request('/ok');
    await app.request('/missing');

    expect(lines.map((l) => (JSON.parse(l) as { path: string; status: number })).map((l) => [l.path, l.status])).toEqual([['/missing', 404]]);
    expect(configFromEnv({ XP_REQUEST_LOG: 'failures' }).requestLogFailuresOnly).toBe(true);
    expect(configFromEnv({}).requestLogFailuresOnly).toBe(false);
    expect(() => configFromEnv({ XP_REQUEST_LOG: 'errors-only' })).toThrow('XP_REQUEST_LOG must be all or failures, got "errors-only"');
  });
});

