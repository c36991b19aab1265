/**
 * The data folder's lock: one process at a time opens a data folder's embedded stores (PGlite allows
 * one process; two corrupt the database). `xp start` holds it for its lifetime, `xp replay` while it
 * replays. The lock is `<data dir>/xp.lock`, holding the owner's PID, command and host; it is
 * created atomically (a link to a file already written, so it is never seen empty), and a lock whose
 * process is no longer alive (a crash, a kill -9) is taken over, with a notice. So is one whose PID
 * now belongs to another program (Linux: /proc/<pid>/cmdline; a PID reused after a reboot) or to
 * this very process without this process holding it. PIDs say nothing across PID namespaces (two
 * containers sharing the folder and a host name both run xp as PID 1), so the lock records its PID
 * namespace, and its holder refreshes the file's time every `heartbeatMs`: a lock of another PID
 * namespace is held while that time is fresh (a restarted container's `xp start` waits until it is
 * `staleMs` old, then takes it over). Another host's lock is refused.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync, unlinkSync } from 'node:fs';
import { link, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
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
  /** The holder's PID namespace (Linux `/proc/self/ns/pid`); absent from locks of earlier releases and where unknown. */
  readonly pidns?: string;
}

/** This process's PID namespace (`pid:[4026531836]`), or '' where /proc does not tell. */
const PID_NAMESPACE = ((): string => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
})();

/** How old a lock of another PID namespace may be before it is taken over (ms): its holder refreshes it far more often. */
export const DEFAULT_LOCK_STALE_MS = 60_000;

export interface DataDirLock {
  /** The lock file. */
  readonly file: string;
  /** Removes the lock file if it is still this lock's (idempotent). */
  release(): Promise<void>;
}

export interface LockOptions {
  /** Told when a lock left by a process that is no longer running is taken over. */
  readonly notice?: (message: string) => void;
  /** A lock of another PID namespace not refreshed for this long is stale. Default DEFAULT_LOCK_STALE_MS. */
  readonly staleMs?: number;
  /** How often the lock taken is refreshed. Default staleMs / 6. */
  readonly heartbeatMs?: number;
}

function parseRecord(text: string): LockRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockRecord>;
    if (typeof value.pid === 'number' && Number.isInteger(value.pid) && value.pid > 0) {
      return {
        pid: value.pid,
        command: typeof value.command === 'string' ? value.command : 'xp',
        host: typeof value.host === 'string' ? value.host : '',
        startedAt: typeof value.startedAt === 'string' ? value.startedAt : '',
        ...(typeof value.pidns === 'string' && value.pidns !== '' ? { pidns: value.pidns } : {}),
      };
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

/** Whether the lock names a PID of another PID namespace than this process's (another container), so its PID tells nothing here. */
const otherNamespace = (r: LockRecord): boolean => r.pidns !== undefined && r.pidns !== PID_NAMESPACE;

/**
 * Whether the lock `text` (record `r`, its file `ageMs` old) is held: 'held'; 'stale' (taken over);
 * or 'fresh' — another PID namespace's lock refreshed less than `staleMs` ago, held unless it goes
 * stale while the caller watches. Another host's lock (a data folder on a shared disk) cannot be
 * checked: it is taken as held.
 */
function verdict(r: LockRecord, text: string, ageMs: number, staleMs: number): 'held' | 'stale' | 'fresh' {
  if (otherHost(r) || ownContents.has(text)) {
    return 'held';
  }
  if (otherNamespace(r)) {
    return ageMs < staleMs ? 'fresh' : 'stale';
  }
  if (r.pid === process.pid) {
    // In this PID namespace, this PID is this process: the lock is a previous process's. A lock of an
    // earlier release (no namespace) naming it may be another container's PID 1: held while fresh.
    return r.pidns !== undefined || ageMs >= staleMs ? 'stale' : 'fresh';
  }
  return alive(r.pid) && !reusedPid(r.pid) ? 'held' : 'stale';
}

/** The lock file's time (epoch ms; its holder refreshes it), or undefined when it is gone. */
async function mtimeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The lock file's age in ms, or undefined when it is gone. */
async function ageOf(file: string): Promise<number | undefined> {
  const mtime = await mtimeOf(file);
  return mtime === undefined ? undefined : Date.now() - mtime;
}

/**
 * Watches a fresh lock of another PID namespace: 'held' as soon as its holder refreshes it (or it
 * changes), 'stale' once it is `staleMs` old, 'gone' when it was released.
 */
async function watchFresh(file: string, text: string, staleMs: number): Promise<'held' | 'stale' | 'gone'> {
  const first = await mtimeOf(file);
  if (first === undefined) {
    return 'gone';
  }
  for (;;) {
    await sleep(Math.min(500, Math.max(50, staleMs / 10)));
    const mtime = await mtimeOf(file);
    if (mtime === undefined || (await readText(file)) !== text) {
      return 'gone';
    }
    if (mtime !== first) {
      return 'held'; // refreshed: its holder runs
    }
    if (Date.now() - mtime >= staleMs) {
      return 'stale';
    }
  }
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
  const staleMs = options.staleMs ?? DEFAULT_LOCK_STALE_MS;
  const content = `${JSON.stringify({ pid: process.pid, command: owner, host: hostname(), startedAt: new Date().toISOString(), ...(PID_NAMESPACE === '' ? {} : { pidns: PID_NAMESPACE }) } satisfies LockRecord)}\n`;
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
      const state = record === undefined ? 'stale' : verdict(record, text, (await ageOf(file)) ?? 0, staleMs);
      if (state === 'fresh') {
        options.notice?.(`${dataDir} is locked by ${record!.command} (pid ${record!.pid}) in another container or PID namespace: waiting up to ${Math.ceil(staleMs / 1000)} s to see whether it still holds it`);
      }
      if (state === 'held' || (state === 'fresh' && (await watchFresh(file, text, staleMs)) === 'held')) {
        throw inUse(dataDir, file, record!);
      }
      if (state === 'fresh') {
        continue; // stale now, or released: look again
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
        if (taker !== undefined && verdict(taker, takerText, (await ageOf(mutex)) ?? 0, staleMs) !== 'stale') {
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
              : otherNamespace(record) || record.pid === process.pid
                ? `${dataDir} was locked by ${record.command} (pid ${record.pid}${otherNamespace(record) ? ' in another container or PID namespace' : ', now this process'}), which no longer refreshes it; took the lock over`
                : `${dataDir} was locked by ${record.command} (pid ${record.pid}), which is no longer running${alive(record.pid) ? ` (pid ${record.pid} is now another program)` : ''}; took the lock over`;
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
  // The heartbeat that tells processes of other PID namespaces (other containers) the lock is held.
  const heartbeat = setInterval(() => {
    void readText(file)
      .then((text) => (ours(text) ? utimes(file, new Date(), new Date()) : undefined))
      .catch(() => undefined);
  }, options.heartbeatMs ?? staleMs / 6);
  heartbeat.unref();
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
    clearInterval(heartbeat);
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
