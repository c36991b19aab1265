/**
 * The SSO egress function: sends one HTTPS request to the identity provider for the API function,
 * which runs in the VPC without a route to the internet and invokes it synchronously through the
 * Lambda interface endpoint (sso-egress-fetch.ts). It runs outside the VPC, reaches no database and
 * holds no secret: the client secret passes through only inside the token request it forwards.
 *
 * It is no general proxy: it sends only to the issuer's discovery URL
 * (`<XP_SSO_ISSUER>/.well-known/openid-configuration`, GET) and to the `token_endpoint` (POST),
 * `jwks_uri` (GET) and `userinfo_endpoint` (GET, POST) of that document, which it fetches itself and
 * keeps for its lifetime (fetched again at most once a minute when asked for a URL it does not list,
 * should the IdP have moved an endpoint). https only, no redirect followed, a 10 s timeout, answers
 * up to 1 MiB. It logs the endpoint's kind, the status and the time: never a URL's path or query, a
 * header or a body.
 */
import type { Logger } from '../domain/context.js';
import { functionLogger } from './runtime.js';
import { SSO_EGRESS_FETCH_TIMEOUT_MS, SSO_EGRESS_ISSUER_VARIABLE, SSO_EGRESS_MAX_REQUEST_BYTES, SSO_EGRESS_MAX_RESPONSE_BYTES } from './sso-egress-protocol.js';
import type { SsoEgressFailure, SsoEgressResult } from './sso-egress-protocol.js';

/** The URLs the function may reach, by kind. */
type Endpoint = 'discovery' | 'token' | 'jwks' | 'userinfo';

const METHODS: Readonly<Record<Endpoint, readonly string[]>> = {
  discovery: ['GET'],
  token: ['POST'],
  jwks: ['GET'],
  userinfo: ['GET', 'POST'],
};

/** How soon a URL the cached discovery document does not list may fetch the document again. */
export const SSO_EGRESS_REDISCOVERY_MS = 60_000;

/** Request headers never forwarded: the connection's own, which fetch sets. */
const DROPPED_REQUEST_HEADERS: ReadonlySet<string> = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'cookie']);
/** Answer headers never returned: the body is returned decoded, and nothing keeps cookies. */
const DROPPED_RESPONSE_HEADERS: ReadonlySet<string> = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive', 'set-cookie']);

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface SsoEgressOptions {
  /** The issuer (XP_SSO_ISSUER); default: read from the environment at the first invocation. */
  readonly issuer?: string | undefined;
  /**
   * Tests only: also allow plain http to 127.0.0.1, localhost and [::1] (a local IdP). The deployed
   * handler never sets it, and no variable turns it on: in Lambda, 127.0.0.1:9001 is the runtime API.
   */
  readonly allowHttpLoopback?: boolean;
  readonly logger?: Logger;
  /** Milliseconds since the epoch; default Date.now. */
  readonly now?: () => number;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

class Refused extends Error {}

/** `.well-known/openid-configuration` appended to the issuer's path, as openid-client does. */
function discoveryUrlOf(issuer: URL): string {
  const url = new URL(issuer.href);
  url.pathname = `${url.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`;
  return url.href;
}

/** Reads a body up to `max` bytes; undefined past it (the rest is not read). */
async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array | undefined> {
  if (body === null) {
    return new Uint8Array();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** A fetch failure as the egress function's answer: its kind and the error's name and code, never a URL. */
function failureOf(e: unknown): SsoEgressFailure {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) {
    return { error: 'timeout', message: `the identity provider did not answer within ${String(SSO_EGRESS_FETCH_TIMEOUT_MS / 1000)} s` };
  }
  const cause = e instanceof Error ? (e.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
  return { error: 'unreachable', message: `${e instanceof Error ? e.name : 'error'}${code}` };
}

interface Fetched {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly bytes: Uint8Array;
}

/** One request: no redirect followed, the timeout over headers and body, the body capped. */
async function send(url: string, init: { method: string; headers: Record<string, string>; body?: Uint8Array | undefined }): Promise<Fetched | SsoEgressFailure> {
  const signal = AbortSignal.timeout(SSO_EGRESS_FETCH_TIMEOUT_MS);
  try {
    const res = await fetch(url, { method: init.method, headers: init.headers, redirect: 'manual', signal, ...(init.body === undefined ? {} : { body: init.body }) });
    const bytes = await readCapped(res.body, SSO_EGRESS_MAX_RESPONSE_BYTES);
    if (bytes === undefined) {
      return { error: 'too-large', message: `the answer exceeds ${String(SSO_EGRESS_MAX_RESPONSE_BYTES)} bytes` };
    }
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      if (!DROPPED_RESPONSE_HEADERS.has(name)) {
        headers[name] = value;
      }
    });
    return { status: res.status, headers, bytes };
  } catch (e) {
    return failureOf(e);
  }
}

/** The answer's endpoints, each only when an allowed URL. */
interface Discovered {
  readonly at: number;
  readonly endpoints: ReadonlyMap<string, Endpoint>;
}

/** Creates the handler; `handler` below is the deployed one. */
export function createSsoEgressHandler(options: SsoEgressOptions = {}): (event: unknown) => Promise<SsoEgressResult> {
  const logger = options.logger ?? functionLogger();
  const now = options.now ?? Date.now;
  const allowHttpLoopback = options.allowHttpLoopback === true;
  let discovered: Discovered | undefined;
  let discovering: Promise<Discovered | undefined> | undefined;

  /** Whether the function may connect to `url` at all: https (http to loopback in tests), no credentials. */
  const reachable = (url: URL): boolean =>
    (url.protocol === 'https:' || (allowHttpLoopback && url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) && url.username === '' && url.password === '';

  const issuerOf = (): { issuer: string; discoveryUrl: string } => {
    const text = (options.issuer ?? process.env[SSO_EGRESS_ISSUER_VARIABLE] ?? '').trim();
    if (!URL.canParse(text)) {
      throw new Refused(`${SSO_EGRESS_ISSUER_VARIABLE} is not set to a URL`);
    }
    const issuer = new URL(text);
    if (!reachable(issuer) || issuer.search !== '' || issuer.hash !== '') {
      throw new Refused(`${SSO_EGRESS_ISSUER_VARIABLE} is not an https URL without query or fragment`);
    }
    return { issuer: text, discoveryUrl: discoveryUrlOf(issuer) };
  };

  /** The endpoints of a discovery document whose issuer is the configured one. */
  const endpointsOf = (issuer: string, bytes: Uint8Array): Map<string, Endpoint> | undefined => {
    let doc: unknown;
    try {
      doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      return undefined;
    }
    if (!isRecord(doc) || doc.issuer !== issuer) {
      return undefined;
    }
    const endpoints = new Map<string, Endpoint>();
    for (const [field, kind] of [['token_endpoint', 'token'], ['jwks_uri', 'jwks'], ['userinfo_endpoint', 'userinfo']] as const) {
      const value = doc[field];
      if (typeof value === 'string' && URL.canParse(value) && reachable(new URL(value))) {
        endpoints.set(new URL(value).href, kind);
      }
    }
    return endpoints;
  };

  /** Fetches the discovery document itself (one at a time); undefined when it could not. */
  const discover = (issuer: string, discoveryUrl: string): Promise<Discovered | undefined> => {
    discovering ??= (async () => {
      const got = await send(discoveryUrl, { method: 'GET', headers: { accept: 'application/json' } });
      const endpoints = 'error' in got || got.status !== 200 ? undefined : endpointsOf(issuer, got.bytes);
      if (endpoints === undefined) {
        logger.warn('sso egress: discovery failed', { ...('error' in got ? { error: got.error, message: got.message } : { status: got.status }) });
        return undefined;
      }
      discovered = { at: now(), endpoints };
      return discovered;
    })().finally(() => {
      discovering = undefined;
    });
    return discovering;
  };

  /** The kind of an allowed URL, or a Refused naming why not. */
  const allowed = async (url: URL, method: string): Promise<Endpoint> => {
    const { issuer, discoveryUrl } = issuerOf();
    if (!reachable(url)) {
      throw new Refused(`only https URLs of the identity provider are sent (not ${url.protocol}//${url.host})`);
    }
    let kind: Endpoint | undefined = url.href === discoveryUrl ? 'discovery' : discovered?.endpoints.get(url.href);
    if (kind === undefined && (discovered === undefined || now() - discovered.at >= SSO_EGRESS_REDISCOVERY_MS)) {
      kind = (await discover(issuer, discoveryUrl))?.endpoints.get(url.href);
    }
    if (kind === undefined) {
      throw new Refused(`${url.host}: not the discovery URL, token, JWKS or userinfo endpoint of ${issuer}`);
    }
    if (!METHODS[kind].includes(method)) {
      throw new Refused(`${method.slice(0, 16)} is not sent to the ${kind} endpoint`);
    }
    return kind;
  };

  return async (event) => {
    const started = now();
    const refused = (message: string): SsoEgressFailure => {
      logger.warn('sso egress: request refused', { reason: message });
      return { error: 'refused', message };
    };
    if (!isRecord(event) || typeof event.url !== 'string' || typeof event.method !== 'string' || !URL.canParse(event.url)) {
      return refused('the request has no url or method');
    }
    const { headers, body } = event;
    if (!isRecord(headers) || !Object.values(headers).every((v) => typeof v === 'string') || (body !== undefined && typeof body !== 'string')) {
      return refused('headers must be an object of strings and body a base64 string');
    }
    const method = event.method.toUpperCase();
    const url = new URL(event.url);
    let kind: Endpoint;
    try {
      kind = await allowed(url, method);
    } catch (e) {
      if (e instanceof Refused) {
        return refused(e.message);
      }
      throw e;
    }
    const bytes = body === undefined ? undefined : Buffer.from(body, 'base64');
    if (bytes !== undefined && bytes.byteLength > SSO_EGRESS_MAX_REQUEST_BYTES) {
      return refused(`the request body exceeds ${String(SSO_EGRESS_MAX_REQUEST_BYTES)} bytes`);
    }
    if (method === 'GET' && bytes !== undefined && bytes.byteLength > 0) {
      return refused('a GET request has no body');
    }
    const forwarded = Object.fromEntries(Object.entries(headers as Record<string, string>).filter(([name]) => !DROPPED_REQUEST_HEADERS.has(name.toLowerCase())));
    const got = await send(url.href, { method, headers: forwarded, body: method === 'GET' ? undefined : bytes });
    if ('error' in got) {
      logger.warn('sso egress: request failed', { endpoint: kind, host: url.host, error: got.error, message: got.message, durationMs: now() - started });
      return got;
    }
    if (kind === 'discovery' && got.status === 200) {
      // The API's discovery is this function's too: the answer's endpoints become the allowed ones.
      const endpoints = endpointsOf(issuerOf().issuer, got.bytes);
      if (endpoints !== undefined) {
        discovered = { at: now(), endpoints };
      }
    }
    logger.info('sso egress', { endpoint: kind, host: url.host, method, status: got.status, durationMs: now() - started });
    return { status: got.status, headers: got.headers, body: Buffer.from(got.bytes).toString('base64') };
  };
}

export const handler = createSsoEgressHandler();
