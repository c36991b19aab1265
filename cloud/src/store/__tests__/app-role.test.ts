import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAppRole, scramSha256Verifier } from '../app-role.js';
import type { Database } from '../db.js';
import { postgresTarget } from './test-databases.js';

const ADMIN_URL = process.env.XP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

describe('the application database role (real PostgreSQL)', () => {
  // Roles belong to the server: this run's own name, dropped after the migrated database it was granted in.
  const client = new pg.Client({ connectionString: ADMIN_URL });
  const target = postgresTarget();
  let tx: Database;
  const role = `xp_role_test_${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    await client.connect();
    tx = await target.open();
  });

  afterAll(async () => {
    await target.dispose();
    await client.query(`DROP ROLE IF EXISTS ${role}`);
    await client.end();
  });

  it('computes the SCRAM-SHA-256 verifier PostgreSQL itself stores for a password', async () => {
    await client.query("SET password_encryption = 'scram-sha-256'");
    await client.query(`CREATE ROLE ${role} PASSWORD 'Tr0ub4dor&3 horse battery'`);
    const stored = (await client.query<{ v: string }>('SELECT rolpassword AS v FROM pg_authid WHERE rolname = $1', [role])).rows[0]!.v;
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored)!;

    expect(scramSha256Verifier('Tr0ub4dor&3 horse battery', { salt: Buffer.from(salt!, 'base64'), iterations: Number(iterations) })).toBe(stored);
    expect(scramSha256Verifier('Tr0ub4dor&3 horse batterY', { salt: Buffer.from(salt!, 'base64'), iterations: Number(iterations) })).not.toBe(stored);
  });

  it('refuses names it would have to quote, weak passwords, and the migrations own user', async () => {
    const password = randomBytes(16).toString('hex');
    await expect(ensureAppRole(tx, { username: 'App"; DROP TABLE users; --', password })).rejects.toThrow(/plain lower-case name/);
    await expect(ensureAppRole(tx, { username: 'pg_monitor', password })).rejects.toThrow(/plain lower-case name/);
    await expect(ensureAppRole(tx, { username: role, password: 'short' })).rejects.toThrow(/at least 16 characters/);
    const self = (await tx.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
    await expect(ensureAppRole(tx, { username: self, password })).rejects.toThrow(/must not be the user the migrations run as/);
  });

  it('updates an existing role in place and never stores the password itself', async () => {
    const password = randomBytes(16).toString('hex');
    expect(await ensureAppRole(tx, { username: role, password })).toEqual({ created: false });
    const stored = (await client.query<{ v: string; login: boolean }>('SELECT rolpassword AS v, rolcanlogin AS login FROM pg_authid WHERE rolname = $1', [role])).rows[0]!;
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored.v)!;

    expect(stored.login).toBe(true);
    expect(stored.v).not.toContain(password);
    expect(scramSha256Verifier(password, { salt: Buffer.from(salt!, 'base64'), iterations: Number(iterations) })).toBe(stored.v);
  });
});
