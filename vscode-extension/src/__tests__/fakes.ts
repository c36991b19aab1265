import type { Flag, FlagEnvironment, Stored } from '@xp/shared';
import type { ExplainParams, ExplainResult, FlagReferenceSummary, FlagSummary, StatusParams } from '@xp/language-server/protocol';
import type { FlagApi, ServerApi } from '../flag-api.js';
import type { Host, QuickPickOption, Secrets } from '../host.js';

/** VS Code's UI faked at the boundary: scripted answers, recorded messages. */
export class FakeHost implements Host {
  readonly infos: string[] = [];
  readonly errors: string[] = [];
  readonly opened: string[] = [];
  readonly clipboard: string[] = [];
  readonly shown: { title: string; text: string }[] = [];
  readonly prompts: string[] = [];
  /** Answers to inputBox, in order. */
  inputs: (string | undefined)[] = [];
  /** Labels to pick in quick picks, in order. */
  picks: (string | undefined)[] = [];
  /** The quick picks shown: their placeholder and the labels offered. */
  readonly offered: { placeholder: string; labels: string[] }[] = [];
  /** URL prefixes openExternal can open (no xp:// handler installed unless listed). */
  openable: string[] = ['http'];

  /** Questions asked with confirm(), and the answers to give, in order (yes by default). */
  readonly confirmations: string[] = [];
  answers: boolean[] = [];

  showInformation(message: string): void {
    this.infos.push(message);
  }
  confirm(message: string, _action: string): Promise<boolean> {
    this.confirmations.push(message);
    return Promise.resolve(this.answers.shift() ?? true);
  }
  showError(message: string): void {
    this.errors.push(message);
  }
  inputBox(options: { prompt: string; value?: string; validate?: (value: string) => string | undefined }): Promise<string | undefined> {
    this.prompts.push(options.value === undefined ? options.prompt : `${options.prompt} [${options.value}]`);
    const answer = this.inputs.shift();
    if (answer !== undefined && options.validate?.(answer) !== undefined) {
      throw new Error(`scripted input "${answer}" is invalid: ${String(options.validate(answer))}`);
    }
    return Promise.resolve(answer);
  }
  quickPick<T>(items: readonly QuickPickOption<T>[], placeholder: string): Promise<T | undefined> {
    this.offered.push({ placeholder, labels: items.map((i) => i.label) });
    const label = this.picks.shift();
    return Promise.resolve(items.find((i) => i.label === label)?.value);
  }
  copyToClipboard(text: string): Promise<void> {
    this.clipboard.push(text);
    return Promise.resolve();
  }
  openExternal(url: string): Promise<boolean> {
    const ok = this.openable.some((p) => url.startsWith(p));
    if (ok) {
      this.opened.push(url);
    }
    return Promise.resolve(ok);
  }
  showText(title: string, text: string): Promise<void> {
    this.shown.push({ title, text });
    return Promise.resolve();
  }
}

/**
 * SecretStorage faked: values, a log of the writes, and onDidChange, which VS Code fires for every
 * write (in this window too), here as soon as the value is written.
 */
export class FakeSecrets implements Secrets {
  readonly values = new Map<string, string>();
  /** `store key=value` and `delete key`, in order. */
  readonly log: string[] = [];
  private readonly listeners: ((e: { key: string }) => void)[] = [];
  onDidChange(listener: (e: { key: string }) => void): void {
    this.listeners.push(listener);
  }
  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.values.get(key));
  }
  store(key: string, value: string): Promise<void> {
    this.values.set(key, value);
    this.log.push(`store ${key}=${value}`);
    this.changed(key);
    return Promise.resolve();
  }
  delete(key: string): Promise<void> {
    this.values.delete(key);
    this.log.push(`delete ${key}`);
    this.changed(key);
    return Promise.resolve();
  }
  private changed(key: string): void {
    for (const l of this.listeners) {
      l({ key });
    }
  }
}

/**
 * The management API faked at its HTTP boundary's interface, with the server's version checks: a
 * write with a stale version is rejected, as the real API does with 409.
 */
export class FakeFlagApi implements FlagApi {
  readonly calls: string[] = [];
  /** What me() answers: a user, or an error (a refused token). */
  whoami: { email: string; role: string } | Error = { email: 'ana@example.com', role: 'editor' };
  constructor(readonly flags: Map<string, Stored<Flag>>) {}

  me(): Promise<{ email: string; role: string }> {
    return this.whoami instanceof Error ? Promise.reject(this.whoami) : Promise.resolve(this.whoami);
  }

  get(_project: string, _kind: 'flags', key: string): Promise<Stored<Flag>> {
    const f = this.flags.get(key);
    return f === undefined ? Promise.reject(new Error(`flag "${key}" not found`)) : Promise.resolve(f);
  }
  toggleFlag(project: string, key: string, environment: string, enabled: boolean, version: number): Promise<Stored<Flag>> {
    const f = this.flags.get(key)!;
    const env = f.definition.environments[environment]!;
    return this.setFlagEnvironment(project, key, environment, { ...env, enabled }, version);
  }
  setFlagEnvironment(project: string, key: string, environment: string, state: FlagEnvironment, version: number): Promise<Stored<Flag>> {
    this.calls.push(`${project}/${key}/${environment} v${version}`);
    const f = this.flags.get(key)!;
    if (f.version !== version) {
      return Promise.reject(new Error('version conflict'));
    }
    const next: Stored<Flag> = { ...f, version: f.version + 1, definition: { ...f.definition, environments: { ...f.definition.environments, [environment]: state } } };
    this.flags.set(key, next);
    return Promise.resolve(next);
  }
}

export class FakeServer implements ServerApi {
  refreshes = 0;
  readonly explained: ExplainParams[] = [];
  constructor(
    readonly summaries: FlagSummary[],
    readonly explanation: ExplainResult,
  ) {}
  flags(): Promise<readonly FlagSummary[]> {
    return Promise.resolve(this.summaries);
  }
  flagReferences(flagKey: string): Promise<readonly FlagReferenceSummary[]> {
    return Promise.resolve(this.summaries.find((s) => s.key === flagKey)?.references ?? []);
  }
  refresh(): Promise<StatusParams> {
    this.refreshes++;
    return Promise.resolve({ source: 'api', project: 'shop', environment: 'production', flags: this.summaries.length, fetchedAt: null, error: null, indexing: false, references: 0, live: false });
  }
  explain(params: ExplainParams): Promise<ExplainResult> {
    this.explained.push(params);
    return Promise.resolve(this.explanation);
  }
}

export function storedFlag(definition: Flag, version = 3): Stored<Flag> {
  return { key: definition.key, version, archived: false, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-02T00:00:00Z', createdBy: null, updatedBy: null, definition };
}
