/**
 * What `xp start`'s servers hold, over real sockets: slow headers and slow bodies are dropped after
 * their timeouts (a stream, a response, is not), and connections over a cap, per address or
 * overall, are answered 503 with Retry-After and closed, not reset.
 */
import type { Socket } from 'node:net';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SERVER_LIMITS, configFromEnv, listenEarly } from '../stack.js';
import type { EarlyServer, ServerLimits } from '../stack.js';
import { openRaw, within } from './raw-socket.js';
import type { Raw } from './raw-socket.js';

const sockets: Socket[] = [];
const servers: EarlyServer[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) {
    s.destroy();
  }
  await Promise.all(servers.splice(0).map((s) => s.close(0)));
});

function testApp(): Hono {
  const app = new Hono();
  app.get('/ping', (c) => c.json({ ok: true }));
  app.post('/upload', async (c) => c.json({ bytes: (await c.req.arrayBuffer()).byteLength }));
  app.get('/sdk/v1/stream', (c) => {
    let timer: NodeJS.Timeout | undefined;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        controller.enqueue(new TextEncoder().encode(': open\n\n'));
        timer = setInterval(() => {
          controller.enqueue(new TextEncoder().encode(': heartbeat\n\n'));
        }, 100);
      },
      cancel: () => {
        clearInterval(timer);
      },
    });
    return c.body(body, 200, { 'content-type': 'text/event-stream' });
  });
  return app;
}

async function start(limits: Partial<ServerLimits>): Promise<EarlyServer> {
  const server = await listenEarly('127.0.0.1', 0, 'API', 'XP_API_PORT', { ...DEFAULT_SERVER_LIMITS, ...limits });
  server.serve(testApp());
  servers.push(server);
  return server;
}

const open = (port: number, localAddress?: string): Promise<Raw> => openRaw(port, sockets, localAddress);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function get(port: number, path: string): Promise<string> {
  const raw = await open(port);
  raw.socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
  await within(3_000, raw.closed);
  return raw.received();
}

describe('server timeouts', () => {
  it('answers 408 and closes a connection whose headers do not arrive within the headers timeout', async () => {
    const server = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const slow = await open(server.port);
    slow.socket.write('GET /ping HTTP/1.1\r\nhost: x\r\n');

    expect(await within(3_000, slow.closed)).toBe('closed');
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(slow.received()).toContain('"code":"VALIDATION_FAILED"');
    expect(slow.received()).toContain('not received in time');
  });

  it('answers 408 and closes a connection whose body does not arrive within the request timeout', async () => {
    const server = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const slow = await open(server.port);
    slow.socket.write('POST /upload HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: 100\r\n\r\n0123456789');
    // Trickles a byte well within the headers timeout each time, never finishing within the request's.
    const trickle = setInterval(() => slow.socket.write('x'), 100);
    try {
      expect(await within(3_000, slow.closed)).toBe('closed');
    } finally {
      clearInterval(trickle);
    }
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('keeps a stream (a response) open past the request timeout', async () => {
    const server = await start({ headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const stream = await open(server.port);
    stream.socket.write('GET /sdk/v1/stream HTTP/1.1\r\nhost: x\r\n\r\n');

    expect(await within(1_500, stream.closed)).toBe('still open');
    const before = stream.received().length;
    await sleep(300);
    expect(stream.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(stream.received().length).toBeGreaterThan(before);
  });

  it('reads the timeouts from XP_HEADERS_TIMEOUT_SECONDS and XP_REQUEST_TIMEOUT_SECONDS, headers within the request', () => {
    expect(configFromEnv({}).headersTimeoutMs).toBe(15_000);
    expect(configFromEnv({}).requestTimeoutMs).toBe(120_000);
    expect(configFromEnv({ XP_HEADERS_TIMEOUT_SECONDS: '5', XP_REQUEST_TIMEOUT_SECONDS: '30' })).toMatchObject({ headersTimeoutMs: 5_000, requestTimeoutMs: 30_000 });
    expect(() => configFromEnv({ XP_HEADERS_TIMEOUT_SECONDS: '60', XP_REQUEST_TIMEOUT_SECONDS: '30' })).toThrow(/must not be longer than XP_REQUEST_TIMEOUT_SECONDS/);
    expect(() => configFromEnv({ XP_MAX_CONNECTIONS: '0' })).toThrow(/XP_MAX_CONNECTIONS must be at least 1/);
    expect(configFromEnv({})).toMatchObject({ maxConnections: 10_000, maxConnectionsPerAddress: 1_000, maxBodyBytesInFlight: 256 * 1024 * 1024, maxBodyBytesPerAddress: 32 * 1024 * 1024 });
  });
});

describe('connection caps', () => {
  const refusal = (text: string): void => {
    expect(text).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(text.toLowerCase()).toContain('\r\nretry-after: 5\r\n');
    expect(text.toLowerCase()).toContain('\r\nconnection: close\r\n');
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('UNAVAILABLE');
  };

  it('answers a connection over the per-address cap 503 with Retry-After and closes it, and takes one again once another closes', async () => {
    const server = await start({ maxConnectionsPerAddress: 3 });
    const held = [await open(server.port), await open(server.port), await open(server.port)];

    const over = await open(server.port);
    over.socket.write('GET /ping HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(await within(3_000, over.closed)).toBe('closed');
    refusal(over.received());
    expect(over.received()).toContain('your address');

    // While three are held, every new connection from this address is refused.
    expect(await get(server.port, '/ping').then((t) => t.split('\r\n')[0])).toBe('HTTP/1.1 503 Service Unavailable');
    held[0]!.socket.destroy();
    await held[0]!.closed;
    await sleep(50);
    expect((await get(server.port, '/ping')).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  });

  it('counts each address separately and answers a connection over the overall cap 503', async () => {
    const server = await start({ maxConnections: 3, maxConnectionsPerAddress: 2 });
    await open(server.port, '127.0.0.1');
    await open(server.port, '127.0.0.1');
    // A second address gets connections of its own up to the overall cap.
    const other = await open(server.port, '127.0.0.2');
    other.socket.write('GET /ping HTTP/1.1\r\nhost: x\r\n\r\n');
    await sleep(200);
    expect(other.received().split('\r\n')[0]).toBe('HTTP/1.1 200 OK');

    const over = await open(server.port, '127.0.0.3');
    expect(await within(3_000, over.closed)).toBe('closed');
    refusal(over.received());
    expect(over.received()).toContain('the server holds as many connections');
  });
});
