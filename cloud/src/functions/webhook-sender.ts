/**
 * Sends one webhook request. It runs outside the VPC, because receivers are on the internet and the
 * VPC has no NAT; the dispatcher inside the VPC invokes it synchronously and records the outcome.
 * It holds no secret and reaches no database: the request arrives signed, and only its outcome goes back.
 */
import type { Logger } from '../domain/context.js';
import { createHttpSender } from '../domain/webhook-http.js';
import type { WebhookOutcome, WebhookRequest, WebhookSender } from '../domain/webhooks.js';
import { functionLogger } from './runtime.js';

/** Longest timeout a request may ask for: below the function's own timeout (15 s), so an outcome always comes back. */
export const MAX_SEND_TIMEOUT_MS = 12_000;

/** Longest URL accepted (the API's limit). */
const MAX_URL_LENGTH = 2048;

export type ParsedWebhookRequest = { readonly ok: true; readonly request: WebhookRequest } | { readonly ok: false; readonly problem: string };

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Checks an invocation payload's shape; the problem names the field, never its value (a URL may hold a token). */
export function parseWebhookRequest(event: unknown): ParsedWebhookRequest {
  if (!isRecord(event)) {
    return { ok: false, problem: 'the event is not an object' };
  }
  const { url, headers, body, timeoutMs } = event;
  if (typeof url !== 'string' || url.length > MAX_URL_LENGTH || !URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
    return { ok: false, problem: 'url is not an http(s) URL' };
  }
  if (!isRecord(headers) || !Object.values(headers).every((v) => typeof v === 'string')) {
    return { ok: false, problem: 'headers is not an object of strings' };
  }
  if (typeof body !== 'string') {
    return { ok: false, problem: 'body is not a string' };
  }
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_SEND_TIMEOUT_MS) {
    return { ok: false, problem: `timeoutMs is not an integer in 1..${MAX_SEND_TIMEOUT_MS}` };
  }
  return { ok: true, request: { url, headers: headers as Record<string, string>, body, timeoutMs } };
}

export interface WebhookSenderOptions {
  /** Default: the HTTP(S) sender, refusing loopback (127.0.0.1:9001 is the Lambda runtime's API here). */
  readonly send?: WebhookSender;
  readonly logger?: Logger;
}

/** A malformed event becomes a failed outcome (retried by the dispatcher like a network error), not a function error. */
export function createWebhookSenderHandler(options: WebhookSenderOptions = {}): (event: unknown) => Promise<WebhookOutcome> {
  const send = options.send ?? createHttpSender({ refuseLoopback: true });
  const logger = options.logger ?? functionLogger();
  return async (event) => {
    const parsed = parseWebhookRequest(event);
    if (!parsed.ok) {
      logger.warn('malformed webhook request', { problem: parsed.problem });
      return { statusCode: null, error: `malformed sender request: ${parsed.problem}`, response: null, durationMs: 0 };
    }
    return await send(parsed.request);
  };
}

export const handler = createWebhookSenderHandler();
