import { readFile } from 'node:fs/promises';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export interface AppProtocolOptions {
  /** The built renderer (desktop/dist/renderer). */
  readonly rendererDir: string;
  /** The API base URL of the active connection profile. */
  readonly apiUrl: () => Promise<string>;
  readonly fetch: typeof fetch;
}

/**
 * The `xp-app://console` handler: static renderer files, and /api/* and /sdk/* forwarded to the
 * active profile's API, so the page always talks to its own origin (as in the web console).
 */
export function createAppHandler(options: AppProtocolOptions): (request: Request) => Promise<Response> {
  const root = path.resolve(options.rendererDir);
  return async (request) => {
    const url = new URL(request.url);
    if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/sdk/')) {
      const target = `${(await options.apiUrl()).replace(/\/+$/, '')}${url.pathname}${url.search}`;
      const headers = new Headers(request.headers);
      headers.delete('cookie');
      headers.delete('origin');
      const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
      try {
        return await options.fetch(target, { method: request.method, headers, ...(hasBody ? { body: await request.arrayBuffer() } : {}), redirect: 'manual' });
      } catch {
        return Response.json({ error: { code: 'API_UNREACHABLE', message: 'the API of this connection profile cannot be reached' } }, { status: 502 });
      }
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response('method not allowed', { status: 405 });
    }
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return new Response('bad path', { status: 400 });
    }
    const file = path.resolve(root, `.${rel}`);
    if (file !== root && !file.startsWith(root + path.sep)) {
      return new Response('not found', { status: 404 });
    }
    const ext = path.extname(file);
    const target = ext === '' || rel === '/' ? path.join(root, 'index.html') : file;
    try {
      const body = await readFile(target);
      return new Response(body, {
        status: 200,
        headers: { 'content-type': TYPES[path.extname(target)] ?? 'application/octet-stream', 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' },
      });
    } catch {
      return new Response('not found', { status: 404 });
    }
  };
}
