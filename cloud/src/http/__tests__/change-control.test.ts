import { evaluateFlag } from '@xp/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGETS } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, signedInAs, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';

/**
 * Change control in a protected environment (demo's `production` requires approval): what it
 * serves is what is protected, whichever way an editor goes about it, and the audit log ties every
 * applied change to its request and approval and files every change that touched it under it.
 */
describe.each(TARGETS.map((t) => [t().name, t] as const))('change control of protected environments on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let admin: string;
  let editor: string;
  let editor2: string;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    admin = await signedInAs(p, owner, 'admin', 'adm1@example.com');
    editor = await signedInAs(p, owner, 'editor', 'ed1@example.com');
    editor2 = await signedInAs(p, owner, 'editor', 'ed2@example.com');
  });
  afterAll(async () => {
    await p.close();
  });

  /** What production serves for `keys` to unit u1, from its published ruleset. */
  const served = async (...keys: string[]): Promise<Record<string, unknown>> => {
    const ruleset = await mustAs(p, owner, 'GET', `${DEMO}/environments/production/ruleset`);
    return Object.fromEntries(keys.map((k) => {
      const r = evaluateFlag(ruleset.published.ruleset, k, { attributes: { id: 'u1' } });
      return [k, [r.value, r.reason]];
    }));
  };
  const version = async (key: string): Promise<number> => (await mustAs(p, owner, 'GET', `${DEMO}/flags/${key}`)).version as number;

  it('refuses an editor deleting and re-creating a flag off in production with a new off value in one apply (report case A)', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('cc2', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    const before = await served('cc2');
    const recreated = { ...booleanFlagBody('cc2', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }), variations: [{ key: 'off', value: true }, { key: 'on', value: true }] };

    const refused = await requestAs(p, editor, 'POST', `${DEMO}/apply`, {
      changes: [
        { kind: 'flags', action: 'delete', key: 'cc2', version: await version('cc2') },
        { kind: 'flags', action: 'create', key: 'cc2', definition: recreated },
      ],
    });
    const deleted = await requestAs(p, editor, 'DELETE', `${DEMO}/flags/cc2`, undefined, await version('cc2'));

    expect(before).toEqual({ cc2: [false, 'DISABLED'] });
    for (const r of [refused, deleted]) {
      expect([r.status, r.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
      expect(r.body.error.details.environments).toEqual(['production']);
    }
    expect(refused.body.error.details.change).toEqual({ index: 0, kind: 'flags', key: 'cc2', action: 'delete' });
    expect(await served('cc2')).toEqual(before);
    expect(await version('cc2')).toBe(1);
  });

  it("refuses an editor re-creating a prerequisite parent off in production with an off variation that turns its child on (report case B)", async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('par', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('kid', { production: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [{ flag: 'par', variation: 'on' }] } }));
    const before = await served('par', 'kid');
    const parOn = booleanFlagBody('par', { production: { enabled: false, defaultVariation: 'on', offVariation: 'on' } });

    const refused = await requestAs(p, editor, 'POST', `${DEMO}/apply`, {
      changes: [
        { kind: 'flags', action: 'delete', key: 'par', version: 1 },
        { kind: 'flags', action: 'create', key: 'par', definition: parOn },
      ],
    });
    // Nor may the editor archive it first (kid's prerequisite in production names it).
    const archived = await requestAs(p, editor, 'PUT', `${DEMO}/flags/par`, { ...booleanFlagBody('par', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }), archived: true }, 1);

    expect(before).toEqual({ par: [false, 'DISABLED'], kid: [false, 'PREREQUISITE_FAILED'] });
    for (const r of [refused, archived]) {
      expect([r.status, r.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
    }
    expect(await served('par', 'kid')).toEqual(before);
  });

  it('refuses an editor creating a flag whose key was deleted before, or that a prerequisite in production names; a new key off is still allowed', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('gone', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    await mustAs(p, owner, 'DELETE', `${DEMO}/flags/gone`, undefined, 1);
    const again = await requestAs(p, editor, 'POST', `${DEMO}/flags`, { ...booleanFlagBody('gone', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }), variations: [{ key: 'off', value: true }, { key: 'on', value: true }] });
    const fresh = await requestAs(p, editor, 'POST', `${DEMO}/flags`, booleanFlagBody('brand-new', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));

    expect([again.status, again.body.error.code, again.body.error.details.environments]).toEqual([403, 'APPROVAL_REQUIRED', ['production']]);
    expect(fresh.status).toBe(201);
    // An archived flag is in no ruleset: an editor may delete it.
    await mustAs(p, owner, 'PUT', `${DEMO}/flags/brand-new`, { ...booleanFlagBody('brand-new', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }), archived: true }, 1);
    expect((await requestAs(p, editor, 'DELETE', `${DEMO}/flags/brand-new`, undefined, 2)).status).toBe(204);
  });

  it("refuses an editor deleting a flag with someone else's open change request; an admin's deletion cancels it", async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('cr-held', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    const cr = await mustAs(p, editor2, 'POST', `${DEMO}/change-requests`, { resourceType: 'flag', resourceKey: 'cr-held', environment: 'production', baseVersion: 1, state: { enabled: true } });
    await mustAs(p, admin, 'POST', `${DEMO}/change-requests/${cr.id as string}/approve`);
    // Archived by the owner (off in production): out of every ruleset, so only the request stands in the way.
    await mustAs(p, owner, 'PUT', `${DEMO}/flags/cr-held`, { ...booleanFlagBody('cr-held', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }), archived: true }, 1);

    const refused = await requestAs(p, editor, 'DELETE', `${DEMO}/flags/cr-held`, undefined, 2);
    const still = await mustAs(p, owner, 'GET', `${DEMO}/change-requests/${cr.id as string}`);
    const deleted = await requestAs(p, admin, 'DELETE', `${DEMO}/flags/cr-held`, undefined, 2);
    const cancelled = await mustAs(p, owner, 'GET', `${DEMO}/change-requests/${cr.id as string}`);

    expect([refused.status, refused.body.error.code, refused.body.error.details.changeRequests]).toEqual([403, 'APPROVAL_REQUIRED', [cr.id]]);
    expect(still.status).toBe('open');
    expect(deleted.status).toBe(204);
    expect(cancelled.status).toBe('cancelled');
  });

  it('refuses an editor changing what production serves through another environment\'s state, where production has none (from the verifier)', async () => {
    // No state in production: it serves the off variation the other states agree on ("b" here).
    const body = {
      key: 's1',
      name: 'S1',
      type: 'string',
      variations: [{ key: 'a', value: 'A' }, { key: 'b', value: 'B' }],
      environments: { development: { enabled: false, defaultVariation: 'a', offVariation: 'b' } },
    };
    expect((await requestAs(p, editor, 'POST', `${DEMO}/flags`, body)).status).toBe(201);
    const before = await served('s1');

    const refused = await requestAs(p, editor, 'PUT', `${DEMO}/flags/s1/environments/development`, { enabled: false, defaultVariation: 'a', offVariation: 'a' }, 1);
    // Work that leaves production's value alone still goes through.
    const allowed = await requestAs(p, editor, 'PUT', `${DEMO}/flags/s1/environments/development`, { enabled: true, defaultVariation: 'a', offVariation: 'b' }, 1);

    expect(before).toEqual({ s1: ['B', 'DISABLED'] });
    expect([refused.status, refused.body.error.code, refused.body.error.details.environments]).toEqual([403, 'APPROVAL_REQUIRED', ['production']]);
    expect(allowed.status).toBe(200);
    expect(await served('s1')).toEqual(before);
  });

  it('tells an editor making a production flag server-side only to ask an owner or admin, not to propose a change request', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('exposed', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    const refused = await requestAs(p, editor, 'PUT', `${DEMO}/flags/exposed`, { ...booleanFlagBody('exposed', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }), clientSide: false }, 1);

    expect([refused.status, refused.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
    expect(refused.body.error.message).toBe('the flag is served in "production": ask an owner or admin to make it server-side only (browsers and apps start or stop receiving it at once)');
    expect(refused.body.error.message).not.toContain('change-requests');
  });

  it('ties the applied change to its request, its proposer and its approval in the audit log', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('traced', { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } }));
    const cr = await mustAs(p, editor, 'POST', `${DEMO}/change-requests`, { resourceType: 'flag', resourceKey: 'traced', environment: 'production', baseVersion: 1, state: { enabled: true } });
    const approved = await mustAs(p, admin, 'POST', `${DEMO}/change-requests/${cr.id as string}/approve`);
    await mustAs(p, editor, 'POST', `${DEMO}/change-requests/${cr.id as string}/apply`);
    const audit = await mustAs(p, owner, 'GET', '/api/v1/audit?project=demo&resourceKey=traced&action=change-request.*');
    const byAction = Object.fromEntries(audit.items.map((e: { action: string; diff: unknown }) => [e.action, e.diff]));

    expect(byAction['change-request.proposed']).toEqual([
      { op: 'replace', path: '/enabled', from: false, to: true },
      { op: 'add', path: '/changeRequest', to: cr.id },
    ]);
    expect(byAction['change-request.approved']).toEqual([{ op: 'add', path: '', to: { changeRequest: cr.id } }]);
    expect(byAction['change-request.applied']).toEqual([
      { op: 'replace', path: '/environments/production/enabled', from: false, to: true },
      { op: 'add', path: '/changeRequest', to: cr.id },
      { op: 'add', path: '/proposedBy', to: cr.proposedBy },
      { op: 'add', path: '/approvedBy', to: approved.approvedBy },
      { op: 'add', path: '/approvedAt', to: approved.approvedAt },
    ]);
  });

  it('refuses to apply an approved split after its variations were reordered', async () => {
    const body = { ...booleanFlagBody('sp', { production: { enabled: false, defaultVariation: 'a', offVariation: 'a' } }), type: 'string', variations: [{ key: 'a', value: 'a' }, { key: 'b', value: 'b' }] };
    await mustAs(p, editor, 'POST', `${DEMO}/flags`, body);
    const cr = await mustAs(p, editor, 'POST', `${DEMO}/change-requests`, {
      resourceType: 'flag', resourceKey: 'sp', environment: 'production', baseVersion: 1,
      state: { enabled: true, rules: [{ id: 's', type: 'split', seed: 's1', distribution: [{ variation: 'a', weight: 0.5 }, { variation: 'b', weight: 0.5 }] }] },
    });
    await mustAs(p, admin, 'POST', `${DEMO}/change-requests/${cr.id as string}/approve`);
    await mustAs(p, editor, 'PUT', `${DEMO}/flags/sp`, { ...body, variations: [{ key: 'b', value: 'b' }, { key: 'a', value: 'a' }] }, 1);

    const refused = await requestAs(p, editor, 'POST', `${DEMO}/change-requests/${cr.id as string}/apply`);

    expect([refused.status, refused.body.error.code]).toEqual([409, 'VERSION_CONFLICT']);
    expect(refused.body.error.message).toContain('the variations it serves were reordered (a, b → b, a)');
    expect((await mustAs(p, owner, 'GET', `${DEMO}/flags/sp`)).definition.environments.production.enabled).toBe(false);
  });

  it('files creates, deletes and whole-flag changes that touched production under it, in the log and its export alike', async () => {
    const both = (prod: boolean, dev: boolean) => booleanFlagBody('filed', { production: { enabled: prod, defaultVariation: 'on', offVariation: 'off' }, development: { enabled: dev, defaultVariation: 'on', offVariation: 'off' } });
    await mustAs(p, admin, 'POST', `${DEMO}/flags`, both(false, true));
    // A whole-flag PUT changing production and development: filed under no environment.
    await mustAs(p, admin, 'PUT', `${DEMO}/flags/filed`, both(true, false), 1);
    // A development-only change: filed under development.
    await mustAs(p, admin, 'PUT', `${DEMO}/flags/filed`, { ...both(true, false), environments: { ...both(true, false).environments as object, development: { enabled: false, defaultVariation: 'off', offVariation: 'off' } } }, 2);
    // A rename: touches no environment.
    await mustAs(p, admin, 'PUT', `${DEMO}/flags/filed`, { ...both(true, false), environments: { ...both(true, false).environments as object, development: { enabled: false, defaultVariation: 'off', offVariation: 'off' } }, name: 'Filed' }, 3);
    await mustAs(p, admin, 'DELETE', `${DEMO}/flags/filed`, undefined, 4);

    const listed = await mustAs(p, owner, 'GET', '/api/v1/audit?project=demo&resourceType=flag&resourceKey=filed&environment=production');
    const res = await p.request('GET', '/api/v1/audit/export?project=demo&resourceType=flag&resourceKey=filed&environment=production&format=ndjson', { token: owner });
    const exported = String(res.body).trim().split('\n').map((l) => JSON.parse(l) as { id: number; action: string });
    const development = await mustAs(p, owner, 'GET', '/api/v1/audit?project=demo&resourceType=flag&resourceKey=filed&environment=development');

    expect((listed.items as { action: string }[]).map((e) => e.action).reverse()).toEqual(['flag.created', 'flag.updated', 'flag.deleted']);
    expect(exported.map((e) => e.id)).toEqual((listed.items as { id: number }[]).map((e) => e.id).reverse());
    expect((development.items as { action: string }[]).map((e) => e.action).reverse()).toEqual(['flag.created', 'flag.updated', 'flag.updated', 'flag.deleted']);
  });
});
