import type { XpSettings } from '@xp/language-server/protocol';
import type { ExtensionSettings } from './host.js';

/** The language server's initialization options from the extension's settings and stored token. */
export function initializationOptions(settings: ExtensionSettings, token: string | undefined): XpSettings {
  return {
    environment: settings.environment,
    wrapperFunctions: settings.wrapperFunctions,
    ...(settings.apiUrl === undefined ? {} : { apiUrl: settings.apiUrl }),
    ...(token === undefined ? {} : { token }),
    ...(settings.project === undefined ? {} : { project: settings.project }),
    ...(settings.flagsFile === undefined ? {} : { flagsFile: settings.flagsFile }),
    ...(settings.consoleUrl === undefined ? {} : { consoleUrl: settings.consoleUrl }),
  };
}
