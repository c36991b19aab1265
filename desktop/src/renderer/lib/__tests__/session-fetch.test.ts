import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { XpApiClient } from '@xp/shared';
import { errorMessage } from '../ui.js';
import { RequestTimeoutError, SessionFetch } from '../session-fetch.js';

/** A server that never answers: the request ends only when aborted. */
function hangingFetch(): typeof fetch {
  return vi.fn((_input: Parameters<typeof fetch>[0], init?: RequestInit) =>
    new Promise<Response>((_resolve, reject) => {
      init?.signal?.addEventListener('abort', () => {
        reject(new DOMException('The operation was aborted.', 'AbortError'));
      });
    }),
  );
}

describe('session fetch timeout (F11)', () => {
  const real = globalThis.fetch;
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
    globalThis.fetch = real;
  });

  it('fails a read the server does not answer within 30 s, with a message the error display shows', async () => {
    globalThis.fetch = hangingFetch();
    const session = new SessionFetch();
    session.start('token');
    const client = new XpApiClient({ apiUrl: 'http://api.test', client: 'console', fetch: session.fetch });
    const read = client.projects();
    const outcome = read.then(() => null, (e: unknown) => e);
    await vi.advanceTimersByTimeAsync(29_999);
    await vi.advanceTimersByTimeAsync(1);
    const error = await outcome;
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect(errorMessage(error)).toBe('The server did not answer within 30 s; check that it is running.');
  });

  it('says a write that timed out may or may not have been saved', async () => {
    globalThis.fetch = hangingFetch();
    const session = new SessionFetch();
    session.start('token');
    const outcome = session.fetch('http://api.test/api/v1/x', { method: 'PUT', headers: { authorization: 'Bearer token' }, body: '{}' }).then(() => null, (e: unknown) => e);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(errorMessage(await outcome)).toBe('The server did not answer within 30 s; check that it is running. Your change may or may not have been saved: reload to see.');
  });

  it('leaves streams (the change feed) and answered requests alone', async () => {
    const hanging = hangingFetch();
    globalThis.fetch = hanging;
    const session = new SessionFetch();
    let settled = false;
    void session.fetch('http://api.test/stream', { headers: { accept: 'text/event-stream' } }).finally(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(settled).toBe(false);

    globalThis.fetch = vi.fn(() => Promise.resolve(new Response('{}', { status: 200 })));
    const res = await session.fetch('http://api.test/ok');
    expect(res.status).toBe(200);
    // Its timer is cleared: nothing fires later.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('passes on an abort by the caller as such, not as a timeout', async () => {
    globalThis.fetch = hangingFetch();
    const session = new SessionFetch();
    const controller = new AbortController();
    const outcome = session.fetch('http://api.test/x', { signal: controller.signal }).then(() => null, (e: unknown) => e);
    controller.abort();
    const error = await outcome;
    expect(error).not.toBeInstanceOf(RequestTimeoutError);
    expect((error as Error).name).toBe('AbortError');
  });
});

describe('session fetch and a wrong current password', () => {
  const real = globalThis.fetch;
  afterEach(() => {
    globalThis.fetch = real;
  });

  it("answers PUT /api/v1/me/password's 401 as is (a wrong current password), while another 401 waits for a new sign-in", async () => {
    globalThis.fetch = vi.fn(() => Promise.resolve(new Response(JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'current password is wrong' } }), { status: 401 })));
    const session = new SessionFetch();
    session.start('token');
    const expiries: boolean[] = [];
    session.subscribe((expired) => expiries.push(expired));
    const client = new XpApiClient({ apiUrl: 'http://api.test', client: 'console', token: 'token', fetch: session.fetch });

    await expect(client.changePassword('not it', 'violet harbour quokka')).rejects.toMatchObject({ status: 401, message: 'current password is wrong' });
    expect(expiries).toEqual([]);

    const held = client.me().then(() => null, (e: unknown) => e);
    await vi.waitFor(() => { expect(expiries).toEqual([true]); }, { timeout: 5_000 });
    session.stop();
    expect(await held).toMatchObject({ status: 401 });
  });
});
