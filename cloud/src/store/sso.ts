import type { Queryable } from './db.js';
import { DatabaseError, SqlState } from './database.js';

/** A pending SSO authorisation (sso_logins): what the callback needs to finish it. */
export interface SsoLogin {
  readonly bindingHash: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly expiresAt: Date;
}

/** A one-time sign-in code (sso_codes). */
export interface SsoCode {
  readonly bindingHash: string;
  readonly userId: string;
  readonly expiresAt: Date;
}

export const ssoStore = {
  async addLogin(db: Queryable, login: { stateHash: string; bindingHash: string; nonce: string; codeVerifier: string; createdAt: Date; expiresAt: Date }): Promise<void> {
    await db.query('INSERT INTO sso_logins (state_hash, binding_hash, nonce, code_verifier, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      login.stateHash,
      login.bindingHash,
      login.nonce,
      login.codeVerifier,
      login.createdAt,
      login.expiresAt,
    ]);
  },

  /** Pending authorisations not yet expired at `now`, counted up to `cap` (the flood guard needs no more). */
  async countPending(db: Queryable, now: Date, cap: number): Promise<number> {
    const result = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM (SELECT 1 FROM sso_logins WHERE expires_at > $1 LIMIT $2) AS pending', [now, cap]);
    return result.rows[0]?.n ?? 0;
  },

  /**
   * Deletes and returns the pending authorisation of a state (single use), expired or not, only when
   * `bindingHash` is its browser binding's: a state sent without its browser's cookie is left as it
   * is (whoever holds a callback URL cannot burn it). Undefined when there is no such pair.
   */
  async takeLogin(db: Queryable, stateHash: string, bindingHash: string): Promise<SsoLogin | undefined> {
    const result = await db.query<{ binding_hash: string; nonce: string; code_verifier: string; expires_at: Date }>(
      'DELETE FROM sso_logins WHERE state_hash = $1 AND binding_hash = $2 RETURNING binding_hash, nonce, code_verifier, expires_at',
      [stateHash, bindingHash],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { bindingHash: row.binding_hash, nonce: row.nonce, codeVerifier: row.code_verifier, expiresAt: new Date(row.expires_at) };
  },

  async addCode(db: Queryable, code: { codeHash: string; bindingHash: string; userId: string; expiresAt: Date }): Promise<void> {
    await db.query('INSERT INTO sso_codes (code_hash, binding_hash, user_id, expires_at) VALUES ($1, $2, $3, $4)', [code.codeHash, code.bindingHash, code.userId, code.expiresAt]);
  },

  /**
   * Deletes and returns a sign-in code (single use), expired or not, only when its browser binding is
   * one of `bindingHashes`: a code sent without its browser's cookie stays for that browser.
   */
  async takeCode(db: Queryable, codeHash: string, bindingHashes: readonly string[]): Promise<SsoCode | undefined> {
    if (bindingHashes.length === 0) {
      return undefined;
    }
    const result = await db.query<{ binding_hash: string; user_id: string; expires_at: Date }>(
      'DELETE FROM sso_codes WHERE code_hash = $1 AND binding_hash = ANY($2::text[]) RETURNING binding_hash, user_id, expires_at',
      [codeHash, [...bindingHashes]],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { bindingHash: row.binding_hash, userId: row.user_id, expiresAt: new Date(row.expires_at) };
  },

  /** Deletes pending authorisations and codes that expired before `now`; the number deleted. */
  async pruneExpired(db: Queryable, now: Date): Promise<number> {
    const logins = await db.query('DELETE FROM sso_logins WHERE expires_at < $1', [now]);
    const codes = await db.query('DELETE FROM sso_codes WHERE expires_at < $1', [now]);
    return logins.rowCount + codes.rowCount;
  },

  /** The person linked to this IdP identity (never a service account). */
  async userIdByIdentity(db: Queryable, issuer: string, subject: string): Promise<string | undefined> {
    const result = await db.query<{ id: string }>("SELECT id FROM users WHERE sso_issuer = $1 AND sso_subject = $2 AND kind = 'person'", [issuer, subject]);
    return result.rows[0]?.id;
  },

  /** The IdP identity a user is linked to, if any. */
  async identityOf(db: Queryable, userId: string): Promise<{ issuer: string; subject: string } | undefined> {
    const result = await db.query<{ sso_issuer: string | null; sso_subject: string | null }>('SELECT sso_issuer, sso_subject FROM users WHERE id = $1', [userId]);
    const row = result.rows[0];
    return row === undefined || row.sso_issuer === null || row.sso_subject === null ? undefined : { issuer: row.sso_issuer, subject: row.sso_subject };
  },

  /** Links a person without a link to an IdP identity; false when they have one already (or it is another user's). */
  async link(db: Queryable, userId: string, issuer: string, subject: string): Promise<boolean> {
    try {
      const result = await db.query("UPDATE users SET sso_issuer = $2, sso_subject = $3 WHERE id = $1 AND kind = 'person' AND sso_issuer IS NULL", [userId, issuer, subject]);
      return result.rowCount === 1;
    } catch (e) {
      if (e instanceof DatabaseError && e.code === SqlState.UniqueViolation) {
        return false;
      }
      throw e;
    }
  },
};
