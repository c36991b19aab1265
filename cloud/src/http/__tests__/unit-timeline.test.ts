import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
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

  it('answers 404 for an environment the project does not have, as results do, on the timeline and the event search', async () => {
    const onTimeline = await p.request('GET', '/api/v1/projects/demo/units/user-1/timeline?environment=nope', { token: owner });
    const onSearch = await p.request('GET', '/api/v1/projects/demo/events?environment=nope', { token: owner });
    const onStream = await p.request('GET', '/api/v1/projects/demo/events/stream?environment=nope', { token: owner });
    const known = await p.request('GET', '/api/v1/projects/demo/events?environment=production', { token: owner });

    expect([onTimeline.status, onSearch.status, onStream.status, known.status]).toEqual([404, 404, 404, 200]);
    expect(onSearch.body.error.message).toContain('nope');
  });
});

