import type { Environment } from '@xp/shared';
import { AppError, AppErrorCode, notFound, versionConflict } from '../errors.js';
import type { Queryable } from './db.js';
import { DatabaseError, SqlState } from './database.js';
import { iso } from './rows.js';

export interface Project {
  readonly id: string;
  readonly orgId: string;
  readonly key: string;
  readonly name: string;
  readonly description: string | null;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface StoredEnvironment extends Environment {
  readonly version: number;
  readonly position: number;
}

interface ProjectRow {
  id: string;
  org_id: string;
  key: string;
  name: string;
  description: string | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

interface EnvironmentRow {
  definition: Environment;
  version: number;
  position: number;
}

const projectFromRow = (r: ProjectRow): Project => ({
  id: r.id,
  orgId: r.org_id,
  key: r.key,
  name: r.name,
  description: r.description,
  version: r.version,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

const envFromRow = (r: EnvironmentRow): StoredEnvironment => ({ ...r.definition, version: r.version, position: r.position });

function alreadyExists(e: unknown, message: string): never {
  if (e instanceof DatabaseError && e.code === SqlState.UniqueViolation) {
    throw new AppError(AppErrorCode.AlreadyExists, message);
  }
  throw e;
}

export const projects = {
  async create(db: Queryable, p: { id: string; orgId: string; key: string; name: string; description?: string | undefined }): Promise<Project> {
    try {
      const result = await db.query<ProjectRow>(
        'INSERT INTO projects (id, org_id, key, name, description) VALUES ($1, $2, $3, $4, $5) RETURNING *',
        [p.id, p.orgId, p.key, p.name, p.description ?? null],
      );
      return projectFromRow(result.rows[0]!);
    } catch (e) {
      return alreadyExists(e, `project "${p.key}" already exists`);
    }
  },

  async list(db: Queryable, orgId: string): Promise<Project[]> {
    const result = await db.query<ProjectRow>('SELECT * FROM projects WHERE org_id = $1 ORDER BY key', [orgId]);
    return result.rows.map(projectFromRow);
  },

  async getByKey(db: Queryable, orgId: string, key: string): Promise<Project> {
    const result = await db.query<ProjectRow>('SELECT * FROM projects WHERE org_id = $1 AND key = $2', [orgId, key]);
    const row = result.rows[0];
    if (row === undefined) {
      throw notFound(`project "${key}"`);
    }
    return projectFromRow(row);
  },

  async getById(db: Queryable, id: string): Promise<Project> {
    const result = await db.query<ProjectRow>('SELECT * FROM projects WHERE id = $1', [id]);
    const row = result.rows[0];
    if (row === undefined) {
      throw notFound('project');
    }
    return projectFromRow(row);
  },

  async update(db: Queryable, orgId: string, key: string, expectedVersion: number, changes: { name?: string | undefined; description?: string | undefined }): Promise<Project> {
    const result = await db.query<ProjectRow>(
      `UPDATE projects SET name = COALESCE($4, name), description = COALESCE($5, description), version = version + 1, updated_at = now()
       WHERE org_id = $1 AND key = $2 AND version = $3 RETURNING *`,
      [orgId, key, expectedVersion, changes.name ?? null, changes.description ?? null],
    );
    const row = result.rows[0];
    if (row === undefined) {
      const current = await projects.getByKey(db, orgId, key);
      throw versionConflict(`project`, current.version, expectedVersion);
    }
    return projectFromRow(row);
  },

  /** Deletes the project at `expectedVersion`; its definitions, environments and keys go with it (ON DELETE CASCADE). */
  async delete(db: Queryable, orgId: string, key: string, expectedVersion: number): Promise<void> {
    const result = await db.query('DELETE FROM projects WHERE org_id = $1 AND key = $2 AND version = $3', [orgId, key, expectedVersion]);
    if (result.rowCount === 0) {
      const current = await projects.getByKey(db, orgId, key);
      throw versionConflict(`project`, current.version, expectedVersion);
    }
  },

  /** Keys of the project's running experiments. */
  async runningExperiments(db: Queryable, projectId: string): Promise<string[]> {
    const result = await db.query<{ key: string }>(`SELECT key FROM experiments WHERE project_id = $1 AND status = 'running' ORDER BY key`, [projectId]);
    return result.rows.map((r) => r.key);
  },

  /** Which of the given project ids still exist. */
  async existing(db: Queryable, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) {
      return new Set();
    }
    const result = await db.query<{ id: string }>('SELECT id FROM projects WHERE id = ANY($1::text[])', [ids]);
    return new Set(result.rows.map((r) => r.id));
  },
};

export const environments = {
  async create(db: Queryable, projectId: string, env: Environment, actorId: string | null): Promise<StoredEnvironment> {
    try {
      const result = await db.query<EnvironmentRow>(
        `INSERT INTO environments (project_id, key, definition, position, updated_by)
         VALUES ($1, $2, $3, (SELECT COALESCE(max(position) + 1, 0) FROM environments WHERE project_id = $1), $4)
         RETURNING definition, version, position`,
        [projectId, env.key, JSON.stringify(env), actorId],
      );
      return envFromRow(result.rows[0]!);
    } catch (e) {
      return alreadyExists(e, `environment "${env.key}" already exists`);
    }
  },

  async list(db: Queryable, projectId: string): Promise<StoredEnvironment[]> {
    const result = await db.query<EnvironmentRow>('SELECT definition, version, position FROM environments WHERE project_id = $1 ORDER BY position, key', [projectId]);
    return result.rows.map(envFromRow);
  },

  async get(db: Queryable, projectId: string, key: string): Promise<StoredEnvironment> {
    const result = await db.query<EnvironmentRow>('SELECT definition, version, position FROM environments WHERE project_id = $1 AND key = $2', [projectId, key]);
    const row = result.rows[0];
    if (row === undefined) {
      throw notFound(`environment "${key}"`);
    }
    return envFromRow(row);
  },

  async update(db: Queryable, projectId: string, env: Environment, expectedVersion: number, actorId: string): Promise<StoredEnvironment> {
    const result = await db.query<EnvironmentRow>(
      `UPDATE environments SET definition = $3, version = version + 1, updated_at = now(), updated_by = $5
       WHERE project_id = $1 AND key = $2 AND version = $4 RETURNING definition, version, position`,
      [projectId, env.key, JSON.stringify(env), expectedVersion, actorId],
    );
    const row = result.rows[0];
    if (row === undefined) {
      const current = await environments.get(db, projectId, env.key);
      throw versionConflict(`environment`, current.version, expectedVersion);
    }
    return envFromRow(row);
  },

  async delete(db: Queryable, projectId: string, key: string, expectedVersion: number): Promise<void> {
    const result = await db.query('DELETE FROM environments WHERE project_id = $1 AND key = $2 AND version = $3', [projectId, key, expectedVersion]);
    if (result.rowCount === 0) {
      const current = await environments.get(db, projectId, key);
      throw versionConflict(`environment`, current.version, expectedVersion);
    }
  },

  /**
   * Locks the ruleset version rows of the given environments (creating missing ones) until commit.
   * Taken before the definitions are read, so a publish compiles what every earlier publish committed.
   */
  async lockRulesetVersions(db: Queryable, projectId: string, environmentKeys: readonly string[]): Promise<void> {
    if (environmentKeys.length === 0) {
      return;
    }
    await db.query(
      `INSERT INTO ruleset_versions (project_id, environment_key, version, content_hash) SELECT $1, k, 0, '' FROM unnest($2::text[]) AS k ON CONFLICT (project_id, environment_key) DO NOTHING`,
      [projectId, [...environmentKeys]],
    );
    await db.query('SELECT 1 FROM ruleset_versions WHERE project_id = $1 AND environment_key = ANY($2::text[]) ORDER BY environment_key FOR UPDATE', [
      projectId,
      [...environmentKeys],
    ]);
  },

  /**
   * Takes the next ruleset version for an environment when its content changed, holding the row
   * lock until commit so publishes serialise in version order; undefined when unchanged.
   */
  async nextRulesetVersion(db: Queryable, projectId: string, environment: string, contentHash: string): Promise<number | undefined> {
    await db.query(
      `INSERT INTO ruleset_versions (project_id, environment_key, version, content_hash) VALUES ($1, $2, 0, '') ON CONFLICT (project_id, environment_key) DO NOTHING`,
      [projectId, environment],
    );
    const current = await db.query<{ version: number; content_hash: string }>(
      'SELECT version, content_hash FROM ruleset_versions WHERE project_id = $1 AND environment_key = $2 FOR UPDATE',
      [projectId, environment],
    );
    const row = current.rows[0]!;
    if (row.content_hash === contentHash) {
      return undefined;
    }
    const next = await db.query<{ version: number }>(
      `UPDATE ruleset_versions SET version = version + 1, content_hash = $3, published_at = now() WHERE project_id = $1 AND environment_key = $2 RETURNING version`,
      [projectId, environment, contentHash],
    );
    return next.rows[0]!.version;
  },

  /**
   * Forgets the content hash of an environment's ruleset (its counter stays): the next publish under
   * the key takes a new version even with the same content. For a deleted environment, so one created
   * again under its key never goes on serving the old ruleset.
   */
  async forgetRulesetContent(db: Queryable, projectId: string, environment: string): Promise<void> {
    await db.query(`UPDATE ruleset_versions SET content_hash = '' WHERE project_id = $1 AND environment_key = $2`, [projectId, environment]);
  },

  /**
   * Moves an environment's counter to at least `version` and forgets its content, so the next
   * publish takes the version after it: for a ruleset store ahead of the database (a restored
   * database), whose versions SDKs have already seen and the store keeps immutable.
   */
  async advanceRulesetVersion(db: Queryable, projectId: string, environment: string, version: number): Promise<void> {
    await db.query(
      `INSERT INTO ruleset_versions (project_id, environment_key, version, content_hash) VALUES ($1, $2, $3, '')
       ON CONFLICT (project_id, environment_key) DO UPDATE SET version = greatest(ruleset_versions.version, EXCLUDED.version), content_hash = ''`,
      [projectId, environment, version],
    );
  },

  async currentRulesetVersion(db: Queryable, projectId: string, environment: string): Promise<number> {
    const result = await db.query<{ version: number }>('SELECT version FROM ruleset_versions WHERE project_id = $1 AND environment_key = $2', [projectId, environment]);
    return result.rows[0]?.version ?? 0;
  },
};
