/**
 * A body over the management API's 8 MB, over real sockets: the 413 names the limit and what to do,
 * and a client that writes its whole body before reading the answer (Python's urllib, curl) reads
 * it, where it used to get a broken pipe from a connection closed under its upload (a tester's
 * 11.2 MB segment). A body declared far over the limit is still cut off at once.
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

const PASSWORD = 'body too large test passphrase';
const MB = 1024 * 1024;

const sockets: Socket[] = [];

function answer(text: string): { status: string; headers: string; body: { error?: { code: string; message: string } } } {
  const split = text.indexOf('\r\n\r\n');
  const head = text.slice(0, split);
  return { status: head.split('\r\n')[0] ?? '', headers: head.toLowerCase(), body: JSON.parse(text.slice(split + 4)) as { error?: { code: string; message: string } } };
}

describe('a body over the 8 MB limit on xp start', () => {
  let dir: string;
  let stack: LocalStack;
  let token: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-too-large-'));
    stack = await startLocalStack(
      configFromEnv({ XP_DATA_DIR: dir, XP_API_PORT: '0', XP_CONSOLE_PORT: '0', XP_ADMIN_EMAIL: 'me@example.com', XP_ADMIN_PASSWORD: PASSWORD, XP_DEMO: '0', XP_GUARDRAIL_INTERVAL_SECONDS: '0' }),
      { logger: silentLogger, print: () => undefined },
    );
    const login = await fetch(`${stack.apiUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'me@example.com', password: PASSWORD }) });
    token = ((await login.json()) as { token: string }).token;
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

  const post = (length: number): string =>
    `POST /api/v1/projects/demo/segments HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${String(length)}\r\n\r\n`;

  it('reads a 9 MB segment body sent whole before the answer, then answers 413 naming the limit and the /ids route', async () => {
    const raw = await openRaw(Number(new URL(stack.apiUrl).port), sockets);
    const failures: Error[] = [];
    raw.socket.on('error', (e) => failures.push(e));

    // Uploaded over about a second, as over a real link: still writing when the refusal is decided.
    raw.socket.write(post(9 * MB));
    let sent = 0;
    while (sent < 9 * MB && !raw.socket.destroyed) {
      raw.socket.write(' '.repeat(MB / 4));
      sent += MB / 4;
      await new Promise((r) => setTimeout(r, 25));
    }

    expect(await within(10_000, raw.closed)).toBe('closed');
    expect([sent, failures]).toEqual([9 * MB, []]);
    const res = answer(raw.received());
    expect(res.status).toBe('HTTP/1.1 413 Payload Too Large');
    expect(res.headers).toContain('\r\nconnection: close');
    expect(res.body.error?.message).toBe(
      'the request body is 9,437,184 bytes; this route takes at most 8 MB (8,388,608 bytes): send a long id list in parts: create (or replace) the segment with part of it, then add the rest with POST /api/v1/projects/{project}/segments/{key}/ids and {"add": [...]}, at most 100,000 ids a request',
    );
  }, 30_000);

  it('cuts off a body declared far over the limit at once, unread', async () => {
    const raw = await openRaw(Number(new URL(stack.apiUrl).port), sockets);
    raw.socket.write(post(100 * MB));

    expect(await within(3_000, raw.closed)).toBe('closed');
    const res = answer(raw.received());
    expect(res.status).toBe('HTTP/1.1 413 Payload Too Large');
    expect(res.body.error?.message).toMatch(/^the request body is 104,857,600 bytes; this route takes at most 8 MB \(8,388,608 bytes\): send a long id list in parts/);
  });
});
