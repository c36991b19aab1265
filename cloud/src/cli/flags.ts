/**
 * `xp flags off|on KEY --project P --env E`: the on-call kill switch. Reads the flag's current
 * version and toggles it with that version (If-Match) through the API (XP_API_URL, XP_TOKEN), as
 * the console's switch does; a change that needs approval is refused by the API, and the command
 * says how to propose it instead. `xp flags usage` is in flags-usage.ts.
 */
import { parseArgs } from 'node:util';
import { APP_NAME_MESSAGE, APP_NAME_PATTERN, ApiError } from '@xp/shared';
import type { XpApiClient } from '@xp/shared';
import { AppError, AppErrorCode } from '../errors.js';
import { EVALUATION_DAYS_KEPT, projectOfFlagsFile } from './code-refs.js';
import { printable } from './flags-as-code.js';
import { USAGE_DEFAULT_DAYS, USAGE_DEFAULT_LIMIT, USAGE_MAX_LIMIT, UsageStatus, droppedWarning, flagUsage, usageLines } from './flags-usage.js';

export const FLAGS_HELP = `  xp flags off|on KEY --project KEY --env ENV [--at INSTANT]
      Turn a flag off (or on) in one environment now, at its current version. In a protected
      environment an editor may turn a flag off only where an owner or admin allowed it
      ("editors may turn flags off"); anything else there goes through a change request.
      With --at (an instant with a time zone, 2026-12-24T09:00:00+01:00), schedule it instead:
      the platform turns it off (on) then, within about a minute.
  xp flags usage [--project KEY] [--environment ENV] [--app NAME] [--days 30] [--limit 1000] [--unused] [--json]
      How often SDKs evaluated each flag in the last --days days (1 to 90), per environment, and
      when last; flags not evaluated, and keys evaluated that no flag has ("not defined"). The
      project is --project, else the one a flags file in this folder names. --unused lists only
      the flags, older than the window, that no SDK evaluated (exit code 0 either way); none
      while counting began less than --days ago. A project whose SDKs report no evaluation
      counts gets that said, and no flag called unused. Where SDKs name their application
      (appName), an APPS column lists the top 3 that evaluated each flag; --app NAME counts only
      that application's evaluations. Keys no flag has are listed up to --limit (1 to 5000, default
      1000), the most evaluated first; a line under the table says how many more there are.`;

const USAGE = 'usage: xp flags off|on KEY --project KEY --env ENV [--at INSTANT], or xp flags usage [--project KEY] [--environment ENV] [--app NAME] [--days 30] [--limit 1000] [--unused] [--json]';

/** Tries made when someone else changes the flag between the read and the toggle. */
const ATTEMPTS = 3;

/**
 * Runs `xp flags SUBCOMMAND …`; returns the exit code. `usage` makes the error of a command used
 * the wrong way (exit code 2); other refusals are `AppError`s or the API's `ApiError`s (exit code 1).
 */
export async function runFlags(
  args: readonly string[],
  api: () => XpApiClient,
  print: (line: string) => void,
  printError: (line: string) => void,
  usage: (message: string) => Error,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      project: { type: 'string' },
      env: { type: 'string' },
      environment: { type: 'string' },
      at: { type: 'string' },
      days: { type: 'string' },
      limit: { type: 'string' },
      app: { type: 'string' },
      unused: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const [sub, key, ...extra] = positionals;
  if (values.env !== undefined && values.environment !== undefined && values.env !== values.environment) {
    throw usage('--env and --environment name the same thing; give one');
  }
  if (sub === 'usage') {
    if (key !== undefined) {
      throw usage(`unexpected argument "${key.slice(0, 100)}": flags usage lists every flag of the project; ${USAGE}`);
    }
    if (values.at !== undefined) {
      throw usage(`flags usage takes no --at; ${USAGE}`);
    }
    return runFlagsUsage(values, api, print, printError);
  }
  if (sub !== 'off' && sub !== 'on') {
    throw usage(`${sub === undefined ? 'flags needs a subcommand (off, on or usage)' : `unknown flags subcommand "${sub.slice(0, 100)}"`}; ${USAGE}`);
  }
  const notHere = [values.days !== undefined && '--days', values.limit !== undefined && '--limit', values.app !== undefined && '--app', values.unused && '--unused', values.json && '--json'].filter((o): o is string => o !== false);
  if (notHere.length > 0) {
    throw usage(`flags ${sub} takes no ${notHere.join(', ')} (those are flags usage's); ${USAGE}`);
  }
  if (key === undefined) {
    throw usage(`flags ${sub} needs the flag's key; ${USAGE}`);
  }
  if (extra.length > 0) {
    throw usage(`unexpected argument "${extra[0]!.slice(0, 100)}": flags ${sub} takes one flag (run it once per flag); ${USAGE}`);
  }
  const environment = values.env ?? values.environment;
  if (values.project === undefined || environment === undefined) {
    throw new AppError(AppErrorCode.Validation, `flags ${sub} needs ${values.project === undefined ? '--project' : '--env'}; ${USAGE}`);
  }
  const project = values.project;
  const enabled = sub === 'on';
  const client = api();
  if (values.at !== undefined) {
    try {
      const scheduled = await client.scheduleChange(project, key, { environment, at: values.at, state: { enabled } });
      print(printable(`Scheduled ${key} ${sub} in ${environment} at ${scheduled.at} (UTC), change ${scheduled.id}; cancel it from the flag's page or with DELETE …/flags/${key}/scheduled-changes/${scheduled.id}.`));
      return 0;
    } catch (e) {
      if (e instanceof ApiError && e.code === 'APPROVAL_REQUIRED') {
        printError(printable(`error: ${e.message}`));
        printError(printable(`  in ${environment} a change at a time is a change request with applyAt (the console's "Schedule this change…" proposes one), applied then once approved`));
        return 1;
      }
      throw e;
    }
  }
  for (let attempt = 1; ; attempt++) {
    const flag = await client.get(project, 'flags', key);
    const state = flag.definition.environments[environment];
    if (state?.enabled === enabled) {
      print(printable(`${key} is already ${sub} in ${environment} (version ${flag.version}).`));
      return 0;
    }
    try {
      const toggled = await client.toggleFlag(project, key, environment, enabled, flag.version);
      print(printable(`Turned ${key} ${sub} in ${environment} (version ${toggled.version}).`));
      return 0;
    } catch (e) {
      if (e instanceof ApiError && e.code === 'VERSION_CONFLICT' && attempt < ATTEMPTS) {
        // Changed by someone else since the read: read it again and toggle what is there now.
        continue;
      }
      if (e instanceof ApiError && e.code === 'APPROVAL_REQUIRED') {
        printError(printable(`error: ${e.message}`));
        printError(
          printable(
            `  turning ${key} ${sub} in ${environment} needs an approved change request: propose it with xp apply --propose (xp export --project ${project}, change the flag's state there, then xp apply FILE --propose) or from the flag's page in the console` +
              (enabled ? '' : `; an owner or admin may also let editors turn flags off in ${environment} (the environment's "editors may turn flags off" setting)`),
          ),
        );
        return 1;
      }
      throw e;
    }
  }
}

/** `xp flags usage`: the table (or --unused's list, or --json) of the project's evaluation counts; exit code 0. */
async function runFlagsUsage(
  values: { project?: string | undefined; env?: string | undefined; environment?: string | undefined; days?: string | undefined; limit?: string | undefined; app?: string | undefined; unused: boolean; json: boolean },
  api: () => XpApiClient,
  print: (line: string) => void,
  printError: (line: string) => void,
): Promise<number> {
  const daysText = values.days ?? String(USAGE_DEFAULT_DAYS);
  const days = Number(daysText);
  if (!/^\d+$/.test(daysText) || days < 1 || days > EVALUATION_DAYS_KEPT) {
    throw new AppError(AppErrorCode.Validation, `--days must be a whole number of days from 1 to ${EVALUATION_DAYS_KEPT} (the counts kept), not ${JSON.stringify(daysText.slice(0, 100))}`);
  }
  const limitText = values.limit ?? String(USAGE_DEFAULT_LIMIT);
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > USAGE_MAX_LIMIT) {
    throw new AppError(AppErrorCode.Validation, `--limit must be a whole number of keys from 1 to ${USAGE_MAX_LIMIT} (the most the server lists), not ${JSON.stringify(limitText.slice(0, 100))}`);
  }
  if (values.app !== undefined && !APP_NAME_PATTERN.test(values.app)) {
    throw new AppError(AppErrorCode.Validation, `--app ${JSON.stringify(values.app.slice(0, 100))}: an application name ${APP_NAME_MESSAGE}`);
  }
  const project = values.project ?? projectOfFlagsFile(process.cwd());
  if (project === undefined) {
    throw new AppError(AppErrorCode.Validation, 'flags usage needs --project KEY (or a flags file naming the project in this folder)');
  }
  const report = await flagUsage(api(), project, days, values.env ?? values.environment, values.app, values.limit === undefined ? undefined : limit);
  const dropped = droppedWarning(report);
  if (dropped !== undefined) {
    // On stderr: --json and --unused keep their output as it is read.
    printError(dropped);
  }
  if (values.json) {
    print(JSON.stringify(values.unused ? { ...report, flags: report.flags.filter((r) => r.status === UsageStatus.NotEvaluated) } : report, null, 2));
    return 0;
  }
  for (const line of usageLines(report, values.unused)) {
    print(line);
  }
  return 0;
}
