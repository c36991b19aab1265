import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppHandler } from '../app-protocol.js';

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

  const handler = () => createAppHandler({ rendererDir: dir, apiUrl: () => Promise.resolve(apiUrl), fetch: globalThis.fetch });

  it('serves renderer files with a content security policy and falls back to index.html', async () => {
    const js = await handler()(new Request('xp-app://console/assets/app.js'));
    const route = await handler()(new Request('xp-app://console/flags'));

    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    expect(js.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await route.text()).toContain('<title>xp</title>');
  });

  it('never serves files outside the renderer folder', async () => {
    const res = await handler()(new Request('xp-app://console/..%2Fsecret.txt'));

    expect(res.status).toBe(404);
  });

  it('forwards /api requests to the active profile with method, token and body', async () => {
    const res = await handler()(
      new Request('xp-app://console/api/v1/projects/demo/flags?q=x', { method: 'POST', headers: { authorization: 'Bearer t0k', 'content-type': 'application/json' }, body: '{"key":"a"}' }),
    );

    expect(await res.json()).toEqual({ ok: true });
    expect(seen.at(-1)).toEqual({ method: 'POST', url: '/api/v1/projects/demo/flags?q=x', auth: 'Bearer t0k', body: '{"key":"a"}' });
  });

  it('answers 502 with an error body when the API is down', async () => {
    const down = createAppHandler({ rendererDir: dir, apiUrl: () => Promise.resolve('http://127.0.0.1:1'), fetch: globalThis.fetch });

    const res = await down(new Request('xp-app://console/api/v1/health'));

    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: 'API_UNREACHABLE' } });
  });
});
