import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ClientCapabilities, Diagnostic, FileEvent, FileSystemWatcher, GlobPattern, InitializeResult, ProtocolConnection, PublishDiagnosticsParams } from 'vscode-languageserver-protocol/node';
import {
  CodeLensRefreshRequest,
  createProtocolConnection,
  DidChangeWatchedFilesNotification,
  DidOpenTextDocumentNotification,
  ErrorCodes,
  ExitNotification,
  FileChangeType,
  InitializedNotification,
  InitializeRequest,
  LogMessageNotification,
  PublishDiagnosticsNotification,
  RegistrationRequest,
  ResponseError,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  UnregistrationRequest,
  WatchKind,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageserver-protocol/node';
import type { StatusParams, XpSettings } from '../protocol.js';
import { StatusNotification } from '../protocol.js';

/** The built server: tests drive the same entry point editors launch. */
export const SERVER_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/xp-language-server.js');
const SERVER_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');

const WAIT_MS = 15_000;

export interface ProgressParams {
  readonly token: string | number;
  readonly value: { readonly kind: string; readonly message?: string; readonly percentage?: number; readonly title?: string };
}

/**
 * What the test client advertises by default: what VS Code's client does for the features the
 * server uses (vscode-languageclient registers file watchers dynamically, with relative patterns;
 * hovers in Markdown first).
 */
export const DEFAULT_CAPABILITIES: ClientCapabilities = {
  textDocument: { hover: { contentFormat: ['markdown', 'plaintext'] } },
  window: { workDoneProgress: true },
  workspace: { codeLens: { refreshSupport: true }, didChangeWatchedFiles: { dynamicRegistration: true, relativePatternSupport: true }, workspaceFolders: true },
};

export interface StartOptions {
  readonly capabilities?: ClientCapabilities;
  /** The workspace folders (default: the root alone). */
  readonly folders?: readonly string[];
  /**
   * How the client answers window/workDoneProgress/create: accept it (default), answer with an
   * error (as the protocol allows, and some clients do), or never answer.
   */
  readonly progressCreate?: 'accept' | 'error' | 'never';
  /** How the client answers workspace/codeLens/refresh: accept it (default), or refuse it with an error as some clients do. */
  readonly codeLensRefresh?: 'accept' | 'error';
}

/** A glob of the LSP (`**`, `*`, `?`, `{a,b}`; no character classes) as a regular expression over `/`-separated paths. */
function globRegExp(glob: string): RegExp {
  let re = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (glob.startsWith('**/', i)) {
      re += '(?:.*/)?';
      i += 2;
    } else if (glob.startsWith('**', i)) {
      re += '.*';
      i += 1;
    } else if (c === '*') {
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) {
      re += '|';
    } else {
      re += c.replace(/[.+^$()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

/** Whether a watcher's glob matches `file`, as an editor matches it (a plain glob against the whole path). */
export function globMatches(pattern: GlobPattern, file: string): boolean {
  const slashed = (p: string): string => p.split(path.sep).join('/');
  if (typeof pattern === 'string') {
    return globRegExp(pattern).test(slashed(file));
  }
  const base = fileURLToPath(typeof pattern.baseUri === 'string' ? pattern.baseUri : pattern.baseUri.uri);
  const rel = path.relative(base, file);
  return !rel.startsWith('..') && !path.isAbsolute(rel) && globRegExp(pattern.pattern).test(slashed(rel));
}

/** A real LSP client (vscode-languageserver-protocol) talking to the server process over stdio. */
export class LspTestClient {
  readonly diagnostics = new Map<string, Diagnostic[]>();
  /** The server's dynamic registrations (client/registerCapability) still in force, by id. */
  readonly registrations = new Map<string, { readonly method: string; readonly registerOptions?: unknown }>();
  readonly progress: ProgressParams[] = [];
  readonly statuses: StatusParams[] = [];
  readonly logs: string[] = [];
  /** How many workspace/codeLens/refresh requests the server sent. */
  codeLensRefreshes = 0;
  /** The server's stderr (crashes): it must stay empty in normal operation. */
  readonly stderr: string[] = [];
  private readonly listeners = new Set<() => void>();

  /** The server's answer to initialize (its capabilities). */
  initializeResult: InitializeResult | undefined;

  private constructor(
    readonly root: string,
    private readonly child: ChildProcess,
    readonly connection: ProtocolConnection,
  ) {}

  /** Starts `serverPath` (default: this package's built server) with the workspace `root`. */
  static async start(root: string, initializationOptions: XpSettings, serverPath: string = SERVER_BIN, options: StartOptions = {}): Promise<LspTestClient> {
    const client = LspTestClient.launch(root, serverPath, options);
    client.initializeResult = await client.connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- required by the protocol's type; the server reads workspaceFolders
      rootUri: null,
      workspaceFolders: (options.folders ?? [root]).map((f) => ({ uri: pathToFileURL(f).href, name: path.basename(f) })),
      capabilities: options.capabilities ?? DEFAULT_CAPABILITIES,
      initializationOptions,
    });
    await client.connection.sendNotification(InitializedNotification.type, {});
    return client;
  }

  /**
   * Starts the server in `cwd` without initializing it: the test sends initialize itself (params
   * of older clients, messages out of the lifecycle's order). `root` is `cwd`.
   */
  static launch(cwd: string, serverPath: string = SERVER_BIN, options: StartOptions = {}): LspTestClient {
    const root = cwd;
    if (serverPath === SERVER_BIN && !existsSync(SERVER_DIST)) {
      throw new Error('language-server/dist/bin.js is missing: run `npx tsc --build` first');
    }
    const child = spawn(process.execPath, [serverPath, '--stdio'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, XDG_CACHE_HOME: path.join(root, '.cache') } });
    const connection = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    const client = new LspTestClient(root, child, connection);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => client.stderr.push(chunk));
    connection.onNotification(PublishDiagnosticsNotification.type, (p: PublishDiagnosticsParams) => {
      client.diagnostics.set(p.uri, p.diagnostics);
      client.changed();
    });
    connection.onNotification(LogMessageNotification.type, (p) => {
      client.logs.push(p.message);
      client.changed();
    });
    connection.onNotification(StatusNotification, (p) => {
      client.statuses.push(p);
      client.changed();
    });
    connection.onRequest(WorkDoneProgressCreateRequest.type, () =>
      options.progressCreate === 'error'
        ? new ResponseError(ErrorCodes.InternalError, 'progress is not wanted')
        : options.progressCreate === 'never'
          ? new Promise<void>(() => undefined)
          : undefined,
    );
    connection.onRequest(CodeLensRefreshRequest.type, () => {
      client.codeLensRefreshes++;
      return options.codeLensRefresh === 'error' ? new ResponseError(ErrorCodes.MethodNotFound, 'client does not support workspace/codeLens/refresh') : undefined;
    });
    connection.onRequest(RegistrationRequest.type, (p) => {
      for (const r of p.registrations) {
        client.registrations.set(r.id, { method: r.method, registerOptions: r.registerOptions });
      }
      client.changed();
    });
    connection.onRequest(UnregistrationRequest.type, (p) => {
      for (const r of p.unregisterations) {
        client.registrations.delete(r.id);
      }
      client.changed();
    });
    connection.onNotification('$/progress', (p: ProgressParams) => {
      client.progress.push(p);
      client.changed();
    });
    connection.listen();
    return client;
  }

  /** The URI of a path relative to the first folder (or absolute). */
  uri(rel: string): string {
    return pathToFileURL(path.resolve(this.root, rel)).href;
  }

  /** The file watchers the server registered (workspace/didChangeWatchedFiles). */
  watchers(): FileSystemWatcher[] {
    return [...this.registrations.values()]
      .filter((r) => r.method === DidChangeWatchedFilesNotification.method)
      .flatMap((r) => (r.registerOptions as { watchers: FileSystemWatcher[] }).watchers);
  }

  /**
   * Reports file events as an editor does: only those a registered watcher asks for (by glob and
   * kind). Returns the events sent.
   */
  async fileEvents(changes: readonly { readonly rel: string; readonly type: FileChangeType }[]): Promise<FileEvent[]> {
    const kinds: Readonly<Record<FileChangeType, number>> = { [FileChangeType.Created]: WatchKind.Create, [FileChangeType.Changed]: WatchKind.Change, [FileChangeType.Deleted]: WatchKind.Delete };
    const watchers = this.watchers();
    const sent = changes
      .filter((c) => watchers.some((w) => ((w.kind ?? WatchKind.Create | WatchKind.Change | WatchKind.Delete) & kinds[c.type]) !== 0 && globMatches(w.globPattern, path.resolve(this.root, c.rel))))
      .map((c) => ({ uri: this.uri(c.rel), type: c.type }));
    if (sent.length > 0) {
      await this.connection.sendNotification(DidChangeWatchedFilesNotification.type, { changes: sent });
    }
    return sent;
  }

  async open(rel: string, text: string, languageId: string): Promise<string> {
    const uri = this.uri(rel);
    await this.connection.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId, version: 1, text } });
    return uri;
  }

  /** Resolves once `check` holds after some server message; rejects after a generous timeout. */
  async until<T>(what: string, check: () => T | undefined): Promise<T> {
    const first = check();
    if (first !== undefined) {
      return first;
    }
    return new Promise<T>((resolve, reject) => {
      const listener = (): void => {
        const v = check();
        if (v !== undefined) {
          clearTimeout(timer);
          this.listeners.delete(listener);
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out waiting for ${what}; logs: ${this.logs.join(' | ')}; stderr: ${this.stderr.join('')}`));
      }, WAIT_MS);
      this.listeners.add(listener);
    });
  }

  /** Waits for the workspace index to finish (the status says so). */
  async indexed(): Promise<StatusParams> {
    return this.until('indexing to finish', () => this.statuses.find((s) => !s.indexing && s.references > 0));
  }

  async diagnosticsFor(uri: string, predicate: (d: Diagnostic[]) => boolean = () => true): Promise<Diagnostic[]> {
    return this.until(`diagnostics for ${uri}`, () => {
      const d = this.diagnostics.get(uri);
      return d !== undefined && predicate(d) ? d : undefined;
    });
  }

  async stop(): Promise<void> {
    try {
      await this.connection.sendRequest(ShutdownRequest.type).catch((e: unknown) => {
        // A server the test already shut down refuses a second shutdown: exit still ends it.
        if (!(e instanceof ResponseError && e.code === ErrorCodes.InvalidRequest)) {
          throw e;
        }
      });
      await this.connection.sendNotification(ExitNotification.type);
    } finally {
      this.connection.dispose();
      if (this.child.exitCode === null) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.child.kill();
            resolve();
          }, 5000);
          this.child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    }
  }

  private changed(): void {
    for (const l of [...this.listeners]) {
      l();
    }
  }
}
