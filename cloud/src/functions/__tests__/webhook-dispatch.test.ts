/**
 * The dispatcher's side of webhook delivery. Lambda cannot run here, so the Lambda client is faked
 * at its boundary (`send`, which receives the real InvokeCommand): what it answers is what the
 * Lambda API answers for a sender's outcome, a sender function error, and a failed call.
 */
import { InvokeCommand, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { PlatformKey } from '../../auth/platform-key.js';
import type { Deps } from '../../domain/context.js';
import type { WebhookOutcome, WebhookRequest, WebhookSender } from '../../domain/webhooks.js';
import { DISPATCH_RESERVE_MS, createWebhookDispatchHandler } from '../webhook-dispatch.js';
import { lambdaSender, parseWebhookOutcome } from '../webhook-lambda-sender.js';
import type { LambdaInvoker } from '../webhook-lambda-sender.js';

const REQUEST: WebhookRequest = {
  url: 'https://hooks.slack.com/services/T000/B000/secret-token',
  headers: { 'Content-Type': 'application/json', 'X-XP-Delivery': 'd-1' },
  body: '{"text":"flag.updated"}',
  timeoutMs: 10_000,
};

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

function recordingLogger(): { logger: Deps['logger']; lines: { message: string; fields?: Record<string, unknown> }[] } {
  const lines: { message: string; fields?: Record<string, unknown> }[] = [];
  const push = (message: string, fields?: Record<string, unknown>): void => {
    lines.push({ message, ...(fields === undefined ? {} : { fields }) });
  };
  return { lines, logger: { info: push, warn: push, error: push } };
}

/** A Lambda client that answers (or fails) as given and keeps the commands it was sent. */
function fakeLambda(answer: (command: InvokeCommand) => Promise<Awaited<ReturnType<LambdaInvoker['send']>>>): LambdaInvoker & { readonly sent: InvokeCommand[] } {
  const sent: InvokeCommand[] = [];
  return {
    sent,
    send: (command) => {
      sent.push(command);
      return answer(command);
    },
  };
}

/** A clock that advances 40 ms per reading. */
const ticking = (): (() => number) => {
  let t = 1_000_000;
  return () => (t += 40);
};

describe('lambdaSender: webhook requests through the sender function', () => {
  it('invokes the sender synchronously with the request and returns its outcome', async () => {
    const outcome: WebhookOutcome = { statusCode: 429, error: null, response: 'slow down', durationMs: 87, retryAfterMs: 5_000 };
    const client = fakeLambda(() => Promise.resolve({ Payload: encode(outcome) }));
    const send = lambdaSender({ functionName: 'xp-dev-api-WebhooksSender', client, logger: recordingLogger().logger });

    const result = await send(REQUEST);

    expect(result).toEqual(outcome);
    expect(client.sent).toHaveLength(1);
    expect(client.sent[0]).toBeInstanceOf(InvokeCommand);
    expect(client.sent[0]!.input).toEqual({ FunctionName: 'xp-dev-api-WebhooksSender', InvocationType: 'RequestResponse', Payload: JSON.stringify(REQUEST) });
  });

  it('turns a sender function error into a retryable outcome naming its type, never its message (which may quote the URL)', async () => {
    const client = fakeLambda(() =>
      Promise.resolve({ FunctionError: 'Unhandled', Payload: encode({ errorType: 'TypeError', errorMessage: `Invalid URL: ${REQUEST.url}`, trace: ['TypeError: Invalid URL'] }) }),
    );
    const { logger, lines } = recordingLogger();
    const send = lambdaSender({ functionName: 'sender', client, logger, now: ticking() });

    const result = await send(REQUEST);

    expect(result).toEqual({ statusCode: null, error: 'sender failed: TypeError', response: null, durationMs: 40 });
    expect(JSON.stringify(lines)).not.toContain('secret-token');
    expect(lines).toEqual([{ message: 'webhook sender function error', fields: { functionError: 'Unhandled', errorType: 'TypeError' } }]);
  });

  it('falls back to the FunctionError kind when the error payload is unreadable (a timed-out sender)', async () => {
    const client = fakeLambda(() => Promise.resolve({ FunctionError: 'Unhandled', Payload: new TextEncoder().encode('not json') }));
    const send = lambdaSender({ functionName: 'sender', client, logger: recordingLogger().logger, now: ticking() });

    expect(await send(REQUEST)).toEqual({ statusCode: null, error: 'sender failed: Unhandled', response: null, durationMs: 40 });
  });

  it('turns a failed Invoke call (throttling) into a retryable outcome naming the SDK error', async () => {
    const client = fakeLambda(() => Promise.reject(new TooManyRequestsException({ message: 'Rate Exceeded.', $metadata: { httpStatusCode: 429 } })));
    const { logger, lines } = recordingLogger();
    const send = lambdaSender({ functionName: 'sender', client, logger, now: ticking() });

    const result = await send(REQUEST);

    expect(result).toEqual({ statusCode: null, error: 'sender failed: TooManyRequestsException', response: null, durationMs: 40 });
    expect(lines).toEqual([{ message: 'webhook sender invocation failed', fields: { error: 'TooManyRequestsException' } }]);
  });

  it('treats an answer without an outcome as a failed send', async () => {
    const client = fakeLambda(() => Promise.resolve({ Payload: encode({ ok: true }) }));
    const send = lambdaSender({ functionName: 'sender', client, logger: recordingLogger().logger, now: ticking() });

    expect(await send(REQUEST)).toEqual({ statusCode: null, error: 'sender failed: no outcome in its answer', response: null, durationMs: 40 });
  });

  it("reads only a WebhookOutcome's fields from the answer", () => {
    expect(parseWebhookOutcome({ statusCode: 204, error: null, response: null, durationMs: 3, extra: 'x' })).toEqual({ statusCode: 204, error: null, response: null, durationMs: 3 });
    expect(parseWebhookOutcome({ statusCode: '200', error: null, response: null, durationMs: 3 })).toBeUndefined();
    // The sender refusing a blocked address says so, and the dispatcher fails the delivery at once.
    expect(parseWebhookOutcome({ statusCode: null, error: 'blocked', response: null, durationMs: 0, refused: true })).toEqual({ statusCode: null, error: 'blocked', response: null, durationMs: 0, refused: true });
    expect(parseWebhookOutcome({ statusCode: null, error: 'x', response: null, durationMs: 0, refused: 'yes' })).toEqual({ statusCode: null, error: 'x', response: null, durationMs: 0 });
    expect(parseWebhookOutcome({ statusCode: null, error: 'refused', response: null })).toBeUndefined();
    expect(parseWebhookOutcome(null)).toBeUndefined();
  });
});

describe('webhook dispatch handler', () => {
  const sender: WebhookSender = () => Promise.resolve({ statusCode: 200, error: null, response: null, durationMs: 1 });
  const depsWith = (extra: Partial<Deps>): (() => Promise<Deps>) => () => Promise.resolve({ ...({} as Deps), ...extra });

  it('dispatches with the deps and their sender until the reserve before the timeout, and logs the report', async () => {
    const calls: { deps: Deps; sender: WebhookSender; until: number }[] = [];
    const { logger, lines } = recordingLogger();
    const platformKey = PlatformKey.generate();
    const handler = createWebhookDispatchHandler({}, {
      deps: depsWith({ platformKey, webhookSender: sender }),
      logger,
      now: () => 5_000_000,
      dispatch: (deps, s, options) => {
        calls.push({ deps, sender: s, until: options.until });
        return Promise.resolve({ delivered: 3, failed: 1, retried: 2 });
      },
    });

    const report = await handler({ source: 'aws.events' }, { getRemainingTimeInMillis: () => 99_800 });

    expect(report).toEqual({ delivered: 3, failed: 1, retried: 2 });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.sender).toBe(sender);
    expect(calls[0]!.deps.platformKey).toBe(platformKey);
    expect(calls[0]!.until).toBe(5_000_000 + 99_800 - DISPATCH_RESERVE_MS);
    expect(lines).toEqual([{ message: 'webhook dispatch', fields: { delivered: 3, failed: 1, retried: 2 } }]);
  });

  it('fails without the platform key or the sender function rather than idling or sending from inside the VPC', async () => {
    const dispatch = (): Promise<{ delivered: number; failed: number; retried: number }> => Promise.reject(new Error('must not dispatch'));
    const noKey = createWebhookDispatchHandler({}, { deps: depsWith({ webhookSender: sender }), dispatch, logger: recordingLogger().logger });
    const noSender = createWebhookDispatchHandler({}, { deps: depsWith({ platformKey: PlatformKey.generate() }), dispatch, logger: recordingLogger().logger });
    const context = { getRemainingTimeInMillis: () => 99_000 };

    await expect(noKey({}, context)).rejects.toThrow('XP_PLATFORM_KEY_SECRET_ARN');
    await expect(noSender({}, context)).rejects.toThrow('XP_WEBHOOK_SENDER_FUNCTION');
  });
});
