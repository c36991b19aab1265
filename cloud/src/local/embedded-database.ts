/**
 * The data folder's embedded PostgreSQL (PGlite in `<data dir>/postgres`), opened with checks that
 * keep a damaged folder from being mistaken for a new one, and with errors that say what to do.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError, AppErrorCode } from '../errors.js';
import { LOW_DISK_BYTES, freeDiskBytes, isDiskFullError, mib } from './disk-space.js';
import type { Database } from '../store/database.js';
import { createPgliteDatabase } from '../store/db.js';

/** The embedded database's folder in a data folder. */
export const embeddedDatabaseDir = (dataDir: string): string => path.join(dataDir, 'postgres');

const recovery = (dir: string): string =>
  `keep a copy first (cp -a ${dir} ${dir}.copy), then restore ${dir} from a backup, or move it away (mv ${dir} ${dir}.damaged) to start with a new, empty database`;

/**
 * What to tell when the embedded database in `dir` failed to open with `e`, `free` bytes being free
 * on its disk. A full disk makes PGlite abort just as damaged files do: then the database is very
 * likely intact, and moving it away (the advice for damaged files) would throw its data away.
 */
export function openFailureMessage(dir: string, e: unknown, free: number | undefined): string {
  const full = isDiskFullError(e) || (free !== undefined && free < LOW_DISK_BYTES);
  if (full) {
    const left = free === undefined ? 'no space left' : `${mib(free)} free`;
    return `the disk holding ${dir} is full (${left}): the embedded database could not be opened (${embeddedFailureReason(e)}). Free space on that disk and start again; the database is probably intact: do not move it away`;
  }
  const space = free === undefined ? '' : ` (${mib(free)} free now)`;
  return isAbort(e) || (e instanceof Error && isAbort(e.cause))
    ? `the embedded database in ${dir} could not be opened (PGlite aborted: its files are damaged or incomplete, or its disk was full${space}): first check the free space on its disk; if that is not it, ${recovery(dir)}`
    : `the embedded database in ${dir} could not be opened: ${embeddedFailureReason(e)}`;
}

/**
 * Refuses a `postgres/` folder that holds files but is not a PostgreSQL data directory (PG_VERSION
 * missing): PGlite would otherwise run initdb over it, and a populated platform would start again
 * as a new, empty one ("First start"). A missing or empty folder is a first start.
 */
export async function checkEmbeddedDatabaseDir(dataDir: string): Promise<void> {
  const dir = embeddedDatabaseDir(dataDir);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return;
    }
    throw new AppError(AppErrorCode.InvalidState, `cannot read the embedded database folder ${dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (entries.length === 0) {
    return;
  }
  const version = await stat(path.join(dir, 'PG_VERSION')).catch(() => undefined);
  if (version === undefined || !version.isFile()) {
    throw new AppError(
      AppErrorCode.InvalidState,
      `${dir} holds files but is not a PostgreSQL data directory (its PG_VERSION file is missing), so xp will not open it nor create a new database over it: ${recovery(dir)}`,
    );
  }
}

/**
 * PGlite's file system throws Emscripten's ErrnoError, a plain object with a WASI error number and
 * no message ("[object Object]" when printed): the numbers a data folder's disk can cause, named.
 */
const WASI_ERRNO: Readonly<Record<number, string>> = {
  2: 'permission denied (EACCES)',
  29: 'input/output error (EIO)',
  44: 'a file is missing (ENOENT)',
  48: 'out of memory (ENOMEM)',
  51: 'no space left on the device (ENOSPC)',
  63: 'operation not permitted (EPERM)',
  69: 'the file system is read-only (EROFS)',
};

/** The first line of why PGlite failed, whatever it threw. */
export function embeddedFailureReason(e: unknown): string {
  const errno = (x: unknown): number | undefined => (typeof x === 'object' && x !== null && 'errno' in x && typeof x.errno === 'number' ? x.errno : undefined);
  const inner = e instanceof Error && (e.cause instanceof Error || errno(e.cause) !== undefined) ? e.cause : e;
  const number = inner instanceof Error ? undefined : errno(inner);
  if (number !== undefined) {
    return `file system error: ${WASI_ERRNO[number] ?? `error number ${number}`}`;
  }
  return (inner instanceof Error ? inner.message : String(inner)).split('\n')[0]!.slice(0, 300);
}

/** Whether an error is PGlite's WebAssembly abort ("Aborted(). Build with -sASSERTIONS…"). */
function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === 'RuntimeError' || e.message.startsWith('Aborted('));
}

/**
 * Opens the data folder's embedded database after `checkEmbeddedDatabaseDir`, and checks that it
 * answers. A failure says which folder could not be opened and what to do, instead of PGlite's bare
 * "Aborted()" (damaged files: an emptied pg_control, a folder two processes wrote at once).
 */
export async function openEmbeddedDatabase(dataDir: string): Promise<Database> {
  await checkEmbeddedDatabaseDir(dataDir);
  const dir = embeddedDatabaseDir(dataDir);
  let db: Database | undefined;
  try {
    db = await createPgliteDatabase(dir);
    await db.query('SELECT 1');
    return db;
  } catch (e) {
    await db?.close().catch(() => undefined);
    throw new AppError(AppErrorCode.InvalidState, openFailureMessage(dir, e, freeDiskBytes(dir)), undefined, { cause: e });
  }
}
