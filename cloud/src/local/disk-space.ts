/**
 * A data folder's disk: how much is free, and whether an error says it is full. A full disk makes
 * PGlite abort and LevelDB fail to open just as damaged files or a second process do; telling them
 * apart keeps users from moving an intact database away.
 */
import { statfsSync } from 'node:fs';
import path from 'node:path';
import { SqlState } from '../store/database.js';
import type { Database, QueryResult, Queryable } from '../store/database.js';

/**
 * Free space under which the disk of a data folder is taken as full when the database fails to
 * open: PostgreSQL's start writes a checkpoint and may need a new 16 MiB WAL segment, and the
 * platform's first writes need more; 64 MiB leaves that room with a margin.
 */
export const LOW_DISK_BYTES = 64 * 1024 * 1024;

/**
 * The bytes this process can still write on the file system holding `dir` (or its nearest existing
 * parent): the blocks available to users, or to root all free blocks (root may use those reserved
 * for it); undefined if it cannot be told.
 */
export function freeDiskBytes(dir: string, statfs: (p: string) => { bavail: number; bfree: number; bsize: number } = statfsSync): number | undefined {
  const root = process.getuid?.() === 0;
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    try {
      const s = statfs(at);
      return (root ? s.bfree : s.bavail) * s.bsize;
    } catch {
      if (path.dirname(at) === at) {
        return undefined;
      }
    }
  }
}

/** Whether an error (or one of its causes) says the disk is full (ENOSPC, "No space left on device", SQLSTATE 53100, WASI errno 51). */
export function isDiskFullError(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x !== undefined && x !== null && depth < 5; x = (x as { cause?: unknown }).cause, depth++) {
    if (typeof x !== 'object') {
      return typeof x === 'string' && /ENOSPC|no space left|could not extend file|disk (is )?full/i.test(x);
    }
    const { code, errno, message } = x as { code?: unknown; errno?: unknown; message?: unknown };
    if (code === 'ENOSPC' || code === SqlState.DiskFull || (errno === 51 && !(x instanceof Error))) {
      return true;
    }
    if (typeof message === 'string' && /ENOSPC|no space left|could not extend file|disk (is )?full/i.test(message)) {
      return true;
    }
  }
  return false;
}

/** Bytes as MiB, one decimal under 10 MiB. */
export const mib = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MiB`;


/** Statements that write (a transaction that ran one and committed wrote too). */
const WRITE = /^\s*(INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|TRUNCATE|COPY)\b/i;

/**
 * `db`, calling `onWrite` after each write that succeeded (a writing statement, or the commit of a
 * transaction that ran one): a full disk's `degraded` database ends with the first write that works.
 */
export function noticeWrites(db: Database, onWrite: () => void): Database {
  const watch = (q: Queryable, wrote: () => void): Queryable => ({
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const result = await q.query<R>(sql, params);
      if (WRITE.test(sql)) {
        wrote();
      }
      return result;
    },
  });
  const outside = watch(db, onWrite);
  return {
    kind: db.kind,
    query: (sql, params) => outside.query(sql, params),
    async withTransaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const writes = { seen: false };
      const result = await db.withTransaction((tx) =>
        fn(
          watch(tx, () => {
            writes.seen = true;
          }),
        ),
      );
      if (writes.seen) {
        onWrite();
      }
      return result;
    },
    close: () => db.close(),
  };
}
