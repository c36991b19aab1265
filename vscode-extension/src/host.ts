/**
 * The slice of the VS Code API the extension's logic uses. `extension.ts` implements it with the
 * real API; tests implement it with fakes, so commands and views are tested without an editor.
 */
export interface QuickPickOption<T> {
  readonly label: string;
  readonly description?: string;
  readonly value: T;
}

export interface Host {
  showInformation(message: string): void;
  showError(message: string): void;
  /** Undefined when the user cancels. */
  inputBox(options: { prompt: string; value?: string; password?: boolean; validate?: (value: string) => string | undefined }): Promise<string | undefined>;
  quickPick<T>(items: readonly QuickPickOption<T>[], placeholder: string): Promise<T | undefined>;
  copyToClipboard(text: string): Promise<void>;
  openExternal(url: string): Promise<boolean>;
  /** A modal question; true when the user chose `action`. */
  confirm(message: string, action: string): Promise<boolean>;
  /** Shows a document (read-only text) beside the editor. */
  showText(title: string, text: string): Promise<void>;
}

/** The token in VS Code's SecretStorage (the OS keychain), never in settings. */
export interface Secrets {
  get(key: string): Promise<string | undefined>;
  store(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

/** `xp.*` settings. */
export interface ExtensionSettings {
  readonly apiUrl: string | undefined;
  readonly project: string | undefined;
  readonly environment: string;
  readonly wrapperFunctions: readonly string[];
  readonly flagsFile: string | undefined;
  readonly consoleUrl: string | undefined;
}

export const TOKEN_SECRET = 'xp.token';
