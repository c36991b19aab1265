import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynalite } from '../../local/aws-local.js';
import type { LocalService } from '../../local/aws-local.js';
import { isRetryableAwsError } from '../aws-errors.js';
import { AwsServiceError, canonicalPath, createAwsJsonClient, envCredentials, isAwsError, signRequest } from '../aws-json.js';
import { createDynamoClient } from '../ruleset-store.js';

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData): string | Buffer =>
  typeof data === 'string' ? data : data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** The hash the SDK's signer is given: node:crypto behind its async interface (HMAC when keyed). */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.hash.digest());
  }
}

/** A seeded generator, so a failing case can be replayed. */
function generator(seed: number): { int(n: number): number; pick<T>(items: readonly T[]): T } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { int: (n) => Math.floor(next() * n), pick: (items) => items[Math.floor(next() * items.length)]! };
}

describe('SigV4 signer', () => {
  it('signs exactly as the AWS SDK signer (@smithy/signature-v4) on 300 varied requests', async () => {
    const g = generator(20261125);
    const words = ['a', 'B', ' spaced  out ', 'x-y', 'ünïcode', 'tab\there', '1', ''];
    for (let i = 0; i < 300; i++) {
      const credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = {
        accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(20).toString('base64'),
        ...(g.int(2) === 0 ? { sessionToken: randomBytes(40).toString('base64') } : {}),
      };
      const service = g.pick(['dynamodb', 'kinesis', 'sqs', 'monitoring']);
      const region = g.pick(['us-east-1', 'eu-west-1', 'ap-southeast-2']);
      const date = new Date(Date.UTC(2020 + g.int(8), g.int(12), 1 + g.int(28), g.int(24), g.int(60), g.int(60), g.int(1000)));
      const headers: Record<string, string> = { 'content-type': g.pick(['application/x-amz-json-1.0', 'application/x-amz-json-1.1']), 'x-amz-target': `Svc_2020.${g.pick(['GetItem', 'PutRecords'])}` };
      for (let h = g.int(3); h > 0; h--) {
        headers[`X-Custom-${g.int(100)}`] = `${g.pick(words)}${g.pick(words)}`;
      }
      const body = g.int(3) === 0 ? randomBytes(g.int(200)) : JSON.stringify({ TableName: g.pick(words), n: g.int(1e6) });
      const path = g.pick(['/', '', '/a/b/', '/a//b/../c', '/with space/ünï', "/it's(*)!"]);
      const host = g.pick(['dynamodb.us-east-1.amazonaws.com', '127.0.0.1:4567', 'kinesis.eu-west-1.amazonaws.com']);

      const ours = signRequest({ method: 'POST', host, path, headers, body }, { service, region, credentials, date });
      const sdk = new SignatureV4({ service, region, credentials, sha256: NodeSha256 });
      const theirs = await sdk.sign({ method: 'POST', protocol: 'https:', hostname: host, path, headers: { ...headers, host }, body, query: {} }, { signingDate: date });

      expect(ours.authorization, `case ${i}: ${JSON.stringify({ headers, path, host })}`).toBe(theirs.headers.authorization);
      expect(ours['x-amz-date']).toBe(theirs.headers['x-amz-date']);
      expect(ours['x-amz-security-token']).toBe(theirs.headers['x-amz-security-token']);
    }
  });

  it('canonicalises paths as SigV4 prescribes for services other than S3', () => {
    expect(canonicalPath('/')).toBe('/');
    expect(canonicalPath('')).toBe('/');
    expect(canonicalPath('/a//b/./../c/')).toBe('/a/c/');
    expect(canonicalPath('/a b/é')).toBe('/a%20b/%C3%A9');
  });

  it('reads the execution role from the standard variables', () => {
    expect(envCredentials({ AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', AWS_SESSION_TOKEN: 'T' })).toEqual({ accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'T' });
    expect(envCredentials({ AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: '' })).toBeUndefined();
    expect(envCredentials({})).toBeUndefined();
  });
});

interface Seen {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** An HTTP server answering each request with the next scripted answer (the last one repeats). */
async function scripted(answers: readonly ((seen: Seen) => { status: number; body: string; headers?: Record<string, string> } | 'hang')[]): Promise<{ endpoint: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      const answer = answers[Math.min(seen.length, answers.length) - 1]!(s);
      if (answer === 'hang') {
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.0', ...answer.headers });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => { resolve(); });
      }),
  };
}

const OPTIONS = { service: 'kinesis', targetPrefix: 'Kinesis_20131202', jsonVersion: '1.1' as const, random: () => 0 };

describe('AWS JSON protocol client', () => {
  it('sends a signed JSON request with the operation target and base64 for bytes', async () => {
    const server = await scripted([() => ({ status: 200, body: '{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"s"}]}' })]);
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', sessionToken: 'session-token' };
    const client = createAwsJsonClient({ ...OPTIONS, endpoint: server.endpoint, region: 'eu-west-1', credentials: () => Promise.resolve(credentials) });

    const out = await client.call<{ FailedRecordCount: number }>('PutRecords', { StreamName: 's', Records: [{ PartitionKey: 'u', Data: Buffer.from('héllo') }] });

    expect(out.FailedRecordCount).toBe(0);
    const [request] = server.seen;
    expect(request?.headers['x-amz-target']).toBe('Kinesis_20131202.PutRecords');
    expect(request?.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(request?.headers['x-amz-security-token']).toBe('session-token');
    expect(request?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/kinesis\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-target, Signature=[0-9a-f]{64}$/);
    expect(JSON.parse(request!.body)).toEqual({ StreamName: 's', Records: [{ PartitionKey: 'u', Data: Buffer.from('héllo').toString('base64') }] });
    client.destroy();
    await server.close();
  });

  it('throws the service error by name with its status, and does not retry a client error', async () => {
    const server = await scripted([() => ({ status: 400, body: '{"__type":"com.amazonaws.kinesis.v20131202#ResourceNotFoundException","message":"Stream s not found"}', headers: { 'x-amzn-RequestId': 'req-1' } })]);
    const client = createAwsJsonClient({ ...OPTIONS, endpoint: server.endpoint });

    const error = await client.call('PutRecords', {}).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AwsServiceError);
    expect(error).toMatchObject({ name: 'ResourceNotFoundException', message: 'Stream s not found', $metadata: { httpStatusCode: 400, requestId: 'req-1' } });
    expect(isAwsError(error, 'ResourceNotFoundException')).toBe(true);
    expect(isRetryableAwsError(error)).toBe(false);
    expect(server.seen).toHaveLength(1);
    client.destroy();
    await server.close();
  });

  it('retries throttling and 5xx (also non-JSON error pages) up to maxAttempts, then succeeds or throws the last error', async () => {
    const throttled = (): { status: number; body: string } => ({ status: 400, body: '{"__type":"ProvisionedThroughputExceededException","message":"slow down"}' });
    const html = (): { status: number; body: string } => ({ status: 502, body: '<html>Bad Gateway</html>' });
    const server = await scripted([throttled, html, () => ({ status: 200, body: '{"ok":true}' })]);
    const client = createAwsJsonClient({ ...OPTIONS, endpoint: server.endpoint, maxAttempts: 3 });

    expect(await client.call('PutRecords', {})).toEqual({ ok: true });
    expect(server.seen).toHaveLength(3);

    const failing = await scripted([html]);
    const twice = createAwsJsonClient({ ...OPTIONS, endpoint: failing.endpoint, maxAttempts: 2 });
    const error = await twice.call('PutRecords', {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'Http502Error', $metadata: { httpStatusCode: 502 } });
    expect(isRetryableAwsError(error)).toBe(true);
    expect(failing.seen).toHaveLength(2);
    client.destroy();
    twice.destroy();
    await server.close();
    await failing.close();
  });

  it('gives up on a silent server after its timeout, and stops at once when the caller aborts', async () => {
    const server = await scripted([() => 'hang']);
    const client = createAwsJsonClient({ ...OPTIONS, endpoint: server.endpoint, maxAttempts: 2, timeoutMs: 200 });

    const timedOut = await client.call('PutRecords', {}).catch((e: unknown) => e);
    expect(timedOut).toMatchObject({ name: 'TimeoutError' });
    expect(server.seen).toHaveLength(2);

    const aborted = await client.call('PutRecords', {}, { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);
    expect(aborted).toBeInstanceOf(Error);
    expect(server.seen).toHaveLength(3);
    client.destroy();
    await server.close();
  });

  it('refuses an endpoint that is not http(s) and nonsensical limits', () => {
    expect(() => createAwsJsonClient({ ...OPTIONS, endpoint: 'ftp://x' })).toThrow(/http/);
    expect(() => createAwsJsonClient({ ...OPTIONS, maxAttempts: 0 })).toThrow(/maxAttempts/);
  });
});

describe('DynamoDB through the JSON client (dynalite)', () => {
  let dynamo: LocalService;

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo.close();
  });

  it('round-trips binary attributes, nested ones included, as bytes', async () => {
    const client = createDynamoClient(dynamo.endpoint);
    await client.call('CreateTable', {
      TableName: 'bytes',
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
    const blob = randomBytes(300);
    const item = { id: { S: 'a' }, B: { S: 'an attribute named B' }, blob: { B: blob }, set: { BS: [blob.subarray(0, 5), blob.subarray(5, 9)] }, nested: { M: { inner: { B: blob.subarray(0, 3) } } } };
    await client.call('PutItem', { TableName: 'bytes', Item: item });

    const out = await client.call<{ Item?: Record<string, unknown> }>('GetItem', { TableName: 'bytes', Key: { id: { S: 'a' } }, ConsistentRead: true });

    expect(out.Item).toEqual(item);
    const missing = await client.call('GetItem', { TableName: 'nope', Key: { id: { S: 'a' } } }).catch((e: unknown) => e);
    expect(isAwsError(missing, 'ResourceNotFoundException')).toBe(true);
    client.destroy();
  });
});
