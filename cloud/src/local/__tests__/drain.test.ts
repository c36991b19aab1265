/**
 * How `xp start` stops its servers: no new connection is accepted, requests in flight are answered
 * before what they use closes (an event batch acknowledged, not cut off), and open streams, which
 * never end by themselves, do not hold the stop.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { listenEarly } from '../stack.js';

describe('stopping the local servers', () => {
  it('answers the requests in flight, refuses new connections, and does not wait for streams', async () => {
    const server = await listenEarly('127.0.0.1', 0, 'API', 'XP_API_PORT');
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const app = new Hono();
    let started = 0;
    app.post('/sdk/v1/events', async (c) => {
      started++;
      await gate;
      return c.json({ accepted: 1 }, 202);
    });
    app.get('/sdk/v1/stream', (c) => c.body(new ReadableStream({ start: (controller) => { controller.enqueue(new TextEncoder().encode(': open\n\n')); } }), 200, { 'content-type': 'text/event-stream' }));
    server.serve(app);
    const base = `http://127.0.0.1:${server.port}`;

    const stream = await fetch(`${base}/sdk/v1/stream`);
    const reader = stream.body!.getReader();
    await reader.read();
    const inFlight = fetch(`${base}/sdk/v1/events`, { method: 'POST', body: '{}' });
    while (started === 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }

    // A drain as long as a test's timeout: were the stream counted, the stop would wait it out.
    const closed = server.close(60_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const refused = await fetch(`${base}/sdk/v1/events`, { method: 'POST', body: '{}' }).then(
      (r) => r.status,
      () => 'refused',
    );
    release();
    const answered = await inFlight;
    await closed;

    expect(refused).toBe('refused');
    expect(answered.status).toBe(202);
    expect(await answered.json()).toEqual({ accepted: 1 });
    // The stream was closed by the stop.
    expect(await reader.read().then(
      (r) => (r.done ? 'ended' : 'more'),
      () => 'ended',
    )).toBe('ended');
  });
});
