/**
 * `xp units erase ID… --project P [--yes]`: data-subject deletion (GDPR art. 17) through the API
 * (XP_API_URL, XP_TOKEN; `units:erase`, owners and admins). Ids come from the command line or from
 * a file (`--file`, one per line, for a batch of requests); more than the API takes at once are
 * sent in requests of MAX_ERASED_UNITS, each erased and audited on its own. Not undoable: on a
 * terminal it asks first, and a script must say `--yes`. It prints counts, never the ids.
 */
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { describeErasure } from '@xp/shared';
import type { UnitErasureView, XpApiClient } from '@xp/shared';
import { MAX_ERASED_UNITS, MAX_UNIT_ID_LENGTH as MAX_ID_LENGTH } from '../domain/units.js';
import { AppError, AppErrorCode } from '../errors.js';
import { printable } from './flags-as-code.js';

export const UNITS_HELP = `  xp units erase ID [ID…] --project KEY [--yes]
  xp units erase --file PATH --project KEY [--yes]
      Erase everything the project stores about these units (data-subject deletion): exposures,
      metric totals, tracked and explorer events, sticky assignments, dead letters. Results change
      and it cannot be undone. --file reads one id per line (trimmed, blank lines skipped). More
      than ${MAX_ERASED_UNITS.toLocaleString('en-US')} ids are sent in requests of ${MAX_ERASED_UNITS.toLocaleString('en-US')}, each erased and audited (unit.erased) on its own.
      Asks for confirmation on a terminal; without one (a script) --yes is required.
      Needs units:erase (owners and admins). Prints counts per request, never the ids.`;

const USAGE = 'usage: xp units erase ID [ID…] --project KEY [--yes], or xp units erase --file PATH --project KEY [--yes]';

/** The largest --file read: a million ids of 64 characters. */
const MAX_FILE_BYTES = 64 * 1_048_576;

/** Where the confirmation is asked: the terminal on stdin, or a test's stand-in. */
export interface Prompt {
  /** Whether someone can answer (stdin is a terminal). */
  readonly interactive: boolean;
  /** Asks `question` and resolves with the answer line ('' when the input ends first). */
  ask(question: string): Promise<string>;
}

/** The process's terminal: asks on stderr (stdout carries the summaries), reads one line of stdin. */
export function terminalPrompt(): Prompt {
  return {
    // Typed `true`, but undefined when stdin is a pipe or a file.
    interactive: (process.stdin as { isTTY?: boolean }).isTTY === true,
    ask: (question) =>
      new Promise<string>((resolve) => {
        const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
        let answered = false;
        rl.once('close', () => {
          if (!answered) {
            // Ctrl+D or Ctrl+C: no answer, so no.
            process.stderr.write('\n');
            resolve('');
          }
        });
        rl.question(question, (answer) => {
          answered = true;
          rl.close();
          resolve(answer);
        });
      }),
  };
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** The ids of a --file: one per line, trimmed, blank lines skipped; a line the API would refuse is named by its number (never echoed). */
async function idsOfFile(file: string): Promise<string[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new AppError(AppErrorCode.Validation, `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (bytes.length > MAX_FILE_BYTES) {
    throw new AppError(AppErrorCode.Validation, `${file} is larger than ${MAX_FILE_BYTES / 1_048_576} MB: split it into several files`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new AppError(AppErrorCode.Validation, `${file} is not a text file: it is not UTF-8`);
  }
  const ids: string[] = [];
  text
    .replace(/^\ufeff/, '')
    .split(/\r?\n/)
    .forEach((line, i) => {
      const id = line.trim();
      if (id === '') {
        return;
      }
      if (id.length > MAX_ID_LENGTH || id.includes('\u0000')) {
        throw new AppError(AppErrorCode.Validation, `${file} line ${i + 1}: a unit id is 1 to ${MAX_ID_LENGTH} characters without NUL; nothing was erased`);
      }
      ids.push(id);
    });
  return ids;
}

/**
 * Runs `xp units SUBCOMMAND …`; returns the exit code. `usage` makes the error of a command used
 * the wrong way (exit code 2); other refusals are `AppError`s or the API's `ApiError`s (exit code 1).
 */
export async function runUnits(
  args: readonly string[],
  api: () => XpApiClient,
  print: (line: string) => void,
  printError: (line: string) => void,
  usage: (message: string) => Error,
  prompt: Prompt = terminalPrompt(),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: { project: { type: 'string' }, file: { type: 'string' }, yes: { type: 'boolean', short: 'y', default: false } },
  });
  const [sub, ...given] = positionals;
  if (sub !== 'erase') {
    throw usage(`${sub === undefined ? 'units needs a subcommand (erase)' : `unknown units subcommand "${sub.slice(0, 100)}"`}; ${USAGE}`);
  }
  if (values.file !== undefined && given.length > 0) {
    throw usage(`give the unit ids as arguments or in --file, not both; ${USAGE}`);
  }
  if (values.file === undefined && given.length === 0) {
    throw usage(`units erase needs the unit ids (or --file); ${USAGE}`);
  }
  given.forEach((id, i) => {
    if (id.length === 0 || id.length > MAX_ID_LENGTH) {
      // A bad id, as a bad line of --file: refused (exit code 1) with nothing erased, not a usage error.
      throw new AppError(AppErrorCode.Validation, `unit id ${i + 1} is ${id.length === 0 ? 'empty' : `longer than ${MAX_ID_LENGTH} characters`}: a unit id is 1 to ${MAX_ID_LENGTH} characters, exactly as the SDKs send it; nothing was erased`);
    }
  });
  if (values.project === undefined) {
    throw new AppError(AppErrorCode.Validation, `units erase needs --project; ${USAGE}`);
  }
  const project = values.project;
  const read = values.file === undefined ? given : await idsOfFile(values.file);
  // Counted once: the API counts distinct ids, and a repeat in another request would be erased twice.
  const ids = [...new Set(read)];
  if (ids.length === 0) {
    throw new AppError(AppErrorCode.Validation, `${values.file ?? 'the arguments'} holds no unit ids; nothing was erased`);
  }
  if (!values.yes && !prompt.interactive) {
    throw usage('units erase cannot be undone and stdin is not a terminal to confirm it on: pass --yes to erase without asking (scripts must say so)');
  }
  const client = api();
  const requests = Math.ceil(ids.length / MAX_ERASED_UNITS);
  if (!values.yes) {
    const answer = await prompt.ask(
      printable(`Erase ${plural(ids.length, 'unit')} of project ${project}${requests > 1 ? ` (${requests} requests)` : ''}? This cannot be undone [y/N] `),
    );
    if (!/^(y|yes)$/i.test(answer.trim())) {
      printError('Nothing erased.');
      return 1;
    }
  }
  let erased = 0;
  for (let r = 0; r < requests; r++) {
    const chunk = ids.slice(r * MAX_ERASED_UNITS, (r + 1) * MAX_ERASED_UNITS);
    let counts: UnitErasureView;
    try {
      counts = await client.eraseUnits(project, chunk);
    } catch (e) {
      if (r === 0) {
        throw e;
      }
      // The earlier requests are done and audited: say which ids are left, by position (never by id).
      printError(printable(`error: ${e instanceof Error ? e.message : String(e)}`));
      printError(
        `  requests 1 to ${r} of ${requests} erased ${plural(erased, 'unit')} (the first ${(r * MAX_ERASED_UNITS).toLocaleString('en-US')} distinct ids); ` +
          `ids ${(r * MAX_ERASED_UNITS + 1).toLocaleString('en-US')} to ${ids.length.toLocaleString('en-US')} were not erased: run the command again (erasing an id twice is harmless)`,
      );
      return 1;
    }
    erased += counts.units;
    print(printable(`Erased ${plural(counts.units, 'unit')} of project ${project}${requests > 1 ? ` (request ${r + 1} of ${requests})` : ''}: ${describeErasure(counts)}.`));
  }
  return 0;
}
