import type { LanguageClientOptions } from 'vscode-languageclient/node';
import type { XpSettings } from '@xp/language-server/protocol';
import { CLIENT_SHOW_FLAG_COMMAND } from '@xp/language-server/protocol';
import type { ExtensionSettings } from './host.js';

/** Documents the server handles: the languages its indexer reads. */
export const LANGUAGES = ['typescript', 'typescriptreact', 'javascript', 'javascriptreact', 'python', 'go', 'java'];

/**
 * The language server's initialization options from the extension's settings. The token is not
 * among them: it reaches the server as XP_TOKEN in its environment, out of reach of protocol traces.
 * `clientCommands` tells the server the extension runs `xp.showFlag` itself (code lenses use it; the
 * server does not advertise it, which would make vscode-languageclient register it a second time).
 */
export function initializationOptions(settings: ExtensionSettings): XpSettings {
  return {
    clientCommands: [CLIENT_SHOW_FLAG_COMMAND],
    environment: settings.environment,
    wrapperFunctions: settings.wrapperFunctions,
    ...(settings.apiUrl === undefined ? {} : { apiUrl: settings.apiUrl }),
    ...(settings.project === undefined ? {} : { project: settings.project }),
    ...(settings.flagsFile === undefined ? {} : { flagsFile: settings.flagsFile }),
    ...(settings.consoleUrl === undefined ? {} : { consoleUrl: settings.consoleUrl }),
  };
}

/** The settings of a `workspace/didChangeConfiguration` "xp" section: null puts a setting back to its default. */
export type XpSettingsChange = { readonly [K in Exclude<keyof XpSettings, 'clientCommands'>]?: XpSettings[K] | null };

/**
 * The "xp" section of the `workspace/didChangeConfiguration` that applies the extension's settings
 * to the running server: every setting, those not set as null (the server keeps the value of a key
 * left out, and goes back to the default for null). No token: it stays in the server's environment.
 */
export function configurationChange(settings: ExtensionSettings): XpSettingsChange {
  return {
    apiUrl: settings.apiUrl ?? null,
    project: settings.project ?? null,
    environment: settings.environment,
    wrapperFunctions: settings.wrapperFunctions,
    flagsFile: settings.flagsFile ?? null,
    consoleUrl: settings.consoleUrl ?? null,
  };
}

/**
 * How a change of each setting reaches the language server. `live`: sent to the running server in a
 * `workspace/didChangeConfiguration` (it re-reads the flag data, re-indexes for new wrapper
 * functions, follows another flags file). `client`: vscode-languageclient applies it itself
 * (`xp.trace.server`, the protocol trace). Any other `xp.*` setting restarts the server: one it does
 * not know to apply live. Every setting package.json contributes is listed (a test checks).
 */
export const SETTING_CHANGES: Readonly<Record<string, 'live' | 'client'>> = {
  'xp.apiUrl': 'live',
  'xp.project': 'live',
  'xp.environment': 'live',
  'xp.wrapperFunctions': 'live',
  'xp.flagsFile': 'live',
  'xp.consoleUrl': 'live',
  'xp.trace.server': 'client',
};

/**
 * What a configuration change (VS Code's `affectsConfiguration`) asks of the running server:
 * `restart` for an `xp.*` setting it cannot apply live, `configure` for settings it applies live,
 * `none` for none of its settings.
 */
export function settingsChangeAction(affects: (section: string) => boolean): 'restart' | 'configure' | 'none' {
  if (!affects('xp')) {
    return 'none';
  }
  const changed = Object.keys(SETTING_CHANGES).filter((key) => affects(key));
  if (changed.length === 0) {
    return 'restart';
  }
  return changed.some((key) => SETTING_CHANGES[key] === 'live') ? 'configure' : 'none';
}

/**
 * The language client's options, apart from VS Code objects (the output channel). No
 * `synchronize.fileEvents`: the server registers the watchers it needs (workspace/didChangeWatchedFiles,
 * which vscode-languageclient supports dynamically), as it does in every editor; a watcher here too
 * would send each event twice.
 */
export function languageClientOptions(settings: () => ExtensionSettings): LanguageClientOptions {
  return {
    documentSelector: LANGUAGES.map((language) => ({ scheme: 'file', language })),
    // Read at every start: the client restarts a crashed server itself, which must get the settings
    // changed live since (didChangeConfiguration), not those of the first start.
    initializationOptions: () => initializationOptions(settings()),
  };
}

/**
 * The language server's environment, as `ServerOptions` `options.env`: XP_TOKEN the token signed in
 * with, else empty (the server reads an empty XP_TOKEN as no token). Leaving the key out would not
 * do: vscode-languageclient starts the server with `{ ...process.env, ...options.env }`, so an XP_TOKEN
 * VS Code inherited from a shell would come back. Signed out means signed out: the server would
 * otherwise keep showing API data with a token the extension does not know of (menus hidden,
 * "Sign in" shown).
 */
export function serverEnvironment(inherited: Readonly<Record<string, string | undefined>>, token: string | undefined): Record<string, string | undefined> {
  return { ...inherited, XP_TOKEN: token ?? '' };
}

/**
 * The `options` of the server's `ServerOptions` (node module, stdio). --no-liftoff: tree-sitter's
 * wasm parses twice as fast (see language-server/bin/xp-language-server.js). The token goes in the
 * server's environment (XP_TOKEN), not in initializationOptions, which a protocol trace would write
 * to the output channel and its log file.
 */
export function serverProcessOptions(inherited: Readonly<Record<string, string | undefined>>, token: string | undefined): { execArgv: string[]; env: Record<string, string | undefined> } {
  return { execArgv: ['--no-liftoff'], env: serverEnvironment(inherited, token) };
}
