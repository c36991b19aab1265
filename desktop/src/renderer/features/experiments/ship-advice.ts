import type { Experiment, ExperimentResultsView } from '@xp/shared';
import { formatEffect, pValueText } from '../../lib/format.js';

/** What the results say about shipping: the variation to preselect (none unless one is significantly better) and why. */
export interface ShipAdvice {
  readonly winner: string | null;
  readonly note: string;
  /** True when the note is a warning (no variation shown to be better). */
  readonly warn: boolean;
  /** Whether the note comes from comparisons on a metric (and so from the analysis the results used). */
  readonly judged: boolean;
  /**
   * Reasons not to ship, whatever the primary metric says: a sample ratio mismatch (the results
   * cannot be trusted) and guardrail metrics the variation significantly harms. With any, no winner
   * is proposed (the user may still choose one).
   */
  readonly cautions: readonly string[];
}

type MetricResult = ExperimentResultsView['metrics'][number];

/** Guardrail metrics (every metric the guardrail checks watch) on which `variation` is significantly worse than the control. */
export function harmedGuardrails(results: ExperimentResultsView, variation: string): MetricResult[] {
  return results.metrics.filter((m) => {
    if (!m.guardrail && m.role !== 'guardrail') {
      return false;
    }
    const c = m.variations.find((v) => v.variation === variation)?.comparison;
    return c !== null && c !== undefined && c.error === null && c.significant && c.effect !== 0 && (c.effect > 0) !== m.higherIsBetter;
  });
}

/** The cautions of `shipAdvice` for shipping `variation` (null: only the sample ratio check). */
export function shipCautions(results: ExperimentResultsView, variation: string | null): string[] {
  const out: string[] = [];
  if (results.srm.flagged) {
    out.push(`Do not trust these results: sample ratio mismatch (${pValueText(results.srm.pValue)}). The variations did not get the traffic they should; find the cause before deciding.`);
  }
  if (variation !== null) {
    const name = results.variations.find((v) => v.key === variation)?.name ?? variation;
    const harmed = harmedGuardrails(results, variation);
    if (harmed.length > 0) {
      const list = harmed
        .map((m) => {
          const c = m.variations.find((v) => v.variation === variation)!.comparison!;
          return `${m.name} (${formatEffect(c.effect, c.difference)}, corrected ${pValueText(c.adjustedPValue)})`;
        })
        .join(', ');
      out.push(`${name} significantly degrades ${harmed.length === 1 ? 'the guardrail metric' : `${harmed.length} guardrail metrics`} ${list}.`);
    }
  }
  return out;
}

/**
 * The treatment to propose as the winner: one significantly better than the control on the
 * experiment's (first) primary metric — with several, the largest improvement. When none is (or
 * the comparison failed, or there is no primary metric), none is proposed: shipping one anyway is
 * the analyst's call, and the note says so. Neither is one proposed when the sample ratio check
 * failed or when it significantly harms a guardrail metric (`cautions` says which).
 */
export function shipAdvice(experiment: Experiment, results: ExperimentResultsView): ShipAdvice {
  const names = new Map(results.variations.map((v) => [v.key, v.name ?? v.key]));
  const primaryKey = experiment.metrics.primary[0];
  const metric = results.metrics.find((m) => m.key === primaryKey) ?? results.metrics.find((m) => m.role === 'primary');
  if (metric === undefined) {
    return { winner: null, note: 'This experiment has no primary metric, so no variation is shown to be better; shipping one is a judgement call.', warn: true, judged: false, cautions: shipCautions(results, null) };
  }
  const better = (effect: number): boolean => (effect > 0) === metric.higherIsBetter && effect !== 0;
  const compared = metric.variations.flatMap((v) => (v.comparison === null || v.comparison.error !== null ? [] : [{ key: v.variation, c: v.comparison }]));
  const winners = compared.filter(({ c }) => c.significant && better(c.effect)).sort((a, b) => (metric.higherIsBetter ? b.c.effect - a.c.effect : a.c.effect - b.c.effect));
  const best = winners[0];
  if (best === undefined) {
    const closest = [...compared].sort((a, b) => a.c.adjustedPValue - b.c.adjustedPValue)[0];
    return {
      winner: null,
      note:
        `No variation is significantly better on ${metric.name}; shipping one is a judgement call.` +
        (closest === undefined
          ? ' No treatment could be compared with the control yet.'
          : ` Lowest corrected p-value: ${pValueText(closest.c.adjustedPValue)} (${names.get(closest.key) ?? closest.key}, ${formatEffect(closest.c.effect, closest.c.difference)}).`),
      warn: true,
      judged: true,
      cautions: shipCautions(results, null),
    };
  }
  const cautions = shipCautions(results, best.key);
  if (cautions.length > 0) {
    return {
      winner: null,
      note: `${names.get(best.key) ?? best.key} looks significantly better on ${metric.name} (${formatEffect(best.c.effect, best.c.difference)}, corrected ${pValueText(best.c.adjustedPValue)}), but it is not proposed as the winner: see above. Shipping it is a judgement call.`,
      warn: true,
      judged: true,
      cautions,
    };
  }
  return {
    cautions,
    winner: best.key,
    note: `${names.get(best.key) ?? best.key} is significantly better on ${metric.name} (${formatEffect(best.c.effect, best.c.difference)}, corrected ${pValueText(best.c.adjustedPValue)})${winners.length > 1 ? `, the largest improvement of ${winners.length} significantly better variations` : ''}.`,
    warn: false,
    judged: true,
  };
}
