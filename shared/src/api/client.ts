import type { Environment } from '../model/environment.js';
import type { Experiment } from '../model/experiment.js';
import type { Flag, FlagEnvironment } from '../model/flag.js';
import type { Holdout } from '../model/experiment.js';
import type { Metric } from '../model/metric.js';
import type { Ruleset } from '../model/ruleset.js';
import type { Segment } from '../model/segment.js';
import type { Role } from '../model/role.js';

/**
 * A typed client for the management API, shared by the CLI, the console, the language server and
 * the VS Code extension. Isomorphic: it needs only `fetch`.
 */

export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details?: unknown };
}

/** A non-2xx answer from the API, with its code and details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

export interface Stored<T> {
  readonly key: string;
  readonly version: number;
  readonly archived: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly createdBy: string | null;
  readonly updatedBy: string | null;
  readonly definition: T;
}

export interface User {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly role: Role;
  readonly disabled: boolean;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface Project {
  readonly id: string;
  readonly key: string;
  readonly name: string;
  readonly description: string | null;
  readonly version: number;
}

export interface StoredEnvironment extends Environment {
  readonly version: number;
  readonly position: number;
}

export interface ChangeRequest {
  readonly id: string;
  readonly resourceType: string;
  readonly resourceKey: string;
  readonly environment: string;
  readonly status: 'open' | 'applied' | 'rejected' | 'cancelled';
  readonly baseVersion: number;
  readonly proposed: unknown;
  readonly diff: unknown;
  readonly comment: string | null;
  readonly proposedBy: string;
  readonly approvedBy: string | null;
  readonly createdAt: string;
}

export interface AuditEntry {
  readonly id: number;
  readonly actorEmail: string | null;
  readonly client: string;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceKey: string;
  readonly environment: string | null;
  readonly diff: unknown;
  readonly createdAt: string;
}

/** Definition kinds and their documents, by URL segment. */
export interface DefinitionKinds {
  flags: Flag;
  segments: Segment;
  experiments: Experiment;
  metrics: Metric;
  holdouts: Holdout;
}
export type DefinitionPath = keyof DefinitionKinds;

export interface ClientOptions {
  /** Base URL, e.g. http://localhost:8000. */
  readonly apiUrl: string;
  /** Session or personal access token; sent as a bearer header, never in the URL. */
  readonly token?: string | undefined;
  /** Recorded in the audit log: console, vscode, cli… */
  readonly client?: string;
  readonly fetch?: typeof fetch;
}

type Query = Record<string, string | number | boolean | undefined>;

export class XpApiClient {
  private readonly base: string;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.base = options.apiUrl.replace(/\/+$/, '');
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** A client with a different token (after login). */
  withToken(token: string): XpApiClient {
    return new XpApiClient({ ...this.options, token });
  }

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- each caller names the response type it expects
  private async call<T>(method: string, path: string, options: { body?: unknown; query?: Query; version?: number } = {}): Promise<{ body: T; etag: string | null }> {
    const url = new URL(`${this.base}${path}`);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) {
        url.searchParams.set(k, String(v));
      }
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token !== undefined) {
      headers.authorization = `Bearer ${this.options.token}`;
    }
    if (this.options.client !== undefined) {
      headers['x-xp-client'] = this.options.client;
    }
    if (options.version !== undefined) {
      headers['if-match'] = `"${options.version}"`;
    }
    let payload: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(options.body);
    }
    const res = await this.fetchFn(url, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const err = (parsed as Partial<ApiErrorBody> | undefined)?.error;
      throw new ApiError(res.status, err?.code ?? 'HTTP_ERROR', err?.message ?? `HTTP ${res.status}`, err?.details);
    }
    return { body: parsed as T, etag: res.headers.get('etag') };
  }

  async login(email: string, password: string): Promise<{ token: string; expiresAt: string; user: User }> {
    return (await this.call<{ token: string; expiresAt: string; user: User }>('POST', '/api/v1/auth/login', { body: { email, password } })).body;
  }

  async me(): Promise<User> {
    return (await this.call<User>('GET', '/api/v1/me')).body;
  }

  async projects(): Promise<Project[]> {
    return (await this.call<{ items: Project[] }>('GET', '/api/v1/projects')).body.items;
  }

  async environments(project: string): Promise<StoredEnvironment[]> {
    return (await this.call<{ items: StoredEnvironment[] }>('GET', `/api/v1/projects/${encodeURIComponent(project)}/environments`)).body.items;
  }

  async list<K extends DefinitionPath>(project: string, kind: K, query: { q?: string; cursor?: string; limit?: number; archived?: boolean } = {}): Promise<Page<Stored<DefinitionKinds[K]>>> {
    const q: Query = { q: query.q, cursor: query.cursor, limit: query.limit, archived: query.archived === true ? 'true' : undefined };
    return (await this.call<Page<Stored<DefinitionKinds[K]>>>('GET', `/api/v1/projects/${encodeURIComponent(project)}/${kind}`, { query: q })).body;
  }

  /** Every item of a kind, following cursors. */
  async listAll<K extends DefinitionPath>(project: string, kind: K, options: { archived?: boolean } = {}): Promise<Stored<DefinitionKinds[K]>[]> {
    const items: Stored<DefinitionKinds[K]>[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.list(project, kind, { limit: 200, ...(cursor === undefined ? {} : { cursor }), ...options });
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return items;
  }

  async get<K extends DefinitionPath>(project: string, kind: K, key: string): Promise<Stored<DefinitionKinds[K]>> {
    return (await this.call<Stored<DefinitionKinds[K]>>('GET', `/api/v1/projects/${encodeURIComponent(project)}/${kind}/${encodeURIComponent(key)}`)).body;
  }

  async create<K extends DefinitionPath>(project: string, kind: K, definition: unknown): Promise<Stored<DefinitionKinds[K]>> {
    return (await this.call<Stored<DefinitionKinds[K]>>('POST', `/api/v1/projects/${encodeURIComponent(project)}/${kind}`, { body: definition })).body;
  }

  async replace<K extends DefinitionPath>(project: string, kind: K, key: string, definition: unknown, version: number): Promise<Stored<DefinitionKinds[K]>> {
    return (await this.call<Stored<DefinitionKinds[K]>>('PUT', `/api/v1/projects/${encodeURIComponent(project)}/${kind}/${encodeURIComponent(key)}`, { body: definition, version })).body;
  }

  async remove(project: string, kind: DefinitionPath, key: string, version: number): Promise<void> {
    await this.call('DELETE', `/api/v1/projects/${encodeURIComponent(project)}/${kind}/${encodeURIComponent(key)}`, { version });
  }

  async setFlagEnvironment(project: string, key: string, environment: string, state: FlagEnvironment, version: number): Promise<Stored<Flag>> {
    return (
      await this.call<Stored<Flag>>('PUT', `/api/v1/projects/${encodeURIComponent(project)}/flags/${encodeURIComponent(key)}/environments/${encodeURIComponent(environment)}`, {
        body: state,
        version,
      })
    ).body;
  }

  async toggleFlag(project: string, key: string, environment: string, enabled: boolean, version: number): Promise<Stored<Flag>> {
    return (
      await this.call<Stored<Flag>>('POST', `/api/v1/projects/${encodeURIComponent(project)}/flags/${encodeURIComponent(key)}/environments/${encodeURIComponent(environment)}/toggle`, {
        body: { enabled },
        version,
      })
    ).body;
  }

  async proposeChange(project: string, request: { resourceKey: string; environment: string; state: FlagEnvironment; baseVersion: number; comment?: string }): Promise<ChangeRequest> {
    return (await this.call<ChangeRequest>('POST', `/api/v1/projects/${encodeURIComponent(project)}/change-requests`, { body: { resourceType: 'flag', ...request } })).body;
  }

  async reviewChange(project: string, id: string, action: 'approve' | 'reject' | 'apply' | 'cancel'): Promise<ChangeRequest> {
    return (await this.call<ChangeRequest>('POST', `/api/v1/projects/${encodeURIComponent(project)}/change-requests/${encodeURIComponent(id)}/${action}`)).body;
  }

  async audit(query: { project?: string; resourceType?: string; resourceKey?: string; actor?: string; environment?: string; cursor?: string; limit?: number } = {}): Promise<Page<AuditEntry>> {
    return (await this.call<Page<AuditEntry>>('GET', '/api/v1/audit', { query })).body;
  }

  async publishedRuleset(project: string, environment: string): Promise<{ expectedVersion: number; published: { version: number; etag: string; publishedAt: string; ruleset: Ruleset } | null }> {
    return (await this.call<{ expectedVersion: number; published: { version: number; etag: string; publishedAt: string; ruleset: Ruleset } | null }>(
      'GET',
      `/api/v1/projects/${encodeURIComponent(project)}/environments/${encodeURIComponent(environment)}/ruleset`,
    )).body;
  }
}
