/**
 * Sends one webhook request over HTTP(S): no redirects followed, a hard timeout, at most 1 KB of
 * the response kept, and no connection to a link-local or unspecified address (169.254.169.254
 * is where cloud instances serve their credentials), checked on the address DNS returned, so a
 * name that resolves there is refused too. Private addresses are allowed: a self-hosted
 * platform's receivers are often internal (a CI server, a chat bridge). Loopback is allowed by
 * `httpSend` (`xp start` and a receiver on the same machine) and refused by the sender that runs
 * in a Lambda, where 127.0.0.1:9001 is the Lambda runtime's own API.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import type { LookupFunction } from 'node:net';

export interface WebhookRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
}

export interface WebhookOutcome {
  /** The receiver's status; null when no response came (refused, timed out, blocked). */
  readonly statusCode: number | null;
  /** Why no response came, or a response's trouble; null on a response. */
  readonly error: string | null;
  /** The first KB of the response body. */
  readonly response: string | null;
  readonly durationMs: number;
  /** From a Retry-After header, in ms. */
  readonly retryAfterMs?: number;
  /** The platform would not send it (a blocked address, an unsupported scheme): trying again cannot help. */
  readonly refused?: boolean;
}

export type WebhookSender = (request: WebhookRequest) => Promise<WebhookOutcome>;

/** Response bytes kept for the delivery log. */
export const RESPONSE_LIMIT = 1024;

const BLOCKED = new BlockList();
BLOCKED.addSubnet('169.254.0.0', 16, 'ipv4');
BLOCKED.addSubnet('0.0.0.0', 8, 'ipv4');
BLOCKED.addSubnet('fe80::', 10, 'ipv6');
BLOCKED.addAddress('::', 'ipv6');
BLOCKED.addSubnet('::ffff:169.254.0.0', 112, 'ipv6');
// The same link-local block in the IPv4-compatible form and through NAT64's well-known prefix.
BLOCKED.addSubnet('::a9fe:0', 112, 'ipv6');
BLOCKED.addSubnet('64:ff9b::a9fe:0', 112, 'ipv6');
// Cloud instance metadata outside 169.254/16: AWS Nitro's IPv6 endpoint, Alibaba Cloud's.
BLOCKED.addAddress('fd00:ec2::254', 'ipv6');
BLOCKED.addAddress('100.100.100.200', 'ipv4');
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
LOOPBACK.addSubnet('::7f00:0', 104, 'ipv6');
LOOPBACK.addSubnet('64:ff9b::7f00:0', 104, 'ipv6');

/** A URL's host as an address literal would be checked: an IPv6 one without its brackets. */
export const urlHost = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '');

/** Whether the platform refuses to connect to `address` (an IP literal); loopback too when `refuseLoopback`. */
export function isBlockedAddress(address: string, refuseLoopback = false): boolean {
  const family = isIP(address);
  if (family === 0) {
    return false;
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  return BLOCKED.check(address, type) || (refuseLoopback && LOOPBACK.check(address, type));
}

class BlockedAddressError extends Error {}

const refusal = (what: string, refuseLoopback: boolean): string => `${what} a link-local, unspecified, cloud metadata${refuseLoopback ? ' or loopback' : ''} address, which webhooks may not reach`;

/** dns.lookup without the blocked addresses; fails when nothing else is left. */
export const guardedLookup = (refuseLoopback = false): LookupFunction => (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err !== null) {
      callback(err, '', 0);
      return;
    }
    const allowed = addresses.filter((a) => !isBlockedAddress(a.address, refuseLoopback));
    if (allowed.length === 0) {
      callback(new BlockedAddressError(refusal(`${hostname} resolves to`, refuseLoopback)), '', 0);
      return;
    }
    if (options.all === true) {
      (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
    } else {
      callback(null, allowed[0]!.address, allowed[0]!.family);
    }
  });
};

function retryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) {
    return undefined;
  }
  const seconds = Number(text);
  if (Number.isFinite(seconds) && seconds >= 0) {
    return seconds * 1000;
  }
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The HTTP(S) sender; `refuseLoopback` also keeps it off 127.0.0.0/8 and ::1. */
export function createHttpSender(options: { readonly refuseLoopback?: boolean } = {}): WebhookSender {
  const refuseLoopback = options.refuseLoopback ?? false;
  const lookup = guardedLookup(refuseLoopback);
  return (request) => send(request, refuseLoopback, lookup);
}

/** Sends from this process; loopback allowed. */
export const httpSend: WebhookSender = createHttpSender();

const send = (request: WebhookRequest, refuseLoopback: boolean, lookup: LookupFunction): Promise<WebhookOutcome> =>
  new Promise<WebhookOutcome>((resolve) => {
    const started = performance.now();
    let settled = false;
    const done = (outcome: Omit<WebhookOutcome, 'durationMs'>): void => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve({ ...outcome, durationMs: Math.round(performance.now() - started) });
      }
    };
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      resolve({ statusCode: null, error: 'invalid URL', response: null, durationMs: 0, refused: true });
      return;
    }
    const host = urlHost(url);
    if (isBlockedAddress(host, refuseLoopback)) {
      resolve({ statusCode: null, error: refusal(`${host} is`, refuseLoopback), response: null, durationMs: 0, refused: true });
      return;
    }
    const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
    if (client === undefined) {
      resolve({ statusCode: null, error: `unsupported scheme ${url.protocol}`, response: null, durationMs: 0, refused: true });
      return;
    }
    const body = Buffer.from(request.body, 'utf8');
    const req = client.request(url, {
      method: 'POST',
      headers: { ...request.headers, 'Content-Length': String(body.length) },
      lookup,
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no response within ${request.timeoutMs} ms`));
    }, request.timeoutMs);
    req.on('error', (e) => {
      done({ statusCode: null, error: e.message || 'connection failed', response: null, ...(e instanceof BlockedAddressError ? { refused: true } : {}) });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      const finish = (): void => {
        const text = Buffer.concat(chunks).toString('utf8');
        const retry = retryAfter(res.headers['retry-after']);
        done({ statusCode: res.statusCode ?? null, error: null, response: text === '' ? null : text, ...(retry === undefined ? {} : { retryAfterMs: retry }) });
        res.destroy();
      };
      res.on('data', (chunk: Buffer) => {
        if (kept < RESPONSE_LIMIT) {
          chunks.push(chunk.subarray(0, RESPONSE_LIMIT - kept));
          kept += Math.min(chunk.length, RESPONSE_LIMIT - kept);
          if (kept >= RESPONSE_LIMIT) {
            finish();
          }
        }
      });
      res.on('end', finish);
      res.on('error', finish);
    });
    req.end(body);
  });
