/**
 * The API function's requests to the identity provider, sent through the SSO egress function
 * (sso-egress.ts): the API runs in the VPC without a route to the internet, so it invokes the egress
 * function, which runs outside it, synchronously through the Lambda interface endpoint. A `fetch`
 * for openid-client's customFetch (domain/sso.ts, Deps.ssoFetch).
 *
 * Failures look to openid-client like fetch's own: an invocation that fails, or an IdP that cannot
 * be reached, is a TypeError "fetch failed" (with the reason as its cause), an IdP that does not answer
 * in time a TimeoutError; so SsoService reports them as `idp-unavailable`. A request the egress function
 * refuses is an SsoEgressRefused error (the IdP's answer could not be used: `invalid-response`).
 */
import type { Logger } from '../domain/context.js';
import { parseSsoEgressResult } from './sso-egress-protocol.js';
import type { SsoEgressRequest } from './sso-egress-protocol.js';
import { decodeInvokePayload } from './webhook-lambda-sender.js';
import type { LambdaInvoker } from './webhook-lambda-sender.js';

export interface SsoEgressFetchOptions {
  /** The egress function's name (XP_SSO_EGRESS_FUNCTION). */
  readonly functionName: string;
  readonly logger: Logger;
  /** Default: a LambdaClient, created on first use. */
  readonly client?: LambdaInvoker;
}

/** The egress function's 15 s timeout and a margin; openid-client's own 10 s signal usually ends the wait first. */
const INVOKE_TIMEOUT_MS = 20_000;

/** The egress function refused the request (a URL or method it does not send, a body too large). */
export class SsoEgressRefused extends Error {
  constructor(message: string) {
    super(`the SSO egress function refused the request: ${message}`);
    this.name = 'SsoEgressRefused';
  }
}

const fetchFailed = (reason: string): TypeError => new TypeError('fetch failed', { cause: new Error(reason) });

/** Statuses whose Response has no body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

/** Rejects with the signal's reason once it aborts (openid-client's timeout: a TimeoutError). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', onAbort);
    });
  });
}

/**
 * A fetch that sends each request through the egress function (RequestResponse). It logs only the
 * failure's kind: never a URL, header or body (the token request carries the client secret and the
 * authorisation code). The SDK makes one attempt: a token request must not be sent twice.
 */
export function lambdaSsoFetch(options: SsoEgressFetchOptions): typeof fetch {
  let client = options.client;
  const { logger } = options;
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    // The caller's own signal: the Request's copy of it is not reliably aborted once the caller's is.
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    const bytes = request.body === null ? undefined : new Uint8Array(await request.arrayBuffer());
    const payload: SsoEgressRequest = {
      url: request.url,
      method: request.method,
      headers: Object.fromEntries(request.headers),
      ...(bytes === undefined ? {} : { body: Buffer.from(bytes).toString('base64') }),
    };
    let out: Awaited<ReturnType<LambdaInvoker['send']>>;
    try {
      const invoke = async (): Promise<Awaited<ReturnType<LambdaInvoker['send']>>> => {
        // Loaded on first use, so cold starts that sign nobody in do not pay for the import.
        const sdk = await import('@aws-sdk/client-lambda');
        client ??= new sdk.LambdaClient({ maxAttempts: 1, requestHandler: { connectionTimeout: 3_000, requestTimeout: INVOKE_TIMEOUT_MS } });
        return client.send(new sdk.InvokeCommand({ FunctionName: options.functionName, InvocationType: 'RequestResponse', Payload: JSON.stringify(payload) }));
      };
      out = signal === undefined ? await invoke() : await untilAborted(invoke(), signal);
    } catch (error: unknown) {
      if (signal?.aborted === true) {
        throw error;
      }
      const name = error instanceof Error ? error.name : 'unknown error';
      logger.warn('sso egress invocation failed', { error: name });
      throw fetchFailed(`the SSO egress function could not be invoked: ${name}`);
    }
    const answer = decodeInvokePayload(out.Payload);
    if (out.FunctionError !== undefined) {
      const errorType = (answer as { errorType?: unknown } | undefined)?.errorType;
      const reason = typeof errorType === 'string' ? errorType : out.FunctionError;
      logger.warn('sso egress function error', { functionError: out.FunctionError, errorType: reason });
      throw fetchFailed(`the SSO egress function failed: ${reason}`);
    }
    const result = parseSsoEgressResult(answer);
    if (result === undefined) {
      logger.warn('sso egress answered without a result');
      throw fetchFailed('the SSO egress function answered without a result');
    }
    if ('error' in result) {
      // openid-client reports it as "something went wrong" (this error its cause): the kind is logged here. The message names no header or body.
      logger.warn('sso egress: no answer from the identity provider', { error: result.error, message: result.message });
      switch (result.error) {
        case 'timeout':
          throw new DOMException(`the identity provider did not answer in time (${result.message})`, 'TimeoutError');
        case 'unreachable':
          throw fetchFailed(`the identity provider could not be reached: ${result.message}`);
        default:
          throw new SsoEgressRefused(result.message);
      }
    }
    const body = Buffer.from(result.body, 'base64');
    return new Response(NULL_BODY.has(result.status) ? null : body, { status: result.status, headers: result.headers });
  };
}
