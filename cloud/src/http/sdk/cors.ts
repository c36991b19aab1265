import type { MiddlewareHandler } from 'hono';

/**
 * CORS of the SDK and OFREP endpoints. Browser SDKs and OpenFeature providers run on the customer's
 * own sites: these endpoints answer any origin. The key travels in a header, never in a cookie, so
 * no credentials are allowed or needed.
 */

/** The CORS headers of every SDK and OFREP answer. */
export const SDK_CORS_HEADERS: Readonly<Record<string, string>> = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'ETag, Retry-After' };

/** The answer to a preflight (OPTIONS, 204 with these) allowing `methods` and `headers` from any origin, cached for a day. */
export function preflightHeaders(methods: string, headers: readonly string[]): Readonly<Record<string, string>> {
  return {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': methods,
    'Access-Control-Allow-Headers': headers.join(', '),
    'Access-Control-Max-Age': '86400',
  };
}

/**
 * Answers a preflight with `preflight`, and gives every other answer SDK_CORS_HEADERS. The headers go
 * through c.header() before the handler: hono/cors writes them to c.res, which makes every answer a
 * copy of a placeholder Response and takes @hono/node-server off its fast path (it had halved
 * /sdk/v1/evaluate's throughput in `npm run bench -- sdk`).
 */
export function anyOriginCors(preflight: Readonly<Record<string, string>>): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method === 'OPTIONS') {
      return c.body(null, 204, preflight);
    }
    for (const [name, value] of Object.entries(SDK_CORS_HEADERS)) {
      c.header(name, value);
    }
    await next();
    return undefined;
  };
}
