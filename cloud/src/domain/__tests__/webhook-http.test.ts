/**
 * The webhook sender against real HTTP servers on 127.0.0.1: what it keeps of a response, its
 * timeout, redirects, and the addresses it refuses.
 */
import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RESPONSE_LIMIT, createHttpSender, guardedLookup, httpSend, isBlockedAddress } from '../webhook-http.js';
import { attemptRecord, MAX_ATTEMPTS, slackText, urlPreview } from '../webhooks.js';

const servers: Server[] = [];
async function serve(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => { resolve(); }));
  }
});

const send = (url: string, timeoutMs = 2_000) => httpSend({ url, headers: { 'Content-Type': 'application/json', 'X-Test': 'yes' }, body: '{"é":1}', timeoutMs });

describe('httpSend', () => {
  it('POSTs the body with its headers and a byte Content-Length, and keeps the first KB of the answer', async () => {
    let seen: Record<string, string | undefined> = {};
    const url = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { method: req.method, length: req.headers['content-length'], test: req.headers['x-test'] as string, body: Buffer.concat(chunks).toString('utf8') };
        res.writeHead(201, { 'retry-after': '7' });
        res.end('x'.repeat(5_000));
      });
    });
    const out = await send(`${url}/hook`);
    expect(seen).toEqual({ method: 'POST', length: '8', test: 'yes', body: '{"é":1}' });
    expect(out).toMatchObject({ statusCode: 201, error: null, retryAfterMs: 7_000 });
    expect(out.response).toHaveLength(RESPONSE_LIMIT);
  });

  it('does not follow redirects', async () => {
    let followed = false;
    const target = await serve((_req, res) => {
      followed = true;
      res.end('ok');
    });
    const url = await serve((_req, res) => {
      res.writeHead(302, { location: target });
      res.end();
    });
    expect(await send(url)).toMatchObject({ statusCode: 302, error: null });
    expect(followed).toBe(false);
  });

  it('gives up at its timeout with an error, not a status', async () => {
    const url = await serve(() => {
      // never answers
    });
    const started = Date.now();
    const out = await send(url, 200);
    expect(out).toMatchObject({ statusCode: null, response: null });
    expect(out.error).toContain('no response within 200 ms');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses link-local and unspecified addresses, literal or resolved, and allows loopback and private ones', async () => {
    for (const blocked of ['169.254.169.254', '0.0.0.0', 'fe80::1', '::', '::ffff:169.254.169.254', '::a9fe:a9fe', '64:ff9b::a9fe:a9fe', '64:ff9b::169.254.169.254', 'fd00:ec2::254', '100.100.100.200']) {
      expect([blocked, isBlockedAddress(blocked)]).toEqual([blocked, true]);
    }
    for (const allowed of ['127.0.0.1', '10.1.2.3', '192.168.0.1', '::1', '8.8.8.8', 'example.com']) {
      expect([allowed, isBlockedAddress(allowed)]).toEqual([allowed, false]);
    }
    for (const loopback of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '::7f00:1', '64:ff9b::127.0.0.1']) {
      expect([loopback, isBlockedAddress(loopback, true)]).toEqual([loopback, true]);
    }
    expect(isBlockedAddress('100.100.100.201')).toBe(false);
    const metadata = await send('http://169.254.169.254/latest/meta-data/');
    expect(metadata).toMatchObject({ statusCode: null, refused: true });
    expect(metadata.error).toContain('link-local');
    expect((await send('http://[fe80::1]/')).error).toContain('link-local');
    // What a name resolves to is checked too (dns.lookup returns an address literal as it is).
    const resolved = (host: string, refuseLoopback = false) => new Promise<string>((resolve) => { guardedLookup(refuseLoopback)(host, {}, (err, address) => { resolve(err === null ? (typeof address === 'string' ? address : JSON.stringify(address)) : err.message); }); });
    expect(await resolved('169.254.169.254')).toContain('link-local');
    expect(await resolved('localhost')).toMatch(/^(127\.0\.0\.1|::1)$/);
    expect(await resolved('localhost', true)).toContain('loopback');
  });

  it('refuses loopback when asked (the Lambda sender: 127.0.0.1:9001 is the runtime API there)', async () => {
    const url = await serve((_req, res) => {
      res.end('ok');
    });
    expect((await send(url)).statusCode).toBe(200);
    const strict = createHttpSender({ refuseLoopback: true });
    const request = { headers: {}, body: '{}', timeoutMs: 1_000 };
    expect(await strict({ ...request, url })).toMatchObject({ refused: true, error: expect.stringContaining('loopback') });
    // Refused after DNS too: the outcome says so, and the dispatcher does not retry it.
    expect(await strict({ ...request, url: url.replace('127.0.0.1', 'localhost') })).toMatchObject({ refused: true, error: expect.stringContaining('loopback') });
    expect((await strict({ ...request, url: 'http://[::1]:9/' })).error).toContain('loopback');
    for (const address of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) {
      expect([address, isBlockedAddress(address), isBlockedAddress(address, true)]).toEqual([address, false, true]);
    }
    expect((await send('ftp://example.com/')).error).toContain('unsupported scheme');
    expect((await send('not a url')).error).toBe('invalid URL');
  });
});

describe('webhook helpers', () => {
  it('previews a URL without its path, query or credentials', () => {
    expect(urlPreview('https://hooks.slack.com/services/T0/B0/secret')).toBe('https://hooks.slack.com/…');
    expect(urlPreview('https://user:pw@ci.internal:8443/?token=x')).toBe('https://ci.internal:8443/…');
    expect(urlPreview('http://127.0.0.1:9/')).toBe('http://127.0.0.1:9/');
  });

  it('retries what may pass later, fails what will not, and stops after the last attempt', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const at = (r: ReturnType<typeof attemptRecord>) => (r.nextAttemptAt === null ? r.status : `${r.status}+${(r.nextAttemptAt.getTime() - now.getTime()) / 1000}s`);
    const outcome = (statusCode: number | null, retryAfterMs?: number) => ({ statusCode, error: statusCode === null ? 'ECONNREFUSED' : null, response: null, durationMs: 3, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
    expect(at(attemptRecord(outcome(204), 1, now))).toBe('succeeded');
    expect(at(attemptRecord(outcome(500), 1, now))).toBe('pending+30s');
    expect(at(attemptRecord(outcome(null), 2, now))).toBe('pending+120s');
    expect(at(attemptRecord(outcome(408), 7, now))).toBe('pending+21600s');
    expect(at(attemptRecord(outcome(503), MAX_ATTEMPTS, now))).toBe('failed');
    expect(at(attemptRecord(outcome(404), 1, now))).toBe('failed');
    expect(at(attemptRecord(outcome(301), 1, now))).toBe('failed');
    // Retry-After lengthens a wait, up to an hour; it never shortens one.
    expect(at(attemptRecord(outcome(429, 10 * 3_600_000), 1, now))).toBe('pending+3600s');
    expect(at(attemptRecord(outcome(429, 1_000), 3, now))).toBe('pending+600s');
    expect(at(attemptRecord(outcome(500), 1, now, false))).toBe('failed');
    // The platform refused to send it (a blocked address): trying again cannot help.
    expect(at(attemptRecord({ ...outcome(null), refused: true }, 1, now))).toBe('failed');
    expect(attemptRecord(outcome(500), 1, now).error).toBe('the receiver answered 500');
  });

  it('writes Slack text with escaping and at most ten changes', () => {
    const diff = Array.from({ length: 12 }, (_, i) => ({ op: 'replace', path: `/rules/${i}`, from: i, to: i + 1 }));
    const text = slackText({ project: { key: 'p', name: 'Shop <prod>' }, change: { action: 'flag.updated', resourceType: 'flag', resourceKey: 'a&b', environment: null, actor: 'ann@example.com', diff } });
    expect(text.split('\n')[0]).toBe('[Shop &lt;prod&gt;] ann@example.com: flag.updated `a&amp;b`');
    expect(text).toContain('• /rules/9: 9 → 10');
    expect(text).not.toContain('/rules/10');
    expect(text).toContain('…and 2 more changes');
    expect(slackText({ project: { key: 'p' }, change: null })).toBe('[p] test delivery from xp');
  });
});
