import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db.js';
import { migrate } from '../db.js';
import { databaseBefore } from './migrated-before.js';

/**
 * Migration 0024 (user_project_roles) on a database of the release before it: the users who exist
 * have no project roles (their organisation role holds everywhere, as before); a role is one per
 * user and project, never owner, and goes with its user or project.
 */
describe('migration 0024 on an upgraded database', () => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ db, close } = await databaseBefore('0024'));
  });
  afterAll(async () => {
    await close();
  });

  it('adds an empty table of project roles that cascades with users and projects', async () => {
    await db.query("INSERT INTO organizations (id, name) VALUES ('o1', 'Org')");
    await db.query("INSERT INTO users (id, org_id, email, name, role, password_hash) VALUES ('u1', 'o1', 'old@example.com', 'Old', 'viewer', 'scrypt$x')");
    await db.query("INSERT INTO users (id, org_id, email, name, role, password_hash) VALUES ('u2', 'o1', 'other@example.com', 'Other', 'editor', 'scrypt$y')");
    await db.query("INSERT INTO projects (id, org_id, key, name) VALUES ('p1', 'o1', 'web', 'Web'), ('p2', 'o1', 'app', 'App')");

    expect((await migrate(db))[0]).toBe('0024_project_roles.sql');

    expect((await db.query('SELECT * FROM user_project_roles')).rows).toEqual([]);
    await db.query("INSERT INTO user_project_roles (user_id, project_id, role) VALUES ('u1', 'p1', 'editor'), ('u1', 'p2', 'admin'), ('u2', 'p1', 'viewer')");
    // One role per user and project, and never owner.
    await expect(db.query("INSERT INTO user_project_roles (user_id, project_id, role) VALUES ('u1', 'p1', 'viewer')")).rejects.toThrow();
    await expect(db.query("INSERT INTO user_project_roles (user_id, project_id, role) VALUES ('u2', 'p2', 'owner')")).rejects.toThrow();
    await expect(db.query("INSERT INTO user_project_roles (user_id, project_id, role) VALUES ('u2', 'nope', 'viewer')")).rejects.toThrow();

    await db.query("DELETE FROM projects WHERE id = 'p1'");
    expect((await db.query('SELECT user_id, project_id, role FROM user_project_roles ORDER BY user_id, project_id')).rows).toEqual([{ user_id: 'u1', project_id: 'p2', role: 'admin' }]);
    await db.query("DELETE FROM users WHERE id = 'u1'");
    expect((await db.query('SELECT * FROM user_project_roles')).rows).toEqual([]);
  });
});
