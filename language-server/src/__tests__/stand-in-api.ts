import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import YAML from 'yaml';
import type { ProjectFlagEvaluations } from '@xp/shared';
import { flagSchema } from '@xp/shared';
import { FLAGS_YAML } from '../testing/index.js';

export interface StandInApi {
  readonly server: Server;
  /** Resolves once no change feed is open. */
  readonly feedsClosed: () => Promise<void>;
  /** The base URL once listening. */
  readonly url: () => string;
  /** Tokens accepted (initially xpp_good). */
  readonly tokens: Set<string>;
  /** Refuses `token` from now on and ends the change feeds it opened, as a revoked token's would end. */
  readonly revoke: (token: string) => void;
  /** The bodies POSTed to create flags. */
  readonly created: unknown[];
  /** The path of every request, in order. */
  readonly requests: string[];
  /** Extra flags listed from now on (added to the flags file's). */
  readonly extraFlags: { readonly key: string }[];
  /** Experiments listed from now on (the flags file has none). */
  readonly experiments: { readonly key: string }[];
  /** The project's evaluation counts (GET …/flag-evaluations); undefined: 404, as a server from before them answers. */
  evaluations: ProjectFlagEvaluations | undefined;
  /** When flags were created, by key (others: 2026-01-01). */
  readonly flagCreatedAt: Record<string, string>;
  /** How long a flag list waits before it answers (its body is the one of the moment it was asked). */
  flagsDelayMs: number;
  /** When set, the change feed answers this status (a 503: the feed retries) instead of streaming. */
  feedStatus: number | undefined;
  /** Answer each change-feed stream at once and close it, as the API behind API Gateway does (a poll). */
  feedPolls: boolean;
  readonly close: () => Promise<void>;
}

/**
 * A stand-in for the management API: project `shop` (environments production and staging) for the
 * token `xpp_good`, 401 for any other token, 404 for any other project; its change feed stays open.
 */
export function standInApi(): StandInApi {
  const stored = (definition: { key: string }) => ({
    key: definition.key,
    version: 1,
    archived: false,
    createdAt: api.flagCreatedAt[definition.key] ?? '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    createdBy: null,
    updatedBy: null,
    definition,
  });
  // As the API answers them: with the schema's defaults filled in.
  const fileFlags = (YAML.parse(FLAGS_YAML) as { flags: unknown[] }).flags.map((f) => flagSchema.parse(f));
  const feeds = new Map<ServerResponse, string>();
  let waiting: (() => void)[] = [];
  const settle = (): void => {
    if (feeds.size === 0) {
      waiting.forEach((resolve) => {
        resolve();
      });
      waiting = [];
    }
  };
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const api: StandInApi = {
    server: undefined as unknown as Server,
    feedsClosed: () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        settle();
      }),
    url: () => `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`,
    tokens: new Set(['xpp_good']),
    revoke: (token) => {
      api.tokens.delete(token);
      for (const [res, t] of feeds) {
        if (t === token) {
          res.end();
        }
      }
    },
    created: [],
    requests: [],
    extraFlags: [],
    experiments: [],
    evaluations: undefined,
    flagCreatedAt: {},
    flagsDelayMs: 0,
    feedStatus: undefined,
    feedPolls: false,
    close: async () => {
      api.server.closeAllConnections();
      await new Promise((resolve) => api.server.close(resolve));
    },
  };
  const bodies = (): Readonly<Record<string, unknown>> => ({
    '/api/v1/projects': { items: [{ key: 'shop', name: 'Shop' }] },
    '/api/v1/projects/shop/flags': { items: [...fileFlags, ...api.extraFlags].map(stored) },
    '/api/v1/projects/shop/experiments': { items: api.experiments.map(stored) },
    '/api/v1/projects/shop/segments': { items: [] },
    '/api/v1/projects/shop/holdouts': { items: [] },
    ...(api.evaluations === undefined ? {} : { '/api/v1/projects/shop/flag-evaluations': api.evaluations }),
    '/api/v1/projects/shop/environments': { items: ['production', 'staging'].map((key, position) => ({ key, name: key, version: 1, position })) },
  });
  (api as { server: Server }).server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://api.test');
    api.requests.push(url.pathname);
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const body = bodies()[url.pathname];
    if (!api.tokens.has(token)) {
      json(res, 401, { error: { code: 'UNAUTHORIZED', message: 'invalid or expired token' } });
    } else if (url.pathname === '/api/v1/projects/shop/changes/stream' && api.feedStatus !== undefined) {
      json(res, api.feedStatus, { error: { code: 'UNAVAILABLE', message: 'try again later' } });
    } else if (url.pathname === '/api/v1/projects/shop/changes/stream' && api.feedPolls) {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end(': polled\n\n');
    } else if (url.pathname === '/api/v1/projects/shop/changes/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(': following\n\n');
      feeds.set(res, token);
      req.on('close', () => {
        feeds.delete(res);
        settle();
      });
    } else if (req.method === 'POST' && url.pathname === '/api/v1/projects/shop/flags') {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () => {
        const definition = JSON.parse(text) as { key: string };
        api.created.push(definition);
        json(res, 201, stored(definition));
      });
    } else if (url.pathname === '/api/v1/projects/shop/flags' && api.flagsDelayMs > 0) {
      const delay = api.flagsDelayMs;
      setTimeout(() => {
        json(res, 200, body);
      }, delay);
    } else if (body !== undefined) {
      json(res, 200, body);
    } else {
      json(res, 404, { error: { code: 'NOT_FOUND', message: `no ${url.pathname}` } });
    }
  });
  return api;
}
