import type { Environment, EnvironmentInput } from '../model/environment.js';
import type { Bandit, Experiment } from '../model/experiment.js';
import type { Flag, FlagEnvironment } from '../model/flag.js';
import type { StaleFlag } from '../model/flag-lifecycle.js';
import type { Holdout } from '../model/experiment.js';
import type { Metric } from '../model/metric.js';
import type { Ruleset } from '../model/ruleset.js';
import type { Segment } from '../model/segment.js';
import type { Role } from '../model/role.js';
import { followChanges } from './change-feed.js';
import type { ChangeFeed, ChangeFeedOptions } from './change-feed.js';

/**
 * A typed client for the management API, shared by the CLI, the console, the language server and
 * the VS Code extension. Isomorphic: it needs only `fetch`.
 */


/** The audit log's filters (GET /api/v1/audit and its export). */
export type AuditQuery = {
  readonly project?: string;
  readonly resourceType?: string;
  readonly resourceKey?: string;
  readonly action?: string;
  readonly actor?: string;
  /** Only entries made with this credential: a personal access token's id (or a session's, from an entry's `credential.id`). */
  readonly credential?: string;
  readonly environment?: string;
  /** Only entries that turned a flag on or off (whatever their action); with `environment`, there. */
  readonly turned?: 'on' | 'off';
  /** ISO 8601 instants with a time zone: entries at or after `from`, before `to`. */
  readonly from?: string;
  readonly to?: string;
};

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
  /** The last writer's name (e-mail when they have none); null when unknown; absent from servers before 2026-12. */
  readonly updatedByName?: string | null;
  /** Flags only: when what the flag serves last changed (not a metadata edit); absent from older servers (use updatedAt). */
  readonly servingChangedAt?: string;
  /** Flags listed with `includeStale` only: its stale classification, null when it is not stale. */
  readonly stale?: StaleFlag | null;
  readonly definition: T;
}

/** A definition list's filters and order; those marked "flags" apply to flags only (the API refuses them for other kinds). */
export interface ListQuery {
  readonly q?: string;
  readonly archived?: boolean;
  /** Only definitions having every one of these tags (flags, experiments, metrics). */
  readonly tag?: readonly string[];
  /** Flags: only temporary (true) or permanent (false) ones. */
  readonly temporary?: boolean;
  /** Flags: only stale ones (true) or the others (false), by @xp/shared's staleFlag on the server. */
  readonly stale?: boolean;
  /** Flags: the days of `stale` and `includeStale` (default DEFAULT_STALE_DAYS). */
  readonly staleDays?: number;
  /** Flags: each carries `stale`. */
  readonly includeStale?: boolean;
  /** Flags: the order, ascending (default `key`); a cursor is valid for its own sort only. */
  readonly sort?: 'key' | 'updatedAt' | 'servingChangedAt';
}

export interface User {
  readonly id: string;
  /**
   * A person, or a service account (`GET /api/v1/users?kind=service`, `/api/v1/me` with its token):
   * then `email` is a handle nobody signs in with. Absent from servers before 2027-01 (a person).
   */
  readonly kind?: 'person' | 'service';
  readonly email: string;
  readonly name: string;
  readonly role: Role;
  readonly disabled: boolean;
  /**
   * The password was set by an administrator (an invitation's or a reset's) and the user has not
   * chosen their own yet (they must, at their next login); absent from servers before 2026-12.
   */
  readonly passwordChangeRequired?: boolean;
  /**
   * The user's roles in single projects, in place of `role` there (higher or lower; never for an
   * owner, never owner); by project key. Absent from servers before 2027-01.
   */
  readonly projectRoles?: readonly ProjectRole[];
  /**
   * Linked to the identity provider by a single sign-on: they sign in with SSO (and, unless they were
   * created by it, also with their password). Absent from servers before 2026-12.
   */
  readonly sso?: boolean;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A user's role in one project (`PUT /api/v1/users/{id}/projects/{project}/role`). */
export interface ProjectRole {
  /** The project's key. */
  readonly project: string;
  readonly role: Role;
}

/**
 * The role a user acts with in a project: their project role there when one is set, else their
 * organisation role (owners are owners everywhere). A personal access token's role limit still applies on top.
 */
export function roleInProject(user: Pick<User, 'role' | 'projectRoles'>, project: string | undefined): Role {
  if (user.role === 'owner' || project === undefined) {
    return user.role;
  }
  return user.projectRoles?.find((r) => r.project === project)?.role ?? user.role;
}

/** GET /api/v1/me: the user, and what the credential of the request may do. */
export interface Me extends User {
  /**
   * Whether you can sign in with a password: false for a person created at their first SSO sign-in
   * (changing the password then answers 409) and for a service account. Absent from servers before
   * 2026-12: treat as true.
   */
  readonly hasPassword?: boolean;
  /** Absent from servers before 2026-11. */
  readonly access?: {
    /** The role requests with this credential act with: the user's, or a personal access token's lower one. */
    readonly role: Role;
    /** Keys of the projects a token is limited to; null: every project. */
    readonly projects: readonly string[] | null;
  };
}

/**
 * The role requests made with the credential behind `me` act with in a project: its project role
 * there (which /me lists capped by a token's limit), else the organisation role within that limit.
 */
export function credentialRoleIn(me: Me, project: string | undefined): Role {
  return roleInProject({ role: me.access?.role ?? me.role, projectRoles: me.projectRoles ?? [] }, project);
}

/** The login's error code for a password an administrator set: log in again with `newPassword`. */
export const PASSWORD_CHANGE_REQUIRED = 'PASSWORD_CHANGE_REQUIRED';
/** The login's error code when the organisation signs in with SSO and the user is not an owner (after a right password). */
export const SSO_REQUIRED = 'SSO_REQUIRED';

/** Whether the installation offers single sign-on (`GET /api/v1/auth/sso`), and who may still use a password. */
export interface SsoInfo {
  readonly enabled: boolean;
  /** The identity provider's label for the button ("Sign in with Okta"); null when SSO is off. */
  readonly name: string | null;
  /** `owners`: SSO is enforced and only owners may sign in with a password (break-glass). */
  readonly passwordSignIn: 'all' | 'owners';
}

/**
 * Why an SSO sign-in came back without a session: the `#sso-error=` reason of the callback's
 * redirect. `denied`: the identity provider refused or the user cancelled; `expired`: the sign-in
 * took too long, was already used or started in another browser; `email-unverified`,
 * `domain-not-allowed`, `account-disabled`: the account may not sign in; `idp-unavailable`: the
 * identity provider could not be reached; `invalid-response`: its answer failed the checks;
 * `busy`: too many sign-ins were started (from one address, or pending at once); try again later.
 */
export const SSO_ERROR_REASONS = ['denied', 'expired', 'email-unverified', 'domain-not-allowed', 'account-disabled', 'idp-unavailable', 'invalid-response', 'busy'] as const;
export type SsoErrorReason = (typeof SSO_ERROR_REASONS)[number];

export interface Project {
  readonly id: string;
  readonly key: string;
  readonly name: string;
  readonly description: string | null;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** POST /api/v1/projects: without `environments`, the API creates development, staging and a protected production. */
export interface ProjectCreate {
  readonly key: string;
  readonly name: string;
  readonly description?: string;
  readonly environments?: readonly EnvironmentInput[];
}

/** PATCH /api/v1/projects/{project}: the fields to change. */
export interface ProjectPatch {
  readonly name?: string;
  readonly description?: string;
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
  readonly status: 'open' | 'applied' | 'rejected' | 'cancelled' | 'failed';
  readonly baseVersion: number;
  readonly proposed: unknown;
  readonly diff: unknown;
  readonly comment: string | null;
  readonly proposedBy: string;
  readonly approvedBy: string | null;
  /** Why an open request's approval no longer counts (its reviewer lost the right); null when it counts. */
  readonly approvalVoid?: string | null;
  readonly createdAt: string;
  /** When the scheduler applies it once approved; null (or absent from older servers): applied on demand. */
  readonly applyAt?: string | null;
  /** Why it could not be applied at its time (status failed). */
  readonly failure?: string | null;
}

/** A change of a flag's state in one environment, applied by the platform at `at` (POST …/flags/{key}/scheduled-changes). */
export interface ScheduledChange {
  readonly id: string;
  readonly flag: string;
  readonly environment: string;
  /** When it applies (UTC); within about a minute after. */
  readonly at: string;
  /** The fields of the environment's state it sets; the others keep their value then. */
  readonly state: Partial<FlagEnvironment>;
  readonly comment: string | null;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly status: 'scheduled' | 'applied' | 'failed' | 'cancelled';
  readonly finishedAt: string | null;
  readonly cancelledBy: string | null;
  /** Why it was not applied (status failed). */
  readonly failure: string | null;
  readonly appliedVersion: number | null;
}

export interface AuditEntry {
  readonly id: number;
  readonly actorEmail: string | null;
  readonly client: string;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceKey: string;
  /**
   * What the target is called when its key is an internal id (a user's e-mail, a webhook's name, an
   * SDK key's or token's name and prefix); absent when unknown and for other resource types.
   */
  readonly resourceLabel?: string;
  readonly environment: string | null;
  readonly diff: unknown;
  readonly createdAt: string;
  /**
   * The credential the change was made with: a session (its id), a personal access token (its id and
   * display prefix `xpp_ab12cd34`) or the platform's own actor (`system`, id its name). Null for older
   * entries, failed logins and operator CLI commands; optional for servers that predate it.
   */
  readonly credential?: AuditCredential | null;
  /** The client address (behind trusted proxies, from X-Forwarded-For); null when unknown. */
  readonly ip?: string | null;
}

/** How an audit entry's change was authenticated. Never a secret. */
export interface AuditCredential {
  readonly kind: 'session' | 'token' | 'system';
  readonly id: string;
  /** A token's display prefix; null otherwise. */
  readonly prefix: string | null;
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

/** One change of an atomic apply (`POST /api/v1/projects/{project}/apply`). */
export interface ApplyChange {
  readonly kind: DefinitionPath;
  readonly action: 'create' | 'update' | 'delete';
  readonly key: string;
  /** The version the change is based on: required to update or delete. */
  readonly version?: number;
  /** The whole definition: required to create or update, not sent to delete. */
  readonly definition?: unknown;
  /** A flag delete only: delete it even though code still references it. */
  readonly force?: boolean;
}

/** What an apply made, or for a dry run would make: each change with the definition's new version (none after a delete). */
export interface AppliedChange {
  readonly kind: DefinitionPath;
  readonly key: string;
  readonly action: ApplyChange['action'];
  readonly version?: number;
}

export interface ApplyResult {
  readonly dryRun: boolean;
  readonly changes: AppliedChange[];
}

export interface ClientOptions {
  /** Base URL, e.g. http://localhost:8000. */
  readonly apiUrl: string;
  /** Session or personal access token; sent as a bearer header, never in the URL. */
  readonly token?: string | undefined;
  /** Recorded in the audit log: console, vscode, cli… */
  readonly client?: string;
  readonly fetch?: typeof fetch;
}

/** One flag reference found in code, as uploaded by `xp code-refs`. */
export interface CodeRef {
  readonly flagKey: string;
  readonly path: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  readonly snippet: string;
  readonly language: string;
}

export interface CodeRefsUpload {
  readonly repository: string;
  readonly branch: string;
  readonly commit?: string;
  /**
   * A folder of the repository, relative to its root (such as "packages/api"): the upload replaces
   * only the stored references under it, and every path must be under it. Without it the upload
   * replaces all of the repository branch's references.
   */
  readonly scope?: string;
  readonly references: readonly CodeRef[];
}

export interface CodeRefsUploadResult {
  readonly repository: string;
  readonly branch: string;
  /** References stored for this repository and branch. */
  readonly stored: number;
  /** References this upload replaced (with a scope: those under it). */
  readonly replaced: number;
  readonly flags: number;
}

export interface StoredCodeRef extends CodeRef {
  readonly repository: string;
  readonly branch: string;
  readonly commit: string | null;
  readonly updatedAt: string;
}

/** Which stored references a read selects; repositories compare without case. */
export interface CodeRefsFilter {
  readonly flag?: string;
  readonly repository?: string;
  readonly branch?: string;
}

/** A page of `GET …/code-refs`: `total` counts every matching reference, `nextCursor` is absent on the last page. */
export interface CodeRefsPage {
  readonly references: StoredCodeRef[];
  readonly total: number;
  readonly nextCursor?: string;
}

/** One uploaded repository branch. */
export interface CodeRefsBranch {
  readonly repository: string;
  readonly branch: string;
  /** The commit of the latest upload. */
  readonly commit: string | null;
  readonly uploadedAt: string;
  readonly references: number;
  readonly flags: number;
}

/** How many references a flag key has, in all and per repository branch. */
export interface FlagCodeRefs {
  readonly flagKey: string;
  readonly references: number;
  readonly branches: { readonly repository: string; readonly branch: string; readonly references: number }[];
}

/** The query of `flagEvaluations`: a window (ISO 8601 instants; default the last 7 days) and the bucket width. */
export interface FlagEvaluationsQuery {
  readonly environment?: string;
  readonly from?: string;
  readonly to?: string;
  /** Default hour when the window is at most 3 days, else day (UTC). */
  readonly interval?: 'hour' | 'day';
  /** Only the counts of this application (the SDKs' `appName`); series, totals and lastEvaluated follow it. */
  readonly app?: string;
}

/** An application's share of evaluation counts: `app` null is the SDKs (and remote evaluations) that named none. */
export interface EvaluationAppCount {
  readonly app: string | null;
  readonly count: number;
  readonly lastEvaluatedAt: string;
}

/** One key's evaluation counts (GET /api/v1/projects/{project}/flags/{key}/evaluations). */
export interface FlagEvaluations {
  readonly flag: string;
  /** The first bucket's start: the requested `from` rounded down. */
  readonly from: string;
  readonly to: string;
  readonly interval: 'hour' | 'day';
  /** Buckets with counts, oldest first; a bucket in which nothing was evaluated is absent. `variation` null: the caller's default was served. */
  readonly series: readonly { readonly at: string; readonly environment: string; readonly variation: string | null; readonly count: number }[];
  readonly totals: readonly { readonly environment: string; readonly variation: string | null; readonly count: number }[];
  /** The latest evaluation counted per environment, over the 90 days kept. */
  readonly lastEvaluated: readonly { readonly environment: string; readonly at: string }[];
  /** Counts in the window per application, most evaluated first (with `app`: that one alone). */
  readonly apps: readonly EvaluationAppCount[];
  /**
   * Evaluations in the window, in the environments answered, that were not kept because an hour of an
   * environment passed the cap on distinct applications (or, for a key no flag has, on distinct keys):
   * the counts above may then fall short. 0 normally; absent from servers before it.
   */
  readonly dropped?: number;
  /** Project-wide, per environment: the start of the earliest hour for which any key has counts kept (at most 90 days back); an environment with no counts is absent. */
  readonly countingSince: readonly EvaluationCountingSince[];
}

/** Since when evaluation counts have been arriving in an environment (the start of the earliest hour kept). */
export interface EvaluationCountingSince {
  readonly environment: string;
  readonly since: string;
}

/** The query of `projectFlagEvaluations`: `days` 1..90, default 30; `limit` 1..5000, default 1000: how many keys no flag has are listed. */
export interface ProjectFlagEvaluationsQuery {
  readonly environment?: string;
  readonly days?: number;
  readonly limit?: number;
  /** Only the counts of this application (the SDKs' `appName`). */
  readonly app?: string;
}

/** Every key evaluated since `since` (GET /api/v1/projects/{project}/flag-evaluations), most evaluated first. */
export interface ProjectFlagEvaluations {
  readonly since: string;
  readonly flags: readonly {
    readonly flag: string;
    /** Whether the key is a flag of the project (false: deleted or never defined, yet evaluated). */
    readonly defined: boolean;
    readonly total: number;
    readonly lastEvaluatedAt: string;
    readonly environments: readonly { readonly environment: string; readonly count: number; readonly lastEvaluatedAt: string }[];
    /** The applications that evaluated the key in the window, most evaluated first. */
    readonly apps: readonly EvaluationAppCount[];
  }[];
  /** Every application whose SDKs counted evaluations in the window (over all keys), most evaluated first. */
  readonly apps: readonly EvaluationAppCount[];
  /**
   * Evaluations in the window that were not kept because an hour of an environment passed the caps
   * on distinct keys or applications (a client sending generated keys): 0 normally.
   */
  readonly dropped: number;
  /** How many more keys no flag has were evaluated in the window than `limit` lets list (defined flags are always all listed). */
  readonly undefinedOmitted: number;
  /** Project-wide, per environment: the start of the earliest hour for which any key has counts kept (at most 90 days back); an environment with no counts is absent. */
  readonly countingSince: readonly EvaluationCountingSince[];
}

/** The subset of the results API's answer that editors show. */
export interface ExperimentResultsSummary {
  readonly experiment: { readonly key: string; readonly name: string; readonly status: string; readonly startedAt: string | null };
  readonly environment: string;
  readonly computedAt: string;
  /** `unknownVariation`: units exposed to a variation the experiment does not define (not analysed; SRM flagged). */
  readonly units: { readonly analysed: number; readonly excluded: number; readonly unknownVariation?: number };
  readonly metrics: readonly {
    readonly key: string;
    readonly name: string;
    readonly role: string;
    readonly variations: readonly {
      readonly variation: string;
      readonly units: number;
      readonly comparison: {
        readonly effect: number;
        readonly difference: string;
        readonly ci: readonly [number | null, number | null];
        /** The interval corrected as `adjustedPValue`, which agrees with `significant` (absent from older servers). */
        readonly adjustedCi?: readonly [number | null, number | null];
        readonly pValue: number;
        /** The p-value adjusted for multiple comparisons, which `significant` is decided on (absent from older servers). */
        readonly adjustedPValue?: number;
        readonly significant: boolean;
        readonly chanceToWin: number;
        readonly error: { readonly code: string; readonly message: string } | null;
      } | null;
    }[];
  }[];
}

type Query = Record<string, string | number | boolean | undefined>;

export class XpApiClient {
  private readonly base: string;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.base = options.apiUrl.replace(/\/+$/, '');
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Follows the project's change feed with this client's URL, token and fetch; `close()` stops it. */
  followChanges(project: string, handlers: Pick<ChangeFeedOptions, 'onChange' | 'onState' | 'minDelayMs' | 'maxDelayMs' | 'streamSeconds'>): ChangeFeed {
    return followChanges({ ...handlers, apiUrl: this.base, token: this.options.token, client: this.options.client, project, fetch: this.fetchFn });
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

  /**
   * Logs in. A password an administrator set answers ApiError 403 `PASSWORD_CHANGE_REQUIRED`: log in
   * again with the user's own `newPassword`, which replaces it (refused, 400, for any other password).
   */
  async login(email: string, password: string, newPassword?: string): Promise<{ token: string; expiresAt: string; user: User }> {
    const body = newPassword === undefined ? { email, password } : { email, password, newPassword };
    return (await this.call<{ token: string; expiresAt: string; user: User }>('POST', '/api/v1/auth/login', { body })).body;
  }

  /** Whether single sign-on is offered (no token needed). */
  async ssoInfo(): Promise<SsoInfo> {
    return (await this.call<SsoInfo>('GET', '/api/v1/auth/sso')).body;
  }

  /**
   * Trades the one-time code of an SSO sign-in for a session, as login answers. A browser's code
   * (the `#sso-code=` of the callback's redirect) needs the browser's `xp_sso_*` cookie of the sign-in
   * (same origin); an app's code (the desktop app's loopback redirect) needs the `verifier` whose
   * SHA-256 was the start's `app_challenge`. ApiError 401 when the code is unknown, used, expired, or
   * sent without its proof.
   */
  async ssoExchange(code: string, verifier?: string): Promise<{ token: string; expiresAt: string; user: User }> {
    const body = verifier === undefined ? { code } : { code, verifier };
    return (await this.call<{ token: string; expiresAt: string; user: User }>('POST', '/api/v1/auth/sso/exchange', { body })).body;
  }

  /** Changes the caller's password; their other sessions end (and their access tokens with `revokeAccessTokens`). */
  async changePassword(currentPassword: string, newPassword: string, options: { revokeAccessTokens?: boolean } = {}): Promise<void> {
    await this.call<undefined>('PUT', '/api/v1/me/password', { body: { currentPassword, newPassword, ...(options.revokeAccessTokens === undefined ? {} : { revokeAccessTokens: options.revokeAccessTokens }) } });
  }

  async me(): Promise<Me> {
    return (await this.call<Me>('GET', '/api/v1/me')).body;
  }

  async projects(): Promise<Project[]> {
    return (await this.call<{ items: Project[] }>('GET', '/api/v1/projects')).body.items;
  }

  async environments(project: string): Promise<StoredEnvironment[]> {
    return (await this.call<{ items: StoredEnvironment[] }>('GET', `/api/v1/projects/${encodeURIComponent(project)}/environments`)).body.items;
  }

  /** Creates a project and its environments (development, staging and a protected production unless `environments` says otherwise). */
  async createProject(input: ProjectCreate): Promise<Project> {
    return (await this.call<Project>('POST', '/api/v1/projects', { body: input })).body;
  }

  /** Renames or describes a project, from the version read (If-Match). */
  async updateProject(key: string, patch: ProjectPatch, version: number): Promise<Project> {
    return (await this.call<Project>('PATCH', `/api/v1/projects/${encodeURIComponent(key)}`, { body: patch, version })).body;
  }

  /** Deletes a project with everything in it, from the version read (If-Match); refused (409) while flags are on in production or experiments run. */
  async deleteProject(key: string, version: number): Promise<void> {
    await this.call('DELETE', `/api/v1/projects/${encodeURIComponent(key)}`, { version });
  }

  async createEnvironment(project: string, environment: EnvironmentInput): Promise<StoredEnvironment> {
    return (await this.call<StoredEnvironment>('POST', `/api/v1/projects/${encodeURIComponent(project)}/environments`, { body: environment })).body;
  }

  /** Replaces an environment's name, colour and protection (the whole environment: `key` stays the same), from the version read (If-Match). */
  async updateEnvironment(project: string, key: string, environment: EnvironmentInput, version: number): Promise<StoredEnvironment> {
    return (await this.call<StoredEnvironment>('PUT', `/api/v1/projects/${encodeURIComponent(project)}/environments/${encodeURIComponent(key)}`, { body: environment, version })).body;
  }

  /** Deletes an environment from the version read (If-Match); refused (409) for a production environment or one with flags on. */
  async deleteEnvironment(project: string, key: string, version: number): Promise<void> {
    await this.call('DELETE', `/api/v1/projects/${encodeURIComponent(project)}/environments/${encodeURIComponent(key)}`, { version });
  }

  async list<K extends DefinitionPath>(project: string, kind: K, query: ListQuery & { cursor?: string; limit?: number } = {}): Promise<Page<Stored<DefinitionKinds[K]>>> {
    const flag = (b: boolean | undefined): string | undefined => (b === undefined ? undefined : String(b));
    const q: Query = {
      q: query.q,
      cursor: query.cursor,
      limit: query.limit,
      archived: query.archived === true ? 'true' : undefined,
      tag: query.tag === undefined || query.tag.length === 0 ? undefined : query.tag.join(','),
      temporary: flag(query.temporary),
      stale: flag(query.stale),
      staleDays: query.staleDays,
      include: query.includeStale === true ? 'stale' : undefined,
      sort: query.sort,
    };
    return (await this.call<Page<Stored<DefinitionKinds[K]>>>('GET', `/api/v1/projects/${encodeURIComponent(project)}/${kind}`, { query: q })).body;
  }

  /** Every item of a kind, following cursors. */
  /**
   * Every item of a kind, page after page. With `signal`, it stops between pages once the signal
   * aborts (rejecting with an AbortError, as `fetch` does): a screen that is gone must not keep
   * downloading a large project's list.
   */
  async listAll<K extends DefinitionPath>(project: string, kind: K, options: ListQuery & { signal?: AbortSignal | undefined } = {}): Promise<Stored<DefinitionKinds[K]>[]> {
    const { signal, ...filters } = options;
    const stopIfAborted = (): void => {
      if (signal?.aborted === true) {
        throw new DOMException('The list was no longer wanted', 'AbortError');
      }
    };
    const items: Stored<DefinitionKinds[K]>[] = [];
    let cursor: string | undefined;
    do {
      stopIfAborted();
      const page = await this.list(project, kind, { limit: 200, ...(cursor === undefined ? {} : { cursor }), ...filters });
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    stopIfAborted();
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

  /**
   * Adds ids to an id-list segment and removes others without sending the whole list (POST
   * …/segments/{key}/ids; at most 100,000 of each per call). Applied to the stored list atomically,
   * so concurrent calls all count; `version` (If-Match) only when the change must apply to that
   * version. Returns how many ids were added and removed, and the segment.
   */
  async changeSegmentIds(
    project: string,
    key: string,
    change: { readonly add?: readonly (string | number)[]; readonly remove?: readonly (string | number)[] },
    options: { version?: number } = {},
  ): Promise<{ added: number; removed: number; segment: Stored<Segment> }> {
    return (
      await this.call<{ added: number; removed: number; segment: Stored<Segment> }>('POST', `/api/v1/projects/${encodeURIComponent(project)}/segments/${encodeURIComponent(key)}/ids`, {
        body: change,
        ...(options.version === undefined ? {} : { version: options.version }),
      })
    ).body;
  }

  /** `force` (flags only) deletes a flag that code still references; without it the API refuses (409, `details.codeRefs`). */
  async remove(project: string, kind: DefinitionPath, key: string, version: number, options: { force?: boolean } = {}): Promise<void> {
    await this.call('DELETE', `/api/v1/projects/${encodeURIComponent(project)}/${kind}/${encodeURIComponent(key)}`, { version, ...(options.force === true ? { query: { force: 'true' } } : {}) });
  }

  /**
   * Creates, replaces and deletes definitions of several kinds in one transaction: all of them or,
   * at the first refusal (an ApiError naming the change in `details.change`), none. `dryRun` makes
   * every check and writes nothing.
   */
  async apply(project: string, changes: readonly ApplyChange[], options: { dryRun?: boolean } = {}): Promise<ApplyResult> {
    return (await this.call<ApplyResult>('POST', `/api/v1/projects/${encodeURIComponent(project)}/apply`, { body: { changes, ...(options.dryRun === true ? { dryRun: true } : {}) } })).body;
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

  async proposeChange(project: string, request: { resourceKey: string; environment: string; state: Partial<FlagEnvironment>; baseVersion: number; comment?: string; applyAt?: string }): Promise<ChangeRequest> {
    return (await this.call<ChangeRequest>('POST', `/api/v1/projects/${encodeURIComponent(project)}/change-requests`, { body: { resourceType: 'flag', ...request } })).body;
  }

  /** A flag's scheduled changes (or, without `flag`, the project's), in the order they apply. */
  async scheduledChanges(project: string, query: { flag?: string; status?: ScheduledChange['status']; cursor?: string; limit?: number } = {}): Promise<Page<ScheduledChange>> {
    const { flag, ...rest } = query;
    const path = flag === undefined ? `/api/v1/projects/${encodeURIComponent(project)}/scheduled-changes` : `/api/v1/projects/${encodeURIComponent(project)}/flags/${encodeURIComponent(flag)}/scheduled-changes`;
    return (await this.call<Page<ScheduledChange>>('GET', path, { query: rest })).body;
  }

  /** Schedules a change of a flag's state in one environment at `at` (an instant with a time zone). */
  async scheduleChange(project: string, flag: string, body: { environment: string; at: string; state: Partial<FlagEnvironment>; comment?: string }): Promise<ScheduledChange> {
    return (await this.call<ScheduledChange>('POST', `/api/v1/projects/${encodeURIComponent(project)}/flags/${encodeURIComponent(flag)}/scheduled-changes`, { body })).body;
  }

  async cancelScheduledChange(project: string, flag: string, id: string): Promise<ScheduledChange> {
    return (await this.call<ScheduledChange>('DELETE', `/api/v1/projects/${encodeURIComponent(project)}/flags/${encodeURIComponent(flag)}/scheduled-changes/${encodeURIComponent(id)}`)).body;
  }

  async reviewChange(project: string, id: string, action: 'approve' | 'reject' | 'apply' | 'cancel'): Promise<ChangeRequest> {
    return (await this.call<ChangeRequest>('POST', `/api/v1/projects/${encodeURIComponent(project)}/change-requests/${encodeURIComponent(id)}/${action}`)).body;
  }

  async audit(query: AuditQuery & { cursor?: string; limit?: number } = {}): Promise<Page<AuditEntry>> {
    return (await this.call<Page<AuditEntry>>('GET', '/api/v1/audit', { query })).body;
  }

  async publishedRuleset(project: string, environment: string): Promise<{ expectedVersion: number; published: { version: number; etag: string; publishedAt: string; ruleset: Ruleset } | null }> {
    return (await this.call<{ expectedVersion: number; published: { version: number; etag: string; publishedAt: string; ruleset: Ruleset } | null }>(
      'GET',
      `/api/v1/projects/${encodeURIComponent(project)}/environments/${encodeURIComponent(environment)}/ruleset`,
    )).body;
  }

  // --- Flag evaluation counts ------------------------------------------------------------------

  /** How often SDKs evaluated one flag key, by served variation, over a window. */
  async flagEvaluations(project: string, key: string, query: FlagEvaluationsQuery = {}): Promise<FlagEvaluations> {
    return (await this.call<FlagEvaluations>('GET', `/api/v1/projects/${encodeURIComponent(project)}/flags/${encodeURIComponent(key)}/evaluations`, { query: { ...query } })).body;
  }

  /** Every flag key evaluated in the last `days` days (defined or not), most evaluated first. */
  async projectFlagEvaluations(project: string, query: ProjectFlagEvaluationsQuery = {}): Promise<ProjectFlagEvaluations> {
    return (await this.call<ProjectFlagEvaluations>('GET', `/api/v1/projects/${encodeURIComponent(project)}/flag-evaluations`, { query: { ...query } })).body;
  }

  // --- Language server and code references (issue 9) ---------------------------------------

  /** An experiment's current results in one environment (the fields editors show). */
  async experimentResults(project: string, key: string, query: { environment?: string } = {}): Promise<ExperimentResultsSummary> {
    return (await this.call<ExperimentResultsSummary>('GET', `/api/v1/projects/${encodeURIComponent(project)}/experiments/${encodeURIComponent(key)}/results`, { query })).body;
  }

  /** Replaces the stored code references of one repository and branch. */
  async uploadCodeRefs(project: string, body: CodeRefsUpload): Promise<CodeRefsUploadResult> {
    return (await this.call<CodeRefsUploadResult>('POST', `/api/v1/projects/${encodeURIComponent(project)}/code-refs`, { body })).body;
  }

  /** One page of stored code references (pass the previous page's `nextCursor` as `cursor`). */
  async listCodeRefs(project: string, query: CodeRefsFilter & { limit?: number; cursor?: string } = {}): Promise<CodeRefsPage> {
    return (await this.call<CodeRefsPage>('GET', `/api/v1/projects/${encodeURIComponent(project)}/code-refs`, { query: { ...query } })).body;
  }

  /** Every stored code reference matching `query`, page after page. */
  async listAllCodeRefs(project: string, query: CodeRefsFilter = {}): Promise<StoredCodeRef[]> {
    const all: StoredCodeRef[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listCodeRefs(project, { ...query, limit: 5_000, ...(cursor === undefined ? {} : { cursor }) });
      all.push(...page.references);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return all;
  }

  /** How many references each flag key has, per repository branch (a key not listed has none). */
  async flagCodeRefs(project: string, query: CodeRefsFilter = {}): Promise<FlagCodeRefs[]> {
    return (await this.call<{ flags: FlagCodeRefs[] }>('GET', `/api/v1/projects/${encodeURIComponent(project)}/code-refs/flags`, { query: { ...query } })).body.flags;
  }

  /** The repository branches with stored references. */
  async codeRefBranches(project: string, query: { repository?: string; flag?: string } = {}): Promise<CodeRefsBranch[]> {
    return (await this.call<{ branches: CodeRefsBranch[] }>('GET', `/api/v1/projects/${encodeURIComponent(project)}/code-refs/branches`, { query: { ...query } })).body.branches;
  }

  /** Deletes one repository branch's stored references (a branch deleted in git). */
  async deleteCodeRefs(project: string, target: { repository: string; branch: string }): Promise<{ repository: string; branch: string; deleted: number }> {
    return (await this.call<{ repository: string; branch: string; deleted: number }>('DELETE', `/api/v1/projects/${encodeURIComponent(project)}/code-refs`, { query: { ...target } })).body;
  }

  // --- Console (issue 8) ----------------------------------------------------------------------

  /** Ends this session (the token stops working). */
  async logout(): Promise<void> {
    await this.call('POST', '/api/v1/auth/logout');
  }

  /** An experiment's full results: SRM, every comparison, Bayesian summary and the time series. */
  async resultsDetail(project: string, key: string, query: ResultsQuery = {}): Promise<ExperimentResultsView> {
    return (await this.call<ExperimentResultsView>('GET', `/api/v1/projects/${encodeURIComponent(project)}/experiments/${encodeURIComponent(key)}/results`, { query: resultsQueryOf(query) })).body;
  }

  /** Results per value of one of the experiment's dimensions, largest values first (no time series). */
  async resultsBreakdown(project: string, key: string, query: BreakdownQuery): Promise<ResultsBreakdownView> {
    const params: Query = { environment: query.environment, dimension: query.dimension, limit: query.limit, sequential: query.sequential, cuped: query.cuped, alpha: query.alpha, correction: query.correction, segment: query.segment, from: query.from, to: query.to, phase: query.phase };
    for (const [k, v] of Object.entries(query.attributes ?? {})) {
      params[`attr.${k}`] = v;
    }
    return (await this.call<ResultsBreakdownView>('GET', `/api/v1/projects/${encodeURIComponent(project)}/experiments/${encodeURIComponent(key)}/results/breakdown`, { query: params })).body;
  }

  /** The same results as CSV text (`table: 'timeseries'` for the cumulative series). */
  async resultsCsv(project: string, key: string, query: ResultsQuery & { table?: 'summary' | 'timeseries'; bom?: boolean } = {}): Promise<string> {
    return this.text(`/api/v1/projects/${encodeURIComponent(project)}/experiments/${encodeURIComponent(key)}/results.csv`, { ...resultsQueryOf(query), table: query.table, bom: query.bom === true ? 1 : undefined }, 'text/csv');
  }

  /** The audit log as a file: every entry the filters match, oldest first, CSV (default) or NDJSON text; `bom` starts a CSV with U+FEFF for Excel. */
  async auditExport(query: AuditQuery & { format?: 'csv' | 'ndjson'; bom?: boolean } = {}): Promise<string> {
    return this.text('/api/v1/audit/export', { ...query, bom: query.bom === true ? 1 : undefined }, query.format === 'ndjson' ? 'application/x-ndjson' : 'text/csv');
  }

  /** A GET whose answer is text (CSV, NDJSON); an error answer throws ApiError as `call` does. */
  private async text(path: string, query: Query, accept: string): Promise<string> {
    const url = new URL(`${this.base}${path}`);
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined) {
        url.searchParams.set(k, String(v));
      }
    }
    const headers: Record<string, string> = { accept };
    if (this.options.token !== undefined) {
      headers.authorization = `Bearer ${this.options.token}`;
    }
    const res = await this.fetchFn(url, { headers });
    // ignoreBOM keeps a byte order mark asked for (bom=1), which res.text() would strip.
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(await res.arrayBuffer());
    if (!res.ok) {
      let err: ApiErrorBody['error'] | undefined;
      try {
        err = (JSON.parse(text) as Partial<ApiErrorBody>).error;
      } catch {
        err = undefined;
      }
      throw new ApiError(res.status, err?.code ?? 'HTTP_ERROR', err?.message ?? `HTTP ${res.status}`, err?.details);
    }
    return text;
  }

  async startExperiment(project: string, key: string, version: number): Promise<Stored<Experiment>> {
    return (await this.call<Stored<Experiment>>('POST', `/api/v1/projects/${encodeURIComponent(project)}/experiments/${encodeURIComponent(key)}/start`, { version })).body;
  }

  async stopExperiment(project: string, key: string, version: number, decision: { decision?: 'ship' | 'rollback' | 'inconclusive'; winner?: string; releaseWinner?: boolean }): Promise<Stored<Experiment>> {
    return (await this.call<Stored<Experiment>>('POST', `/api/v1/projects/${encodeURIComponent(project)}/experiments/${encodeURIComponent(key)}/stop`, { version, body: decision })).body;
  }

  /** Runs a stopped experiment again (same assignments; its decision is cleared). */
  async resumeExperiment(project: string, key: string, version: number): Promise<Stored<Experiment>> {
    return (await this.call<Stored<Experiment>>('POST', `/api/v1/projects/${encodeURIComponent(project)}/experiments/${encodeURIComponent(key)}/resume`, { version })).body;
  }

  /** Guardrail alerts, newest first, a page at a time (GET …/alerts); filtered by status, environment and experiment. */
  async alerts(project: string, query: AlertsQuery = {}): Promise<Page<GuardrailAlert>> {
    return (await this.call<Page<GuardrailAlert>>('GET', `/api/v1/projects/${encodeURIComponent(project)}/alerts`, { query: { ...query } })).body;
  }

  /**
   * Acknowledges an open guardrail alert ("seen, investigating"), with an optional comment (at most
   * 2,000 characters), or with `acknowledged: false` withdraws the acknowledgement
   * (POST …/alerts/{id}/acknowledge or …/unacknowledge; experiments:write). Returns the alert;
   * one already in that state comes back as it is. A resolved alert is 409 INVALID_STATE.
   */
  async acknowledgeAlert(project: string, id: number, options: { readonly comment?: string; readonly acknowledged?: boolean } = {}): Promise<GuardrailAlert> {
    const base = `/api/v1/projects/${encodeURIComponent(project)}/alerts/${encodeURIComponent(String(id))}`;
    if (options.acknowledged === false) {
      return (await this.call<GuardrailAlert>('POST', `${base}/unacknowledge`)).body;
    }
    return (await this.call<GuardrailAlert>('POST', `${base}/acknowledge`, { body: options.comment === undefined ? {} : { comment: options.comment } })).body;
  }

  /** A bandit experiment's configuration with its defaults, its metric, next check and latest checks, newest first (GET …/experiments/{key}/bandit); `bandit` null for one without. */
  async getBandit(project: string, key: string): Promise<BanditState> {
    return (await this.call<BanditState>('GET', `/api/v1/projects/${encodeURIComponent(project)}/experiments/${encodeURIComponent(key)}/bandit`)).body;
  }

  /**
   * Checks a running bandit experiment now, whatever its cadence and burn-in, moving its split if the
   * check says so (POST …/bandit/update; experiments:write). Returns the check as recorded; an
   * experiment not running or without a bandit is 409 INVALID_STATE.
   */
  async updateBandit(project: string, key: string): Promise<BanditUpdate> {
    return (await this.call<BanditUpdate>('POST', `/api/v1/projects/${encodeURIComponent(project)}/experiments/${encodeURIComponent(key)}/bandit/update`)).body;
  }

  /** Newest first, a page at a time (`nextCursor` when there are older ones). */
  async changeRequests(project: string, query: { status?: ChangeRequest['status']; resourceKey?: string; cursor?: string; limit?: number } = {}): Promise<Page<ChangeRequest>> {
    return (await this.call<Page<ChangeRequest>>('GET', `/api/v1/projects/${encodeURIComponent(project)}/change-requests`, { query })).body;
  }

  async health(minutes?: number): Promise<HealthView> {
    return (await this.call<HealthView>('GET', '/api/v1/health', { query: { minutes } })).body;
  }

  /** People of the organisation (`kind` `service`: service accounts as users, `all`: both). */
  async users(query: { q?: string; cursor?: string; limit?: number; kind?: 'person' | 'service' | 'all' } = {}): Promise<Page<User>> {
    return (await this.call<Page<User>>('GET', '/api/v1/users', { query })).body;
  }

  /** Adds a user; without a password the API generates one and returns it once. */
  async inviteUser(body: { email: string; name: string; role: Role; password?: string }): Promise<{ user: User; initialPassword?: string }> {
    return (await this.call<{ user: User; initialPassword?: string }>('POST', '/api/v1/users', { body })).body;
  }

  /** Renames, changes the role of, or disables a user, from the version read (If-Match). */
  /**
   * Sets a temporary password on another user, returned once, which they must replace at their next
   * login; their sessions and personal access tokens end.
   */
  async resetPassword(userId: string): Promise<{ temporaryPassword: string; user: User }> {
    return (await this.call<{ temporaryPassword: string; user: User }>('POST', `/api/v1/users/${encodeURIComponent(userId)}/password-reset`)).body;
  }

  /** Lifts a login lockout: forgets the failed logins counted against the user. */
  async unlockUser(userId: string): Promise<{ user: User; addresses: number }> {
    return (await this.call<{ user: User; addresses: number }>('POST', `/api/v1/users/${encodeURIComponent(userId)}/unlock`)).body;
  }

  /**
   * Signs a user out everywhere: ends all their sessions and, with `accessTokens`, revokes their
   * personal access tokens. On yourself, the current session ends too.
   */
  async revokeUserSessions(userId: string, options: { accessTokens?: boolean } = {}): Promise<{ sessionsRevoked: number; accessTokensRevoked: number }> {
    const body = options.accessTokens === undefined ? {} : { accessTokens: options.accessTokens };
    return (await this.call<{ sessionsRevoked: number; accessTokensRevoked: number }>('POST', `/api/v1/users/${encodeURIComponent(userId)}/sessions/revoke`, { body })).body;
  }

  async updateUser(id: string, patch: { name?: string; role?: Role; disabled?: boolean }, version: number): Promise<User> {
    return (await this.call<User>('PATCH', `/api/v1/users/${encodeURIComponent(id)}`, { body: patch, version })).body;
  }

  /**
   * Sets a user's role in one project, in place of their organisation role there (not owner, not for
   * an owner); answers the user with their project roles.
   */
  async setProjectRole(userId: string, project: string, role: Exclude<Role, 'owner'>): Promise<User> {
    return (await this.call<User>('PUT', `/api/v1/users/${encodeURIComponent(userId)}/projects/${encodeURIComponent(project)}/role`, { body: { role } })).body;
  }

  /** Removes a user's role in one project: their organisation role applies there again. */
  async removeProjectRole(userId: string, project: string): Promise<User> {
    return (await this.call<User>('DELETE', `/api/v1/users/${encodeURIComponent(userId)}/projects/${encodeURIComponent(project)}/role`)).body;
  }

  async roles(): Promise<RolesView> {
    return (await this.call<RolesView>('GET', '/api/v1/roles')).body;
  }

  /** The project's SDK keys, revoked ones included. */
  async sdkKeys(project: string): Promise<SdkKeyView[]> {
    return (await this.call<{ items: SdkKeyView[] }>('GET', `/api/v1/projects/${encodeURIComponent(project)}/sdk-keys`)).body.items;
  }

  /** Creates an SDK key; `key` is the secret, which the API never returns again. */
  async createSdkKey(project: string, body: { environment: string; kind: SdkKeyView['kind']; name: string }): Promise<{ key: string; sdkKey: SdkKeyView }> {
    return (await this.call<{ key: string; sdkKey: SdkKeyView }>('POST', `/api/v1/projects/${encodeURIComponent(project)}/sdk-keys`, { body })).body;
  }

  /**
   * Rotates an SDK key: a new key of the same environment, kind and name (`key` is its secret, shown
   * this once), and `previous`, the old key, working until its `expiresAt` (24 h by default).
   */
  async rotateSdkKey(project: string, id: string, body: { keepPreviousHours?: number } = {}): Promise<{ key: string; sdkKey: SdkKeyView; previous: SdkKeyView }> {
    return (await this.call<{ key: string; sdkKey: SdkKeyView; previous: SdkKeyView }>('POST', `/api/v1/projects/${encodeURIComponent(project)}/sdk-keys/${encodeURIComponent(id)}/rotate`, { body })).body;
  }

  /** Revokes an SDK key: SDKs using it are refused once the SDK endpoints' key cache lets go of it (30 s). */
  async revokeSdkKey(project: string, id: string): Promise<SdkKeyView> {
    return (await this.call<SdkKeyView>('DELETE', `/api/v1/projects/${encodeURIComponent(project)}/sdk-keys/${encodeURIComponent(id)}`)).body;
  }

  /**
   * Erases everything the project stores about these units (data-subject deletion, 1–1000 ids as
   * the SDKs send them): rows deleted per table. Needs `units:erase` (owners and admins); docs/privacy.md.
   */
  async eraseUnits(project: string, unitIds: readonly string[]): Promise<UnitErasureView> {
    return (await this.call<{ erased: UnitErasureView }>('POST', `/api/v1/projects/${encodeURIComponent(project)}/units/erase`, { body: { unitIds } })).body.erased;
  }

  /**
   * Everything the project stores about one unit (subject access): the rows an erasure of it would
   * delete, per table, and the result dimension values its attributes gave; each section at most
   * 10,000 rows, a truncated one continued with `{ section, offset: nextOffset }`. The id goes in the
   * query, which request logs do not keep. Needs `units:erase` (owners and admins); docs/privacy.md.
   */
  async exportUnit(project: string, unitId: string, page: { section?: UnitExportSectionName; offset?: number } = {}): Promise<UnitExportView> {
    return (await this.call<UnitExportView>('GET', `/api/v1/projects/${encodeURIComponent(project)}/unit-export`, { query: { unitId, ...page } })).body;
  }

  async accessTokens(): Promise<AccessTokenView[]> {
    return (await this.call<{ items: AccessTokenView[] }>('GET', '/api/v1/me/tokens')).body.items;
  }

  /**
   * Creates a personal access token; `token` is the secret, which the API never returns again.
   * `role` caps the token at that role (never above the caller's; omitted: it follows the user's
   * role), `projects` limits it to those project keys (1–50; omitted: every project).
   */
  async createAccessToken(body: { name: string; expiresInDays?: number; role?: Role; projects?: string[] }): Promise<{ token: string; accessToken: AccessTokenView }> {
    return (await this.call<{ token: string; accessToken: AccessTokenView }>('POST', '/api/v1/me/tokens', { body })).body;
  }

  async revokeAccessToken(id: string): Promise<AccessTokenView> {
    return (await this.call<AccessTokenView>('DELETE', `/api/v1/me/tokens/${encodeURIComponent(id)}`)).body;
  }

  /** The organisation's token policy: the longest and the default lifetime, in days, of tokens minted from now on (null: unset). */
  async tokenPolicy(): Promise<TokenPolicyView> {
    return (await this.call<TokenPolicyView>('GET', '/api/v1/organisation/token-policy')).body;
  }

  /**
   * Sets the organisation's token policy (owners; the default at most the maximum), from the version
   * read (If-Match: the server answers 428 without it, 409 when another owner changed it since).
   * Existing tokens keep their expiry: `liveTokensExceedingMax` counts the live ones the new maximum
   * would not allow.
   */
  async setTokenPolicy(policy: TokenPolicyInput, version: number): Promise<TokenPolicyView & { liveTokensExceedingMax: number }> {
    const body = { maxLifetimeDays: policy.maxLifetimeDays, defaultLifetimeDays: policy.defaultLifetimeDays };
    return (await this.call<TokenPolicyView & { liveTokensExceedingMax: number }>('PUT', '/api/v1/organisation/token-policy', { body, version })).body;
  }

  // --- Service accounts -------------------------------------------------------------------------

  /** Service accounts of the organisation (never deleted ones), by page. */
  async serviceAccounts(query: { q?: string; cursor?: string; limit?: number } = {}): Promise<Page<ServiceAccount>> {
    return (await this.call<Page<ServiceAccount>>('GET', '/api/v1/service-accounts', { query })).body;
  }

  async serviceAccount(id: string): Promise<ServiceAccount> {
    return (await this.call<ServiceAccount>('GET', `/api/v1/service-accounts/${encodeURIComponent(id)}`)).body;
  }

  /** Creates a service account (admins give at most editor; only owners admin). Mint a token for it with `createServiceAccountToken`. */
  async createServiceAccount(body: ServiceAccountInput): Promise<ServiceAccount> {
    return (await this.call<ServiceAccount>('POST', '/api/v1/service-accounts', { body })).body;
  }

  /** Changes the fields sent (`projectRoles` replaces the list; `disabled` makes its tokens answer 401 until enabled again). */
  async updateServiceAccount(id: string, patch: Partial<ServiceAccountInput> & { disabled?: boolean }, version: number): Promise<ServiceAccount> {
    return (await this.call<ServiceAccount>('PATCH', `/api/v1/service-accounts/${encodeURIComponent(id)}`, { body: patch, version })).body;
  }

  /**
   * Deletes a service account, from the version read (If-Match: the server answers 428 without it,
   * 409 when stale): its tokens are revoked, its open change requests and pending scheduled changes
   * cancelled; answers how many.
   */
  async deleteServiceAccount(id: string, version: number): Promise<ServiceAccountDeletion> {
    return (await this.call<ServiceAccountDeletion>('DELETE', `/api/v1/service-accounts/${encodeURIComponent(id)}`, { version })).body;
  }

  async serviceAccountTokens(id: string): Promise<AccessTokenView[]> {
    return (await this.call<{ items: AccessTokenView[] }>('GET', `/api/v1/service-accounts/${encodeURIComponent(id)}/tokens`)).body.items;
  }

  /**
   * Mints a token that acts as the service account; `token` is the secret, never returned again.
   * `role` caps it (at most the account's role), `projects` limits it to those project keys.
   */
  async createServiceAccountToken(id: string, body: { name: string; expiresInDays?: number; role?: Role; projects?: string[] }): Promise<{ token: string; accessToken: AccessTokenView }> {
    return (await this.call<{ token: string; accessToken: AccessTokenView }>('POST', `/api/v1/service-accounts/${encodeURIComponent(id)}/tokens`, { body })).body;
  }

  async revokeServiceAccountToken(id: string, tokenId: string): Promise<AccessTokenView> {
    return (await this.call<AccessTokenView>('DELETE', `/api/v1/service-accounts/${encodeURIComponent(id)}/tokens/${encodeURIComponent(tokenId)}`)).body;
  }

  // --- Webhooks ---------------------------------------------------------------------------------

  /** The project's webhooks, oldest first. */
  async listWebhooks(project: string): Promise<Webhook[]> {
    return (await this.call<{ items: Webhook[] }>('GET', `/api/v1/projects/${encodeURIComponent(project)}/webhooks`)).body.items;
  }

  async webhook(project: string, id: string): Promise<Webhook> {
    return (await this.call<Webhook>('GET', `/api/v1/projects/${encodeURIComponent(project)}/webhooks/${encodeURIComponent(id)}`)).body;
  }

  /** Creates a webhook; `secret` is its signing secret, which the API never returns again. */
  async createWebhook(project: string, body: WebhookCreate): Promise<WebhookWithSecret> {
    return (await this.call<WebhookWithSecret>('POST', `/api/v1/projects/${encodeURIComponent(project)}/webhooks`, { body })).body;
  }

  /** Changes the fields given (the others keep their value); disabling a webhook ends its queued deliveries. */
  async updateWebhook(project: string, id: string, patch: WebhookPatch, version: number): Promise<Webhook> {
    return (await this.call<Webhook>('PATCH', `/api/v1/projects/${encodeURIComponent(project)}/webhooks/${encodeURIComponent(id)}`, { body: patch, version })).body;
  }

  /** Deletes a webhook and its delivery log; answers the deleted webhook. */
  async deleteWebhook(project: string, id: string, version: number): Promise<Webhook> {
    return (await this.call<Webhook>('DELETE', `/api/v1/projects/${encodeURIComponent(project)}/webhooks/${encodeURIComponent(id)}`, { version })).body;
  }

  /**
   * Gives a webhook a new signing secret, shown only in this answer. The old one stops at once, or
   * with `keepPreviousHours` (≤ 168) signs beside the new one until then.
   */
  async rotateWebhookSecret(project: string, id: string, version: number, options: { keepPreviousHours?: number } = {}): Promise<WebhookWithSecret> {
    const body = options.keepPreviousHours === undefined ? {} : { body: { keepPreviousHours: options.keepPreviousHours } };
    return (await this.call<WebhookWithSecret>('POST', `/api/v1/projects/${encodeURIComponent(project)}/webhooks/${encodeURIComponent(id)}/rotate-secret`, { version, ...body })).body;
  }

  /** Sends a `webhook.test` event now and answers how it went (a receiver's refusal is a failed delivery, not an error). */
  async testWebhook(project: string, id: string): Promise<WebhookDelivery> {
    return (await this.call<WebhookDelivery>('POST', `/api/v1/projects/${encodeURIComponent(project)}/webhooks/${encodeURIComponent(id)}/test`)).body;
  }

  /** A webhook's deliveries, newest first, a page at a time (`nextCursor` when there are older ones); `status` keeps only those in it. */
  async webhookDeliveries(project: string, id: string, query: { limit?: number; cursor?: string; status?: DeliveryStatus } = {}): Promise<Page<WebhookDelivery>> {
    return (
      await this.call<Page<WebhookDelivery>>('GET', `/api/v1/projects/${encodeURIComponent(project)}/webhooks/${encodeURIComponent(id)}/deliveries`, {
        query: { limit: query.limit, cursor: query.cursor, status: query.status },
      })
    ).body;
  }

  /** One delivery with every attempt made of it (`attemptLog`, first to last). */
  async webhookDelivery(project: string, id: string, deliveryId: string): Promise<WebhookDeliveryDetail> {
    return (
      await this.call<WebhookDeliveryDetail>('GET', `/api/v1/projects/${encodeURIComponent(project)}/webhooks/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(deliveryId)}`)
    ).body;
  }

  /** Queues a past delivery's payload again, as a new delivery; answers it (pending). */
  async redeliverWebhook(project: string, id: string, deliveryId: string): Promise<WebhookDelivery> {
    return (
      await this.call<WebhookDelivery>('POST', `/api/v1/projects/${encodeURIComponent(project)}/webhooks/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(deliveryId)}/redeliver`)
    ).body;
  }

  // --- Event explorer (issue 10) ---------------------------------------------------------------

  /** Recent events and exposures, newest first (retention window: 7 days by default). */
  async searchEvents(project: string, query: EventSearchQuery = {}): Promise<Page<ExplorerEventView>> {
    const { properties, ...rest } = query;
    return (await this.call<Page<ExplorerEventView>>('GET', `/api/v1/projects/${encodeURIComponent(project)}/events`, { query: { ...rest, ...(properties === undefined ? {} : { properties: JSON.stringify(properties) }) } })).body;
  }

  /**
   * What one unit saw (exposures with variation and reason) and did (tracked events), oldest first
   * (newest with `order: 'desc'`); `after` is the `next` of the previous page, with the same order.
   * The unit id goes in the query (GET …/unit-timeline?unitId=), which request logs do not keep,
   * never in the path, which they do.
   */
  async unitTimeline(project: string, unitId: string, query: { environment?: string; from?: string; to?: string; limit?: number; order?: 'asc' | 'desc'; after?: string } = {}): Promise<UnitTimelineView> {
    return (await this.call<UnitTimelineView>('GET', `/api/v1/projects/${encodeURIComponent(project)}/unit-timeline`, { query: { ...query, unitId } })).body;
  }
}

// --- Event explorer (issue 10): request and response types ----------------------------------

export interface EventSearchQuery {
  environment?: string;
  unitId?: string;
  /** Event name; for exposures, the experiment key. */
  name?: string;
  type?: 'exposure' | 'track';
  experiment?: string;
  /** Events whose properties contain this object. */
  properties?: Record<string, unknown>;
  /** Free text: every word must appear. */
  q?: string;
  from?: string;
  to?: string;
  cursor?: string;
  limit?: number;
}

export interface ExplorerEventView {
  id: string;
  type: 'exposure' | 'track';
  environment: string;
  unitId: string;
  /** Tracked events: the unit's other identifiers, by attribute (`{"deviceId": "dev1"}`). */
  units?: Record<string, string>;
  name: string;
  experiment?: string;
  variation?: string;
  flag?: string;
  reason?: string;
  value?: number;
  properties?: Record<string, unknown>;
  occurredAt: string;
  receivedAt: string;
  seq: number;
}

export interface UnitTimelineView {
  unitId: string;
  items: ExplorerEventView[];
  /** More events than `limit` exist in the window. */
  truncated: boolean;
  /** When truncated: the cursor to pass as `after` for the next page. */
  next?: string;
}

// --- Guardrails: request and response types -------------------------------------------------

/** GET …/alerts filters: `status` open or resolved (both when absent), plus pagination. */
export interface AlertsQuery {
  readonly status?: 'open' | 'resolved';
  /** true: only acknowledged alerts; false: only those nobody has acknowledged. */
  readonly acknowledged?: boolean;
  readonly environment?: string;
  readonly experiment?: string;
  readonly cursor?: string;
  readonly limit?: number;
}

/** Why a bandit check kept the split (docs/bandits.md). */
export type BanditKeepReason = 'burn_in' | 'insufficient_units' | 'no_chance_to_be_best' | 'split_history_full' | 'no_change' | 'conflict' | 'failed';

/** One recorded check of a bandit experiment: the split moved, or was kept and why. */
export interface BanditUpdate {
  readonly at: string;
  readonly outcome: 'moved' | 'kept';
  /** Null when the split moved. */
  readonly reason: BanditKeepReason | null;
  /** The bandit metric and the environment whose results were read. */
  readonly metric: string;
  readonly environment: string;
  /** The split after the check, by variation key (the one before when kept). */
  readonly shares: Record<string, number>;
  readonly previousShares: Record<string, number>;
  /** Each variation's chance to be best; null when the results gave none (an SRM, a stats error) or were not read. */
  readonly chanceToBeBest: Record<string, number> | null;
  /** Units analysed per variation. */
  readonly units: Record<string, number>;
  readonly message: string;
}

/** GET …/experiments/{key}/bandit. */
export interface BanditState {
  readonly experiment: string;
  /** The bandit with its defaults; null when the experiment has none. */
  readonly bandit: Bandit | null;
  /** The metric it optimises (bandit.metric, else the first primary metric); null without a bandit. */
  readonly metric: string | null;
  /** The environment whose results it reads; null without a bandit. */
  readonly environment: string | null;
  /** When the next check is due (a past instant: at the next run); null when not running or not a bandit. */
  readonly nextUpdateAt: string | null;
  /** The latest checks, newest first (at most 100). */
  readonly updates: readonly BanditUpdate[];
}

/**
 * A guardrail alert: a guardrail metric of a running experiment degraded significantly (sequential
 * test) for a treatment in an environment. `effect` and `ci` are on the scale `difference` names.
 */
export interface GuardrailAlert {
  readonly id: number;
  readonly environment: string;
  readonly experiment: string;
  /** The flag whose experiment rule serves the experiment there, if any. */
  readonly flag: string | null;
  readonly metric: string;
  /** The treatment that degraded the metric. */
  readonly variation: string;
  readonly control: string;
  readonly detectedAt: string;
  readonly difference: 'relative' | 'absolute';
  readonly effect: number;
  /** Confidence sequence at level 1 − alpha. */
  readonly ci: readonly [number, number];
  /** Always-valid (sequential) p-value. */
  readonly pValue: number;
  readonly alpha: number;
  readonly controlUnits: number;
  readonly treatmentUnits: number;
  /** `alert`: recorded only; `stopped`: the experiment was stopped (decision rollback); `stop-failed`: the next check tries again. */
  readonly action: 'alert' | 'stopped' | 'stop-failed';
  readonly actionAt: string | null;
  readonly resolvedAt: string | null;
  readonly resolution: string | null;
  /**
   * When someone acknowledged the alert ("seen, investigating"); null when nobody has (or it was
   * un-acknowledged). This and the three below are absent from servers before 2026-12.
   */
  readonly acknowledgedAt?: string | null;
  /** The acknowledging user's id. */
  readonly acknowledgedBy?: string | null;
  /** Their name (e-mail when they have none); null when not acknowledged or the user is unknown. */
  readonly acknowledgedByName?: string | null;
  /** What they wrote (at most 2,000 characters); null without a comment. */
  readonly acknowledgeComment?: string | null;
}

// --- Console (issue 8): response types ------------------------------------------------------

export interface ResultsQuery {
  readonly environment?: string;
  readonly sequential?: boolean;
  /** false analyses without CUPED (default: applied when pre-exposure data exists). */
  readonly cuped?: boolean;
  readonly segment?: string;
  readonly alpha?: number;
  readonly correction?: 'holm' | 'bh' | 'none';
  readonly interval?: 'hour' | 'day';
  /** attr.<name>=<value> filters on the attributes sent with each unit's first exposure. */
  readonly attributes?: Readonly<Record<string, string>>;
  /** Only units first exposed at or after this instant (ISO 8601). */
  readonly from?: string;
  /** Only units first exposed before this instant (ISO 8601). */
  readonly to?: string;
  /**
   * The split phase of an experiment whose split moved while running (`splitHistory`): `current`
   * (the server's default: units first exposed since the last change), `all` (pooled: the effects
   * may be confounded), `stratified` (each phase on its own, the estimates combined weighted by the
   * phases' units; the server's default for a bandit), or an index (0 = before the first change).
   * Intersected with from / to.
   */
  readonly phase?: ResultsPhase;
}

export type ResultsPhase = 'current' | 'all' | 'stratified' | number;

/**
 * GET …/results/breakdown: one of the experiment's dimensions, and the analysis options and filters
 * of the results (`attributes` on other attributes than the dimension: one on it is refused).
 */
export interface BreakdownQuery extends Pick<ResultsQuery, 'environment' | 'sequential' | 'cuped' | 'alpha' | 'correction' | 'segment' | 'from' | 'to' | 'attributes' | 'phase'> {
  readonly dimension: string;
  /** Values analysed, largest first (default 20, at most 50). */
  readonly limit?: number;
}

/** GET …/results/breakdown, as the console reads it. */
export interface ResultsBreakdownView {
  readonly dimension: string;
  readonly environment: string;
  /** The filters applied to every value (absent from servers older than the filtered breakdown). */
  readonly filters?: ResultsFiltersView;
  readonly values: readonly { readonly value: string; readonly results: ExperimentResultsView }[];
  readonly omitted: { readonly values: number; readonly units: number };
}

/** The filters a results response applied: null when not given. */
export interface ResultsFiltersView {
  readonly from: string | null;
  readonly to: string | null;
  readonly segment: string | null;
  readonly attributes: Readonly<Record<string, string>>;
  /** The split phase analysed (absent from servers older than split phases). */
  readonly phase?: ResultsPhaseView;
}

/** The split phase a results response analysed (phase 0 = before the first change of the split). */
export interface ResultsPhaseView {
  /** null: every phase pooled (phase=all). */
  readonly index: number | null;
  /** The experiment's phases: split changes + 1. */
  readonly count: number;
  /** The phase's bounds on first exposure (the split changes rounded inwards to whole hours); null: unbounded. */
  readonly from: string | null;
  readonly to: string | null;
  /** When the split changed to the one the phase served; null for phase 0 and for all phases. */
  readonly splitChangedAt: string | null;
  /** The analysed units span more than one split period: the effects pool them (see `warnings`); false when stratified. */
  readonly pooled: boolean;
  /**
   * Present when the phases were combined stratified (index null): the phases the window reaches,
   * those combined, and those left out (some variation had fewer than 2 units) with their units.
   * The last three are null in a breakdown's own filters (each value's results carry theirs).
   */
  readonly stratified?: { readonly phases: number; readonly used: number | null; readonly droppedPhases: number | null; readonly droppedUnits: number | null };
}

/**
 * The warning codes results carry (docs/statistics.md, "Data-quality warnings"); a newer server may
 * send others, which a client shows by their message.
 */
export const ResultsWarningCodes = {
  /** The effects pool periods with different splits (phase=all, or a window across a change). */
  SplitPeriodsPooled: 'SPLIT_PERIODS_POOLED',
  /** One unit holds more than 25% of a variation's total of a metric (`metric`, `variation`, `unitIds`, `share`). */
  DominantUnit: 'DOMINANT_UNIT',
  /** Analysed units of a variation have ids a buggy client sends ("undefined", "null", whitespace…: `unitIds`, `unitCount`). */
  SuspiciousUnitIds: 'SUSPICIOUS_UNIT_IDS',
  /** The SRM check flagged (as `srm.flagged`). */
  SampleRatioMismatch: 'SAMPLE_RATIO_MISMATCH',
  /** phase=stratified left out split phases in which some variation had fewer than 2 units. */
  StratifiedPhasesDropped: 'STRATIFIED_PHASES_DROPPED',
} as const;

/** A caveat on reading the results; the fields after `message` are absent from servers before 2026-12. */
export interface ResultsWarningView {
  readonly code: string;
  readonly message: string;
  /** The metric it concerns; null (or absent) when it concerns the experiment. */
  readonly metric?: string | null;
  /** The variation it concerns; null (or absent) when it concerns every variation. */
  readonly variation?: string | null;
  /** DOMINANT_UNIT: the unit; SUSPICIOUS_UNIT_IDS: the ids found (each cut to 64 characters). */
  readonly unitIds?: readonly string[];
  /** DOMINANT_UNIT: the unit's share of the variation's (capped) absolute total, |v| over Σ|v|, 0 to 1. */
  readonly share?: number | null;
  /** SUSPICIOUS_UNIT_IDS: analysed units of the variation with such ids. */
  readonly unitCount?: number | null;
}

function resultsQueryOf(q: ResultsQuery): Query {
  const out: Query = { environment: q.environment, sequential: q.sequential, cuped: q.cuped, segment: q.segment, alpha: q.alpha, correction: q.correction, interval: q.interval, from: q.from, to: q.to, phase: q.phase };
  for (const [k, v] of Object.entries(q.attributes ?? {})) {
    out[`attr.${k}`] = v;
  }
  return out;
}

export interface StatsErrorView {
  readonly code: string;
  readonly message: string;
}

export interface ComparisonView {
  readonly effect: number;
  readonly difference: 'relative' | 'absolute';
  readonly ci: readonly [number | null, number | null];
  readonly se: number;
  readonly pValue: number;
  readonly adjustedPValue: number;
  /** The interval that agrees with `adjustedPValue` and `significant` (absent from older servers). */
  readonly adjustedCi?: readonly [number | null, number | null];
  readonly method: string;
  readonly significant: boolean;
  readonly cuped: { readonly theta: number; readonly varianceReduction: number } | null;
  readonly chanceToWin: number;
  readonly risk: { readonly control: number; readonly treatment: number };
  readonly credibleInterval: readonly [number | null, number | null];
  readonly error: StatsErrorView | null;
}

export interface MetricResultView {
  readonly key: string;
  readonly name: string;
  readonly type: string;
  readonly role: 'primary' | 'secondary' | 'guardrail';
  /** Whether the guardrail checks watch it (a primary or secondary metric can be one too). */
  readonly guardrail: boolean;
  readonly higherIsBetter: boolean;
  readonly cupedApplied: boolean;
  /** Why CUPED did or did not adjust the metric (the results API's `cupedStatus`). */
  readonly cupedStatus: 'applied' | 'disabled' | 'no-pre-exposure-data' | 'no-variance-reduction' | 'unavailable';
  /** `rollup`: summed from the rollups (or a dimension's); `scan`: every unit's totals aggregated. */
  readonly source: 'rollup' | 'scan';
  readonly error: StatsErrorView | null;
  /** `total` and `mean` are null when a total passes what a double holds (the metric's `error` says so). */
  readonly variations: readonly {
    readonly variation: string;
    readonly units: number;
    readonly total: number | null;
    readonly mean: number | null;
    /** A ratio metric's denominator total (0: the ratio is undefined in this arm). */
    readonly denominatorTotal?: number | null;
    /**
     * Posterior probability that this variation (control included) is the best of all on this metric,
     * in its direction; sums to 1 over the variations. Null when some comparison failed; absent from
     * older servers.
     */
    readonly chanceToBeBest?: number | null;
    /** Capped metrics: units whose value exceeded the cap; null without a cap or when not counted; absent from older servers. */
    readonly cappedUnits?: number | null;
    readonly comparison: ComparisonView | null;
  }[];
}

/** GET …/experiments/{key}/results, as the console reads it. */
export interface ExperimentResultsView {
  readonly experiment: { readonly key: string; readonly name: string; readonly status: string; readonly startedAt: string | null };
  readonly environment: string;
  readonly computedAt: string;
  /** The filters and split phase applied (absent from older servers). */
  readonly filters?: ResultsFiltersView;
  /** What a unit is: the experiment's hash attribute and fallback (absent from older servers). */
  readonly unit?: { readonly attribute: string; readonly fallbackAttribute: string | null };
  /** `cuped` and `source` (where each option came from: the request, the experiment's analysis plan or the default) are absent from older servers. */
  readonly analysis: {
    readonly alpha: number;
    readonly sequential: boolean;
    readonly correction: string;
    readonly interval: string;
    readonly cuped?: boolean;
    readonly source?: { readonly [K in 'sequential' | 'alpha' | 'cuped' | 'correction']: 'request' | 'experiment' | 'default' };
  };
  /** `unknownVariation`: units exposed to a variation the experiment does not define (not analysed; SRM flagged). */
  readonly units: { readonly analysed: number; readonly excluded: number; readonly unknownVariation?: number };
  /** True while metric totals still count events under definitions changed since (the rebuild is still running). */
  readonly totalsRebuilding?: boolean;
  /** `excluded`: units exposed to more than one variation, under the variation of their first exposure (absent from older servers). */
  readonly variations: readonly { readonly key: string; readonly name: string | null; readonly expectedShare: number; readonly units: number; readonly excluded?: number }[];
  readonly srm: { readonly chiSquare: number; readonly pValue: number; readonly flagged: boolean; readonly error: StatsErrorView | null };
  readonly metrics: readonly MetricResultView[];
  readonly timeSeries: {
    readonly interval: string;
    readonly points: readonly {
      readonly bucket: string;
      readonly end: string;
      readonly units: Readonly<Record<string, number>>;
      /** `error`: the comparison failed at this point; its effect, interval and p-value are placeholders. */
      readonly metrics: readonly {
        readonly metric: string;
        readonly variation: string;
        readonly effect: number;
        readonly ci: readonly [number | null, number | null];
        /** Corrected for multiple comparisons as the summary's `adjustedCi` (absent from older servers). */
        readonly adjustedCi?: readonly [number | null, number | null];
        readonly pValue: number;
        readonly error?: StatsErrorView | null;
      }[];
    }[];
  };
  /** Caveats on reading the results (absent from older servers). */
  readonly warnings?: readonly ResultsWarningView[];
  readonly error: StatsErrorView | null;
}

export interface HealthView {
  readonly status: 'ok' | 'degraded';
  readonly source: string;
  readonly window: { readonly start: string; readonly end: string; readonly minutes: number };
  /** When the figures began to be counted, if inside the window (locally: the process's start); null when the whole window is covered. */
  readonly countingSince?: string | null;
  /** `degraded`: it answers, but its last write failed for lack of disk space (`databaseIssue`). */
  readonly database: 'ok' | 'degraded' | 'unreachable';
  /** Present while the database is `degraded`; absent from servers before 2026-12. */
  readonly databaseIssue?: { readonly reason: 'disk-full'; readonly since: string; readonly lastError: string };
  readonly metricsAvailable: boolean;
  readonly figures: readonly { readonly name: string; readonly statistic: string; readonly unit: string; readonly value: number | null }[];
  readonly pipeline: {
    readonly deadLetters: number | null;
    readonly retryingRecords: number | null;
    /** Locally: since when the aggregator's polls have been failing (null: they work), and the last error. */
    readonly aggregator?: {
      readonly failingSince: string | null;
      readonly lastError: string | null;
      /** Since when the poll in progress has been running, once it has run 30 s or more; null otherwise. */
      readonly stalledSince?: string | null;
    };
    /** The largest aggregation lag over the last `minutes` against the limit above which the platform is degraded. */
    readonly aggregationLag?: { readonly maxMs: number | null; readonly limitMs: number; readonly minutes: number; readonly exceeded: boolean };
    /** Locally: since when the raw event archive cannot be written (null: it can), and why. */
    readonly archive?: { readonly failingSince: string | null; readonly lastError: string | null };
    /** Windows in which stream records may have expired unread; degraded while one is open (an `xp replay` covering it resolves it). */
    readonly expiredWindows?: {
      readonly open: number;
      readonly latest: { readonly stream: string; readonly shardId: string; readonly from: string; readonly to: string; readonly detectedAt: string; readonly replay: string } | null;
    };
  };
  /** Environments whose last ruleset publish failed in this process: their SDKs keep the previous ruleset. */
  readonly unpublishedRulesets?: readonly { readonly project: string; readonly environment: string; readonly version: number; readonly since: string; readonly error: string }[];
}

export interface RolesView {
  readonly roles: readonly Role[];
  readonly permissions: readonly { readonly permission: string; readonly description: string; readonly roles: readonly Role[] }[];
}

/** An SDK key as the API lists it: never the key itself, only its display prefix. */
export interface SdkKeyView {
  readonly id: string;
  readonly environment: string;
  /** `server`: a secret for back ends; `client`: public, shipped in browsers and apps. */
  readonly kind: 'server' | 'client';
  readonly name: string;
  readonly prefix: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  /** When the SDK endpoints last accepted it (recorded at most once a minute); null if never. */
  readonly lastUsedAt: string | null;
  /** When a key being rotated out stops working; null if it works until revoked. */
  readonly expiresAt: string | null;
}

/** What an erasure deleted: the distinct units asked for, and the rows per table. */
export interface UnitErasureView {
  readonly units: number;
  readonly exposures: number;
  readonly unitMetricTotals: number;
  readonly unitEvents: number;
  readonly explorerEvents: number;
  readonly stickyAssignments: number;
  readonly deadLetters: number;
  /**
   * Result dimension values (`results_dimension_values`) deleted because no remaining unit has them
   * (an e-mail address the experiment broke results down by). Absent from servers before it was added.
   */
  readonly dimensionValues?: number;
}

/** The sections of a unit export (GET …/unit-export), named like the erasure's counts. */
export type UnitExportSectionName = 'exposures' | 'unitMetricTotals' | 'unitEvents' | 'explorerEvents' | 'stickyAssignments' | 'deadLetters' | 'resultsDimensionValues';

/** One section of a unit export: `items` from `offset`, out of `total` rows. */
export interface UnitExportSectionView<Item = Record<string, unknown>> {
  readonly total: number;
  readonly offset: number;
  /** More rows follow: ask again with this section and `offset: nextOffset`. */
  readonly truncated: boolean;
  readonly nextOffset?: number;
  /** The rows, their fields as docs/api.md lists them (camelCase columns; JSON columns as stored). */
  readonly items: readonly Item[];
}

/**
 * An event explorer row of a unit export: the unit's own event, or another unit's event that names
 * it in `units`, redacted (`redacted: true`): `unitId`, `value` and `properties` null, and `units`
 * holding only the identifiers whose value is the exported unit's id.
 */
export interface UnitExportExplorerEventView {
  readonly environment: string;
  readonly eventId: string;
  readonly type: 'exposure' | 'track';
  readonly unitId: string | null;
  readonly units: Record<string, string> | null;
  readonly name: string;
  readonly experiment: string | null;
  readonly variation: string | null;
  readonly flag: string | null;
  readonly value: number | null;
  readonly properties: unknown;
  readonly occurredAt: string;
  readonly receivedAt: string;
  readonly redacted?: true;
}

/**
 * A dead letter of a unit export: a record whose partition key is the unit, whole, or a record of
 * another partition key whose raw data names the unit, redacted (`redacted: true`: no
 * `partitionKey`, `data` or `encoding`).
 */
export interface UnitExportDeadLetterView {
  readonly id: number;
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey?: string;
  /** The raw record: text when it is UTF-8, else base64 (`encoding`). */
  readonly data?: string;
  readonly encoding?: 'utf8' | 'base64';
  readonly reason: string;
  readonly createdAt: string;
  readonly redacted?: true;
}

/** What GET …/unit-export answers: every section, or the one asked for. */
export interface UnitExportView {
  readonly unitId: string;
  readonly exportedAt: string;
  readonly sections: Partial<Record<Exclude<UnitExportSectionName, 'explorerEvents' | 'deadLetters'>, UnitExportSectionView>> & {
    readonly explorerEvents?: UnitExportSectionView<UnitExportExplorerEventView>;
    readonly deadLetters?: UnitExportSectionView<UnitExportDeadLetterView>;
  };
}

const counted = (n: number, one: string): string => `${n.toLocaleString('en-US')} ${one}${n === 1 ? '' : 's'}`;

/** The rows one erasure deleted, in words — "5 exposures, 12 metric totals, …" — as the CLI and the console say it. */
export function describeErasure(e: UnitErasureView): string {
  return [
    counted(e.exposures, 'exposure'),
    counted(e.unitMetricTotals, 'metric total'),
    counted(e.unitEvents, 'tracked event'),
    counted(e.explorerEvents, 'explorer event'),
    counted(e.stickyAssignments, 'sticky assignment'),
    counted(e.deadLetters, 'dead letter'),
  ].join(', ');
}

/** A service account (`/api/v1/service-accounts`): an organisation identity that never signs in; its tokens act as it. */
export interface ServiceAccount {
  readonly id: string;
  readonly kind: 'service';
  readonly name: string;
  readonly description: string | null;
  /** Its organisation role (never owner). */
  readonly role: Exclude<Role, 'owner'>;
  /** Its roles in single projects, in place of `role` there. */
  readonly projectRoles: readonly ProjectRole[];
  /** Its tokens answer 401 while it is disabled. */
  readonly disabled: boolean;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What DELETE /api/v1/service-accounts/{id} ended with the account. */
export interface ServiceAccountDeletion {
  readonly tokensRevoked: number;
  readonly changeRequestsCancelled: number;
  readonly scheduledChangesCancelled: number;
}

/** What creates a service account; in a PATCH each field is optional (`description: ''` removes it). */
export interface ServiceAccountInput {
  readonly name: string;
  readonly description?: string;
  readonly role: Exclude<Role, 'owner'>;
  readonly projectRoles?: readonly { readonly project: string; readonly role: Exclude<Role, 'owner'> }[];
}

export interface AccessTokenView {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
  /**
   * The most the token may do: its effective role is the lower of this and the user's current
   * role; null follows the user's role. Absent from an API older than token scopes (read as null).
   */
  readonly role?: Role | null;
  /** The project keys the token is limited to; null: every project. Absent from an older API (read as null). */
  readonly projects?: readonly string[] | null;
  /**
   * Who minted it: its person, or the administrator (a service account's name ends with
   * " (service account)") who minted a service account's; null: unknown. Absent from an older API.
   */
  readonly createdBy?: { readonly id: string; readonly name: string } | null;
}

/** An organisation's token policy as PUT /api/v1/organisation/token-policy takes it: lifetimes in days, null when unset. */
export interface TokenPolicyInput {
  readonly maxLifetimeDays: number | null;
  readonly defaultLifetimeDays: number | null;
}

/** The token policy as GET /api/v1/organisation/token-policy answers it. */
export interface TokenPolicyView extends TokenPolicyInput {
  /** Send it back to change the policy (If-Match); absent from an API older than the policy's versions. */
  readonly version?: number;
}

// --- Webhooks: request and response types ---------------------------------------------------

/** How a webhook's requests are written. */
export const WebhookFormat = {
  /** The change as JSON, signed (X-XP-Signature), for your own receivers. */
  Json: 'json',
  /** `{"text": "…"}`, for a Slack incoming webhook. */
  Slack: 'slack',
} as const;
export type WebhookFormat = (typeof WebhookFormat)[keyof typeof WebhookFormat];

/** Where a webhook delivery stands. */
export const DeliveryStatus = {
  /** Not sent yet, or to be tried again at `nextAttemptAt`. */
  Pending: 'pending',
  /** The receiver answered 2xx. */
  Succeeded: 'succeeded',
  /** Attempts used up, or refused for good (4xx other than 408 and 429). */
  Failed: 'failed',
} as const;
export type DeliveryStatus = (typeof DeliveryStatus)[keyof typeof DeliveryStatus];

/** A webhook as the API shows it: `url` is a preview (scheme://host/…), never the URL itself (it may hold a token). */
export interface Webhook {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly format: WebhookFormat;
  readonly events: readonly string[];
  /** null: every change of the project (project-wide ones included); a list: only changes made in those environments. */
  readonly environments: readonly string[] | null;
  readonly enabled: boolean;
  /** Send it back to change, delete or rotate the webhook (If-Match): a stale one is 409. */
  readonly version: number;
  /** Until when the secret replaced by the last rotation still signs too (a second v1 signature); null: it does not. */
  readonly previousSecretExpiresAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastDelivery: { readonly id: string; readonly status: DeliveryStatus; readonly statusCode: number | null; readonly at: string } | null;
}

/** POST …/webhooks: left out, `format` is json, `events` ['*'], `environments` null and `enabled` true. */
export interface WebhookCreate {
  readonly name: string;
  readonly url: string;
  readonly format?: WebhookFormat;
  /** '*', a resource's every action ('flag.*') or an action ('flag.updated'). */
  readonly events?: readonly string[];
  readonly environments?: readonly string[] | null;
  readonly enabled?: boolean;
}

/** PATCH …/webhooks/{id}: the fields to change; `url` only when it changes (the API never shows the current one). */
export type WebhookPatch = Partial<WebhookCreate>;

/** A webhook just created or given a new secret: the signing secret (whsec_…) is in this answer only. */
export interface WebhookWithSecret {
  readonly webhook: Webhook;
  readonly secret: string;
}

/** One delivery of a webhook (kept 30 days). */
export interface WebhookDelivery {
  /** Also sent as X-XP-Delivery: receivers deduplicate on it. */
  readonly id: string;
  readonly webhookId: string;
  /** The audit action ('flag.updated'), or 'webhook.test'. */
  readonly event: string;
  readonly auditId: number | null;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly statusCode: number | null;
  readonly error: string | null;
  /** The first kilobyte of the receiver's answer. */
  readonly response: string | null;
  readonly durationMs: number | null;
  readonly createdAt: string;
  readonly deliveredAt: string | null;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** One attempt of a delivery: what the receiver answered then. */
export interface WebhookDeliveryAttempt {
  /** 1 for the first try. */
  readonly attempt: number;
  /** When the attempt ended. */
  readonly at: string;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly response: string | null;
  readonly durationMs: number | null;
}

/** GET …/deliveries/{delivery}: the delivery and its every attempt, first to last. */
export interface WebhookDeliveryDetail extends WebhookDelivery {
  readonly attemptLog: readonly WebhookDeliveryAttempt[];
}
