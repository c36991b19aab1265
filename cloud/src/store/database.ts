/**
 * What the stores see of the database, without the driver: the query interface, DatabaseError and
 * the SQLSTATE codes acted on. The `pg` and PGlite implementations are in db.ts.
 */

export interface QueryResult<R> {
  readonly rows: R[];
  readonly rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface Database extends Queryable {
  readonly kind: 'pg' | 'pglite';
  /** Runs `fn` in one transaction on one connection: COMMIT on success, ROLLBACK on any error. */
  withTransaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A database failure with the driver's SQLSTATE code, never its message, for callers. */
export class DatabaseError extends Error {
  constructor(
    readonly code: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DatabaseError';
  }
}

/** SQLSTATE classes of a database that cannot serve now: connection, transaction rollback, resources, shutdown. */
const UNAVAILABLE_CLASSES = new Set(['08', '40', '53', '57']);

/**
 * SQLSTATEs outside those classes with which the server refuses a new connection: the database
 * does not exist (dropped, renamed) or the login is refused (3D000, 28000, 28P01).
 */
const CONNECTION_REFUSALS = new Set(['3D000', '28000', '28P01']);

/**
 * Whether a database error means "retry later" rather than a bad request or a bug: the connection
 * failed or timed out (no SQLSTATE, or a Node error code such as ECONNREFUSED or EPIPE), the server
 * refused the connection (the database not accepting connections, missing, or the login refused),
 * or it is shutting down, out of resources, or rolled the transaction back for a conflict or deadlock.
 */
export function isUnavailableError(error: unknown): error is DatabaseError {
  if (!(error instanceof DatabaseError)) {
    return false;
  }
  const code = error.code;
  if (code === undefined || !/^[0-9A-Z]{5}$/.test(code) || /^E[A-Z]+$/.test(code)) {
    return true;
  }
  // ALTER DATABASE … ALLOW_CONNECTIONS false (or a template database): 55000 with this text.
  if (code === '55000' && /not currently accepting connections/.test(error.message)) {
    return true;
  }
  return CONNECTION_REFUSALS.has(code) || UNAVAILABLE_CLASSES.has(code.slice(0, 2));
}

/** SQLSTATE codes the stores act on. */
export const SqlState = {
  /** A unique constraint was violated (duplicate key). */
  UniqueViolation: '23505',
  /** A foreign key points nowhere. */
  ForeignKeyViolation: '23503',
  /** A CHECK constraint failed. */
  CheckViolation: '23514',
  /** A PL/pgSQL RAISE EXCEPTION (e.g. the append-only audit log). */
  RaiseException: 'P0001',
  /** A statement cancelled by statement_timeout (a time-bounded build or rebuild). */
  QueryCanceled: '57014',
  /** A lock not granted within lock_timeout (a migration behind a long transaction). */
  LockNotAvailable: '55P03',
  /** The class of a server out of a resource (disk, memory, connections): 53xxx. */
  InsufficientResourcesClass: '53',
  /** The server's disk is full: it cannot extend a table or write its log. */
  DiskFull: '53100',
  /** The server is out of memory. */
  OutOfMemory: '53200',
  /** The server has no connection left. */
  TooManyConnections: '53300',
} as const;
