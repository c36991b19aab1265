import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, startPlatform } from './harness.js';

const PASSWORD = 'a much longer passphrase 42';
const APPLY = '/api/v1/projects/demo/apply';
const ENVS = ['development', 'staging', 'production'];

const segment = (key: string) => ({ key, name: key, type: 'ids', attribute: 'id', values: ['u1', 'u2'] });
const flagUsing = (key: string, seg: string) =>
  booleanFlagBody(key, { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'r1', type: 'force', variation: 'on', segments: [seg] }] } });

describe.each(TARGETS.map((t) => [t().name, t] as const))('POST …/apply on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let editor: string;
  let viewer: string;
  let analyst: string;
  let projectId: string;

  /** The published ruleset version of every environment, as SDKs see them. */
  const published = async (): Promise<number[]> => Promise.all(ENVS.map(async (env) => (await p.rulesets.latest(projectId, env))?.version ?? 0));
  const exists = async (kind: string, key: string): Promise<boolean> => (await requestAs(p, owner, 'GET', `/api/v1/projects/demo/${kind}/${key}`)).status === 200;
  const auditCount = async (): Promise<number> => {
    let n = 0;
    let cursor: string | undefined;
    do {
      const page = await mustAs(p, owner, 'GET', `/api/v1/audit?project=demo&limit=200${cursor === undefined ? '' : `&cursor=${cursor}`}`);
      n += page.items.length;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return n;
  };

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    for (const [email, role] of [
      ['ed@example.com', 'editor'],
      ['vi@example.com', 'viewer'],
      ['an@example.com', 'analyst'],
    ] as const) {
      await mustAs(p, owner, 'POST', '/api/v1/users', { email, name: role, role, password: PASSWORD });
    }
    editor = await p.login('ed@example.com', PASSWORD);
    viewer = await p.login('vi@example.com', PASSWORD);
    analyst = await p.login('an@example.com', PASSWORD);
    projectId = (await mustAs(p, owner, 'GET', '/api/v1/projects/demo')).id;
    await mustAs(p, owner, 'POST', '/api/v1/projects/demo/flags', booleanFlagBody('live', { development: { enabled: true, defaultVariation: 'on', offVariation: 'off' }, production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
  });
  afterAll(async () => {
    await p.close();
  });

  it("applies none of an editor's changes when one of them needs approval in a protected environment, naming that change", async () => {
    const live = await mustAs(p, owner, 'GET', '/api/v1/projects/demo/flags/live');
    const before = { rulesets: await published(), audit: await auditCount() };
    const changes = [
      { kind: 'segments', action: 'create', key: 'apply-beta', definition: segment('apply-beta') },
      { kind: 'flags', action: 'create', key: 'apply-new', definition: flagUsing('apply-new', 'apply-beta') },
      { kind: 'flags', action: 'update', key: 'live', version: live.version, definition: { ...live.definition, environments: { ...live.definition.environments, production: { ...live.definition.environments.production, enabled: true } } } },
    ];

    const refused = await requestAs(p, editor, 'POST', APPLY, { changes });

    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('APPROVAL_REQUIRED');
    expect(refused.body.error.message).toBe('update flag live (change 3 of 3): changes to "production" need an approved change request');
    expect(refused.body.error.details).toMatchObject({ environments: ['production'], change: { index: 2, kind: 'flags', key: 'live', action: 'update' } });
    // The segment and flag before it were written in the same transaction and rolled back with it.
    expect([await exists('segments', 'apply-beta'), await exists('flags', 'apply-new')]).toEqual([false, false]);
    expect(await published()).toEqual(before.rulesets);
    expect(await auditCount()).toBe(before.audit);

    // Without the protected change the same editor's file applies whole, and SDKs get one new version per environment it touched.
    const applied = await mustAs(p, editor, 'POST', APPLY, { changes: changes.slice(0, 2) });
    expect(applied).toEqual({
      dryRun: false,
      changes: [
        { kind: 'segments', key: 'apply-beta', action: 'create', version: 1 },
        { kind: 'flags', key: 'apply-new', action: 'create', version: 1 },
      ],
    });
    const after = await published();
    expect(after.map((v, i) => v - before.rulesets[i]!)).toEqual([1, 1, 1]);
    const development = await p.rulesets.latest(projectId, 'development');
    expect(Object.keys(development!.ruleset.flags)).toContain('apply-new');
    expect(await auditCount()).toBe(before.audit + 2);
  });

  it("judges each of an editor's segment changes by what it alone does to protected rulesets, after flag changes that need no approval", async () => {
    await mustAs(p, owner, 'POST', '/api/v1/projects/demo/segments', segment('prod-seg'));
    await mustAs(p, owner, 'POST', '/api/v1/projects/demo/segments', segment('dev-seg'));
    await mustAs(p, owner, 'POST', '/api/v1/projects/demo/flags', {
      ...flagUsing('prod-user', 'dev-seg'),
      environments: { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'r1', type: 'force', variation: 'on', segments: ['dev-seg'] }] }, production: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'r1', type: 'force', variation: 'on', segments: ['prod-seg'] }] } },
    });
    const flag = await mustAs(p, owner, 'GET', '/api/v1/projects/demo/flags/prod-user');
    const seg = (key: string) => mustAs(p, owner, 'GET', `/api/v1/projects/demo/segments/${key}`);
    // A new variation needs no approval, though production's ruleset changes with it.
    const withVariation = { kind: 'flags', action: 'update', key: 'prod-user', version: flag.version, definition: { ...flag.definition, variations: [...flag.definition.variations, { key: 'extra', value: true }] } };
    const segmentChange = async (key: string) => ({ kind: 'segments', action: 'update', key, version: (await seg(key)).version, definition: { ...segment(key), values: ['u9'] } });
    const before = await published();

    const refused = await requestAs(p, editor, 'POST', APPLY, { changes: [withVariation, await segmentChange('prod-seg')] });
    const applied = await requestAs(p, editor, 'POST', APPLY, { changes: [withVariation, await segmentChange('dev-seg')] });

    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toBe('update segment prod-seg (change 2 of 2): this segment change alters the ruleset of "production", which needs approval; ask an owner or admin to make it');
    expect(applied.status).toBe(200);
    expect((await mustAs(p, owner, 'GET', '/api/v1/projects/demo/flags/prod-user')).definition.variations.map((v: { key: string }) => v.key)).toEqual(['off', 'on', 'extra']);
    expect((await seg('dev-seg')).definition.values).toEqual(['u9']);
    expect((await seg('prod-seg')).definition.values).toEqual(['u1', 'u2']);
    // Every environment lists the flag's variations; development's version moved twice inside the
    // transaction (staged before the guarded segment change, then with it), published once.
    expect((await published()).map((v, i) => v - before[i]!)).toEqual([2, 1, 1]);
  });

  it('checks everything on a dry run and writes nothing: a stale version is refused, an acceptable plan says so', async () => {
    const live = await mustAs(p, owner, 'GET', '/api/v1/projects/demo/flags/live');
    const before = { rulesets: await published(), audit: await auditCount() };
    const renamed = { ...live.definition, name: 'Renamed by a dry run' };

    const ok = await mustAs(p, owner, 'POST', APPLY, { dryRun: true, changes: [{ kind: 'segments', action: 'create', key: 'dry-seg', definition: segment('dry-seg') }, { kind: 'flags', action: 'update', key: 'live', version: live.version, definition: renamed }] });
    const stale = await requestAs(p, owner, 'POST', APPLY, { dryRun: true, changes: [{ kind: 'flags', action: 'update', key: 'live', version: live.version + 5, definition: renamed }] });

    expect(ok).toEqual({ dryRun: true, changes: [{ kind: 'segments', key: 'dry-seg', action: 'create', version: 1 }, { kind: 'flags', key: 'live', action: 'update', version: live.version + 1 }] });
    expect(stale.status).toBe(409);
    expect(stale.body.error.message).toMatch(/^update flag live \(change 1 of 1\): flag "live" is at version \d+, not \d+: read it again/);
    expect(await exists('segments', 'dry-seg')).toBe(false);
    expect((await mustAs(p, owner, 'GET', '/api/v1/projects/demo/flags/live')).definition.name).toBe(live.definition.name);
    expect(await published()).toEqual(before.rulesets);
    expect(await auditCount()).toBe(before.audit);
  });

  it("names each invalid field by its path in the request, and a definition whose key is not the change's", async () => {
    const bad = booleanFlagBody('apply-bad');
    const invalid = await requestAs(p, owner, 'POST', APPLY, {
      changes: [
        { kind: 'segments', action: 'create', key: 'apply-ok', definition: segment('apply-ok') },
        { kind: 'flags', action: 'create', key: 'apply-bad', definition: { ...bad, variations: [{ key: 'off', value: 'no' }, { key: 'on', value: true }] } },
      ],
    });
    const mismatch = await requestAs(p, owner, 'POST', APPLY, { changes: [{ kind: 'segments', action: 'create', key: 'one', definition: segment('other') }] });
    const shapes = await requestAs(p, owner, 'POST', APPLY, { changes: [{ kind: 'segments', action: 'update', key: 'one', definition: segment('one') }, { kind: 'flags', action: 'delete', key: 'live', version: 1, definition: {} }] });

    expect(invalid.status).toBe(400);
    expect(invalid.body.error.details.change).toEqual({ index: 1, kind: 'flags', key: 'apply-bad', action: 'create' });
    expect(invalid.body.error.details.issues.map((i: { path: string }) => i.path)).toEqual(['changes[1].definition.variations[0].value']);
    expect(await exists('segments', 'apply-ok')).toBe(false);
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.details.issues).toEqual([{ path: 'changes[0].definition.key', message: 'must be "one"' }]);
    expect(shapes.status).toBe(400);
    expect(shapes.body.error.details.issues.map((i: { path: string }) => i.path).sort()).toEqual(['body.changes[0].version', 'body.changes[1].definition']);
  });

  it("refuses a viewer and a role without the kind's write permission, and projects of other organisations are not found", async () => {
    const changes = [{ kind: 'segments', action: 'create', key: 'viewer-seg', definition: segment('viewer-seg') }];

    const byViewer = await requestAs(p, viewer, 'POST', APPLY, { changes });
    const unknown = await requestAs(p, owner, 'POST', '/api/v1/projects/nope/apply', { changes });
    const anonymous = await p.request('POST', APPLY, { body: { changes } });

    const byAnalyst = await requestAs(p, analyst, 'POST', APPLY, { changes: [{ kind: 'metrics', action: 'create', key: 'analyst-metric', definition: { key: 'analyst-metric', name: 'M', type: 'conversion', event: 'purchase' } }, ...changes] });

    expect([byViewer.status, byViewer.body.error.code]).toEqual([403, 'FORBIDDEN']);
    // The analyst may write metrics, not segments: the segment is refused by name and the metric before it rolled back.
    expect([byAnalyst.status, byAnalyst.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect(byAnalyst.body.error.message).toBe('create segment viewer-seg (change 2 of 2): your role (analyst) does not allow segments:write');
    expect(await exists('metrics', 'analyst-metric')).toBe(false);
    expect(unknown.status).toBe(404);
    expect(anonymous.status).toBe(401);
    expect(await exists('segments', 'viewer-seg')).toBe(false);
  });
});
