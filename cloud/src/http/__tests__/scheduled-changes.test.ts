import { evaluateFlag } from '@xp/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduledChangeService } from '../../domain/scheduled-changes.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, signedInAs, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';
const HOUR = 3_600_000;

/**
 * Scheduled changes of a flag's state in one environment: scheduled by whoever may change that state
 * directly, applied once by the per-minute job (run here directly, with the platform's clock moved)
 * through the definitions service, failed with the reason when they no longer apply.
 */
describe.each(TARGETS.map((t) => [t().name, t] as const))('scheduled changes on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let admin: string;
  let editor: string;
  let viewer: string;
  let editorId: string;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    admin = await signedInAs(p, owner, 'admin', 'sc-admin@example.com');
    editor = await signedInAs(p, owner, 'editor', 'sc-editor@example.com');
    viewer = await signedInAs(p, owner, 'viewer', 'sc-viewer@example.com');
    editorId = (await mustAs(p, editor, 'GET', '/api/v1/me')).id as string;
  });
  afterAll(async () => {
    await p.close();
  });

  const inHours = (hours: number): string => new Date(p.now.value.getTime() + hours * HOUR).toISOString();
  const advance = (hours: number): void => {
    p.now.value = new Date(p.now.value.getTime() + hours * HOUR);
  };
  const runJob = async (): Promise<{ applied: string[]; failed: { id: string; reason: string }[] }> => {
    const { applied, failed } = await new ScheduledChangeService(p.services.deps).runDue();
    return { applied, failed };
  };
  const runRequests = async (): Promise<{ applied: string[]; failed: { id: string; reason: string }[] }> => (await new ScheduledChangeService(p.services.deps).runDue()).changeRequests;
  const served = async (environment: string, key: string): Promise<unknown> => {
    const ruleset = await mustAs(p, owner, 'GET', `${DEMO}/environments/${environment}/ruleset`);
    return evaluateFlag(ruleset.published.ruleset, key, { attributes: { id: 'u1' } }).value;
  };
  const auditOf = async (key: string): Promise<{ action: string; actor_id: string | null; client: string; credential_id: string | null }[]> =>
    (await p.db.query<{ action: string; actor_id: string | null; client: string; credential_id: string | null }>('SELECT action, actor_id, client, credential_id FROM audit_log WHERE resource_key = $1 ORDER BY id', [key])).rows;

  it('schedules a change (201, scheduled, its creator), lists it per flag and project-wide, and applies it once when due, as its creator', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('sc-on'));

    const created = await requestAs(p, editor, 'POST', `${DEMO}/flags/sc-on/scheduled-changes`, { environment: 'development', at: inHours(2), state: { enabled: true }, comment: 'launch' });
    const perFlag = await mustAs(p, viewer, 'GET', `${DEMO}/flags/sc-on/scheduled-changes`);
    const calendar = await mustAs(p, viewer, 'GET', `${DEMO}/scheduled-changes?status=scheduled`);
    const early = await runJob();
    advance(1);
    const stillEarly = await runJob();
    advance(1);
    const due = await runJob();
    const again = await runJob();
    const flag = await mustAs(p, owner, 'GET', `${DEMO}/flags/sc-on`);
    const after = await mustAs(p, viewer, 'GET', `${DEMO}/flags/sc-on/scheduled-changes`);
    const audit = await auditOf('sc-on');

    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ flag: 'sc-on', environment: 'development', state: { enabled: true }, comment: 'launch', createdBy: editorId, status: 'scheduled', failure: null });
    expect(perFlag.items.map((s: { id: string }) => s.id)).toEqual([created.body.id]);
    expect(calendar.items.map((s: { id: string }) => s.id)).toContain(created.body.id);
    expect([early, stillEarly]).toEqual([
      { applied: [], failed: [] },
      { applied: [], failed: [] },
    ]);
    expect(due).toEqual({ applied: [created.body.id], failed: [] });
    expect(again).toEqual({ applied: [], failed: [] });
    expect(flag.definition.environments.development.enabled).toBe(true);
    expect(await served('development', 'sc-on')).toBe(true);
    expect(after.items[0]).toMatchObject({ status: 'applied', appliedVersion: flag.version, finishedAt: p.now.value.toISOString() });
    expect(audit.map((a) => a.action)).toEqual(['flag.created', 'flag.change-scheduled', 'flag.updated', 'flag.scheduled-change-applied']);
    // The flag's change by its creator, through the scheduler, naming the scheduled change.
    expect(audit[2]).toEqual({ action: 'flag.updated', actor_id: editorId, client: 'scheduler', credential_id: `scheduled-change:${created.body.id as string}` });
  });

  it('applies the fields it names over the state as it is then: a manual edit made since to other fields stays', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('sc-merge'));
    await mustAs(p, editor, 'POST', `${DEMO}/flags/sc-merge/scheduled-changes`, { environment: 'development', at: inHours(1), state: { enabled: true } });
    await mustAs(p, editor, 'PUT', `${DEMO}/flags/sc-merge/environments/development`, { enabled: false, defaultVariation: 'off', offVariation: 'off' }, 1);

    advance(1);
    const report = await runJob();
    const flag = await mustAs(p, owner, 'GET', `${DEMO}/flags/sc-merge`);

    expect(report.applied).toHaveLength(1);
    expect(flag.definition.environments.development).toMatchObject({ enabled: true, defaultVariation: 'off', offVariation: 'off' });
    expect(flag.version).toBe(3);
  });

  it('marks a change that no longer applies failed, with the reason, audited, and never retries it', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('sc-gone'));
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('sc-demoted'));
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('sc-again'));
    const again = await mustAs(p, editor, 'POST', `${DEMO}/flags/sc-again/scheduled-changes`, { environment: 'development', at: inHours(1), state: { enabled: true } });
    await mustAs(p, owner, 'DELETE', `${DEMO}/flags/sc-again`, undefined, 1);
    advance(0.25);
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('sc-again'));
    const gone = await mustAs(p, editor, 'POST', `${DEMO}/flags/sc-gone/scheduled-changes`, { environment: 'development', at: inHours(1), state: { enabled: true } });
    await mustAs(p, owner, 'DELETE', `${DEMO}/flags/sc-gone`, undefined, 1);
    const demotee = await signedInAs(p, owner, 'editor', 'sc-demoted@example.com');
    const demoteeId = (await mustAs(p, demotee, 'GET', '/api/v1/me')).id as string;
    const demoted = await mustAs(p, demotee, 'POST', `${DEMO}/flags/sc-demoted/scheduled-changes`, { environment: 'development', at: inHours(1), state: { enabled: true } });
    const demoteeVersion = (await mustAs(p, owner, 'GET', `/api/v1/users/${demoteeId}`)).version as number;
    await mustAs(p, owner, 'PATCH', `/api/v1/users/${demoteeId}`, { role: 'viewer' }, demoteeVersion);

    advance(1);
    const first = await runJob();
    const second = await runJob();
    const calendar = await mustAs(p, owner, 'GET', `${DEMO}/scheduled-changes?status=failed`);
    const flag = await mustAs(p, owner, 'GET', `${DEMO}/flags/sc-demoted`);

    expect(first.applied).toEqual([]);
    expect(first.failed).toEqual(
      expect.arrayContaining([
        { id: gone.id, reason: 'flag "sc-gone" was deleted' },
        { id: demoted.id, reason: expect.stringMatching(/is now a viewer and cannot change flags/) },
        { id: again.id, reason: 'flag "sc-again" was deleted and created again since the change was scheduled' },
      ]),
    );
    expect(second).toEqual({ applied: [], failed: [] });
    expect(calendar.items.map((s: { id: string }) => s.id)).toEqual(expect.arrayContaining([gone.id, demoted.id]));
    expect(flag.definition.environments.development.enabled).toBe(false);
    expect((await mustAs(p, owner, 'GET', `${DEMO}/flags/sc-again`)).definition.environments.development.enabled).toBe(false);
    expect((await auditOf('sc-gone')).map((a) => a.action)).toContain('flag.scheduled-change-failed');
  });

  it('refuses bad times and states, and roles that may not change the state directly; in a protected environment only owners and admins schedule and cancel', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('sc-roles', { development: { enabled: false, defaultVariation: 'on', offVariation: 'off' }, production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    const path = `${DEMO}/flags/sc-roles/scheduled-changes`;

    const past = await requestAs(p, editor, 'POST', path, { environment: 'development', at: inHours(-1), state: { enabled: true } });
    const tooFar = await requestAs(p, editor, 'POST', path, { environment: 'development', at: inHours(24 * 400), state: { enabled: true } });
    const empty = await requestAs(p, editor, 'POST', path, { environment: 'development', at: inHours(1), state: {} });
    const unknownVariation = await requestAs(p, editor, 'POST', path, { environment: 'development', at: inHours(1), state: { defaultVariation: 'nope' } });
    const noEnv = await requestAs(p, editor, 'POST', path, { environment: 'staging-x', at: inHours(1), state: { enabled: true } });
    const byViewer = await requestAs(p, viewer, 'POST', path, { environment: 'development', at: inHours(1), state: { enabled: true } });
    const editorInProduction = await requestAs(p, editor, 'POST', path, { environment: 'production', at: inHours(1), state: { enabled: true } });
    const adminInProduction = await requestAs(p, admin, 'POST', path, { environment: 'production', at: inHours(1), state: { enabled: true } });
    const editorCancels = await requestAs(p, editor, 'DELETE', `${path}/${adminInProduction.body.id as string}`);
    const adminCancels = await requestAs(p, admin, 'DELETE', `${path}/${adminInProduction.body.id as string}`);
    const cancelledAgain = await requestAs(p, admin, 'DELETE', `${path}/${adminInProduction.body.id as string}`);
    advance(2);
    const report = await runJob();

    for (const r of [past, tooFar, empty, unknownVariation]) {
      expect([r.status, r.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect(noEnv.status).toBe(404);
    expect([byViewer.status, byViewer.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect([editorInProduction.status, editorInProduction.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
    expect(adminInProduction.status).toBe(201);
    expect([editorCancels.status, editorCancels.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
    expect(adminCancels.status).toBe(200);
    expect(adminCancels.body).toMatchObject({ status: 'cancelled', failure: null });
    expect([cancelledAgain.status, cancelledAgain.body.error.code]).toEqual([409, 'INVALID_STATE']);
    expect(report.applied).not.toContain(adminInProduction.body.id);
    expect((await mustAs(p, owner, 'GET', `${DEMO}/flags/sc-roles`)).definition.environments.production.enabled).toBe(false);
  });

  it('applies an approved change request with applyAt at its time, as its proposer, and not before; one not approved by then fails', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('sc-cr', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('sc-cr-late', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    const propose = (key: string, applyAt: string): Promise<{ status: number; body: any }> =>
      requestAs(p, editor, 'POST', `${DEMO}/change-requests`, { resourceType: 'flag', resourceKey: key, environment: 'production', state: { enabled: true }, baseVersion: 1, applyAt });

    const past = await propose('sc-cr', inHours(-1));
    const crAt = inHours(2);
    const cr = await propose('sc-cr', crAt);
    const unapproved = await propose('sc-cr-late', inHours(2));
    await mustAs(p, admin, 'POST', `${DEMO}/change-requests/${cr.body.id as string}/approve`);
    const early = await requestAs(p, editor, 'POST', `${DEMO}/change-requests/${cr.body.id as string}/apply`);
    const beforeTime = await runRequests();
    advance(2);
    // Its time has come unapproved: approving it now would apply it late.
    const lateApproval = await requestAs(p, admin, 'POST', `${DEMO}/change-requests/${unapproved.body.id as string}/approve`);
    const [a, b] = await Promise.all([runRequests(), runRequests()]);
    const applied = await mustAs(p, viewer, 'GET', `${DEMO}/change-requests/${cr.body.id as string}`);
    const failed = await mustAs(p, viewer, 'GET', `${DEMO}/change-requests/${unapproved.body.id as string}`);
    const audit = await auditOf('sc-cr');

    expect([past.status, past.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(cr.status).toBe(201);
    expect(cr.body.applyAt).toBe(crAt);
    expect([early.status, early.body.error.code]).toEqual([409, 'INVALID_STATE']);
    expect(beforeTime).toEqual({ applied: [], failed: [] });
    expect([lateApproval.status, lateApproval.body.error.code]).toEqual([409, 'INVALID_STATE']);
    expect([...a.applied, ...b.applied]).toEqual([cr.body.id]);
    expect([...a.failed, ...b.failed]).toEqual([{ id: unapproved.body.id, reason: expect.stringMatching(/^it was not approved by its time/) }]);
    expect(applied).toMatchObject({ status: 'applied', failure: null });
    expect(failed).toMatchObject({ status: 'failed' });
    expect(await served('production', 'sc-cr')).toBe(true);
    expect(audit.filter((e) => e.action === 'change-request.applied')).toEqual([{ action: 'change-request.applied', actor_id: editorId, client: 'scheduler', credential_id: `change-request:${cr.body.id as string}` }]);
    expect((await auditOf('sc-cr-late')).map((e) => e.action)).toContain('change-request.failed');
  });

  it('applies changes due at the same instant in the order they were scheduled', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('sc-same'));
    const at = inHours(0.1);
    const first = await mustAs(p, owner, 'POST', `${DEMO}/flags/sc-same/scheduled-changes`, { environment: 'development', at, state: { enabled: false } });
    // Scheduled a moment later (the platform's clock stands still in these tests).
    p.now.value = new Date(p.now.value.getTime() + 1);
    const second = await mustAs(p, owner, 'POST', `${DEMO}/flags/sc-same/scheduled-changes`, { environment: 'development', at, state: { enabled: true, defaultVariation: 'on' } });

    advance(0.1);
    const run = await runJob();
    const flag = await mustAs(p, owner, 'GET', `${DEMO}/flags/sc-same`);

    expect(run.applied.filter((id) => id === first.id || id === second.id)).toEqual([first.id, second.id]);
    expect(flag.definition.environments.development).toMatchObject({ enabled: true, defaultVariation: 'on' });
  });

  it('goes on with other flags when one cannot be applied for now (an outage), and retries it at the next run', async () => {
    for (const key of ['sc-stuck', 'sc-next']) {
      await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody(key));
    }
    const stuck = await mustAs(p, owner, 'POST', `${DEMO}/flags/sc-stuck/scheduled-changes`, { environment: 'development', at: inHours(0.1), state: { enabled: true } });
    const later = await mustAs(p, owner, 'POST', `${DEMO}/flags/sc-stuck/scheduled-changes`, { environment: 'development', at: inHours(0.15), state: { defaultVariation: 'off' } });
    const next = await mustAs(p, owner, 'POST', `${DEMO}/flags/sc-next/scheduled-changes`, { environment: 'development', at: inHours(0.15), state: { enabled: true } });
    // Writes of that flag fail as an unreachable database would make them (not a refusal).
    await p.db.query(`CREATE FUNCTION sc_stuck() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$`);
    await p.db.query(`CREATE TRIGGER sc_stuck BEFORE UPDATE ON flags FOR EACH ROW WHEN (NEW.key = 'sc-stuck') EXECUTE FUNCTION sc_stuck()`);

    advance(0.2);
    const blocked = await runJob();
    await p.db.query('DROP TRIGGER sc_stuck ON flags');
    await p.db.query('DROP FUNCTION sc_stuck()');
    const retried = await runJob();

    expect(blocked.applied).toContain(next.id);
    expect(blocked.applied).not.toContain(stuck.id);
    expect(blocked.applied).not.toContain(later.id);
    expect(blocked.failed).toEqual([]);
    expect(retried.applied.filter((id) => id === stuck.id || id === later.id)).toEqual([stuck.id, later.id]);
  });

  it('applies a due change once when two jobs run at the same time', async () => {
    const keys = ['sc-race-1', 'sc-race-2', 'sc-race-3'];
    const ids: string[] = [];
    for (const key of keys) {
      await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody(key));
      ids.push((await mustAs(p, owner, 'POST', `${DEMO}/flags/${key}/scheduled-changes`, { environment: 'development', at: inHours(1), state: { enabled: true } })).id as string);
    }

    advance(1);
    const [a, b] = await Promise.all([runJob(), runJob()]);
    const versions = await Promise.all(keys.map(async (key) => (await mustAs(p, owner, 'GET', `${DEMO}/flags/${key}`)).version as number));
    const applied = await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log WHERE action = 'flag.scheduled-change-applied' AND resource_key LIKE 'sc-race-%'");

    expect([...a.applied, ...b.applied].sort()).toEqual([...ids].sort());
    expect([...a.failed, ...b.failed]).toEqual([]);
    expect(versions).toEqual([2, 2, 2]);
    expect(applied.rows[0]!.n).toBe(3);
  });
});
