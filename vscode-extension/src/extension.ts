/**
 * The VS Code glue: starts the language client, implements `Host` with the real API, registers the
 * commands, the Flags view and the status item. Logic lives in the modules it wires together.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { LanguageClientOptions, ServerOptions } from 'vscode-languageclient/node';
import { DidChangeConfigurationNotification, LanguageClient, TransportKind } from 'vscode-languageclient/node';
import { XpApiClient } from '@xp/shared';
import type { StatusParams } from '@xp/language-server/protocol';
import { ExplainRequest, FlagListRequest, FlagReferencesRequest, RefreshRequest, StatusNotification } from '@xp/language-server/protocol';
import { createCommands } from './commands.js';
import type { FlagApi, ServerApi } from './flag-api.js';
import type { FlagTreeNode } from './flags-tree.js';
import { childNodes, itemView, referenceNodes, rootNodes } from './flags-tree.js';
import type { ExtensionSettings, Host } from './host.js';
import { TOKEN_SECRET } from './host.js';
import { serverRestarts } from './server-restarts.js';
import { configurationChange, languageClientOptions, serverProcessOptions } from './server-settings.js';
import { statusView } from './status.js';

function readSettings(): ExtensionSettings {
  const c = vscode.workspace.getConfiguration('xp');
  const text = (key: string): string | undefined => {
    const v = c.get<string>(key);
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  return {
    apiUrl: text('apiUrl'),
    project: text('project'),
    environment: text('environment') ?? 'production',
    wrapperFunctions: c.get<string[]>('wrapperFunctions') ?? [],
    flagsFile: text('flagsFile'),
    consoleUrl: text('consoleUrl'),
  };
}

/** The bundled server inside the .vsix, else the workspace build (development). */
function serverModule(context: vscode.ExtensionContext): string {
  const bundled = context.asAbsolutePath(path.join('server', 'server.mjs'));
  return existsSync(bundled) ? bundled : context.asAbsolutePath(path.join('..', 'language-server', 'bin', 'xp-language-server.js'));
}

/** Documents the extension shows (explanations), read-only. */
const EXPLAIN_SCHEME = 'xp-explain';

class FlagsTreeProvider implements vscode.TreeDataProvider<FlagTreeNode> {
  private readonly changed = new vscode.EventEmitter<undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(
    private readonly server: () => ServerApi | undefined,
    private readonly status: () => StatusParams | undefined,
  ) {}

  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: FlagTreeNode): vscode.TreeItem {
    const view = itemView(node, Date.now());
    const item = new vscode.TreeItem(view.label, view.collapsible ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = view.id;
    item.contextValue = view.contextValue;
    if (view.description !== undefined) {
      item.description = view.description;
    }
    if (view.tooltip !== undefined) {
      item.tooltip = view.tooltip;
    }
    if (view.icon !== undefined) {
      item.iconPath = new vscode.ThemeIcon(view.icon);
    }
    if (node.kind === 'reference') {
      const position = new vscode.Position(node.line, node.character);
      item.command = { title: 'Open', command: 'vscode.open', arguments: [vscode.Uri.parse(node.uri), { selection: new vscode.Range(position, position) }] };
    }
    return item;
  }

  async getChildren(node?: FlagTreeNode): Promise<FlagTreeNode[]> {
    const server = this.server();
    if (node?.kind === 'flag') {
      // References are fetched per flag when expanded: the list refetched at every status leaves them out.
      return server === undefined ? [] : referenceNodes(node.flag, await server.flagReferences(node.flag.key));
    }
    if (node !== undefined) {
      return childNodes(node);
    }
    return server === undefined ? [] : rootNodes(await server.flags(), { flagData: this.status()?.source !== 'none' });
  }
}

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('xp', { log: true });
  const statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  statusItem.command = 'xp.refresh';
  let status: StatusParams | undefined;
  const showStatus = (): void => {
    const view = statusView(status);
    statusItem.command = view.command ?? 'xp.refresh';
    statusItem.text = view.text;
    statusItem.tooltip = view.tooltip;
    statusItem.backgroundColor = view.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    statusItem.show();
  };
  showStatus();

  const serverApi: ServerApi = {
    flags: async () => (client === undefined ? [] : (await client.sendRequest(FlagListRequest)).flags),
    flagReferences: async (flagKey) => (client === undefined ? [] : (await client.sendRequest(FlagReferencesRequest, { flagKey })).references),
    refresh: async () => {
      if (client === undefined) {
        throw new Error('the language server is not running');
      }
      return client.sendRequest(RefreshRequest);
    },
    explain: async (params) => {
      if (client === undefined) {
        throw new Error('the language server is not running');
      }
      return client.sendRequest(ExplainRequest, params);
    },
  };
  const tree = new FlagsTreeProvider(
    () => (client === undefined ? undefined : serverApi),
    () => status,
  );

  const startClient = async (token: string | undefined): Promise<void> => {
    // Menus and the Flags view's welcome text follow it (toggle and rollout need a token).
    void vscode.commands.executeCommand('setContext', 'xp.signedIn', token !== undefined);
    const module = serverModule(context);
    // Signed out, an XP_TOKEN inherited from the shell that started VS Code is not passed on.
    const options = serverProcessOptions(process.env, token);
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.stdio, options },
      debug: { module, transport: TransportKind.stdio, options },
    };
    const clientOptions: LanguageClientOptions = { ...languageClientOptions(readSettings), outputChannel: output };
    const next = new LanguageClient('xp', 'xp language server', serverOptions, clientOptions);
    next.onNotification(StatusNotification, (params) => {
      status = params;
      showStatus();
      tree.refresh();
    });
    await next.start();
    client = next;
  };
  // One restart per change (each re-indexes the workspace), one after another.
  const restarts = serverRestarts({
    token: async () => context.secrets.get(TOKEN_SECRET),
    stop: async () => {
      const previous = client;
      client = undefined;
      status = undefined;
      showStatus();
      await previous?.stop();
    },
    start: startClient,
    configure: async () => {
      await client?.sendNotification(DidChangeConfigurationNotification.type, { settings: { xp: configurationChange(readSettings()) } });
    },
  });

  const texts = new Map<string, string>();
  let shownTexts = 0;
  const host: Host = {
    showInformation: (message) => void vscode.window.showInformationMessage(message),
    showError: (message) => void vscode.window.showErrorMessage(message),
    inputBox: async (o) =>
      vscode.window.showInputBox({ prompt: o.prompt, password: o.password ?? false, ...(o.value === undefined ? {} : { value: o.value }), ...(o.validate === undefined ? {} : { validateInput: o.validate }) }),
    quickPick: async (items, placeholder) => (await vscode.window.showQuickPick(items.map((i) => ({ label: i.label, description: i.description ?? '', value: i.value })), { placeHolder: placeholder }))?.value,
    copyToClipboard: async (text) => vscode.env.clipboard.writeText(text),
    openExternal: async (url) => vscode.env.openExternal(vscode.Uri.parse(url)),
    confirm: async (message, action) => (await vscode.window.showWarningMessage(message, { modal: true }, action)) === action,
    // A read-only document of its own scheme: an untitled one would ask to be saved on every close.
    showText: async (title, text) => {
      const uri = vscode.Uri.from({ scheme: EXPLAIN_SCHEME, path: `/${title.replace(/[^\w.-]+/g, '-')}.md`, query: String(++shownTexts) });
      texts.set(uri.toString(), text);
      // Only the latest few are kept: an explanation is read once.
      for (const key of [...texts.keys()].slice(0, Math.max(0, texts.size - 20))) {
        texts.delete(key);
      }
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
    },
  };

  const commands = createCommands({
    host,
    secrets: {
      get: async (key) => context.secrets.get(key),
      store: async (key, value) => context.secrets.store(key, value),
      delete: async (key) => context.secrets.delete(key),
    },
    settings: readSettings,
    status: () => status,
    server: serverApi,
    api: (token: string): FlagApi | undefined => {
      const { apiUrl } = readSettings();
      return apiUrl === undefined ? undefined : new XpApiClient({ apiUrl, token, client: 'vscode' });
    },
    credentialsChanged: restarts.tokenChanged,
  });

  // One helper collects every disposable, so deactivation releases them all.
  const own = (d: { dispose(): unknown }): void => {
    context.subscriptions.push(d);
  };
  own(output);
  own(statusItem);
  own(vscode.workspace.registerTextDocumentContentProvider(EXPLAIN_SCHEME, { provideTextDocumentContent: (uri) => texts.get(uri.toString()) ?? '' }));
  own(vscode.window.registerTreeDataProvider('xp.flags', tree));
  for (const [id, handler] of Object.entries(commands)) {
    own(
      vscode.commands.registerCommand(id, (arg?: unknown) =>
        handler(arg).catch((e: unknown) => {
          void vscode.window.showErrorMessage(`xp: ${e instanceof Error ? e.message : String(e)}`);
        }),
      ),
    );
  }
  // Signing in or out in another window changes the shared secret: this window follows. In this
  // window the command restarted the server already (the secret is the one it runs with).
  own(
    context.secrets.onDidChange((e) => {
      if (e.key === TOKEN_SECRET) {
        void restarts.tokenChanged();
      }
    }),
  );
  own(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('xp')) {
        void restarts.settingsChanged((section) => e.affectsConfiguration(section));
      }
    }),
  );
  await restarts.restart();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
