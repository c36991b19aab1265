import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { credentials } from '../credentials.js';
import { tokenPolicies } from '../token-policy.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0043 (token lifetimes) on a database of the release before it: tokens minted before it
 * name their minter where it is known (a person's own tokens; a service account's from the audit
 * entry of its mint), existing tokens keep their expiry, and organisations start without a policy.
 */
describe('migration 0043 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0043'));
  });
  afterAll(async () => {
    await close();
  });

  it('backfills who minted older tokens and starts every organisation without a policy', async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query(
      `INSERT INTO users (id, org_id, email, name, role, password_hash, kind) VALUES
         ('ana', 'o1', 'ana@example.com', 'Ana', 'admin', 'x', 'person'),
         ('bot', 'o1', 'bot@service-accounts.invalid', 'deploy', 'editor', NULL, 'service'),
         ('bot2', 'o1', 'bot2@service-accounts.invalid', 'other', 'viewer', NULL, 'service')`,
    );
    await db.query(
      `INSERT INTO access_tokens (id, user_id, name, token_hash, token_prefix, expires_at) VALUES
         ('t-ana', 'ana', 'laptop', 'h1', 'xpp_1', NULL),
         ('t-bot', 'bot', 'ci', 'h2', 'xpp_2', '2027-01-01T00:00:00Z'),
         ('t-bot2', 'bot2', 'no entry', 'h3', 'xpp_3', NULL)`,
    );
    await db.query(
      `INSERT INTO audit_log (org_id, project_id, actor_id, actor_email, client, action, resource_type, resource_key, diff)
       VALUES ('o1', NULL, 'ana', 'ana@example.com', 'console', 'service-account.token-created', 'access-token', 't-bot', '[]')`,
    );

    expect((await migrate(db))[0]).toBe('0043_token_lifetimes.sql');

    const byId = async (userId: string): Promise<Record<string, unknown>> =>
      Object.fromEntries((await credentials.listAccessTokens(db, userId)).map((t) => [t.id, { createdBy: t.createdBy, expiresAt: t.expiresAt }]));
    expect(await byId('ana')).toEqual({ 't-ana': { createdBy: { id: 'ana', name: 'Ana' }, expiresAt: null } });
    expect(await byId('bot')).toEqual({ 't-bot': { createdBy: { id: 'ana', name: 'Ana' }, expiresAt: '2027-01-01T00:00:00.000Z' } });
    expect(await byId('bot2')).toEqual({ 't-bot2': { createdBy: null, expiresAt: null } });
    expect(await tokenPolicies.get(db, 'o1')).toMatchObject({ maxLifetimeDays: null, defaultLifetimeDays: null });
    // The schema holds the policy's bounds, whatever writes it.
    await expect(db.query("UPDATE organizations SET token_max_lifetime_days = 7, token_default_lifetime_days = 8 WHERE id = 'o1'")).rejects.toThrow(/organizations_token_default_within_max/);
    await expect(db.query("UPDATE organizations SET token_max_lifetime_days = 0 WHERE id = 'o1'")).rejects.toThrow(/check/i);
  });
});
