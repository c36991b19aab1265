/**
 * What keeps running experiments consistent through edits of what they use (through the API): their
 * namespace, their holdout (its existence and its hashing), the metrics they list, and project-wide
 * guardrails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, mustAs, requestAs, signedInAs, startPlatform } from '../../http/__tests__/harness.js';

const PROJECT = 'integrity';
const BASE = `/api/v1/projects/${PROJECT}`;

const experimentBody = (key: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  key,
  name: `Experiment ${key}`,
  environments: ['development'],
  variations: [{ key: 'control' }, { key: 'treatment' }],
  ...extra,
});

describe('experiments and what they use', () => {
  let p: Platform;
  let owner: string;
  let analyst: string;

  const request = (token: string, method: string, path: string, body?: unknown, version?: number): Promise<{ status: number; body: any }> => requestAs(p, token, method, path, body, version);
  const must = (method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, owner, method, path, body, version);
  /** The stored definition at `path`, replaced by `change(definition)`: the response. */
  const replace = async (path: string, change: (definition: any) => any, token = owner): Promise<{ status: number; body: any }> => {
    const current = await must('GET', path);
    return request(token, 'PUT', path, change(current.definition), current.version);
  };
  const issues = (res: { body: any }): { path: string; message: string }[] => res.body.error?.details?.issues ?? [];

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    analyst = await signedInAs(p, owner, 'analyst', 'analyst@example.com');
    await must('POST', '/api/v1/projects', { key: PROJECT, name: 'Integrity' });
  });
  afterAll(async () => {
    await p.close();
  });

  it("refuses changing a started experiment's namespace id, adding or removing one, and holds range changes to the overlap check and to growing only", async () => {
    const checkout = (range: [number, number]) => ({ namespace: { id: 'checkout', range } });
    await must('POST', `${BASE}/experiments`, experimentBody('nsa', { ...checkout([0, 0.5]), status: 'running' }));
    await must('POST', `${BASE}/experiments`, experimentBody('nsb', { ...checkout([0.5, 1]), status: 'running' }));
    await must('POST', `${BASE}/experiments`, experimentBody('ns-none', { status: 'running' }));
    await must('POST', `${BASE}/experiments`, experimentBody('ns-stopped', { ...checkout([0, 0.5]), status: 'stopped', startedAt: '2020-01-01T00:00:00.000Z' }));
    await must('POST', `${BASE}/experiments`, experimentBody('ns-draft', checkout([0, 0.5])));

    const moved = await replace(`${BASE}/experiments/nsa`, (d) => ({ ...d, namespace: { id: 'checkout2', range: [0, 1] } }));
    const removed = await replace(`${BASE}/experiments/nsa`, ({ namespace: _namespace, ...d }) => d);
    const added = await replace(`${BASE}/experiments/ns-none`, (d) => ({ ...d, namespace: { id: 'search', range: [0, 1] } }));
    const movedStopped = await replace(`${BASE}/experiments/ns-stopped`, (d) => ({ ...d, namespace: { id: 'checkout2', range: [0, 1] } }));
    const overlap = await replace(`${BASE}/experiments/nsa`, (d) => ({ ...d, namespace: { id: 'checkout', range: [0, 0.6] } }));
    const narrowed = await replace(`${BASE}/experiments/nsa`, (d) => ({ ...d, namespace: { id: 'checkout', range: [0.1, 0.5] } }));
    const draftMoved = await replace(`${BASE}/experiments/ns-draft`, (d) => ({ ...d, namespace: { id: 'checkout2', range: [0, 1] } }));

    expect([moved, removed, added, movedStopped, overlap, narrowed, draftMoved].map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 400, 200]);
    for (const res of [moved, removed, added, movedStopped]) {
      expect(issues(res)).toEqual([{ path: 'namespace', message: expect.stringContaining('stop it and create a new experiment') }]);
    }
    expect(issues(overlap)).toEqual([{ path: 'namespace.range', message: 'overlaps "nsb" in namespace "checkout"' }]);
    // Units it exposed in [0, 0.1) would be free for another running experiment of the namespace to take.
    expect(issues(narrowed)).toEqual([{ path: 'namespace.range', message: 'may grow but not shrink while the experiment runs: it holds [0, 0.5)' }]);
    expect((await must('GET', `${BASE}/experiments/nsa`)).definition.namespace).toEqual({ id: 'checkout', range: [0, 0.5] });
  });

  it('refuses an unknown holdout on create and on replace, like an unknown metric', async () => {
    await must('POST', `${BASE}/holdouts`, { key: 'known', name: 'Known', coverage: 0.05 });

    const created = await request(owner, 'POST', `${BASE}/experiments`, experimentBody('ho-typo', { holdout: 'nope' }));
    await must('POST', `${BASE}/experiments`, experimentBody('ho-edit', { holdout: 'known' }));
    const replaced = await replace(`${BASE}/experiments/ho-edit`, (d) => ({ ...d, holdout: 'nope' }));
    const renamed = await replace(`${BASE}/experiments/ho-edit`, (d) => ({ ...d, name: 'Still known' }));

    expect([created.status, replaced.status, renamed.status]).toEqual([400, 400, 200]);
    expect(created.body.error.message).toBe('unknown holdout "nope"; create it first (POST …/holdouts)');
    expect(issues(created)).toEqual([{ path: 'holdout', message: 'unknown holdout "nope"' }]);
    expect(issues(replaced)).toEqual([{ path: 'holdout', message: 'unknown holdout "nope"' }]);
    expect((await request(owner, 'GET', `${BASE}/experiments/ho-typo`)).status).toBe(404);
  });

  it('creates a holdout and an experiment naming it in one apply, in the order xp apply sends them', async () => {
    const applied = await request(owner, 'POST', `${BASE}/apply`, {
      changes: [
        { kind: 'holdouts', action: 'create', key: 'applied-holdout', definition: { key: 'applied-holdout', name: 'Applied', coverage: 0.1 } },
        { kind: 'experiments', action: 'create', key: 'applied-exp', definition: experimentBody('applied-exp', { holdout: 'applied-holdout', status: 'running' }) },
      ],
    });
    const unknown = await request(owner, 'POST', `${BASE}/apply`, {
      changes: [{ kind: 'experiments', action: 'create', key: 'applied-typo', definition: experimentBody('applied-typo', { holdout: 'applied-nope' }) }],
    });

    expect(applied.status).toBe(200);
    expect((await must('GET', `${BASE}/experiments/applied-exp`)).definition.holdout).toBe('applied-holdout');
    expect(unknown.status).toBe(400);
    expect(issues(unknown)).toEqual([{ path: 'changes[0].definition.holdout', message: 'unknown holdout "applied-nope"' }]);
  });

  it('refuses re-hashing a holdout that started experiments use, naming them, and lets its coverage change', async () => {
    await must('POST', `${BASE}/holdouts`, { key: 'global', name: 'Global', coverage: 0.05 });
    await must('POST', `${BASE}/holdouts`, { key: 'drafts-only', name: 'Drafts only', coverage: 0.05 });
    await must('POST', `${BASE}/experiments`, experimentBody('ho-running', { holdout: 'global', status: 'running' }));
    await must('POST', `${BASE}/experiments`, experimentBody('ho-stopped', { holdout: 'global', status: 'stopped', startedAt: '2020-01-01T00:00:00.000Z' }));
    await must('POST', `${BASE}/experiments`, experimentBody('ho-archived', { holdout: 'drafts-only', status: 'stopped', startedAt: '2020-01-01T00:00:00.000Z', archived: true }));
    await must('POST', `${BASE}/experiments`, experimentBody('ho-draft', { holdout: 'drafts-only' }));

    const rehashed = await replace(`${BASE}/holdouts/global`, (d) => ({ ...d, hashAttribute: 'deviceId' }));
    const widened = await replace(`${BASE}/holdouts/global`, (d) => ({ ...d, coverage: 0.1 }));
    const unused = await replace(`${BASE}/holdouts/drafts-only`, (d) => ({ ...d, hashAttribute: 'deviceId' }));

    expect([rehashed.status, rehashed.body.error?.code, widened.status, unused.status]).toEqual([409, 'INVALID_STATE', 200, 200]);
    expect(rehashed.body.error.message).toContain('holdout "global" is used by started experiment(s) "ho-running", "ho-stopped": changing hashAttribute would hash units again');
    expect(rehashed.body.error.details.experiments).toEqual(['ho-running', 'ho-stopped']);
    expect(issues(rehashed).map((i) => i.path)).toEqual(['hashAttribute']);
    expect((await must('GET', `${BASE}/holdouts/global`)).definition).toMatchObject({ hashAttribute: 'id', coverage: 0.1 });
  });

  it('refuses a metric listed twice in one list, naming the duplicate', async () => {
    await must('POST', `${BASE}/metrics`, { key: 'err', name: 'Errors', type: 'count', event: 'error', higherIsBetter: false });

    const twice = await request(owner, 'POST', `${BASE}/experiments`, experimentBody('dup-guardrails', { metrics: { primary: [], secondary: [], guardrails: ['err', 'err'] } }));

    expect(twice.status).toBe(400);
    expect(issues(twice)).toEqual([{ path: 'body.metrics.guardrails[1]', message: 'duplicate guardrail "err"' }]);
  });

  it('refuses an analyst who deletes a project-wide guardrail while an experiment that guardrails stop runs, as for a change', async () => {
    await must('POST', `${BASE}/metrics`, { key: 'pwg', name: 'Project-wide guardrail', type: 'count', event: 'crash', higherIsBetter: false, guardrail: true });
    await must('POST', `${BASE}/experiments`, experimentBody('guarded', { status: 'running', guardrailAction: 'stop' }));
    const metric = await must('GET', `${BASE}/metrics/pwg`);

    const unflagged = await replace(`${BASE}/metrics/pwg`, (d) => ({ ...d, guardrail: false }), analyst);
    const deleted = await request(analyst, 'DELETE', `${BASE}/metrics/pwg`, undefined, metric.version);

    expect([unflagged.status, deleted.status]).toEqual([403, 403]);
    expect(deleted.body.error).toMatchObject({
      code: 'FORBIDDEN',
      message: 'deleting metric "pwg" alters the guardrails of running experiment(s) "guarded", which stop automatically; it needs experiments:write',
      details: { permission: 'experiments:write', experiments: ['guarded'] },
    });
    expect((await request(owner, 'GET', `${BASE}/metrics/pwg`)).status).toBe(200);
    expect((await request(owner, 'DELETE', `${BASE}/metrics/pwg`, undefined, metric.version)).status).toBe(204);
  });
});
