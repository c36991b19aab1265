import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP } from '@xp/shared';
import { createAppHandler, proxyTarget } from '../app-protocol.js';

describe('xp-app:// protocol handler', () => {
  let dir: string;
  let apiUrl: string;
  const seen: { method: string; url: string; auth: string | undefined; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true }));
    });
  });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-renderer-'));
    await mkdir(path.join(dir, 'assets'));
    await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>xp</title>');
    await writeFile(path.join(dir, 'assets', 'app.js'), 'console.log(1)');
    await writeFile(path.join(path.dirname(dir), 'secret.txt'), 'outside');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
    await rm(path.join(path.dirname(dir), 'secret.txt'), { force: true });
  });

  const handler = (token: string | null = 'stored-session') => createAppHandler({ rendererDir: dir, session: () => Promise.resolve({ apiUrl, token }), fetch: globalThis.fetch });

  it('serves renderer files with a content security policy and falls back to index.html', async () => {
    const js = await handler()(new Request('xp-app://console/assets/app.js'));
    const route = await handler()(new Request('xp-app://console/flags'));

    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect(js.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(await route.text()).toContain('<title>xp</title>');
  });

  it('never serves files outside the renderer folder', async () => {
    const res = await handler()(new Request('xp-app://console/..%2Fsecret.txt'));

    expect(res.status).toBe(404);
  });

  it("forwards /api requests to the active profile with method, body and the profile's token", async () => {
    const res = await handler()(new Request('xp-app://console/api/v1/projects/demo/flags?q=x', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":"a"}' }));

    expect(await res.json()).toEqual({ ok: true });
    expect(seen.at(-1)).toEqual({ method: 'POST', url: '/api/v1/projects/demo/flags?q=x', auth: 'Bearer stored-session', body: '{"key":"a"}' });
  });

  it('replaces an Authorization header the page sets with the active token, and sends none when signed out', async () => {
    await handler()(new Request('xp-app://console/api/v1/me', { headers: { authorization: 'Bearer chosen-by-the-page' } }));
    const withToken = seen.at(-1)!.auth;
    await handler(null)(new Request('xp-app://console/sdk/v1/flags', { headers: { authorization: 'Bearer chosen-by-the-page' } }));

    expect(withToken).toBe('Bearer stored-session');
    expect(seen.at(-1)).toMatchObject({ url: '/sdk/v1/flags', auth: undefined });
  });

  it('marks proxied answers as sandboxed and not to be sniffed, so an API page cannot run as the app', async () => {
    const html = createAppHandler({
      rendererDir: dir,
      session: () => Promise.resolve({ apiUrl, token: 't' }),
      fetch: () => Promise.resolve(new Response('<script>xp.setToken(null)</script>', { status: 200, headers: { 'content-type': 'text/html' } })),
    });

    const res = await html(new Request('xp-app://console/api/v1/page'));

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html');
    expect(res.headers.get('content-security-policy')).toBe('sandbox');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers 502 with an error body when the API is down', async () => {
    const down = createAppHandler({ rendererDir: dir, session: () => Promise.resolve({ apiUrl: 'http://127.0.0.1:1', token: null }), fetch: globalThis.fetch });

    const res = await down(new Request('xp-app://console/api/v1/health'));

    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: 'API_UNREACHABLE' } });
  });

  it.each([
    ['an encoded climb out of the base path', 'https://gw.example/xp', '/api/..%2f..%2fadmin'],
    ['an encoded climb with backslashes', 'https://gw.example/xp', '/api/..%5c..%5cadmin'],
    ['a path that leaves /api after decoding', 'https://gw.example', '/api/v1/flags/%2E%2E%2F%2E%2E%2F%2E%2E%2Finternal'],
  ])('refuses (403) %s without sending anything', async (_name, base, pathname) => {
    const sent: string[] = [];
    const proxy = createAppHandler({
      rendererDir: dir,
      session: () => Promise.resolve({ apiUrl: base, token: 'secret' }),
      fetch: (url) => {
        sent.push(url instanceof Request ? url.url : url.toString());
        return Promise.resolve(new Response('{}'));
      },
    });

    const res = await proxy(new Request(`xp-app://console${pathname}`));

    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'PROXY_REFUSED' } });
    expect(sent).toEqual([]);
  });
});

describe('proxy target', () => {
  it("stays on the profile's origin and under its base path", () => {
    expect(proxyTarget('https://gw.example/xp', '/api/v1/me', '?a=1')?.href).toBe('https://gw.example/xp/api/v1/me?a=1');
    expect(proxyTarget('http://localhost:8000', '/sdk/v1/flags', '')?.href).toBe('http://localhost:8000/sdk/v1/flags');
    expect(proxyTarget('https://gw.example/xp', '/api/../../admin', '')).toBeNull();
    expect(proxyTarget('https://gw.example', '/static/x', '')).toBeNull();
    expect(proxyTarget('not a url', '/api/v1/me', '')).toBeNull();
    // Not reachable from a page path (it always starts with /api/ or /sdk/), but never another origin.
    expect(proxyTarget('https://gw.example', '@evil.example/api/v1/me', '')).toBeNull();
  });
});
