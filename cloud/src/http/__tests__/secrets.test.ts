import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../auth/passwords.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, markPasswordChosen, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';
const PASSWORD = 'purple monkey dishwasher 7';
const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
/** A token of the right shape that was never issued. */
const lookalike = (prefix: string): string => prefix + randomBytes(32).toString('base64url');

describe('tokens and passwords stay secret (pglite)', () => {
  let p: Platform;
  /** Every secret the run handles: tokens, keys and passwords, right or wrong. */
  const secrets = new Map<string, string>();
  let session = '';
  let pat = '';

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
  });
  afterAll(async () => {
    await p.close();
  });

  it('keeps them out of every log line through logins, failures, key creation and an unhandled error', async () => {
    secrets.set('owner password', OWNER.password);
    for (const [env, pair] of Object.entries(p.boot.sdkKeys ?? {})) {
      secrets.set(`bootstrap ${env} server key`, pair.server);
      secrets.set(`bootstrap ${env} client key`, pair.client);
    }
    session = await p.login(OWNER.email, OWNER.password);
    secrets.set('owner session', session);
    const wrongPassword = 'Tr0ub4dor&3 but wrong';
    secrets.set('wrong password', wrongPassword);
    const wrongLogin = await p.request('POST', '/api/v1/auth/login', { body: { email: OWNER.email, password: wrongPassword } });
    const unknownLogin = await p.request('POST', '/api/v1/auth/login', { body: { email: 'nobody@example.com', password: wrongPassword } });
    const invited = await p.request('POST', '/api/v1/users', { token: session, body: { email: 'ed@example.com', name: 'Ed', role: 'editor', password: PASSWORD } });
    secrets.set('invited password', PASSWORD);
    const generated = await p.request('POST', '/api/v1/users', { token: session, body: { email: 'gen@example.com', name: 'Gen', role: 'viewer' } });
    secrets.set('generated password', generated.body.initialPassword as string);
    const reset = await p.request('POST', `/api/v1/users/${generated.body.user.id as string}/password-reset`, { token: session });
    secrets.set('temporary password', reset.body.temporaryPassword as string);
    const chosenAtFirstLogin = 'Juniper-Ocelot-Harbour-31';
    secrets.set('password chosen at the first login', chosenAtFirstLogin);
    const firstLogin = await p.request('POST', '/api/v1/auth/login', { body: { email: 'gen@example.com', password: reset.body.temporaryPassword as string, newPassword: chosenAtFirstLogin } });
    expect(firstLogin.status).toBe(200);
    const editorSession = await p.login('ed@example.com', PASSWORD);
    secrets.set('editor session', editorSession);
    const created = await p.request('POST', '/api/v1/me/tokens', { token: editorSession, body: { name: 'ci' } });
    pat = created.body.token as string;
    secrets.set('personal access token', pat);
    const server = await p.request('POST', `${DEMO}/sdk-keys`, { token: session, body: { environment: 'production', kind: 'server', name: 'backend' } });
    const client = await p.request('POST', `${DEMO}/sdk-keys`, { token: session, body: { environment: 'production', kind: 'client', name: 'web' } });
    secrets.set('server key', server.body.key as string);
    secrets.set('client key', client.body.key as string);
    const lookalikes = ['xps_', 'xpp_', 'xpk_srv_', 'xpk_cli_'].map(lookalike);
    lookalikes.forEach((t, i) => secrets.set(`lookalike ${i}`, t));
    const refused = [
      ...lookalikes.map((t) => p.request('GET', '/api/v1/me', { token: t })),
      p.request('GET', '/api/v1/me', { token: `${pat}x` }),
      p.request('GET', '/api/v1/me', { token: pat.slice(0, -1) }),
      p.request('GET', `${DEMO}/flags`, { token: server.body.key as string }),
      p.request('GET', `${DEMO}/flags`, { token: client.body.key as string }),
      p.request('GET', `${DEMO}/flags`, { token: sha256(pat) }),
    ];
    const refusedStatuses = (await Promise.all(refused)).map((r) => r.status);
    const loggedOut = await p.request('POST', '/api/v1/auth/logout', { token: editorSession });
    const afterLogout = await p.request('GET', '/api/v1/me', { token: editorSession });
    // An unhandled error whose path and query carry tokens: the table it reads is briefly missing.
    await p.db.query('ALTER TABLE flags RENAME TO flags_hidden');
    const crashed = await p.request('GET', `${DEMO}/flags/${pat}`, { token: pat });
    // A query parameter the route reads (the list's search) carrying one too.
    const crashedQuery = await p.request('GET', `${DEMO}/flags?q=${session}`, { token: pat });
    await p.db.query('ALTER TABLE flags_hidden RENAME TO flags');

    expect(wrongLogin.status).toBe(401);
    expect(unknownLogin.body).toEqual(wrongLogin.body);
    expect(invited.status).toBe(201);
    expect(generated.status).toBe(201);
    expect(created.status).toBe(201);
    expect([server.status, client.status]).toEqual([201, 201]);
    expect(refusedStatuses).toEqual(refused.map(() => 401));
    expect(loggedOut.status).toBe(204);
    expect(afterLogout.status).toBe(401);
    expect([crashed.status, crashedQuery.status]).toEqual([500, 500]);
    expect(JSON.stringify(crashed.body)).not.toContain('flags');
    const logs = p.logs.join('\n');
    expect(logs).toContain('login failed');
    expect(logs).toContain('unhandled error');
    expect(logs).toContain(`${pat.slice(0, 12)}…`);
    const leaked = [...secrets].filter(([, secret]) => logs.includes(secret) || logs.includes(secret.slice(-24))).map(([name]) => name);
    expect(leaked).toEqual([]);
  });

  it('stores only hashes of tokens and keys, and scrypt hashes of passwords', async () => {
    const tables = (await p.db.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")).rows.map((r) => r.name);
    const dump: string[] = [];
    for (const table of tables) {
      dump.push(...(await p.db.query<{ row: string }>(`SELECT t::text AS row FROM ${table} t`)).rows.map((r) => r.row));
    }
    const all = dump.join('\n');
    const sessionRow = await p.db.query<{ token_hash: string }>('SELECT token_hash FROM sessions WHERE token_hash = $1', [sha256(session)]);
    const tokenRow = await p.db.query<{ token_hash: string; token_prefix: string }>('SELECT token_hash, token_prefix FROM access_tokens');
    const keyRows = await p.db.query<{ key_hash: string; key_prefix: string }>('SELECT key_hash, key_prefix FROM sdk_keys');
    const userRows = await p.db.query<{ email: string; password_hash: string }>('SELECT email, password_hash FROM users ORDER BY email');

    expect(tables).toEqual(expect.arrayContaining(['sessions', 'access_tokens', 'sdk_keys', 'users', 'audit_log']));
    const inTheClear = [...secrets].filter(([, secret]) => all.includes(secret)).map(([name]) => name);
    expect(inTheClear).toEqual([]);
    expect(sessionRow.rows).toHaveLength(1);
    expect(tokenRow.rows).toEqual([{ token_hash: sha256(pat), token_prefix: pat.slice(0, 12) }]);
    expect(keyRows.rows.map((r) => r.key_hash)).toContain(sha256(secrets.get('server key')!));
    expect(keyRows.rows.every((r) => /^[0-9a-f]{64}$/.test(r.key_hash) && r.key_prefix.length === 16)).toBe(true);
    const passwords: Record<string, string> = { [OWNER.email]: OWNER.password, 'ed@example.com': PASSWORD, 'gen@example.com': secrets.get('password chosen at the first login')! };
    for (const { email, password_hash } of userRows.rows) {
      expect(password_hash).toMatch(/^scrypt\$/);
      expect(await verifyPassword(passwords[email]!, password_hash)).toBe(true);
    }
  });

  it('shows tokens and keys once: lists give prefixes only', async () => {
    const editor = await p.login('ed@example.com', PASSWORD);
    const tokens = await p.request('GET', '/api/v1/me/tokens', { token: editor });
    const keys = await p.request('GET', `${DEMO}/sdk-keys`, { token: session });
    const audit = await p.request('GET', '/api/v1/audit?limit=200', { token: session });
    const users = await p.request('GET', '/api/v1/users', { token: session });
    const text = JSON.stringify([tokens.body, keys.body, audit.body, users.body]);

    expect(tokens.body.items).toHaveLength(1);
    expect(keys.body.items.length).toBeGreaterThanOrEqual(8);
    const listed = [...secrets].filter(([, secret]) => text.includes(secret)).map(([name]) => name);
    expect(listed).toEqual([]);
    expect(text).not.toContain('password_hash');
    expect(text).not.toContain('scrypt');
  });

  it('marks responses that carry a secret as not cacheable', async () => {
    const login = await p.request('POST', '/api/v1/auth/login', { body: { email: OWNER.email, password: OWNER.password } });
    const token = await p.request('POST', '/api/v1/me/tokens', { token: session, body: { name: 'cache check' } });
    const key = await p.request('POST', `${DEMO}/sdk-keys`, { token: session, body: { environment: 'development', kind: 'client', name: 'cache check' } });
    const user = await p.request('POST', '/api/v1/users', { token: session, body: { email: 'cache@example.com', name: 'Cache', role: 'viewer' } });

    for (const res of [login, token, key, user]) {
      expect(res.status).toBeLessThan(300);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('never accepts a token in the URL', async () => {
    const paths = ['/api/v1/me', `${DEMO}/flags`, '/api/v1/audit'];
    const params = ['token', 'access_token', 'api_key', 'authorization', 'bearer'];

    const statuses = [];
    for (const path of paths) {
      for (const param of params) {
        statuses.push((await p.request('GET', `${path}?${param}=${session}`)).status);
        statuses.push((await p.request('GET', `${path}?${param}=${encodeURIComponent(`Bearer ${pat}`)}`)).status);
      }
    }
    const headerStillWorks = await p.request('GET', '/api/v1/me', { token: session });

    expect(statuses).toEqual(statuses.map(() => 401));
    expect(headerStillWorks.status).toBe(200);
  });

  it('throttles failed logins: the fifth failure is 429 with Retry-After, and 15 minutes later login works again', async () => {
    await p.request('POST', '/api/v1/users', { token: session, body: { email: 'rl@example.com', name: 'Rate Limited', role: 'viewer', password: PASSWORD } });
    // A password of the user's own (the first-login change is passwords.test.ts's).
    await markPasswordChosen(p.db, 'rl@example.com');
    const attempt = (email: string, password: string): ReturnType<Platform['request']> => p.request('POST', '/api/v1/auth/login', { body: { email, password } });
    const start = p.now.value;

    const failures = [];
    for (let i = 0; i < 5; i++) {
      failures.push(await attempt('rl@example.com', `wrong guess number ${i}`));
    }
    const rightPasswordWhileLocked = await attempt('rl@example.com', PASSWORD);
    const otherCase = await attempt('  RL@Example.COM ', PASSWORD);
    const otherUser = await attempt(OWNER.email, OWNER.password);
    p.now.value = new Date(start.getTime() + 14 * 60_000);
    const stillLocked = await attempt('rl@example.com', PASSWORD);
    p.now.value = new Date(start.getTime() + 15 * 60_000 + 1000);
    const later = await attempt('rl@example.com', PASSWORD);

    expect(failures.slice(0, 4).map((r) => r.status)).toEqual([401, 401, 401, 401]);
    const locked = failures[4]!;
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('RATE_LIMITED');
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(rightPasswordWhileLocked.status).toBe(429);
    expect(rightPasswordWhileLocked.headers.get('retry-after')).not.toBeNull();
    expect(otherCase.status).toBe(429);
    expect(otherUser.status).toBe(200);
    expect(stillLocked.status).toBe(429);
    expect(Number(stillLocked.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(later.status).toBe(200);
    expect(typeof later.body.token).toBe('string');
  });
});
