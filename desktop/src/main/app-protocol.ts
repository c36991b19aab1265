import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CONSOLE_CSP } from '@xp/shared';

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


/** Paths the handler forwards to the API instead of serving from the renderer folder. */
export function isProxiedPath(pathname: string): boolean {
  return pathname.startsWith('/api/') || pathname.startsWith('/sdk/');
}

/** Where proxied requests go, and the session they carry: read together, from the active profile. */
export interface ProxySession {
  /** The API base URL of the active connection profile. */
  readonly apiUrl: string;
  /** Its session token, or null when signed out; the page never sees it. */
  readonly token: string | null;
}

export interface AppProtocolOptions {
  /** The built renderer (desktop/dist/renderer). */
  readonly rendererDir: string;
  readonly session: () => Promise<ProxySession>;
  readonly fetch: typeof fetch;
}

const refuse = (status: number, code: string, message: string): Response => Response.json({ error: { code, message } }, { status });

/** The proxy's target for a page path, or null when it would leave the profile's API (its origin, or its base path). */
export function proxyTarget(apiUrl: string, pathname: string, search: string): URL | null {
  let base: URL;
  let target: URL;
  try {
    base = new URL(apiUrl);
    target = new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}${pathname}${search}`);
  } catch {
    return null;
  }
  const prefix = base.pathname.replace(/\/+$/, '');
  let decoded: string;
  try {
    decoded = decodeURIComponent(target.pathname);
  } catch {
    return null;
  }
  // `..%2f` survives URL parsing but a server may decode it and climb out of the base path.
  const climbs = decoded.split(/[/\\]/).some((segment) => segment === '..' || segment === '.');
  if (target.origin !== base.origin || !target.pathname.startsWith(prefix) || !isProxiedPath(target.pathname.slice(prefix.length)) || climbs) {
    return null;
  }
  return target;
}

/**
 * The `xp-app://console` handler: static renderer files, and /api/* and /sdk/* forwarded to the
 * active profile's API, so the page always talks to its own origin (as in the web console). The
 * proxy, not the page, sets `Authorization` (the active profile's token); whatever the page sent
 * there is dropped, and responses may not run as pages of the app's origin (CSP sandbox).
 */
export function createAppHandler(options: AppProtocolOptions): (request: Request) => Promise<Response> {
  const root = path.resolve(options.rendererDir);
  return async (request) => {
    const url = new URL(request.url);
    if (isProxiedPath(url.pathname)) {
      const session = await options.session();
      const target = proxyTarget(session.apiUrl, url.pathname, url.search);
      if (target === null) {
        return refuse(403, 'PROXY_REFUSED', "the console only forwards to its connection profile's API");
      }
      const headers = new Headers(request.headers);
      headers.delete('cookie');
      headers.delete('origin');
      headers.delete('authorization');
      if (session.token !== null) {
        headers.set('authorization', `Bearer ${session.token}`);
      }
      const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
      let res: Response;
      try {
        res = await options.fetch(target.href, { method: request.method, headers, ...(hasBody ? { body: await request.arrayBuffer() } : {}), redirect: 'manual' });
      } catch {
        return refuse(502, 'API_UNREACHABLE', 'the API of this connection profile cannot be reached');
      }
      return confined(res);
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
        headers: { 'content-type': TYPES[path.extname(target)] ?? 'application/octet-stream', 'content-security-policy': CONSOLE_CSP, 'x-content-type-options': 'nosniff' },
      });
    } catch {
      return new Response('not found', { status: 404 });
    }
  };
}

/** An API response that cannot become a page of the app: sandboxed (no script, opaque origin) and not sniffed. */
function confined(res: Response): Response {
  if (res.status < 200 || res.status > 599) {
    return refuse(502, 'API_UNREACHABLE', 'the API of this connection profile gave no usable answer');
  }
  const headers = new Headers(res.headers);
  headers.set('content-security-policy', 'sandbox');
  headers.set('x-content-type-options', 'nosniff');
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}
