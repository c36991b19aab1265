import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, booleanFlagBody, mustAs, requestAs, signedInAs, startPlatform } from './harness.js';

/**
 * What an open change request's proposed state names (a segment, an experiment, a holdout, a
 * prerequisite flag) counts as a use: deleting it (or archiving a prerequisite flag) is refused,
 * naming the requests, until they are rejected or cancelled. The flag a request is about may go:
 * its open requests are cancelled with it.
 */
describe("open change requests count as uses of what they name", () => {
  let p: Platform;
  let owner: string;
  let editor: string;

  const must = (token: string, method: string, path: string, body?: unknown, version?: number): Promise<any> => mustAs(p, token, method, path, body, version);
  const demo = (path: string): string => `/api/v1/projects/demo${path}`;
  const OFF = { enabled: false, defaultVariation: 'off', offVariation: 'off' };
  /** A new flag (off in production) and an editor's request to turn it on there with `state`. */
  const propose = async (key: string, state: Record<string, unknown>): Promise<string> => {
    await must(owner, 'POST', demo('/flags'), booleanFlagBody(key, { production: OFF }));
    const cr = await must(editor, 'POST', demo('/change-requests'), { resourceType: 'flag', resourceKey: key, environment: 'production', state: { enabled: true, ...state }, baseVersion: 1 });
    return cr.id as string;
  };
  const del = async (kind: string, key: string) => {
    const current = await must(owner, 'GET', demo(`/${kind}/${key}`));
    return requestAs(p, owner, 'DELETE', demo(`/${kind}/${key}`), undefined, current.version as number);
  };
  const refusal = (res: { status: number; body: any }) => [res.status, res.body.error?.code, res.body.error?.message, res.body.error?.details];

  beforeAll(async () => {
    p = await startPlatform(postgresTarget());
    owner = await p.login(OWNER.email, OWNER.password);
    editor = await signedInAs(p, owner, 'editor', 'eddie@example.com');
  });
  afterAll(async () => {
    await p.close();
  });

  it('refuses deleting a segment an open request names, until the request is rejected', async () => {
    await must(owner, 'POST', demo('/segments'), { key: 'cr-uses-beta', name: 'beta', type: 'ids', attribute: 'id', values: ['u1'] });
    const id = await propose('cr-uses-seg', { rules: [{ id: 'r1', type: 'force', variation: 'on', segments: ['cr-uses-beta'] }] });

    const refused = await del('segments', 'cr-uses-beta');
    expect(refusal(refused)).toEqual([
      409,
      'INVALID_STATE',
      `segment "cr-uses-beta" is named by an open change request: ${id} (flag "cr-uses-seg" in "production"); reject or cancel it first (POST …/change-requests/{id}/reject, or /cancel by the proposer), then delete it`,
      { changeRequests: [id] },
    ]);
    // The request can still be approved and applied, with the segment it names.
    await must(owner, 'POST', demo(`/change-requests/${id}/approve`));
    expect((await must(editor, 'POST', demo(`/change-requests/${id}/apply`))).status).toBe('applied');
    // Now a flag's rule names it: refused as any use is.
    expect((await del('segments', 'cr-uses-beta')).status).toBe(400);
  });

  it('lets the segment go once the request naming it is rejected', async () => {
    await must(owner, 'POST', demo('/segments'), { key: 'cr-uses-gamma', name: 'gamma', type: 'ids', attribute: 'id', values: ['u1'] });
    const id = await propose('cr-uses-seg2', { rules: [{ id: 'r1', type: 'force', variation: 'on', condition: { id: { $inGroup: 'cr-uses-gamma' } } }] });

    expect((await del('segments', 'cr-uses-gamma')).status).toBe(409);
    await must(owner, 'POST', demo(`/change-requests/${id}/reject`));
    expect((await del('segments', 'cr-uses-gamma')).status).toBe(204);
  });

  it('refuses deleting an experiment an open request names', async () => {
    await must(owner, 'POST', demo('/experiments'), { key: 'cr-uses-exp', name: 'exp', status: 'draft', variations: [{ key: 'control' }, { key: 'treatment' }], environments: ['production'] });
    const id = await propose('cr-uses-expflag', { rules: [{ id: 'x', type: 'experiment', experiment: 'cr-uses-exp', variations: { control: 'off', treatment: 'on' } }] });

    const refused = await del('experiments', 'cr-uses-exp');
    expect(refusal(refused)).toEqual([409, 'INVALID_STATE', expect.stringContaining(`experiment "cr-uses-exp" is named by an open change request: ${id}`), { changeRequests: [id] }]);
    await requestAs(p, editor, 'POST', demo(`/change-requests/${id}/cancel`));
    expect((await del('experiments', 'cr-uses-exp')).status).toBe(204);
  });

  it('does not take an attribute named like a reference in a condition for a use', async () => {
    await must(owner, 'POST', demo('/experiments'), { key: 'cr-uses-attr', name: 'exp', status: 'draft', variations: [{ key: 'control' }, { key: 'treatment' }], environments: ['production'] });
    await propose('cr-uses-attrflag', { rules: [{ id: 'r1', type: 'force', variation: 'on', condition: { experiment: 'cr-uses-attr', holdout: 'h', segments: ['s'] } }] });

    expect((await del('experiments', 'cr-uses-attr')).status).toBe(204);
  });

  it('refuses deleting or archiving a flag an open request names as a prerequisite', async () => {
    await must(owner, 'POST', demo('/flags'), booleanFlagBody('cr-uses-parent', { production: { enabled: true, defaultVariation: 'on', offVariation: 'off' } }));
    const id = await propose('cr-uses-child', { prerequisites: [{ flag: 'cr-uses-parent', variation: 'on' }] });

    const deleted = await del('flags', 'cr-uses-parent');
    const parent = await must(owner, 'GET', demo('/flags/cr-uses-parent'));
    const archived = await requestAs(p, owner, 'PUT', demo('/flags/cr-uses-parent'), { ...parent.definition, archived: true }, parent.version as number);

    expect(refusal(deleted)).toEqual([409, 'INVALID_STATE', expect.stringContaining(`flag "cr-uses-parent" is named by an open change request: ${id} (flag "cr-uses-child" in "production")`), { changeRequests: [id] }]);
    expect(refusal(archived)).toEqual([409, 'INVALID_STATE', expect.stringMatching(/then archive it$/), { changeRequests: [id] }]);
    // Applied, the request is a use like any.
    await must(owner, 'POST', demo(`/change-requests/${id}/approve`));
    expect((await must(editor, 'POST', demo(`/change-requests/${id}/apply`))).status).toBe('applied');
  });

  it("cancels the open requests of a flag deleted, each with an audit entry", async () => {
    const id = await propose('cr-uses-gone', {});
    await must(owner, 'POST', demo(`/change-requests/${id}/approve`));

    expect((await del('flags', 'cr-uses-gone')).status).toBe(204);
    expect(await must(owner, 'GET', demo(`/change-requests/${id}`))).toMatchObject({ status: 'cancelled', reviewedBy: expect.any(String) });
    const entries = (await must(owner, 'GET', '/api/v1/audit?project=demo&action=change-request.cancelled&resourceKey=cr-uses-gone')).items as any[];
    expect(entries).toHaveLength(1);
    expect(JSON.stringify(entries[0].diff)).toContain('flag deleted');
    // A flag created again under the key does not inherit the approval.
    await must(owner, 'POST', demo('/flags'), booleanFlagBody('cr-uses-gone', { production: OFF }));
    const applied = await requestAs(p, editor, 'POST', demo(`/change-requests/${id}/apply`));
    expect([applied.status, applied.body.error.message]).toEqual([409, 'change request is cancelled']);
  });
});
