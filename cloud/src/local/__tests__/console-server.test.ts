import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleApp } from '../console-server.js';

describe('console server', () => {
  let dir: string;
  // A real Hono app standing in for the management API: it echoes what reached it.
  const api = new Hono();
  api.all('*', async (c) => c.json({ method: c.req.method, path: new URL(c.req.url).pathname, query: new URL(c.req.url).search, auth: c.req.header('authorization') ?? null, body: await c.req.text() }));

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-console-'));
    await mkdir(path.join(dir, 'renderer', 'assets'), { recursive: true });
    await writeFile(path.join(dir, 'renderer', 'index.html'), '<!doctype html><title>xp console</title><div id="root"></div>');
    await writeFile(path.join(dir, 'renderer', 'assets', 'index-abc.js'), 'export {};');
    await writeFile(path.join(dir, 'secret.txt'), 'outside the renderer');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const app = () => createConsoleApp({ api, apiUrl: 'http://127.0.0.1:8000', rendererDir: path.join(dir, 'renderer') });

  it('serves the renderer with a content security policy; unknown paths get index.html', async () => {
    const index = await app().request('/');
    const deep = await app().request('/flags/new-checkout');
    const asset = await app().request('/assets/index-abc.js');

    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await deep.text()).toContain('<title>xp console</title>');
    expect(asset.headers.get('content-type')).toContain('text/javascript');
    expect(asset.headers.get('cache-control')).toContain('immutable');
  });

  it('forwards /api, /sdk and /ofrep in-process with method, headers, query and body', async () => {
    const res = await app().request('/api/v1/projects/demo/flags?q=x', { method: 'POST', headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, body: '{"a":1}' });
    const sdk = await app().request('/sdk/v1/ruleset');
    const ofrep = await app().request('/ofrep/v1/evaluate/flags', { method: 'POST', headers: { authorization: 'Bearer xpk_srv_x', 'content-type': 'application/json' }, body: '{"context":{}}' });
    const ofrepFlag = await app().request('/ofrep/v1/evaluate/flags/checkout', { method: 'POST', body: '{}' });
    const preflight = await app().request('/ofrep/v1/evaluate/flags', { method: 'OPTIONS' });

    expect(await res.json()).toEqual({ method: 'POST', path: '/api/v1/projects/demo/flags', query: '?q=x', auth: 'Bearer t', body: '{"a":1}' });
    expect(await sdk.json()).toMatchObject({ method: 'GET', path: '/sdk/v1/ruleset' });
    expect(await ofrep.json()).toEqual({ method: 'POST', path: '/ofrep/v1/evaluate/flags', query: '', auth: 'Bearer xpk_srv_x', body: '{"context":{}}' });
    expect(await ofrepFlag.json()).toMatchObject({ method: 'POST', path: '/ofrep/v1/evaluate/flags/checkout' });
    expect(await preflight.json()).toMatchObject({ method: 'OPTIONS', path: '/ofrep/v1/evaluate/flags' });
  });

  it('forwards the API reference (/docs, its assets, /openapi.json) and /healthz', async () => {
    for (const p of ['/docs', '/docs/assets/swagger-ui-bundle.js', '/docs/assets/init.js', '/openapi.json', '/healthz']) {
      expect(await (await app().request(p)).json()).toMatchObject({ method: 'GET', path: p });
    }
  });

  it('refuses paths that climb out of the renderer folder and missing assets', async () => {
    expect((await app().request('/..%2Fsecret.txt')).status).toBe(404);
    expect((await app().request('/assets/missing.js')).status).toBe(404);
  });

  it('shows a placeholder pointing at the API when the renderer is not built', async () => {
    const unbuilt = createConsoleApp({ api, apiUrl: 'http://127.0.0.1:8000', rendererDir: path.join(dir, 'nowhere') });

    const page = await unbuilt.request('/');

    expect(await page.text()).toContain('http://127.0.0.1:8000/docs');
  });
});
