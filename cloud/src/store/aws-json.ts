/**
 * A small client for AWS's JSON protocol, which DynamoDB and Kinesis speak: Signature Version 4
 * with node:crypto, HTTP/1.1 keep-alive over node:http(s), the AWS SDK's error shape (`name` and
 * `$metadata.httpStatusCode`) and a bounded, jittered retry of throttling, 5xx and network failures.
 *
 * Why not the SDK: importing `@aws-sdk/client-dynamodb`, `client-kinesis` and their HTTP handler
 * takes ~0.2 s of module init, four times the evaluation Lambda's whole cold-start budget, for the
 * four operations the platform needs (GetItem/Query/PutItem/… on the rulesets table, PutRecords).
 * The rest of the platform (the Kinesis poller, S3, CloudWatch, Secrets Manager) keeps the SDK.
 * The signer is held equal to the SDK's own (`@smithy/signature-v4`) by a test.
 */
import { createHash, createHmac } from 'node:crypto';
import type http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { envRegion, isRetryableAwsError } from './aws-errors.js';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

export type CredentialsProvider = () => Promise<AwsCredentials>;

/** What is signed: a request whose path is not yet URI-escaped and whose headers are final. */
export interface SigningRequest {
  readonly method: string;
  /** Host header value (with the port when it is not the scheme's default). */
  readonly host: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
}

export interface SigningParams {
  readonly service: string;
  readonly region: string;
  readonly credentials: AwsCredentials;
  readonly date: Date;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** RFC 3986 escaping, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
const escapeUri = (text: string): string => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The canonical URI of a non-S3 service: dot segments and empty segments removed, then escaped (a second time, as the path on the wire is escaped already). */
export function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') {
      continue;
    }
    if (segment === '..') {
      segments.pop();
    } else {
      segments.push(segment);
    }
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  // An empty path is the root.
  return normalized === '' ? '/' : escapeUri(normalized).replace(/%2F/g, '/');
}

// One signing key per day, region and service: four HMACs saved on every request.
const signingKeys = new Map<string, Buffer>();

function signingKey(secret: string, shortDate: string, region: string, service: string): Buffer {
  const cacheKey = `${sha256Hex(secret)}/${shortDate}/${region}/${service}`;
  let key = signingKeys.get(cacheKey);
  if (key === undefined) {
    const kDate = createHmac('sha256', `AWS4${secret}`).update(shortDate).digest();
    const kRegion = createHmac('sha256', kDate).update(region).digest();
    const kService = createHmac('sha256', kRegion).update(service).digest();
    key = createHmac('sha256', kService).update('aws4_request').digest();
    if (signingKeys.size > 16) {
      signingKeys.clear();
    }
    signingKeys.set(cacheKey, key);
  }
  return key;
}

/**
 * Signs `request` (SigV4, header form) and returns the headers to send: its own plus `host`,
 * `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (temporary credentials) and
 * `authorization`. Every header given is signed.
 */
export function signRequest(request: SigningRequest, params: SigningParams): Record<string, string> {
  const longDate = params.date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  const shortDate = longDate.slice(0, 8);
  const payloadHash = sha256Hex(request.body);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    headers[name.toLowerCase()] = value;
  }
  headers.host = request.host;
  headers['x-amz-date'] = longDate;
  headers['x-amz-content-sha256'] = payloadHash;
  const token = params.credentials.sessionToken;
  if (token !== undefined && token !== '') {
    headers['x-amz-security-token'] = token;
  }
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n]!.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').trim()}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [request.method.toUpperCase(), canonicalPath(request.path), '', canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${shortDate}/${params.region}/${params.service}/aws4_request`;
  const stringToSign = [ALGORITHM, longDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = createHmac('sha256', signingKey(params.credentials.secretAccessKey, shortDate, params.region, params.service)).update(stringToSign).digest('hex');
  headers.authorization = `${ALGORITHM} Credential=${params.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}

/** A failed call, shaped like the AWS SDK's service exceptions so the same checks apply to both. */
export class AwsServiceError extends Error {
  readonly $metadata: { readonly httpStatusCode: number; readonly requestId?: string | undefined };

  constructor(name: string, message: string, status: number, requestId?: string) {
    super(message);
    this.name = name;
    this.$metadata = { httpStatusCode: status, requestId };
  }
}

/** True when `error` is the AWS error `name` (from this client or the SDK). */
export const isAwsError = (error: unknown, name: string): boolean => error instanceof Error && error.name === name;

/** Credentials of the Lambda execution role (and of any process given the standard variables). */
export function envCredentials(env: NodeJS.ProcessEnv = process.env): AwsCredentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (accessKeyId === undefined || accessKeyId === '' || secretAccessKey === undefined || secretAccessKey === '') {
    return undefined;
  }
  const sessionToken = env.AWS_SESSION_TOKEN;
  return { accessKeyId, secretAccessKey, ...(sessionToken === undefined || sessionToken === '' ? {} : { sessionToken }) };
}

/** Local stand-ins (dynalite, kinesalite) accept any signature. */
export const LOCAL_CREDENTIALS: AwsCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * The environment's credentials, or else the SDK's default chain (profiles, SSO, container and
 * instance roles), loaded only in that case; it renews temporary credentials itself.
 */
export function defaultCredentials(env: NodeJS.ProcessEnv = process.env): CredentialsProvider {
  const fromEnv = envCredentials(env);
  if (fromEnv !== undefined) {
    return () => Promise.resolve(fromEnv);
  }
  let chain: Promise<() => Promise<AwsCredentials>> | undefined;
  return async () => {
    chain ??= import('@aws-sdk/credential-provider-node').then(({ defaultProvider }) => defaultProvider());
    try {
      return await (await chain)();
    } catch (error) {
      throw new Error('no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure a profile or role', { cause: error });
    }
  };
}

export interface AwsJsonClientOptions {
  /** The signing name and endpoint prefix: `dynamodb`, `kinesis`. */
  readonly service: string;
  /** The X-Amz-Target prefix: `DynamoDB_20120810`, `Kinesis_20131202`. */
  readonly targetPrefix: string;
  readonly jsonVersion: '1.0' | '1.1';
  /** A local stand-in (`http://127.0.0.1:4567`); default `https://<service>.<region>.amazonaws.com`. */
  readonly endpoint?: string | undefined;
  /** Default AWS_REGION / AWS_DEFAULT_REGION, else us-east-1. */
  readonly region?: string | undefined;
  /** Default: dummy ones with an endpoint, else `defaultCredentials()`. */
  readonly credentials?: CredentialsProvider | undefined;
  /** Calls per operation, the first included. Default 3 (the SDK's standard mode). */
  readonly maxAttempts?: number | undefined;
  /** A connection or response silent for this long fails the attempt (retryable). Default 5,000 ms. */
  readonly timeoutMs?: number | undefined;
  /** Decode `B`/`BS` attribute values to bytes, as the DynamoDB SDK does. */
  readonly binaryAttributes?: boolean | undefined;
  readonly random?: (() => number) | undefined;
}

export interface AwsJsonClient {
  /** Calls `operation` with `input` (Uint8Array values are sent base64-encoded) and returns the parsed answer. */
  call<T>(operation: string, input: object, options?: { readonly signal?: AbortSignal | undefined }): Promise<T>;
  /** Closes idle keep-alive connections. */
  destroy(): void;
}

interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * JSON.stringify replacer: Uint8Array values (DynamoDB `B`, Kinesis `Data`) become base64 strings,
 * as the wire format wants. `this[key]` is the value before Buffer's own toJSON ran.
 */
function binaryToBase64(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  return raw instanceof Uint8Array ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') : value;
}

/**
 * JSON.parse reviver: `B` and `BS` attribute values back to bytes. Every attribute value is an
 * object with one type key, so a string under `B` (or strings under `BS`) can only be binary data.
 */
function base64ToBinary(key: string, value: unknown): unknown {
  if (key === 'B' && typeof value === 'string') {
    return Buffer.from(value, 'base64');
  }
  if (key === 'BS' && Array.isArray(value) && value.every((x) => typeof x === 'string')) {
    return value.map((x: string) => Buffer.from(x, 'base64'));
  }
  return value;
}

/** The error an unsuccessful answer describes (`__type` or x-amzn-ErrorType, then message). */
function answerError(answer: HttpAnswer): AwsServiceError {
  let body: { __type?: unknown; message?: unknown; Message?: unknown } = {};
  try {
    body = JSON.parse(answer.body) as typeof body;
  } catch {
    // Not JSON (a proxy's error page): described by its status.
  }
  const header = answer.headers['x-amzn-errortype'];
  const type = typeof body.__type === 'string' ? body.__type : typeof header === 'string' ? header : `Http${answer.status}Error`;
  const name = type.split('#').pop()!.split(':')[0]!;
  const message = typeof body.message === 'string' ? body.message : typeof body.Message === 'string' ? body.Message : `${name} (HTTP ${answer.status})`;
  const requestId = answer.headers['x-amzn-requestid'];
  return new AwsServiceError(name, message, answer.status, typeof requestId === 'string' ? requestId : undefined);
}

export function createAwsJsonClient(options: AwsJsonClientOptions): AwsJsonClient {
  const region = options.region ?? envRegion() ?? 'us-east-1';
  const url = new URL(options.endpoint ?? `https://${options.service}.${region}.amazonaws.com`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`endpoint must be an http(s) URL, got ${url.protocol}`);
  }
  const credentials = options.credentials ?? (options.endpoint === undefined ? defaultCredentials() : () => Promise.resolve(LOCAL_CREDENTIALS));
  const maxAttempts = options.maxAttempts ?? 3;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const random = options.random ?? Math.random;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || !(timeoutMs > 0)) {
    throw new TypeError('maxAttempts must be a positive integer and timeoutMs positive');
  }
  const contentType = `application/x-amz-json-${options.jsonVersion}`;
  // node:https (and TLS) or node:http, loaded with the first call rather than at module init.
  let connection: Promise<{ readonly transport: typeof http; readonly agent: http.Agent }> | undefined;
  let agent: http.Agent | undefined;
  const connect = (): Promise<{ readonly transport: typeof http; readonly agent: http.Agent }> =>
    (connection ??= (url.protocol === 'https:' ? import('node:https') : import('node:http')).then(({ default: transport }) => {
      agent = new transport.Agent({ keepAlive: true, maxSockets: 64 });
      return { transport: transport as typeof http, agent };
    }));

  const post = async (headers: Record<string, string>, body: string, signal: AbortSignal | undefined): Promise<HttpAnswer> => {
    const { transport, agent } = await connect();
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { method: 'POST', agent, headers, ...(signal === undefined ? {} : { signal }) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => {
        req.destroy(Object.assign(new Error(`no answer from ${url.host} within ${timeoutMs} ms`), { name: 'TimeoutError' }));
      });
      req.on('error', reject);
      req.end(body);
    });
  };

  const once = async (operation: string, body: string, signal: AbortSignal | undefined): Promise<unknown> => {
    const headers = signRequest(
      { method: 'POST', host: url.host, path: url.pathname, headers: { 'content-type': contentType, 'x-amz-target': `${options.targetPrefix}.${operation}` }, body },
      { service: options.service, region, credentials: await credentials(), date: new Date() },
    );
    headers['content-length'] = String(Buffer.byteLength(body));
    const answer = await post(headers, body, signal);
    if (answer.status < 200 || answer.status >= 300) {
      throw answerError(answer);
    }
    return answer.body === '' ? {} : (JSON.parse(answer.body, options.binaryAttributes === true ? base64ToBinary : undefined) as unknown);
  };

  const call = async <T>(operation: string, input: object, callOptions: { readonly signal?: AbortSignal | undefined } = {}): Promise<T> => {
    const { signal } = callOptions;
    const body = JSON.stringify(input, binaryToBase64);
    for (let attempt = 1; ; attempt++) {
      try {
        return (await once(operation, body, signal)) as T;
      } catch (error) {
        if (attempt >= maxAttempts || signal?.aborted === true || !isRetryableAwsError(error)) {
          throw error;
        }
      }
      // Full jitter: 0..min(1 s, 50 ms × 2^attempt).
      await delay(Math.floor(random() * Math.min(1_000, 50 * 2 ** attempt)), undefined, signal === undefined ? {} : { signal });
    }
  };

  return {
    call,
    destroy: () => {
      agent?.destroy();
    },
  };
}
