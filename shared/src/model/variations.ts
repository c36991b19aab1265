import type { JsonValue } from './common.js';
import type { Experiment, ExperimentVariation } from './experiment.js';

/** The variations an experiment serves: its own list, or every combination of its factors. Zod-free. */
export function expandVariations(exp: Pick<Experiment, 'type' | 'variations' | 'factors'>): ExperimentVariation[] {
  if (exp.type !== 'multivariate' || exp.factors === undefined) {
    return exp.variations;
  }
  let combos: { keys: string[]; value: Record<string, JsonValue> }[] = [{ keys: [], value: {} }];
  for (const factor of exp.factors) {
    combos = combos.flatMap((c) =>
      factor.levels.map((level) => ({ keys: [...c.keys, `${factor.key}-${level.key}`], value: { ...c.value, [factor.key]: level.value } })),
    );
  }
  return combos.map((c) => ({ key: c.keys.join('.'), value: c.value }));
}
