import type { FlagEnvironment, Rule } from '@xp/shared';
import { ApiError } from '@xp/shared';
import type { FlagSummary, StatusParams } from '@xp/language-server/protocol';
import type { FlagApi, ServerApi } from './flag-api.js';
import type { FlagTreeNode } from './flags-tree.js';
import type { ExtensionSettings, Host, Secrets } from './host.js';
import { TOKEN_SECRET } from './host.js';

/** Command ids, as contributed in package.json. */
export const CommandId = {
  /** Ask for a personal access token and keep it in SecretStorage. */
  SignIn: 'xp.signIn',
  /** Forget the token. */
  SignOut: 'xp.signOut',
  /** Turn a flag on or off in one environment. */
  ToggleFlag: 'xp.toggleFlag',
  /** Set the coverage of a flag's rollout rule in one environment. */
  ChangeRollout: 'xp.changeRollout',
  /** Open the flag in the desktop console (xp:// deep link), else the web console. */
  OpenInDesktop: 'xp.openInDesktop',
  /** Open the flag in the web console. */
  OpenInWebConsole: 'xp.openInWebConsole',
  /** Evaluate the flag for user attributes and show the reason and bucket. */
  Explain: 'xp.explain',
  /** Copy the flag key. */
  CopyKey: 'xp.copyKey',
  /** The code lens action: pick one of the commands above for a flag. */
  ShowFlag: 'xp.showFlag',
  /** Re-fetch flag data now. */
  Refresh: 'xp.refresh',
} as const;
export type CommandId = (typeof CommandId)[keyof typeof CommandId];

export interface CommandDeps {
  readonly host: Host;
  readonly secrets: Secrets;
  readonly settings: () => ExtensionSettings;
  /** An API client with this token, or undefined when no API URL is set. */
  readonly api: (token: string) => FlagApi | undefined;
  readonly server: ServerApi;
  readonly status: () => StatusParams | undefined;
  /** Restarts the language server with the stored token, unless it already runs with it. */
  readonly credentialsChanged: () => Promise<void>;
}

type Handler = (arg?: unknown) => Promise<void>;

function keyOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') {
    return arg;
  }
  if (arg !== null && typeof arg === 'object' && 'kind' in arg) {
    const node = arg as FlagTreeNode;
    return node.kind === 'group' ? undefined : node.flag.key;
  }
  return undefined;
}

/** The API refused the token itself (401), not the request. */
function isRefused(e: unknown): boolean {
  return e instanceof ApiError && e.status === 401;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A flag of the project (archived included), not a key found only in code. */
function known(flag: FlagSummary): boolean {
  return flag.state !== 'unknown';
}

/** Toggle and rollout apply to a flag of the project that is not archived (the API refuses to change an archived one). */
function changeable(flag: FlagSummary): boolean {
  return known(flag) && flag.state !== 'archived';
}

/** Why an archived flag is not changed; unarchiving is the console's job. */
function archivedText(key: string): string {
  return `xp: ${key} is archived: unarchive it in the console to change it`;
}

/** The first rollout rule of an environment, whose coverage "change rollout" edits. */
function rolloutIndex(env: FlagEnvironment): number {
  return env.rules.findIndex((r) => r.type === 'rollout');
}

export function parseAttributes(text: string): Record<string, unknown> | string {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) {
    return trimmed === '' ? 'enter a user id or a JSON object of attributes' : { id: trimmed };
  }
  try {
    const value: unknown = JSON.parse(trimmed);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : 'attributes must be a JSON object';
  } catch {
    return 'not valid JSON';
  }
}

/**
 * The web console's address when xp.consoleUrl is not set, the rule the language server's hover links
 * follow (its `consoleUrl`): only the local stack's is known, the API on port 8000 and the console on
 * 3000 of the same host. The console is served at the root of its port (docs/console.md), so a path
 * in the API URL (a proxy's prefix) is not the console's: the origin alone.
 */
export function localConsoleUrl(apiUrl: string | undefined): string | undefined {
  let url: URL;
  try {
    url = new URL(apiUrl ?? '');
  } catch {
    return undefined;
  }
  // The server ignores an API URL that is not http(s) or that holds a user name or password.
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '' || url.port !== '8000') {
    return undefined;
  }
  url.port = '3000';
  return url.origin;
}

/** Every command's logic, keyed by id; `extension.ts` registers them. */
export function createCommands(deps: CommandDeps): Record<CommandId, Handler> {
  const { host } = deps;

  /** The flag `arg` names, else one picked among the flags `offered` accepts. */
  const pickFlag = async (arg: unknown, offered: (flag: FlagSummary) => boolean): Promise<FlagSummary | undefined> => {
    const flags = await deps.server.flags();
    const key = keyOf(arg);
    if (key !== undefined) {
      return flags.find((f) => f.key === key) ?? { key, name: key, type: 'unknown', state: 'unknown', summary: '', environments: [], variations: [], version: null, referenceCount: 0, references: [] };
    }
    const candidates = flags.filter(offered);
    return host.quickPick(
      candidates.map((f) => ({ label: f.key, description: f.summary === '' ? f.name : `${f.name} · ${f.summary}`, value: f })),
      'Flag',
    );
  };

  const pickEnvironment = async (flag: FlagSummary): Promise<string | undefined> => {
    const preferred = deps.settings().environment;
    const envs = [...flag.environments].sort((a, b) => Number(b.key === preferred) - Number(a.key === preferred));
    if (envs.length === 0) {
      host.showError(`xp: ${flag.key} has no environments configured`);
      return undefined;
    }
    return host.quickPick(
      envs.map((e) => ({ label: e.key, description: e.summary, value: e.key })),
      `Environment for ${flag.key}`,
    );
  };

  const projectOrError = (): string | undefined => {
    const project = deps.status()?.project ?? deps.settings().project;
    if (project === undefined) {
      host.showError('xp: no project: set xp.project or sign in');
      return undefined;
    }
    return project;
  };

  const apiOrError = async (): Promise<FlagApi | undefined> => {
    const token = await deps.secrets.get(TOKEN_SECRET);
    const api = token === undefined ? undefined : deps.api(token);
    if (api === undefined) {
      host.showError('xp: sign in first ("xp: Sign in") and set xp.apiUrl');
    }
    return api;
  };
  /** The API, project, a changeable flag and one of its environments, asked for in that order; undefined once any is missing. */
  const flagInEnvironment = async (arg: unknown): Promise<{ api: FlagApi; project: string; flag: FlagSummary; environment: string } | undefined> => {
    const api = await apiOrError();
    const project = projectOrError();
    let flag = api === undefined || project === undefined ? undefined : await pickFlag(arg, changeable);
    if (flag?.state === 'archived') {
      host.showError(archivedText(flag.key));
      flag = undefined;
    }
    const environment = flag === undefined ? undefined : await pickEnvironment(flag);
    return api === undefined || project === undefined || flag === undefined || environment === undefined ? undefined : { api, project, flag, environment };
  };

  const webConsoleUrl = (key: string): string | undefined => {
    const settings = deps.settings();
    const project = deps.status()?.project ?? settings.project;
    const base = settings.consoleUrl ?? localConsoleUrl(settings.apiUrl);
    if (base === undefined || project === undefined) {
      return undefined;
    }
    // The console routes after "#"; the project rides in the query so the link opens the right one.
    return `${base.replace(/\/+$/, '')}/?project=${encodeURIComponent(project)}#/flags/${encodeURIComponent(key)}`;
  };

  const commands: Record<CommandId, Handler> = {
    [CommandId.SignIn]: async () => {
      const input = await host.inputBox({ prompt: 'xp personal access token (POST /api/v1/me/tokens)', password: true, validate: (v) => (v.trim() === '' ? 'the token is empty' : undefined) });
      if (input === undefined) {
        return;
      }
      const token = input.trim();
      // Checked before it is kept: a token the API refuses never reaches the language server (which
      // would call the API with it) nor the menus, and the token signed in with before stays.
      const candidate = deps.api(token);
      let signedIn = 'xp: signed in';
      if (candidate !== undefined) {
        try {
          const me = await candidate.me();
          signedIn = `xp: signed in as ${me.email} (${me.role})`;
        } catch (e) {
          if (isRefused(e)) {
            host.showError(`xp: ${deps.settings().apiUrl ?? 'the API'} refused that token (expired, revoked or mistyped); not signed in`);
            return;
          }
          signedIn = `xp: signed in; the token could not be checked now (${errorText(e)})`;
        }
      }
      await deps.secrets.store(TOKEN_SECRET, token);
      await deps.credentialsChanged();
      host.showInformation(signedIn);
    },
    [CommandId.SignOut]: async () => {
      await deps.secrets.delete(TOKEN_SECRET);
      await deps.credentialsChanged();
      host.showInformation('xp: signed out');
    },
    [CommandId.ToggleFlag]: async (arg) => {
      const target = await flagInEnvironment(arg);
      if (target === undefined) {
        return;
      }
      const { api, project, flag, environment } = target;
      try {
        const current = await api.get(project, 'flags', flag.key);
        // Archived since the server's data was fetched.
        if (current.archived) {
          host.showError(archivedText(flag.key));
          return;
        }
        const enabled = current.definition.environments[environment]?.enabled ?? false;
        // A toggle changes what every SDK in the environment serves within seconds: asked first.
        if (!(await host.confirm(`Turn ${flag.key} ${enabled ? 'OFF' : 'ON'} in ${environment}? Every SDK reading ${environment} serves it within seconds.`, enabled ? 'Turn off' : 'Turn on'))) {
          return;
        }
        await api.toggleFlag(project, flag.key, environment, !enabled, current.version);
        await deps.server.refresh();
        host.showInformation(`xp: ${flag.key} is now ${enabled ? 'OFF' : 'ON'} in ${environment}`);
      } catch (e) {
        host.showError(`xp: cannot toggle ${flag.key}: ${errorText(e)}`);
      }
    },
    [CommandId.ChangeRollout]: async (arg) => {
      const target = await flagInEnvironment(arg);
      if (target === undefined) {
        return;
      }
      const { api, project, flag, environment } = target;
      try {
        const current = await api.get(project, 'flags', flag.key);
        if (current.archived) {
          host.showError(archivedText(flag.key));
          return;
        }
        const env = current.definition.environments[environment];
        if (env === undefined) {
          host.showError(`xp: ${flag.key} is not configured in ${environment}`);
          return;
        }
        const index = rolloutIndex(env);
        const existing = index < 0 ? undefined : env.rules[index];
        let variation = existing?.type === 'rollout' ? existing.variation : undefined;
        variation ??= await host.quickPick(
          current.definition.variations.filter((v) => v.key !== env.defaultVariation).map((v) => ({ label: v.key, description: JSON.stringify(v.value), value: v.key })),
          `Variation to roll out in ${environment}`,
        );
        if (variation === undefined) {
          return;
        }
        const before = existing?.type === 'rollout' ? String(Math.round(existing.coverage * 1000) / 10) : '10';
        const percent = await host.inputBox({
          prompt: `Rollout of "${variation}" in ${environment}, in percent`,
          value: before,
          validate: (v) => (/^\d+(\.\d+)?$/.test(v.trim()) && Number(v) <= 100 ? undefined : 'a number from 0 to 100'),
        });
        if (percent === undefined) {
          return;
        }
        const coverage = Number(percent) / 100;
        const rules: Rule[] = [...env.rules];
        if (existing?.type === 'rollout' && existing.schedule !== undefined && existing.schedule.length > 0) {
          // A scheduled ramp sets the coverage from its steps: a new number alone would change nothing.
          if (!(await host.confirm(`The rollout of ${flag.key} in ${environment} follows a scheduled ramp, which decides its coverage. Remove the schedule and roll out to ${Number(percent)}%?`, 'Remove the schedule'))) {
            return;
          }
          const { schedule: _ramp, ...rest } = existing;
          rules[index] = { ...rest, coverage };
        } else if (existing?.type === 'rollout') {
          rules[index] = { ...existing, coverage };
        } else {
          // After the targeting rules: a rollout must not override a force-off rule for the users it covers.
          rules.push({ id: 'rollout', type: 'rollout', variation, coverage, hashAttribute: 'id', hashVersion: 2 });
        }
        await api.setFlagEnvironment(project, flag.key, environment, { ...env, rules }, current.version);
        await deps.server.refresh();
        host.showInformation(`xp: ${flag.key} rolls out "${variation}" to ${Number(percent)}% in ${environment}`);
      } catch (e) {
        host.showError(`xp: cannot change the rollout of ${flag.key}: ${errorText(e)}`);
      }
    },
    [CommandId.OpenInDesktop]: async (arg) => {
      const flag = await pickFlag(arg, known);
      if (flag === undefined) {
        return;
      }
      if (await host.openExternal(`xp://flag/${encodeURIComponent(flag.key)}`)) {
        return;
      }
      const url = webConsoleUrl(flag.key);
      if (url === undefined || !(await host.openExternal(url))) {
        host.showError('xp: neither the desktop console nor a web console URL (xp.consoleUrl) is available');
      }
    },
    [CommandId.OpenInWebConsole]: async (arg) => {
      const flag = await pickFlag(arg, known);
      if (flag === undefined) {
        return;
      }
      const url = webConsoleUrl(flag.key);
      if (url === undefined) {
        host.showError('xp: set xp.consoleUrl (only the local stack\'s console, API on port 8000, is known without it) and a project');
        return;
      }
      await host.openExternal(url);
    },
    [CommandId.Explain]: async (arg) => {
      const flag = await pickFlag(arg, known);
      if (flag === undefined) {
        return;
      }
      const text = await host.inputBox({
        prompt: `User for ${flag.key}: an id, or JSON attributes such as {"id":"u1","country":"FR"}`,
        validate: (v) => {
          const parsed = parseAttributes(v);
          return typeof parsed === 'string' ? parsed : undefined;
        },
      });
      if (text === undefined) {
        return;
      }
      const attributes = parseAttributes(text);
      if (typeof attributes === 'string') {
        return;
      }
      const r = await deps.server.explain({ flagKey: flag.key, attributes });
      const lines = [
        `# ${flag.key} in ${r.environment}`,
        '',
        `- value: \`${JSON.stringify(r.value)}\`${r.variationKey === null ? '' : ` (variation \`${r.variationKey}\`)`}`,
        `- reason: ${r.reason}${r.ruleId === null ? '' : ` (rule \`${r.ruleId}\`)`}`,
        ...(r.bucket === null ? [] : [`- bucket: ${r.bucket.toFixed(4)}`]),
        ...(r.experiment === null ? [] : [`- experiment: \`${r.experiment.key}\` → \`${r.experiment.variationKey}\`${r.experiment.inExperiment ? '' : ' (forced)'}`]),
        ...(r.errorCode === null ? [] : [`- error: ${r.errorCode}`]),
        `- ruleset: ${r.rulesetPublished ? 'published' : 'compiled from the definitions'} (${r.rulesetSource === 'api' ? 'from the API' : `from the ${r.rulesetSource === 'flags-file' ? 'flags file' : r.rulesetSource}`})`,
        '',
        '## Trace',
        '',
        ...r.trace.map((t) => `- ${t.ruleId === undefined ? '' : `\`${t.ruleId}\`: `}${t.outcome}${t.detail === undefined ? '' : ` — ${t.detail}`}`),
        '',
        '## Attributes',
        '',
        '```json',
        JSON.stringify(attributes, null, 2),
        '```',
      ];
      await host.showText(`xp explain ${flag.key}`, lines.join('\n'));
    },
    [CommandId.CopyKey]: async (arg) => {
      const flag = await pickFlag(arg, () => true);
      if (flag === undefined) {
        return;
      }
      await host.copyToClipboard(flag.key);
      host.showInformation(`xp: copied ${flag.key}`);
    },
    [CommandId.ShowFlag]: async (arg) => {
      const key = keyOf(arg);
      if (key === undefined) {
        return;
      }
      // An archived flag gets what the Flags view's menu offers it (xp-archived-flag): no toggle or rollout.
      const archived = (await deps.server.flags()).some((f) => f.key === key && f.state === 'archived');
      const next = await host.quickPick<CommandId>(
        [
          ...(archived
            ? []
            : [
                { label: 'Toggle in an environment', value: CommandId.ToggleFlag },
                { label: 'Change rollout', value: CommandId.ChangeRollout },
              ]),
          { label: 'Explain for a user', value: CommandId.Explain },
          { label: 'Open in desktop console', value: CommandId.OpenInDesktop },
          { label: 'Open in web console', value: CommandId.OpenInWebConsole },
          { label: 'Copy key', value: CommandId.CopyKey },
        ],
        archived ? `${key} (archived: unarchive it in the console to change it)` : key,
      );
      if (next !== undefined) {
        await commands[next](key);
      }
    },
    [CommandId.Refresh]: async () => {
      const status = await deps.server.refresh();
      host.showInformation(`xp: ${status.flags} flags (${status.source})`);
    },
  };
  return commands;
}
