/**
 * API Gateway HTTP API (payload v2) → Hono. Every request carries API Gateway's view of the
 * caller's address (requestContext.http.sourceIp, taken from the TCP connection, not a header) to
 * the app the way Node's server does, so per-IP login throttling sees real clients.
 */
/* eslint-disable @typescript-eslint/no-deprecated -- hono/aws-lambda points to @hono/aws-lambda, not a dependency yet; same API */
import { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import type { APIGatewayProxyResult, LambdaContext, LambdaEvent } from 'hono/aws-lambda';

/** What API Gateway sends (payload 2.0; also 1.0 and ALB) and what it expects back. */
export type HttpEvent = LambdaEvent;
export type HttpResult = APIGatewayProxyResult;

export type HttpHandler = (event: HttpEvent, context?: LambdaContext) => Promise<HttpResult>;

interface LambdaBindings {
  readonly event?: { readonly requestContext?: { readonly http?: { readonly sourceIp?: string }; readonly identity?: { readonly sourceIp?: string } } };
}

function sourceIpOf(env: LambdaBindings): string | undefined {
  const context = env.event?.requestContext;
  return context?.http?.sourceIp ?? context?.identity?.sourceIp;
}

/** A Lambda handler serving `app`, built on the first request and kept for the instance's life. */
export function httpHandler(build: () => Promise<Hono>): HttpHandler {
  let handler: Promise<HttpHandler> | undefined;
  const create = async (): Promise<HttpHandler> => {
    const app = await build();
    const edge = new Hono<{ Bindings: LambdaBindings }>();
    edge.all('*', (c) => {
      const ip = sourceIpOf(c.env);
      return app.fetch(c.req.raw, ip === undefined ? c.env : { ...c.env, incoming: { socket: { remoteAddress: ip } } });
    });
    return handle(edge);
  };
  return async (event, context) => {
    handler ??= create().catch((error: unknown) => {
      handler = undefined;
      throw error;
    });
    return (await handler)(event, context);
  };
}
