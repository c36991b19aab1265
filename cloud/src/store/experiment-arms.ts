/**
 * The flag variation each arm of a running experiment was first served (migrations/0031), per
 * experiment, environment and flag: `{ arm key: flag variation key }`. Flag writes and resumes are
 * held to it (refuseMovedExperimentArms in domain/definitions.ts).
 */
import type { Queryable } from './db.js';

/** Arm key → flag variation key. */
export type ArmMapping = Readonly<Record<string, string>>;

export const experimentArms = {
  /** The recorded mappings of flag `flagKey` in the project: experiment → environment → mapping. */
  async forFlag(db: Queryable, projectId: string, flagKey: string): Promise<Map<string, Map<string, ArmMapping>>> {
    const found = await db.query<{ experiment: string; environment: string; mapping: unknown }>(
      'SELECT experiment, environment, mapping FROM experiment_arm_mappings WHERE project_id = $1 AND flag_key = $2',
      [projectId, flagKey],
    );
    const out = new Map<string, Map<string, ArmMapping>>();
    for (const row of found.rows) {
      const byEnv = out.get(row.experiment) ?? new Map<string, ArmMapping>();
      byEnv.set(row.environment, parsed(row.mapping));
      out.set(row.experiment, byEnv);
    }
    return out;
  },

  /** The recorded mappings of experiment `experiment`: flag key → environment → mapping. */
  async forExperiment(db: Queryable, projectId: string, experiment: string): Promise<Map<string, Map<string, ArmMapping>>> {
    const found = await db.query<{ flag_key: string; environment: string; mapping: unknown }>(
      'SELECT flag_key, environment, mapping FROM experiment_arm_mappings WHERE project_id = $1 AND experiment = $2',
      [projectId, experiment],
    );
    const out = new Map<string, Map<string, ArmMapping>>();
    for (const row of found.rows) {
      const byEnv = out.get(row.flag_key) ?? new Map<string, ArmMapping>();
      byEnv.set(row.environment, parsed(row.mapping));
      out.set(row.flag_key, byEnv);
    }
    return out;
  },

  /** Records a mapping unless one is recorded already for (experiment, environment, flag): the first one served stays. */
  async recordIfAbsent(db: Queryable, projectId: string, experiment: string, environment: string, flagKey: string, mapping: ArmMapping): Promise<void> {
    await db.query(
      `INSERT INTO experiment_arm_mappings (project_id, experiment, environment, flag_key, mapping) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (project_id, experiment, environment, flag_key) DO NOTHING`,
      [projectId, experiment, environment, flagKey, JSON.stringify(mapping)],
    );
  },

  /** Deletes an experiment's mappings (with its data, when it is deleted): one created later with its key records afresh. */
  async deleteForExperiment(db: Queryable, projectId: string, experiment: string): Promise<void> {
    await db.query('DELETE FROM experiment_arm_mappings WHERE project_id = $1 AND experiment = $2', [projectId, experiment]);
  },
};

/** A stored mapping: jsonb comes back parsed from the drivers; a string is parsed as a fallback. */
function parsed(value: unknown): ArmMapping {
  const v: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    return {};
  }
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
