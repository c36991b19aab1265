/**
 * What a flags document would leave broken once applied: references to segments, metrics,
 * holdouts, experiments, flags, variations and environments that the project would not have. The
 * API refuses each such write, but only when it comes to it; `xp apply` checks the whole result
 * first, so a document with a typo changes nothing instead of stopping half-applied.
 */
import type { DefinitionPath, Experiment, Flag, Holdout, Metric, Segment } from '@xp/shared';
import { groupsNamedIn } from '@xp/shared';
import { jsonDiff } from '../domain/json-diff.js';
import { prerequisiteCycles } from '../domain/publisher.js';

/** The project's definitions after the apply, by kind and key. */
export interface ProjectState {
  readonly segments: ReadonlyMap<string, Segment>;
  readonly holdouts: ReadonlyMap<string, Holdout>;
  readonly metrics: ReadonlyMap<string, Metric>;
  readonly experiments: ReadonlyMap<string, Experiment>;
  readonly flags: ReadonlyMap<string, Flag>;
}

export interface BrokenReference {
  /** Where, as `flags.checkout.environments.production.rules[0].segments`. */
  readonly path: string;
  readonly message: string;
}

/** The definitions that would exist: the current ones, those of the document replacing them, and (with prune) only the document's. */
export function stateAfter(current: { readonly [K in DefinitionPath]: readonly unknown[] }, desired: { readonly [K in DefinitionPath]: readonly unknown[] }, prune: boolean): ProjectState {
  const merge = <T extends { key: string }>(kind: DefinitionPath): Map<string, T> => {
    const out = new Map<string, T>();
    for (const d of prune ? [] : (current[kind] as T[])) {
      out.set(d.key, d);
    }
    for (const d of desired[kind] as T[]) {
      out.set(d.key, d);
    }
    return out;
  };
  return { segments: merge('segments'), holdouts: merge('holdouts'), metrics: merge('metrics'), experiments: merge('experiments'), flags: merge('flags') };
}

/**
 * Every broken reference in `state`. `environments` are the project's; `before` (the flags as they
 * are) tells a flag state echoed from a deleted environment (allowed) from a new one. Archived
 * flags are left out: no ruleset holds them.
 */
export function brokenReferences(state: ProjectState, environments: readonly string[], before: ReadonlyMap<string, Flag>): BrokenReference[] {
  const problems: BrokenReference[] = [];
  const known = new Set(environments);
  const envList = environments.map((e) => `"${e}"`).join(', ');
  const need = (ok: boolean, path: string, message: string): void => {
    if (!ok) {
      problems.push({ path, message });
    }
  };
  const targeting = (def: { condition?: unknown; segments?: readonly string[] | undefined; excludeSegments?: readonly string[] | undefined }, path: string): void => {
    for (const [field, keys] of [['segments', def.segments], ['excludeSegments', def.excludeSegments]] as const) {
      (keys ?? []).forEach((key, i) => {
        need(state.segments.has(key), `${path}.${field}[${i}]`, `unknown segment "${key}"`);
      });
    }
    if (def.condition !== undefined) {
      for (const group of groupsNamedIn(def.condition)) {
        const seg = state.segments.get(group);
        need(seg?.type === 'ids', `${path}.condition`, seg === undefined ? `unknown segment "${group}" in $inGroup / $notInGroup` : `segment "${group}" is not an id list ($inGroup / $notInGroup)`);
      }
    }
  };

  for (const seg of state.segments.values()) {
    if (seg.type !== 'ids') {
      targeting({ condition: seg.condition }, `segments.${seg.key}`);
    }
  }
  for (const exp of state.experiments.values()) {
    const path = `experiments.${exp.key}`;
    targeting(exp, path);
    for (const [role, keys] of Object.entries(exp.metrics)) {
      keys.forEach((key, i) => {
        need(state.metrics.has(key), `${path}.metrics.${role}[${i}]`, `unknown metric "${key}"`);
      });
    }
    if (exp.holdout !== undefined) {
      need(state.holdouts.has(exp.holdout), `${path}.holdout`, `unknown holdout "${exp.holdout}"`);
    }
    exp.environments.forEach((env, i) => {
      need(known.has(env), `${path}.environments[${i}]`, `unknown environment "${env}"; the project has ${envList}`);
    });
  }
  for (const flag of state.flags.values()) {
    if (flag.archived) {
      continue;
    }
    for (const [env, st] of Object.entries(flag.environments)) {
      const path = `flags.${flag.key}.environments.${env}`;
      // A state left from a deleted environment may be sent back unchanged, as the API allows.
      const echoed = jsonDiff(before.get(flag.key)?.environments[env], st).length === 0;
      need(known.has(env) || echoed, path, `unknown environment "${env}"; the project has ${envList}`);
      st.rules.forEach((rule, i) => {
        targeting(rule, `${path}.rules[${i}]`);
        if (rule.type === 'experiment') {
          need(state.experiments.has(rule.experiment), `${path}.rules[${i}].experiment`, `unknown experiment "${rule.experiment}"`);
        }
      });
      st.prerequisites.forEach((p, i) => {
        const parent = state.flags.get(p.flag);
        const where = `${path}.prerequisites[${i}]`;
        if (parent === undefined || parent.archived) {
          need(false, where, `${parent === undefined ? 'unknown' : 'archived'} flag "${p.flag}"`);
        } else {
          need(parent.variations.some((v) => v.key === p.variation), where, `flag "${p.flag}" has no variation "${p.variation}"`);
        }
      });
    }
  }
  // Per environment, as each environment's ruleset is published: prerequisites leading back to their flag.
  for (const env of environments) {
    const graph = new Map<string, string[]>();
    for (const flag of state.flags.values()) {
      const st = flag.archived ? undefined : flag.environments[env];
      if (st !== undefined) {
        graph.set(flag.key, st.prerequisites.map((p) => p.flag));
      }
    }
    for (const cycle of prerequisiteCycles(graph)) {
      problems.push({ path: `flags.${cycle[0]!}.environments.${env}.prerequisites`, message: `prerequisites form a cycle (${cycle.join(' → ')})` });
    }
  }
  return problems;
}

/**
 * The broken references applying would introduce: those of the state after the apply that the
 * project does not have already (an old draft's dangling segment is not this document's doing).
 */
export function introducedProblems(current: { readonly [K in DefinitionPath]: readonly unknown[] }, desired: { readonly [K in DefinitionPath]: readonly unknown[] }, prune: boolean, environments: readonly string[]): BrokenReference[] {
  const before = stateAfter(current, { segments: [], holdouts: [], metrics: [], experiments: [], flags: [] }, false);
  const existing = new Set(brokenReferences(before, environments, before.flags).map((p) => `${p.path}\u0000${p.message}`));
  return brokenReferences(stateAfter(current, desired, prune), environments, before.flags).filter((p) => !existing.has(`${p.path}\u0000${p.message}`));
}
