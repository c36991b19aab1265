/**
 * A lock whose PID was reused: in a container `xp start` is PID 1, and after a kill -9 or an
 * out-of-memory kill the restarted one is PID 1 again, in a new PID namespace (taken over once the
 * lock is not refreshed any more), while a second container running as PID 1 is refused (its lock
 * is refreshed); after a reboot the PID may be another program's (taken over). Another host's lock
 * is refused with how to clear it. The PID 1 cases run for real in new PID namespaces (unshare, as
 * root on Linux).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDir, reusedPid } from '../data-lock.js';

const canUnshare =
  process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;

describe('a lock whose PID was reused', () => {
  let root: string;
  let bundle: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'xp-lock-reuse-'));
    bundle = path.join(root, 'data-lock.mjs');
    await build({ entryPoints: [fileURLToPath(new URL('../data-lock.ts', import.meta.url))], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'silent' });
  });
  afterAll(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
    }
    await rm(root, { recursive: true, force: true });
  });

  const folder = async (name: string): Promise<string> => {
    const dir = path.join(root, name);
    await mkdir(dir, { recursive: true });
    return dir;
  };
  /** Runs `script` as PID 1 of a new PID namespace (killed with its unshare) once it printed that it holds the lock. */
  const holdAsPid1 = async (script: string): Promise<ChildProcess> => {
    const holder = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(holder);
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('locked as pid 1')) {
          resolve();
        }
      });
      holder.once('exit', (code) => {
        reject(new Error(`the first PID 1 exited (${String(code)})`));
      });
    });
    return holder;
  };
  const writeLock = (dir: string, pid: number, host = hostname(), pidns?: string): Promise<void> =>
    writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid, command: 'xp start', host, startedAt: '2026-01-01T00:00:00Z', ...(pidns === undefined ? {} : { pidns }) }));

  it("takes over a lock naming this process's PID that this process does not hold (PID 1 again after a restart)", async () => {
    const dir = await folder('own-pid');
    // Written in this PID namespace: there, this PID is this process, so the lock is a previous process's.
    await writeLock(dir, process.pid, hostname(), readlinkSync('/proc/self/ns/pid'));
    const notices: string[] = [];
    const lock = await lockDataDir(dir, 'xp start', { notice: (m) => notices.push(m) });
    expect(notices).toEqual([`${dir} was locked by xp start (pid ${process.pid}, now this process), which no longer refreshes it; took the lock over`]);
    // Still refused while this process does hold it.
    await expect(lockDataDir(dir, 'xp replay')).rejects.toThrow(`${dir} is in use by xp start (pid ${process.pid}); stop it first`);
    await lock.release();
  });

  it('takes over a lock whose PID is now another program (Linux /proc)', async () => {
    if (process.platform !== 'linux') {
      return;
    }
    const other = spawn('sleep', ['60']);
    children.push(other);
    await once(other, 'spawn');
    const dir = await folder('other-program');
    await writeLock(dir, other.pid!);
    const notices: string[] = [];
    const lock = await lockDataDir(dir, 'xp start', { notice: (m) => notices.push(m) });
    expect(notices).toEqual([`${dir} was locked by xp start (pid ${String(other.pid)}), which is no longer running (pid ${String(other.pid)} is now another program); took the lock over`]);
    await lock.release();
  });

  it('tells a PID reused by another program from one that may be xp', () => {
    const cmdline = (args: string[]) => () => `${args.join('\0')}\0`;
    expect(reusedPid(7, cmdline(['sleep', '60']))).toBe(true);
    expect(reusedPid(7, cmdline(['/usr/sbin/sshd', '-D']))).toBe(true);
    expect(reusedPid(7, () => '')).toBe(true); // a kernel thread
    expect(reusedPid(7, cmdline(['/usr/local/bin/node', '/app/cloud/bin/xp.js', 'start']))).toBe(false);
    expect(reusedPid(7, cmdline(['node20', 'x.js']))).toBe(false);
    expect(reusedPid(7, cmdline([process.execPath, '-e', '']))).toBe(false);
    expect(reusedPid(7, () => { throw new Error('EACCES'); })).toBe(false); // /proc cannot tell: held
  });

  it("refuses another host's lock, saying how to clear it when that host no longer runs xp", async () => {
    const dir = await folder('other-host');
    await writeLock(dir, process.pid, 'old-container-1234');
    await expect(lockDataDir(dir, 'xp start')).rejects.toThrow(
      `${dir} is in use by xp start (pid ${process.pid} on old-container-1234); stop it first. If no xp runs on old-container-1234 any more (a re-created container gets a new host name), delete ${path.join(dir, LOCK_FILE)} and start again`,
    );
  });

  it.skipIf(!canUnshare)('as PID 1 in a container: a restart after a kill -9 takes over the lock the killed PID 1 left', async () => {
    const dir = await folder('pid1');
    // A short staleness: the restarted PID 1 (another PID namespace) waits until the lock is that old.
    const script = (then: string): string =>
      `const { lockDataDir } = await import(${JSON.stringify(bundle)}); await lockDataDir(${JSON.stringify(dir)}, 'xp start', { staleMs: 1500, notice: (m) => console.log('notice: ' + m) }); console.log('locked as pid ' + process.pid); ${then}`;
    // The first PID 1 takes the lock and is killed -9 (--kill-child: with unshare): its lock stays.
    const first = await holdAsPid1(script('setInterval(() => undefined, 60_000);'));
    first.kill('SIGKILL');
    await once(first, 'exit');
    expect(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: 1, host: hostname() });
    const second = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '--input-type=module', '-e', script('process.exit(0);')], { encoding: 'utf8' });
    expect(second.stderr).not.toContain('in use by');
    expect(second.stdout).toContain('locked as pid 1');
    expect(second.stdout).toContain('(pid 1 in another container or PID namespace), which no longer refreshes it; took the lock over');
  });

  it.skipIf(!canUnshare)('as PID 1 in two containers sharing the folder and the host name: the second is refused while the first runs', async () => {
    const dir = await folder('pid1-twice');
    const script = (then: string): string =>
      `const { lockDataDir } = await import(${JSON.stringify(bundle)}); await lockDataDir(${JSON.stringify(dir)}, 'xp start', { staleMs: 1500, heartbeatMs: 200 }); console.log('locked as pid ' + process.pid); ${then}`;
    const first = await holdAsPid1(script('setInterval(() => undefined, 60_000);'));
    // Longer than the staleness: the first one's heartbeat keeps its lock fresh.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const second = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '--input-type=module', '-e', script('process.exit(0);')], { encoding: 'utf8' });
    first.kill('SIGKILL');
    expect(second.stdout).not.toContain('locked as pid');
    expect(second.stderr).toContain(`${dir} is in use by xp start (pid 1); stop it first`);
  }, 20_000);
});
