import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ipOf } from '../../http/api.js';
import { httpHandler } from '../lambda-http.js';
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
