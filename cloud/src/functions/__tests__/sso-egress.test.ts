/**
 * The SSO egress function against a real identity provider stand-in: an HTTP server on 127.0.0.1
 * serving a discovery document. The handler under test allows http to loopback only through its
 * test option (allowHttpLoopback); the deployed handler, and the bundle, refuse it.
 */
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
import { SSO_EGRESS_REDISCOVERY_MS, createSsoEgressHandler } from '../sso-egress.js';
import { SSO_EGRESS_MAX_RESPONSE_BYTES } from '../sso-egress-protocol.js';
import type { SsoEgressAnswer, SsoEgressResult } from '../sso-egress-protocol.js';
import { bundledPackages } from './bundle-imports.js';

interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** Lambda hands the handler the JSON-decoded payload the API sent. */
const asInvoked = (event: unknown): unknown => JSON.parse(JSON.stringify(event)) as unknown;
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const text = (answer: SsoEgressResult): string => Buffer.from((answer as SsoEgressAnswer).body, 'base64').toString('utf8');

describe('the SSO egress function, against an identity provider on 127.0.0.1', () => {
  const received: Received[] = [];
  const logs: string[] = [];
  const logger = {
    info: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`),
    warn: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`),
    error: (m: string, f?: Record<string, unknown>) => logs.push(`${m} ${JSON.stringify(f ?? {})}`),
  };
  let server: http.Server;
  let base = '';
  let tokenPath = '/token';
  const clock = { now: 1_000_000 };

  const discovery = (issuer: string): Record<string, string> => ({
    issuer,
    authorization_endpoint: `${base}/auth`,
    token_endpoint: `${base}${tokenPath}`,
    jwks_uri: `${base}/jwks`,
    userinfo_endpoint: `${base}/userinfo`,
    registration_endpoint: `${base}/register`,
  });

  const egress = (options: { issuer?: string } = {}): ((event: unknown) => Promise<SsoEgressResult>) =>
    createSsoEgressHandler({ issuer: options.issuer ?? base, allowHttpLoopback: true, logger, now: () => clock.now });

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const pathname = req.url ?? '';
        received.push({ method: req.method ?? '', path: pathname, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        if (pathname === '/.well-known/openid-configuration') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(discovery(base)));
        } else if (pathname === '/impostor/.well-known/openid-configuration') {
          // Its document claims another issuer: the function trusts none of its endpoints.
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(discovery(base)));
        } else if (pathname === tokenPath) {
          res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'tracker=1', 'cache-control': 'no-store' }).end('{"access_token":"at-1","token_type":"Bearer"}');
        } else if (pathname === '/jwks') {
          res.writeHead(302, { location: `${base}/elsewhere` }).end();
        } else if (pathname === '/userinfo') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('x'.repeat(SSO_EGRESS_MAX_RESPONSE_BYTES + 1));
        } else {
          res.writeHead(200).end('reached');
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });

  beforeEach(() => {
    received.length = 0;
    logs.length = 0;
    tokenPath = '/token';
  });

  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('fetches the discovery URL and answers with its status, headers and body', async () => {
    const answer = await egress()(asInvoked({ url: `${base}/.well-known/openid-configuration`, method: 'GET', headers: { accept: 'application/json' } }));

    expect(answer).toMatchObject({ status: 200, headers: { 'content-type': 'application/json' } });
    expect(JSON.parse(text(answer))).toEqual(discovery(base));
    expect(received.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /.well-known/openid-configuration']);
  });

  it('forwards a token request (fetching the discovery document itself first), and logs no header or body', async () => {
    const answer = await egress()(
      asInvoked({
        url: `${base}/token`,
        method: 'POST',
        headers: { authorization: 'Basic eHA6dGhlLWNsaWVudC1zZWNyZXQ=', 'content-type': 'application/x-www-form-urlencoded', host: 'evil.example', cookie: 'a=b' },
        body: b64('grant_type=authorization_code&code=the-idp-code'),
      }),
    );

    expect(answer).toMatchObject({ status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
    expect((answer as SsoEgressAnswer).headers['set-cookie']).toBeUndefined();
    expect(text(answer)).toBe('{"access_token":"at-1","token_type":"Bearer"}');
    expect(received.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /.well-known/openid-configuration', 'POST /token']);
    const token = received[1]!;
    expect([token.headers.authorization, token.headers['content-type'], token.headers.host, token.headers.cookie, token.body]).toEqual([
      'Basic eHA6dGhlLWNsaWVudC1zZWNyZXQ=',
      'application/x-www-form-urlencoded',
      base.slice('http://'.length),
      undefined,
      'grant_type=authorization_code&code=the-idp-code',
    ]);
    expect(logs.some((l) => l.includes('"endpoint":"token"') && l.includes('"status":200'))).toBe(true);
    expect(logs.filter((l) => /eHA6|the-idp-code|at-1|grant_type/.test(l))).toEqual([]);
  });

  it('refuses, without sending, every URL and method but the four endpoints', async () => {
    const handler = egress();
    await handler(asInvoked({ url: `${base}/.well-known/openid-configuration`, method: 'GET', headers: {} }));
    received.length = 0;
    const refused = async (url: string, method = 'GET'): Promise<SsoEgressResult> => handler(asInvoked({ url, method, headers: {} }));

    const answers = [
      await refused(`${base}/admin`),
      // Named in the document, but not one of the three endpoints the sign-in uses.
      await refused(`${base}/register`, 'POST'),
      await refused(`${base}/auth`),
      await refused(`${base}/token?next=/admin`, 'POST'),
      await refused(`${base.replace('127.0.0.1', 'localhost')}/token`, 'POST'),
      await refused('https://example.com/token', 'POST'),
      await refused('http://169.254.169.254/latest/meta-data/'),
      await refused(`${base}/token`, 'GET'),
      await refused(`${base}/jwks`, 'POST'),
      await refused(`${base}/.well-known/openid-configuration`, 'DELETE'),
      await handler(asInvoked({ url: 'not a url', method: 'GET', headers: {} })),
      await handler(asInvoked({ url: `${base}/token`, method: 'POST', headers: { a: 1 } })),
    ];

    expect(answers.map((a) => (a as { error?: string }).error)).toEqual(Array(answers.length).fill('refused'));
    // No request reached the IdP (the document was fetched a minute ago at most: not again).
    expect(received).toEqual([]);
  });

  it('trusts no endpoint of a discovery document naming another issuer', async () => {
    const answer = await egress({ issuer: `${base}/impostor` })(asInvoked({ url: `${base}/token`, method: 'POST', headers: {}, body: b64('code=x') }));

    expect(answer).toMatchObject({ error: 'refused' });
    expect(received.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /impostor/.well-known/openid-configuration']);
  });

  it('follows no redirect, and refuses an answer over the size cap', async () => {
    const handler = egress();
    const jwks = await handler(asInvoked({ url: `${base}/jwks`, method: 'GET', headers: {} }));
    const userinfo = await handler(asInvoked({ url: `${base}/userinfo`, method: 'GET', headers: { authorization: 'Bearer at-1' } }));

    expect(jwks).toMatchObject({ status: 302, headers: { location: `${base}/elsewhere` } });
    expect(userinfo).toMatchObject({ error: 'too-large' });
    expect(received.map((r) => r.path)).toEqual(['/.well-known/openid-configuration', '/jwks', '/userinfo']);
  });

  it('fetches the document again for an unknown URL, at most once a minute (an endpoint the IdP moved)', async () => {
    const handler = egress();
    await handler(asInvoked({ url: `${base}/.well-known/openid-configuration`, method: 'GET', headers: {} }));
    tokenPath = '/token-v2';
    received.length = 0;

    const soon = await handler(asInvoked({ url: `${base}/token-v2`, method: 'POST', headers: {}, body: b64('code=x') }));
    const soonReceived = received.map((r) => r.path);
    clock.now += SSO_EGRESS_REDISCOVERY_MS;
    const later = await handler(asInvoked({ url: `${base}/token-v2`, method: 'POST', headers: {}, body: b64('code=x') }));

    expect(soon).toMatchObject({ error: 'refused' });
    expect(soonReceived).toEqual([]);
    expect(later).toMatchObject({ status: 200 });
    expect(received.map((r) => r.path)).toEqual(['/.well-known/openid-configuration', '/token-v2']);
  });

  it('answers unreachable when the IdP cannot be reached', async () => {
    const closed = http.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const gone = `http://127.0.0.1:${String((closed.address() as AddressInfo).port)}`;
    closed.close();
    await once(closed, 'close');

    const answer = await egress({ issuer: gone })(asInvoked({ url: `${gone}/.well-known/openid-configuration`, method: 'GET', headers: {} }));

    expect(answer).toMatchObject({ error: 'unreachable' });
  });

  it('as deployed (no test option), refuses plain http, even to the configured issuer', async () => {
    const deployed = createSsoEgressHandler({ issuer: base, logger });

    const answer = await deployed(asInvoked({ url: `${base}/.well-known/openid-configuration`, method: 'GET', headers: {} }));

    expect(answer).toMatchObject({ error: 'refused' });
    expect(received).toEqual([]);
  });

  it('as deployed: the esbuild bundle imports no package, reads XP_SSO_ISSUER and refuses an http issuer in a fresh process', async () => {
    const outdir = await mkdtemp(path.join(tmpdir(), 'xp-sso-egress-bundle-'));
    try {
      const { file } = await bundleFunction(FunctionEntry.SsoEgress, outdir);
      const source = await readFile(file, 'utf8');
      const script = `const { handler } = await import(${JSON.stringify(pathToFileURL(file).href)});
process.stdout.write(JSON.stringify(await handler(JSON.parse(process.argv[1]))));`;
      const event = { url: `${base}/.well-known/openid-configuration`, method: 'GET', headers: {} };

      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(event)], { env: { PATH: process.env.PATH, XP_SSO_ISSUER: base } });

      expect(bundledPackages(source, { dynamic: true })).toEqual([]);
      expect(JSON.parse(stdout)).toEqual({ error: 'refused', message: 'XP_SSO_ISSUER is not an https URL without query or fragment' });
      expect(received).toEqual([]);
    } finally {
      await rm(outdir, { recursive: true, force: true });
    }
  });
});
