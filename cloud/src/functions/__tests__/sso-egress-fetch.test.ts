/**
 * The API side of the SSO egress: how a fetch made by openid-client becomes the egress function's
 * invocation, and its answer (or failure) a Response (or the error fetch would throw). Lambda itself
 * cannot run here, so a fake LambdaInvoker stands for the Invoke call; the egress function's own
 * behaviour is tested against a real server in sso-egress.test.ts and end to end in sso-egress-signin.test.ts.
 */
import type { InvokeCommand } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { SsoEgressRefused, lambdaSsoFetch } from '../sso-egress-fetch.js';
import type { LambdaInvoker } from '../webhook-lambda-sender.js';

type Out = Awaited<ReturnType<LambdaInvoker['send']>>;

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** A fake Invoke: records each command's input and answers with `answer`. */
function fakeLambda(answer: () => Promise<Out>): { client: LambdaInvoker; calls: { FunctionName?: string | undefined; InvocationType?: string | undefined; payload: any }[]; logs: string[] } {
  const calls: { FunctionName?: string | undefined; InvocationType?: string | undefined; payload: any }[] = [];
  const logs: string[] = [];
  const client: LambdaInvoker = {
    send: (command: InvokeCommand) => {
      // The invoker sends its payload as a JSON string.
      const { FunctionName, InvocationType, Payload } = command.input;
      calls.push({ FunctionName, InvocationType, payload: JSON.parse(Payload as string) });
      return answer();
    },
  };
  return { client, calls, logs };
}

const logger = (logs: string[]) => ({
  info: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`),
  warn: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`),
  error: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`),
});

describe('lambdaSsoFetch', () => {
  it('invokes the egress function synchronously with the request, and returns its answer as a Response', async () => {
    const lambda = fakeLambda(() => Promise.resolve({ Payload: encode({ status: 400, headers: { 'content-type': 'application/json', 'www-authenticate': 'Basic' }, body: b64('{"error":"invalid_grant"}') }) }));
    const ssoFetch = lambdaSsoFetch({ functionName: 'xp-dev-sso-egress', logger: logger(lambda.logs), client: lambda.client });

    const res = await ssoFetch('https://idp.example.com/oauth2/token', {
      method: 'POST',
      headers: { authorization: 'Basic eHA6c2VjcmV0', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'the-code' }),
      redirect: 'manual',
    });

    expect(lambda.calls).toEqual([
      {
        FunctionName: 'xp-dev-sso-egress',
        InvocationType: 'RequestResponse',
        payload: {
          url: 'https://idp.example.com/oauth2/token',
          method: 'POST',
          headers: { authorization: 'Basic eHA6c2VjcmV0', accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' },
          body: b64('grant_type=authorization_code&code=the-code'),
        },
      },
    ]);
    expect([res.status, res.headers.get('content-type'), res.headers.get('www-authenticate'), await res.json()]).toEqual([400, 'application/json', 'Basic', { error: 'invalid_grant' }]);
  });

  it('sends a GET without a body, and answers a 204 with an empty body', async () => {
    const lambda = fakeLambda(() => Promise.resolve({ Payload: encode({ status: 204, headers: {}, body: '' }) }));

    const res = await lambdaSsoFetch({ functionName: 'egress', logger: logger(lambda.logs), client: lambda.client })(new URL('https://idp.example.com/jwks'));

    expect(lambda.calls[0]!.payload).toEqual({ url: 'https://idp.example.com/jwks', method: 'GET', headers: {} });
    expect([res.status, await res.text()]).toEqual([204, '']);
  });

  it("fails as fetch does when the IdP is unreachable or the invocation fails (idp-unavailable), and names the egress' refusal", async () => {
    const failing = async (answer: () => Promise<Out>): Promise<unknown> => {
      const lambda = fakeLambda(answer);
      const error = await lambdaSsoFetch({ functionName: 'egress', logger: logger(lambda.logs), client: lambda.client })('https://idp.example.com/token', { method: 'POST', headers: { authorization: 'Basic c2VjcmV0' }, body: 'code=c' }).catch((e: unknown) => e);
      // The logs never hold the request's headers or body.
      expect(lambda.logs.filter((l) => /c2VjcmV0|code=c|\/token/.test(l))).toEqual([]);
      return error;
    };
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' });

    const unreachable = await failing(() => Promise.resolve({ Payload: encode({ error: 'unreachable', message: 'TypeError (ENOTFOUND)' }) }));
    const timeout = await failing(() => Promise.resolve({ Payload: encode({ error: 'timeout', message: 'no answer within 10 s' }) }));
    const refused = await failing(() => Promise.resolve({ Payload: encode({ error: 'refused', message: 'idp.example.com: not the discovery URL' }) }));
    const functionError = await failing(() => Promise.resolve({ FunctionError: 'Unhandled', Payload: encode({ errorType: 'Runtime.ExitError' }) }));
    const notInvoked = await failing(() => Promise.reject(throttled));
    const garbled = await failing(() => Promise.resolve({ Payload: encode({ status: 'ok' }) }));

    for (const e of [unreachable, functionError, notInvoked, garbled]) {
      expect(e).toBeInstanceOf(TypeError);
      expect((e as Error).message).toBe('fetch failed');
    }
    expect(((unreachable as Error).cause as Error).message).toContain('ENOTFOUND');
    expect(((functionError as Error).cause as Error).message).toContain('Runtime.ExitError');
    expect(((notInvoked as Error).cause as Error).message).toContain('TooManyRequestsException');
    expect((timeout as Error).name).toBe('TimeoutError');
    expect(refused).toBeInstanceOf(SsoEgressRefused);
    expect((refused as Error).message).toContain('not the discovery URL');
  });

  it("stops waiting when openid-client's signal times out", async () => {
    const lambda = fakeLambda(() => new Promise<Out>(() => undefined));

    const error = await lambdaSsoFetch({ functionName: 'egress', logger: logger(lambda.logs), client: lambda.client })('https://idp.example.com/.well-known/openid-configuration', { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);

    expect((error as Error).name).toBe('TimeoutError');
    expect(lambda.calls).toHaveLength(1);
  });
});
