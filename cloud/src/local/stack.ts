import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { z } from 'zod';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import { DEMO_ENVIRONMENT, bootstrap } from '../domain/bootstrap.js';
import { checkDatabaseKind, databaseTarget } from './database-marker.js';
import type { BootstrapResult } from '../domain/bootstrap.js';
import type { Deps, Logger } from '../domain/context.js';
import { BanditUpdater, startBanditSchedule } from '../domain/bandit.js';
import type { BanditSchedule } from '../domain/bandit.js';
import { DEFAULT_GUARDRAIL_INTERVAL_MS, GuardrailChecker, startGuardrailSchedule } from '../domain/guardrails.js';
import type { GuardrailSchedule } from '../domain/guardrails.js';
import { ScheduledChangeService, startScheduledChanges } from '../domain/scheduled-changes.js';
import { republish } from '../domain/publisher.js';
import { PlatformKey } from '../auth/platform-key.js';
import { readUrl, startWebhookDispatcher } from '../domain/webhooks.js';
import { httpSend } from '../domain/webhook-http.js';
import { createServices } from '../domain/services.js';
import { validatePasswordStrength } from '../auth/passwords.js';
import { AppError, AppErrorCode } from '../errors.js';
import { createApp } from '../http/app.js';
import { BodyBudget, DEFAULT_BODY_BYTES_IN_FLIGHT, DEFAULT_BODY_BYTES_PER_ADDRESS } from '../http/body-limits.js';
import { TrustedProxies } from '../http/client-ip.js';
import { databaseWriteSucceeded } from '../http/errors.js';
import { attachAggregatorState, attachArchiveState, attachDatabaseSpaceCheck, processCounterSink } from '../http/routes/health.js';
import { measuredProcess } from '../pipeline/measured.js';
import type { Database } from '../store/db.js';
import { DatabaseError, MIGRATIONS_DIR, createPgDatabase, describeApplied, migrate } from '../store/db.js';
import { withExplorer } from '../pipeline/explorer-hook.js';
import { createPoller, kinesisShardReader } from '../pipeline/poller.js';
import { DEFAULT_EXPLORER_RETENTION_DAYS } from '../store/explorer.js';
import { LocalEventArchive, archivingEventSink } from '../store/event-archive.js';
import { createKinesisEventSink, createKinesisPutClient } from '../store/event-sink.js';
import { createDynamoClient, createDynamoRulesetStore } from '../store/ruleset-store.js';
import { openSharedStores } from '../store/shared-stores.js';
import type { SharedStoreKind, StickyStoreKind } from '../store/shared-stores.js';
import { createRulesetNotifier } from '../http/sdk/ruleset-notifier.js';
import { SDK_CORS_HEADERS } from '../http/sdk/cors.js';
import { OFREP_PREFLIGHT_HEADERS } from '../http/sdk/ofrep.js';
import { SDK_PREFLIGHT_HEADERS } from '../http/sdk/sdk-routes.js';
import { createKinesisClient, ensureStream, startDynalite, startKinesalite } from './aws-local.js';
import type { LocalService } from './aws-local.js';
import { DEMO_CLIENT, startDemoTraffic } from './demo-traffic.js';
import type { DemoTraffic } from './demo-traffic.js';
import { createConsoleApp } from './console-server.js';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, capConnections } from './connection-caps.js';
import type { ConnectionLimits } from './connection-caps.js';
import { lockDataDir } from './data-lock.js';
import { LOW_DISK_BYTES, freeDiskBytes, noticeWrites } from './disk-space.js';
import { embeddedDatabaseDir, openEmbeddedDatabase } from './embedded-database.js';
import { jsonLogger } from './logger.js';
import { startPlannerStatistics } from './planner-statistics.js';
import { startUpkeep } from './upkeep.js';
import { SSO_CALLBACK_PATH, loadSsoConfig, warnOfOpenSso } from '../auth/sso-config.js';
import type { SsoConfig } from '../auth/sso-config.js';

/** Configuration of the local platform; every field has an environment variable. */
export interface LocalConfig {
  /** XP_DATA_DIR; default ./.xp */
  readonly dataDir: string;
  /** DATABASE_URL: a real PostgreSQL instead of embedded PGlite. */
  readonly databaseUrl?: string | undefined;
  /** DYNAMODB_ENDPOINT / KINESIS_ENDPOINT: real or external endpoints instead of the in-process ones. */
  readonly dynamodbEndpoint?: string | undefined;
  readonly kinesisEndpoint?: string | undefined;
  /** REDIS_URL: shared rate limits and sticky assignments in Redis (else rate limits in process memory, sticky assignments in the database). */
  readonly redisUrl?: string | undefined;
  readonly host: string;
  /** XP_API_PORT (8000) and XP_CONSOLE_PORT (3000); 0 picks a free port. */
  readonly apiPort: number;
  readonly consolePort: number;
  /** XP_CONSOLE_DIR: the built console (default desktop/dist/renderer of this checkout). */
  readonly consoleDir?: string | undefined;
  readonly adminEmail?: string | undefined;
  readonly adminPassword?: string | undefined;
  readonly rulesetTable: string;
  readonly eventStream: string;
  /** XP_DEMO (default on; 0, false, no or off turn it off) or --no-demo: demo traffic on the first start. */
  readonly demo: boolean;
  /** XP_DEMO_USERS: users the demo simulates. Default 3,000. */
  readonly demoUsers: number;
  /** XP_EXPLORER_RETENTION_DAYS (default 7): how long the event explorer keeps events. */
  readonly explorerRetentionDays: number;
  /** XP_REQUEST_LOG=failures: only requests that failed (status ≥ 400) get a log line. Default all. */
  readonly requestLogFailuresOnly: boolean;
  /** COLLECT_REQUEST_BODY=true: request log lines include the JSON body, secrets redacted. */
  readonly collectRequestBody: boolean;
  /** XP_ARCHIVE_FLUSH_SECONDS (default 10): how long accepted events wait before they are written to `<data dir>/archive/events`. */
  readonly archiveFlushMs: number;
  /** XP_GUARDRAIL_INTERVAL_SECONDS (default 60) in ms: how often guardrails are checked; 0 turns the checks off. */
  readonly guardrailIntervalMs: number;
  /** XP_PLATFORM_KEY (at least 32 characters): signs webhooks and encrypts their URLs; default: one kept in `<data dir>/platform.key`. */
  readonly platformKey: string | undefined;
  /** XP_TRUSTED_PROXIES (IPs and CIDR ranges, comma-separated; default none): peers whose X-Forwarded-For names the client. */
  readonly trustedProxies?: TrustedProxies | undefined;
  /** XP_HEADERS_TIMEOUT_SECONDS (default 15) in ms: a request's headers must arrive within it (408, then closed). */
  readonly headersTimeoutMs?: number;
  /** XP_REQUEST_TIMEOUT_SECONDS (default 120) in ms: a request's headers and body must arrive within it (responses, streams among them, are not limited). */
  readonly requestTimeoutMs?: number;
  /** XP_MAX_CONNECTIONS (default 10,000): connections each server holds at once; one more is answered 503 and closed. */
  readonly maxConnections?: number;
  /** XP_MAX_CONNECTIONS_PER_ADDRESS (default 1,000): connections each server holds from one client address. */
  readonly maxConnectionsPerAddress?: number;
  /** XP_MAX_BODY_BYTES_IN_FLIGHT (default 256 MB): request body bytes being received at once; a body beyond gets 503. */
  readonly maxBodyBytesInFlight?: number;
  /** XP_MAX_BODY_BYTES_PER_ADDRESS (default 32 MB): request body bytes being received at once from one client address. */
  readonly maxBodyBytesPerAddress?: number;
  /** XP_SSO_*: single sign-on with OpenID Connect (auth/sso-config.ts); off without XP_SSO_ISSUER. */
  readonly sso?: SsoConfig | undefined;
}

/** The callback URL of `xp start`'s console on `consolePort` (XP_SSO_REDIRECT_URL's local default). */
export function localSsoRedirect(consolePort: number): string {
  return `http://localhost:${String(consolePort)}${SSO_CALLBACK_PATH}`;
}

function port(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') {
    return fallback;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new Error(`${name} must be a port number, got "${value}"`);
  }
  return n;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v);

function count(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value.trim() === '') {
    return fallback;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`${name} must be a whole number, got "${value}"`);
  }
  return n;
}

/** How often the local stack applies due scheduled changes. */
const SCHEDULED_CHANGES_INTERVAL_MS = 30_000;

/** Longest guardrail interval: past 2³¹ − 1 ms Node fires a timer after 1 ms, a hot loop. */
const MAX_GUARDRAIL_INTERVAL_SECONDS = 86_400;

/** XP_GUARDRAIL_INTERVAL_SECONDS: digits only (no `1e3`, no fraction), 0 (off) to one day. */
function guardrailIntervalSeconds(value: string | undefined): number {
  if (value === undefined || value.trim() === '') {
    return DEFAULT_GUARDRAIL_INTERVAL_MS / 1000;
  }
  const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!(n <= MAX_GUARDRAIL_INTERVAL_SECONDS)) {
    throw new Error(`XP_GUARDRAIL_INTERVAL_SECONDS must be a whole number of seconds from 0 (off) to ${String(MAX_GUARDRAIL_INTERVAL_SECONDS)} (one day), got "${value}"`);
  }
  return n;
}

function positive(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value.trim() === '') {
    return fallback;
  }
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`${name} must be a positive number, got "${value}"`);
  }
  return n;
}

/** A whole number of at least 1 (a limit of 0 would refuse everything). */
function atLeastOne(value: string | undefined, fallback: number, name: string): number {
  const n = count(value, fallback, name);
  if (n < 1) {
    throw new Error(`${name} must be at least 1, got "${value ?? ''}"`);
  }
  return n;
}

/** XP_REQUEST_LOG: `all` (default) or `failures`; whether only failed requests are logged. */
function requestLogMode(value: string | undefined): boolean {
  const v = value?.trim().toLowerCase();
  if (v === undefined || v === '' || v === 'all') {
    return false;
  }
  if (v === 'failures') {
    return true;
  }
  throw new Error(`XP_REQUEST_LOG must be all or failures, got "${value ?? ''}"`);
}

function flag(value: string | undefined, fallback: boolean, name: string): boolean {
  const v = value?.trim().toLowerCase();
  if (v === undefined || v === '') {
    return fallback;
  }
  if (['1', 'true', 'yes', 'on'].includes(v)) {
    return true;
  }
  if (['0', 'false', 'no', 'off'].includes(v)) {
    return false;
  }
  throw new Error(`${name} must be 1 or 0, got "${value}"`);
}

/** DATABASE_URL as given, once it is a PostgreSQL URL: a host name guessed from a typo, or a MySQL URL, would fail later and obscurely. */
function postgresUrl(value: string | undefined): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || !['postgres:', 'postgresql:'].includes(url.protocol)) {
    // Never echo it: it may hold a password.
    throw new Error(`DATABASE_URL must be a PostgreSQL URL such as postgres://user:password@host:5432/database${url === undefined ? '' : `, not ${url.protocol.slice(0, -1)}:`}`);
  }
  return value;
}

export function configFromEnv(env: NodeJS.ProcessEnv, overrides: Partial<LocalConfig> = {}): LocalConfig {
  const config: LocalConfig = {
    dataDir: path.resolve(nonEmpty(env.XP_DATA_DIR) ?? '.xp'),
    databaseUrl: postgresUrl(nonEmpty(env.DATABASE_URL)),
    dynamodbEndpoint: nonEmpty(env.DYNAMODB_ENDPOINT),
    kinesisEndpoint: nonEmpty(env.KINESIS_ENDPOINT),
    redisUrl: nonEmpty(env.REDIS_URL),
    host: nonEmpty(env.XP_HOST) ?? '127.0.0.1',
    apiPort: port(env.XP_API_PORT, 8000, 'XP_API_PORT'),
    consolePort: port(env.XP_CONSOLE_PORT, 3000, 'XP_CONSOLE_PORT'),
    consoleDir: nonEmpty(env.XP_CONSOLE_DIR),
    adminEmail: nonEmpty(env.XP_ADMIN_EMAIL),
    adminPassword: nonEmpty(env.XP_ADMIN_PASSWORD),
    rulesetTable: nonEmpty(env.XP_RULESET_TABLE) ?? 'xp-rulesets',
    eventStream: nonEmpty(env.XP_EVENT_STREAM) ?? 'xp-events',
    demo: flag(env.XP_DEMO, true, 'XP_DEMO'),
    demoUsers: count(env.XP_DEMO_USERS, 3_000, 'XP_DEMO_USERS'),
    explorerRetentionDays: positive(env.XP_EXPLORER_RETENTION_DAYS, DEFAULT_EXPLORER_RETENTION_DAYS, 'XP_EXPLORER_RETENTION_DAYS'),
    collectRequestBody: flag(env.COLLECT_REQUEST_BODY, false, 'COLLECT_REQUEST_BODY'),
    requestLogFailuresOnly: requestLogMode(env.XP_REQUEST_LOG),
    archiveFlushMs: positive(env.XP_ARCHIVE_FLUSH_SECONDS, 10, 'XP_ARCHIVE_FLUSH_SECONDS') * 1000,
    guardrailIntervalMs: guardrailIntervalSeconds(env.XP_GUARDRAIL_INTERVAL_SECONDS) * 1000,
    platformKey: nonEmpty(env.XP_PLATFORM_KEY),
    trustedProxies: TrustedProxies.parse(env.XP_TRUSTED_PROXIES),
    headersTimeoutMs: positive(env.XP_HEADERS_TIMEOUT_SECONDS, DEFAULT_SERVER_LIMITS.headersTimeoutMs / 1000, 'XP_HEADERS_TIMEOUT_SECONDS') * 1000,
    requestTimeoutMs: positive(env.XP_REQUEST_TIMEOUT_SECONDS, DEFAULT_SERVER_LIMITS.requestTimeoutMs / 1000, 'XP_REQUEST_TIMEOUT_SECONDS') * 1000,
    maxConnections: atLeastOne(env.XP_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS, 'XP_MAX_CONNECTIONS'),
    maxConnectionsPerAddress: atLeastOne(env.XP_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, 'XP_MAX_CONNECTIONS_PER_ADDRESS'),
    maxBodyBytesInFlight: atLeastOne(env.XP_MAX_BODY_BYTES_IN_FLIGHT, DEFAULT_BODY_BYTES_IN_FLIGHT, 'XP_MAX_BODY_BYTES_IN_FLIGHT'),
    maxBodyBytesPerAddress: atLeastOne(env.XP_MAX_BODY_BYTES_PER_ADDRESS, DEFAULT_BODY_BYTES_PER_ADDRESS, 'XP_MAX_BODY_BYTES_PER_ADDRESS'),
    // The local default callback is the console's (XP_CONSOLE_PORT); a free port (0) is filled in at start.
    sso: loadSsoConfig(env, { redirectUrl: localSsoRedirect(port(env.XP_CONSOLE_PORT, 3000, 'XP_CONSOLE_PORT')) }),
    ...overrides,
  };
  if ((config.headersTimeoutMs ?? 0) > (config.requestTimeoutMs ?? Number.POSITIVE_INFINITY)) {
    throw new Error(`XP_HEADERS_TIMEOUT_SECONDS (${String((config.headersTimeoutMs ?? 0) / 1000)}) must not be longer than XP_REQUEST_TIMEOUT_SECONDS (${String((config.requestTimeoutMs ?? 0) / 1000)}): the request's time includes its headers'`);
  }
  if (config.apiPort === config.consolePort && config.apiPort !== 0) {
    throw new Error(`the API and the console need ports of their own, not both ${String(config.apiPort)} (XP_API_PORT / --port and XP_CONSOLE_PORT / --console-port)`);
  }
  return config;
}

export interface LocalStack {
  readonly apiUrl: string;
  readonly consoleUrl: string;
  readonly boot: BootstrapResult;
  readonly deps: Deps;
  /** Where rate limits are counted (and, with Redis, sticky assignments kept). */
  readonly sharedStore: SharedStoreKind;
  /** Where sticky assignments are kept: Redis, or without it the database. */
  readonly stickyStore: StickyStoreKind;
  /** The raw event archive (Firehose layout) under the data folder. */
  readonly archive: LocalEventArchive;
  /** The periodic guardrail check (absent when the interval is 0). */
  readonly guardrails?: GuardrailSchedule;
  /** The periodic bandit update (every minute; each bandit moves only when due: docs/bandits.md). */
  readonly bandits: BanditSchedule;
  /** The demo traffic simulator, when this start ran it (first start, demo on). */
  readonly demo?: DemoTraffic;
  /** Request body bytes being received, overall and per address (XP_MAX_BODY_BYTES_IN_FLIGHT, XP_MAX_BODY_BYTES_PER_ADDRESS). */
  readonly bodyBudget: BodyBudget;
  close(): Promise<void>;
}

/** What `xp start`'s servers hold and wait for: timeouts on receiving requests, caps on connections. */
export interface ServerLimits extends ConnectionLimits {
  /** A request's headers must arrive within it (Node's headersTimeout). */
  readonly headersTimeoutMs: number;
  /** A request, headers and body, must arrive within it (Node's requestTimeout); what the response takes is not limited. */
  readonly requestTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 15_000,
  requestTimeoutMs: 120_000,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  maxConnectionsPerAddress: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
};

/** The server limits of a configuration (the defaults for what it leaves out). */
export function serverLimits(config: Partial<LocalConfig>): ServerLimits {
  return {
    headersTimeoutMs: config.headersTimeoutMs ?? DEFAULT_SERVER_LIMITS.headersTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs ?? DEFAULT_SERVER_LIMITS.requestTimeoutMs,
    maxConnections: config.maxConnections ?? DEFAULT_SERVER_LIMITS.maxConnections,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress ?? DEFAULT_SERVER_LIMITS.maxConnectionsPerAddress,
  };
}

/** A server listening before the app it serves exists: it answers 503 until `serve` gives it one. */
export interface EarlyServer {
  readonly server: ServerType;
  readonly port: number;
  /** Hands the requests to `app` from now on; answers how many got the 503 while it did not exist (preflights not counted). */
  serve(app: Hono): number;
  /** Stops accepting, lets the requests in flight finish (streams excepted) for up to `drainMs`, then closes every connection. */
  close(drainMs?: number): Promise<void>;
}

/** How long a stop waits for requests in flight (an event batch's write takes up to 2 s) before closing their connections. */
const DRAIN_MS = 2_500;
/** Server-sent event streams never finish by themselves: a drain does not wait for them. */
const STREAM_PATH = /\/stream(?:\?|$)/;

const STARTING = JSON.stringify({ error: { code: AppErrorCode.Unavailable, message: 'xp is starting; retry in a moment' } });

/** OFREP's refusals take the protocol's shape (`{ errorDetails }` for a 503), as ofrep.ts answers them. */
const STARTING_OFREP = JSON.stringify({ errorDetails: 'xp is starting; retry in a moment' });

/**
 * The answer while the app does not exist yet. The SDK and OFREP endpoints' carries their CORS
 * headers, and their preflight is answered as they answer it: without them a browser SDK (or
 * OpenFeature OFREP provider) on another origin would see a CORS failure, not a 503 whose
 * Retry-After it can read and wait out.
 */
function starting(request: Request): Response {
  const pathname = new URL(request.url).pathname;
  const sdk = pathname.startsWith('/sdk/');
  const ofrep = pathname.startsWith('/ofrep/');
  if ((sdk || ofrep) && request.method === 'OPTIONS') {
    return new Response(null, { status: 204, headers: ofrep ? OFREP_PREFLIGHT_HEADERS : SDK_PREFLIGHT_HEADERS });
  }
  const cors = sdk || ofrep ? SDK_CORS_HEADERS : {};
  return new Response(ofrep ? STARTING_OFREP : STARTING, { status: 503, headers: { 'content-type': 'application/json', 'retry-after': '1', ...cors } });
}

/**
 * Listens on `host:portNumber` at once, answering 503 (Retry-After: 1) until `serve` is called. The
 * ports are taken before the database is opened, so that a port in use stops the start before
 * anything is created (on a first start: the owner and the SDK keys, whose only copy would
 * otherwise be lost with the failed start).
 */
export function listenEarly(host: string, portNumber: number, what: string, setting: string, limits: ServerLimits = DEFAULT_SERVER_LIMITS): Promise<EarlyServer> {
  let app: Hono | undefined;
  let refused = 0;
  const whileStarting = (request: Request): Response => {
    const answer = starting(request);
    if (answer.status === 503) {
      refused++;
    }
    return answer;
  };
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: (request: Request, env: unknown) => (app === undefined ? whileStarting(request) : app.fetch(request, env)),
        hostname: host,
        port: portNumber,
        serverOptions: {
          // Node checks the timeouts every connectionsCheckingInterval (30 s by default, which made a
          // 60 s headers timeout drop slow clients after up to 90 s): at most a second here.
          headersTimeout: limits.headersTimeoutMs,
          requestTimeout: limits.requestTimeoutMs,
          connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
        },
      },
      () => {
        resolve({
          server,
          port: (server.address() as AddressInfo).port,
          serve: (a) => {
            app = a;
            return refused;
          },
          close: (drainMs = DRAIN_MS) => drainAndClose(server, () => inFlight, drainMs),
        });
      },
    );
    capConnections(server as Server, limits);
    // Requests in flight (not streams), so a stop answers them before it closes what they use.
    let inFlight = 0;
    server.on('request', (req: { url?: string }, res: { once(event: 'close', listener: () => void): void }) => {
      if (STREAM_PATH.test(req.url ?? '')) {
        return;
      }
      inFlight++;
      res.once('close', () => {
        inFlight--;
      });
    });
    server.once('error', (e: NodeJS.ErrnoException) => {
      const why =
        e.code === 'EADDRINUSE'
          ? `port ${portNumber} is already in use; stop what uses it or choose another port (${setting})`
          : e.code === 'EACCES'
            ? `port ${portNumber} needs privileges this user does not have; choose another port (${setting})`
            : e.code === 'EADDRNOTAVAIL'
              ? `${host} is not an address of this machine (XP_HOST)`
              : e.message;
      reject(new AppError(AppErrorCode.Unavailable, `the ${what} cannot listen on ${host}:${portNumber}: ${why}. Nothing was started.`, undefined, { cause: e }));
    });
    answerClientErrors(server, limits);
  });
}

/**
 * Requests Node's HTTP parser refuses before the app sees them (headers over its 16 KB limit, a
 * malformed request line, a request not received in time) are answered in the API's error shape
 * instead of Node's bare status line.
 */
function answerClientErrors(server: ServerType, limits: ServerLimits): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const status = tooLarge ? '431 Request Header Fields Too Large' : timedOut ? '408 Request Timeout' : '400 Bad Request';
    const body = JSON.stringify({
      error: tooLarge
        ? { code: AppErrorCode.HeadersTooLarge, message: 'the request headers are larger than 16 KB' }
        : timedOut
          ? { code: AppErrorCode.Validation, message: `the request was not received in time (headers within ${String(limits.headersTimeoutMs / 1000)} s, the whole request within ${String(limits.requestTimeoutMs / 1000)} s)` }
          : { code: AppErrorCode.Validation, message: 'the request is not valid HTTP' },
    });
    socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
}

/**
 * Stops accepting connections, waits up to `drainMs` for the requests in flight to be answered
 * (idle keep-alive connections close at once), then closes every connection left (streams).
 */
function drainAndClose(server: ServerType, inFlight: () => number, drainMs: number): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    const closeIdle = (): void => {
      if ('closeIdleConnections' in server) {
        server.closeIdleConnections();
      }
    };
    closeIdle();
    const started = Date.now();
    const poll = setInterval(() => {
      // A keep-alive connection whose request was just answered is idle now: close it too.
      closeIdle();
      if (inFlight() === 0 || Date.now() - started >= drainMs) {
        clearInterval(poll);
        if ('closeAllConnections' in server) {
          server.closeAllConnections();
        }
      }
    }, 25);
  });
}

/** The platform key: XP_PLATFORM_KEY, else the data folder's (made on first start, mode 0600). */
async function loadPlatformKey(config: LocalConfig): Promise<PlatformKey> {
  if (config.platformKey !== undefined) {
    return PlatformKey.fromString(config.platformKey);
  }
  const file = path.join(config.dataDir, 'platform.key');
  try {
    return PlatformKey.fromString(await readFile(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read the platform key in ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const key = PlatformKey.generate();
  // 'wx': two first starts racing keep one key.
  await writeFile(file, `${key.toString()}\n`, { mode: 0o600, flag: 'wx' }).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw e;
    }
  });
  return PlatformKey.fromString(await readFile(file, 'utf8'));
}

function credentialLines(boot: BootstrapResult): string[] {
  return [
    `admin email: ${boot.adminEmail ?? ''}`,
    ...(boot.generatedPassword === undefined ? ['admin password: (from XP_ADMIN_PASSWORD)'] : [`admin password: ${boot.generatedPassword}`]),
    ...Object.entries(boot.sdkKeys ?? {}).flatMap(([env, keys]) => [`${env} server SDK key: ${keys.server}`, `${env} client SDK key: ${keys.client}`]),
  ];
}

/**
 * Writes the first start's credentials to `<data dir>/initial-credentials.txt` (mode 0600) and
 * returns the file. They exist nowhere else (the server keeps hashes): when the file cannot be
 * written, they are printed instead, and undefined is returned.
 */
async function writeCredentials(dataDir: string, boot: BootstrapResult, print: (line: string) => void): Promise<string | undefined> {
  const lines = ['# Written once, on first start. Keep it private (mode 0600); delete it when you have stored these elsewhere.', ...credentialLines(boot), ''];
  // Never over another platform's file (its SDK keys can be read nowhere else): beside it then.
  const taken = await stat(path.join(dataDir, 'initial-credentials.txt')).then(
    (s) => s.isFile(),
    () => false,
  );
  const file = path.join(dataDir, taken ? `initial-credentials-${new Date().toISOString().replace(/[:.]/g, '-')}.txt` : 'initial-credentials.txt');
  try {
    await writeFile(file, lines.join('\n'), { mode: 0o600, flag: 'wx' });
    await chmod(file, 0o600);
    return file;
  } catch (e) {
    print(`Could not write ${file} (${e instanceof Error ? e.message : String(e)}). The first start's credentials, shown this once (the server keeps only hashes):`);
    for (const line of credentialLines(boot)) {
      print(`  ${line}`);
    }
    return undefined;
  }
}

export interface LocalStackOptions {
  readonly logger?: Logger;
  readonly print?: (line: string) => void;
  /**
   * Whether the first start's generated password may be printed: only to a terminal (default: when
   * stdout is one), since redirected output ends up in log files; it is always in the credentials file.
   */
  readonly printSecrets?: boolean;
  /** Overrides of the demo simulator's pacing (tests run it without pauses). */
  readonly demo?: { readonly waveIntervalMs?: number; readonly progressEveryMs?: number };
}

/**
 * Warns once when the platform key in use cannot decrypt stored webhook URLs (a new data folder, so
 * a new platform.key, pointed at an existing DATABASE_URL): those webhooks fail until the old key
 * is back. Returns how many are affected.
 */
async function warnUnreadableWebhooks(deps: Deps, config: LocalConfig): Promise<number> {
  const key = deps.platformKey;
  if (key === undefined) {
    return 0;
  }
  const rows = await deps.db.query<{ id: string; url_ciphertext: string }>('SELECT id, url_ciphertext FROM webhooks');
  const unreadable = rows.rows.filter((r) => readUrl(key, { id: r.id, urlCiphertext: r.url_ciphertext }) === undefined).length;
  if (unreadable > 0) {
    const source = config.platformKey === undefined ? `the platform key in ${path.join(config.dataDir, 'platform.key')}` : 'the platform key in XP_PLATFORM_KEY';
    deps.logger.warn(
      `${unreadable} of ${rows.rows.length} webhooks cannot be sent: ${source} cannot decrypt their URLs (they were set under another key). Set XP_PLATFORM_KEY to the key they were made with, or put the old platform.key back in the data folder, and restart; or set their URLs again (their signing secrets change too)`,
      { webhooks: unreadable },
    );
  }
  return unreadable;
}

/**
 * Creates the data folder readable by its owner only (0700), and closes one that others can read
 * (as PostgreSQL does with its data directory): it holds the database files, with password hashes
 * and every event, and PGlite writes them with the process's umask (often world-readable).
 */
async function privateDataDir(dir: string, logger: Logger): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'not allowed here' : (e as Error).message;
    throw new AppError(AppErrorCode.Validation, `the data folder ${dir} cannot be created (${why}): choose another with XP_DATA_DIR or --data-dir`);
  });
  const mode = (await stat(dir)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    try {
      await chmod(dir, 0o700);
      logger.info(`data folder ${dir} was open to other users (mode ${mode.toString(8)}): now 700`, { dataDir: dir });
    } catch (e) {
      logger.warn(`data folder ${dir} is open to other users (mode ${mode.toString(8)}) and could not be closed: chmod 700 it`, { error: e instanceof Error ? e.message : String(e) });
    }
  }
}

/** Starts the whole platform in this process: storage, AWS stand-ins, API and console. */
/** The first owner's settings, checked before anything is created (a first start would refuse them after creating the database). */
function checkFirstOwner(config: LocalConfig): void {
  if (config.adminEmail !== undefined && !z.email().safeParse(config.adminEmail).success) {
    throw new AppError(AppErrorCode.Validation, `XP_ADMIN_EMAIL must be an email address, got "${config.adminEmail.slice(0, 100)}"`);
  }
  if (config.adminPassword !== undefined) {
    const problems = validatePasswordStrength(config.adminPassword, { email: config.adminEmail ?? 'admin@localhost', name: 'Owner' });
    if (problems.length > 0) {
      throw new AppError(AppErrorCode.Validation, `XP_ADMIN_PASSWORD is too weak: ${problems.map((p) => p.message).join('; ')}`);
    }
  }
}

export async function startLocalStack(config: LocalConfig, options: LocalStackOptions = {}): Promise<LocalStack> {
  const logger = options.logger ?? jsonLogger();
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  checkFirstOwner(config);
  await privateDataDir(config.dataDir, logger);
  // One process per data folder: a second start, or `xp replay`, on it is refused (PGlite allows one process).
  const lock = await lockDataDir(config.dataDir, 'xp start', { notice: (message) => { logger.warn(message); } });
  const closers: (() => Promise<void>)[] = [() => lock.release()];
  /** Closed first: no request arrives, and those in flight are answered, before what they use closes. */
  const servers: EarlyServer[] = [];
  let closing: Promise<void> | undefined;
  // Once: the servers first (they drain), then the rest in reverse order of start; a second call
  // waits for the first (it used to run every step again, in start order: the data-folder lock
  // released before the servers closed).
  const closeAll = (): Promise<void> =>
    (closing ??= (async () => {
      await Promise.all(servers.map((server) => server.close()));
      for (const close of [...closers].reverse()) {
        await close().catch((e: unknown) => {
          logger.warn('shutdown step failed', { error: e instanceof Error ? e.message : String(e) });
        });
      }
    })());
  try {
    // The ports first: one in use stops the start before anything is created.
    const limits = serverLimits(config);
    const api = await listenEarly(config.host, config.apiPort, 'API', 'XP_API_PORT or --port', limits);
    servers.push(api);
    const consoleServer = await listenEarly(config.host, config.consolePort, 'console', 'XP_CONSOLE_PORT or --console-port', limits);
    servers.push(consoleServer);
    const shownHost = config.host === '0.0.0.0' ? 'localhost' : config.host;
    const apiUrl = `http://${shownHost}:${api.port}`;
    const consoleUrl = `http://${shownHost}:${consoleServer.port}`;

    const recordDatabaseKind = await checkDatabaseKind(config.dataDir, config.databaseUrl, (m) => {
      logger.warn(m);
    });
    const opened: Database = config.databaseUrl === undefined ? await openEmbeddedDatabase(config.dataDir) : createPgDatabase(config.databaseUrl);
    closers.push(() => opened.close());
    // A write that works ends the `degraded` database state a full disk began (GET /api/v1/health).
    const db = noticeWrites(opened, () => {
      databaseWriteSucceeded(logger);
    });
    const migrating = performance.now();
    // A database a newer release migrated is refused before anything is applied: this code would
    // ignore what its migrations added (access checks among them) — a rollback that drops them.
    const applied = await migrate(db, MIGRATIONS_DIR, { onNewerSchema: 'refuse' }).catch((e: unknown) => {
      throw config.databaseUrl === undefined || !(e instanceof DatabaseError) ? e : new Error(`the PostgreSQL database of DATABASE_URL (${databaseTarget(config.databaseUrl)}) cannot be used: ${e.message}`);
    });
    if (applied.length > 0) {
      const ms = Math.round(performance.now() - migrating);
      logger.info(describeApplied(applied, ms), { migrations: applied.length, first: applied[0], last: applied[applied.length - 1], ms });
    }
    // Only a database that answered is recorded: a mistyped DATABASE_URL must not claim the folder.
    await recordDatabaseKind();

    let dynamoEndpoint = config.dynamodbEndpoint;
    let kinesisEndpoint = config.kinesisEndpoint;
    let dynalite: LocalService | undefined;
    let kinesalite: LocalService | undefined;
    if (dynamoEndpoint === undefined) {
      dynalite = await startDynalite({ path: path.join(config.dataDir, 'dynamodb') });
      closers.push(() => dynalite!.close());
      dynamoEndpoint = dynalite.endpoint;
    }
    if (kinesisEndpoint === undefined) {
      kinesalite = await startKinesalite({ path: path.join(config.dataDir, 'kinesis') });
      closers.push(() => kinesalite!.close());
      kinesisEndpoint = kinesalite.endpoint;
    }
    const dynamo = createDynamoClient(dynamoEndpoint);
    closers.push(() => {
      dynamo.destroy();
      return Promise.resolve();
    });
    const kinesis = createKinesisClient(kinesisEndpoint);
    const putter = createKinesisPutClient(kinesisEndpoint);
    closers.push(() => {
      kinesis.destroy();
      putter.destroy();
      return Promise.resolve();
    });
    const rulesets = createDynamoRulesetStore({ client: dynamo, tableName: config.rulesetTable });
    await rulesets.ensureTable();
    await ensureStream(kinesis, config.eventStream, 1);

    // Every accepted event also goes to the archive, as Firehose archives the Kinesis stream in AWS.
    const archive = new LocalEventArchive({ root: path.join(config.dataDir, 'archive', 'events'), flushIntervalMs: config.archiveFlushMs, logger });
    closers.push(() => archive.close());
    const deps: Deps = {
      db,
      rulesets,
      now: () => new Date(),
      newId: () => randomUUID(),
      logger,
      events: archivingEventSink(createKinesisEventSink({ client: putter, streamName: config.eventStream }), archive),
      notifier: createRulesetNotifier(logger),
      platformKey: await loadPlatformKey(config),
      webhookSender: httpSend,
      sso: config.sso?.redirectUrlDefaulted === true ? { ...config.sso, redirectUrl: localSsoRedirect(consoleServer.port) } : config.sso,
    };
    // Without Redis, sticky assignments are kept in the database, so they survive a restart.
    const stores = await openSharedStores({ redisUrl: config.redisUrl, db, logger });
    closers.push(() => stores.close());
    const services = createServices(deps, { limiter: stores.limiter });
    const boot = await bootstrap(deps, { adminEmail: config.adminEmail, adminPassword: config.adminPassword });
    // Written at once: the server keeps only hashes, so whatever fails later must not lose these.
    const credentialsFile = boot.created ? await writeCredentials(config.dataDir, boot, print) : undefined;
    const projectIds = await db.query<{ id: string }>('SELECT id FROM projects');
    for (const { id } of projectIds.rows) {
      await republish(deps, id);
    }
    await warnUnreadableWebhooks(deps, config);

    // The aggregator: the same code as the cloud's Lambda, fed by a checkpointed shard poller.
    // The explorer hook stores each committed event for the live event explorer.
    const poller = createPoller({ db, reader: kinesisShardReader(kinesis), streamName: config.eventStream, logger, process: measuredProcess(processCounterSink, withExplorer(undefined, logger)) });
    poller.start();
    closers.push(() => poller.stop());
    attachAggregatorState(services, () => poller.stats());
    attachArchiveState(services, () => archive.state());
    if (config.databaseUrl === undefined) {
      // The embedded database's disk is the data folder's: room on it again ends the disk-full state.
      attachDatabaseSpaceCheck(services, () => (freeDiskBytes(embeddedDatabaseDir(config.dataDir)) ?? 0) >= LOW_DISK_BYTES);
    }
    // PGlite runs no autovacuum: without statistics its planner picks plans that take minutes.
    const statistics = startPlannerStatistics(db, { applied: () => poller.stats().processed, logger });
    closers.push(() => statistics.stop());
    const webhookDispatcher = startWebhookDispatcher(deps, httpSend);
    closers.push(() => webhookDispatcher.stop());
    const purge = startUpkeep(db, { explorerRetentionDays: config.explorerRetentionDays, logger });
    closers.push(() => purge.stop());

    // The SDK routes' shutdown step (the last send of exposures waiting for retry) runs after the
    // servers stopped (they close first) and before the event sink's archive and kinesalite (closed later).
    const addCloser = (close: () => Promise<void>): void => {
      closers.push(close);
    };
    // One budget for both servers: the console forwards /api and /sdk to the same app.
    const bodyBudget = new BodyBudget({ totalBytes: config.maxBodyBytesInFlight ?? DEFAULT_BODY_BYTES_IN_FLIGHT, perAddressBytes: config.maxBodyBytesPerAddress ?? DEFAULT_BODY_BYTES_PER_ADDRESS, trustedProxies: config.trustedProxies });
    const apiApp = createApp(services, { sdk: { sticky: stores.sticky, addCloser }, sdkMetrics: processCounterSink, requestLog: { collectBody: config.collectRequestBody, quietClients: [DEMO_CLIENT], failuresOnly: config.requestLogFailuresOnly }, trustedProxies: config.trustedProxies, bodyBudget });
    const refusedWhileStarting = api.serve(apiApp);
    // The console serves the built renderer and forwards /api and /sdk to the same app in-process.
    const consoleRefused = consoleServer.serve(createConsoleApp({ api: apiApp, apiUrl, rendererDir: config.consoleDir }));
    if (refusedWhileStarting + consoleRefused > 0) {
      // One line, not one per request: SDKs retry each second while the platform starts.
      logger.info('answered requests 503 (Retry-After: 1) while starting', { api: refusedWhileStarting, console: consoleRefused });
    }

    print('');
    print(`xp is running (data in ${config.dataDir}${config.databaseUrl === undefined ? '' : ', PostgreSQL from DATABASE_URL'})`);
    print(`  API       ${apiUrl}        docs: ${apiUrl}/docs`);
    print(`  Console   ${consoleUrl}`);
    if (deps.sso !== undefined) {
      print(`  SSO       Sign in with ${deps.sso.name} (${deps.sso.issuer}; callback ${deps.sso.redirectUrl}${deps.sso.enforced ? '; passwords for owners only' : ''})`);
    }
    warnOfOpenSso(deps.sso, logger);
    if (boot.created) {
      print('');
      print('First start: created the owner account and a demo project with three environments.');
      print(`  email     ${boot.adminEmail ?? ''}`);
      const printSecrets = options.printSecrets ?? process.stdout.isTTY;
      print(
        boot.generatedPassword === undefined
          ? '  password  (XP_ADMIN_PASSWORD)'
          : credentialsFile === undefined
            ? '  password  printed above (the credentials file could not be written)'
            : printSecrets
              ? `  password  ${boot.generatedPassword}   (shown once; also in ${credentialsFile}, mode 0600)`
              : `  password  in ${credentialsFile} (mode 0600; not printed where the output is not a terminal)`,
      );
      if (credentialsFile !== undefined) {
        print(`  SDK keys  in ${credentialsFile}`);
      }
      print('');
      print(`Log in:  curl -s ${apiUrl}/api/v1/auth/login -H 'content-type: application/json' -d '{"email":"${boot.adminEmail ?? ''}","password":"…"}'`);
    }
    let guardrails: GuardrailSchedule | undefined;
    if (config.guardrailIntervalMs > 0) {
      const schedule = startGuardrailSchedule(new GuardrailChecker(deps), { intervalMs: config.guardrailIntervalMs, logger });
      guardrails = schedule;
      closers.push(() => schedule.stop());
    }
    // Multi-armed bandits: every minute, each moved when its cadence says (usually once a day); not
    // tied to XP_GUARDRAIL_INTERVAL_SECONDS, which turns the guardrail checks off without turning bandits off.
    const bandits = startBanditSchedule(new BanditUpdater(deps), { logger });
    closers.push(() => bandits.stop());
    // Scheduled flag changes: every 30 s, so one applies within half a minute of its time.
    const scheduled = startScheduledChanges(new ScheduledChangeService(deps), { intervalMs: SCHEDULED_CHANGES_INTERVAL_MS, logger });
    closers.push(() => scheduled.stop());
    let demo: DemoTraffic | undefined;
    const demoKey = boot.sdkKeys?.[DEMO_ENVIRONMENT]?.server;
    if (boot.created && config.demo && demoKey !== undefined && config.demoUsers > 0) {
      const traffic = startDemoTraffic({ apiUrl, sdkKey: demoKey, users: config.demoUsers, print, ...options.demo });
      demo = traffic;
      closers.push(() => traffic.stop());
    }
    print('Press Ctrl-C to stop.');
    return { apiUrl, consoleUrl, boot, deps, sharedStore: stores.kind, stickyStore: stores.stickyKind, archive, bodyBudget, bandits, ...(guardrails === undefined ? {} : { guardrails }), ...(demo === undefined ? {} : { demo }), close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
