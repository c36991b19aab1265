/**
 * The data folder's lock: one process at a time opens a data folder's embedded stores (PGlite allows
 * one process; two corrupt the database). `xp start` holds it for its lifetime, `xp replay` while it
 * replays. The lock is `<data dir>/xp.lock`, holding the owner's PID, command and host; it is
 * created atomically (a link to a file already written, so it is never seen empty), and a lock whose
 * process is no longer alive (a crash, a kill -9) is taken over, with a notice.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { AppError, AppErrorCode } from '../errors.js';

export const LOCK_FILE = 'xp.lock';

/** The command that holds a data folder. */
export type LockOwner = 'xp start' | 'xp replay' | 'xp users reset-password';

interface LockRecord {
  readonly pid: number;
  readonly command: string;
  readonly host: string;
  readonly startedAt: string;
}

export interface DataDirLock {
  /** The lock file. */
  readonly file: string;
  /** Removes the lock file if it is still this lock's (idempotent). */
  release(): Promise<void>;
}

export interface LockOptions {
  /** Told when a lock left by a process that is no longer running is taken over. */
  readonly notice?: (message: string) => void;
}

function parseRecord(text: string): LockRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockRecord>;
    if (typeof value.pid === 'number' && Number.isInteger(value.pid) && value.pid > 0) {
      return { pid: value.pid, command: typeof value.command === 'string' ? value.command : 'xp', host: typeof value.host === 'string' ? value.host : '', startedAt: typeof value.startedAt === 'string' ? value.startedAt : '' };
    }
  } catch {
    // not a lock record
  }
  return undefined;
}

/**
 * Whether process `pid` runs on this machine (EPERM: it exists, owned by another user). A zombie — a
 * killed process its parent has not reaped yet, which in a container whose PID 1 reaps late lasts a
 * while — still answers signal 0 but holds nothing: on Linux its state in /proc says so.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !zombie(pid);
}

/** Whether /proc/<pid>/stat gives state Z (Linux); false where there is no /proc. */
function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S …": the command may hold spaces and parentheses, the state follows the last ")".
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/** Another host's lock (a data folder on a shared disk) cannot be checked: it is taken as held. */
const held = (r: LockRecord): boolean => (r.host !== '' && r.host !== hostname()) || alive(r.pid);

function inUse(dataDir: string, r: LockRecord): AppError {
  const where = r.host !== '' && r.host !== hostname() ? ` on ${r.host}` : '';
  const advice = r.command === 'xp replay' || r.command === 'xp users reset-password' ? 'wait for it to finish, or stop it' : 'stop it first';
  return new AppError(AppErrorCode.InvalidState, `${dataDir} is in use by ${r.command} (pid ${r.pid}${where}); ${advice}`);
}

const readText = (file: string): Promise<string | undefined> =>
  readFile(file, 'utf8').catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw e;
  });

/**
 * Takes the data folder's lock for `owner`, or throws "…/data is in use by xp start (pid 1234);
 * stop it first". Released by `release()`, and on exit or an unhandled SIGINT / SIGTERM.
 */
export async function lockDataDir(dataDir: string, owner: LockOwner, options: LockOptions = {}): Promise<DataDirLock> {
  const file = path.join(dataDir, LOCK_FILE);
  const content = `${JSON.stringify({ pid: process.pid, command: owner, host: hostname(), startedAt: new Date().toISOString() } satisfies LockRecord)}\n`;
  const unique = (what: string): string => path.join(dataDir, `${LOCK_FILE}.${what}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const draft = unique('new');
  await writeFile(draft, content, { mode: 0o644 });
  // Only the holder of this mutex replaces a stale lock: moving the lock aside and back let a third
  // process link its own lock in the gap, so that two believed they held it.
  const mutex = `${file}.takeover`;
  /** What to tell once the lock is ours, when it was taken over from a stale one. */
  let tookOver: string | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        // link fails with EEXIST when the lock exists: atomic, and the lock is whole when it appears.
        await link(draft, file);
        if (tookOver !== undefined) {
          options.notice?.(tookOver);
        }
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 200) {
          throw e;
        }
      }
      const text = await readText(file);
      if (text === undefined) {
        continue; // released meanwhile
      }
      const record = parseRecord(text);
      if (record !== undefined && held(record)) {
        throw inUse(dataDir, record);
      }
      // Stale (its process is gone) or unreadable: replaced under the takeover mutex.
      try {
        await link(draft, mutex);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw e;
        }
        const taker = parseRecord((await readText(mutex)) ?? '');
        if (taker !== undefined && held(taker)) {
          await sleep(10); // another process is taking it over: see what it leaves
        } else {
          await unlink(mutex).catch(() => undefined); // left by a process killed while taking over
        }
        continue;
      }
      try {
        // Still the stale lock read above (not one a process took over meanwhile): remove it.
        if ((await readText(file)) === text) {
          await unlink(file).catch(() => undefined);
          tookOver =
            record === undefined
              ? `${file} was unreadable; took the data folder's lock over`
              : `${dataDir} was locked by ${record.command} (pid ${record.pid}), which is no longer running; took the lock over`;
        }
      } finally {
        await unlink(mutex).catch(() => undefined);
      }
    }
  } finally {
    await unlink(draft).catch(() => undefined);
  }

  let released = false;
  const ours = (text: string | undefined): boolean => text === content;
  const releaseSync = (): void => {
    if (released) {
      return;
    }
    released = true;
    detach();
    try {
      if (ours(readFileSync(file, 'utf8'))) {
        unlinkSync(file);
      }
    } catch {
      // already gone
    }
  };
  // A signal nobody else handles ends the process (Node's default): the lock goes first. When
  // someone handles it (xp start stops cleanly), their shutdown releases the lock.
  const onSignal = (signal: NodeJS.Signals): void => {
    if (process.listenerCount(signal) > 1) {
      return;
    }
    releaseSync();
    process.kill(process.pid, signal);
  };
  process.on('exit', releaseSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  function detach(): void {
    process.off('exit', releaseSync);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return {
    file,
    async release() {
      if (released) {
        return;
      }
      released = true;
      detach();
      if (ours(await readText(file))) {
        await unlink(file).catch(() => undefined);
      }
    },
  };
}
