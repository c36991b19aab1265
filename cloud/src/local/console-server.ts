import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { CONSOLE_CSP } from '@xp/shared';

/** Anything with a fetch handler: the management API's Hono app. */
export interface FetchApp {
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
}

export interface ConsoleServerOptions {
  /** The API app; /api/*, /sdk/*, /ofrep/*, /docs and /openapi.json are passed to it in-process (same origin, no CORS). */
  readonly api: FetchApp;
  /** Shown by the placeholder page when the renderer has not been built. */
  readonly apiUrl: string;
  /** The built renderer; default desktop/dist/renderer of this checkout (XP_CONSOLE_DIR overrides). */
  readonly rendererDir?: string | undefined;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** desktop/dist/renderer, from cloud/src/local (tests) or cloud/dist/local (built). */
export function defaultRendererDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'desktop', 'dist', 'renderer');
}

const placeholder = (apiUrl: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>xp console</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;line-height:1.5;color:#222}code{background:#f3f3f3;padding:0 .3em}</style></head>
<body><h1>xp</h1>
<p>The console has not been built (run <code>npm run build</code>). The platform is running:</p>
<ul>
<li>API: <a href="${apiUrl}/api/v1/projects">${apiUrl}</a> (log in with <code>POST /api/v1/auth/login</code>)</li>
<li>API reference: <a href="${apiUrl}/docs">${apiUrl}/docs</a>, OpenAPI document at <a href="${apiUrl}/openapi.json">/openapi.json</a></li>
</ul></body></html>`;

/**
 * The web console: the built renderer as static files (index.html for every other path, so
 * deep links reload in place) and the API forwarded in-process under the same origin.
 */
export function createConsoleApp(options: ConsoleServerOptions): Hono {
  const root = path.resolve(options.rendererDir ?? defaultRendererDir());
  const built = existsSync(path.join(root, 'index.html'));
  const app = new Hono();
  const forward = (c: { req: { raw: Request }; env: unknown }): Response | Promise<Response> => options.api.fetch(c.req.raw, c.env);
  app.all('/api/*', forward);
  app.all('/sdk/*', forward);
  // OFREP (OpenFeature providers), as CloudFront forwards it on AWS (console-stack's API_PATHS).
  app.all('/ofrep/*', forward);
  app.get('/docs', forward);
  // The docs page's own assets (Swagger UI's script and styles), as on AWS (console-stack's /docs/*).
  app.get('/docs/*', forward);
  app.get('/openapi.json', forward);
  // The API's health, as CloudFront forwards it on AWS: a load balancer pointed at the console must see the database go down.
  app.get('/healthz', forward);
  app.on(['GET', 'HEAD'], '*', async (c) => {
    if (!built) {
      return c.html(placeholder(options.apiUrl));
    }
    let rel: string;
    try {
      rel = decodeURIComponent(new URL(c.req.url).pathname);
    } catch {
      return c.text('bad path', 400);
    }
    const file = path.resolve(root, `.${rel}`);
    if (file !== root && !file.startsWith(root + path.sep)) {
      return c.text('not found', 404);
    }
    const asset = path.extname(file) !== '';
    const target = asset ? file : path.join(root, 'index.html');
    let body: Buffer;
    try {
      body = await readFile(target);
    } catch {
      return c.text('not found', 404);
    }
    const immutable = asset && rel.startsWith('/assets/');
    return c.body(new Uint8Array(body), 200, {
      'Content-Type': TYPES[path.extname(target)] ?? 'application/octet-stream',
      'Content-Security-Policy': CONSOLE_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
  });
  return app;
}
