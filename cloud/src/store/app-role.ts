/**
 * The database role the platform's functions connect as: it may read and write rows, and nothing
 * more (no DDL, no TRUNCATE, no roles, no changes to the record of applied migrations). The
 * migrations, which run as the database's master user, create it and grant it the rows of every
 * table they made, on every run, so a table a later migration adds is granted with it.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { Queryable } from './database.js';

/** A role name the platform creates: lower-case, as PostgreSQL folds unquoted names, and not a reserved prefix. */
const ROLE_NAME = /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/;

/** PostgreSQL's default iteration count for SCRAM-SHA-256 verifiers. */
export const SCRAM_ITERATIONS = 4096;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802 and 7677, PostgreSQL's
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`). Setting a role's password to its
 * verifier keeps the password itself out of the statement, and so out of any statement log.
 * Passwords are taken as they are (no SASLprep): generated ones are printable ASCII, which it leaves alone.
 */
export function scramSha256Verifier(password: string, options: { readonly salt?: Buffer; readonly iterations?: number } = {}): string {
  const salt = options.salt ?? randomBytes(16);
  const iterations = options.iterations ?? SCRAM_ITERATIONS;
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export interface AppRole {
  readonly username: string;
  readonly password: string;
}

/**
 * Creates the role (or sets its password again: the secret may have been given a new value) and
 * grants it the rows of every table and the sequences of the public schema; the caller must own
 * them (the migrations' user). Run it in a transaction, after the migrations.
 */
export async function ensureAppRole(tx: Queryable, role: AppRole): Promise<{ readonly created: boolean }> {
  if (!ROLE_NAME.test(role.username)) {
    throw new Error(`the application database user must be a plain lower-case name (letters, digits, _), not ${JSON.stringify(role.username)}`);
  }
  if (role.password.length < 16) {
    throw new Error('the application database password must have at least 16 characters');
  }
  const self = await tx.query<{ current: string }>('SELECT current_user AS current');
  if (self.rows[0]?.current === role.username) {
    throw new Error(`the application database user must not be the user the migrations run as (${role.username})`);
  }
  const existing = await tx.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role.username]);
  const created = existing.rows.length === 0;
  // Identifiers and literals cannot be parameters of DDL: format() quotes them (%I, %L) in the server.
  const statements = await tx.query<{ sql: string }>(
    `SELECT format(s, $1::text, $2::text, current_database()) AS sql FROM unnest($3::text[]) WITH ORDINALITY AS t(s, n) ORDER BY n`,
    [
      role.username,
      scramSha256Verifier(role.password),
      [
        `${created ? 'CREATE' : 'ALTER'} ROLE %1$I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %2$L`,
        'GRANT CONNECT ON DATABASE %3$I TO %1$I',
        // Only the migrations' user creates objects (PostgreSQL 15 and later grant no one else CREATE here; older ones grant it to PUBLIC).
        'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
        'GRANT USAGE ON SCHEMA public TO %1$I',
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %1$I',
        'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO %1$I',
        // Which migrations ran is the migrations' business: readable, not writable.
        'REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM %1$I',
      ],
    ],
  );
  for (const { sql } of statements.rows) {
    await tx.query(sql);
  }
  return { created };
}
