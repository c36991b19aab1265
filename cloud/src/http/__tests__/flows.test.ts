import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, evaluateFlag } from '@xp/shared';
import { TARGETS, pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, signedInAs, startPlatform } from './harness.js';

const FLAG = {
  key: 'checkout-v2',
  name: 'Checkout v2',
  type: 'boolean',
  variations: [
    { key: 'off', value: false },
    { key: 'on', value: true },
  ],
  environments: {
    development: { enabled: true, defaultVariation: 'on', offVariation: 'off' },
    production: { enabled: false, defaultVariation: 'on', offVariation: 'off' },
  },
};

describe.each(TARGETS.map((t) => [t().name, t] as const))('newcomer flow on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;
  let editor: string;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    editor = await signedInAs(p, owner, 'editor', 'ed@example.com');
  });
  afterAll(async () => {
    await p.close();
  });

  it('creates a flag, toggles production through an approved change request, and publishes it', async () => {
    const created = await p.request('POST', '/api/v1/projects/demo/flags', { token: editor, body: FLAG, headers: { 'X-XP-Client': 'vscode' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe('"1"');

    const direct = await p.request('POST', '/api/v1/projects/demo/flags/checkout-v2/environments/production/toggle', { token: editor, body: { enabled: true }, headers: { 'If-Match': '"1"' } });
    expect(direct.status).toBe(403);
    expect(direct.body.error.code).toBe('APPROVAL_REQUIRED');

    const state = { ...FLAG.environments.production, enabled: true, prerequisites: [], rules: [] };
    const proposed = await p.request('POST', '/api/v1/projects/demo/change-requests', { token: editor, body: { resourceType: 'flag', resourceKey: 'checkout-v2', environment: 'production', state, baseVersion: 1 } });
    expect(proposed.status).toBe(201);
    expect(proposed.body.diff).toEqual([{ op: 'replace', path: '/enabled', from: false, to: true }]);
    const id = proposed.body.id as string;

    const selfApprove = await p.request('POST', `/api/v1/projects/demo/change-requests/${id}/approve`, { token: editor });
    expect(selfApprove.status).toBe(403);
    const earlyApply = await p.request('POST', `/api/v1/projects/demo/change-requests/${id}/apply`, { token: editor });
    expect(earlyApply.body.error.code).toBe('INVALID_STATE');

    const rulesetBefore = await p.request('GET', '/api/v1/projects/demo/environments/production/ruleset', { token: owner });
    const approved = await p.request('POST', `/api/v1/projects/demo/change-requests/${id}/approve`, { token: owner });
    expect(approved.status).toBe(200);
    const applied = await p.request('POST', `/api/v1/projects/demo/change-requests/${id}/apply`, { token: editor });
    expect(applied.status).toBe(200);
    expect(applied.body.status).toBe('applied');

    const rulesetAfter = await p.request('GET', '/api/v1/projects/demo/environments/production/ruleset', { token: owner });
    expect(rulesetAfter.body.published.version).toBe(rulesetBefore.body.published.version + 1);
    expect(rulesetAfter.body.expectedVersion).toBe(rulesetAfter.body.published.version);
    expect(evaluateFlag(rulesetAfter.body.published.ruleset, 'checkout-v2', { attributes: { id: 'u1' } })).toMatchObject({ value: true, reason: 'DEFAULT' });

    const audit = await p.request('GET', '/api/v1/audit?project=demo&resourceType=flag&resourceKey=checkout-v2', { token: owner });
    expect(audit.status).toBe(200);
    const actions = (audit.body.items as { action: string; client: string; actorEmail: string }[]).map((e) => `${e.action} by ${e.actorEmail} via ${e.client}`);
    expect(actions).toEqual([
      'change-request.applied by ed@example.com via api',
      'change-request.approved by owner@example.com via api',
      'change-request.proposed by ed@example.com via api',
      'flag.created by ed@example.com via vscode',
    ]);
  });

  it('shows the first state a change request gives a protected environment field by field', async () => {
    const created = await p.request('POST', '/api/v1/projects/demo/flags', { token: editor, body: { ...FLAG, key: 'first-state', environments: { development: FLAG.environments.development } } });
    expect(created.status).toBe(201);
    const state = { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] };
    const proposed = await p.request('POST', '/api/v1/projects/demo/change-requests', { token: editor, body: { resourceType: 'flag', resourceKey: 'first-state', environment: 'production', state, baseVersion: 1 } });

    expect(proposed.status).toBe(201);
    expect(proposed.body.diff).toEqual([
      { op: 'add', path: '/enabled', to: true },
      { op: 'add', path: '/defaultVariation', to: 'on' },
      { op: 'add', path: '/offVariation', to: 'off' },
      { op: 'add', path: '/prerequisites', to: [] },
      { op: 'add', path: '/rules', to: [] },
    ]);
  });

  it('refuses a change request whose state would not compile when it is proposed, not only when applied', async () => {
    for (const key of ['cr-cycle-a', 'cr-cycle-b']) {
      const prerequisites = key === 'cr-cycle-b' ? [{ flag: 'cr-cycle-a', variation: 'on' }] : [];
      const made = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: { ...FLAG, key, environments: { production: { enabled: false, defaultVariation: 'on', offVariation: 'off', prerequisites } } } });
      expect(made.status).toBe(201);
    }
    const propose = (state: Record<string, unknown>) =>
      p.request('POST', '/api/v1/projects/demo/change-requests', {
        token: editor,
        body: { resourceType: 'flag', resourceKey: 'cr-cycle-a', environment: 'production', baseVersion: 1, state: { enabled: false, defaultVariation: 'on', offVariation: 'off', ...state } },
      });
    const before = (await p.request('GET', '/api/v1/projects/demo/change-requests', { token: owner })).body.items.length;

    const cycle = await propose({ prerequisites: [{ flag: 'cr-cycle-b', variation: 'on' }] });
    expect([cycle.status, cycle.body.error.code, cycle.body.error.message]).toEqual([400, 'VALIDATION_FAILED', 'the change leaves environment "production" with broken references']);
    expect(JSON.stringify(cycle.body.error.details.problems)).toMatch(/prerequisites form a cycle \(cr-cycle-[ab] → cr-cycle-[ab] → cr-cycle-[ab]\)/);
    const segment = await propose({ rules: [{ id: 'r1', type: 'force', variation: 'off', segments: ['no-such-segment'] }] });
    expect([segment.status, JSON.stringify(segment.body.error.details.problems)]).toEqual([400, expect.stringContaining('no-such-segment')]);
    expect((await p.request('GET', '/api/v1/projects/demo/change-requests', { token: owner })).body.items.length).toBe(before);
    // A state that compiles is proposed as before.
    expect((await propose({ prerequisites: [] })).status).toBe(201);
  });

  it('does not apply a change request whose approver lost the right to approve since; another reviewer can approve it again', async () => {
    const admin = await p.request('POST', '/api/v1/users', { token: owner, body: { email: 'ada@example.com', name: 'Ada', role: 'admin', password: 'another long passphrase 43' } });
    const adminToken = await p.login('ada@example.com', 'another long passphrase 43');
    const flag = await p.request('POST', '/api/v1/projects/demo/flags', { token: editor, body: { ...FLAG, key: 'approval-kept' } });
    const state = { ...FLAG.environments.production, enabled: true, prerequisites: [], rules: [] };
    const proposed = await p.request('POST', '/api/v1/projects/demo/change-requests', { token: editor, body: { resourceType: 'flag', resourceKey: 'approval-kept', environment: 'production', state, baseVersion: 1 } });
    const id = proposed.body.id as string;
    expect([admin.status, flag.status, proposed.status]).toEqual([201, 201, 201]);
    expect((await p.request('POST', `/api/v1/projects/demo/change-requests/${id}/approve`, { token: adminToken })).status).toBe(200);

    const demoted = await p.request('PATCH', `/api/v1/users/${admin.body.user.id as string}`, { token: owner, body: { role: 'editor' }, headers: { 'If-Match': admin.headers.get('etag')! } });
    const refused = await p.request('POST', `/api/v1/projects/demo/change-requests/${id}/apply`, { token: editor });
    const shown = await p.request('GET', `/api/v1/projects/demo/change-requests/${id}`, { token: editor });
    const listed = await p.request('GET', '/api/v1/projects/demo/change-requests?status=open&resourceKey=approval-kept', { token: editor });
    const reapproved = await p.request('POST', `/api/v1/projects/demo/change-requests/${id}/approve`, { token: owner });
    const twice = await p.request('POST', `/api/v1/projects/demo/change-requests/${id}/approve`, { token: owner });
    const applied = await p.request('POST', `/api/v1/projects/demo/change-requests/${id}/apply`, { token: editor });

    expect(demoted.status).toBe(200);
    expect(refused.status).toBe(409);
    // The demotion withdrew the approval for good (promoting Ada again would not bring it back).
    expect(refused.body.error).toMatchObject({ code: 'INVALID_STATE', message: 'change request is not approved yet' });
    expect([shown.body.approvedBy, shown.body.approvalVoid]).toEqual([null, null]);
    expect(listed.body.items.map((c: { approvedBy: string | null }) => c.approvedBy)).toEqual([null]);
    expect(reapproved.status).toBe(200);
    expect(reapproved.body.approvalVoid).toBeNull();
    expect(twice.body.error.message).toBe('change request is already approved');
    expect(applied.body.status).toBe('applied');
    // Once applied, approving it again is refused for what it is now, as reject and apply are.
    const afterApply = await Promise.all(['approve', 'reject', 'apply'].map((action) => p.request('POST', `/api/v1/projects/demo/change-requests/${id}/${action}`, { token: owner })));
    expect(afterApply.map((r) => [r.status, r.body.error.message])).toEqual([[409, 'change request is applied'], [409, 'change request is applied'], [409, 'change request is applied']]);
  });

  it('lets an editor change a flag whose protected state is unchanged, whatever the key order', async () => {
    const flag = await p.request('GET', '/api/v1/projects/demo/flags/checkout-v2', { token: editor });
    const reordered = Object.fromEntries(Object.entries({ ...flag.body.definition, name: 'Checkout v2 (renamed)' }).reverse());

    const res = await p.request('PUT', '/api/v1/projects/demo/flags/checkout-v2', { token: editor, body: reordered, headers: { 'If-Match': `"${flag.body.version}"` } });

    expect(res.status).toBe(200);
    expect(res.body.definition.name).toBe('Checkout v2 (renamed)');
  });

  it('makes an editor ask for approval to archive a flag that is on in protected production, but not one that is off there', async () => {
    const on = await p.request('GET', '/api/v1/projects/demo/flags/checkout-v2', { token: editor });
    const archiveOn = await p.request('PUT', '/api/v1/projects/demo/flags/checkout-v2', { token: editor, body: { ...on.body.definition, archived: true }, headers: { 'If-Match': `"${on.body.version}"` } });
    const off = await p.request('POST', '/api/v1/projects/demo/flags', { token: editor, body: { ...FLAG, key: 'old-banner' } });
    const archiveOff = await p.request('PUT', '/api/v1/projects/demo/flags/old-banner', { token: editor, body: { ...off.body.definition, archived: true }, headers: { 'If-Match': '"1"' } });

    expect(on.body.definition.environments.production.enabled).toBe(true);
    expect([archiveOn.status, archiveOn.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
    expect(archiveOn.body.error.message).toBe('the flag is on in "production": turn it off there through a change request first, or ask an owner or admin to archive it');
    expect([archiveOff.status, archiveOff.body.archived]).toEqual([200, true]);
  });

  it('makes an editor ask an owner or admin to change the value of a variation a protected environment serves', async () => {
    const banner = {
      key: 'banner-text',
      name: 'Banner text',
      type: 'string',
      variations: [
        { key: 'plain', value: 'Welcome' },
        { key: 'sale', value: 'Sale today' },
      ],
      environments: { production: { enabled: true, defaultVariation: 'sale', offVariation: 'plain' } },
    };
    const created = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: banner });
    const put = (body: unknown, version: number) => p.request('PUT', '/api/v1/projects/demo/flags/banner-text', { token: editor, body, headers: { 'If-Match': `"${version}"` } });

    const changed = await put({ ...banner, variations: [banner.variations[0], { key: 'sale', value: 'Everything is free' }] }, 1);
    const added = await put({ ...banner, variations: [...banner.variations, { key: 'winter', value: 'Winter sale' }] }, 1);
    const ruleset = await p.request('GET', '/api/v1/projects/demo/environments/production/ruleset', { token: owner });

    expect(created.status).toBe(201);
    expect([changed.status, changed.body.error.code, changed.body.error.details]).toEqual([403, 'APPROVAL_REQUIRED', { environments: ['production'] }]);
    expect(added.status).toBe(200);
    expect(evaluateFlag(ruleset.body.published.ruleset, 'banner-text', { attributes: { id: 'u1' } })).toMatchObject({ value: 'Sale today' });
  });

  it('makes an editor ask an owner or admin to make a flag a protected environment serves server-side only, or client-side again', async () => {
    const flag = (key: string, environments: Record<string, unknown>, clientSide?: boolean) => ({
      key,
      name: key,
      type: 'boolean',
      variations: FLAG.variations,
      environments,
      ...(clientSide === undefined ? {} : { clientSide }),
    });
    const state = { enabled: true, defaultVariation: 'on', offVariation: 'off' };
    const put = (body: unknown, version: number, token = editor) => p.request('PUT', `/api/v1/projects/demo/flags/${(body as { key: string }).key}`, { token, body, headers: { 'If-Match': `"${version}"` } });
    for (const body of [flag('promo-banner', { production: state }), flag('dev-only', { development: state })]) {
      expect((await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body })).status).toBe(201);
    }
    const clientSide = async (key: string): Promise<unknown> => (await p.request('GET', `/api/v1/projects/demo/flags/${key}`, { token: owner })).body.definition.clientSide;

    const hidden = await put(flag('promo-banner', { production: state }, false), 1);
    const devOnly = await put(flag('dev-only', { development: state }, false), 1);
    expect([hidden.status, hidden.body.error?.code, hidden.body.error?.details]).toEqual([403, 'APPROVAL_REQUIRED', { environments: ['production'] }]);
    expect(devOnly.status).toBe(200);
    expect([await clientSide('promo-banner'), await clientSide('dev-only')]).toEqual([undefined, false]);

    const byOwner = await put(flag('promo-banner', { production: state }, false), 1, owner);
    expect(byOwner.status).toBe(200);
    expect(await clientSide('promo-banner')).toBe(false);
    // Back to client-side is a change for browsers in production too.
    const shown = await put(flag('promo-banner', { production: state }, true), byOwner.body.version as number);
    expect([shown.status, shown.body.error?.code]).toEqual([403, 'APPROVAL_REQUIRED']);
  });

  it('lets an owner change production directly, with optimistic concurrency', async () => {
    const flag = await p.request('GET', '/api/v1/projects/demo/flags/checkout-v2', { token: owner });
    const version = flag.body.version as number;
    const stale = await p.request('POST', '/api/v1/projects/demo/flags/checkout-v2/environments/production/toggle', { token: owner, body: { enabled: false }, headers: { 'If-Match': `"${version - 1}"` } });
    const missing = await p.request('POST', '/api/v1/projects/demo/flags/checkout-v2/environments/production/toggle', { token: owner, body: { enabled: false } });
    const ok = await p.request('POST', '/api/v1/projects/demo/flags/checkout-v2/environments/production/toggle', { token: owner, body: { enabled: false }, headers: { 'If-Match': `"${version}"` } });

    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'VERSION_CONFLICT', details: { currentVersion: version } });
    expect(missing.status).toBe(428);
    expect(ok.status).toBe(200);
    expect(ok.body.definition.environments.production.enabled).toBe(false);
  });

  it('refuses to delete a metric an experiment lists, or a segment a flag targets, naming the user; deletes them once unused', async () => {
    const base = '/api/v1/projects/demo';
    const metric = await p.request('POST', `${base}/metrics`, { token: editor, body: { key: 'signups', name: 'Signups', type: 'conversion', event: 'signup' } });
    const segment = await p.request('POST', `${base}/segments`, { token: editor, body: { key: 'beta-users', name: 'Beta', type: 'ids', values: ['u1'] } });
    const experiment = await p.request('POST', `${base}/experiments`, {
      token: editor,
      body: { key: 'signup-copy', name: 'Signup copy', variations: [{ key: 'control' }, { key: 'treatment' }], metrics: { guardrails: ['signups'] } },
    });
    const flag = await p.request('POST', `${base}/flags`, {
      token: editor,
      body: { ...FLAG, key: 'beta-banner', environments: { development: { ...FLAG.environments.development, rules: [{ id: 'r1', type: 'force', segments: ['beta-users'], variation: 'on' }] } } },
    });
    expect([metric.status, segment.status, experiment.status, flag.status]).toEqual([201, 201, 201, 201]);

    const metricInUse = await p.request('DELETE', `${base}/metrics/signups`, { token: editor, headers: { 'If-Match': '"1"' } });
    const segmentInUse = await p.request('DELETE', `${base}/segments/beta-users`, { token: editor, headers: { 'If-Match': '"1"' } });
    const stillThere = await p.request('GET', `${base}/metrics/signups`, { token: editor });

    expect([metricInUse.status, metricInUse.body.error.code, metricInUse.body.error.message]).toEqual([
      409,
      'INVALID_STATE',
      'metric "signups" is used by experiment: signup-copy; remove it from them first',
    ]);
    expect(segmentInUse.status).toBe(400);
    expect(segmentInUse.body.error.details.problems).toEqual(['flags.beta-banner.environments.development.rules[0].segments: uses segment "beta-users"']);
    expect(stillThere.status).toBe(200);

    expect((await p.request('DELETE', `${base}/experiments/signup-copy`, { token: editor, headers: { 'If-Match': '"1"' } })).status).toBe(204);
    expect((await p.request('DELETE', `${base}/flags/beta-banner`, { token: editor, headers: { 'If-Match': '"1"' } })).status).toBe(204);
    expect((await p.request('DELETE', `${base}/metrics/signups`, { token: editor, headers: { 'If-Match': '"1"' } })).status).toBe(204);
    expect((await p.request('DELETE', `${base}/segments/beta-users`, { token: editor, headers: { 'If-Match': '"1"' } })).status).toBe(204);
  });

  it('keeps segment references whole outside rulesets: a draft experiment or another segment keeps a segment, and a dangling, self or non-list group reference is refused on save', async () => {
    const base = '/api/v1/projects/demo';
    const post = (kind: string, body: unknown) => p.request('POST', `${base}/${kind}`, { token: editor, body });
    const remove = (key: string) => p.request('DELETE', `${base}/segments/${key}`, { token: editor, headers: { 'If-Match': '"1"' } });
    expect((await post('segments', { key: 'ref-list', name: 'List', type: 'ids', values: ['u1'] })).status).toBe(201);
    expect((await post('segments', { key: 'ref-cond', name: 'Cond', type: 'condition', condition: { country: 'NZ' } })).status).toBe(201);
    expect((await post('segments', { key: 'ref-nested', name: 'Nested', type: 'condition', condition: { id: { $inGroup: 'ref-list' } } })).status).toBe(201);
    expect((await post('experiments', { key: 'ref-draft', name: 'Draft', variations: [{ key: 'control' }, { key: 'treatment' }], segments: ['ref-cond'] })).status).toBe(201);

    const broken = await Promise.all([
      post('segments', { key: 'ref-ghost', name: 'Ghost', type: 'condition', condition: { id: { $inGroup: 'does-not-exist' } } }),
      post('segments', { key: 'ref-self', name: 'Self', type: 'condition', condition: { id: { $inGroup: 'ref-self' } } }),
      post('segments', { key: 'ref-wrong', name: 'Wrong', type: 'condition', condition: { id: { $inGroup: 'ref-cond' } } }),
      post('experiments', { key: 'ref-typo', name: 'Typo', variations: [{ key: 'control' }, { key: 'treatment' }], segments: ['ref-cnod'] }),
      post('flags', { ...FLAG, key: 'ref-off', environments: { development: { ...FLAG.environments.development, enabled: false, rules: [{ id: 'r1', type: 'force', excludeSegments: ['nope'], variation: 'on' }] } } }),
    ]);
    const inUse = [await remove('ref-cond'), await remove('ref-list')];

    expect(broken.map((r) => [r.status, r.body.error.message])).toEqual([
      [400, 'condition: unknown segment "does-not-exist"'],
      [400, 'condition: a segment cannot name itself ("ref-self")'],
      [400, 'condition: segment "ref-cond" is not an id list, so $inGroup / $notInGroup cannot name it (list it in segments instead)'],
      [400, 'segments: unknown segment "ref-cnod"'],
      [400, 'environments.development.rules[0].excludeSegments: unknown segment "nope"'],
    ]);
    expect(inUse.map((r) => [r.status, r.body.error.details.problems])).toEqual([
      [400, ['experiments.ref-draft.segments: uses segment "ref-cond"']],
      [400, ['segments.ref-nested.condition: uses segment "ref-list"']],
    ]);
    // Nor may the id list stop being one while $inGroup names it.
    const retyped = await p.request('PUT', `${base}/segments/ref-list`, { token: editor, body: { key: 'ref-list', name: 'List', type: 'condition', condition: { country: 'NZ' } }, headers: { 'If-Match': '"1"' } });
    expect([retyped.status, retyped.body.error.details.problems]).toEqual([400, ['segments.ref-nested.condition: names segment "ref-list" with $inGroup / $notInGroup, which only an id list can answer']]);

    // A reference broken before these checks existed does not block moving the rules around it.
    const legacy = await post('flags', { ...FLAG, key: 'ref-legacy', environments: { development: { ...FLAG.environments.development, enabled: false, rules: [{ id: 'old', type: 'force', segments: ['ref-cond'], variation: 'on' }] } } });
    // Archived (left out of rulesets), with a segment reference that a check of today would refuse.
    await p.db.query("UPDATE flags SET definition = jsonb_set(jsonb_set(definition, '{environments,development,rules,0,segments}', '[\"gone-since\"]'), '{archived}', 'true') WHERE key = 'ref-legacy'");
    const rules = [{ id: 'new', type: 'force', condition: { country: 'NZ' }, variation: 'on' }, { id: 'old', type: 'force', segments: ['gone-since'], variation: 'on' }];
    const moved = await p.request('PUT', `${base}/flags/ref-legacy`, { token: editor, body: { ...legacy.body.definition, archived: true, environments: { development: { ...legacy.body.definition.environments.development, rules } } }, headers: { 'If-Match': '"1"' } });
    expect([legacy.status, moved.status, moved.body.error?.message]).toEqual([201, 200, undefined]);
    expect((await p.request('DELETE', `${base}/flags/ref-legacy`, { token: editor, headers: { 'If-Match': '"2"' } })).status).toBe(204);
    expect((await p.request('DELETE', `${base}/experiments/ref-draft`, { token: editor, headers: { 'If-Match': '"1"' } })).status).toBe(204);
    expect((await p.request('DELETE', `${base}/segments/ref-nested`, { token: editor, headers: { 'If-Match': '"1"' } })).status).toBe(204);
    expect([(await remove('ref-cond')).status, (await remove('ref-list')).status]).toEqual([204, 204]);
  });

  it('refuses a new order of variations that would move the units of a live split, and takes one that moves nobody', async () => {
    const variations = ['a', 'b', 'c', 'd'].map((key) => ({ key, value: key }));
    const split = { id: 'weights', type: 'split', distribution: [{ variation: 'a', weight: 0.5 }, { variation: 'b', weight: 0.3 }, { variation: 'c', weight: 0.2 }] };
    const body = { key: 'reordered', name: 'Reordered', type: 'string', variations, environments: { development: { enabled: true, defaultVariation: 'a', offVariation: 'a', rules: [split] }, staging: { enabled: false, defaultVariation: 'a', offVariation: 'a', rules: [split] } } };
    const created = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body });
    const served = async (): Promise<string[]> => {
      const ruleset = await p.request('GET', '/api/v1/projects/demo/environments/development/ruleset', { token: owner });
      return Array.from({ length: 300 }, (_, i) => String(evaluateFlag(ruleset.body.published.ruleset, 'reordered', { attributes: { id: `u${i}` } }).value));
    };
    const before = await served();
    const put = (next: unknown[], version: number) => p.request('PUT', '/api/v1/projects/demo/flags/reordered', { token: owner, body: { ...body, variations: next }, headers: { 'If-Match': `"${version}"` } });

    const reversed = await put([...variations].reverse(), 1);
    // A new variation between them gets no share, and staging is off: that moves nobody.
    const harmless = await put([...variations.slice(0, 2), { key: 'e', value: 'e' }, ...variations.slice(2)], 1);

    expect(created.status).toBe(201);
    expect(reversed.status).toBe(400);
    expect(reversed.body.error.message).toContain('split rule "weights" in "development"');
    expect(reversed.body.error.message).not.toContain('staging');
    expect(reversed.body.error.details.issues).toEqual([{ path: 'variations', message: expect.stringContaining('split rule "weights" in "development"') as unknown }]);
    expect(harmless.status).toBe(200);
    expect(await served()).toEqual(before);
  });

  it('refuses to change the type of a flag that is on somewhere, and allows it once it is off everywhere', async () => {
    const created = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: { ...FLAG, key: 'typed' } });
    const asString = { ...FLAG, key: 'typed', type: 'string', variations: [{ key: 'off', value: 'off' }, { key: 'on', value: 'on' }] };
    const put = (body: unknown, version: number) => p.request('PUT', '/api/v1/projects/demo/flags/typed', { token: owner, body, headers: { 'If-Match': `"${version}"` } });

    const refused = await put(asString, created.body.version as number);
    const off = await put({ ...FLAG, key: 'typed', environments: { ...FLAG.environments, development: { ...FLAG.environments.development, enabled: false } } }, created.body.version as number);
    const changed = await put({ ...asString, environments: off.body.definition.environments }, off.body.version as number);

    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toContain('is a boolean flag that is on in "development"');
    expect(refused.body.error.details.issues).toEqual([{ path: 'type', message: 'cannot change from boolean while the flag is on' }]);
    expect(off.status).toBe(200);
    expect([changed.status, changed.body.definition?.type]).toEqual([200, 'string']);
  });

  it('refuses prerequisites that form a cycle, which SDKs could not evaluate', async () => {
    const dev = (prerequisites: { flag: string; variation: string }[]) => ({ development: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites } });
    const parent = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: { ...FLAG, key: 'cycle-a', environments: dev([]) } });
    const child = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: { ...FLAG, key: 'cycle-b', environments: dev([{ flag: 'cycle-a', variation: 'on' }]) } });
    const cycle = await p.request('PUT', '/api/v1/projects/demo/flags/cycle-a/environments/development', {
      token: owner,
      body: dev([{ flag: 'cycle-b', variation: 'on' }]).development,
      headers: { 'If-Match': '"1"' },
    });
    const self = await p.request('GET', '/api/v1/projects/demo/flags/cycle-a', { token: owner });
    const ruleset = await p.request('GET', '/api/v1/projects/demo/environments/development/ruleset', { token: owner });

    expect([parent.status, child.status]).toEqual([201, 201]);
    expect(cycle.status).toBe(400);
    expect(cycle.body.error.code).toBe('VALIDATION_FAILED');
    expect(cycle.body.error.details.problems).toEqual(['flags.cycle-a.prerequisites: prerequisites form a cycle (cycle-a → cycle-b → cycle-a)']);
    expect(self.body.version).toBe(1);
    expect(evaluateFlag(ruleset.body.published.ruleset, 'cycle-b', { attributes: { id: 'u1' } })).toMatchObject({ value: true, reason: 'DEFAULT' });
  });

  it('refuses prerequisites SDKs could only fail: an unknown or archived flag, a variation it lacks; and archiving or deleting a parent', async () => {
    const dev = (prerequisites: { flag: string; variation: string }[]) => ({ development: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites } });
    const create = (key: string, prerequisites: { flag: string; variation: string }[]) =>
      p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: { ...FLAG, key, environments: dev(prerequisites) } });
    const problems = (res: { body: { error: { details: { problems: string[] } } } }): string[] => res.body.error.details.problems;
    expect((await create('pre-parent', [])).status).toBe(201);
    expect((await create('pre-old', [])).status).toBe(201);
    const archived = await p.request('PUT', '/api/v1/projects/demo/flags/pre-old', { token: owner, body: { ...FLAG, key: 'pre-old', archived: true, environments: dev([]) }, headers: { 'If-Match': '"1"' } });
    expect(archived.status).toBe(200);

    const unknown = await create('pre-child', [{ flag: 'no-such-flag', variation: 'on' }]);
    const onArchived = await create('pre-child', [{ flag: 'pre-old', variation: 'on' }]);
    const badVariation = await create('pre-child', [{ flag: 'pre-parent', variation: 'maybe' }]);
    const child = await create('pre-child', [{ flag: 'pre-parent', variation: 'on' }]);
    const archiveParent = await p.request('PUT', '/api/v1/projects/demo/flags/pre-parent', { token: owner, body: { ...FLAG, key: 'pre-parent', archived: true, environments: dev([]) }, headers: { 'If-Match': '"1"' } });
    const deleteParent = await p.request('DELETE', '/api/v1/projects/demo/flags/pre-parent', { token: owner, headers: { 'If-Match': '"1"' } });

    expect([unknown.status, onArchived.status, badVariation.status]).toEqual([400, 400, 400]);
    expect(problems(unknown)).toEqual(['flags.pre-child.prerequisites: unknown flag "no-such-flag"']);
    expect(problems(onArchived)).toEqual(['flags.pre-child.prerequisites: flag "pre-old" is archived']);
    expect(problems(badVariation)).toEqual(['flags.pre-child.prerequisites: flag "pre-parent" has no variation "maybe"']);
    expect(child.status).toBe(201);
    expect([archiveParent.status, deleteParent.status]).toEqual([400, 400]);
    expect(problems(archiveParent)).toEqual(['flags.pre-child.prerequisites: flag "pre-parent" is archived']);
    expect(problems(deleteParent)).toEqual(['flags.pre-child.prerequisites: unknown flag "pre-parent"']);
  });

  it('audits an SDK key revocation once, naming the key, and each active key an environment deletion takes with it', async () => {
    const env = await p.request('POST', '/api/v1/projects/demo/environments', { token: owner, body: { key: 'keys-env', name: 'Keys' } });
    const key = (name: string) => p.request('POST', '/api/v1/projects/demo/sdk-keys', { token: owner, body: { environment: 'keys-env', kind: 'server', name } });
    const [kept, revoked] = [await key('kept key'), await key('revoked key')];
    const first = await p.request('DELETE', `/api/v1/projects/demo/sdk-keys/${revoked.body.sdkKey.id}`, { token: owner });
    const again = await p.request('DELETE', `/api/v1/projects/demo/sdk-keys/${revoked.body.sdkKey.id}`, { token: owner });
    const removed = await p.request('DELETE', '/api/v1/projects/demo/environments/keys-env', { token: owner, headers: { 'If-Match': env.headers.get('etag')! } });
    const audit = await p.request('GET', '/api/v1/audit?project=demo&resourceType=sdk-key&limit=100', { token: owner });
    const entries = (audit.body.items as { action: string; resourceKey: string; environment: string; diff: unknown }[])
      .filter((e) => [kept.body.sdkKey.id, revoked.body.sdkKey.id].includes(e.resourceKey))
      .map((e) => [e.action, e.resourceKey === kept.body.sdkKey.id ? 'kept' : 'revoked', e.environment, e.diff])
      .reverse();

    expect([kept.status, revoked.status, first.status, again.status, removed.status]).toEqual([201, 201, 200, 200, 204]);
    expect(again.body.revokedAt).toBe(first.body.revokedAt);
    const named = (k: { body: { sdkKey: { name: string; prefix: string } } }) => ({ name: k.body.sdkKey.name, kind: 'server', prefix: k.body.sdkKey.prefix });
    expect(entries).toEqual([
      ['sdk-key.created', 'kept', 'keys-env', [{ op: 'add', path: '', to: named(kept) }]],
      ['sdk-key.created', 'revoked', 'keys-env', [{ op: 'add', path: '', to: named(revoked) }]],
      ['sdk-key.revoked', 'revoked', 'keys-env', [{ op: 'remove', path: '', from: named(revoked) }]],
      ['sdk-key.revoked', 'kept', 'keys-env', [{ op: 'remove', path: '', from: named(kept) }]],
    ]);
  });

  it('refuses a flag state or an experiment for an environment the project does not have; a deleted environment leaves no state behind', async () => {
    const typo = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: { ...FLAG, key: 'env-typo', environments: { ...FLAG.environments, prodution: FLAG.environments.production } } });
    const experiment = await p.request('POST', '/api/v1/projects/demo/experiments', {
      token: owner,
      body: { key: 'env-typo-exp', name: 'Typo', variations: [{ key: 'control' }, { key: 'treatment' }], environments: ['development', 'prodution'] },
    });
    const env = await p.request('POST', '/api/v1/projects/demo/environments', { token: owner, body: { key: 'qa', name: 'QA' } });
    const flag = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: { ...FLAG, key: 'env-kept', environments: { ...FLAG.environments, qa: { enabled: false, defaultVariation: 'on', offVariation: 'off' } } } });
    const removed = await p.request('DELETE', '/api/v1/projects/demo/environments/qa', { token: owner, headers: { 'If-Match': env.headers.get('etag')! } });
    // The deletion took qa's state from the flag (a new version): an environment created again under the key starts without it.
    const kept = await p.request('GET', '/api/v1/projects/demo/flags/env-kept', { token: owner });
    const echoed = await p.request('PUT', '/api/v1/projects/demo/flags/env-kept', { token: owner, body: { ...kept.body.definition, name: 'Renamed' }, headers: { 'If-Match': '"2"' } });
    const changedThere = await p.request('PUT', '/api/v1/projects/demo/flags/env-kept', {
      token: owner,
      body: { ...kept.body.definition, environments: { ...kept.body.definition.environments, qa: { enabled: true, defaultVariation: 'on', offVariation: 'off' } } },
      headers: { 'If-Match': '"3"' },
    });

    expect(typo.status).toBe(400);
    expect(typo.body.error.message).toBe('unknown environment "prodution"; the project\'s environments are "development", "staging", "production"');
    expect(typo.body.error.details.issues).toEqual([{ path: 'environments.prodution', message: 'unknown environment; the project\'s environments are "development", "staging", "production"' }]);
    expect(experiment.status).toBe(400);
    expect(experiment.body.error.details.issues[0].path).toBe('environments.1');
    expect([env.status, flag.status, removed.status, echoed.status]).toEqual([201, 201, 204, 200]);
    expect([kept.body.version, Object.keys(kept.body.definition.environments).includes('qa')]).toEqual([2, false]);
    expect(changedThere.status).toBe(400);
    expect(changedThere.body.error.details.issues[0].path).toBe('environments.qa');
  });

  it('treats a project PATCH that changes nothing as a no-op: same version, no audit entry, a stale version still a conflict', async () => {
    const created = await p.request('POST', '/api/v1/projects', { token: owner, body: { key: 'noop-patch', name: 'No-op' } });
    const empty = await p.request('PATCH', '/api/v1/projects/noop-patch', { token: owner, body: {}, headers: { 'If-Match': '"1"' } });
    const same = await p.request('PATCH', '/api/v1/projects/noop-patch', { token: owner, body: { name: 'No-op' }, headers: { 'If-Match': '"1"' } });
    const renamed = await p.request('PATCH', '/api/v1/projects/noop-patch', { token: owner, body: { name: 'Renamed' }, headers: { 'If-Match': '"1"' } });
    const stale = await p.request('PATCH', '/api/v1/projects/noop-patch', { token: owner, body: {}, headers: { 'If-Match': '"1"' } });
    const audit = await p.request('GET', '/api/v1/audit?resourceType=project&resourceKey=noop-patch', { token: owner });

    expect(created.status).toBe(201);
    expect([empty.status, empty.body.version, same.body.version]).toEqual([200, 1, 1]);
    expect([renamed.status, renamed.body.version]).toEqual([200, 2]);
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('VERSION_CONFLICT');
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(['project.updated', 'project.created']);
  });

  it('applies an approval only to what was approved: not to a flag deleted and created again, nor after a segment it names changed', async () => {
    const propose = async (key: string, state: unknown): Promise<string> => {
      const proposed = await p.request('POST', '/api/v1/projects/demo/change-requests', { token: editor, body: { resourceType: 'flag', resourceKey: key, environment: 'production', state, baseVersion: 1 } });
      expect(proposed.status).toBe(201);
      const id = proposed.body.id as string;
      expect((await p.request('POST', `/api/v1/projects/demo/change-requests/${id}/approve`, { token: owner })).status).toBe(200);
      return id;
    };
    const on = { ...FLAG.environments.production, enabled: true, prerequisites: [], rules: [] };

    // Deleted and created again with other values, at version 1 again: by an owner (for an editor,
    // deleting a flag production serves, even off, and creating a deleted key again need approval).
    expect((await p.request('POST', '/api/v1/projects/demo/flags', { token: editor, body: { ...FLAG, key: 'recreated' } })).status).toBe(201);
    const first = await propose('recreated', on);
    expect((await p.request('DELETE', '/api/v1/projects/demo/flags/recreated', { token: editor, headers: { 'If-Match': '"1"' } })).status).toBe(403);
    expect((await p.request('DELETE', '/api/v1/projects/demo/flags/recreated', { token: owner, headers: { 'If-Match': '"1"' } })).status).toBe(204);
    expect((await p.request('POST', '/api/v1/projects/demo/flags', { token: editor, body: { ...FLAG, key: 'recreated', variations: [{ key: 'off', value: false }, { key: 'on', value: false }] } })).status).toBe(403);
    expect((await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: { ...FLAG, key: 'recreated', variations: [{ key: 'off', value: false }, { key: 'on', value: false }] } })).status).toBe(201);
    const afterDelete = await p.request('POST', `/api/v1/projects/demo/change-requests/${first}/apply`, { token: editor });
    expect(afterDelete.status).toBe(409);
    expect(afterDelete.body.error.message).toBe('change request is cancelled');
    const audit = await p.request('GET', '/api/v1/audit?project=demo&resourceKey=recreated', { token: owner });
    const cancelled = audit.body.items.filter((e: { action: string }) => e.action === 'change-request.cancelled');
    expect(cancelled.map((e: { diff: unknown }) => e.diff)).toEqual([[{ op: 'add', path: '', to: { changeRequest: first, reason: 'flag deleted' } }]]);

    // A segment nothing in production used (so an editor could change it) widened after the approval.
    expect((await p.request('POST', '/api/v1/projects/demo/segments', { token: editor, body: { key: 'cr-beta', name: 'cr-beta', type: 'ids', attribute: 'id', values: ['u1'] } })).status).toBe(201);
    expect((await p.request('POST', '/api/v1/projects/demo/flags', { token: editor, body: { ...FLAG, key: 'cr-targeted' } })).status).toBe(201);
    const second = await propose('cr-targeted', { ...on, defaultVariation: 'off', rules: [{ id: 'beta', type: 'force', segments: ['cr-beta'], variation: 'on' }] });
    const widened = await p.request('PUT', '/api/v1/projects/demo/segments/cr-beta', { token: editor, body: { key: 'cr-beta', name: 'cr-beta', type: 'ids', attribute: 'id', values: ['u1', 'everyone-else'] }, headers: { 'If-Match': '"1"' } });
    const refused = await p.request('POST', `/api/v1/projects/demo/change-requests/${second}/apply`, { token: editor });
    const shown = await p.request('GET', `/api/v1/projects/demo/change-requests/${second}`, { token: editor });
    const reapproved = await p.request('POST', `/api/v1/projects/demo/change-requests/${second}/approve`, { token: owner });
    const applied = await p.request('POST', `/api/v1/projects/demo/change-requests/${second}/apply`, { token: editor });

    expect(widened.status).toBe(200);
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toBe('the approval no longer counts: segment "cr-beta" changed since the approval; ask another reviewer to approve it again');
    expect(shown.body.approvalVoid).toBe('segment "cr-beta" changed since the approval');
    expect(reapproved.status).toBe(200);
    expect(applied.body.status).toBe('applied');
  });

  it("makes an editor ask an owner or admin to change where a stopped experiment's links send production visitors", async () => {
    const landing = { key: 'stopped-links', name: 'Links', type: 'split-url', environments: ['production'], variations: [{ key: 'a', url: 'https://shop.example/a' }, { key: 'b', url: 'https://shop.example/b' }] };
    const created = await p.request('POST', '/api/v1/projects/demo/experiments', { token: owner, body: landing });
    const started = await p.request('POST', '/api/v1/projects/demo/experiments/stopped-links/start', { token: owner, headers: { 'If-Match': created.headers.get('etag')! } });
    const stopped = await p.request('POST', '/api/v1/projects/demo/experiments/stopped-links/stop', { token: owner, body: { decision: 'rollback' }, headers: { 'If-Match': started.headers.get('etag')! } });
    expect([created.status, started.status, stopped.status]).toEqual([201, 200, 200]);
    const current = stopped.body.definition as Record<string, unknown>;
    const put = (body: unknown) => p.request('PUT', '/api/v1/projects/demo/experiments/stopped-links', { token: editor, body, headers: { 'If-Match': stopped.headers.get('etag')! } });

    const noBody = await p.request('POST', '/api/v1/projects/demo/experiments', { token: owner, body: { ...landing, key: 'stopped-no-body' } });
    const noBodyStarted = await p.request('POST', '/api/v1/projects/demo/experiments/stopped-no-body/start', { token: owner, headers: { 'If-Match': noBody.headers.get('etag')! } });
    const noBodyStopped = await p.request('POST', '/api/v1/projects/demo/experiments/stopped-no-body/stop', { token: owner, headers: { 'If-Match': noBodyStarted.headers.get('etag')! } });
    expect([noBodyStopped.status, noBodyStopped.body.definition?.status]).toEqual([200, 'stopped']);

    const repointed = await put({ ...current, variations: [{ key: 'a', url: 'https://elsewhere.example/a' }, { key: 'b', url: 'https://shop.example/b' }] });
    const released = await put({ ...current, decision: 'ship', winner: 'b', releaseWinner: true });
    const described = await put({ ...current, hypothesis: 'what we learnt' });

    expect(repointed.status).toBe(403);
    expect(repointed.body.error).toMatchObject({ code: 'APPROVAL_REQUIRED', details: { environments: ['production'] } });
    expect(released.status).toBe(403);
    expect(described.status).toBe(200);

    // Created stopped (as an import does) with live production links; moved into production once
    // stopped in development; deleted while its links still answer: each needs an owner or admin.
    const imported = { ...landing, key: 'imported-links', status: 'stopped', startedAt: '2026-11-01T00:00:00Z', variations: [{ key: 'a', url: 'https://evil.example/a' }, { key: 'b', url: 'https://shop.example/b' }] };
    const createdStopped = await p.request('POST', '/api/v1/projects/demo/experiments', { token: editor, body: imported });
    const devStopped = await p.request('POST', '/api/v1/projects/demo/experiments', { token: editor, body: { ...imported, key: 'dev-links', environments: ['development'] } });
    const moved = await p.request('PUT', '/api/v1/projects/demo/experiments/dev-links', { token: editor, body: { ...devStopped.body.definition, environments: ['development', 'production'] }, headers: { 'If-Match': devStopped.headers.get('etag')! } });
    const deleted = await p.request('DELETE', '/api/v1/projects/demo/experiments/stopped-links', { token: editor, headers: { 'If-Match': stopped.headers.get('etag')! } });
    const links = await p.request('GET', '/api/v1/projects/demo/experiments/stopped-links', { token: editor });

    expect(createdStopped.status).toBe(403);
    expect(createdStopped.body.error).toMatchObject({ code: 'APPROVAL_REQUIRED', details: { environments: ['production'] } });
    expect(devStopped.status).toBe(201);
    expect(moved.status).toBe(403);
    expect(deleted.status).toBe(403);
    expect(links.status).toBe(200);
  });

  it('makes an editor ask an owner or admin for a segment or experiment change that would reach protected production\'s ruleset', async () => {
    const segment = (key: string, values: string[]) => ({ key, name: key, type: 'ids', attribute: 'id', values });
    const targeted = (key: string, segmentKey: string, environment: string) => ({
      ...FLAG,
      key,
      environments: { [environment]: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'beta', type: 'force', segments: [segmentKey], variation: 'on' }] } },
    });
    expect((await p.request('POST', '/api/v1/projects/demo/segments', { token: owner, body: segment('prod-beta', ['u1']) })).status).toBe(201);
    expect((await p.request('POST', '/api/v1/projects/demo/segments', { token: owner, body: segment('dark-beta', ['u1']) })).status).toBe(201);
    expect((await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: targeted('uses-prod-beta', 'prod-beta', 'production') })).status).toBe(201);
    expect((await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: targeted('uses-dark-beta', 'dark-beta', 'development') })).status).toBe(201);
    const experiment = (key: string, environments: string[]) => ({ key, name: key, variations: [{ key: 'control' }, { key: 'treatment' }], environments });
    await p.request('POST', '/api/v1/projects/demo/experiments', { token: editor, body: experiment('dev-only', ['development']) });
    await p.request('POST', '/api/v1/projects/demo/experiments', { token: editor, body: experiment('everywhere', []) });

    const liveSegment = await p.request('PUT', '/api/v1/projects/demo/segments/prod-beta', { token: editor, body: segment('prod-beta', ['u1', 'u2']), headers: { 'If-Match': '"1"' } });
    const offSegment = await p.request('PUT', '/api/v1/projects/demo/segments/dark-beta', { token: editor, body: segment('dark-beta', ['u1', 'u2']), headers: { 'If-Match': '"1"' } });
    const devStart = await p.request('POST', '/api/v1/projects/demo/experiments/dev-only/start', { token: editor, headers: { 'If-Match': '"1"' } });
    const prodStart = await p.request('POST', '/api/v1/projects/demo/experiments/everywhere/start', { token: editor, headers: { 'If-Match': '"1"' } });
    const ownerStart = await p.request('POST', '/api/v1/projects/demo/experiments/everywhere/start', { token: owner, headers: { 'If-Match': '"1"' } });
    const segmentAfter = await p.request('GET', '/api/v1/projects/demo/segments/prod-beta', { token: owner });

    expect(liveSegment.status).toBe(403);
    expect(liveSegment.body.error).toMatchObject({
      code: 'APPROVAL_REQUIRED',
      message: 'this segment change alters the ruleset of "production", which needs approval; ask an owner or admin to make it',
      details: { environments: ['production'] },
    });
    expect(segmentAfter.body).toMatchObject({ version: 1, definition: { values: ['u1'] } });
    expect(offSegment.status).toBe(200);
    expect(devStart.status).toBe(200);
    expect(prodStart.status).toBe(403);
    expect(prodStart.body.error.details.environments).toEqual(['production']);
    expect(ownerStart.status).toBe(200);

    // Deleting a stopped experiment deletes its results for good: where it ran in production, an editor may not.
    const stop = (key: string, token: string, version: string) => p.request('POST', `/api/v1/projects/demo/experiments/${key}/stop`, { token, body: { decision: 'inconclusive' }, headers: { 'If-Match': version } });
    const remove = (key: string, token: string, version: string) => p.request('DELETE', `/api/v1/projects/demo/experiments/${key}`, { token, headers: { 'If-Match': version } });
    expect([(await stop('dev-only', editor, '"2"')).status, (await stop('everywhere', owner, '"2"')).status]).toEqual([200, 200]);
    const editorDeletesDev = await remove('dev-only', editor, '"3"');
    const editorDeletesProd = await remove('everywhere', editor, '"3"');
    const stillMeasured = await p.request('GET', '/api/v1/projects/demo/experiments/everywhere', { token: editor });
    const ownerDeletesProd = await remove('everywhere', owner, '"3"');

    expect(editorDeletesDev.status).toBe(204);
    expect([editorDeletesProd.status, editorDeletesProd.body.error.code, editorDeletesProd.body.error.details]).toEqual([403, 'APPROVAL_REQUIRED', { environments: ['production'] }]);
    expect(editorDeletesProd.body.error.message).toBe('experiment "everywhere" ran in "production"; deleting it deletes its results there for good: ask an owner or admin to delete it');
    expect(stillMeasured.status).toBe(200);
    expect(ownerDeletesProd.status).toBe(204);

    // Nor by taking it out of production first.
    await p.request('POST', '/api/v1/projects/demo/experiments', { token: owner, body: experiment('narrowed', []) });
    expect([(await p.request('POST', '/api/v1/projects/demo/experiments/narrowed/start', { token: owner, headers: { 'If-Match': '"1"' } })).status, (await stop('narrowed', owner, '"2"')).status]).toEqual([200, 200]);
    const stopped = (await p.request('GET', '/api/v1/projects/demo/experiments/narrowed', { token: editor })).body.definition;
    const narrowed = await p.request('PUT', '/api/v1/projects/demo/experiments/narrowed', { token: editor, body: { ...stopped, environments: ['development'] }, headers: { 'If-Match': '"3"' } });
    const deleted = await remove('narrowed', editor, '"3"');
    expect([narrowed.status, narrowed.body.error.code, narrowed.body.error.details]).toEqual([403, 'APPROVAL_REQUIRED', { environments: ['production'] }]);
    expect([deleted.status, deleted.body.error.code]).toEqual([403, 'APPROVAL_REQUIRED']);
  });

  it('writes nothing for a user PATCH that changes nothing; a stale version is still a conflict', async () => {
    const invited = await p.request('POST', '/api/v1/users', { token: owner, body: { email: 'noop-user@example.com', name: 'Noop', role: 'viewer' } });
    const id = invited.body.user.id as string;
    const same = await p.request('PATCH', `/api/v1/users/${id}`, { token: owner, body: { name: 'Noop', role: 'viewer', disabled: false }, headers: { 'If-Match': '"1"' } });
    const stale = await p.request('PATCH', `/api/v1/users/${id}`, { token: owner, body: { name: 'Noop' }, headers: { 'If-Match': '"7"' } });
    const renamed = await p.request('PATCH', `/api/v1/users/${id}`, { token: owner, body: { name: 'Renamed' }, headers: { 'If-Match': '"1"' } });
    const audit = await p.request('GET', `/api/v1/audit?resourceType=user&resourceKey=${id}&action=user.updated`, { token: owner });

    expect([same.status, same.body.version, stale.status, renamed.body.version]).toEqual([200, 1, 409, 2]);
    expect(audit.body.items).toHaveLength(1);
  });

  it('writes nothing for a PUT or toggle that changes nothing: same version, no audit entry, no new ruleset; a stale version is still a conflict', async () => {
    const created = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: { ...FLAG, key: 'noop-flag' } });
    const rulesetBefore = await p.request('GET', '/api/v1/projects/demo/environments/development/ruleset', { token: owner });
    const same = await p.request('PUT', '/api/v1/projects/demo/flags/noop-flag', { token: owner, body: created.body.definition, headers: { 'If-Match': '"1"' } });
    const sameToggle = await p.request('POST', '/api/v1/projects/demo/flags/noop-flag/environments/development/toggle', { token: owner, body: { enabled: true }, headers: { 'If-Match': '"1"' } });
    const changed = await p.request('POST', '/api/v1/projects/demo/flags/noop-flag/environments/development/toggle', { token: owner, body: { enabled: false }, headers: { 'If-Match': '"1"' } });
    const stale = await p.request('PUT', '/api/v1/projects/demo/flags/noop-flag', { token: owner, body: changed.body.definition, headers: { 'If-Match': '"1"' } });
    const rulesetAfter = await p.request('GET', '/api/v1/projects/demo/environments/development/ruleset', { token: owner });
    const audit = await p.request('GET', '/api/v1/audit?project=demo&resourceType=flag&resourceKey=noop-flag', { token: owner });

    expect([same.status, same.body.version, same.headers.get('etag')]).toEqual([200, 1, '"1"']);
    expect([sameToggle.status, sameToggle.body.version]).toEqual([200, 1]);
    expect([changed.status, changed.body.version]).toEqual([200, 2]);
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'VERSION_CONFLICT', details: { currentVersion: 2 } });
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(['flag.disabled', 'flag.created']);
    expect(rulesetAfter.body.published.version).toBe(rulesetBefore.body.published.version + 1);
  });

  it('serves the OpenAPI document and the docs UI', async () => {
    const doc = await p.request('GET', '/openapi.json');
    const docs = await p.request('GET', '/docs');
    const css = await p.request('GET', '/docs/assets/swagger-ui.css');
    const init = await p.request('GET', '/docs/assets/init.js');
    const unknownAsset = await p.request('GET', '/docs/assets/nope.js');

    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toContain('/api/v1/projects/{project}/flags/{key}');
    expect(JSON.stringify(doc.body)).not.toContain('__shared');
    const refs = [...JSON.stringify(doc.body).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    const missing = refs.filter((name) => !(name in doc.body.components.schemas));
    expect(refs.length).toBeGreaterThan(50);
    expect(missing).toEqual([]);
    const operations = Object.values(doc.body.paths as Record<string, Record<string, { 'x-permission'?: string; security?: unknown }>>).flatMap((o) => Object.values(o));
    expect(operations.filter((o) => o.security !== undefined && o['x-permission'] === undefined)).toEqual([]);
    // Every error an operation can answer is declared: login's wrong password and PASSWORD_CHANGE_REQUIRED, and 431/500/503 everywhere.
    const paths = doc.body.paths as Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: { required: boolean } }>>;
    expect(Object.keys(paths['/api/v1/auth/login']!.post!.responses).sort()).toEqual(['200', '400', '401', '403', '413', '429', '431', '500', '503']);
    expect(Object.values(paths).flatMap((o) => Object.values(o)).filter((o) => !('503' in o.responses))).toEqual([]);
    // A rate limit outside login (a wrong current password, too many open streams), and bodies that are not JSON.
    for (const path of ['/api/v1/me/password', '/api/v1/projects/{project}/changes/stream', '/api/v1/projects/{project}/events/stream']) {
      expect([path, '429' in Object.values(paths[path]!)[0]!.responses]).toEqual([path, true]);
    }
    expect(paths['/api/v1/projects/{project}/experiments/{key}/results.csv']!.get!.responses['200']).toMatchObject({ content: { 'text/csv': { schema: { type: 'string' } } } });
    expect(paths['/api/v1/projects/{project}/changes/stream']!.get!.responses['200']).toMatchObject({ content: { 'text/event-stream': { schema: { type: 'string' } } } });
    expect(paths['/api/v1/projects/{project}/experiments/{key}/stop']!.post!.requestBody?.required).toBe(false);
    expect(paths['/api/v1/projects/{project}/flags']!.post!.requestBody?.required).toBe(true);
    expect(docs.status).toBe(200);
    expect(String(docs.body)).toContain('swagger-ui-bundle.js');
    // The console's policy, as the AWS distribution sends for /docs.
    expect(docs.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(css.status).toBe(200);
    expect([init.status, String(init.body)]).toEqual([200, expect.stringContaining("url: '/openapi.json'")]);
    expect(unknownAsset.status).toBe(404);
    // Every route pattern suits Hono's fast router: one it cannot take (a static path beside a parameter
    // at the same place had done it) sends every request, SDK ones included, through the slower trie.
    expect(p.app.router.name).toBe('SmartRouter + RegExpRouter');
  });
});

describe('new projects', () => {
  it('get development, staging and a protected production unless they name their own', async () => {
    const p = await startPlatform(pgliteTarget());
    try {
      const owner = await p.login(OWNER.email, OWNER.password);

      const defaulted = await p.request('POST', '/api/v1/projects', { token: owner, body: { key: 'shop', name: 'Shop' } });
      const custom = await p.request('POST', '/api/v1/projects', { token: owner, body: { key: 'api', name: 'API', environments: [{ key: 'live', name: 'Live', production: true }] } });
      const duplicate = await p.request('POST', '/api/v1/projects', { token: owner, body: { key: 'dup', name: 'Dup', environments: [{ key: 'a', name: 'A' }, { key: 'a', name: 'A2' }] } });
      const shopEnvs = await p.request('GET', '/api/v1/projects/shop/environments', { token: owner });
      const apiEnvs = await p.request('GET', '/api/v1/projects/api/environments', { token: owner });

      expect(defaulted.status).toBe(201);
      expect(shopEnvs.body.items.map((e: { key: string; requireApproval: boolean }) => `${e.key}:${e.requireApproval}`)).toEqual(['development:false', 'staging:false', 'production:true']);
      expect(custom.status).toBe(201);
      expect(apiEnvs.body.items.map((e: { key: string }) => e.key)).toEqual(['live']);
      expect(duplicate.status).toBe(400);
    } finally {
      await p.close();
    }
  });
});
