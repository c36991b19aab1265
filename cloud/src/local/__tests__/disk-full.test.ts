/**
 * A full disk under the data folder: PGlite aborts and LevelDB fails to open just as with damaged
 * files or a second process, and the advice for those (move the database away) would throw an
 * intact database away. The message says the disk is full instead. For real on a small tmpfs when
 * running as root on Linux (CI is), and the message logic with injected failures everywhere.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynalite, startKinesalite, storeOpenFailure } from '../aws-local.js';
import { LOW_DISK_BYTES, freeDiskBytes, isDiskFullError } from '../disk-space.js';
import { openEmbeddedDatabase, openFailureMessage } from '../embedded-database.js';

const MiB = 1024 * 1024;
const abort = (): Error => Object.assign(new Error('Aborted(). Build with -sASSERTIONS for more info.'), { name: 'RuntimeError' });

describe('the disk-full message logic', () => {
  const dir = '/data/postgres';

  it('says the disk is full, and not to move the database away, when PGlite aborts with little space left', () => {
    expect(openFailureMessage(dir, abort(), 3 * MiB)).toBe(
      'the disk holding /data/postgres is full (3.0 MiB free): the embedded database could not be opened (Aborted(). Build with -sASSERTIONS for more info.). Free space on that disk and start again; the database is probably intact: do not move it away',
    );
    expect(openFailureMessage(dir, abort(), LOW_DISK_BYTES - 1)).toMatch(/^the disk holding \/data\/postgres is full \(64 MiB free\)/);
  });

  it('says the disk is full when the error does, whatever statfs says (space freed meanwhile, or statfs unavailable)', () => {
    const enospc = Object.assign(new Error('could not extend file "base/5/16384": No space left on device'), { code: '53100' });
    expect(openFailureMessage(dir, enospc, 10_000 * MiB)).toMatch(/^the disk holding \/data\/postgres is full \(10000 MiB free\): .*do not move it away$/);
    expect(openFailureMessage(dir, new Error('x', { cause: { errno: 51 } }), undefined)).toMatch(/^the disk holding \/data\/postgres is full \(no space left\): the embedded database could not be opened \(file system error: no space left on the device \(ENOSPC\)\)/);
  });

  it('with space left, an abort is damage: check the space first, keep a copy, then restore or move it away', () => {
    expect(openFailureMessage(dir, abort(), 500 * MiB)).toBe(
      'the embedded database in /data/postgres could not be opened (PGlite aborted: its files are damaged or incomplete, or its disk was full (500 MiB free now)): first check the free space on its disk; if that is not it, keep a copy first (cp -a /data/postgres /data/postgres.copy), then restore /data/postgres from a backup, or move it away (mv /data/postgres /data/postgres.damaged) to start with a new, empty database',
    );
    expect(openFailureMessage(dir, new Error('permission denied'), 500 * MiB)).toBe('the embedded database in /data/postgres could not be opened: permission denied');
  });

  it('tells disk-full errors by code, errno or text, through causes', () => {
    expect(isDiskFullError(Object.assign(new Error('write'), { code: 'ENOSPC' }))).toBe(true);
    expect(isDiskFullError(new Error('wrap', { cause: new Error('IO error: No space left on device') }))).toBe(true);
    expect(isDiskFullError({ errno: 51 })).toBe(true);
    expect(isDiskFullError(Object.assign(new Error('a lock'), { code: 'LEVEL_LOCKED' }))).toBe(false);
    expect(isDiskFullError(abort())).toBe(false);
  });

  it('reads free space from the nearest existing folder', () => {
    const seen: string[] = [];
    const statfs = (p: string) => {
      seen.push(p);
      if (p !== '/data') {
        throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      }
      return { bavail: 10, bfree: 10, bsize: 4096 };
    };
    expect(freeDiskBytes('/data/postgres/base', statfs)).toBe(40_960);
    expect(seen).toEqual(['/data/postgres/base', '/data/postgres', '/data']);
  });

  it('a LevelDB store that cannot open on a full disk says so instead of suspecting another instance', () => {
    expect(storeOpenFailure('kinesalite', '/data/kinesis', new Error('IO error: /data/kinesis/000005.log: No space left on device'), 200 * MiB)).toBe(
      'kinesalite cannot open its data directory /data/kinesis: the disk holding it is full (200 MiB free); free space on that disk and start again (its data is probably intact: do not move it away)',
    );
    expect(storeOpenFailure('dynalite', '/data/dynamodb', new Error('x'), 0)).toMatch(/^dynalite cannot open its data directory \/data\/dynamodb: the disk holding it is full \(0\.0 MiB free\)/);
    expect(storeOpenFailure('kinesalite', '/data/kinesis', new Error('IO error: lock /data/kinesis/LOCK: already held by process'), 200 * MiB)).toBe(
      'kinesalite cannot open its data directory /data/kinesis (is another instance using it?)',
    );
  });
});

const canMount = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('mount', ['--version']).status === 0;

/** Fills the file system of `dir` with one file until it refuses a write. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(MiB);
  try {
    for (;;) {
      writeSync(fd, chunk);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') {
      throw e;
    }
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(!canMount)('on a real full disk (a 160 MiB tmpfs)', () => {
  let mnt: string;
  let mounted = false;

  beforeAll(async () => {
    mnt = await mkdtemp(path.join(tmpdir(), 'xp-disk-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=160m', 'tmpfs', mnt]);
    mounted = true;
  });
  afterAll(async () => {
    if (mounted) {
      execFileSync('umount', [mnt]);
    }
    await rm(mnt, { recursive: true, force: true });
  });

  it('the embedded database: "the disk is full", not "damaged"; it opens with its data once space is freed', async () => {
    const data = path.join(mnt, 'data');
    await mkdir(data);
    const db = await openEmbeddedDatabase(data);
    await db.query('CREATE TABLE kept (v text)');
    await db.query("INSERT INTO kept VALUES ('survived')");
    await db.close();

    const filler = path.join(mnt, 'filler');
    fill(filler);
    const refused = await openEmbeddedDatabase(data).then(
      () => undefined,
      (e: unknown) => e,
    );
    const postgres = path.join(data, 'postgres');
    expect((refused as Error | undefined)?.message).toMatch(new RegExp(`^the disk holding ${postgres} is full \\([0-9.]+ MiB free\\): .*Free space on that disk and start again; the database is probably intact: do not move it away$`));

    await rm(filler);
    const again = await openEmbeddedDatabase(data);
    expect((await again.query<{ v: string }>('SELECT v FROM kept')).rows).toEqual([{ v: 'survived' }]);
    await again.close();
  }, 120_000);

  it('kinesalite and dynalite: "the disk is full", not "another instance"', async () => {
    const filler = path.join(mnt, 'filler-2');
    fill(filler);
    try {
      for (const [start, name] of [[startKinesalite, 'kinesalite'], [startDynalite, 'dynalite']] as const) {
        const dir = path.join(mnt, 'data', name);
        const refused = await start({ path: dir }).then(
          async (s) => {
            await s.close();
            return undefined;
          },
          (e: unknown) => e,
        );
        expect((refused as Error | undefined)?.message).toMatch(new RegExp(`^${name} cannot open its data directory ${dir}: the disk holding it is full \\([0-9.]+ MiB free\\)`));
      }
    } finally {
      await rm(filler, { force: true });
    }
  }, 60_000);
});
