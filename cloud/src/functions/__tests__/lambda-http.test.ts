import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ipOf } from '../../http/api.js';
import { httpHandler } from '../lambda-http.js';
import { EDGE_TOKEN_HEADER } from '../runtime.js';
import { httpEvent } from './lambda-events.js';

describe('httpHandler', () => {
  it("gives the app API Gateway's source IP where Node's server would put the socket address", async () => {
    const app = new Hono();
    app.get('/ip', (c) => c.json({ ip: ipOf(c) }));
    const handler = httpHandler(() => Promise.resolve(app));

    const res = await handler(httpEvent('GET', '/ip', { sourceIp: '198.51.100.9' }));

    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ ip: '198.51.100.9' });
  });

  it("takes the viewer's address from X-Forwarded-For only for requests that carry the console CloudFront's edge token", async () => {
    const app = new Hono();
    app.get('/ip', (c) => c.json({ ip: ipOf(c) }));
    const handler = httpHandler(() => Promise.resolve(app), { edgeToken: 'b7c1e2f0-token' });
    const ipFor = async (headers: Record<string, string>): Promise<unknown> => JSON.parse((await handler(httpEvent('GET', '/ip', { sourceIp: '130.176.0.1', headers }))).body).ip;
    // A client's own X-Forwarded-For entry, the viewer CloudFront saw, CloudFront itself (API Gateway's peer).
    const forwarded = '192.0.2.66, 203.0.113.50, 130.176.0.1';

    expect(await ipFor({ [EDGE_TOKEN_HEADER]: 'b7c1e2f0-token', 'x-forwarded-for': forwarded })).toBe('203.0.113.50');
    expect(await ipFor({ [EDGE_TOKEN_HEADER]: 'b7c1e2f0-token', 'x-forwarded-for': '203.0.113.50' })).toBe('203.0.113.50');
    // Without the token (or with a wrong one) the header is the caller's word, and the TCP peer counts.
    expect(await ipFor({ 'x-forwarded-for': forwarded })).toBe('130.176.0.1');
    expect(await ipFor({ [EDGE_TOKEN_HEADER]: 'guess', 'x-forwarded-for': forwarded })).toBe('130.176.0.1');
    const untrusting = httpHandler(() => Promise.resolve(app));
    expect(JSON.parse((await untrusting(httpEvent('GET', '/ip', { sourceIp: '130.176.0.1', headers: { [EDGE_TOKEN_HEADER]: 'b7c1e2f0-token', 'x-forwarded-for': forwarded } }))).body).ip).toBe('130.176.0.1');
  });

  it('builds the app once and retries the build after a failure', async () => {
    let builds = 0;
    const handler = httpHandler(() => {
      builds++;
      if (builds === 1) {
        return Promise.reject(new Error('secret not readable yet'));
      }
      const app = new Hono();
      app.get('/', (c) => c.text('ok'));
      return Promise.resolve(app);
    });

    const first = handler(httpEvent('GET', '/'));
    await expect(first).rejects.toThrow('secret not readable yet');
    const second = await handler(httpEvent('GET', '/'));
    const third = await handler(httpEvent('GET', '/'));

    expect(second.body).toBe('ok');
    expect(third.body).toBe('ok');
    expect(builds).toBe(2);
  });
});

describe('httpHandler: a GET or HEAD with a body (API Gateway forwards it)', () => {
  it('serves the request as if it had none, instead of the adapter\'s 400 text/plain "Invalid request"', async () => {
    const app = new Hono();
    app.get('/sdk/v1/ruleset', (c) => c.json({ ok: true, length: c.req.header('content-length') ?? null }));
    const handler = httpHandler(() => Promise.resolve(app));
    const printed: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => {
      printed.push(args);
    };
    try {
      const get = await handler({ ...httpEvent('GET', '/sdk/v1/ruleset', { headers: { 'content-type': 'application/json', 'content-length': '2' } }), body: '{}' });
      const head = await handler({ ...httpEvent('HEAD', '/sdk/v1/ruleset'), body: 'e30=', isBase64Encoded: true });
      const post = new Hono();
      post.post('/echo', async (c) => c.text(await c.req.text()));
      const echoed = await httpHandler(() => Promise.resolve(post))(httpEvent('POST', '/echo', { body: { a: 1 } }));

      expect([get.statusCode, JSON.parse(get.body)]).toEqual([200, { ok: true, length: null }]);
      expect(head.statusCode).toBe(200);
      // A body on other methods is the request's, as before.
      expect([echoed.statusCode, echoed.body]).toEqual([200, '{"a":1}']);
      expect(printed).toEqual([]);
    } finally {
      console.error = original;
    }
  });
});
