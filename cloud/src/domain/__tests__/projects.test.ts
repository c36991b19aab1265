import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Platform } from '../../http/__tests__/harness.js';
import { OWNER, startPlatform } from '../../http/__tests__/harness.js';
import { TARGETS } from '../../store/__tests__/test-databases.js';

const ENVIRONMENTS = '/api/v1/projects/demo/environments';

describe.each(TARGETS.map((t) => [t().name, t] as const))('environment writes on %s', (_name, makeTarget) => {
  let p: Platform;
  let owner: string;

  beforeAll(async () => {
    p = await startPlatform(makeTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  it('treats a PUT that changes nothing as a no-op: same version, no audit entry, a stale version still a conflict', async () => {
    const created = await p.request('POST', ENVIRONMENTS, { token: owner, body: { key: 'noop-env', name: 'No-op', production: false, color: '#123456' } });
    const { version: _version, position: _position, ...stored } = created.body as Record<string, unknown>;
    const put = (body: unknown, version: number) => p.request('PUT', `${ENVIRONMENTS}/noop-env`, { token: owner, body, headers: { 'If-Match': `"${version}"` } });

    const same = await put(stored, 1);
    // As the schema fills it in: the defaults left out are the stored values.
    const sameWithDefaultsLeftOut = await put({ key: 'noop-env', name: 'No-op', color: '#123456' }, 1);
    // And sent: an empty description and editorsMayTurnOff false are what their absence means.
    const sameWithDefaultsSent = await put({ ...stored, description: '', editorsMayTurnOff: false }, 1);
    const renamed = await put({ ...stored, name: 'Renamed' }, 1);
    const stale = await put({ ...stored, name: 'Renamed' }, 1);
    const audit = await p.request('GET', '/api/v1/audit?resourceType=environment&resourceKey=noop-env', { token: owner });

    expect(created.status).toBe(201);
    expect([same.status, same.body.version, same.headers.get('etag')]).toEqual([200, 1, '"1"']);
    expect([sameWithDefaultsLeftOut.status, sameWithDefaultsLeftOut.body.version]).toEqual([200, 1]);
    expect([sameWithDefaultsSent.status, sameWithDefaultsSent.body.version]).toEqual([200, 1]);
    expect([renamed.status, renamed.body.version, renamed.body.name]).toEqual([200, 2, 'Renamed']);
    expect([stale.status, stale.body.error.code, stale.body.error.details]).toEqual([409, 'VERSION_CONFLICT', { currentVersion: 2 }]);
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(['environment.updated', 'environment.created']);
  });
});
