import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineRecord } from '@xp/shared';
import { withExplorer } from '../../pipeline/explorer-hook.js';
import { evaluations, exposure, toRecord, track } from '../../pipeline/__tests__/fixtures.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, markPasswordChosen, mustAs, requestAs, startPlatform } from './harness.js';

const KEY = 'doomed';
const BASE = `/api/v1/projects/${KEY}`;
const AT = Date.UTC(2026, 10, 1);

/** Tables that hold a project's rows, by project id, and must hold none after it is deleted. */
const TABLES = [
  'environments',
  'sdk_keys',
  'flags',
  'segments',
  'metrics',
  'experiments',
  'change_requests',
  'ruleset_versions',
  'webhooks',
  'code_refs',
  'processed_events',
  'exposures',
  'unit_events',
  'unit_metric_totals',
  'results_rollups',
  'explorer_events',
  'flag_evaluations',
  'flag_evaluation_drops',
];

describe.each(TARGETS.map((t) => [t().name, t] as const))('deleting a project or an environment, on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let editor: string;
  let projectId: string;
  let unusedKey: string;
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  const send = async (events: readonly PipelineRecord[]): Promise<{ processed: number; failed: number }> => {
    const out = await withExplorer()(p.db, events.map((e) => toRecord(e)), {});
    return { processed: out.processed, failed: out.batchItemFailures.length };
  };
  const rowsOf = async (table: string, id: string): Promise<number> => (await p.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE project_id = $1`, [id])).rows[0]!.n;
  const version = async (): Promise<number> => ((await must('GET', BASE)) as { version: number }).version;

  beforeAll(async () => {
    // The SDK endpoints are mounted with an event sink; the events never need to go anywhere here.
    p = await startPlatform(makeTarget(), { deps: (d) => ({ ...d, events: { put: () => Promise.resolve() } }) });
    owner = await p.login(OWNER.email, OWNER.password);
    await must('POST', '/api/v1/users', { email: 'ed@example.com', name: 'Ed', role: 'editor', password: 'editor password 123' });
    await markPasswordChosen(p.db, 'ed@example.com');
    editor = await p.login('ed@example.com', 'editor password 123');
    await must('POST', '/api/v1/projects', {
      key: KEY,
      name: 'Doomed',
      environments: [
        { key: 'development', name: 'Development' },
        { key: 'production', name: 'Production', production: true },
      ],
    });
    projectId = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [KEY])).rows[0]!.id;
    await must('POST', `${BASE}/flags`, booleanFlagBody('checkout', { development: { enabled: true, defaultVariation: 'on', offVariation: 'off' }, production: { enabled: true, defaultVariation: 'on', offVariation: 'off' } }));
    await must('POST', `${BASE}/segments`, { key: 'beta', name: 'Beta', type: 'condition', condition: { beta: true } });
    await must('POST', `${BASE}/metrics`, { key: 'purchases', name: 'Purchases', type: 'count', event: 'purchase' });
    await must('POST', `${BASE}/experiments`, { key: 'exp', name: 'Exp', variations: [{ key: 'control' }, { key: 'treatment' }], metrics: { primary: ['purchases'] }, status: 'running', startedAt: new Date(AT).toISOString() });
    await must('POST', `${BASE}/webhooks`, { name: 'Hook', url: 'https://hooks.example.com/xp', events: ['*'] });
    await must('POST', `${BASE}/sdk-keys`, { environment: 'production', kind: 'server', name: 'Backend' });
    unusedKey = ((await must('POST', `${BASE}/sdk-keys`, { environment: 'development', kind: 'client', name: 'Web' })) as { key: string }).key;
    const sent = await send([exposure('u1', 'exp', 'control', AT, undefined, projectId), exposure('u2', 'exp', 'treatment', AT, undefined, projectId), track('u1', 'purchase', AT + 1000, undefined, undefined, projectId), evaluations([{ flag: 'checkout', variation: 'on', count: 3 }], AT, undefined, projectId)]);
    if (sent.processed !== 4 || sent.failed !== 0) {
      throw new Error(`the project's events were not aggregated: ${JSON.stringify(sent)}`);
    }
  });
  afterAll(async () => {
    await p.close();
  });

  it('is refused while a flag is on in production or an experiment runs, naming them, and nothing is deleted', async () => {
    const refused = await requestAs(p, owner, 'DELETE', BASE, undefined, await version());
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('INVALID_STATE');
    expect(refused.body.error.message).toContain('checkout (production)');
    expect(refused.body.error.message).toContain('experiments are running: exp');
    expect(refused.body.error.details).toEqual({ flags: [{ key: 'checkout', environment: 'production' }], experiments: ['exp'] });
    expect((await must('GET', `${BASE}/flags/checkout`)).key).toBe('checkout');
    expect(await rowsOf('exposures', projectId)).toBe(2);
  });

  it('needs the version read, refuses a stale one, and is not for editors', async () => {
    expect((await requestAs(p, owner, 'DELETE', BASE)).status).toBe(428);
    const stale = await requestAs(p, owner, 'DELETE', BASE, undefined, (await version()) + 5);
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('VERSION_CONFLICT');
    const forbidden = await requestAs(p, editor, 'DELETE', BASE, undefined, await version());
    expect(forbidden.status).toBe(403);
    expect((await must('GET', BASE)).key).toBe(KEY);
  });

  it('deletes everything of the project once its flags are off in production and its experiments stopped, and records it', async () => {
    const flag = (await must('GET', `${BASE}/flags/checkout`)) as { version: number };
    await must('POST', `${BASE}/flags/checkout/environments/production/toggle`, { enabled: false }, flag.version);
    const exp = (await must('GET', `${BASE}/experiments/exp`)) as { version: number };
    await must('POST', `${BASE}/experiments/exp/stop`, { decision: 'inconclusive' }, exp.version);
    // Evaluations the caps left out (a client sending generated keys): their record goes too.
    await p.db.query("INSERT INTO flag_evaluation_drops (project_id, environment, hour, count) VALUES ($1, 'production', date_trunc('hour', now()), 5)", [projectId]);
    expect(await rowsOf('flag_evaluation_drops', projectId)).toBe(1);
    // A flag on in development only does not hold the deletion.
    const deleted = await requestAs(p, owner, 'DELETE', BASE, undefined, await version());
    expect(deleted.status).toBe(204);

    expect((await requestAs(p, owner, 'GET', BASE)).status).toBe(404);
    expect(((await must('GET', '/api/v1/projects')) as { items: { key: string }[] }).items.map((x) => x.key)).not.toContain(KEY);
    for (const table of TABLES) {
      expect({ table, rows: await rowsOf(table, projectId) }).toEqual({ table, rows: 0 });
    }
    // Its keys stop working: one never looked up before answers 401 at once; another project's still works.
    expect((await p.request('GET', '/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': unusedKey } })).status).toBe(401);
    expect((await p.request('GET', '/sdk/v1/ruleset', { headers: { 'X-XP-SDK-Key': p.boot.sdkKeys!.development!.server } })).status).toBe(200);

    const audit = (await must('GET', '/api/v1/audit?action=project.deleted')) as { items: { resourceKey: string; projectId: string | null; diff: unknown }[] };
    expect(audit.items.map((e) => [e.resourceKey, e.projectId])).toEqual([[KEY, null]]);
    expect(JSON.stringify(audit.items[0]!.diff)).toContain(`"id":"${projectId}"`);
    expect(JSON.stringify(audit.items[0]!.diff)).toContain('production');
    const revoked = (await must('GET', '/api/v1/audit?action=sdk-key.revoked')) as { items: { projectId: string }[] };
    expect(revoked.items.filter((e) => e.projectId === projectId)).toHaveLength(2);
    // The history of the project stays in the audit log.
    const created = (await must('GET', '/api/v1/audit?action=flag.created')) as { items: { projectId: string; resourceKey: string }[] };
    expect(created.items.some((e) => e.projectId === projectId && e.resourceKey === 'checkout')).toBe(true);
  });

  it('drops late events of the deleted project (a stream backlog, a replay) without failing the batch, and keeps the rest', async () => {
    const demo = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key <> $1 ORDER BY created_at LIMIT 1", [KEY])).rows[0]!.id;
    const before = await rowsOf('unit_events', demo);
    const late = await send([exposure('u3', 'exp', 'control', AT, undefined, projectId), track('u3', 'purchase', AT + 1000, undefined, undefined, projectId), track('v1', 'purchase', AT, undefined, undefined, demo)]);
    expect(late).toEqual({ processed: 1, failed: 0 });
    for (const table of ['processed_events', 'exposures', 'unit_events', 'explorer_events']) {
      expect({ table, rows: await rowsOf(table, projectId) }).toEqual({ table, rows: 0 });
    }
    expect(await rowsOf('unit_events', demo)).toBe(before + 1);
  });

  it("cancels an environment's open change requests with it: an approval does not apply to one created again under the key", async () => {
    const base = '/api/v1/projects/envs';
    const qa = { key: 'qa', name: 'QA', requireApproval: true };
    await must('POST', '/api/v1/projects', { key: 'envs', name: 'Envs', environments: [{ key: 'development', name: 'Development' }, qa] });
    await must('POST', `${base}/flags`, booleanFlagBody('banner', { qa: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    const proposed = await requestAs(p, editor, 'POST', `${base}/change-requests`, { resourceType: 'flag', resourceKey: 'banner', environment: 'qa', state: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] }, baseVersion: 1 });
    expect(proposed.status).toBe(201);
    const id = proposed.body.id as string;
    await must('POST', `${base}/change-requests/${id}/approve`);

    expect((await requestAs(p, owner, 'DELETE', `${base}/environments/qa`, undefined, 1)).status).toBe(204);
    await must('POST', `${base}/environments`, qa);
    const applied = await requestAs(p, editor, 'POST', `${base}/change-requests/${id}/apply`);
    expect([applied.status, applied.body.error?.message]).toEqual([409, 'change request is cancelled']);
    expect(((await must('GET', `${base}/change-requests/${id}`)) as { status: string }).status).toBe('cancelled');
    const audit = (await must('GET', `/api/v1/audit?project=envs&action=change-request.cancelled`)) as { items: { resourceKey: string; environment: string; diff: unknown }[] };
    expect(audit.items.map((e) => [e.resourceKey, e.environment, e.diff])).toEqual([['banner', 'qa', [{ op: 'add', path: '', to: { changeRequest: id, reason: 'environment deleted' } }]]]);
  });

  it("records each project role and webhook it removes, as their own actions would, and lists the deleted definitions' keys by kind, capped", async () => {
    const base = '/api/v1/projects/crowded';
    await must('POST', '/api/v1/projects', { key: 'crowded', name: 'Crowded', environments: [{ key: 'development', name: 'Development' }] });
    const id = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'crowded'")).rows[0]!.id;
    const editorId = (await p.db.query<{ id: string }>("SELECT id FROM users WHERE email = 'ed@example.com'")).rows[0]!.id;
    await must('PUT', `/api/v1/users/${editorId}/projects/crowded/role`, { role: 'viewer' });
    const first = (await must('POST', `${base}/webhooks`, { name: 'First', url: 'https://hooks.example.com/secret-path?token=t0ps3cret', events: ['flag.*'] })) as { webhook: { id: string } };
    const second = (await must('POST', `${base}/webhooks`, { name: 'Second', url: 'https://other.example.com/', events: ['*'] })) as { webhook: { id: string } };
    await must('POST', `${base}/flags`, booleanFlagBody('b-flag'));
    await must('POST', `${base}/flags`, booleanFlagBody('a-flag'));
    await must('POST', `${base}/metrics`, { key: 'clicks', name: 'Clicks', type: 'count', event: 'click' });
    // More segments than the entry lists (written directly: the API would take a while).
    await p.db.query("INSERT INTO segments (project_id, key, name, definition) SELECT $1, 'seg-' || lpad(i::text, 4, '0'), 'Segment', '{}'::jsonb FROM generate_series(1, 1002) AS i", [id]);

    expect((await requestAs(p, owner, 'DELETE', base, undefined, ((await must('GET', base)) as { version: number }).version)).status).toBe(204);

    const entries = ((await must('GET', '/api/v1/audit?limit=100')) as { items: { action: string; projectId: string | null; resourceKey: string; actorEmail: string; diff: any[] }[] }).items;
    const deleted = entries.find((e) => e.action === 'project.deleted' && e.resourceKey === 'crowded')!;
    const definitions = deleted.diff[0].from.definitions as Record<string, { count: number; keys: string[] }>;
    expect(Object.keys(definitions).sort()).toEqual(['experiments', 'flags', 'holdouts', 'metrics', 'segments']);
    expect(definitions.flags).toEqual({ count: 2, keys: ['a-flag', 'b-flag'] });
    expect(definitions.metrics).toEqual({ count: 1, keys: ['clicks'] });
    expect([definitions.experiments, definitions.holdouts]).toEqual([{ count: 0, keys: [] }, { count: 0, keys: [] }]);
    expect([definitions.segments!.count, definitions.segments!.keys.length, definitions.segments!.keys[0], definitions.segments!.keys.at(-1)]).toEqual([1002, 1000, 'seg-0001', 'seg-1000']);

    const ofProject = entries.filter((e) => e.projectId === id);
    const hooks = ofProject.filter((e) => e.action === 'webhook.deleted');
    expect(hooks.map((e) => e.resourceKey).sort()).toEqual([first.webhook.id, second.webhook.id].sort());
    // The shape of DELETE …/webhooks/{id}'s entry: the webhook as recorded, its URL as a preview only.
    const firstDeleted = hooks.find((e) => e.resourceKey === first.webhook.id)!;
    expect(firstDeleted.diff).toEqual([{ op: 'remove', path: '', from: { name: 'First', url: 'https://hooks.example.com/…', format: 'json', events: ['flag.*'], environments: null, enabled: true } }]);
    expect(JSON.stringify(entries)).not.toMatch(/t0ps3cret|secret-path/);
    // The shape of DELETE /users/{id}/projects/{project}/role's entry, in the user's history.
    const roles = ofProject.filter((e) => e.action === 'user.project-role-removed');
    expect(roles.map((e) => [e.resourceKey, e.actorEmail, e.diff])).toEqual([[editorId, OWNER.email, [{ op: 'remove', path: '/projectRole', from: 'viewer' }]]]);
    const history = ((await must('GET', `/api/v1/audit?resourceType=user&resourceKey=${editorId}`)) as { items: { action: string }[] }).items.map((e) => e.action);
    expect(history.slice(0, 2)).toEqual(['user.project-role-removed', 'user.project-role-set']);
  });

  it('leaves the key free: a new project of that key starts empty', async () => {
    await must('POST', '/api/v1/projects', { key: KEY, name: 'Reborn' });
    expect(((await must('GET', `${BASE}/flags`)) as { items: unknown[] }).items).toEqual([]);
    expect(((await must('GET', `${BASE}/experiments`)) as { items: unknown[] }).items).toEqual([]);
    const fresh = (await p.db.query<{ id: string }>('SELECT id FROM projects WHERE key = $1', [KEY])).rows[0]!.id;
    expect(fresh).not.toBe(projectId);
  });
});
