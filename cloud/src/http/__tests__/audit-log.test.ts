/**
 * The audit log's filters (resource types, time) and what failed logins and lockouts leave in it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UNKNOWN_USER_KEY } from '../../domain/accounts.js';
import { AUDIT_RESOURCE_TYPES } from '../../store/audit.js';
import { DefinitionKind } from '../../store/definitions.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, startPlatform } from './harness.js';
import { parseCsv } from './csv.js';

const PASSWORD = 'Tangerine-Quokka-Lantern-77';

interface Entry {
  readonly id: number;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceKey: string;
  readonly actorId: string | null;
  readonly actorEmail: string | null;
  readonly client: string;
  readonly diff: { op: string; path: string; to?: unknown }[];
  readonly createdAt: string;
  readonly resourceLabel?: string;
}

describe('audit log', () => {
  let p: Platform;
  let owner = '';

  const audit = async (query: string): Promise<Entry[]> => (await mustAs(p, owner, 'GET', `/api/v1/audit?limit=200&${query}`)).items as Entry[];

  /** A login from a given client address (as the Node server or the Lambda adapter passes it). */
  async function loginFrom(ip: string, email: string, password: string): Promise<number> {
    const res = await p.app.request(
      '/api/v1/auth/login',
      { method: 'POST', headers: { 'content-type': 'application/json', 'x-xp-client': 'console' }, body: JSON.stringify({ email, password }) },
      { incoming: { socket: { remoteAddress: ip } } },
    );
    await res.body?.cancel();
    return res.status;
  }

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  }, 120_000);
  afterAll(async () => {
    await p.close();
  });

  describe('failed logins and lockouts', () => {
    it('records a wrong password for a known user with its email and client address, never the password', async () => {
      const user = await mustAs(p, owner, 'POST', '/api/v1/users', { email: 'audited@example.com', name: 'Audited', role: 'editor', password: PASSWORD });

      expect(await loginFrom('198.51.100.7', 'Audited@Example.com', 'a wrong guess 1')).toBe(401);

      const [failed] = await audit(`resourceType=user&resourceKey=${String(user.user.id)}`);
      expect(failed).toMatchObject({ action: 'user.login-failed', resourceType: 'user', resourceKey: user.user.id, actorId: null, actorEmail: null, client: 'console' });
      expect(failed!.diff).toEqual([{ op: 'add', path: '', to: { email: 'audited@example.com', ip: '198.51.100.7' } }]);
      expect(JSON.stringify(await audit(''))).not.toContain('a wrong guess');
    });

    it('records an unknown email without the email', async () => {
      expect(await loginFrom('198.51.100.8', 'nobody-here@example.com', 'another wrong guess')).toBe(401);

      const [failed] = await audit(`resourceType=user&resourceKey=${encodeURIComponent(UNKNOWN_USER_KEY)}`);
      expect(failed).toMatchObject({ action: 'user.login-failed', resourceKey: UNKNOWN_USER_KEY, actorId: null, actorEmail: null });
      expect(failed!.diff).toEqual([{ op: 'add', path: '', to: { ip: '198.51.100.8' } }]);
      expect(JSON.stringify(await audit(''))).not.toContain('nobody-here');
    });

    it('records the lockout once, when the limiter starts refusing, and no refused attempt', async () => {
      const user = await mustAs(p, owner, 'POST', '/api/v1/users', { email: 'locked@example.com', name: 'Locked', role: 'viewer', password: PASSWORD });
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        statuses.push(await loginFrom('203.0.113.9', 'locked@example.com', `wrong guess ${i}`));
      }

      expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429]);
      const entries = (await audit(`resourceType=user&resourceKey=${String(user.user.id)}`)).filter((e) => e.action !== 'user.created');
      expect(entries.map((e) => e.action)).toEqual(['user.locked-out', ...Array<string>(5).fill('user.login-failed')]);
      expect(entries[0]!.diff).toEqual([{ op: 'add', path: '', to: { email: 'locked@example.com', ip: '203.0.113.9', limits: ['email-and-ip'], retryAfterSeconds: 900 } }]);
    });
  });

  it("records the client a request names, but never a name the platform's own actors use", async () => {
    for (const [key, client] of [['client-vscode', 'VSCode'], ['client-guardrails', 'guardrails'], ['client-bootstrap', ' Bootstrap '], ['client-alarm', 'alarm-rollback']] as const) {
      const res = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: booleanFlagBody(key), headers: { 'X-XP-Client': client } });
      expect(res.status).toBe(201);
    }
    const clients = await Promise.all(['client-vscode', 'client-guardrails', 'client-bootstrap', 'client-alarm'].map(async (key) => (await audit(`resourceType=flag&resourceKey=${key}`))[0]?.client));

    expect(clients).toEqual(['vscode', 'api', 'api', 'api']);
  });

  describe('filters', () => {
    it('refuses an environment that no project has and no entry names (a typo), listing those there are, and keeps a deleted one\'s history', async () => {
      const typo = await p.request('GET', '/api/v1/audit?project=demo&environment=prod', { token: owner });
      const orgWide = await p.request('GET', '/api/v1/audit?environment=prod', { token: owner });
      expect([typo.status, typo.body.error.code, typo.body.error.details.issues[0].path]).toEqual([400, 'VALIDATION_FAILED', 'query.environment']);
      expect(typo.body.error.message).toBe('no environment "prod" in project demo, and no entry names one: the environments are development, production, staging');
      expect(orgWide.status).toBe(400);
      expect((await p.request('GET', '/api/v1/audit?project=demo&environment=production', { token: owner })).status).toBe(200);

      // An environment deleted since: its entries are still found by its key.
      const created = await mustAs(p, owner, 'POST', '/api/v1/projects/demo/environments', { key: 'qa-gone', name: 'QA', production: false });
      await mustAs(p, owner, 'DELETE', '/api/v1/projects/demo/environments/qa-gone', undefined, created.version as number);
      expect((await audit('project=demo&environment=qa-gone')).map((e) => e.action)).toEqual(['environment.deleted', 'environment.created']);
    });

    it('filters by one action or every action of a resource type, and refuses another shape', async () => {
      const flag = await mustAs(p, owner, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody('action-filtered'));
      await mustAs(p, owner, 'PUT', '/api/v1/projects/demo/flags/action-filtered/environments/development', { ...flag.definition.environments.development, enabled: true }, flag.version);
      const created = await audit('action=flag.created&resourceKey=action-filtered');
      const state = await audit('action=flag.environment.updated&resourceKey=action-filtered');
      const any = await audit('action=flag.*&resourceKey=action-filtered');
      const none = await audit('action=segment.*&resourceKey=action-filtered');
      const refused = await Promise.all(['flag', 'flag.%', "flag.created' OR 1=1", 'Flag.created'].map((a) => p.request('GET', `/api/v1/audit?action=${encodeURIComponent(a)}`, { token: owner })));

      expect(created.map((e) => e.action)).toEqual(['flag.created']);
      expect(state.map((e) => e.action)).toEqual(['flag.environment.updated']);
      expect(any.map((e) => e.action)).toEqual(['flag.environment.updated', 'flag.created']);
      expect(none).toEqual([]);
      expect(refused.map((r) => r.status)).toEqual([400, 400, 400, 400]);
    });

    it('lists the resource types the log records, and refuses any other with the list', async () => {
      const refused = await p.request('GET', '/api/v1/audit?resourceType=flags', { token: owner });
      const webhook = await p.request('GET', '/api/v1/audit?resourceType=webhook', { token: owner });

      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('VALIDATION_FAILED');
      expect(refused.body.error.message).toBe(`invalid query: query.resourceType: must be one of ${AUDIT_RESOURCE_TYPES.join(', ')}`);
      expect(webhook.status).toBe(200);
      expect(AUDIT_RESOURCE_TYPES).toEqual(expect.arrayContaining(Object.values(DefinitionKind)));
    });

    it('filters by time: from inclusive, to exclusive', async () => {
      const made: Entry[] = [];
      for (const key of ['timed-1', 'timed-2', 'timed-3']) {
        await mustAs(p, owner, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody(key));
        made.push((await audit(`resourceType=flag&resourceKey=${key}`))[0]!);
        await sleep(15);
      }
      const [first, second, third] = made as [Entry, Entry, Entry];
      const keys = async (query: string): Promise<string[]> => (await audit(`resourceType=flag&${query}`)).map((e) => e.resourceKey).filter((k) => k.startsWith('timed-'));

      expect(await keys(`from=${second.createdAt}`)).toEqual(['timed-3', 'timed-2']);
      expect(await keys(`to=${second.createdAt}`)).toEqual(['timed-1']);
      expect(await keys(`from=${first.createdAt}&to=${third.createdAt}`)).toEqual(['timed-2', 'timed-1']);
      expect(await keys(`from=${encodeURIComponent(new Date(Date.parse(third.createdAt) + 1).toISOString().replace('Z', '+00:00'))}`)).toEqual([]);
    });

    it('files a whole-flag PUT under the one environment whose state it changed, and under none when it changed more', async () => {
      const created = await mustAs(p, owner, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody('env-audited'));
      const rules = [{ id: 'ramp', type: 'rollout', variation: 'on', coverage: 0.3 }];
      const devOnly = await mustAs(p, owner, 'PUT', '/api/v1/projects/demo/flags/env-audited', { ...created.definition, environments: { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules } } }, created.version);
      await mustAs(p, owner, 'PUT', '/api/v1/projects/demo/flags/env-audited', { ...devOnly.definition, name: 'Renamed', environments: { ...devOnly.definition.environments, staging: { enabled: false, defaultVariation: 'off', offVariation: 'off' } } }, devOnly.version);
      const entries = await audit('resourceType=flag&resourceKey=env-audited');
      const withEnvironment = entries.map((e) => [e.action, (e as Entry & { environment: string | null }).environment]);

      expect(withEnvironment).toEqual([
        ['flag.updated', null],
        ['flag.updated', 'development'],
        ['flag.created', null],
      ]);
      // The environment filter finds what touched development, filed under it or not: the creation
      // (with a state there) too; the rename with staging's new state does not touch it.
      expect((await audit('resourceType=flag&resourceKey=env-audited&environment=development')).map((e) => e.action)).toEqual(['flag.updated', 'flag.created']);
    });

    it('refuses a time that is not an ISO instant, or a from not before to', async () => {
      const bad = async (query: string): Promise<[number, string]> => {
        const res = await p.request('GET', `/api/v1/audit?${query}`, { token: owner });
        return [res.status, String(res.body.error?.details?.issues?.[0]?.path)];
      };

      expect(await bad('from=yesterday')).toEqual([400, 'query.from']);
      expect(await bad('to=2026-11-25')).toEqual([400, 'query.to']);
      expect(await bad('from=2026-11-25T10:00:00')).toEqual([400, 'query.from']);
      expect(await bad('from=2026-11-25T10:00:00Z&to=2026-11-25T10:00:00Z')).toEqual([400, 'query.from']);
      expect(await bad('from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z')).toEqual([400, 'query.from']);
    });

    it('refuses an e-mail as the actor (a user id is asked for), in the list and the export, and filters by the id', async () => {
      const me = (await mustAs(p, owner, 'GET', '/api/v1/me')) as { id: string };
      const byEmail = await p.request('GET', `/api/v1/audit?actor=${encodeURIComponent(OWNER.email)}`, { token: owner });
      const exported = await p.request('GET', `/api/v1/audit/export?actor=${encodeURIComponent(OWNER.email)}`, { token: owner });

      expect([byEmail.status, byEmail.body.error.code, byEmail.body.error.details.issues[0].path]).toEqual([400, 'VALIDATION_FAILED', 'query.actor']);
      expect(byEmail.body.error.message).toContain('actor must be a user id');
      expect(exported.status).toBe(400);
      expect((await audit(`actor=${me.id}`)).length).toBeGreaterThan(0);
    });
  });

  describe('target labels', () => {
    /** Each entry of a target as [action, label], oldest first; `'absent'` when the entry has no resourceLabel. */
    const labels = async (resourceType: string, id: string): Promise<[string, string][]> =>
      (await audit(`resourceType=${resourceType}&resourceKey=${id}`)).reverse().map((e) => [e.action, e.resourceLabel ?? 'absent']);

    it('names a user by their e-mail, also in entries that did not record it (a sign-in, user.updated)', async () => {
      const created = await mustAs(p, owner, 'POST', '/api/v1/users', { email: 'label-alice@example.com', name: 'Alice', role: 'viewer', password: PASSWORD });
      const id = String(created.user.id);
      await mustAs(p, owner, 'PATCH', `/api/v1/users/${id}`, { role: 'editor' }, created.user.version as number);
      await p.login('label-alice@example.com', PASSWORD);
      const [signIn] = await audit(`action=user.logged-in&resourceKey=${id}`);

      // A sign-in records nothing of the user: the label comes from the user as they are.
      expect(signIn!.diff).toEqual([]);
      expect(await labels('user', id)).toEqual([
        ['user.created', 'label-alice@example.com'],
        ['user.updated', 'label-alice@example.com'],
        ['user.logged-in', 'label-alice@example.com'],
      ]);
      // An unknown e-mail's failed login names no one.
      expect(await loginFrom('198.51.100.9', 'label-nobody@example.com', 'a wrong guess')).toBe(401);
      const [unknown] = await audit(`resourceType=user&resourceKey=${encodeURIComponent(UNKNOWN_USER_KEY)}`);
      expect(unknown).not.toHaveProperty('resourceLabel');
    });

    it("names a webhook by its name, never its URL, and a deleted one by the name its entries recorded", async () => {
      const secretUrl = 'http://127.0.0.1:9/hooks/xp?token=s3cr3t-hook-token';
      const hook = await mustAs(p, owner, 'POST', '/api/v1/projects/demo/webhooks', { name: 'Slack alerts', url: secretUrl, events: ['flag.*'] });
      const id = String(hook.webhook.id);
      const version = async (): Promise<number> => (await mustAs(p, owner, 'GET', `/api/v1/projects/demo/webhooks/${id}`)).version as number;
      await mustAs(p, owner, 'PATCH', `/api/v1/projects/demo/webhooks/${id}`, { name: 'Release alerts' }, await version());
      await mustAs(p, owner, 'PATCH', `/api/v1/projects/demo/webhooks/${id}`, { enabled: false }, await version());

      // Live: every entry shows its current name.
      expect(await labels('webhook', id)).toEqual([
        ['webhook.created', 'Release alerts'],
        ['webhook.updated', 'Release alerts'],
        ['webhook.updated', 'Release alerts'],
      ]);

      await mustAs(p, owner, 'DELETE', `/api/v1/projects/demo/webhooks/${id}`, undefined, await version());
      // Deleted: each entry's own record of the name (the latest it holds), none when it holds none.
      expect(await labels('webhook', id)).toEqual([
        ['webhook.created', 'Slack alerts'],
        ['webhook.updated', 'Release alerts'],
        ['webhook.updated', 'absent'],
        ['webhook.deleted', 'Release alerts'],
      ]);
      const listed = JSON.stringify((await audit(`resourceType=webhook&resourceKey=${id}`)).map((e) => e.resourceLabel));
      expect(listed).not.toContain('127.0.0.1');
      expect(listed).not.toContain('s3cr3t');
      expect(listed).not.toContain(String(hook.secret));
    });

    it('names an SDK key by its name and public prefix, never the key, also once its environment took it away', async () => {
      const env = await p.request('POST', '/api/v1/projects/demo/environments', { token: owner, body: { key: 'label-env', name: 'Labels' } });
      const made = await mustAs(p, owner, 'POST', '/api/v1/projects/demo/sdk-keys', { environment: 'label-env', kind: 'server', name: 'production server' });
      const id = String(made.sdkKey.id);
      const prefix = String(made.sdkKey.prefix);
      const secret = String(made.key);
      expect(secret.startsWith(prefix) && secret.length > prefix.length).toBe(true);
      await mustAs(p, owner, 'DELETE', `/api/v1/projects/demo/sdk-keys/${id}`);

      expect(await labels('sdk-key', id)).toEqual([
        ['sdk-key.created', `production server (${prefix}…)`],
        ['sdk-key.revoked', `production server (${prefix}…)`],
      ]);

      const other = await mustAs(p, owner, 'POST', '/api/v1/projects/demo/sdk-keys', { environment: 'label-env', kind: 'client', name: 'web app' });
      expect((await p.request('DELETE', '/api/v1/projects/demo/environments/label-env', { token: owner, headers: { 'If-Match': env.headers.get('etag')! } })).status).toBe(204);
      expect((await p.db.query('SELECT 1 FROM sdk_keys WHERE id = ANY($1::text[])', [[id, other.sdkKey.id]])).rows).toEqual([]);

      expect(await labels('sdk-key', id)).toEqual([
        ['sdk-key.created', `production server (${prefix}…)`],
        ['sdk-key.revoked', `production server (${prefix}…)`],
      ]);
      expect(await labels('sdk-key', String(other.sdkKey.id))).toEqual([
        ['sdk-key.created', `web app (${String(other.sdkKey.prefix)}…)`],
        ['sdk-key.revoked', `web app (${String(other.sdkKey.prefix)}…)`],
      ]);
      const all = JSON.stringify(await audit('resourceType=sdk-key'));
      expect(all).not.toContain(secret);
      expect(all).not.toContain(String(other.key));
    });

    it('names an access token by its name and prefix, never the token, and a deleted one by what its entries recorded', async () => {
      const made = await mustAs(p, owner, 'POST', '/api/v1/me/tokens', { name: 'ci deploy' });
      const id = String(made.accessToken.id);
      const prefix = String(made.accessToken.prefix);
      const secret = String(made.token);
      await mustAs(p, owner, 'DELETE', `/api/v1/me/tokens/${id}`);

      expect(await labels('access-token', id)).toEqual([
        ['token.created', `ci deploy (${prefix}…)`],
        ['token.revoked', `ci deploy (${prefix}…)`],
      ]);
      // Tokens go with their user (ON DELETE CASCADE); the entries keep naming it.
      await p.db.query('DELETE FROM access_tokens WHERE id = $1', [id]);
      expect(await labels('access-token', id)).toEqual([
        ['token.created', `ci deploy (${prefix}…)`],
        ['token.revoked', `ci deploy (${prefix}…)`],
      ]);
      expect(JSON.stringify(await audit(''))).not.toContain(secret);
    });

    it('leaves other resource types unlabelled (their key is their name)', async () => {
      await mustAs(p, owner, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody('label-flag'));
      const [entry] = await audit('resourceType=flag&resourceKey=label-flag');

      expect(entry).toMatchObject({ action: 'flag.created', resourceKey: 'label-flag' });
      expect(entry).not.toHaveProperty('resourceLabel');
    });

    it('resolves the labels of a whole page in the query that reads it, whatever its entry count', async () => {
      for (const n of [1, 2, 3, 4, 5]) {
        await mustAs(p, owner, 'POST', '/api/v1/users', { email: `label-page-${n}@example.com`, name: `Page ${n}`, role: 'viewer', password: PASSWORD });
      }
      const queries = async (limit: number): Promise<[number, number]> => {
        const spy = vi.spyOn(p.db, 'query');
        try {
          const page = await mustAs(p, owner, 'GET', `/api/v1/audit?action=user.created&limit=${limit}`);
          return [spy.mock.calls.length, (page.items as Entry[]).filter((e) => e.resourceLabel !== undefined).length];
        } finally {
          spy.mockRestore();
        }
      };
      const [one, labelledInOne] = await queries(1);
      const [many, labelledInMany] = await queries(50);

      expect(labelledInOne).toBe(1);
      expect(labelledInMany).toBeGreaterThanOrEqual(5);
      expect(many).toBe(one);
    });

    it('describes the label in the OpenAPI document, as an optional string', async () => {
      const doc = await p.request('GET', '/openapi.json');
      type Schema = { properties?: Record<string, { type?: string; description?: string }>; required?: string[] };
      // The entry's component, whatever name the document gives it (it sits inside the page's schema).
      const [schema] = Object.entries(doc.body.components.schemas as Record<string, Schema>)
        .filter(([name, c]) => /AuditEntry/.test(name) && c.properties?.actorEmail !== undefined)
        .map(([, c]) => c as Required<Schema>);
      expect(schema).toBeDefined();

      expect(schema!.properties.resourceLabel).toMatchObject({ type: 'string' });
      expect(schema!.properties.resourceLabel?.description).toContain('Never a secret');
      expect(schema!.required).toContain('actorEmail');
      expect(schema!.required).not.toContain('resourceLabel');
    });

    it('exports the labels: a resource_label column in the CSV, resourceLabel in NDJSON', async () => {
      const created = await mustAs(p, owner, 'POST', '/api/v1/users', { email: 'label-exported@example.com', name: '=cmd()', role: 'viewer', password: PASSWORD });
      const id = String(created.user.id);
      const csv = await p.request('GET', `/api/v1/audit/export?resourceType=user&resourceKey=${id}`, { token: owner });
      const [header, row] = (csv.body as string).trimEnd().split('\r\n');
      const nd = await p.request('GET', `/api/v1/audit/export?format=ndjson&resourceType=user&resourceKey=${id}`, { token: owner });

      // After the columns exports had before it (the credential and address come after it: audit-credentials.test.ts).
      const columns = header!.split(',');
      expect(columns.indexOf('resource_label')).toBe(12);
      // The label, then the owner's session and no address (an in-process request has no socket).
      expect(row).toMatch(/,label-exported@example\.com,session,[0-9a-f-]{36},,$/);
      // One line of NDJSON is one JSON document, which the harness has already parsed.
      expect(typeof nd.body === 'string' ? JSON.parse(nd.body.trimEnd()) : nd.body).toMatchObject({ action: 'user.created', resourceKey: id, resourceLabel: 'label-exported@example.com' });
    });
  });

  describe('export', () => {
    it('exports every matching entry oldest first as CSV, with the project key and the diff as JSON, and as NDJSON', async () => {
      const flag = await mustAs(p, owner, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody('exported', undefined, '=HYPERLINK("x"), "quoted"'));
      await mustAs(p, owner, 'PUT', '/api/v1/projects/demo/flags/exported/environments/development', { ...flag.definition.environments.development, enabled: true }, flag.version);
      const listed = (await audit('resourceType=flag&resourceKey=exported')).reverse();
      expect(listed.map((e) => e.action)).toEqual(['flag.created', 'flag.environment.updated']);

      const csv = await p.request('GET', '/api/v1/audit/export?resourceType=flag&resourceKey=exported', { token: owner });
      expect(csv.status).toBe(200);
      expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="xp-audit-\d{4}-\d{2}-\d{2}\.csv"$/);
      const [header, ...rows] = parseCsv(csv.body as string);
      expect(header).toEqual(['id', 'created_at', 'project', 'project_id', 'actor_email', 'actor_id', 'client', 'action', 'resource_type', 'resource_key', 'environment', 'diff', 'resource_label', 'credential_kind', 'credential_id', 'credential_prefix', 'ip']);
      expect(rows.map((r) => [Number(r[0]), r[2], r[7], r[10]])).toEqual([
        [listed[0]!.id, 'demo', 'flag.created', ''],
        [listed[1]!.id, 'demo', 'flag.environment.updated', 'development'],
      ]);
      expect(rows[0]![4]).toBe(OWNER.email);
      expect(JSON.parse(rows[1]![11]!)).toEqual(listed[1]!.diff);
      // The name (a formula and quotes) is inside the diff's JSON, quoted as CSV requires, never at a cell's start.
      expect(rows[0]![11]).toContain('=HYPERLINK(\\"x\\"), \\"quoted\\"');

      const nd = await p.request('GET', '/api/v1/audit/export?format=ndjson&action=flag.*&resourceKey=exported', { token: owner });
      expect(nd.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
      const lines = (nd.body as string).trimEnd().split('\n').map((l) => JSON.parse(l) as Entry & { projectKey: string });
      expect(lines.map((l) => [l.id, l.action, l.projectKey])).toEqual(listed.map((e) => [e.id, e.action, 'demo']));
    });

    it('starts the CSV with a byte order mark for Excel only when asked (bom=1 or true)', async () => {
      const bytes = async (query: string): Promise<number[]> => {
        const res = await p.app.request(`/api/v1/audit/export?resourceType=flag${query}`, { headers: { authorization: `Bearer ${owner}` } });
        expect(res.status).toBe(200);
        return [...new Uint8Array(await res.arrayBuffer()).slice(0, 3)];
      };
      expect(await bytes('')).toEqual([...new TextEncoder().encode('id,')]);
      expect(await bytes('&bom=1')).toEqual([0xef, 0xbb, 0xbf]);
      expect(await bytes('&bom=true')).toEqual([0xef, 0xbb, 0xbf]);
      const refused = await p.request('GET', '/api/v1/audit/export?bom=0', { token: owner });
      expect([refused.status, refused.body.error.details.issues[0].path]).toEqual([400, 'query.bom']);
    });

    it('checks its filters and format like the list, and needs audit:read', async () => {
      const status = async (query: string, token = owner): Promise<[number, string | undefined]> => {
        const res = await p.request('GET', `/api/v1/audit/export?${query}`, { token });
        return [res.status, res.body?.error?.details?.issues?.[0]?.path];
      };
      expect(await status('format=xml')).toEqual([400, 'query.format']);
      expect(await status('from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z')).toEqual([400, 'query.from']);
      expect(await status('limit=5')).toEqual([400, 'query']);
      expect((await status('project=no-such-project'))[0]).toBe(404);
      expect((await p.request('GET', '/api/v1/audit/export')).status).toBe(401);
    });
  });
});
