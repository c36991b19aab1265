import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget, postgresTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, signedInAs, startPlatform } from './harness.js';

const DEMO = '/api/v1/projects/demo';
const PATH = `${DEMO}/code-refs`;

const ref = (flagKey: string, line: number, path = 'src/app.ts') => ({ flagKey, path, line, column: 7, snippet: `isOn('${flagKey}')`, language: 'typescript' });

interface Listed {
  references: { flagKey: string; repository: string; branch: string; path: string; line: number; column: number }[];
  total: number;
  nextCursor?: string;
}

describe.each([
  ['pglite', pgliteTarget],
  ['postgres', postgresTarget],
])('code references: pages, filters, branches, deletion (%s)', (_name, target) => {
  let p: Platform;
  let owner: string;
  let editor: string;
  let viewer: string;
  const upload = (repository: string, branch: string, references: unknown[], token = editor) => mustAs(p, token, 'POST', PATH, { repository, branch, references });

  beforeAll(async () => {
    p = await startPlatform(target());
    owner = await p.login(OWNER.email, OWNER.password);
    editor = await signedInAs(p, owner, 'editor', 'editor@example.com');
    viewer = await signedInAs(p, owner, 'viewer', 'viewer@example.com');
  }, 60_000);
  afterAll(async () => {
    await p.close();
  });

  it('pages through every reference with the cursor, in one stable order, with the total on every page', async () => {
    // Keys sorting late (window-ended) sat past the old cut-off; several branches share paths and lines.
    const keys = ['alpha', 'beta', 'rollout-02', 'window-ended'];
    for (const branch of ['main', 'b1', 'b2']) {
      await upload('acme/big', branch, keys.flatMap((k, i) => [ref(k, i + 1), ref(k, i + 1, 'src/other.ts')]));
    }
    await upload('acme/shop', 'main', [ref('window-ended', 3)]);

    const seen: Listed['references'] = [];
    const totals: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = (await mustAs(p, viewer, 'GET', `${PATH}?limit=5${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)) as Listed;
      seen.push(...page.references);
      totals.push(page.total);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined);

    expect(pages).toBe(5);
    expect(new Set(totals)).toEqual(new Set([25]));
    const ids = seen.map((r) => [r.flagKey, r.repository, r.branch, r.path, r.line, r.column].join('|'));
    expect(new Set(ids).size).toBe(25);
    const whole = (await mustAs(p, viewer, 'GET', PATH)) as Listed;
    expect(whole.total).toBe(25);
    expect(whole.nextCursor).toBeUndefined();
    expect(whole.references.map((r) => [r.flagKey, r.repository, r.branch, r.path, r.line, r.column].join('|'))).toEqual(ids);
    expect(seen.filter((r) => r.flagKey === 'window-ended').map((r) => `${r.repository}@${r.branch}`)).toContain('acme/shop@main');
  });

  it('refuses a cursor it did not give and a limit above the maximum', async () => {
    const bad = await requestAs(p, viewer, 'GET', `${PATH}?cursor=bm90LWEtY3Vyc29y`);
    const tooMany = await requestAs(p, viewer, 'GET', `${PATH}?limit=5001`);

    expect([bad.status, bad.body.error.code, bad.body.error.details.issues]).toEqual([400, 'VALIDATION_FAILED', [{ path: 'query.cursor', message: 'not a cursor of this list' }]]);
    expect([tooMany.status, tooMany.body.error.details.issues[0].path]).toEqual([400, 'query.limit']);
  });

  it('treats repository names without case, and filters by repository, branch and flag', async () => {
    await upload('Case/Repo', 'main', [ref('alpha', 1), ref('beta', 2)]);
    const again = await upload('case/REPO', 'main', [ref('alpha', 5)]);

    expect(again).toEqual({ repository: 'case/repo', branch: 'main', stored: 1, replaced: 2, flags: 1 });
    const filtered = (await mustAs(p, viewer, 'GET', `${PATH}?repository=CASE/Repo&branch=main`)) as Listed;
    expect(filtered.references.map((r) => [r.repository, r.branch, r.flagKey, r.line])).toEqual([['case/repo', 'main', 'alpha', 5]]);
    expect(filtered.total).toBe(1);
    const byFlag = (await mustAs(p, viewer, 'GET', `${PATH}?repository=acme/big&branch=b1&flag=beta`)) as Listed;
    expect([byFlag.total, byFlag.references.map((r) => r.path)]).toEqual([2, ['src/app.ts', 'src/other.ts']]);
  });

  it('lists the uploaded branches and counts each flag per branch', async () => {
    await upload('acme/counts', 'main', [ref('gamma', 1), ref('gamma', 2), ref('delta', 3)]);
    await upload('acme/counts', 'dev', [ref('gamma', 9)]);

    const { branches } = await mustAs(p, viewer, 'GET', `${PATH}/branches?repository=ACME/counts`);
    expect(branches).toEqual([
      { repository: 'acme/counts', branch: 'dev', commit: null, uploadedAt: p.now.value.toISOString(), references: 1, flags: 1 },
      { repository: 'acme/counts', branch: 'main', commit: null, uploadedAt: p.now.value.toISOString(), references: 3, flags: 2 },
    ]);
    const { flags } = await mustAs(p, viewer, 'GET', `${PATH}/flags?repository=acme/counts`);
    expect(flags).toEqual([
      { flagKey: 'delta', references: 1, branches: [{ repository: 'acme/counts', branch: 'main', references: 1 }] },
      {
        flagKey: 'gamma',
        references: 3,
        branches: [
          { repository: 'acme/counts', branch: 'dev', references: 1 },
          { repository: 'acme/counts', branch: 'main', references: 2 },
        ],
      },
    ]);
  });

  it("deletes a branch's references for an uploader, on record, and refuses a viewer", async () => {
    await upload('acme/gone', 'feature-x', [ref('alpha', 1), ref('beta', 1)]);

    const refused = await requestAs(p, viewer, 'DELETE', `${PATH}?repository=acme/gone&branch=feature-x`);
    const deleted = await requestAs(p, editor, 'DELETE', `${PATH}?repository=Acme/Gone&branch=feature-x`);
    const again = await requestAs(p, editor, 'DELETE', `${PATH}?repository=acme/gone&branch=feature-x`);
    const noBranch = await requestAs(p, editor, 'DELETE', `${PATH}?repository=acme/gone`);

    expect([refused.status, refused.body.error.code]).toEqual([403, 'FORBIDDEN']);
    expect([deleted.status, deleted.body]).toEqual([200, { repository: 'acme/gone', branch: 'feature-x', deleted: 2 }]);
    expect([again.status, again.body.error.code]).toEqual([404, 'NOT_FOUND']);
    expect([noBranch.status, noBranch.body.error.details.issues[0].path]).toEqual([400, 'query.branch']);
    expect(((await mustAs(p, viewer, 'GET', `${PATH}?repository=acme/gone`)) as Listed).total).toBe(0);
    const audit = await mustAs(p, owner, 'GET', '/api/v1/audit?action=code-refs.deleted');
    expect(audit.items.map((e: { resourceKey: string; actorEmail: string }) => [e.resourceKey, e.actorEmail])).toEqual([['acme/gone@feature-x', 'editor@example.com']]);
  });
});

describe('deleting a flag that is still in use (pglite)', () => {
  let p: Platform;
  let owner: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  }, 60_000);
  afterAll(async () => {
    await p.close();
  });

  it('refuses deleting the flag of a running experiment, naming it, until the experiment is stopped', async () => {
    const experiment = await mustAs(p, owner, 'POST', `${DEMO}/experiments`, { key: 'exp-prod', name: 'Prod', variations: [{ key: 'control' }, { key: 'treatment' }] });
    const rule = { id: 'exp', type: 'experiment', experiment: 'exp-prod', variations: { control: 'off', treatment: 'on' } };
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('exp-live', { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [rule] } }));
    const started = await mustAs(p, owner, 'POST', `${DEMO}/experiments/exp-prod/start`, undefined, experiment.version);

    const refused = await requestAs(p, owner, 'DELETE', `${DEMO}/flags/exp-live?force=true`, undefined, 1);
    const viaApply = await requestAs(p, owner, 'POST', `${DEMO}/apply`, { changes: [{ kind: 'flags', action: 'delete', key: 'exp-live', version: 1 }] });

    expect([refused.status, refused.body.error.code, refused.body.error.details]).toEqual([409, 'INVALID_STATE', { experiments: ['exp-prod'] }]);
    expect(refused.body.error.message).toBe('flag "exp-live" delivers the running experiment "exp-prod", which would keep running with no traffic: stop it first');
    expect([viaApply.status, viaApply.body.error.code]).toEqual([409, 'INVALID_STATE']);
    expect((await requestAs(p, owner, 'GET', `${DEMO}/flags/exp-live`)).status).toBe(200);

    await mustAs(p, owner, 'POST', `${DEMO}/experiments/exp-prod/stop`, { decision: 'inconclusive' }, started.version);
    expect((await requestAs(p, owner, 'DELETE', `${DEMO}/flags/exp-live`, undefined, 1)).status).toBe(204);
  });

  it('refuses deleting a flag code still references, listing where, unless forced', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('launched-00'));
    await mustAs(p, owner, 'POST', PATH, { repository: 'acme/shop', branch: 'main', references: [ref('launched-00', 3), ref('launched-00', 8)] });
    await mustAs(p, owner, 'POST', PATH, { repository: 'acme/shop', branch: 'dev', references: [ref('launched-00', 3)] });

    const refused = await requestAs(p, owner, 'DELETE', `${DEMO}/flags/launched-00`, undefined, 1);
    const notForced = await requestAs(p, owner, 'DELETE', `${DEMO}/flags/launched-00?force=false`, undefined, 1);
    const applied = await requestAs(p, owner, 'POST', `${DEMO}/apply`, { changes: [{ kind: 'flags', action: 'delete', key: 'launched-00', version: 1 }] });
    const forceOnCreate = await requestAs(p, owner, 'POST', `${DEMO}/apply`, { dryRun: true, changes: [{ kind: 'flags', action: 'create', key: 'x1', definition: booleanFlagBody('x1'), force: true }] });

    expect([refused.status, refused.body.error.code]).toEqual([409, 'INVALID_STATE']);
    expect(refused.body.error.message).toMatch(/^flag "launched-00" is still referenced in code: 3 references on acme\/shop@dev \(1\), acme\/shop@main \(2\); .*\?force=true$/);
    expect(refused.body.error.details).toEqual({
      codeRefs: {
        flagKey: 'launched-00',
        references: 3,
        branches: [
          { repository: 'acme/shop', branch: 'dev', references: 1 },
          { repository: 'acme/shop', branch: 'main', references: 2 },
        ],
      },
    });
    expect(notForced.status).toBe(409);
    expect([applied.status, applied.body.error.details.codeRefs.references]).toEqual([409, 3]);
    expect([forceOnCreate.status, forceOnCreate.body.error.details.issues[0]]).toEqual([400, { path: 'body.changes[0].force', message: 'only a flag delete takes force' }]);

    const forced = await requestAs(p, owner, 'POST', `${DEMO}/apply`, { dryRun: true, changes: [{ kind: 'flags', action: 'delete', key: 'launched-00', version: 1, force: true }] });
    expect(forced.status).toBe(200);
    expect((await requestAs(p, owner, 'DELETE', `${DEMO}/flags/launched-00?force=true`, undefined, 1)).status).toBe(204);

    // The audit entry says it was forced, and past which references.
    const audit = await mustAs(p, owner, 'GET', '/api/v1/audit?action=flag.deleted&resourceKey=launched-00');
    expect(audit.items[0].diff.slice(1)).toEqual([
      { op: 'add', path: '/forced', to: true },
      { op: 'add', path: '/codeRefs', to: { references: 3, branches: [{ repository: 'acme/shop', branch: 'dev', references: 1 }, { repository: 'acme/shop', branch: 'main', references: 2 }] } },
    ]);
    expect(audit.items[0].diff[0]).toMatchObject({ op: 'remove', path: '' });
  });

  it('records a plain delete without a force marker', async () => {
    await mustAs(p, owner, 'POST', `${DEMO}/flags`, booleanFlagBody('plain-gone'));
    expect((await requestAs(p, owner, 'DELETE', `${DEMO}/flags/plain-gone`, undefined, 1)).status).toBe(204);
    const audit = await mustAs(p, owner, 'GET', '/api/v1/audit?action=flag.deleted&resourceKey=plain-gone');
    expect(audit.items[0].diff).toEqual([{ op: 'remove', path: '', from: expect.objectContaining({ key: 'plain-gone' }) }]);
  });
});
