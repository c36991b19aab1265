import type { Queryable } from './db.js';
import { DatabaseError, SqlState } from './database.js';

/** A pending SSO authorisation (sso_logins): what the callback needs to finish it. */
export interface SsoLogin {
  readonly bindingHash: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** A desktop app's sign-in: its loopback port and challenge (both or neither). */
  readonly app: SsoAppBinding | undefined;
  readonly expiresAt: Date;
}

/** A desktop app's sign-in (RFC 8252): where the callback sends the outcome, and the proof the exchange needs. */
export interface SsoAppBinding {
  /** The app's port on 127.0.0.1 (1024–65535). */
  readonly port: number;
  /** base64url(SHA-256(verifier)); the app alone holds the verifier. */
  readonly challenge: string;
}

/** A one-time sign-in code (sso_codes). */
export interface SsoCode {
  /** The browser binding's hash; null for a desktop app's code (its proof is the challenge's verifier). */
  readonly bindingHash: string | null;
  readonly userId: string;
  readonly expiresAt: Date;
}

/** What is known of a code before it is taken: its desktop app's challenge, if it has one. */
export interface SsoCodeChallenge {
  readonly appChallenge: string | null;
}

export const ssoStore = {
  async addLogin(db: Queryable, login: { stateHash: string; bindingHash: string; nonce: string; codeVerifier: string; app: SsoAppBinding | undefined; createdAt: Date; expiresAt: Date }): Promise<void> {
    await db.query('INSERT INTO sso_logins (state_hash, binding_hash, nonce, code_verifier, app_port, app_challenge, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
      login.stateHash,
      login.bindingHash,
      login.nonce,
      login.codeVerifier,
      login.app?.port ?? null,
      login.app?.challenge ?? null,
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
    const result = await db.query<{ binding_hash: string; nonce: string; code_verifier: string; app_port: number | null; app_challenge: string | null; expires_at: Date }>(
      'DELETE FROM sso_logins WHERE state_hash = $1 AND binding_hash = $2 RETURNING binding_hash, nonce, code_verifier, app_port, app_challenge, expires_at',
      [stateHash, bindingHash],
    );
    const row = result.rows[0];
    if (row === undefined) {
      return undefined;
    }
    const app = row.app_port === null || row.app_challenge === null ? undefined : { port: row.app_port, challenge: row.app_challenge };
    return { bindingHash: row.binding_hash, nonce: row.nonce, codeVerifier: row.code_verifier, app, expiresAt: new Date(row.expires_at) };
  },

  /** A browser's code has its binding's hash; a desktop app's, its challenge instead (the table's CHECK wants one). */
  async addCode(db: Queryable, code: { codeHash: string; bindingHash: string | null; appChallenge: string | null; userId: string; expiresAt: Date }): Promise<void> {
    await db.query('INSERT INTO sso_codes (code_hash, binding_hash, app_challenge, user_id, expires_at) VALUES ($1, $2, $3, $4, $5)', [code.codeHash, code.bindingHash, code.appChallenge, code.userId, code.expiresAt]);
  },

  /**
   * The desktop app's challenge of a code, read without taking it (the exchange compares it in
   * constant time before `takeAppCode`). Undefined when there is no such code.
   */
  async codeChallenge(db: Queryable, codeHash: string): Promise<SsoCodeChallenge | undefined> {
    const result = await db.query<{ app_challenge: string | null }>('SELECT app_challenge FROM sso_codes WHERE code_hash = $1', [codeHash]);
    const row = result.rows[0];
    return row === undefined ? undefined : { appChallenge: row.app_challenge };
  },

  /**
   * Deletes and returns a desktop app's code (single use), expired or not, only with the challenge it
   * was stored with (checked by the caller against the verifier): of two concurrent exchanges, one wins.
   */
  async takeAppCode(db: Queryable, codeHash: string, appChallenge: string): Promise<SsoCode | undefined> {
    const result = await db.query<{ binding_hash: string | null; user_id: string; expires_at: Date }>(
      'DELETE FROM sso_codes WHERE code_hash = $1 AND app_challenge = $2 RETURNING binding_hash, user_id, expires_at',
      [codeHash, appChallenge],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { bindingHash: row.binding_hash, userId: row.user_id, expiresAt: new Date(row.expires_at) };
  },

  /**
   * Deletes and returns a sign-in code (single use), expired or not, only when its browser binding is
   * one of `bindingHashes`: a code sent without its browser's cookie stays for that browser (a desktop
   * app's code has no binding, so no cookie takes it).
   */
  async takeCode(db: Queryable, codeHash: string, bindingHashes: readonly string[]): Promise<SsoCode | undefined> {
    if (bindingHashes.length === 0) {
      return undefined;
    }
    const result = await db.query<{ binding_hash: string | null; user_id: string; expires_at: Date }>(
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
