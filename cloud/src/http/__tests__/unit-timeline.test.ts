import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { XpApiClient } from '@xp/shared';
import { withExplorer } from '../../pipeline/explorer-hook.js';
import { toRecord, track } from '../../pipeline/__tests__/fixtures.js';
import type { Platform } from './harness.js';
import { OWNER, startPlatform } from './harness.js';

describe('GET …/units/{unitId}/timeline path ids', () => {
  let p: Platform;
  let owner: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  const timeline = (id: string) => p.request('GET', `/api/v1/projects/demo/units/${id}/timeline`, { token: owner });

  it('takes any unit id the events endpoint accepts, percent-encoded, and echoes it decoded', async () => {
    for (const id of ['josé', 'user 7', 'a#b?c', '用户-42', '.hidden', '-dash', 'x'.repeat(256)]) {
      const res = await timeline(encodeURIComponent(id));
      expect([id, res.status, res.body.unitId]).toEqual([id, 200, id]);
    }
  });

  it('refuses what cannot be one path segment or stored, with a clear 400', async () => {
    for (const [id, status] of [[encodeURIComponent('a/b'), 400], ['..', 404], [encodeURIComponent('x'.repeat(257)), 400], ['nul%00id', 400], ['%D8%00', 400], ['%C0%AE%C0%AE', 400], ['100%', 400]] as const) {
      const res = await timeline(id);
      expect([id, res.status]).toEqual([id, status]);
    }
  });

  it('takes any unit id in the query (GET …/unit-timeline?unitId=), those holding "/" or that are "." or ".." included', async () => {
    const projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    const at = p.now.value.getTime() - 60_000;
    const ids = ['team/alice', '..', '.', 'a/b/c', 'user 7'];
    const out = await withExplorer()(
      p.db,
      ids.map((id, i) => toRecord(track(id, `seen-${String(i)}`, at, undefined, undefined, projectId))),
      { logger: p.services.deps.logger },
    );
    expect(out.batchItemFailures).toEqual([]);

    for (const [i, id] of ids.entries()) {
      const res = await p.request('GET', `/api/v1/projects/demo/unit-timeline?unitId=${encodeURIComponent(id)}`, { token: owner });
      expect([id, res.status, res.body.unitId, res.body.items.map((e: { name: string }) => e.name)]).toEqual([id, 200, id, [`seen-${String(i)}`]]);
    }
    // The typed client picks the query form for those ids, and the path for the others.
    const client = new XpApiClient({ apiUrl: 'http://platform.test', token: owner, fetch: (input, init) => Promise.resolve(p.app.request(input instanceof Request ? input : input.toString(), init)) });
    expect((await client.unitTimeline('demo', 'team/alice')).items.map((e) => e.name)).toEqual(['seen-0']);
    expect((await client.unitTimeline('demo', 'user 7')).items.map((e) => e.name)).toEqual(['seen-4']);
    // The same checks as the path form, and the id is required.
    for (const [query, status] of [['unitId=' + 'x'.repeat(257), 400], ['unitId=nul%00id', 400], ['unitId=', 400], ['', 400], ['unitId=a&other=1', 400]] as const) {
      const res = await p.request('GET', `/api/v1/projects/demo/unit-timeline?${query}`, { token: owner });
      expect([query, res.status, res.body.error.code]).toEqual([query, status, 'VALIDATION_FAILED']);
    }
  });

  it('pages with the `next` cursor as `after`, oldest or newest first, each event exactly once though many share one millisecond', async () => {
    const projectId = (await p.db.query<{ id: string }>("SELECT id FROM projects WHERE key = 'demo'")).rows[0]!.id;
    const now = p.now.value.getTime();
    // 12 events, 6 of them in one millisecond: a page of 5 ends inside that millisecond.
    const at = [now - 5_000, now - 5_000, now - 4_000, ...Array<number>(6).fill(now - 3_000), now - 2_000, now - 1_000, now - 1_000];
    const out = await withExplorer()(
      p.db,
      at.map((t, i) => toRecord(track('pager/1', `e${String(i)}`, t, undefined, undefined, projectId))),
      { logger: p.services.deps.logger },
    );
    expect(out.batchItemFailures).toEqual([]);
    const names = (body: { items: { name: string }[] }): string[] => body.items.map((e) => e.name);
    const whole = await p.request('GET', '/api/v1/projects/demo/unit-timeline?unitId=pager%2F1', { token: owner });
    expect([whole.body.truncated, whole.body.next, names(whole.body).length]).toEqual([false, undefined, 12]);
    const oldestFirst = names(whole.body);

    for (const order of ['asc', 'desc'] as const) {
      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 10; page++) {
        const res = await p.request('GET', `/api/v1/projects/demo/unit-timeline?unitId=pager%2F1&limit=5&order=${order}${after === undefined ? '' : `&after=${after}`}`, { token: owner });
        expect(res.status).toBe(200);
        seen.push(...names(res.body));
        expect(res.body.truncated).toBe(res.body.next !== undefined);
        after = res.body.next;
        if (after === undefined) {
          break;
        }
      }
      expect([order, seen]).toEqual([order, order === 'asc' ? oldestFirst : [...oldestFirst].reverse()]);
    }

    // The path form and the typed client take the same cursor.
    const client = new XpApiClient({ apiUrl: 'http://platform.test', token: owner, fetch: (input, init) => Promise.resolve(p.app.request(input instanceof Request ? input : input.toString(), init)) });
    const newest = await client.unitTimeline('demo', 'pager/1', { order: 'desc', limit: 7 });
    expect(newest.items.map((e) => e.name)).toEqual([...oldestFirst].reverse().slice(0, 7));
    const rest = await client.unitTimeline('demo', 'pager/1', { order: 'desc', limit: 7, after: newest.next! });
    expect([rest.truncated, rest.items.map((e) => e.name)]).toEqual([false, [...oldestFirst].reverse().slice(7)]);
    await withExplorer()(p.db, [toRecord(track('pager-2', 'a', now - 2_000, undefined, undefined, projectId)), toRecord(track('pager-2', 'b', now - 1_000, undefined, undefined, projectId))], { logger: p.services.deps.logger });
    const first = await p.request('GET', '/api/v1/projects/demo/units/pager-2/timeline?limit=1', { token: owner });
    const second = await p.request('GET', `/api/v1/projects/demo/units/pager-2/timeline?limit=1&after=${first.body.next as string}`, { token: owner });
    expect([names(first.body), names(second.body), second.body.truncated]).toEqual([['a'], ['b'], false]);
  });

  it('refuses a cursor it did not give, naming `after`', async () => {
    for (const after of ['nope', Buffer.from('"123"').toString('base64url'), Buffer.from('42').toString('base64url'), '']) {
      for (const path of ['/api/v1/projects/demo/units/user-1/timeline', '/api/v1/projects/demo/unit-timeline?unitId=user-1']) {
        const res = await p.request('GET', `${path}${path.includes('?') ? '&' : '?'}after=${after}`, { token: owner });
        expect([after, path, res.status, res.body.error.code, res.body.error.details.issues[0].path]).toEqual([after, path, 400, 'VALIDATION_FAILED', 'query.after']);
      }
    }
  });

  it('answers 404 for an environment the project does not have, as results do, on the timeline and the event search', async () => {
    const onTimeline = await p.request('GET', '/api/v1/projects/demo/units/user-1/timeline?environment=nope', { token: owner });
    const onSearch = await p.request('GET', '/api/v1/projects/demo/events?environment=nope', { token: owner });
    const onStream = await p.request('GET', '/api/v1/projects/demo/events/stream?environment=nope', { token: owner });
    const known = await p.request('GET', '/api/v1/projects/demo/events?environment=production', { token: owner });

    expect([onTimeline.status, onSearch.status, onStream.status, known.status]).toEqual([404, 404, 404, 200]);
    expect(onSearch.body.error.message).toContain('nope');
  });
});

