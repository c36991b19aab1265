/**
 * API Gateway HTTP API (payload v2) → Hono. Every request carries API Gateway's view of the
 * caller's address (requestContext.http.sourceIp, taken from the TCP connection, not a header) to
 * the app the way Node's server does, so per-IP login throttling sees real clients. Requests that
 * come through the console's CloudFront distribution (which proves it with the edge token header)
 * carry the viewer's address that CloudFront appended to X-Forwarded-For instead of CloudFront's own.
 */
/* eslint-disable @typescript-eslint/no-deprecated -- hono/aws-lambda points to @hono/aws-lambda, not a dependency yet; same API */
import { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import type { APIGatewayProxyResult, LambdaContext, LambdaEvent } from 'hono/aws-lambda';
import { EDGE_TOKEN_HEADER } from './runtime.js';

/** What API Gateway sends (payload 2.0; also 1.0 and ALB) and what it expects back. */
export type HttpEvent = LambdaEvent;
export type HttpResult = APIGatewayProxyResult;

export type HttpHandler = (event: HttpEvent, context?: LambdaContext) => Promise<HttpResult>;

interface LambdaBindings {
  readonly event?: {
    readonly headers?: Readonly<Record<string, string | undefined>>;
    readonly requestContext?: { readonly http?: { readonly sourceIp?: string }; readonly identity?: { readonly sourceIp?: string } };
  };
}

export interface HttpHandlerOptions {
  /** The value of the edge token header that marks requests from the console's CloudFront distribution. */
  readonly edgeToken?: string | undefined;
}

function sourceIpOf(env: LambdaBindings, edgeToken: string | undefined): string | undefined {
  const context = env.event?.requestContext;
  const peer = context?.http?.sourceIp ?? context?.identity?.sourceIp;
  const headers = env.event?.headers;
  if (edgeToken === undefined || headers?.[EDGE_TOKEN_HEADER] !== edgeToken) {
    return peer;
  }
  // CloudFront appends the viewer's address, then API Gateway may append CloudFront's (the peer).
  const hops = (headers['x-forwarded-for'] ?? '').split(',').map((h) => h.trim()).filter((h) => h !== '');
  if (hops.length > 0 && hops[hops.length - 1] === peer) {
    hops.pop();
  }
  return hops.pop() ?? peer;
}

/**
 * The event without its body when the method is GET or HEAD. API Gateway forwards a body sent with
 * them (`"body": "{}"`), which means nothing there; the Fetch API refuses to build such a Request,
 * and the adapter then answered 400 text/plain "Invalid request" (no JSON error, no request id)
 * and printed the stack with console.error, outside the structured log.
 */
function withoutBodyOnGet(event: HttpEvent): HttpEvent {
  const e = event as { body?: string | null; httpMethod?: string; requestContext?: { http?: { method?: string } } };
  const method = (e.requestContext?.http?.method ?? e.httpMethod ?? '').toUpperCase();
  if ((method !== 'GET' && method !== 'HEAD') || e.body === undefined || e.body === null || e.body === '') {
    return event;
  }
  const { body: _body, ...rest } = event as HttpEvent & { body?: string; headers?: Record<string, string | undefined> };
  const headers = rest.headers === undefined ? undefined : Object.fromEntries(Object.entries(rest.headers).filter(([name]) => name.toLowerCase() !== 'content-length'));
  return { ...rest, ...(headers === undefined ? {} : { headers }), isBase64Encoded: false } as HttpEvent;
}

/** A Lambda handler serving `app`, built on the first request and kept for the instance's life. */
export function httpHandler(build: () => Promise<Hono>, options: HttpHandlerOptions = {}): HttpHandler {
  let handler: Promise<HttpHandler> | undefined;
  const create = async (): Promise<HttpHandler> => {
    const app = await build();
    const edge = new Hono<{ Bindings: LambdaBindings }>();
    edge.all('*', (c) => {
      const ip = sourceIpOf(c.env, options.edgeToken);
      return app.fetch(c.req.raw, ip === undefined ? c.env : { ...c.env, incoming: { socket: { remoteAddress: ip } } });
    });
    return handle(edge);
  };
  return async (event, context) => {
    handler ??= create().catch((error: unknown) => {
      handler = undefined;
      throw error;
    });
    return (await handler)(withoutBodyOnGet(event), context);
  };
}
