import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FunctionEntry, bundleFunction } from '../../infra/bundling.js';
import { httpSend } from '../../domain/webhook-http.js';
import { MAX_SEND_TIMEOUT_MS, createWebhookSenderHandler, parseWebhookRequest } from '../webhook-sender.js';
import { bundledPackages } from './bundle-imports.js';

interface Received {
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

const silent = { info: (): void => undefined, warn: (): void => undefined, error: (): void => undefined };

/** Lambda hands the handler the JSON-decoded payload the dispatcher sent. */
const asInvoked = (event: unknown): unknown => JSON.parse(JSON.stringify(event)) as unknown;

describe('webhook sender function, against a receiver on 127.0.0.1', () => {
  const received: Received[] = [];
  let server: http.Server;
  let base = '';
  // The deployed handler refuses loopback (the Lambda runtime API listens there); this receiver is on 127.0.0.1, so these cases send with httpSend, which allows it.
  const handler = createWebhookSenderHandler({ logger: silent, send: httpSend });

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        if (req.url === '/busy') {
          res.writeHead(503, { 'Retry-After': '7' }).end('try later');
        } else {
          res.writeHead(200, { 'Content-Type': 'text/plain' }).end('thanks');
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    received.length = 0;
  });

  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('POSTs the signed request as given and returns the receiver\'s answer as the outcome', async () => {
    const body = JSON.stringify({ id: 'd-1', event: 'flag.updated' });
    const event = asInvoked({ url: `${base}/hooks/xp?token=abc`, headers: { 'Content-Type': 'application/json', 'X-XP-Event': 'flag.updated', 'X-XP-Signature': 't=1,v1=ff' }, body, timeoutMs: 5_000 });

    const outcome = await handler(event);

    expect(outcome).toMatchObject({ statusCode: 200, error: null, response: 'thanks' });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(0);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ method: 'POST', path: '/hooks/xp?token=abc', body });
    expect(received[0]!.headers).toMatchObject({ 'content-type': 'application/json', 'x-xp-event': 'flag.updated', 'x-xp-signature': 't=1,v1=ff' });
  });

  it("passes a receiver's failure and Retry-After back, for the dispatcher to retry", async () => {
    const outcome = await handler(asInvoked({ url: `${base}/busy`, headers: {}, body: '{}', timeoutMs: 5_000 }));

    expect(outcome).toMatchObject({ statusCode: 503, error: null, response: 'try later', retryAfterMs: 7_000 });
  });

  it('answers a malformed event with a failed outcome naming the field, sending nothing and never throwing', async () => {
    const good = { url: `${base}/hooks/xp`, headers: {}, body: '{}', timeoutMs: 5_000 };
    const malformed: unknown[] = [
      null,
      'a string',
      [good],
      { ...good, url: 'ftp://example.com/secret-token' },
      { ...good, url: 'not a url' },
      { ...good, headers: { 'X-XP-Event': 1 } },
      { ...good, headers: null },
      { ...good, body: { id: 1 } },
      { ...good, timeoutMs: MAX_SEND_TIMEOUT_MS + 1 },
      { ...good, timeoutMs: 0 },
      { url: good.url },
    ];

    const outcomes = await Promise.all(malformed.map((e) => handler(e)));

    expect(outcomes.every((o) => o.statusCode === null && o.response === null && o.error?.startsWith('malformed sender request: ') === true)).toBe(true);
    expect(outcomes.map((o) => o.error)).toContain('malformed sender request: url is not an http(s) URL');
    // The problem never quotes the URL, which may hold a token.
    expect(outcomes.some((o) => o.error?.includes('secret-token') === true)).toBe(false);
    expect(received).toEqual([]);
  });

  it('accepts exactly the WebhookRequest shape', () => {
    const request = { url: 'https://hooks.example.com/x', headers: { 'User-Agent': 'xp-webhooks/1' }, body: '{}', timeoutMs: 10_000 };

    expect(parseWebhookRequest(request)).toEqual({ ok: true, request });
    expect(parseWebhookRequest({ ...request, timeoutMs: 1.5 })).toEqual({ ok: false, problem: `timeoutMs is not an integer in 1..${MAX_SEND_TIMEOUT_MS}` });
  });
  it('as deployed, refuses loopback addresses, where the Lambda runtime API is', async () => {
    const deployed = createWebhookSenderHandler({ logger: silent });
    const outcome = await deployed(asInvoked({ url: `${base}/hooks/xp`, headers: {}, body: '{}', timeoutMs: 5_000 }));

    expect(outcome).toMatchObject({ statusCode: null, response: null });
    expect(outcome.error).toContain('loopback');
    expect(received).toEqual([]);
  });

  it('as deployed: the esbuild bundle imports no package and runs in a fresh process, with the loopback refusal', async () => {
    const outdir = await mkdtemp(path.join(tmpdir(), 'xp-sender-bundle-'));
    try {
      const { file } = await bundleFunction(FunctionEntry.WebhookSender, outdir);
      const source = await readFile(file, 'utf8');
      const packages = bundledPackages(source, { dynamic: true });
      const script = `const { handler } = await import(${JSON.stringify(pathToFileURL(file).href)});
process.stdout.write(JSON.stringify(await handler(JSON.parse(process.argv[1]))));`;
      const event = { url: `${base}/bundled`, headers: { 'X-XP-Event': 'webhook.test' }, body: '{"bundled":true}', timeoutMs: 5_000 };

      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(event)], { env: { PATH: process.env.PATH } });

      expect(packages).toEqual([]);
      expect(JSON.parse(stdout)).toMatchObject({ statusCode: null, error: expect.stringContaining('loopback') });
      expect(received).toEqual([]);
    } finally {
      await rm(outdir, { recursive: true, force: true });
    }
  });
});
