/**
 * A 413 from Hono (an HTTPException, not the management API's own body guard, which names the
 * limit: segment-ids.test.ts) still says what to do.
 */
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../domain/context.js';
import { errorResponse } from '../errors.js';

describe("Hono's 413", () => {
  it('says to split the request or send less', async () => {
    const app = new Hono();
    app.onError((err, c) => errorResponse(c, err, silentLogger));
    app.post('/x', () => {
      throw new HTTPException(413);
    });

    const res = await app.request('/x', { method: 'POST', body: '{}' });

    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'the request body is larger than this route takes: split the request into smaller ones, or send less' } });
  });
});
