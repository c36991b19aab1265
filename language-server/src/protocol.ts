/**
 * Every custom request and notification between the xp language server and its clients, typed in
 * one place. Generic LSP clients ignore them; the VS Code extension uses them for its Flags view,
 * status item and commands.
 */
import { NotificationType, RequestType, RequestType0 } from 'vscode-languageserver-protocol';

/** Settings, from initializationOptions or `workspace/didChangeConfiguration` ({ settings: { xp } }). */
export interface XpSettings {
  /** Management API base URL, e.g. http://localhost:8000. */
  readonly apiUrl?: string;
  /** Personal access token (never logged). */
  readonly token?: string;
  /** Project key; defaults to the flags file's project. */
  readonly project?: string;
  /** Environment shown first in hovers, code lenses and used for stale checks; default "production". */
  readonly environment?: string;
  /** Function names whose first argument is a flag key (your wrappers of the SDK). */
  readonly wrapperFunctions?: readonly string[];
  /** Flags-as-code file (the `xp export` format), relative to the (first) workspace folder. */
  readonly flagsFile?: string;
  /** Where fetched flag data is cached for offline use. */
  readonly cacheFile?: string;
  /** Web console base URL for links; defaults to the API URL with port 3000. */
  readonly consoleUrl?: string;
  /** Seconds between refreshes from the API (experiment results; definition changes also arrive on the change feed); 0 disables; default 60, at least 5. */
  readonly refreshIntervalSeconds?: number;
  /** Seconds an API request may take before it is abandoned (the cache is used meanwhile); default 10. */
  readonly requestTimeoutSeconds?: number;
  /** A flag fully rolled out for this many days is reported as stale; default 30. */
  readonly staleDays?: number;
  /** Files larger than this many characters are not indexed; default 1,000,000. */
  readonly maxFileSize?: number;
  /**
   * initializationOptions only: commands the client itself runs. A client listing
   * `xp.showFlag` (the VS Code extension) gets it in code lenses; any other gets `xp.server.showFlag`.
   */
  readonly clientCommands?: readonly string[];
}

/** Where the server's flag data currently comes from. */
export const DataSource = {
  /** Fetched from the management API just now. */
  Api: 'api',
  /** The API is unreachable; data from the cache file. */
  Cache: 'cache',
  /** No API configured; data from the flags-as-code file. */
  FlagsFile: 'flags-file',
  /** No flag data: references and completion from code only. */
  None: 'none',
} as const;
export type DataSource = (typeof DataSource)[keyof typeof DataSource];

export interface StatusParams {
  readonly source: DataSource;
  readonly project: string | null;
  readonly environment: string;
  readonly flags: number;
  /** Last successful fetch (ISO) for api and cache. */
  readonly fetchedAt: string | null;
  /** Why the API could not be used (if it is configured), why the flags file could not be read, or that the environment is not one of the project's. */
  readonly error: string | null;
  /** Workspace indexing state. */
  readonly indexing: boolean;
  readonly references: number;
  /** Following the API's change feed: flag changes arrive within about a second. */
  readonly live: boolean;
  /** The API refused the token (401: expired, revoked or mistyped): signing in again is the fix. */
  readonly tokenRefused?: boolean;
}

/** Server → client whenever the data source, flag count or indexing state changes (status item). */
export const StatusNotification = new NotificationType<StatusParams>('xp/status');

export interface FlagSummary {
  readonly key: string;
  readonly name: string;
  readonly type: string;
  /** active, archived, stale or unknown (in code but not in the project). */
  readonly state: 'active' | 'archived' | 'stale' | 'unknown';
  /** "ON 25%", "OFF" … in the configured environment. */
  readonly summary: string;
  readonly environments: readonly { readonly key: string; readonly enabled: boolean; readonly summary: string }[];
  readonly variations: readonly string[];
  readonly version: number | null;
  /** How many references the workspace has (also in xp/flagList, which leaves the references out). */
  readonly referenceCount: number;
  /** Every reference in the workspace; empty in xp/flagList's answer (ask xp/flagReferences). */
  readonly references: readonly FlagReferenceSummary[];
  /**
   * How often SDKs evaluated the key in the last `days` days (total 0, lastEvaluatedAt null: not
   * evaluated in them, or since `countingSince`). Absent when nothing is known — no counts in the
   * project (its SDKs may not report them), a flags file, an older server, a flag younger than the
   * window or of unknown age — where absence proves nothing.
   */
  readonly evaluations?: FlagEvaluationSummary;
}

export interface FlagEvaluationSummary {
  readonly days: number;
  /** 0: no SDK evaluated it in the last `days` days, or, with `countingSince`, since counting began then. */
  readonly total: number;
  readonly lastEvaluatedAt: string | null;
  /**
   * With a total of 0 only: counting began within the window, on this date (ISO), so "not evaluated in
   * `days` days" cannot be said, only "not evaluated since". Absent from servers before it: those
   * claimed the whole window.
   */
  readonly countingSince?: string;
  /**
   * The applications that evaluated it in the window (the SDK option `appName`; `app` null: SDKs that
   * named none), most evaluated first. Absent where the project's SDKs name no application in the
   * window, or from servers before applications were counted.
   */
  readonly apps?: readonly { readonly app: string | null; readonly count: number }[];
}

export interface FlagReferenceSummary {
  readonly uri: string;
  readonly line: number;
  readonly character: number;
  readonly snippet: string;
}

/** Client → server: every flag known or referenced, with its references (the Flags view). */
export const FlagsRequest = new RequestType0<{ readonly flags: readonly FlagSummary[] }, void>('xp/flags');

/**
 * Client → server: every flag known or referenced, as xp/flags, with `referenceCount` but no
 * `references`: the Flags view refetches it at every status, which in a workspace with tens of
 * thousands of references must not move megabytes; it asks each flag's references when expanded.
 */
export const FlagListRequest = new RequestType0<{ readonly flags: readonly FlagSummary[] }, void>('xp/flagList');

export interface FlagReferencesParams {
  readonly flagKey: string;
}
/** Client → server: one flag's references in the workspace (empty for a key nothing references). */
export const FlagReferencesRequest = new RequestType<FlagReferencesParams, { readonly references: readonly FlagReferenceSummary[] }, void>('xp/flagReferences');

/** Client → server: re-fetch flag data now (after the client changed a flag). */
export const RefreshRequest = new RequestType0<StatusParams, void>('xp/refresh');

export interface ExplainParams {
  readonly flagKey: string;
  /** User attributes, e.g. { id: "u1", country: "FR" }. */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Defaults to the configured environment. */
  readonly environment?: string;
}

export interface ExplainResult {
  readonly flagKey: string;
  readonly environment: string;
  readonly value: unknown;
  readonly variationKey: string | null;
  /** DEFAULT, TARGETING_MATCH, SPLIT, PREREQUISITE_FAILED, DISABLED, FLAG_NOT_FOUND, ERROR. */
  readonly reason: string;
  readonly ruleId: string | null;
  /** The unit's hash in [0, 1) when a rollout, split or experiment bucketed it. */
  readonly bucket: number | null;
  readonly experiment: { readonly key: string; readonly variationKey: string; readonly inExperiment: boolean } | null;
  readonly errorCode: string | null;
  readonly trace: readonly { readonly ruleId?: string; readonly outcome: string; readonly detail?: string }[];
  /** Where the data the ruleset came from is from: the API just now (api), the cache file, the flags file. */
  readonly rulesetSource: DataSource;
  /** The environment's published ruleset (true), or one compiled from the definitions (false: none published, or a flags file). */
  readonly rulesetPublished: boolean;
}

/**
 * Client → server: how a flag evaluates for a user in an environment, with reason and bucket.
 * Malformed params and an environment the project does not have are answered with an
 * InvalidParams error (see explainParamsProblem) rather than an evaluation.
 */
export const ExplainRequest = new RequestType<ExplainParams, ExplainResult, void>('xp/explain');

/** What is wrong with `params` as ExplainParams, or undefined when they are well-formed. */
export function explainParamsProblem(params: unknown): string | undefined {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    return 'params must be an object { flagKey, attributes, environment? }';
  }
  const p = params as Record<string, unknown>;
  if (typeof p.flagKey !== 'string' || p.flagKey === '') {
    return `flagKey must be a non-empty string (got ${describe(p.flagKey)})`;
  }
  if (p.attributes === null || typeof p.attributes !== 'object' || Array.isArray(p.attributes)) {
    return `attributes must be an object of user attributes, e.g. { "id": "user-1" } (got ${describe(p.attributes)})`;
  }
  if (p.environment !== undefined && (typeof p.environment !== 'string' || p.environment === '')) {
    return `environment must be a non-empty string when given (got ${describe(p.environment)})`;
  }
  return undefined;
}

function describe(value: unknown): string {
  if (value === undefined) {
    return 'nothing';
  }
  return Array.isArray(value) ? 'an array' : value === null ? 'null' : `${typeof value} ${JSON.stringify(value)}`.slice(0, 80);
}

/** Commands the server executes through `workspace/executeCommand` (code actions use them). */
export const ServerCommand = {
  /** Arguments [flagKey]: creates a boolean flag with that key through the API. */
  CreateFlag: 'xp.server.createFlag',
  /**
   * Arguments [flagKey]: the code lens's command in editors other than VS Code. Opens the flag in
   * the web console (window/showDocument, external) when the client can and the console's address
   * is known, else shows a one-line summary (window/showMessage).
   */
  ShowFlag: 'xp.server.showFlag',
} as const;

/**
 * The VS Code extension's own command for a code lens (a quick pick of flag actions). The server
 * never advertises it (vscode-languageclient would register it a second time); a client that has it
 * says so in initializationOptions.clientCommands.
 */
export const CLIENT_SHOW_FLAG_COMMAND = 'xp.showFlag';
