import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FeedState, followChanges, parseSse } from '../change-feed.js';
import type { ChangeNotice } from '../change-feed.js';

describe('parseSse', () => {
  it('keeps an unfinished message for the next chunk and reads events, ids, multi-line data and CRLF', () => {
    const first = parseSse(': heartbeat\n\nretry: 3000\n\nevent: change\nid: 7\ndata: {"a":1}\n\nevent: change\nid: 8\nda');
    expect(first.messages).toEqual([{ event: 'change', id: '7', data: '{"a":1}' }]);
    const second = parseSse(`${first.rest}ta: line one\r\ndata: line two\r\n\r\n`);
    expect(second.messages).toEqual([{ event: 'change', id: '8', data: 'line one\nline two' }]);
    expect(second.rest).toBe('');
  });
});

describe('followChanges', () => {
  let server: Server | undefined;
  afterEach(async () => {
    const s = server;
    server = undefined;
    if (s !== undefined) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => {
        s.close(() => {
          resolve();
        });
      });
    }
  });

  /** An HTTP server answering the n-th request with handlers[n] (the last one repeats). */
  async function serve(handlers: ((res: ServerResponse, headers: Record<string, string | string[] | undefined>) => void)[]): Promise<{ url: string; requests: Record<string, string | string[] | undefined>[] }> {
    const requests: Record<string, string | string[] | undefined>[] = [];
    server = createServer((req, res) => {
      requests.push({ ...req.headers, path: req.url });
      handlers[Math.min(requests.length, handlers.length) - 1]!(res, req.headers);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
  }

  const stream = (body: string) => (res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.end(body);
  };
  const change = (id: number, key: string): string => `event: change\nid: ${id}\ndata: ${JSON.stringify({ id, action: 'flag.updated', resourceType: 'flag', resourceKey: key, environment: null, at: 'now' })}\n\n`;

  it('delivers changes, reconnects after the stream ends with Last-Event-ID, and retries a failure', async () => {
    const { url, requests } = await serve([
      stream(`retry: 3000\n\n${change(3, 'a')}${change(4, 'b')}`),
      (res) => {
        res.writeHead(503).end();
      },
      stream(change(5, 'c')),
      (res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': heartbeat\n\n');
      },
    ]);
    const seen: ChangeNotice[] = [];
    const states: string[] = [];
    const feed = followChanges({ apiUrl: `${url}/`, token: 'tok', project: 'shop', minDelayMs: 10, onChange: (n) => seen.push(n), onState: (s) => states.push(s) });
    for (let i = 0; i < 200 && seen.length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    feed.close();

    expect(seen.map((n) => n.resourceKey)).toEqual(['a', 'b', 'c']);
    expect(requests[0]).toMatchObject({ path: '/api/v1/projects/shop/changes/stream?maxSeconds=300', authorization: 'Bearer tok', accept: 'text/event-stream' });
    expect(requests[0]!['last-event-id']).toBeUndefined();
    expect(requests[1]!['last-event-id']).toBe('4');
    expect(requests[2]!['last-event-id']).toBe('4');
    expect(states).toContain(FeedState.Retrying);
    expect(states.at(-1)).toBe(FeedState.Stopped);
  });

  it('stops for good on 401, 403 and 404, which retrying cannot fix', async () => {
    const { url, requests } = await serve([
      (res) => {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"UNAUTHENTICATED"}}');
      },
    ]);
    const states: { state: string; detail: string | undefined }[] = [];
    const feed = followChanges({ apiUrl: url, token: 'expired', project: 'shop', minDelayMs: 5, onChange: () => undefined, onState: (state, detail) => states.push({ state, detail }) });
    for (let i = 0; i < 100 && !states.some((s) => s.state === FeedState.Stopped); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(states.at(-1)).toEqual({ state: FeedState.Stopped, detail: 'the change feed answered 401' });
    expect(requests).toHaveLength(1);
    feed.close();
  });
});
