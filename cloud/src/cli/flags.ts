/**
 * `xp flags off|on KEY --project P --env E`: the on-call kill switch. Reads the flag's current
 * version and toggles it with that version (If-Match) through the API (XP_API_URL, XP_TOKEN), as
 * the console's switch does; a change that needs approval is refused by the API, and the command
 * says how to propose it instead.
 */
import { parseArgs } from 'node:util';
import { ApiError } from '@xp/shared';
import type { XpApiClient } from '@xp/shared';
import { AppError, AppErrorCode } from '../errors.js';
import { printable } from './flags-as-code.js';

export const FLAGS_HELP = `  xp flags off|on KEY --project KEY --env ENV [--at INSTANT]
      Turn a flag off (or on) in one environment now, at its current version. In a protected
      environment an editor may turn a flag off only where an owner or admin allowed it
      ("editors may turn flags off"); anything else there goes through a change request.
      With --at (an instant with a time zone, 2026-12-24T09:00:00+01:00), schedule it instead:
      the platform turns it off (on) then, within about a minute.`;

const USAGE = 'usage: xp flags off|on KEY --project KEY --env ENV [--at INSTANT]';

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
    options: { project: { type: 'string' }, env: { type: 'string' }, environment: { type: 'string' }, at: { type: 'string' } },
  });
  const [sub, key, ...extra] = positionals;
  if (sub !== 'off' && sub !== 'on') {
    throw usage(`${sub === undefined ? 'flags needs a subcommand (off or on)' : `unknown flags subcommand "${sub.slice(0, 100)}"`}; ${USAGE}`);
  }
  if (key === undefined) {
    throw usage(`flags ${sub} needs the flag's key; ${USAGE}`);
  }
  if (extra.length > 0) {
    throw usage(`unexpected argument "${extra[0]!.slice(0, 100)}": flags ${sub} takes one flag (run it once per flag); ${USAGE}`);
  }
  if (values.env !== undefined && values.environment !== undefined && values.env !== values.environment) {
    throw usage('--env and --environment name the same thing; give one');
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
