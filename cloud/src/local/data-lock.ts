/**
 * The data folder's lock: one process at a time opens a data folder's embedded stores (PGlite allows
 * one process; two corrupt the database). `xp start` holds it for its lifetime, `xp replay` while it
 * replays. The lock is `<data dir>/xp.lock`, holding the owner's PID, command and host; it is
 * created atomically (a link to a file already written, so it is never seen empty), and a lock whose
 * process is no longer alive (a crash, a kill -9) is taken over, with a notice. So is one whose PID
 * now belongs to another program (Linux: /proc/<pid>/cmdline; a PID reused after a reboot or a
 * container restart) or to this very process without this process holding it (a container's
 * `xp start` as PID 1, killed and restarted as PID 1 again). Another host's lock is refused.
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

/**
 * The lock and takeover-mutex contents this process holds now: a lock naming this process's PID is
 * held only if it is one of them (else a previous process with the same PID wrote it: in a
 * container, `xp start` is PID 1 again after a kill -9 or an out-of-memory kill).
 */
const ownContents = new Set<string>();

/** The names a program that can hold the lock runs as: Node (the xp CLI is a Node script), xp. */
function programNames(): Set<string> {
  const names = new Set(['node', 'nodejs', 'xp', 'xp.js', path.basename(process.execPath)]);
  if (process.argv[1] !== undefined) {
    names.add(path.basename(process.argv[1]));
  }
  return names;
}

/**
 * Whether live process `pid` is a program that cannot be an xp (Linux: /proc/<pid>/cmdline names
 * neither Node nor xp; an empty one is a kernel thread): its PID was reused after the lock's owner
 * ended. False when /proc cannot tell (another OS, hidepid): the lock is then taken as held.
 */
export function reusedPid(pid: number, readCmdline: (pid: number) => string = (p) => readFileSync(`/proc/${p}/cmdline`, 'latin1')): boolean {
  let cmdline: string;
  try {
    cmdline = readCmdline(pid);
  } catch {
    return false;
  }
  const args = cmdline.split('\0').filter((a) => a !== '');
  const names = programNames();
  // A program started as "node …" or "/usr/bin/node …", or running an xp script (the npm bin shim).
  return !args.some((a) => names.has(path.basename(a)) || /^node(js)?[0-9.]*(\.exe)?$/i.test(path.basename(a)));
}

const otherHost = (r: LockRecord): boolean => r.host !== '' && r.host !== hostname();

/**
 * Whether the lock `text` (record `r`) is held. Another host's lock (a data folder on a shared disk)
 * cannot be checked: it is taken as held.
 */
function held(r: LockRecord, text: string): boolean {
  if (otherHost(r)) {
    return true;
  }
  if (r.pid === process.pid) {
    return ownContents.has(text);
  }
  return alive(r.pid) && !reusedPid(r.pid);
}

function inUse(dataDir: string, file: string, r: LockRecord): AppError {
  const advice = r.command === 'xp replay' || r.command === 'xp users reset-password' ? 'wait for it to finish, or stop it' : 'stop it first';
  if (otherHost(r)) {
    // A container re-created with the same data volume has a new host name: only the user knows
    // whether the other host still runs xp on this folder (a shared disk) or is gone.
    return new AppError(
      AppErrorCode.InvalidState,
      `${dataDir} is in use by ${r.command} (pid ${r.pid} on ${r.host}); ${advice}. If no xp runs on ${r.host} any more (a re-created container gets a new host name), delete ${file} and start again`,
    );
  }
  return new AppError(AppErrorCode.InvalidState, `${dataDir} is in use by ${r.command} (pid ${r.pid}); ${advice}`);
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
  ownContents.add(content);
  try {
    await writeFile(draft, content, { mode: 0o644 });
  } catch (e) {
    ownContents.delete(content);
    throw e;
  }
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
      if (record !== undefined && held(record, text)) {
        throw inUse(dataDir, file, record);
      }
      // Stale (its process is gone) or unreadable: replaced under the takeover mutex.
      try {
        await link(draft, mutex);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw e;
        }
        const takerText = (await readText(mutex)) ?? '';
        const taker = parseRecord(takerText);
        if (taker !== undefined && held(taker, takerText)) {
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
              : `${dataDir} was locked by ${record.command} (pid ${record.pid}), which is no longer running${record.pid === process.pid || alive(record.pid) ? ` (pid ${record.pid} is now ${record.pid === process.pid ? 'this process' : 'another program'})` : ''}; took the lock over`;
        }
      } finally {
        await unlink(mutex).catch(() => undefined);
      }
    }
  } catch (e) {
    ownContents.delete(content);
    throw e;
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
    ownContents.delete(content);
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
      ownContents.delete(content);
    },
  };
}
