/**
 * Acknowledging guardrail alerts over HTTP (POST …/alerts/{id}/acknowledge and …/unacknowledge):
 * who may (experiments:write), the alert's project (404 elsewhere), a resolved alert (409), the
 * idempotent repeat, the comment's limit, the audit entries a webhook can subscribe to, the list's
 * `acknowledged` filter and the fields the list returns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Platform } from './harness.js';
import { OWNER, mustAs, requestAs, startPlatform } from './harness.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';

const PASSWORD = 'purple monkey dishwasher 7';
const DEMO = '/api/v1/projects/demo';

let p: Platform;
let owner = '';
const sessions: Record<string, string> = {};
const ids: Record<string, string> = {};
let metricCounter = 0;

/** An open alert (or a resolved one) of `project`, inserted as the guardrail checks record it. */
async function alertIn(project: string, resolved = false): Promise<number> {
  metricCounter += 1;
  const out = await p.db.query<{ id: string | number }>(
    `INSERT INTO alerts (project_id, environment, experiment, metric, variation, control, detected_at, difference, effect, ci_lower, ci_upper, p_value, alpha,
                         control_units, treatment_units, action, resolved_at, resolution)
     SELECT id, 'development', 'checkout', $2, 'treatment', 'control', $3, 'relative', 0.23, 0.19, 0.26, 0.001, 0.05, 600, 600, 'alert',
            CASE WHEN $4 THEN $3::timestamptz END, CASE WHEN $4 THEN 'experiment no longer running' END
     FROM projects WHERE key = $1
     RETURNING id`,
    [project, `latency-${metricCounter}`, p.now.value, resolved],
  );
  return Number(out.rows[0]!.id);
}

const acknowledge = (token: string, id: number | string, body?: unknown, project = 'demo') => requestAs(p, token, 'POST', `/api/v1/projects/${project}/alerts/${id}/acknowledge`, body);
const unacknowledge = (token: string, id: number | string) => requestAs(p, token, 'POST', `${DEMO}/alerts/${id}/unacknowledge`);
const auditOf = async (action: string): Promise<any[]> => (await mustAs(p, owner, 'GET', `/api/v1/audit?project=demo&action=${action}`)).items as any[];

beforeAll(async () => {
  p = await startPlatform(pgliteTarget());
  owner = await p.login(OWNER.email, OWNER.password);
  ids.owner = (await mustAs(p, owner, 'GET', '/api/v1/me')).id as string;
  await mustAs(p, owner, 'POST', '/api/v1/projects', { key: 'other', name: 'Other' });
  for (const [name, role] of [
    ['eddie', 'editor'],
    ['anna', 'analyst'],
    ['vic', 'viewer'],
  ] as const) {
    const created = await mustAs(p, owner, 'POST', '/api/v1/users', { email: `${name}@example.com`, name: `${name[0]!.toUpperCase()}${name.slice(1)}`, role, password: PASSWORD });
    ids[name] = created.user.id as string;
    sessions[name] = await p.login(`${name}@example.com`, PASSWORD);
  }
});
afterAll(async () => {
  await p.close();
});

describe('acknowledging a guardrail alert', () => {
  it('records who and when with the comment, returns the alert, and audits alert.acknowledged', async () => {
    const id = await alertIn('demo');

    const res = await acknowledge(sessions.eddie!, id, { comment: '  Seen, investigating the CDN change  ' });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id,
      resolvedAt: null,
      acknowledgedAt: '2026-11-25T12:00:00.000Z',
      acknowledgedBy: ids.eddie,
      acknowledgedByName: 'Eddie',
      acknowledgeComment: 'Seen, investigating the CDN change',
    });
    const listed = (await mustAs(p, sessions.vic!, 'GET', `${DEMO}/alerts?status=open`)).items.find((a: any) => a.id === id);
    expect(listed).toEqual(res.body);
    const [entry] = await auditOf('alert.acknowledged');
    expect(entry).toMatchObject({ action: 'alert.acknowledged', actorEmail: 'eddie@example.com', resourceType: 'experiment', resourceKey: 'checkout', environment: 'development' });
    expect(entry.diff).toEqual([{ op: 'add', path: '', to: { alert: id, metric: listed.metric, variation: 'treatment', comment: 'Seen, investigating the CDN change' } }]);
  });

  it('returns the current state on a repeat, keeping the first acknowledgement and auditing nothing more', async () => {
    const id = await alertIn('demo');
    const first = await acknowledge(owner, id);
    const before = (await auditOf('alert.acknowledged')).length;
    p.now.value = new Date('2026-11-25T13:00:00Z');

    const again = await acknowledge(sessions.eddie!, id, { comment: 'me too' });

    p.now.value = new Date('2026-11-25T12:00:00Z');
    expect(first.body).toMatchObject({ acknowledgedBy: ids.owner, acknowledgeComment: null });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await auditOf('alert.acknowledged')).toHaveLength(before);
  });

  it('un-acknowledges: the alert reads as new again, audited with what was withdrawn; a repeat changes nothing', async () => {
    const id = await alertIn('demo');
    await mustAs(p, sessions.eddie!, 'POST', `${DEMO}/alerts/${id}/acknowledge`, { comment: 'looking' });

    const res = await unacknowledge(owner, id);
    const again = await unacknowledge(owner, id);

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, acknowledgedAt: null, acknowledgedBy: null, acknowledgedByName: null, acknowledgeComment: null });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);
    const entries = await auditOf('alert.unacknowledged');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ actorEmail: OWNER.email, resourceKey: 'checkout', environment: 'development' });
    expect(entries[0].diff[0].to).toEqual({ alert: id, metric: res.body.metric, variation: 'treatment', acknowledgedAt: '2026-11-25T12:00:00.000Z', acknowledgedBy: ids.eddie, comment: 'looking' });
  });

  it('is for those who may edit experiments: viewers and analysts are 403 and change nothing', async () => {
    const id = await alertIn('demo');

    for (const who of ['vic', 'anna']) {
      const refused = await acknowledge(sessions[who]!, id);
      expect([refused.status, refused.body.error.code]).toEqual([403, 'FORBIDDEN']);
      expect((await unacknowledge(sessions[who]!, id)).status).toBe(403);
    }
    const listed = (await mustAs(p, owner, 'GET', `${DEMO}/alerts`)).items.find((a: any) => a.id === id);
    expect(listed.acknowledgedAt).toBeNull();
  });

  it('is 404 for an alert of another project, or an id that names none', async () => {
    const elsewhere = await alertIn('other');

    for (const res of [await acknowledge(owner, elsewhere), await unacknowledge(owner, elsewhere), await acknowledge(owner, 99999), await acknowledge(owner, 'abc')]) {
      expect([res.status, res.body.error.code]).toEqual([404, 'NOT_FOUND']);
    }
    expect((await acknowledge(owner, elsewhere, undefined, 'other')).status).toBe(200);
  });

  it('is 409 for a resolved alert, saying why', async () => {
    const id = await alertIn('demo', true);

    const res = await acknowledge(owner, id);
    const un = await unacknowledge(owner, id);

    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({
      code: 'INVALID_STATE',
      message: `alert ${id} was resolved 2026-11-25T12:00:00.000Z (experiment no longer running): only an open alert can be acknowledged`,
    });
    expect([un.status, un.body.error.code]).toEqual([409, 'INVALID_STATE']);
  });

  it('refuses a comment over 2,000 characters and unknown fields', async () => {
    const id = await alertIn('demo');

    const long = await acknowledge(owner, id, { comment: 'x'.repeat(2001) });
    const unknown = await acknowledge(owner, id, { note: 'hi' });
    // Counted once its surrounding blanks are trimmed, as the docs say.
    const ok = await acknowledge(owner, id, { comment: `  ${'y'.repeat(2000)}\n` });

    expect([long.status, long.body.error.message]).toEqual([400, 'invalid body: body.comment: at most 2000 characters']);
    expect(unknown.status).toBe(400);
    expect([ok.status, ok.body.acknowledgeComment]).toEqual([200, 'y'.repeat(2000)]);
  });

  it('filters the list by acknowledged=true or false', async () => {
    const seen = await alertIn('demo');
    const fresh = await alertIn('demo');
    await mustAs(p, owner, 'POST', `${DEMO}/alerts/${seen}/acknowledge`, {});

    const yes = (await mustAs(p, sessions.vic!, 'GET', `${DEMO}/alerts?acknowledged=true&limit=200`)).items.map((a: any) => a.id);
    const no = (await mustAs(p, sessions.vic!, 'GET', `${DEMO}/alerts?acknowledged=false&status=open&limit=200`)).items.map((a: any) => a.id);
    const bad = await requestAs(p, owner, 'GET', `${DEMO}/alerts?acknowledged=maybe`);

    expect(yes).toContain(seen);
    expect(yes).not.toContain(fresh);
    expect(no).toContain(fresh);
    expect(no).not.toContain(seen);
    expect([bad.status, bad.body.error.message]).toEqual([400, 'invalid query: query.acknowledged: must be true or false']);
  });

  it('lets a webhook subscribe to alert.*', async () => {
    const res = await requestAs(p, owner, 'POST', `${DEMO}/webhooks`, { name: 'On-call', url: 'https://hooks.example.com/xp', events: ['alert.*', 'alert.acknowledged'] });

    expect(res.status).toBe(201);
  });
});
