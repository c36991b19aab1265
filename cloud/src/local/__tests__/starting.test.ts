/**
 * What `xp start` answers before the app exists: 503 with Retry-After, and, for the SDK endpoints,
 * the CORS headers they always send, so a browser SDK on another origin sees a 503 it can wait out
 * rather than a CORS failure.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { listenEarly } from '../stack.js';

describe('the local server while it starts', () => {
  it('answers the SDK endpoints 503 with their CORS headers and their preflight with 204; other paths without CORS', async () => {
    const server = await listenEarly('127.0.0.1', 0, 'API', 'XP_API_PORT');
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const origin = { Origin: 'https://shop.example.com' };

      const preflight = await fetch(`${base}/sdk/v1/evaluate`, {
        method: 'OPTIONS',
        headers: { ...origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-xp-sdk-key, content-type' },
      });
      const evaluate = await fetch(`${base}/sdk/v1/evaluate`, { method: 'POST', headers: { ...origin, 'Content-Type': 'application/json' }, body: '{}' });
      const api = await fetch(`${base}/api/v1/projects`, { headers: origin });

      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
      expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
      expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('x-xp-sdk-key');
      expect([evaluate.status, evaluate.headers.get('retry-after'), evaluate.headers.get('access-control-allow-origin')]).toEqual([503, '1', '*']);
      expect(evaluate.headers.get('access-control-expose-headers')).toContain('Retry-After');
      expect(await evaluate.json()).toMatchObject({ error: { code: 'UNAVAILABLE' } });
      expect([api.status, api.headers.get('access-control-allow-origin')]).toEqual([503, null]);
      // Handing over to the app says how many got the 503 (the preflight was answered, not refused).
      expect(server.serve(new Hono())).toBe(2);
    } finally {
      await server.close(0);
    }
  });

  it('answers the OFREP endpoints alike: 503 in the protocol\'s shape with their CORS headers, and their preflight (Authorization allowed) with 204', async () => {
    const server = await listenEarly('127.0.0.1', 0, 'API', 'XP_API_PORT');
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const origin = { Origin: 'https://shop.example.com' };

      const preflight = await fetch(`${base}/ofrep/v1/evaluate/flags`, {
        method: 'OPTIONS',
        headers: { ...origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
      });
      const bulk = await fetch(`${base}/ofrep/v1/evaluate/flags`, { method: 'POST', headers: { ...origin, Authorization: 'Bearer xpk_cli_x', 'Content-Type': 'application/json' }, body: '{"context":{}}' });
      const single = await fetch(`${base}/ofrep/v1/evaluate/flags/checkout`, { method: 'POST', headers: { ...origin, 'Content-Type': 'application/json' }, body: '{}' });

      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
      expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
      expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
      for (const res of [bulk, single]) {
        expect([res.status, res.headers.get('retry-after'), res.headers.get('access-control-allow-origin')]).toEqual([503, '1', '*']);
        expect(res.headers.get('access-control-expose-headers')).toContain('Retry-After');
        expect(await res.json()).toEqual({ errorDetails: 'xp is starting; retry in a moment' });
      }
      expect(server.serve(new Hono())).toBe(2);
    } finally {
      await server.close(0);
    }
  });
});
