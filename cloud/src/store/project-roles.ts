import type { Role } from '@xp/shared';
import type { Queryable } from './db.js';

/** A user's role in one project, in place of their organisation role there. */
export interface ProjectRole {
  /** The project's key. */
  readonly project: string;
  /** The project's id (to hide the roles of projects outside a token's scope). */
  readonly projectId: string;
  readonly role: Role;
}

/**
 * The SQL of a user's project roles as a JSON array of `{ project, role }` ordered by project key
 * (`[]` when none), for a row whose user id is `userIdColumn`: read with the user, no query of its own.
 */
export function projectRolesColumn(userIdColumn: string): string {
  return `COALESCE((SELECT json_agg(json_build_object('project', p.key, 'projectId', p.id, 'role', r.role) ORDER BY p.key) FROM user_project_roles r JOIN projects p ON p.id = r.project_id WHERE r.user_id = ${userIdColumn}), '[]'::json)`;
}

/** Per-project roles of users (migration 0024). */
export const projectRoles = {
  /** Sets (or replaces) the user's role in the project. */
  async set(db: Queryable, userId: string, projectId: string, role: Role): Promise<void> {
    await db.query(
      `INSERT INTO user_project_roles (user_id, project_id, role) VALUES ($1, $2, $3)
       ON CONFLICT (user_id, project_id) DO UPDATE SET role = EXCLUDED.role, updated_at = now()`,
      [userId, projectId, role],
    );
  },

  /** Removes the user's role in the project; whether there was one. */
  async remove(db: Queryable, userId: string, projectId: string): Promise<boolean> {
    const result = await db.query('DELETE FROM user_project_roles WHERE user_id = $1 AND project_id = $2', [userId, projectId]);
    return result.rowCount > 0;
  },

  /** The project's roles with their users (read before a project is deleted, to record each one ending), by e-mail. */
  async listForProject(db: Queryable, projectId: string): Promise<{ userId: string; email: string; organisationRole: Role; role: Role }[]> {
    const result = await db.query<{ user_id: string; email: string; organisation_role: Role; role: Role }>(
      'SELECT r.user_id, u.email, u.role AS organisation_role, r.role FROM user_project_roles r JOIN users u ON u.id = r.user_id WHERE r.project_id = $1 ORDER BY u.email, r.user_id',
      [projectId],
    );
    return result.rows.map((r) => ({ userId: r.user_id, email: r.email, organisationRole: r.organisation_role, role: r.role }));
  },

  /** Removes every project role of the user (made an owner); the ones removed. */
  async removeAllForUser(db: Queryable, userId: string): Promise<ProjectRole[]> {
    const result = await db.query<{ project: string; project_id: string; role: Role }>(
      `DELETE FROM user_project_roles r USING projects p WHERE r.user_id = $1 AND p.id = r.project_id RETURNING p.key AS project, p.id AS project_id, r.role`,
      [userId],
    );
    return result.rows.map((r) => ({ project: r.project, projectId: r.project_id, role: r.role })).sort((a, b) => a.project.localeCompare(b.project));
  },
};
