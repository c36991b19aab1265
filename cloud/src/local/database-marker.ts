/**
 * Which database a data folder's platform lives in. The folder also holds what belongs to that
 * database — the event stream's checkpoints, the archive, the credentials file, `platform.key` — so
 * starting it against another kind of database is refused: a folder that served PostgreSQL started
 * without DATABASE_URL made a second, empty platform in it, overwrote the first one's credentials
 * file and mixed both platforms' events in one archive.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError, AppErrorCode } from '../errors.js';

export const DATABASE_MARKER = 'database.json';

type Marker = { readonly database: 'embedded' } | { readonly database: 'postgresql'; readonly target: string };

/** host:port/database of a PostgreSQL URL, without its user or password (never written anywhere). */
export function databaseTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
  } catch {
    return 'an unparsable DATABASE_URL';
  }
}

async function readMarker(file: string): Promise<Marker | undefined> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as Partial<{ database: unknown; target: unknown }>;
    if (value.database === 'embedded') {
      return { database: 'embedded' };
    }
    if (value.database === 'postgresql' && typeof value.target === 'string') {
      return { database: 'postgresql', target: value.target };
    }
  } catch {
    // absent or unreadable: decided from the folder's contents below
  }
  return undefined;
}

/**
 * Refuses to start the folder against another kind of database than the one it served; returns what
 * records the kind (on first use), to call once the database answered. A folder from before the marker served the embedded database if it has its
 * folder (`postgres/`), and PostgreSQL if it was used (`platform.key`) without one. Another PostgreSQL
 * database than the recorded one (a restore, a move) is allowed and recorded, with a notice.
 */
export async function checkDatabaseKind(dataDir: string, databaseUrl: string | undefined, notice: (message: string) => void): Promise<() => Promise<void>> {
  const file = path.join(dataDir, DATABASE_MARKER);
  const current: Marker = databaseUrl === undefined ? { database: 'embedded' } : { database: 'postgresql', target: databaseTarget(databaseUrl) };
  const recorded: Marker | undefined =
    (await readMarker(file)) ??
    (existsSync(path.join(dataDir, 'postgres')) ? { database: 'embedded' } : existsSync(path.join(dataDir, 'platform.key')) ? { database: 'postgresql', target: 'unknown' } : undefined);
  if (recorded?.database === 'postgresql' && current.database === 'embedded') {
    const which = recorded.target === 'unknown' ? '' : ` (${recorded.target})`;
    throw new AppError(
      AppErrorCode.InvalidState,
      `${dataDir} holds a platform whose database is PostgreSQL${which}: start it with that DATABASE_URL again, or give the embedded database a folder of its own (XP_DATA_DIR or --data-dir)`,
    );
  }
  if (recorded?.database === 'embedded' && current.database === 'postgresql') {
    throw new AppError(
      AppErrorCode.InvalidState,
      `${dataDir} holds a platform with the embedded database: start it without DATABASE_URL, or give the PostgreSQL platform a data folder of its own (XP_DATA_DIR or --data-dir)`,
    );
  }
  if (recorded?.database === 'postgresql' && current.database === 'postgresql' && recorded.target !== 'unknown' && recorded.target !== current.target) {
    notice(`${dataDir} served PostgreSQL at ${recorded.target} until now; it now serves ${current.target} (a restore or a move)`);
  }
  // Recorded by the caller once the database answered.
  return async () => {
    if (recorded === undefined || JSON.stringify(recorded) !== JSON.stringify(current)) {
      await writeFile(file, `${JSON.stringify(current)}\n`, { mode: 0o600 });
    }
  };
}
