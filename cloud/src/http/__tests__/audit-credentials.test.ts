/**
 * Which credential made a change, and from where (migration 0034): every audit entry records the
 * session or personal access token it was made with (never a secret) and the client address as
 * client-ip.ts decides it, so an investigator can list everything a leaked token did.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../auth/tokens.js';
import { recordedAddress } from '../../domain/audit-trail.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { TrustedProxies } from '../client-ip.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, startPlatform } from './harness.js';

interface Entry {
  readonly id: number;
  readonly action: string;
  readonly resourceKey: string;
  readonly actorId: string | null;
  readonly credential: { kind: string; id: string; prefix: string | null } | null;
  readonly ip: string | null;
}

const PASSWORD = 'Tangerine-Quokka-Lantern-77';

describe('audit entries record the credential and the client address', () => {
  let p: Platform;
  let owner = '';

  /** A request as it reaches the API from the TCP peer `peer`, with an optional X-Forwarded-For. */
  async function from(peer: string, method: string, path: string, options: { token?: string; body?: unknown; forwardedFor?: string } = {}): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-xp-client': 'console' };
    if (options.token !== undefined) {
      headers.authorization = `Bearer ${options.token}`;
    }
    if (options.forwardedFor !== undefined) {
      headers['x-forwarded-for'] = options.forwardedFor;
    }
    const res = await p.app.request(path, { method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) }, { incoming: { socket: { remoteAddress: peer } } });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  const audit = async (query: string): Promise<Entry[]> => (await mustAs(p, owner, 'GET', `/api/v1/audit?limit=200&${query}`)).items as Entry[];

  beforeAll(async () => {
    // Behind a proxy on 10.0.0.0/8, as XP_TRUSTED_PROXIES would say.
    p = await startPlatform(pgliteTarget(), { app: { trustedProxies: TrustedProxies.parse('10.0.0.0/8') } });
    owner = await p.login(OWNER.email, OWNER.password);
    await mustAs(p, owner, 'POST', '/api/v1/users', { email: 'ivy@example.com', name: 'Ivy', role: 'editor', password: PASSWORD });
    await p.db.query("UPDATE users SET password_change_required = false WHERE email = 'ivy@example.com'");
  }, 120_000);
  afterAll(async () => {
    await p.close();
  });

  it('records a sign-in with its new session and address, and changes made with that session', async () => {
    const login = await from('198.51.100.20', 'POST', '/api/v1/auth/login', { body: { email: 'ivy@example.com', password: PASSWORD } });
    expect(login.status).toBe(200);
    const session = String(login.body.token);
    const stored = await p.db.query<{ id: string }>('SELECT id FROM sessions WHERE token_hash = $1', [hashToken(session)]);
    const sessionId = stored.rows[0]!.id;

    expect((await from('198.51.100.21', 'POST', '/api/v1/projects/demo/flags', { token: session, body: booleanFlagBody('via-session') })).status).toBe(201);

    const [loggedIn] = await audit(`action=user.logged-in&resourceKey=${String(login.body.user.id)}`);
    expect(loggedIn).toMatchObject({ credential: { kind: 'session', id: sessionId, prefix: null }, ip: '198.51.100.20' });
    const [created] = await audit('resourceType=flag&resourceKey=via-session');
    expect(created).toMatchObject({ action: 'flag.created', credential: { kind: 'session', id: sessionId, prefix: null }, ip: '198.51.100.21' });
    // The session's id only: never its token or the hash it is looked up by.
    const all = JSON.stringify(await audit(''));
    expect(all).not.toContain(session);
    expect(all).not.toContain(hashToken(session));
  });

  it('records a personal access token by id and display prefix, never its secret, and lists what that token did', async () => {
    const minted = await mustAs(p, owner, 'POST', '/api/v1/me/tokens', { name: 'ci' });
    const token = String(minted.token);
    const { id, prefix } = minted.accessToken as { id: string; prefix: string };
    expect(prefix).toMatch(/^xpp_.{8}$/);

    expect((await from('203.0.113.5', 'POST', '/api/v1/projects/demo/flags', { token, body: booleanFlagBody('via-token') })).status).toBe(201);
    const flag = await mustAs(p, token, 'GET', '/api/v1/projects/demo/flags/via-token');
    await mustAs(p, token, 'PUT', '/api/v1/projects/demo/flags/via-token/environments/development', { ...flag.definition.environments.development, enabled: true }, flag.version);
    // The same user's session changes another flag: not the token's doing.
    await mustAs(p, owner, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody('via-owner-session'));

    const [created] = await audit('resourceType=flag&resourceKey=via-token&action=flag.created');
    expect(created).toMatchObject({ credential: { kind: 'token', id, prefix }, ip: '203.0.113.5' });
    expect(JSON.stringify(await audit(''))).not.toContain(token);

    const byToken = await audit(`credential=${id}`);
    expect(byToken.map((e) => [e.action, e.resourceKey])).toEqual([
      ['flag.environment.updated', 'via-token'],
      ['flag.created', 'via-token'],
    ]);
    expect(byToken.every((e) => e.credential?.id === id)).toBe(true);
    // As GET /me/tokens shows it, in whatever case it is pasted.
    expect((await audit(`credential=${id.toUpperCase()}`)).map((e) => e.id)).toEqual(byToken.map((e) => e.id));
    const [ownerChange] = await audit('resourceKey=via-owner-session');
    expect(ownerChange!.credential?.kind).toBe('session');

    // The export takes the filter too, and carries the fields.
    const nd = await p.request('GET', `/api/v1/audit/export?format=ndjson&credential=${id}`, { token: owner });
    const lines = (nd.body as string).trimEnd().split('\n').map((l) => JSON.parse(l) as Entry);
    expect(lines.map((l) => l.id)).toEqual(byToken.map((e) => e.id).reverse());
    expect(lines[0]).toMatchObject({ credential: { kind: 'token', id, prefix }, ip: '203.0.113.5' });
  });

  it('adds the credential and the address as the CSV export’s last columns', async () => {
    const minted = await mustAs(p, owner, 'POST', '/api/v1/me/tokens', { name: 'csv' });
    const { id, prefix } = minted.accessToken as { id: string; prefix: string };
    expect((await from('203.0.113.6', 'POST', '/api/v1/projects/demo/flags', { token: String(minted.token), body: booleanFlagBody('csv-token') })).status).toBe(201);

    const csv = await p.request('GET', `/api/v1/audit/export?credential=${id}`, { token: owner });
    expect(csv.status).toBe(200);
    const [header, row, more] = (csv.body as string).trimEnd().split('\r\n');
    expect(header!.split(',')).toEqual([
      'id', 'created_at', 'project', 'project_id', 'actor_email', 'actor_id', 'client', 'action', 'resource_type', 'resource_key', 'environment', 'diff', 'resource_label',
      'credential_kind', 'credential_id', 'credential_prefix', 'ip',
    ]);
    expect(row!.endsWith(`,token,${id},${prefix},203.0.113.6`)).toBe(true);
    expect(more).toBeUndefined();
  });

  it('records the address of failed and successful logins in the entry, behind the trusted proxy as client-ip.ts decides', async () => {
    // Through the trusted proxy at 10.0.0.2: the right-most untrusted X-Forwarded-For entry, not the forged left-most one.
    const failed = await from('10.0.0.2', 'POST', '/api/v1/auth/login', { body: { email: 'ivy@example.com', password: 'a wrong guess' }, forwardedFor: '1.1.1.1, 203.0.113.40' });
    expect(failed.status).toBe(401);
    // From a peer that is no trusted proxy, X-Forwarded-For is ignored.
    const ok = await from('198.51.100.41', 'POST', '/api/v1/auth/login', { body: { email: 'ivy@example.com', password: PASSWORD }, forwardedFor: '1.1.1.1' });
    expect(ok.status).toBe(200);

    const entries = await audit(`resourceType=user&resourceKey=${String(ok.body.user.id)}&action=user.*`);
    const [latestOk] = entries.filter((e) => e.action === 'user.logged-in');
    const [latestFailed] = entries.filter((e) => e.action === 'user.login-failed');
    expect(latestFailed).toMatchObject({ actorId: null, credential: null, ip: '203.0.113.40' });
    expect(latestOk).toMatchObject({ credential: { kind: 'session' }, ip: '198.51.100.41' });
  });

  it("records the platform's own actors as system, and an in-process request's unknown address as null", async () => {
    const [bootstrapped] = await audit('resourceType=flag&action=flag.created&resourceKey=new-checkout');
    expect(bootstrapped === undefined ? undefined : bootstrapped.credential).toEqual({ kind: 'system', id: 'bootstrap', prefix: null });
    await mustAs(p, owner, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody('no-socket'));
    const [created] = await audit('resourceKey=no-socket');
    expect(created).toMatchObject({ credential: { kind: 'session' }, ip: null });
  });

  it('refuses a credential filter that is not an id (a token, its prefix, its name), on the list and the export', async () => {
    for (const value of ['xpp_ab12cd34', 'ci', `xpp_${'a'.repeat(43)}`, '1234']) {
      for (const path of ['/api/v1/audit', '/api/v1/audit/export']) {
        const res = await requestAs(p, owner, 'GET', `${path}?credential=${encodeURIComponent(value)}`);
        expect([value, path, res.status, res.body.error.details.issues[0].path]).toEqual([value, path, 400, 'query.credential']);
      }
    }
  });

  it('records an IPv4 client of a dual-stack listener (XP_HOST=::) as its IPv4 address', () => {
    expect([recordedAddress('::ffff:127.0.0.1'), recordedAddress('::FFFF:203.0.113.7'), recordedAddress('2001:DB8::1'), recordedAddress('unknown'), recordedAddress(undefined)]).toEqual([
      '127.0.0.1',
      '203.0.113.7',
      '2001:db8::1',
      null,
      null,
    ]);
  });
});
