/**
 * Request bodies on `xp start`, over real sockets: small routes refuse a large body from its
 * declared length, before it is sent; the body budget (overall and per address) refuses a body it
 * has no room for with 503, unread, for the management API and the SDK endpoints alike, and gets
 * its share back when a request is aborted; and deeply nested JSON is refused before it is parsed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../domain/context.js';
import { configFromEnv, startLocalStack } from '../stack.js';
import type { LocalStack } from '../stack.js';
import { openRaw, within } from './raw-socket.js';
import type { Raw } from './raw-socket.js';

const PASSWORD = 'body limits test passphrase';
const MB = 1024 * 1024;

const sockets: Socket[] = [];

/** A raw connection to the stack's API from `localAddress`. */
const open = (url: string, localAddress = '127.0.0.1'): Promise<Raw> => openRaw(Number(new URL(url).port), sockets, localAddress);

async function until(what: () => boolean, ms = 3_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) {
      return false;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** Status line and the JSON body of a raw response. */
function answer(text: string): { status: string; headers: string; body: { error?: { code: string; message: string } } } {
  const split = text.indexOf('\r\n\r\n');
  const head = text.slice(0, split);
  return { status: head.split('\r\n')[0] ?? '', headers: head.toLowerCase(), body: JSON.parse(text.slice(split + 4)) as { error?: { code: string; message: string } } };
}

describe('request bodies on xp start', () => {
  let dir: string;
  let stack: LocalStack;
  let token: string;
  let sdkKey: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-bodies-'));
    stack = await startLocalStack(
      configFromEnv({
        XP_DATA_DIR: dir,
        XP_API_PORT: '0',
        XP_CONSOLE_PORT: '0',
        XP_ADMIN_EMAIL: 'me@example.com',
        XP_ADMIN_PASSWORD: PASSWORD,
        XP_DEMO: '0',
        XP_GUARDRAIL_INTERVAL_SECONDS: '0',
        XP_MAX_BODY_BYTES_IN_FLIGHT: String(12 * MB),
        XP_MAX_BODY_BYTES_PER_ADDRESS: String(8 * MB),
      }),
      { logger: silentLogger, print: () => undefined },
    );
    const login = await fetch(`${stack.apiUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'me@example.com', password: PASSWORD }) });
    token = ((await login.json()) as { token: string }).token;
    sdkKey = stack.boot.sdkKeys!.development!.server;
  }, 120_000);
  afterEach(() => {
    for (const s of sockets.splice(0)) {
      s.destroy();
    }
  });
  afterAll(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a sign-in body over 16 KB with 413 from its declared length, before it is sent, and closes', async () => {
    for (const [method, route] of [
      ['POST', '/api/v1/auth/login'],
      ['PUT', '/api/v1/me/password'],
      ['POST', '/api/v1/me/tokens'],
    ] as const) {
      const raw = await open(stack.apiUrl);
      raw.socket.write(`${method} ${route} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${String(16 * 1024 + 1)}\r\n\r\n`);

      expect(await within(3_000, raw.closed)).toBe('closed');
      const res = answer(raw.received());
      expect(res.status).toBe('HTTP/1.1 413 Payload Too Large');
      expect(res.headers).toContain('\r\nconnection: close');
      expect(res.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: 'the request body is 16,385 bytes; this route takes at most 16 KB (16,384 bytes): split the request into smaller ones, or send less' });
    }
  });

  it('refuses a streamed sign-in body once it passes 16 KB', async () => {
    const res = await fetch(`${stack.apiUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start: (c) => {
          c.enqueue(new TextEncoder().encode(JSON.stringify({ email: 'me@example.com', password: 'x'.repeat(20 * 1024) })));
          c.close();
        },
      }),
      duplex: 'half',
    });

    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses a body the budget has no room for with 503 and Retry-After, kept nowhere, per address and overall, and gets its share back from aborted requests', async () => {
    const budget = stack.bodyBudget;
    const post = (length: number): string =>
      `POST /api/v1/projects/demo/flags HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${String(length)}\r\n\r\n`;
    // 6 MB declared from 127.0.0.1, a little of it sent: taken at once, and held.
    const first = await open(stack.apiUrl, '127.0.0.1');
    first.socket.write(`${post(6 * MB)}{"key":"`);
    expect(await until(() => budget.inFlight() === 6 * MB)).toBe(true);

    // 3 MB more from the same address: over its 8 MB. Sent whole before reading, as most clients
    // do: the body is read and dropped before the answer, so the client reads the 503 instead of
    // losing its upload to a connection closed under it (EPIPE / ECONNRESET).
    const same = await open(stack.apiUrl, '127.0.0.1');
    const failures: Error[] = [];
    same.socket.on('error', (e) => failures.push(e));
    // Uploaded over about a second, as over a real link: still writing when the refusal comes.
    same.socket.write(post(3 * MB));
    let sent = 0;
    while (sent < 3 * MB && !same.socket.destroyed) {
      same.socket.write(' '.repeat(MB / 8));
      sent += MB / 8;
      await new Promise((r) => setTimeout(r, 40));
    }
    expect(await within(5_000, same.closed)).toBe('closed');
    // The whole body went out before the connection closed, and without an error.
    expect([sent, failures]).toEqual([3 * MB, []]);
    const refused = answer(same.received());
    expect(refused.status).toBe('HTTP/1.1 503 Service Unavailable');
    expect(refused.headers).toContain('\r\nretry-after: 5');
    expect(refused.headers).toContain('\r\nconnection: close');
    expect(refused.body.error?.code).toBe('UNAVAILABLE');
    expect(refused.body.error?.message).toContain('request bodies');

    // Another address has room of its own, up to the overall 12 MB.
    const second = await open(stack.apiUrl, '127.0.0.2');
    second.socket.write(`${post(5 * MB)}{"key":"`);
    expect(await until(() => budget.inFlight() === 11 * MB)).toBe(true);
    const third = await open(stack.apiUrl, '127.0.0.3');
    third.socket.write(`${post(2 * MB)}${' '.repeat(2 * MB)}`);
    expect(await within(3_000, third.closed)).toBe('closed');
    expect(answer(third.received()).status).toBe('HTTP/1.1 503 Service Unavailable');

    // The SDK endpoints count against the same budget (9 MB batches; 8.5 MB is over the address's 8 MB).
    const sdk = await open(stack.apiUrl, '127.0.0.4');
    sdk.socket.write(`POST /sdk/v1/events HTTP/1.1\r\nhost: x\r\nx-xp-sdk-key: ${sdkKey}\r\ncontent-type: application/json\r\ncontent-length: ${String(8.5 * MB)}\r\n\r\n${' '.repeat(8.5 * MB)}`);
    expect(await within(3_000, sdk.closed)).toBe('closed');
    expect(answer(sdk.received()).status).toBe('HTTP/1.1 503 Service Unavailable');

    // Aborted mid-body: their shares come back.
    first.socket.destroy();
    second.socket.destroy();
    expect(await until(() => budget.inFlight() === 0)).toBe(true);

    // A streamed (chunked) body is counted as it arrives, and given back when aborted too.
    const chunked = await open(stack.apiUrl, '127.0.0.1');
    chunked.socket.write(`POST /sdk/v1/events HTTP/1.1\r\nhost: x\r\nx-xp-sdk-key: ${sdkKey}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
    const chunk = `{"events":[${'"x",'.repeat(25_000)}`;
    chunked.socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
    expect(await until(() => budget.inFlight('127.0.0.1') === Buffer.byteLength(chunk))).toBe(true);
    chunked.socket.destroy();
    expect(await until(() => budget.inFlight() === 0)).toBe(true);

    // And the whole budget of the address is there again.
    const ok = await fetch(`${stack.apiUrl}/api/v1/projects/demo/flags`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ key: 'fits', name: 'Fits', type: 'boolean', description: 'y'.repeat(1000), variations: [{ key: 'off', value: false }, { key: 'on', value: true }] }),
    });
    expect(ok.status).not.toBe(503);
    expect(budget.inFlight()).toBe(0);
  }, 30_000);

  it('refuses 7 MB of nested arrays to the management API with 400 before parsing them, and takes brackets inside strings as text', async () => {
    // Valid JSON, 7 MB: parsed, it would be 3.5 million nested arrays.
    const deep = `{"key":"deep","name":"Deep","type":"json","variations":[${'['.repeat(3.5 * MB)}${']'.repeat(3.5 * MB)}]}`;
    const post = (body: string): Promise<Response> =>
      fetch(`${stack.apiUrl}/api/v1/projects/demo/flags`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
    const refused = await post(deep);

    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: { code: 'VALIDATION_FAILED', message: 'the body is nested more than 64 levels deep', details: { issues: [{ path: 'body', message: 'too deeply nested' }] } } });

    const looksDeep = `[[[[{{{{${'['.repeat(500)} \\" [[[ \\\\`;
    const accepted = await post(JSON.stringify({ key: 'looks-deep', name: 'Looks deep', type: 'boolean', description: looksDeep, variations: [{ key: 'off', value: false }, { key: 'on', value: true }] }));
    expect(accepted.status).toBe(201);
  });
});
