import { existsSync, lstatSync, readFileSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import type {
  CancellationToken,
  CompletionItem,
  Connection,
  DidChangeWatchedFilesParams,
  Disposable,
  FileEvent,
  FileSystemWatcher,
  InitializeParams,
  WorkDoneProgressServerReporter,
  InitializeResult,
  Location,
  Message,
  MessageStrategy,
  Position,
  SymbolInformation,
} from 'vscode-languageserver';
import {
  CodeActionKind,
  CodeActionRequest,
  CodeLensRequest,
  CompletionRequest,
  DefinitionRequest,
  ExecuteCommandRequest,
  HoverRequest,
  ReferencesRequest,
  WorkspaceSymbolRequest,
  CodeLensRefreshRequest,
  DidChangeWatchedFilesNotification,
  ErrorCodes,
  LSPErrorCodes,
  MessageType,
  MarkupKind,
  ResponseError,
  ShowDocumentRequest,
  ShowMessageNotification,
  SymbolKind,
  TextDocuments,
  TextDocumentSyncKind,
  WatchKind,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Flag } from '@xp/shared';
import { ApiError, DEFAULT_STALE_DAYS, evaluateFlag, FeedState, keySchema, POLLING_DETAIL, XpApiClient } from '@xp/shared';
import { apiUrlProblem, DEFAULT_REQUEST_TIMEOUT_SECONDS, redactCredentials, timedFetch } from './api-fetch.js';
import type { FeatureContext } from './features.js';
import { codeActions, codeLenses, consoleLink, contains, diagnostics, experimentOf, hover, keyCompletions, lensTitle, NO_DATA_CONFIGURED, preferredMarkup, referenceAt, staleFlagVariation, variationCompletions } from './features.js';
import type { FlagRecord, ProjectSnapshot } from './flag-data.js';
import { EMPTY_SNAPSHOT, EVALUATION_DAYS, absenceClaim, environmentSummary, namesApps, fetchSnapshot, flagKeyRangeInFile, knownEnvironments, readCache, readFlagsFile, rulesetFor, writeCache } from './flag-data.js';
import type { FileIndex } from './indexer/index.js';
import { defaultIndexThreads, SOURCE_EXTENSIONS, WorkspaceIndex } from './indexer/index.js';
import type { DataSource, ExplainParams, ExplainResult, FlagSummary, StatusParams, XpSettings } from './protocol.js';
import { CLIENT_SHOW_FLAG_COMMAND, ExplainRequest, explainParamsProblem, FlagListRequest, FlagReferencesRequest, FlagsRequest, RefreshRequest, ServerCommand, StatusNotification } from './protocol.js';

export interface ServerOptions {
  /** Injected clock (stale checks). */
  readonly now?: () => Date;
}

const FLAGS_FILE_CANDIDATES = ['xp.yaml', 'xp.yml', 'xp.json', 'flags.yaml', 'flags.yml', 'flags.json'];
const DEFAULT_ENVIRONMENT = 'production';
const DEFAULT_REFRESH_SECONDS = 60;
/** Periodic refresh is never more frequent than this (0 turns it off). */
export const MIN_REFRESH_SECONDS = 5;
/** How long the client may take to answer window/workDoneProgress/create before indexing goes on without progress. */
const PROGRESS_CREATE_TIMEOUT_MS = 2_000;
const SETTING_KEYS = ['apiUrl', 'token', 'project', 'environment', 'flagsFile', 'cacheFile', 'consoleUrl', 'refreshIntervalSeconds', 'staleDays', 'maxFileSize', 'requestTimeoutSeconds', 'wrapperFunctions'] as const;
/** Changes arriving together on the change feed (a change request applied, a script) cause one refetch. */
const FEED_DEBOUNCE_MS = 300;
/** Typing pauses shorter than this re-index once, not per keystroke. */
const CHANGE_DEBOUNCE_MS = 80;

function settingsFrom(value: unknown): XpSettings {
  if (value === null || typeof value !== 'object') {
    return {};
  }
  const v = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['apiUrl', 'token', 'project', 'environment', 'flagsFile', 'cacheFile', 'consoleUrl']) {
    if (typeof v[k] === 'string' && v[k] !== '') {
      out[k] = v[k];
    }
  }
  for (const k of ['refreshIntervalSeconds', 'staleDays', 'maxFileSize']) {
    if (typeof v[k] === 'number' && Number.isFinite(v[k]) && v[k] >= 0) {
      out[k] = v[k];
    }
  }
  if (typeof v.requestTimeoutSeconds === 'number' && Number.isFinite(v.requestTimeoutSeconds) && v.requestTimeoutSeconds > 0) {
    out.requestTimeoutSeconds = v.requestTimeoutSeconds;
  }
  if (Array.isArray(v.wrapperFunctions)) {
    out.wrapperFunctions = v.wrapperFunctions.filter((w): w is string => typeof w === 'string');
  }
  return out;
}

/** What each setting takes, for the warning about a value that was ignored. */
const SETTING_TYPES: Readonly<Record<(typeof SETTING_KEYS)[number], string>> = {
  apiUrl: 'a URL',
  token: 'a string',
  project: 'a project key',
  environment: 'an environment key',
  flagsFile: 'a path',
  cacheFile: 'a path',
  consoleUrl: 'a URL',
  refreshIntervalSeconds: 'a number of seconds, 0 or more',
  staleDays: 'a number of days, 0 or more',
  maxFileSize: 'a number of bytes, 0 or more',
  requestTimeoutSeconds: 'a number of seconds above 0',
  wrapperFunctions: 'a list of function names',
};

const isSettingKey = (k: string): k is (typeof SETTING_KEYS)[number] => (SETTING_KEYS as readonly string[]).includes(k);

/**
 * What a settings object holds that is ignored, in words for a warning: names the server does not
 * know (a typo, or settings nested one level too deep or not deep enough) and values of the wrong
 * type. null and '' are not problems: they put a setting back to its default.
 */
export function settingsProblems(value: unknown, otherKeys: readonly string[] = []): string[] {
  if (value === undefined || value === null) {
    return [];
  }
  if (!isRecord(value)) {
    return [`the settings must be an object, not ${Array.isArray(value) ? 'an array' : typeof value}`];
  }
  const problems: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (!isSettingKey(k)) {
      if (!otherKeys.includes(k)) {
        problems.push(`unknown setting "${k.slice(0, 64)}" (the settings are ${SETTING_KEYS.join(', ')})`);
      }
    } else if (v !== null && v !== '' && (!(k in settingsFrom({ [k]: v })) || (k === 'wrapperFunctions' && (v as unknown[]).some((w) => typeof w !== 'string')))) {
      problems.push(`setting "${k}" ignored: it takes ${SETTING_TYPES[k]}, not ${JSON.stringify(v).slice(0, 64)}`);
    }
  }
  return problems;
}

/**
 * The settings in initializationOptions: flat (`{ apiUrl, … }`), or under `xp` as in the
 * workspace/didChangeConfiguration section (`{ xp: { apiUrl, … } }`), which editors' configurations
 * often copy; `clientCommands` sits beside them.
 */
function initialSettingsSource(options: unknown): unknown {
  if (isRecord(options) && isRecord(options.xp) && !Object.keys(options).some(isSettingKey)) {
    return options.xp;
  }
  return options;
}

/**
 * The settings after a `workspace/didChangeConfiguration` section: a key absent from it keeps its
 * value, a key set to null or '' goes back to its default (an apiUrl cleared: no API; a token
 * cleared: no token, XP_TOKEN of the environment included), any other key takes the new value.
 */
export function updatedSettings(current: XpSettings, next: unknown): XpSettings {
  if (next === null || typeof next !== 'object') {
    return current;
  }
  const v = next as Record<string, unknown>;
  const cleared = new Set(SETTING_KEYS.filter((k) => Object.hasOwn(v, k) && (v[k] === null || v[k] === '')));
  const kept = Object.fromEntries(Object.entries(current).filter(([k]) => !cleared.has(k as (typeof SETTING_KEYS)[number]))) as XpSettings;
  return { ...kept, ...settingsFrom(next) };
}

/** What a request's params lack for its handler to read them, for an InvalidParams answer; undefined when they are well formed. */
interface ParamsCheck {
  readonly method: string;
  readonly problem: (params: unknown) => string | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isPosition(value: unknown): boolean {
  const index = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  return isRecord(value) && index(value.line) && index(value.character);
}

function documentProblem(params: unknown): string | undefined {
  return isRecord(params) && isRecord(params.textDocument) && typeof params.textDocument.uri === 'string' ? undefined : 'textDocument.uri must be a string';
}

function positionProblem(params: unknown): string | undefined {
  return documentProblem(params) ?? (isPosition((params as Record<string, unknown>).position) ? undefined : 'position must be { line, character } with non-negative integers');
}

function codeActionProblem(params: unknown): string | undefined {
  const problem = documentProblem(params);
  if (problem !== undefined) {
    return problem;
  }
  const { range, context } = params as Record<string, unknown>;
  if (!isRecord(range) || !isPosition(range.start) || !isPosition(range.end)) {
    return 'range must be { start, end } positions';
  }
  return isRecord(context) && Array.isArray(context.diagnostics) ? undefined : 'context.diagnostics must be an array';
}

const PARAMS = {
  hover: { method: 'textDocument/hover', problem: positionProblem },
  codeLens: { method: 'textDocument/codeLens', problem: documentProblem },
  completion: { method: 'textDocument/completion', problem: positionProblem },
  codeAction: { method: 'textDocument/codeAction', problem: codeActionProblem },
  references: { method: 'textDocument/references', problem: positionProblem },
  definition: { method: 'textDocument/definition', problem: positionProblem },
  workspaceSymbol: { method: 'workspace/symbol', problem: (p: unknown) => (isRecord(p) && typeof p.query === 'string' ? undefined : 'query must be a string') },
  executeCommand: {
    method: 'workspace/executeCommand',
    problem: (p: unknown) => (isRecord(p) && typeof p.command === 'string' && (p.arguments === undefined || Array.isArray(p.arguments)) ? undefined : 'command must be a string and arguments an array'),
  },
} as const satisfies Record<string, ParamsCheck>;

/** The answer to a request before initialize (the protocol's ServerNotInitialized). */
function notInitialized(): ResponseError {
  return new ResponseError(ErrorCodes.ServerNotInitialized, 'the server is not initialized: send initialize first');
}

/** The answer to a request after shutdown (the protocol's InvalidRequest). */
function shuttingDown(): ResponseError {
  return new ResponseError(ErrorCodes.InvalidRequest, 'the server is shutting down');
}

/** The answer to a request cancelled before it finished (`$/cancelRequest`). */
function cancelled(): ResponseError {
  return new ResponseError(LSPErrorCodes.RequestCancelled, 'request cancelled');
}

/** File events handled between two yields to the event loop: a branch switch's thousands must not hold up requests. */
const FILE_EVENT_BATCH = 100;

/** What is at a path now, a symbolic link not followed. */
type PathKind = 'file' | 'folder' | 'link' | 'other' | 'none';

function pathKind(file: string): PathKind {
  try {
    const stat = lstatSync(file);
    return stat.isFile() ? 'file' : stat.isDirectory() ? 'folder' : stat.isSymbolicLink() ? 'link' : 'other';
  } catch {
    return 'none';
  }
}

/** The well-formed events of workspace/didChangeWatchedFiles params (a file URI each), or undefined when `changes` is not a list. */
function fileEventsOf(params: unknown): { readonly events: FileEvent[]; readonly dropped: number } | undefined {
  if (!isRecord(params) || !Array.isArray(params.changes)) {
    return undefined;
  }
  const changes: unknown[] = params.changes;
  const events = changes.filter((c): c is FileEvent => isRecord(c) && typeof c.uri === 'string');
  return { events, dropped: changes.length - events.length };
}

/** The flags file at `dir`'s root, if any (the candidate names in order). */
function flagsFileIn(dir: string): string | undefined {
  return FLAGS_FILE_CANDIDATES.map((c) => path.join(dir, c)).find((f) => existsSync(f));
}

/** The flags file in `file`'s folder or the closest parent that has one. */
function flagsFileAbove(file: string): string | undefined {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const found = flagsFileIn(dir);
    if (found !== undefined || path.dirname(dir) === dir) {
      return found;
    }
  }
}

/** A workspace folder's path from its URI, normalised (`file:///ws/` and `file:///ws` are one folder); undefined for other schemes. */
function folderPath(uri: unknown): string | undefined {
  if (typeof uri !== 'string' || !uri.startsWith('file:')) {
    return undefined;
  }
  try {
    return path.resolve(fileURLToPath(uri));
  } catch {
    // A file URI no path stands for (a remote host's): not a folder we can read.
    return undefined;
  }
}

/**
 * The workspace folders an initialize names: its workspaceFolders, else rootUri, else rootPath
 * (older clients send only that; rootUri may be absent as well as null). None at all, or an empty
 * list, is no folder: a single file opened, nothing indexed but the open documents.
 */
function initialFolders(params: InitializeParams): string[] {
  const listed = Array.isArray(params.workspaceFolders) ? params.workspaceFolders.map((f) => folderPath((f as { uri?: unknown } | null)?.uri)) : [];
  /* eslint-disable @typescript-eslint/no-deprecated -- clients without workspace folders send rootUri, the oldest rootPath only */
  // Typed as always present, but a client sending rootPath may leave rootUri out.
  const rootUri = params.rootUri as string | null | undefined;
  const root =
    rootUri !== null && rootUri !== undefined
      ? folderPath(rootUri)
      : typeof params.rootPath === 'string' && params.rootPath !== ''
        ? path.resolve(params.rootPath)
        : undefined;
  /* eslint-enable @typescript-eslint/no-deprecated */
  const paths = (listed.length > 0 ? listed : [root]).filter((f): f is string => f !== undefined);
  return [...new Set(paths)];
}

function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    return redactCredentials(`${e.status} ${e.code}: ${e.message}`);
  }
  return redactCredentials(e instanceof Error ? e.message : String(e));
}

/** Resolves as `promise` does, or rejects after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

/** The request a request with `"params": null` is turned into, answered with InvalidParams (see nullParamsStrategy). */
const NULL_PARAMS_METHOD = '$/xp/nullParams';

/**
 * A connection option (`messageStrategy`) turning a request whose params are null into
 * NULL_PARAMS_METHOD with the same id, before the library's own handlers read the params
 * (`initialize` reads `params.processId`, the feature handlers `params.workDoneToken`): JSON-RPC
 * params are an object, an array or absent, so null is InvalidParams, not InternalError.
 */
export const nullParamsStrategy: MessageStrategy = {
  handleMessage(message, next) {
    const request = message as { id?: unknown; method?: unknown; params?: unknown };
    if (request.params === null && typeof request.method === 'string' && request.id !== undefined) {
      return next({ ...message, method: NULL_PARAMS_METHOD, params: { method: request.method } } as Message);
    }
    return next(message);
  },
};

/** Wires the language features to a connection; returns when the connection is listening. */
export function startServer(connection: Connection, options: ServerOptions = {}): void {
  const now = options.now ?? (() => new Date());
  const documents = new TextDocuments(TextDocument);
  // The workspace folders, all indexed; the first one holds the flags file (relative flagsFile, cache key).
  // None (a single file opened): nothing is indexed but the open documents, never the process's cwd.
  let folders: string[] = [];
  // Where relative settings (flagsFile, cacheFile) resolve: the first folder, else where the editor started us.
  const root = (): string => folders[0] ?? process.cwd();
  // The folders reached through a symbolic link, by real path: a document or event spelled by the real path is indexed under the folder's spelling.
  let linkedFolders: readonly { readonly real: string; readonly folder: string }[] = [];
  const setFolders = (next: string[]): void => {
    folders = next;
    linkedFolders = next.flatMap((folder) => {
      let real: string;
      try {
        real = realpathSync(folder);
      } catch {
        // Not there (yet): nothing can be spelled through it.
        return [];
      }
      // A real path opened as a folder of its own keeps its spelling.
      return real === folder || next.includes(real) ? [] : [{ real, folder }];
    });
  };
  /** `file` spelled under the workspace folder when it is under the folder's real path, else as it is. */
  const workspaceSpelling = (file: string): string => {
    for (const { real, folder } of linkedFolders) {
      if (file.startsWith(real) && (file.length === real.length || file[real.length] === path.sep)) {
        return folder + file.slice(real.length);
      }
    }
    return file;
  };
  let settings: XpSettings = {};
  // The lifecycle (LSP 3.17): before initialize, requests fail with ServerNotInitialized and notifications
  // other than exit are dropped; a second initialize is refused; after shutdown, requests fail with InvalidRequest.
  let initializeReceived = false;
  let shutDown = false;
  let index = new WorkspaceIndex(folders);
  let snapshot: ProjectSnapshot = EMPTY_SNAPSHOT;
  let flags = new Map<string, FlagRecord>();
  let lastError: string | null = null;
  /** The last API failure was the token being refused (401). */
  let tokenRefused = false;
  let indexing = false;
  let indexRun = { isCancellationRequested: false };
  let codeLensRefresh = false;
  // The client watches files for us when it can register watchers (VS Code, Neovim, Zed, eglot…).
  let watchRegistration = false;
  let relativePatterns = false;
  let watching: { readonly key: string; readonly registration: Promise<Disposable | undefined> } | undefined;
  // File events and workspace folder changes are handled one after another: a folder's refresh and a file's re-index must not interleave.
  let indexUpdates: Promise<void> = Promise.resolve();
  let workspaceFolderEvents = false;
  let refreshTimer: NodeJS.Timeout | undefined;
  // The API's change feed: a change to a definition refetches the flag data (debounced).
  let feed: { readonly key: string; readonly close: () => void } | undefined;
  let feedState: FeedState = FeedState.Stopped;
  /** Why the change feed is retrying (its last failure), until it is live again or stops. */
  let feedRetrying: string | null = null;
  /** What the client takes: its hover format, window/showDocument, the lens command it runs itself. */
  let hoverMarkup: MarkupKind = MarkupKind.Markdown;
  let showDocument = false;
  let lensCommand: string = ServerCommand.ShowFlag;
  let feedReload: NodeJS.Timeout | undefined;
  const indexedVersions = new Map<string, number>();
  const pendingChanges = new Map<string, NodeJS.Timeout>();

  // A notification, not window/showMessageRequest: clients that do not answer requests must not stall or crash us.
  const notify = (type: MessageType, message: string): void => {
    void connection.sendNotification(ShowMessageNotification.type, { type, message });
  };
  const environment = (): string => settings.environment ?? DEFAULT_ENVIRONMENT;
  /** Why the configured apiUrl cannot be used (malformed, credentials in it), or null. */
  const apiProblem = (): string | null => (settings.apiUrl === undefined ? null : (apiUrlProblem(settings.apiUrl) ?? null));
  const apiClient = (): XpApiClient | undefined =>
    settings.apiUrl === undefined || settings.token === undefined || apiProblem() !== null
      ? undefined
      : new XpApiClient({ apiUrl: settings.apiUrl, token: settings.token, client: 'vscode', fetch: timedFetch(settings.requestTimeoutSeconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS) });
  /** The periodic refresh's interval in seconds; 0 when it is off. */
  const refreshSeconds = (): number => {
    const seconds = settings.refreshIntervalSeconds ?? DEFAULT_REFRESH_SECONDS;
    return seconds === 0 ? 0 : Math.max(MIN_REFRESH_SECONDS, seconds);
  };

  const flagsFilePath = (): string | undefined => {
    if (settings.flagsFile !== undefined) {
      return path.resolve(root(), settings.flagsFile);
    }
    // At a folder's root, the first folder first.
    for (const folder of folders) {
      const found = flagsFileIn(folder);
      if (found !== undefined) {
        return found;
      }
    }
    return folders.length === 0 ? nearestFlagsFile() : undefined;
  };
  /**
   * Without a workspace folder (a single file opened): the flags file nearest an open document, in
   * its folder or the closest parent, the first document opened first; there is no root to look in.
   */
  const nearestFlagsFile = (): string | undefined => {
    for (const doc of documents.all()) {
      const file = fileOf(doc.uri);
      const found = file === undefined ? undefined : flagsFileAbove(file);
      if (found !== undefined) {
        return found;
      }
    }
    return undefined;
  };
  /** The flags file the last load read (or tried to), to tell when another one applies. */
  let loadedFlagsFile: string | undefined;
  /** Whether `file` is, or would be when created, the flags file (a deleted one too). */
  const isFlagsFile = (file: string): boolean =>
    settings.flagsFile !== undefined
      ? file === path.resolve(root(), settings.flagsFile)
      : file === loadedFlagsFile || (folders.includes(path.dirname(file)) && FLAGS_FILE_CANDIDATES.includes(path.basename(file)));
  const cacheFilePath = (project: string): string => {
    if (settings.cacheFile !== undefined) {
      return path.resolve(root(), settings.cacheFile);
    }
    const id = createHash('sha256').update(`${settings.apiUrl ?? ''}\n${root()}\n${project}`).digest('hex').slice(0, 16);
    return path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'xp', 'language-server', `${id}.json`);
  };
  const consoleUrl = (): string | undefined => {
    if (settings.consoleUrl !== undefined) {
      return settings.consoleUrl;
    }
    if (settings.apiUrl === undefined || apiProblem() !== null) {
      return undefined;
    }
    try {
      const url = new URL(settings.apiUrl);
      // The local stack's defaults serve the API on 8000 and the console on 3000. Anywhere else the
      // console's address cannot be told from the API's (another port, another host): no link rather
      // than a link to the API. The console is served at the root of its port (docs/console.md): a
      // path in the API URL (a proxy's prefix) is not the console's, hence the origin alone. The VS
      // Code extension's commands follow the same rule (localConsoleUrl in vscode-extension).
      if (url.port !== '8000') {
        return undefined;
      }
      url.port = '3000';
      return url.origin;
    } catch {
      return undefined;
    }
  };

  const context = (): FeatureContext => ({
    snapshot,
    flags,
    environment: environment(),
    consoleUrl: consoleUrl(),
    staleDays: settings.staleDays ?? DEFAULT_STALE_DAYS,
    now: now(),
    workspaceKeys: index.keys(),
    canCreateFlags: apiClient() !== undefined && snapshot.source === 'api',
    markup: hoverMarkup,
    lensCommand,
    noDataReason: noDataReason(),
  });

  /** Why there is no flag data, with what fixes it: the API's failure when one is configured. */
  const noDataReason = (): string => {
    if (settings.apiUrl === undefined) {
      return lastError === null ? NO_DATA_CONFIGURED : `No flag data: ${lastError}.`;
    }
    const problem = apiProblem();
    if (problem !== null) {
      return `No flag data: ${problem}.`;
    }
    if (settings.token === undefined) {
      return 'No flag data: an API URL is set but no token: sign in, or set the token setting or XP_TOKEN.';
    }
    if (tokenRefused) {
      return 'No flag data: the API refused the token (expired, revoked or mistyped): sign in again or use a new token.';
    }
    return lastError === null ? 'No flag data from the API yet, and no cache.' : `No flag data: the API could not be used (${lastError}) and there is no cache.`;
  };

  const status = (): StatusParams => ({
    source: snapshot.source,
    project: snapshot.project === '' ? null : snapshot.project,
    environment: environment(),
    flags: flags.size,
    fetchedAt: snapshot.fetchedAt,
    // A retrying change feed's failure, when nothing else went wrong: why the status is not live.
    error: lastError ?? (feedRetrying === null ? null : `change feed retrying: ${feedRetrying}`),
    indexing,
    references: index.references().length,
    // Live only while the API's data is shown: never beside a refused token or cached data.
    live: feedState === FeedState.Live && !tokenRefused && snapshot.source === 'api',
    ...(tokenRefused ? { tokenRefused } : {}),
  });
  /** Set once the first flag data load finished: a status before it would say "no data" while the data is on its way. */
  let dataLoaded = false;
  let lastStatus: string | undefined;
  /** Sends the status; with `onlyIfChanged` (change feed states), not when it is the one sent last. */
  const sendStatus = (onlyIfChanged = false): void => {
    if (!dataLoaded) {
      return;
    }
    const next = status();
    const text = JSON.stringify(next);
    if (onlyIfChanged && text === lastStatus) {
      return;
    }
    lastStatus = text;
    void connection.sendNotification(StatusNotification, next);
  };

  /**
   * The path a file URI names; undefined for another scheme and for a file URI no path can stand for
   * (`file:///a%2Fb.ts`: an encoded '/', which fileURLToPath refuses): such a document is served as one
   * that is not on disk, not indexed. A path under the real path of a folder reached through a symbolic
   * link is spelled under the folder, as the cold index lists it: one file, one entry.
   */
  const fileOf = (uri: string): string | undefined => {
    if (!uri.startsWith('file:')) {
      return undefined;
    }
    try {
      return workspaceSpelling(fileURLToPath(uri));
    } catch {
      return undefined;
    }
  };
  const uriOf = (file: string): string => pathToFileURL(file).href;

  /** The index of an open document at its current version. */
  const ensureCurrent = async (doc: TextDocument): Promise<FileIndex | undefined> => {
    const file = fileOf(doc.uri);
    if (file === undefined) {
      return undefined;
    }
    if (indexedVersions.get(doc.uri) !== doc.version) {
      const version = doc.version;
      const result = await index.indexText(file, doc.getText());
      indexedVersions.set(doc.uri, version);
      return result;
    }
    return index.fileIndex(file);
  };

  const publishDiagnostics = async (doc: TextDocument): Promise<void> => {
    const version = doc.version;
    const fileIndex = await ensureCurrent(doc);
    // A newer edit arrived while indexing: its own run publishes.
    if (documents.get(doc.uri)?.version !== version) {
      return;
    }
    await connection.sendDiagnostics({ uri: doc.uri, version, diagnostics: diagnostics(context(), fileIndex) });
  };

  const refreshEditors = (): void => {
    for (const doc of documents.all()) {
      void publishDiagnostics(doc);
    }
    if (codeLensRefresh) {
      connection.sendRequest(CodeLensRefreshRequest.type).catch((e: unknown) => {
        // A client may advertise refreshSupport and still refuse the request (or not implement it):
        // its lenses then refresh when it asks for them, and asking again would only repeat the error.
        if (codeLensRefresh) {
          codeLensRefresh = false;
          connection.console.log(`xp: the editor refused workspace/codeLens/refresh (${describeError(e)}); not asking again`);
        }
      });
    }
    sendStatus();
  };

  const setSnapshot = (next: ProjectSnapshot): void => {
    snapshot = next;
    flags = new Map(next.flags.map((f) => [f.key, f]));
  };

  /** Loads in flight, and the number of the latest started: an older load finishing late changes nothing. */
  let loading = 0;
  let loadSeq = 0;
  const loadData = async (): Promise<void> => {
    loading++;
    try {
      await loadDataOnce(++loadSeq);
    } finally {
      loading--;
    }
  };
  const loadDataOnce = async (seq: number): Promise<void> => {
    const client = apiClient();
    const file = flagsFilePath();
    loadedFlagsFile = file;
    let fileSnapshot: ProjectSnapshot | undefined;
    let fileError: string | null = null;
    if (file !== undefined) {
      try {
        fileSnapshot = readFlagsFile(file);
      } catch (e) {
        fileError = `cannot read flags file ${path.relative(folders.find((f) => file.startsWith(f + path.sep)) ?? root(), file)}: ${describeError(e).split('\n')[0]!}`;
        connection.console.warn(`xp: cannot read flags file ${file}: ${describeError(e)}`);
      }
    }
    if (client === undefined) {
      unfollow();
      tokenRefused = false;
      // A flags file saved half-edited keeps the flags last read from it until it reads again.
      setSnapshot(fileSnapshot ?? (fileError !== null && snapshot.source === 'flags-file' ? snapshot : EMPTY_SNAPSHOT));
      const problem = apiProblem();
      if (problem !== null) {
        connection.console.warn(`xp: not using the API: ${problem}`);
      }
      lastError = problem ?? fileError ?? environmentProblem();
      return;
    }
    let project = settings.project ?? (fileSnapshot?.project === '' ? undefined : fileSnapshot?.project);
    try {
      project ??= (await client.projects())[0]?.key;
      if (project === undefined) {
        throw new Error('no project: set xp.project');
      }
      const fetched = await fetchSnapshot(client, project, environment(), now());
      if (seq !== loadSeq) {
        // A newer load started meanwhile (settings changed, a later refresh): its data wins.
        return;
      }
      setSnapshot(fetched);
      lastError = environmentProblem();
      tokenRefused = false;
      follow(project);
      try {
        writeCache(cacheFilePath(project), fetched);
      } catch (e) {
        connection.console.warn(`xp: cannot write the cache file: ${describeError(e)}`);
      }
    } catch (e) {
      if (seq !== loadSeq) {
        return;
      }
      tokenRefused = e instanceof ApiError && e.status === 401;
      // The feed of other settings (the token or project before) must not keep the status live, nor a
      // feed of a refused token; the current settings' feed reports its own failures (it stops on
      // 401 / 404, retries otherwise).
      if (project === undefined || feed?.key !== feedKey(project) || tokenRefused) {
        unfollow();
      }
      lastError = describeError(e);
      connection.console.warn(`xp: flag data from the API failed (${lastError}); using the cache or flags file`);
      const cached = project === undefined ? undefined : readCache(cacheFilePath(project), project);
      setSnapshot(cached ?? fileSnapshot ?? EMPTY_SNAPSHOT);
    }
  };

  /** The configured environment, when the project's environments are known and it is not one of them. */
  const environmentProblem = (): string | null => {
    const known = knownEnvironments(snapshot);
    const env = environment();
    if (known.size === 0 || known.has(env)) {
      return null;
    }
    const project = snapshot.project === '' ? 'the project' : snapshot.project;
    return `unknown environment "${env}" (${project} has ${[...known].sort().join(', ')})`;
  };

  /** Which API, token and project a change feed follows. */
  const feedKey = (project: string): string => createHash('sha256').update(`${settings.apiUrl ?? ''}\n${settings.token ?? ''}\n${project}`).digest('hex');

  const unfollow = (): void => {
    clearTimeout(feedReload);
    feed?.close();
    feed = undefined;
    feedState = FeedState.Stopped;
    feedRetrying = null;
  };

  /** Follows `project`'s change feed with the current API settings (restarted when they change). */
  const follow = (project: string): void => {
    const client = apiClient();
    if (client === undefined) {
      unfollow();
      return;
    }
    const key = feedKey(project);
    // A feed that stopped (a 401 since cured, a 404) starts again once a fetch with the same settings succeeded.
    if (feed?.key === key && feedState !== FeedState.Stopped) {
      return;
    }
    unfollow();
    const following = client.followChanges(project, {
      onChange: () => {
        clearTimeout(feedReload);
        feedReload = setTimeout(() => void reload(), FEED_DEBOUNCE_MS);
      },
      onState: (state, detail) => {
        if (feed?.key !== key) {
          return;
        }
        feedState = state;
        // Connecting between retries keeps the reason; live or stopped ends it.
        if (state === FeedState.Retrying) {
          // Polling (an API behind API Gateway answers each stream at once) is how that API is followed, not a failure.
          feedRetrying = detail === POLLING_DETAIL ? null : redactCredentials(detail ?? 'the stream failed');
        } else if (state !== FeedState.Connecting) {
          feedRetrying = null;
        }
        if (state === FeedState.Stopped && detail !== 'closed') {
          const seconds = refreshSeconds();
          const then = seconds > 0 && apiClient() !== undefined ? `refreshing every ${seconds} s` : 'periodic refresh is off (refreshIntervalSeconds 0)';
          connection.console.warn(`xp: not following changes (${detail ?? 'stopped'}); ${then}`);
          if (detail?.endsWith(' 401') === true) {
            // The token was revoked or expired mid-session: signing in again is the fix.
            tokenRefused = true;
            lastError = `401 UNAUTHORIZED: the API refused the token (${detail})`;
          } else {
            lastError ??= `not following changes: ${detail ?? 'stopped'}`;
          }
        }
        // A retrying feed goes connecting → retrying every few seconds: the same status is not sent again.
        sendStatus(true);
      },
    });
    feed = { key, close: () => { following.close(); } };
  };

  const reload = async (): Promise<void> => {
    await loadData();
    refreshEditors();
  };

  const scheduleRefresh = (): void => {
    if (refreshTimer !== undefined) {
      clearInterval(refreshTimer);
      refreshTimer = undefined;
    }
    const seconds = refreshSeconds();
    if (seconds > 0 && apiClient() !== undefined) {
      refreshTimer = setInterval(() => {
        // One load at a time: a tick while a load runs (a slow API) is skipped, not queued.
        if (loading === 0) {
          void reload();
        }
      }, seconds * 1000);
      refreshTimer.unref();
    }
  };

  /**
   * A work-done progress, or undefined when the client refuses one (an error answer, allowed by the
   * protocol) or does not answer in time: indexing then goes on without progress.
   */
  const createProgress = async (): Promise<WorkDoneProgressServerReporter | undefined> => {
    try {
      return await within(connection.window.createWorkDoneProgress(), PROGRESS_CREATE_TIMEOUT_MS, 'window/workDoneProgress/create');
    } catch (e) {
      connection.console.log(`xp: indexing without progress: the editor did not accept a progress token (${describeError(e)})`);
      return undefined;
    }
  };

  const indexWorkspace = async (): Promise<void> => {
    indexRun.isCancellationRequested = true;
    const run = { isCancellationRequested: false };
    indexRun = run;
    index = new WorkspaceIndex(folders, {
      wrapperFunctions: settings.wrapperFunctions ?? [],
      workers: defaultIndexThreads(),
      ...(settings.maxFileSize === undefined ? {} : { maxFileSize: settings.maxFileSize }),
    });
    indexedVersions.clear();
    indexing = true;
    sendStatus();
    // No folder, nothing to list: no progress to show.
    const progress = folders.length === 0 ? undefined : await createProgress();
    progress?.begin('xp: indexing flag references', 0, 'listing files', false);
    const started = Date.now();
    let total = 0;
    const completed = await index.indexAll((p) => {
      total = p.total;
      progress?.report(p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100), `${p.done}/${p.total} files`);
    }, run);
    progress?.done();
    if (!completed || run !== indexRun) {
      return;
    }
    indexing = false;
    connection.console.log(`xp: indexed ${total} files in ${Date.now() - started} ms, ${index.references().length} flag references`);
    refreshEditors();
  };

  /**
   * What the client watches for us: every file the index reads, the flags file, the .gitignore files
   * (a change to one re-lists its folder) and folders created or deleted.
   */
  const fileWatchers = (): FileSystemWatcher[] => {
    const watchers: FileSystemWatcher[] = [
      // Changes only: creations and deletions come from the last watcher.
      { globPattern: `**/*.{${SOURCE_EXTENSIONS.join(',')}}`, kind: WatchKind.Change },
      { globPattern: `**/{${[...FLAGS_FILE_CANDIDATES, '.gitignore'].join(',')}}`, kind: WatchKind.Change },
      // Folders too: a folder deleted, renamed or moved in is one event for its own path, which no glob with an extension matches.
      { globPattern: '**/*', kind: WatchKind.Create | WatchKind.Delete },
    ];
    if (settings.flagsFile !== undefined) {
      // A configured flags file may be anywhere, outside the workspace too: exactly it when the client takes relative patterns.
      const file = path.resolve(root(), settings.flagsFile);
      watchers.push({ globPattern: relativePatterns ? { baseUri: uriOf(path.dirname(file)), pattern: path.basename(file) } : `**/${path.basename(file)}` });
    }
    return watchers;
  };

  /** Registers fileWatchers() with the client, replacing the previous registration when they changed. */
  const watchFiles = (): void => {
    if (!watchRegistration) {
      return;
    }
    const watchers = fileWatchers();
    const key = JSON.stringify(watchers);
    if (watching?.key === key) {
      return;
    }
    const previous = watching?.registration;
    const registration = (async () => {
      (await previous)?.dispose();
      return connection.client.register(DidChangeWatchedFilesNotification.type, { watchers });
    })().catch((e: unknown) => {
      connection.console.warn(`xp: the editor refused to watch files (${describeError(e)}); files changed outside the editor are re-read when opened`);
      return undefined;
    });
    watching = { key, registration };
  };

  /** Whether a file is open in the editor now (indexed from the editor's text, not the disk). */
  const openFiles = (): ((file: string) => boolean) => {
    const open = new Set(documents.all().map((d) => fileOf(d.uri)));
    return (file) => open.has(file);
  };

  const queueIndexUpdate = (update: () => Promise<void>): void => {
    indexUpdates = indexUpdates.then(update).catch((e: unknown) => {
      connection.console.error(`xp: updating the index failed: ${describeError(e)}`);
    });
  };

  /** Workspace folders added and removed at run time (workspace/didChangeWorkspaceFolders). */
  const changeFolders = async (addedUris: readonly string[], removedUris: readonly string[]): Promise<void> => {
    const paths = (uris: readonly string[]): string[] => uris.map(folderPath).filter((f): f is string => f !== undefined);
    const removed = paths(removedUris).filter((f) => folders.includes(f));
    const added = [...new Set(paths(addedUris))].filter((f) => !folders.includes(f) || removed.includes(f));
    if (removed.length === 0 && added.length === 0) {
      return;
    }
    const flagsFileBefore = flagsFilePath();
    setFolders([...folders.filter((f) => !removed.includes(f)), ...added]);
    connection.console.log(`xp: workspace folders now ${folders.join(', ')}`);
    watchFiles();
    if (indexing) {
      // The cold index lists the folders it started with: it starts again with the new ones.
      void indexWorkspace();
    } else {
      const isOpen = openFiles();
      for (const folder of removed) {
        index.removeRoot(folder, isOpen);
      }
      if (added.length > 0) {
        indexing = true;
        sendStatus();
        const progress = await createProgress();
        progress?.begin('xp: indexing flag references', undefined, added.map((f) => path.basename(f)).join(', '), false);
        for (const folder of added) {
          await index.addRoot(folder, isOpen);
        }
        progress?.done();
        indexing = false;
      }
    }
    if (flagsFilePath() !== flagsFileBefore) {
      // The flags file now comes from another folder, or from none.
      await reload();
    } else {
      refreshEditors();
    }
  };

  /**
   * Whether a folder inside a workspace folder is reached through a symbolic link (it or a folder
   * between it and the workspace folder is one): the cold index does not follow links, nor do file
   * events. Answers are kept for one batch of events.
   */
  const throughLinks = (): ((dir: string) => boolean) => {
    const known = new Map<string, boolean>();
    const linked = (dir: string): boolean => {
      if (folders.includes(dir) || !folders.some((f) => dir.startsWith(f + path.sep))) {
        return false;
      }
      let found = known.get(dir);
      if (found === undefined) {
        found = pathKind(dir) === 'link' || linked(path.dirname(dir));
        known.set(dir, found);
      }
      return found;
    };
    return linked;
  };

  /**
   * Each event is handled by what its path is now, not by its type: editors coalesce a Deleted and a
   * Created on one path into a Changed (a file replaced by a folder in a branch switch, a folder
   * regenerated, a workspace cloned again), and a folder deleted or created is one event for its path.
   */
  const onFileEvents = async (changes: readonly FileEvent[]): Promise<void> => {
    let indexChanged = false;
    for (let start = 0; start < changes.length; start += FILE_EVENT_BATCH) {
      if (start > 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      // Documents opened or closed meanwhile count.
      const isOpen = openFiles();
      const linked = throughLinks();
      // Paths that are no folder now: nothing indexed under them stays.
      const notFolders = new Set<string>();
      for (const c of changes.slice(start, start + FILE_EVENT_BATCH)) {
        const file = fileOf(c.uri);
        if (file === undefined) {
          continue;
        }
        if (isOpen(file)) {
          // An open document is indexed from the editor's text, not the disk; but a folder now at its
          // path (its tab open across a branch switch) is listed, the document's own entry kept.
          if (pathKind(file) === 'folder' && !linked(path.dirname(file))) {
            await index.refreshFolder(file, isOpen);
            indexChanged = true;
          }
          continue;
        }
        if (isFlagsFile(file)) {
          await reload();
          continue;
        }
        const kind = linked(path.dirname(file)) ? 'link' : pathKind(file);
        if (path.basename(file) === '.gitignore' && !linked(path.dirname(file))) {
          // What the folder's .gitignore excludes changed (created, edited, deleted, or replaced by a
          // folder): its files are listed again, as a cold index would, a folder now there among them.
          await index.refreshFolder(path.dirname(file), isOpen);
          indexChanged = true;
        } else if (kind === 'folder') {
          // A folder created, regenerated, or put where a file was: listed as the cold index would, what it no longer holds forgotten.
          await index.refreshFolder(file, isOpen);
          indexChanged = true;
        } else {
          notFolders.add(file);
          if (kind === 'file' && index.includes(file)) {
            await index.indexFromDisk(file);
            indexChanged = true;
          } else {
            // Deleted, a symbolic link (not followed, as by the cold index), or a file the index does not list (vendored, ignored).
            indexChanged = index.remove(file) || indexChanged;
          }
        }
      }
      indexChanged = index.removeUnderAny(notFolders, isOpen) > 0 || indexChanged;
    }
    if (indexChanged) {
      // The reference count, and the Flags view that refreshes on the status.
      sendStatus();
    }
  };

  const summaries = (withReferences = true): FlagSummary[] => {
    const ctx = context();
    const byKey = new Map<string, FlagSummary['references'][number][]>();
    for (const r of index.references()) {
      // getVariant of a standalone experiment: not a flag, known or unknown.
      if (experimentOf(ctx, r) !== undefined) {
        continue;
      }
      const list = byKey.get(r.flagKey) ?? [];
      list.push({ uri: uriOf(r.file), line: r.range.start.line, character: r.range.start.character, snippet: r.snippet });
      byKey.set(r.flagKey, list);
    }
    const out: FlagSummary[] = [];
    // Only where the project reports counts: without any, a flag's absence proves nothing (as in hovers).
    const usage = ctx.snapshot.evaluations;
    const counted = usage === undefined || usage.flags.length === 0 ? undefined : new Map(usage.flags.map((e) => [e.flag, e]));
    // Applications only where some SDK names its own: else every count would be "no app named".
    const named = namesApps(usage);
    // A key none evaluated gets a total of 0 only where its absence says something (flag-data.ts
    // absenceClaim): counting began before the window and the flag is older than it, or, with
    // countingSince, counting began within it. Else nothing is said (the Flags view's "Not evaluated"
    // group must not fill with every flag on the day SDKs begin to count).
    const evaluationsOf = (key: string, createdAt: string | null | undefined): Pick<FlagSummary, 'evaluations'> => {
      if (counted === undefined) {
        return {};
      }
      const entry = counted.get(key);
      if (entry !== undefined) {
        const apps = named && entry.apps.length > 0 ? { apps: entry.apps.map((a) => ({ app: a.app, count: a.count })) } : {};
        return { evaluations: { days: EVALUATION_DAYS, total: entry.total, lastEvaluatedAt: entry.lastEvaluatedAt, ...apps } };
      }
      const claim = absenceClaim(usage, createdAt);
      if (claim === undefined) {
        return {};
      }
      return { evaluations: { days: EVALUATION_DAYS, total: 0, lastEvaluatedAt: null, ...(claim.kind === 'since-counting' ? { countingSince: claim.since } : {}) } };
    };
    const describe = (flag: Flag, record: FlagRecord): FlagSummary => ({
      key: flag.key,
      name: flag.name,
      type: flag.type,
      state: record.archived ? 'archived' : staleFlagVariation(ctx, flag.key) !== undefined ? 'stale' : 'active',
      summary: environmentSummary(flag, ctx.environment),
      environments: Object.entries(flag.environments).map(([key, env]) => ({ key, enabled: env.enabled, summary: environmentSummary(flag, key) })),
      variations: flag.variations.map((v) => v.key),
      version: record.version,
      referenceCount: byKey.get(flag.key)?.length ?? 0,
      references: withReferences ? (byKey.get(flag.key) ?? []) : [],
      ...evaluationsOf(flag.key, record.createdAt),
    });
    for (const record of flags.values()) {
      out.push(describe(record.definition, record));
    }
    for (const [key, refs] of byKey) {
      if (!flags.has(key)) {
        out.push({ key, name: key, type: 'unknown', state: 'unknown', summary: '', environments: [], variations: [], version: null, referenceCount: refs.length, references: withReferences ? refs : [], ...evaluationsOf(key, null) });
      }
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  };

  const explain = (flagKey: string, attributes: Readonly<Record<string, unknown>>, env: string): ExplainResult => {
    const ruleset = rulesetFor(snapshot, env);
    // The published ruleset when the data has it (fetched now, or cached), else one compiled from the definitions.
    const published = snapshot.rulesets[env] !== undefined;
    const source: DataSource = snapshot.source;
    const result = evaluateFlag(ruleset ?? {}, flagKey, { attributes }, { explain: true });
    return {
      flagKey,
      environment: env,
      value: result.value,
      variationKey: result.variationKey,
      reason: result.reason,
      ruleId: result.ruleId ?? null,
      bucket: result.bucket ?? result.experiment?.bucket ?? null,
      experiment: result.experiment === undefined ? null : { key: result.experiment.key, variationKey: result.experiment.variationKey, inExperiment: result.experiment.inExperiment },
      errorCode: result.errorCode ?? null,
      trace: result.trace ?? [],
      rulesetSource: source,
      rulesetPublished: published,
    };
  };

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    if (initializeReceived) {
      throw new ResponseError(ErrorCodes.InvalidRequest, 'initialize was already received');
    }
    setFolders(initialFolders(params));
    workspaceFolderEvents = params.capabilities.workspace?.workspaceFolders === true;
    // The token may come from the environment instead (XP_TOKEN), where no protocol trace logs it.
    const source = initialSettingsSource(params.initializationOptions);
    const initial = settingsFrom(source);
    for (const problem of settingsProblems(source, source === params.initializationOptions ? ['clientCommands', 'xp'] : [])) {
      connection.console.warn(`xp: initializationOptions: ${problem}`);
    }
    const envToken = process.env.XP_TOKEN?.trim();
    settings = initial.token === undefined && envToken !== undefined && envToken !== '' ? { ...initial, token: envToken } : initial;
    codeLensRefresh = params.capabilities.workspace?.codeLens?.refreshSupport === true;
    hoverMarkup = preferredMarkup(params.capabilities.textDocument?.hover?.contentFormat);
    showDocument = params.capabilities.window?.showDocument?.support === true;
    const clientCommands: unknown = isRecord(params.initializationOptions) ? params.initializationOptions.clientCommands : undefined;
    lensCommand = Array.isArray(clientCommands) && clientCommands.includes(CLIENT_SHOW_FLAG_COMMAND) ? CLIENT_SHOW_FLAG_COMMAND : ServerCommand.ShowFlag;
    watchRegistration = params.capabilities.workspace?.didChangeWatchedFiles?.dynamicRegistration === true;
    relativePatterns = params.capabilities.workspace?.didChangeWatchedFiles?.relativePatternSupport === true;
    const result: InitializeResult = {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        hoverProvider: true,
        codeLensProvider: { resolveProvider: false },
        completionProvider: { triggerCharacters: ['"', "'", '`'] },
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix, CodeActionKind.RefactorInline] },
        referencesProvider: true,
        definitionProvider: true,
        workspaceSymbolProvider: true,
        executeCommandProvider: { commands: [ServerCommand.CreateFlag, ServerCommand.ShowFlag] },
        workspace: { workspaceFolders: { supported: true, changeNotifications: true } },
      },
      serverInfo: { name: 'xp-language-server', version: '0.1.0' },
    };
    initializeReceived = true;
    return result;
  });

  /** A notification handler that drops what arrives before initialize, as the protocol says. */
  const afterInitialize =
    <P>(handler: (params: P) => unknown) =>
    (params: P): void => {
      if (initializeReceived) {
        void handler(params);
      }
    };

  connection.onInitialized(afterInitialize(() => {
    watchFiles();
    if (workspaceFolderEvents) {
      connection.workspace.onDidChangeWorkspaceFolders((e) => {
        queueIndexUpdate(() => changeFolders(e.added.map((f) => f.uri), e.removed.map((f) => f.uri)));
      });
    }
    // Indexing does not wait for the flag data (a slow or hung API), nor the data for indexing.
    void indexWorkspace().catch((e: unknown) => {
      connection.console.error(`xp: indexing failed: ${describeError(e)}`);
    });
    void (async () => {
      await loadData();
      dataLoaded = true;
      scheduleRefresh();
      refreshEditors();
    })().catch((e: unknown) => {
      dataLoaded = true;
      connection.console.error(`xp: loading flag data failed: ${describeError(e)}`);
      sendStatus();
    });
  }));

  connection.onDidChangeConfiguration(afterInitialize((change) => {
    const sent: unknown = change.settings;
    const next = isRecord(sent) ? sent.xp : undefined;
    if (next === undefined) {
      // The section is "xp": settings sent without it are not for this server, unless they are its own names.
      if (isRecord(sent) && Object.keys(sent).some(isSettingKey)) {
        connection.console.warn(`xp: workspace/didChangeConfiguration: the settings go under "xp" ({ "settings": { "xp": { … } } }); ignored: ${Object.keys(sent).filter(isSettingKey).join(', ')}`);
      }
      return;
    }
    for (const problem of settingsProblems(next)) {
      connection.console.warn(`xp: settings: ${problem}`);
    }
    const before = JSON.stringify(settings.wrapperFunctions ?? []) + String(settings.maxFileSize);
    settings = updatedSettings(settings, next);
    watchFiles();
    scheduleRefresh();
    void reload();
    if (JSON.stringify(settings.wrapperFunctions ?? []) + String(settings.maxFileSize) !== before) {
      void indexWorkspace();
    }
  }));

  documents.onDidChangeContent((e) => {
    const uri = e.document.uri;
    clearTimeout(pendingChanges.get(uri));
    pendingChanges.set(
      uri,
      setTimeout(() => {
        pendingChanges.delete(uri);
        const doc = documents.get(uri);
        if (doc !== undefined) {
          void publishDiagnostics(doc);
        }
      }, CHANGE_DEBOUNCE_MS),
    );
  });

  documents.onDidOpen(() => {
    // Without a folder the flags file is the one nearest an open document: the first one opened brings it.
    if (folders.length === 0 && settings.flagsFile === undefined && flagsFilePath() !== loadedFlagsFile) {
      void reload();
    }
  });

  documents.onDidClose((e) => {
    clearTimeout(pendingChanges.get(e.document.uri));
    pendingChanges.delete(e.document.uri);
    indexedVersions.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
    const file = fileOf(e.document.uri);
    if (file !== undefined && !index.includes(file)) {
      // Outside the workspace, ignored or vendored: indexed only while it was open.
      index.remove(file);
    } else if (file !== undefined) {
      // The editor's unsaved text is dropped: the file on disk is the truth again (read as the cold
      // index reads it); a folder that took the file's place while it was open is listed.
      const reread = index.indexFromDisk(file);
      const folder = pathKind(file) === 'folder' && !throughLinks()(path.dirname(file));
      (folder ? reread.then(() => index.refreshFolder(file, openFiles())) : reread).catch((e: unknown) => {
        connection.console.error(`xp: re-reading ${file} failed: ${describeError(e)}`);
      });
    }
  });

  /** Whether malformed workspace/didChangeWatchedFiles params were reported already (once is enough). */
  let malformedEventsLogged = false;
  connection.onDidChangeWatchedFiles(afterInitialize((change: DidChangeWatchedFilesParams) => {
    const valid = fileEventsOf(change);
    if ((valid === undefined || valid.dropped > 0) && !malformedEventsLogged) {
      malformedEventsLogged = true;
      connection.console.warn('xp: workspace/didChangeWatchedFiles: ignored events without a { uri, type } shape, or params without a changes list (not reported again)');
    }
    if (valid !== undefined && valid.events.length > 0) {
      queueIndexUpdate(() => onFileEvents(valid.events));
    }
  }));

  /**
   * Per the protocol, a request before `initialize` fails with ServerNotInitialized and one after
   * `shutdown` with InvalidRequest rather than being served; params without the shape the handler
   * reads fail with InvalidParams saying what is wrong.
   */
  const live =
    <P extends unknown[], R>(handler: (...args: P) => R, check?: ParamsCheck) =>
    (...args: P): R => {
      if (!initializeReceived) {
        throw notInitialized();
      }
      if (shutDown) {
        throw shuttingDown();
      }
      const problem = check === undefined ? undefined : isRecord(args[0]) ? check.problem(args[0]) : `params must be an object, not ${args[0] === null ? 'null' : Array.isArray(args[0]) ? 'an array' : typeof args[0]}`;
      if (check !== undefined && problem !== undefined) {
        throw new ResponseError(ErrorCodes.InvalidParams, `${check.method}: ${problem}`);
      }
      return handler(...args);
    };

  /**
   * A request's position as the protocol reads it (LSP 3.17, Position): a character past the end of its
   * line is the line's end (a line past the last, the document's end). Every position a request
   * brings goes through here before it is compared with the index.
   */
  const clamped = (doc: TextDocument, position: Position): Position => doc.positionAt(doc.offsetAt(position));

  /**
   * A workspace file the editor has not opened, as saved: its index is the one the cold index and
   * file events keep, its text (for positions) the one on disk.
   */
  const savedDocument = (uri: string): { doc: TextDocument; fileIndex: FileIndex | undefined } | undefined => {
    const file = fileOf(uri);
    if (file === undefined || !index.includes(file)) {
      return undefined;
    }
    let text: string | undefined;
    try {
      // Not a file the cold index reads (a folder, a link, larger than it reads): nothing to serve, and a huge one is not read.
      text = index.readText(file);
    } catch {
      return undefined;
    }
    return text === undefined ? undefined : { doc: TextDocument.create(uri, '', 0, text), fileIndex: index.fileIndex(file) };
  };

  const withDocument = async <T>(uri: string, token: CancellationToken, fn: (doc: TextDocument, fileIndex: FileIndex | undefined) => T): Promise<T | null> => {
    const open = documents.get(uri);
    const saved = open === undefined ? savedDocument(uri) : undefined;
    const doc = open ?? saved?.doc;
    if (doc === undefined) {
      return null;
    }
    const fileIndex = open === undefined ? saved?.fileIndex : await ensureCurrent(open);
    if (token.isCancellationRequested) {
      throw cancelled();
    }
    return fn(doc, fileIndex);
  };

  // The features are registered with onRequest rather than connection.onHover and the like: those read
  // `params.workDoneToken` before the handler runs, so `"params": null` failed with InternalError
  // where `live` answers InvalidParams.
  connection.onRequest(HoverRequest.type, live((params, token) =>
    withDocument(params.textDocument.uri, token, (doc, fileIndex) => {
      const position = clamped(doc, params.position);
      const ref = referenceAt(fileIndex, position);
      if (ref === undefined) {
        return null;
      }
      // On a constant's or enum member's definition, the range is the literal there, not the call using it.
      const found = hover(context(), ref);
      return contains(ref.range, position) ? found : { ...found, range: ref.keyRange };
    }),
  PARAMS.hover));

  connection.onRequest(CodeLensRequest.type, live((params, token) => withDocument(params.textDocument.uri, token, (_doc, fileIndex) => codeLenses(context(), fileIndex)), PARAMS.codeLens));

  connection.onRequest(CompletionRequest.type, live((params, token) =>
    withDocument(params.textDocument.uri, token, (doc, fileIndex): CompletionItem[] => {
      const position = clamped(doc, params.position);
      const slot = fileIndex?.slots.find((s) => contains(s.range, position));
      if (slot !== undefined) {
        return keyCompletions(context(), slot.range, slot.kind);
      }
      for (const ref of fileIndex?.references ?? []) {
        const compared = ref.compared.find((c) => contains(c.range, position));
        if (compared !== undefined) {
          return variationCompletions(context(), ref, compared.range);
        }
      }
      // A key typed without an editor closing the quote and the call: no parse has the slot yet.
      const { line, character } = position;
      const lineText = doc.getText({ start: { line, character: 0 }, end: { line: line + 1, character: 0 } }).replace(/\r?\n$|\r$/, '');
      const typing = index.typingSlot(lineText, character);
      return typing === undefined ? [] : keyCompletions(context(), { start: { line, character: typing.start }, end: { line, character: typing.end } }, typing.kind);
    }),
  PARAMS.completion));

  connection.onRequest(CodeActionRequest.type, live((params, token) =>
    withDocument(params.textDocument.uri, token, (doc, fileIndex) =>
      codeActions(context(), params.textDocument.uri, fileIndex, { start: clamped(doc, params.range.start), end: clamped(doc, params.range.end) }, params.context.diagnostics, doc.getText()),
    ),
  PARAMS.codeAction));

  connection.onRequest(ReferencesRequest.type, live((params, token) =>
    withDocument(params.textDocument.uri, token, (doc, fileIndex): Location[] => {
      const ref = referenceAt(fileIndex, clamped(doc, params.position));
      if (ref === undefined) {
        return [];
      }
      return index.referencesTo(ref.flagKey).map((r) => ({ uri: uriOf(r.file), range: r.range }));
    }),
  PARAMS.references));

  connection.onRequest(DefinitionRequest.type, live((params, token) =>
    withDocument(params.textDocument.uri, token, (doc, fileIndex): Location | null => {
      const ref = referenceAt(fileIndex, clamped(doc, params.position));
      const file = flagsFilePath();
      if (ref === undefined || file === undefined) {
        return null;
      }
      let range: Location['range'] | undefined;
      try {
        range = flagKeyRangeInFile(readFileSync(file, 'utf8'), ref.flagKey);
      } catch {
        return null;
      }
      // The key's text, so the editor lands on (and highlights) the key rather than the line's start.
      return range === undefined ? null : { uri: uriOf(file), range };
    }),
  PARAMS.definition));

  connection.onRequest(WorkspaceSymbolRequest.type, live((params, token): SymbolInformation[] => {
    const query = params.query.toLowerCase();
    const refs = index.references();
    const file = flagsFilePath();
    let fileText: string | undefined;
    const keys = new Set([...flags.keys(), ...refs.map((r) => r.flagKey)]);
    const out: SymbolInformation[] = [];
    for (const key of [...keys].sort()) {
      if (token.isCancellationRequested) {
        throw cancelled();
      }
      if (query !== '' && !key.toLowerCase().includes(query) && !(flags.get(key)?.definition.name.toLowerCase().includes(query) ?? false)) {
        continue;
      }
      const first = refs.find((r) => r.flagKey === key);
      let location: Location | undefined = first === undefined ? undefined : { uri: uriOf(first.file), range: first.range };
      if (location === undefined && file !== undefined) {
        try {
          fileText ??= readFileSync(file, 'utf8');
        } catch {
          fileText = '';
        }
        const range = flagKeyRangeInFile(fileText, key);
        location = range === undefined ? undefined : { uri: uriOf(file), range };
      }
      if (location !== undefined) {
        out.push({ name: key, kind: SymbolKind.Constant, location, containerName: snapshot.project === '' ? 'xp' : snapshot.project });
      }
    }
    return out;
  }, PARAMS.workspaceSymbol));

  /** The code lens's command in editors other than VS Code: the flag in the console, or a one-line summary. */
  const showFlag = async (key: unknown): Promise<{ readonly shown: string; readonly in: 'console' | 'message' } | null> => {
    if (typeof key !== 'string' || key === '') {
      throw new ResponseError(ErrorCodes.InvalidParams, `${ServerCommand.ShowFlag}: the first argument must be a flag key`);
    }
    const ctx = context();
    const link = flags.has(key) ? consoleLink(ctx, key) : undefined;
    if (showDocument && link !== undefined) {
      try {
        const shown = await connection.sendRequest(ShowDocumentRequest.type, { uri: link, external: true });
        if (shown.success) {
          return { shown: key, in: 'console' };
        }
      } catch (e) {
        connection.console.warn(`xp: the editor did not open ${link}: ${describeError(e)}`);
      }
    }
    const title = lensTitle(ctx, { flagKey: key, kind: 'value' });
    const name = flags.get(key)?.definition.name;
    notify(MessageType.Info, `xp: ${title.replace(/^● /, '')}${name === undefined || name === key ? '' : ` (${name})`}${link === undefined ? '' : ` · ${link}`}`);
    return { shown: key, in: 'message' };
  };

  connection.onRequest(ExecuteCommandRequest.type, live(async (params) => {
    if (params.command === ServerCommand.ShowFlag) {
      return showFlag(params.arguments?.[0]);
    }
    if (params.command !== ServerCommand.CreateFlag) {
      throw new ResponseError(ErrorCodes.InvalidParams, `unknown command "${params.command}" (the server runs ${ServerCommand.CreateFlag} and ${ServerCommand.ShowFlag})`);
    }
    const key: unknown = params.arguments?.[0];
    if (typeof key !== 'string' || key === '') {
      throw new ResponseError(ErrorCodes.InvalidParams, `${ServerCommand.CreateFlag}: the first argument must be the key of the flag to create`);
    }
    const valid = keySchema.safeParse(key);
    if (!valid.success) {
      notify(MessageType.Error, `xp: cannot create "${key.slice(0, 200)}": a flag key ${valid.error.issues[0]?.message ?? 'is not valid'}`);
      return null;
    }
    const client = apiClient();
    if (client === undefined || snapshot.project === '') {
      notify(MessageType.Error, 'xp: creating a flag needs an API URL, a token and a project.');
      return null;
    }
    try {
      // Off in every environment of the project: a flag with no state in an environment cannot be toggled there.
      const environments = await client.environments(snapshot.project);
      await client.create(snapshot.project, 'flags', {
        key,
        name: key,
        type: 'boolean',
        variations: [
          { key: 'off', value: false },
          { key: 'on', value: true },
        ],
        environments: Object.fromEntries(environments.map((e) => [e.key, { enabled: false, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] }])),
      });
      notify(MessageType.Info, `xp: created flag "${key}" in ${snapshot.project}`);
      await reload();
      return { created: key };
    } catch (e) {
      notify(MessageType.Error, `xp: cannot create "${key}": ${describeError(e)}`);
      return null;
    }
  }, PARAMS.executeCommand));

  connection.onRequest(FlagsRequest, live(() => ({ flags: summaries() })));
  connection.onRequest(FlagListRequest, live(() => ({ flags: summaries(false) })));
  connection.onRequest(FlagReferencesRequest, live((raw: unknown) => {
    if (!isRecord(raw) || typeof raw.flagKey !== 'string') {
      throw new ResponseError(ErrorCodes.InvalidParams, 'xp/flagReferences: flagKey must be a string');
    }
    const ctx = context();
    const flagKey = raw.flagKey;
    // As in xp/flags: a standalone experiment's getVariant is not a reference of a flag.
    const references = index
      .referencesTo(flagKey)
      .filter((r) => experimentOf(ctx, r) === undefined)
      .map((r) => ({ uri: uriOf(r.file), line: r.range.start.line, character: r.range.start.character, snippet: r.snippet }));
    return { references };
  }));
  connection.onRequest(RefreshRequest, live(async () => {
    await reload();
    return status();
  }));
  connection.onRequest(ExplainRequest, live((raw: unknown) => {
    const problem = explainParamsProblem(raw);
    if (problem !== undefined) {
      throw new ResponseError(ErrorCodes.InvalidParams, `xp/explain: ${problem}`);
    }
    const params = raw as ExplainParams;
    const env = params.environment ?? environment();
    // Evaluating in an environment the project lacks would answer DISABLED, as if the flag were off there.
    const known = knownEnvironments(snapshot);
    if (known.size > 0 && !known.has(env)) {
      const project = snapshot.project === '' ? 'the project' : snapshot.project;
      throw new ResponseError(ErrorCodes.InvalidParams, `xp/explain: unknown environment "${env}" (${project} has ${[...known].sort().join(', ')})`);
    }
    return explain(params.flagKey, params.attributes, env);
  }));

  connection.onShutdown(() => {
    if (!initializeReceived) {
      // Nothing to shut down yet, and the session must still work after a later initialize.
      throw notInitialized();
    }
    if (shutDown) {
      // Every request after shutdown, a second shutdown too, is refused (LSP 3.17, shutdown).
      throw shuttingDown();
    }
    shutDown = true;
    indexRun.isCancellationRequested = true;
    unfollow();
    if (refreshTimer !== undefined) {
      clearInterval(refreshTimer);
    }
    for (const t of pendingChanges.values()) {
      clearTimeout(t);
    }
  });

  connection.onRequest(NULL_PARAMS_METHOD, (params: { method: string }) => {
    throw new ResponseError(ErrorCodes.InvalidParams, `${params.method}: params must be an object, not null`);
  });
  // Methods without a handler: MethodNotFound, as without this handler, but ServerNotInitialized before
  // initialize and InvalidRequest after shutdown, as for every other request.
  connection.onRequest((method) => {
    if (!initializeReceived) {
      throw notInitialized();
    }
    throw shutDown ? shuttingDown() : new ResponseError(ErrorCodes.MethodNotFound, `unhandled method ${method}`);
  });
  // The documents too: one opened before initialize is not tracked.
  documents.listen({
    onDidOpenTextDocument: (handler) => connection.onDidOpenTextDocument(afterInitialize(handler)),
    onDidChangeTextDocument: (handler) => connection.onDidChangeTextDocument(afterInitialize(handler)),
    onDidCloseTextDocument: (handler) => connection.onDidCloseTextDocument(afterInitialize(handler)),
    onWillSaveTextDocument: (handler) => connection.onWillSaveTextDocument(afterInitialize(handler)),
    onWillSaveTextDocumentWaitUntil: (handler) => connection.onWillSaveTextDocumentWaitUntil(live(handler, { method: 'textDocument/willSaveWaitUntil', problem: documentProblem })),
    onDidSaveTextDocument: (handler) => connection.onDidSaveTextDocument(afterInitialize(handler)),
  });
  connection.listen();
}
