/**
 * A real OpenID provider (oidc-provider) for the SSO tests, in-process on an ephemeral port, with
 * accounts the test controls, and a small browser (cookie jar, manual redirects) that signs in
 * through its devInteractions login and consent pages.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface TestIdp {
  readonly issuer: string;
  /** Claims by account id (sub); change them between sign-ins. */
  readonly accounts: Map<string, Record<string, unknown>>;
  /** Follows the authorization URL through login (as `accountId`) and consent to the redirect back to the RP. */
  signIn(authorizationUrl: string, accountId: string): Promise<URL>;
  /** Follows the authorization URL to the login page and cancels there (access_denied). */
  cancel(authorizationUrl: string): Promise<URL>;
  close(): Promise<void>;
}

export interface TestClient {
  readonly clientId: string;
  /** Absent: a public client (PKCE only). */
  readonly clientSecret?: string;
  readonly redirectUri: string;
}

export async function startTestIdp(clients: readonly TestClient[]): Promise<TestIdp> {
  const client = clients[0]!;
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  const accounts = new Map<string, Record<string, unknown>>();
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      client_id: c.clientId,
      ...(c.clientSecret === undefined ? { token_endpoint_auth_method: 'none' } : { client_secret: c.clientSecret, token_endpoint_auth_method: 'client_secret_basic' }),
      redirect_uris: [c.redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    })),
    findAccount: (_ctx: unknown, id: string) => {
      const claims = accounts.get(id);
      return claims === undefined ? undefined : { accountId: id, claims: () => ({ sub: id, ...accounts.get(id) }) };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified', 'xms_edov'], profile: ['name', 'groups'] },
    cookies: { keys: ['sso-test-cookie-key'] },
    features: { devInteractions: { enabled: true } },
  });
  // Its warnings about development keys and interactions are expected here.
  provider.on('server_error', () => undefined);
  const handle = provider.callback();
  server.on('request', (req, res) => {
    void handle(req, res);
  });

  const redirectBase = new URL(client.redirectUri);
  const browse = async (authorizationUrl: string, act: (prompt: string, html: string, here: URL) => { url: URL; body?: URLSearchParams }): Promise<URL> => {
    const jar = new Map<string, string>();
    let url = new URL(authorizationUrl);
    let body: URLSearchParams | undefined;
    for (let hop = 0; hop < 20; hop++) {
      const res = await fetch(url, {
        method: body === undefined ? 'GET' : 'POST',
        redirect: 'manual',
        headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
        ...(body === undefined ? {} : { body: body.toString() }),
      });
      for (const set of res.headers.getSetCookie()) {
        const pair = set.split(';')[0]!;
        const eq = pair.indexOf('=');
        const [name, value] = [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
        if (value === '' || /expires=Thu, 01 Jan 1970/i.test(set)) {
          jar.delete(name);
        } else {
          jar.set(name, value);
        }
      }
      body = undefined;
      const location = res.headers.get('location');
      if (location !== null) {
        await res.arrayBuffer();
        const next = new URL(location, url);
        if (next.origin === redirectBase.origin && next.pathname === redirectBase.pathname) {
          return next;
        }
        url = next;
        continue;
      }
      const html = await res.text();
      const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
      if (prompt === undefined) {
        throw new Error(`the IdP answered ${String(res.status)} without a redirect or a prompt: ${html.slice(0, 300)}`);
      }
      const step = act(prompt, html, url);
      url = step.url;
      body = step.body;
    }
    throw new Error('too many redirects at the IdP');
  };
  return {
    issuer,
    accounts,
    signIn: (authorizationUrl, accountId) =>
      browse(authorizationUrl, (prompt, _html, here) => ({ url: here, body: new URLSearchParams(prompt === 'login' ? { prompt, login: accountId, password: 'any' } : { prompt }) })),
    cancel: (authorizationUrl) => browse(authorizationUrl, (_prompt, _html, here) => ({ url: new URL(`${here.pathname}/abort`, here) })),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
