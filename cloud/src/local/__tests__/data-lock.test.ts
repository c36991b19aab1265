/**
 * The data folder's lock, in this process and across real processes: a held lock is refused with the
 * folder and the holder's PID, a dead holder's lock is taken over with a notice, and the lock goes
 * away on release and when the holder ends on SIGTERM.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDir } from '../data-lock.js';

/** A PID that was a process of this machine and is no longer. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

describe('data folder lock', () => {
  let root: string;
  let bundle: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'xp-lock-'));
    // The lock module as plain JavaScript, for child processes.
    bundle = path.join(root, 'data-lock.mjs');
    await build({ entryPoints: [fileURLToPath(new URL('../data-lock.ts', import.meta.url))], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'silent' });
  });
  afterAll(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
    }
    await rm(root, { recursive: true, force: true });
  });

  /** A child process holding `dir`'s lock as `owner`; resolves once it holds it. */
  async function holder(dir: string, owner: string): Promise<ChildProcess> {
    const script = `const { lockDataDir } = await import(${JSON.stringify(pathToFileURL(bundle).href)});
await lockDataDir(${JSON.stringify(dir)}, ${JSON.stringify(owner)});
process.stdout.write('locked\\n');
setInterval(() => undefined, 60_000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('locked')) {
          resolve();
        }
      });
      child.once('exit', (code) => {
        reject(new Error(`the lock holder exited (${String(code)})`));
      });
    });
    return child;
  }

  const folder = async (name: string): Promise<string> => {
    const dir = path.join(root, name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  };

  it('refuses a held folder naming the folder, the command and the PID, and is free again once released', async () => {
    const dir = await folder('held');
    const lock = await lockDataDir(dir, 'xp start');
    const record = JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8'));

    await expect(lockDataDir(dir, 'xp replay')).rejects.toThrow(`${dir} is in use by xp start (pid ${process.pid}); stop it first`);
    expect(record).toMatchObject({ pid: process.pid, command: 'xp start' });
    await lock.release();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    const again = await lockDataDir(dir, 'xp replay');
    await expect(lockDataDir(dir, 'xp start')).rejects.toThrow(`${dir} is in use by xp replay (pid ${process.pid}); wait for it to finish, or stop it`);
    await again.release();
    // No temporary files are left behind.
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes over the lock of a process that is no longer running, and an unreadable lock, and says so', async () => {
    const dir = await folder('stale');
    const pid = await deadPid();
    await writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid, command: 'xp start', host: hostname(), startedAt: '2026-01-01T00:00:00Z' }));
    const notices: string[] = [];

    const lock = await lockDataDir(dir, 'xp replay', { notice: (m) => notices.push(m) });

    expect(notices).toEqual([`${dir} was locked by xp start (pid ${pid}), which is no longer running; took the lock over`]);
    expect(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, command: 'xp replay' });
    await lock.release();

    await writeFile(path.join(dir, LOCK_FILE), 'not a lock');
    notices.length = 0;
    const taken = await lockDataDir(dir, 'xp start', { notice: (m) => notices.push(m) });
    expect(notices).toEqual([`${path.join(dir, LOCK_FILE)} was unreadable; took the data folder's lock over`]);
    await taken.release();
  });

  it('takes over the lock of a killed process its parent has not reaped yet (a zombie answers signal 0 but holds nothing)', async () => {
    // `sleep 0.1` ends first; its parent has become `sleep 60` (exec), which never reaps it (and
    // outlives a slow test body; the finally below kills it).
    const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 60']);
    try {
      const [line] = (await once(parent.stdout, 'data')) as [Buffer];
      const pid = Number(line.toString().trim());
      let state = '';
      for (let i = 0; i < 50 && state !== 'Z'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
        state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      }
      expect(state).toBe('Z');
      const dir = await folder('zombie');
      await writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid, command: 'xp start', host: hostname(), startedAt: '2026-01-01T00:00:00Z' }));
      const notices: string[] = [];

      const lock = await lockDataDir(dir, 'xp start', { notice: (m) => notices.push(m) });

      expect(notices).toEqual([`${dir} was locked by xp start (pid ${pid}), which is no longer running; took the lock over`]);
      await lock.release();
    } finally {
      parent.kill();
    }
  });

  it('across processes: refused while another process holds it, released when that process is stopped with SIGTERM, taken over after a kill -9', async () => {
    const dir = await folder('processes');
    const first = await holder(dir, 'xp start');

    await expect(lockDataDir(dir, 'xp replay')).rejects.toThrow(`${dir} is in use by xp start (pid ${first.pid}); stop it first`);
    first.kill('SIGTERM');
    const [, signal] = (await once(first, 'exit')) as [number | null, string | null];
    expect(signal).toBe('SIGTERM');
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);

    const second = await holder(dir, 'xp replay');
    await expect(lockDataDir(dir, 'xp start')).rejects.toThrow(`${dir} is in use by xp replay (pid ${second.pid})`);
    second.kill('SIGKILL');
    await once(second, 'exit');
    const notices: string[] = [];
    const lock = await lockDataDir(dir, 'xp start', { notice: (m) => notices.push(m) });
    expect(notices).toEqual([`${dir} was locked by xp replay (pid ${second.pid}), which is no longer running; took the lock over`]);
    await lock.release();
  });

  it('two processes taking over the same stale lock at once: exactly one gets it', async () => {
    const dir = await folder('race');
    await writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: await deadPid(), command: 'xp start', host: hostname() }));
    // Each process keeps what it got until every one has tried (its stdin ends): one that exited
    // early would leave a stale lock that a slow starter could rightly take over.
    const script = `const { lockDataDir } = await import(${JSON.stringify(pathToFileURL(bundle).href)});
try { await lockDataDir(${JSON.stringify(dir)}, 'xp start'); process.stdout.write('got it\\n'); } catch (e) { process.stdout.write('refused: ' + e.message + '\\n'); }
process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
    const runs = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(child);
      let out = '';
      const answered = new Promise<string>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) {
            resolve(out.trim());
          }
        });
      });
      return { child, answered };
    });

    const outcomes = await Promise.all(runs.map((r) => r.answered));
    for (const { child } of runs) {
      child.stdin.end();
    }
    await Promise.all(runs.map((r) => once(r.child, 'exit')));

    expect(outcomes.filter((o) => o === 'got it')).toHaveLength(1);
    expect(outcomes.filter((o) => o.startsWith('refused: ') && o.includes('is in use by xp start'))).toHaveLength(3);
  });
});
