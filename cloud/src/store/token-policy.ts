import type { Queryable } from './db.js';

/** An organisation's token policy (migration 0043): lifetimes in days, null when unset. */
export interface TokenPolicyInput {
  /** The longest a token minted from now on may live; null: no maximum. */
  readonly maxLifetimeDays: number | null;
  /** The lifetime of a token minted without `expiresInDays`; null: the maximum (never expiring without one). */
  readonly defaultLifetimeDays: number | null;
}

/** The policy as stored, with its version (migration 0045: 1 at first, one more for each change; If-Match). */
export interface TokenPolicy extends TokenPolicyInput {
  readonly version: number;
}

interface PolicyRow {
  token_max_lifetime_days: number | null;
  token_default_lifetime_days: number | null;
  token_policy_version: number;
}

const COLUMNS = 'token_max_lifetime_days, token_default_lifetime_days, token_policy_version';

const fromRow = (r: PolicyRow | undefined): TokenPolicy => ({
  maxLifetimeDays: r?.token_max_lifetime_days ?? null,
  defaultLifetimeDays: r?.token_default_lifetime_days ?? null,
  version: r?.token_policy_version ?? 1,
});

export const tokenPolicies = {
  async get(db: Queryable, orgId: string): Promise<TokenPolicy> {
    const result = await db.query<PolicyRow>(`SELECT ${COLUMNS} FROM organizations WHERE id = $1`, [orgId]);
    return fromRow(result.rows[0]);
  },

  /** The policy, its row locked (call in a transaction): a mint reads it as a change of it commits, never half of one. */
  async lock(db: Queryable, orgId: string): Promise<TokenPolicy> {
    const result = await db.query<PolicyRow>(`SELECT ${COLUMNS} FROM organizations WHERE id = $1 FOR UPDATE`, [orgId]);
    return fromRow(result.rows[0]);
  },

  /** Writes the policy as its next version (call with the row locked, after comparing the version read). */
  async set(db: Queryable, orgId: string, policy: TokenPolicyInput): Promise<TokenPolicy> {
    const result = await db.query<PolicyRow>(
      `UPDATE organizations SET token_max_lifetime_days = $2, token_default_lifetime_days = $3, token_policy_version = token_policy_version + 1 WHERE id = $1 RETURNING ${COLUMNS}`,
      [orgId, policy.maxLifetimeDays, policy.defaultLifetimeDays],
    );
    return fromRow(result.rows[0]);
  },

  /**
   * Live tokens of the organisation's users (people and service accounts) that a maximum of
   * `maxDays` from `now` would not have allowed: never expiring, or expiring after `now + maxDays`
   * (the longest a token minted now may live).
   */
  async countExceeding(db: Queryable, orgId: string, maxDays: number, now: Date): Promise<number> {
    const result = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM access_tokens t JOIN users u ON u.id = t.user_id
       WHERE u.org_id = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2::timestamptz)
         AND (t.expires_at IS NULL OR t.expires_at > $2::timestamptz + make_interval(days => $3::int))`,
      [orgId, now, maxDays],
    );
    return result.rows[0]?.n ?? 0;
  },
};
