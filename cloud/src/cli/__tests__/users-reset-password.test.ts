/**
 * `xp users reset-password EMAIL`: operator recovery on the platform's database (here a data folder's
 * embedded PGlite, as after `xp start` stopped), no session needed. The temporary password it prints
 * works only for a login that chooses a new one; the user's sessions and tokens end; the audit log
 * names the CLI. Refused while another process holds the data folder.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../auth/passwords.js';
import { LoginRateLimiter } from '../../auth/rate-limit.js';
import { TokenKind, generateToken, hashToken, tokenPrefix } from '../../auth/tokens.js';
import { AccountService, CLI_RESET_CLIENT } from '../../domain/accounts.js';
import type { Deps } from '../../domain/context.js';
import { silentLogger } from '../../domain/context.js';
import { lockDataDir } from '../../local/data-lock.js';
import { openEmbeddedDatabase } from '../../local/embedded-database.js';
import { credentials } from '../../store/credentials.js';
import { createPgliteDatabase } from '../../store/db.js';
import { users } from '../../store/users.js';
import { migratedPgliteDump } from '../../store/__tests__/test-databases.js';
import { main } from '../xp.js';

const SCRYPT = { N: 1024, r: 8, p: 1 } as const;
const FORGOTTEN = 'Tangerine-Quokka-Lantern-77';
const OWN = 'Marmalade-Pangolin-Beacon-58';
const EMAIL = 'only.owner@example.com';

describe('xp users reset-password on a data folder', () => {
  let root: string;
  let dataDir: string;
  let userId: string;
  const session = generateToken(TokenKind.Session);
  const pat = generateToken(TokenKind.PersonalAccess);

  const run = async (args: string[]): Promise<{ code: number; out: string[]; err: string[] }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { DATABASE_URL: '' }, (l) => out.push(l), (l) => err.push(l));
    return { code, out, err };
  };

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'xp-reset-password-'));
    dataDir = path.join(root, 'data');
    await mkdir(dataDir);
    // The migrated template as the folder's embedded database, with an owner who holds a session and a token.
    const db = await createPgliteDatabase(path.join(dataDir, 'postgres'), { loadDataDir: await migratedPgliteDump() });
    try {
      const orgId = randomUUID();
      userId = randomUUID();
      await db.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', [orgId, 'Org']);
      await users.create(db, { id: userId, orgId, email: EMAIL, name: 'Only owner', role: 'owner', passwordHash: await hashPassword(FORGOTTEN, SCRYPT) });
      await credentials.createSession(db, { id: randomUUID(), userId, tokenHash: hashToken(session), client: 'console', expiresAt: new Date(Date.now() + 3_600_000) });
      await credentials.createAccessToken(db, { id: randomUUID(), userId, name: 'ci', tokenHash: hashToken(pat), prefix: tokenPrefix(pat), expiresAt: null, parentId: null });
    } finally {
      await db.close();
    }
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('refuses while another process holds the data folder, and names an unknown email', async () => {
    const lock = await lockDataDir(dataDir, 'xp start');
    try {
      const refused = await run(['users', 'reset-password', EMAIL, '--data-dir', dataDir]);
      expect(refused.code).toBe(1);
      expect(refused.err.join('\n')).toContain('is in use by xp start');
      expect(refused.out).toEqual([]);
    } finally {
      await lock.release();
    }
    const unknown = await run(['users', 'reset-password', 'nobody@example.com', '--data-dir', dataDir]);
    expect([unknown.code, unknown.err]).toEqual([1, ['error: no user with email nobody@example.com']]);
    const usage = await run(['users', 'reset-password', '--data-dir', dataDir]);
    expect(usage.code).toBe(2);
  });

  it('prints a temporary password once that works only to choose a new one; ends sessions and tokens; audits the CLI', async () => {
    const { code, out, err } = await run(['users', 'reset-password', 'Only.Owner@example.com', '--data-dir', dataDir]);
    expect({ code, err }).toMatchObject({ code: 0 });
    expect(out).toHaveLength(1);
    const temporary = /^Temporary password for only\.owner@example\.com \(shown once\): (\S+)$/.exec(out[0]!)?.[1];
    expect(temporary).toBeDefined();
    expect(err.join('\n')).toContain('Ended 1 session(s) and revoked 1 personal access token(s)');

    const db = await openEmbeddedDatabase(dataDir);
    try {
      const now = new Date();
      expect(await credentials.findPrincipal(db, hashToken(session), now)).toBeUndefined();
      expect(await credentials.findPrincipal(db, hashToken(pat), now)).toBeUndefined();
      const entries = await db.query<{ actor_id: string | null; client: string; diff: unknown }>("SELECT actor_id, client, diff FROM audit_log WHERE action = 'user.password-reset' AND resource_key = $1", [userId]);
      expect(entries.rows.map((r) => [r.actor_id, r.client])).toEqual([[null, CLI_RESET_CLIENT]]);
      expect(JSON.stringify(entries.rows[0]!.diff)).not.toContain(temporary!);

      const accounts = new AccountService({ db, now: () => new Date(), newId: randomUUID, logger: silentLogger } as unknown as Deps, { limiter: LoginRateLimiter.inMemory(), scrypt: SCRYPT });
      const meta = { ip: '192.0.2.1', client: 'test' };
      await expect(accounts.login({ email: EMAIL, password: FORGOTTEN }, meta)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      await expect(accounts.login({ email: EMAIL, password: temporary }, meta)).rejects.toMatchObject({ code: 'PASSWORD_CHANGE_REQUIRED' });
      const signedIn = await accounts.login({ email: EMAIL, password: temporary, newPassword: OWN }, meta);
      expect(signedIn.user.passwordChangeRequired).toBe(false);
      expect(await credentials.findPrincipal(db, hashToken(signedIn.token), new Date())).toMatchObject({ email: EMAIL, role: 'owner' });
    } finally {
      await db.close();
    }
  });
});
