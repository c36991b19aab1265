import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** How each endpoint behaves; tests flip these while the client runs. */
export type RulesetMode = 'ok' | 'fail' | 'busy' | 'stale' | 'stall' | 'garbage' | 'invalid' | 'held';
export type StreamMode = 'ok' | 'fail' | 'stall';
export type EventsMode = 'ok' | 'fail' | 'busy' | 'reject';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly at: number;
}

/**
 * A stand-in for the xp API on 127.0.0.1:0 speaking the SDK contract (ruleset with ETag/304,
 * server-sent events, event batches), which can fail, stall, answer garbage and drop streams.
 */
export class FakeServer {
  readonly requests: SeenRequest[] = [];
  readonly events: Record<string, unknown>[] = [];
  readonly eventPosts: { at: number; count: number; status: number }[] = [];
  rulesetMode: RulesetMode = 'ok';
  streamMode: StreamMode = 'ok';
  eventsMode: EventsMode = 'ok';
  retryAfterSeconds = 1;
  /** As the API while it starts: every request answered 503 "xp is starting" with `Retry-After: 1`. */
  starting = false;
  /** The one SDK key the API accepts; any other is refused with 401 (an invalid or revoked key). */
  acceptedKey = 'xpk_srv_test-key';
  /** Events the API refuses one by one in a 202 (as the real one does for an invalid event): the code and reason, or undefined to accept. */
  rejectEvent: ((event: Record<string, unknown>) => { code: string; reason: string } | undefined) | undefined;
  /** Keys the API lists beside the ruleset for `?include=serverOnly`, as for a server key. */
  serverOnly: { flags: string[]; experiments: string[] } | undefined;
  /** What `stale` serves (with its own ETag, and 304 to it): a lagging instance or cache. */
  staleRuleset: Record<string, unknown> | undefined;
  private ruleset: Record<string, unknown>;
  private version: number;
  private readonly streams = new Set<http.ServerResponse>();
  private readonly stalled = new Set<http.ServerResponse>();
  /** `held`: answers read when the request came, sent by releaseHeld() (a slow fetch that a newer publish overtakes). */
  private readonly held: { res: http.ServerResponse; etag: string; body: string }[] = [];
  private readonly server: http.Server;
  url = '';

  constructor(initial: Record<string, unknown>) {
    this.ruleset = initial;
    this.version = initial.version as number;
    this.server = http.createServer((req, res) => {
      this.handle(req, res);
    });
  }

  get etag(): string {
    return `"v${this.version}"`;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  count(path: string): number {
    return this.requests.filter((r) => r.url.startsWith(path)).length;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Requests waiting in `held` mode. */
  heldCount(): number {
    return this.held.length;
  }

  /** Sends the `held` answers: the ruleset as it was when each request came. */
  releaseHeld(): void {
    for (const h of this.held.splice(0)) {
      h.res.writeHead(200, { 'Content-Type': 'application/json', ETag: h.etag }).end(h.body);
    }
  }

  /** Publishes a new ruleset and announces it on every open stream. */
  publish(ruleset: Record<string, unknown>): void {
    this.ruleset = ruleset;
    this.version = ruleset.version as number;
    for (const s of this.streams) {
      this.announce(s);
    }
  }

  /** Stops the API (a crash, a restart): open connections are cut and new ones refused until resume(). */
  async stop(): Promise<void> {
    for (const r of [...this.stalled, ...this.streams]) {
      r.destroy();
    }
    this.stalled.clear();
    this.streams.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  /** Starts the API again on the same port. */
  async resume(): Promise<void> {
    const port = Number(new URL(this.url).port);
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
  }

  /** Cuts every open event stream, as a load balancer or a deploy would. */
  dropStreams(): void {
    for (const s of this.streams) {
      s.destroy();
    }
    this.streams.clear();
  }

  async close(): Promise<void> {
    for (const r of [...this.stalled, ...this.streams]) {
      r.destroy();
    }
    this.server.closeAllConnections();
    if (!this.server.listening) {
      return;
    }
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private announce(res: http.ServerResponse): void {
    res.write(`event: ruleset\nid: ${this.version}\ndata: ${JSON.stringify({ version: this.version, etag: this.etag })}\n\n`);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    // CORS as the real API answers it, for pages served from another origin (the Chromium test).
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'ETag, Retry-After');
    if (req.method === 'OPTIONS') {
      res
        .writeHead(204, { 'Access-Control-Allow-Methods': 'GET, POST', 'Access-Control-Allow-Headers': 'X-XP-SDK-Key, Content-Type, If-None-Match, Last-Event-ID, Cache-Control', 'Access-Control-Max-Age': '600' })
        .end();
      return;
    }
    this.requests.push({ method: req.method ?? 'GET', url, headers: req.headers, at: Date.now() });
    if (this.starting) {
      res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '1' }).end('{"error":{"code":"UNAVAILABLE","message":"xp is starting; retry in a moment"}}');
      return;
    }
    if (req.headers['x-xp-sdk-key'] !== this.acceptedKey) {
      res.writeHead(401).end('{"error":{"code":"UNAUTHORIZED","message":"bad key"}}');
      return;
    }
    if (url === '/sdk/v1/ruleset' || url === '/sdk/v1/ruleset?include=serverOnly') {
      this.serveRuleset(req, res, url.endsWith('?include=serverOnly'));
    } else if (url === '/sdk/v1/stream') {
      this.serveStream(res);
    } else if (url === '/sdk/v1/events' && req.method === 'POST') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        this.serveEvents(body, res);
      });
    } else {
      res.writeHead(404).end();
    }
  }

  private serveRuleset(req: http.IncomingMessage, res: http.ServerResponse, listServerOnly: boolean): void {
    switch (this.rulesetMode) {
      case 'fail':
        res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"error":{"code":"INTERNAL","message":"down"}}');
        return;
      case 'busy':
        res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': String(this.retryAfterSeconds) }).end('{"error":{"code":"UNAVAILABLE","message":"busy"}}');
        return;
      case 'stale': {
        const old = this.staleRuleset ?? this.ruleset;
        const etag = `"v${old.version as number}"`;
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, { ETag: etag }).end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json', ETag: etag }).end(JSON.stringify(old));
        return;
      }
      case 'stall':
        this.stalled.add(res);
        return;
      case 'held':
        this.held.push({ res, etag: this.etag, body: JSON.stringify(this.ruleset) });
        return;
      case 'garbage':
        res.writeHead(200, { 'Content-Type': 'application/json', ETag: '"garbage"' }).end('<html>not json');
        return;
      case 'invalid':
        res.writeHead(200, { 'Content-Type': 'application/json', ETag: '"invalid"' }).end(JSON.stringify({ schemaVersion: 99, flags: [] }));
        return;
      case 'ok':
        if (req.headers['if-none-match'] === this.etag) {
          res.writeHead(304, { ETag: this.etag }).end();
          return;
        }
        res
          .writeHead(200, { 'Content-Type': 'application/json', ETag: this.etag })
          .end(JSON.stringify(listServerOnly && this.serverOnly !== undefined ? { ...this.ruleset, serverOnly: this.serverOnly } : this.ruleset));
    }
  }

  private serveStream(res: http.ServerResponse): void {
    if (this.streamMode === 'fail') {
      res.writeHead(503, { 'Retry-After': '0' }).end();
      return;
    }
    if (this.streamMode === 'stall') {
      this.stalled.add(res);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write('retry: 3000\n\n: connected\n\n');
    this.streams.add(res);
    res.on('close', () => {
      this.streams.delete(res);
    });
    this.announce(res);
  }

  private serveEvents(body: string, res: http.ServerResponse): void {
    const events = (JSON.parse(body) as { events: Record<string, unknown>[] }).events;
    const status = { ok: 202, fail: 500, busy: 503, reject: 400 }[this.eventsMode];
    this.eventPosts.push({ at: Date.now(), count: events.length, status });
    if (this.eventsMode === 'busy') {
      res.writeHead(503, { 'Retry-After': String(this.retryAfterSeconds) }).end('{"error":{"code":"UNAVAILABLE","message":"busy"}}');
      return;
    }
    if (this.eventsMode !== 'ok') {
      res.writeHead(status).end('{"error":{"code":"X","message":"no"}}');
      return;
    }
    const rejected: { index: number; code: string; reason: string }[] = [];
    events.forEach((e, index) => {
      const refused = this.rejectEvent?.(e);
      if (refused === undefined) {
        this.events.push(e);
      } else {
        rejected.push({ index, ...refused });
      }
    });
    res.writeHead(202, { 'Content-Type': 'application/json' }).end(JSON.stringify({ accepted: events.length - rejected.length, rejected }));
  }
}
