import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import { MAX_STREAMS_PER_USER, lateCommitReader, streamSeconds } from '../polling-stream.js';
import type { ChangeNotice } from '../../store/audit.js';
import { OWNER, booleanFlagBody, startPlatform } from './harness.js';
import type { Platform } from './harness.js';

/** Parses `event: change` messages out of SSE text. */
function changes(text: string): ChangeNotice[] {
  return text
    .split('\n\n')
    .filter((m) => m.startsWith('event: change\n'))
    .map((m) => JSON.parse(m.split('\n').find((l) => l.startsWith('data: '))!.slice('data: '.length)) as ChangeNotice);
}

const flag = (key: string): unknown => booleanFlagBody(key, { development: { enabled: true, defaultVariation: 'on', offVariation: 'off' } });


/**
 * Whether an open stream ends at its next heartbeat (the clock moved past it; 3 s to see it end):
 * where the stream asks again whether the caller may still read. Cancels the reader either way.
 */
async function endsAtNextHeartbeat(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<boolean> {
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    vi.setSystemTime(Date.now() + 16_000);
    let done = false;
    const deadline = performance.now() + 3_000;
    while (!done && performance.now() < deadline) {
      const chunk = await Promise.race([reader.read(), new Promise<'waiting'>((r) => setTimeout(() => { r('waiting'); }, 3_000))]);
      done = chunk !== 'waiting' && chunk.done;
    }
    return done;
  } finally {
    vi.useRealTimers();
    await reader.cancel();
  }
}

describe('change feed (GET /api/v1/projects/{project}/changes/stream)', () => {
  let p: Platform;
  let owner: string;

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  });
  afterAll(async () => {
    await p.close();
  });

  const poll = async (project: string, after: number): Promise<{ status: number; notices: ChangeNotice[] }> => {
    const res = await p.request('GET', `/api/v1/projects/${project}/changes/stream?after=${after}&maxSeconds=0`, { token: owner });
    return { status: res.status, notices: typeof res.body === 'string' ? changes(res.body) : [] };
  };

  it('lists the project’s changes after an id, what changed but no actor or diff, and only that project’s', async () => {
    const { notices: before } = await poll('demo', 0);
    const last = before.at(-1)?.id ?? 0;
    expect((await p.request('POST', '/api/v1/projects', { token: owner, body: { key: 'other', name: 'Other' } })).status).toBe(201);
    expect((await p.request('POST', '/api/v1/projects/other/flags', { token: owner, body: flag('elsewhere') })).status).toBe(201);
    expect((await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: flag('feed-flag') })).status).toBe(201);

    const { status, notices } = await poll('demo', last);

    expect(status).toBe(200);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toEqual({ id: expect.any(Number) as unknown, action: 'flag.created', resourceType: 'flag', resourceKey: 'feed-flag', environment: null, at: expect.any(String) as unknown });
    expect(notices[0]!.id).toBeGreaterThan(last);
    expect((await poll('other', 0)).notices.map((n) => n.resourceKey)).toContain('elsewhere');
    expect((await poll('other', 0)).notices.map((n) => n.resourceKey)).not.toContain('feed-flag');
  });

  it('lets one user hold at most 20 open streams (change feed and explorer together), and a closed one frees its place', async () => {
    const open = async (path: string): Promise<{ res: Response; controller: AbortController }> => {
      const controller = new AbortController();
      const res = await p.app.request(path, { headers: { authorization: `Bearer ${owner}` }, signal: controller.signal });
      return { res, controller };
    };
    const held: { res: Response; controller: AbortController }[] = [];
    for (let i = 0; i < MAX_STREAMS_PER_USER; i++) {
      held.push(await open(i % 2 === 0 ? '/api/v1/projects/demo/changes/stream?maxSeconds=60' : '/api/v1/projects/demo/events/stream?maxSeconds=60'));
    }
    const refused = await p.request('GET', '/api/v1/projects/demo/events/stream?maxSeconds=60', { token: owner });
    const polled = await p.request('GET', '/api/v1/projects/demo/changes/stream?maxSeconds=60', { token: owner });

    expect(held.map((h) => h.res.status)).toEqual(Array<number>(MAX_STREAMS_PER_USER).fill(200));
    expect([refused.status, refused.body.error.code, refused.headers.get('retry-after')]).toEqual([429, 'RATE_LIMITED', '5']);
    expect(polled.status).toBe(429);
    await held[0]!.res.body!.cancel();
    held[0]!.controller.abort();
    const again = await open('/api/v1/projects/demo/changes/stream?maxSeconds=0');
    expect(again.res.status).toBe(200);
    await again.res.text();
    for (const h of held.slice(1)) {
      await h.res.body!.cancel();
      h.controller.abort();
    }
    // Every slot is back: a poll (maxSeconds=0) takes and returns one.
    expect((await poll('demo', 0)).status).toBe(200);
  });

  it('pushes a change to an open stream as it commits, with its id for Last-Event-ID', async () => {
    const res = await p.app.request('/api/v1/projects/demo/changes/stream?maxSeconds=20', { headers: { authorization: `Bearer ${owner}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    // The stream starts at the newest entry: the change below is the first one it sends.
    text += decoder.decode((await reader.read()).value);
    const created = await p.request('POST', '/api/v1/projects/demo/flags', { token: owner, body: flag('live-flag') });
    expect(created.status).toBe(201);
    while (changes(text).length === 0) {
      const chunk = await reader.read();
      if (chunk.done) {
        break;
      }
      text += decoder.decode(chunk.value);
    }
    await reader.cancel();

    expect(text).toMatch(/^retry: 3000\n\n/);
    const [notice] = changes(text);
    expect(notice).toMatchObject({ action: 'flag.created', resourceKey: 'live-flag' });
    expect(text).toContain(`id: ${notice!.id}\n`);
    const resumed = await p.request('GET', '/api/v1/projects/demo/changes/stream?maxSeconds=0', { token: owner, headers: { 'Last-Event-ID': String(notice!.id - 1) } });
    expect(changes(resumed.body as string).map((n) => n.resourceKey)).toEqual(['live-flag']);
  });

  it('closes an open stream at its next heartbeat once the user is disabled', async () => {
    const invited = await p.request('POST', '/api/v1/users', { token: owner, body: { email: 'watcher@example.com', name: 'Watcher', role: 'viewer', password: 'a much longer passphrase 42' } });
    const viewer = await p.login('watcher@example.com', 'a much longer passphrase 42');
    const res = await p.app.request('/api/v1/projects/demo/changes/stream?maxSeconds=600', { headers: { authorization: `Bearer ${viewer}` } });
    const reader = res.body!.getReader();
    await reader.read();
    const disabled = await p.request('PATCH', `/api/v1/users/${invited.body.user.id as string}`, { token: owner, body: { disabled: true }, headers: { 'If-Match': '"1"' } });
    const done = await endsAtNextHeartbeat(reader);
    expect(disabled.status).toBe(200);
    expect(done).toBe(true);
  });

  it('closes an open stream at its next heartbeat once its project is deleted', async () => {
    await p.request('POST', '/api/v1/projects', { token: owner, body: { key: 'short-lived', name: 'Short-lived' } });
    const res = await p.app.request('/api/v1/projects/short-lived/changes/stream?maxSeconds=600', { headers: { authorization: `Bearer ${owner}` } });
    const reader = res.body!.getReader();
    await reader.read();
    const deleted = await p.request('DELETE', '/api/v1/projects/short-lived', { token: owner, headers: { 'If-Match': '"1"' } });
    const done = await endsAtNextHeartbeat(reader);
    expect(deleted.status).toBe(204);
    expect(done).toBe(true);
  });

  it('refuses a bad cursor and an unknown project with clear errors, and anonymous callers', async () => {
    expect((await p.request('GET', '/api/v1/projects/demo/changes/stream?after=-1', { token: owner })).status).toBe(400);
    expect((await p.request('GET', '/api/v1/projects/demo/changes/stream?maxSeconds=99999', { token: owner })).status).toBe(400);
    expect((await p.request('GET', '/api/v1/projects/nope/changes/stream?maxSeconds=0', { token: owner })).status).toBe(404);
    expect((await p.request('GET', '/api/v1/projects/demo/changes/stream?maxSeconds=0')).status).toBe(401);
  });
});

describe('stream length', () => {
  it('is what the client asks for, except in Lambda, whose responses are buffered: there a stream is a poll', () => {
    expect(streamSeconds(300, {})).toBe(300);
    expect(streamSeconds(300, { AWS_LAMBDA_FUNCTION_NAME: 'xp-prod-api' })).toBe(0);
  });
});

describe('late commits', () => {
  const LOOK_BACK_MS = 10_000;
  const notice = (id: number): ChangeNotice => ({ id, action: 'flag.updated', resourceType: 'flag', resourceKey: `f${id}`, environment: null, at: '2026-11-25T12:00:00.000Z' });

  it('sends an entry whose transaction committed after a larger id was sent, once, within the look-back', async () => {
    let visible = [notice(6)];
    let clock = 0;
    const read = lateCommitReader((after, limit) => Promise.resolve(visible.filter((n) => n.id > after).slice(0, limit)), (n) => n.id, LOOK_BACK_MS, () => clock);

    expect((await read(4, 10)).map((n) => n.id)).toEqual([6]);
    // Entry 5 (its id taken before 6's) commits now; the cursor has moved to 6.
    visible = [notice(5), notice(6)];
    clock = 1_000;
    expect((await read(6, 10)).map((n) => n.id)).toEqual([5]);
    clock = 2_000;
    expect(await read(6, 10)).toEqual([]);
    // Beyond the look-back, only entries after the cursor are read.
    visible = [notice(4), notice(5), notice(6), notice(7)];
    clock = 2_000 + 3 * LOOK_BACK_MS;
    await read(6, 10);
    clock += LOOK_BACK_MS + 1;
    expect((await read(7, 10)).map((n) => n.id)).toEqual([]);
  });
});
