/**
 * Webhook requests sent through the sender function: the functions in the VPC (the API's test
 * sends, the dispatcher) have no route to the internet, so they invoke the sender, which runs
 * outside it, synchronously through the Lambda interface endpoint.
 */
import type { InvokeCommand } from '@aws-sdk/client-lambda';
import type { Logger } from '../domain/context.js';
import type { WebhookOutcome, WebhookSender } from '../domain/webhook-http.js';

/** The call the sender makes; a LambdaClient satisfies it. */
export interface LambdaInvoker {
  send(command: InvokeCommand): Promise<{ readonly FunctionError?: string | undefined; readonly Payload?: Uint8Array | undefined }>;
}

export interface LambdaSenderOptions {
  /** The sender function's name (XP_WEBHOOK_SENDER_FUNCTION). */
  readonly functionName: string;
  readonly logger: Logger;
  /** Default: a LambdaClient, created on first use. */
  readonly client?: LambdaInvoker;
  /** Milliseconds since the epoch; default Date.now. */
  readonly now?: () => number;
}

/** The sender's 15 s timeout and a margin: a stuck connection must not hold the dispatcher until its own timeout. */
const INVOKE_TIMEOUT_MS = 20_000;

const isNullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';

/** The sender function's answer, if it has a WebhookOutcome's shape. */
export function parseWebhookOutcome(value: unknown): WebhookOutcome | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const { statusCode, error, response, durationMs, retryAfterMs, refused } = value as Record<string, unknown>;
  if (!(statusCode === null || Number.isInteger(statusCode)) || !isNullableString(error) || !isNullableString(response) || typeof durationMs !== 'number') {
    return undefined;
  }
  return {
    statusCode: statusCode as number | null,
    error,
    response,
    durationMs,
    ...(typeof retryAfterMs === 'number' && retryAfterMs >= 0 ? { retryAfterMs } : {}),
    ...(refused === true ? { refused } : {}),
  };
}

/** An invocation's answer as JSON, or undefined when it has none or it is not JSON. */
export function decodeInvokePayload(payload: Uint8Array | undefined): unknown {
  if (payload === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return undefined;
  }
}

/**
 * A WebhookSender that invokes the sender function (RequestResponse). When the invocation itself
 * fails (a function error or timeout, throttling, the endpoint unreachable) the outcome has no
 * status code and an error naming the failure, so the delivery is retried with its backoff. It
 * names the failure's type only: a message could quote the URL, which may hold a token. The SDK
 * makes one attempt: retrying is the delivery's backoff, and never sends a request twice at once.
 */
export function lambdaSender(options: LambdaSenderOptions): WebhookSender {
  const now = options.now ?? Date.now;
  let client = options.client;
  return async (request) => {
    const started = now();
    const failed = (reason: string): WebhookOutcome => ({ statusCode: null, error: `sender failed: ${reason}`, response: null, durationMs: now() - started });
    let out: Awaited<ReturnType<LambdaInvoker['send']>>;
    try {
      // Loaded on first use, so the functions that never send do not pay for the import at init.
      const sdk = await import('@aws-sdk/client-lambda');
      client ??= new sdk.LambdaClient({ maxAttempts: 1, requestHandler: { connectionTimeout: 3_000, requestTimeout: INVOKE_TIMEOUT_MS } });
      out = await client.send(new sdk.InvokeCommand({ FunctionName: options.functionName, InvocationType: 'RequestResponse', Payload: JSON.stringify(request) }));
    } catch (error: unknown) {
      const name = error instanceof Error ? error.name : 'unknown error';
      options.logger.warn('webhook sender invocation failed', { error: name });
      return failed(name);
    }
    const payload = decodeInvokePayload(out.Payload);
    if (out.FunctionError !== undefined) {
      const errorType = (payload as { errorType?: unknown } | undefined)?.errorType;
      const reason = typeof errorType === 'string' ? errorType : out.FunctionError;
      options.logger.warn('webhook sender function error', { functionError: out.FunctionError, errorType: reason });
      return failed(reason);
    }
    const outcome = parseWebhookOutcome(payload);
    if (outcome === undefined) {
      options.logger.warn('webhook sender answered without an outcome');
      return failed('no outcome in its answer');
    }
    return outcome;
  };
}
