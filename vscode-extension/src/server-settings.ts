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

/**
 * The language client's options, apart from VS Code objects (the output channel). No
 * `synchronize.fileEvents`: the server registers the watchers it needs (workspace/didChangeWatchedFiles,
 * which vscode-languageclient supports dynamically), as it does in every editor; a watcher here too
 * would send each event twice.
 */
export function languageClientOptions(settings: ExtensionSettings): LanguageClientOptions {
  return {
    documentSelector: LANGUAGES.map((language) => ({ scheme: 'file', language })),
    initializationOptions: initializationOptions(settings),
  };
}

/**
 * The language server's environment: VS Code's, with XP_TOKEN the token signed in with, and without
 * an XP_TOKEN VS Code inherited from a shell. Signed out means signed out: the server would otherwise
 * keep showing API data with a token the extension does not know of (menus hidden, "Sign in" shown).
 */
export function serverEnvironment(inherited: Readonly<Record<string, string | undefined>>, token: string | undefined): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...inherited };
  delete env.XP_TOKEN;
  return token === undefined ? env : { ...env, XP_TOKEN: token };
}
