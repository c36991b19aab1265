/** Multiple-comparison corrections across metrics × variations. */

/** How p-values of a family of comparisons are adjusted. */
export const CorrectionMethod = {
  /** Holm–Bonferroni step-down: controls the family-wise error rate. */
  Holm: 'holm',
  /** Benjamini–Hochberg step-up: controls the false discovery rate. */
  BenjaminiHochberg: 'bh',
  /** No adjustment. */
  None: 'none',
} as const;
export type CorrectionMethod = (typeof CorrectionMethod)[keyof typeof CorrectionMethod];

/**
 * Adjusted p-values in input order (as statsmodels `multipletests` 'holm' / 'fdr_bh'). Entries that are
 * not p-values (NaN, outside [0, 1]) are treated as 1 so they can never create a discovery; so is every
 * entry when `method` is not a CorrectionMethod (analyzeExperiment refuses that with INVALID_OPTIONS).
 */
export function adjustPValues(pValues: readonly number[], method: CorrectionMethod): number[] {
  const m = pValues.length;
  const clean = pValues.map((p) => (p >= 0 && p <= 1 ? p : 1));
  if (!(Object.values(CorrectionMethod) as string[]).includes(method)) {
    return clean.map(() => 1);
  }
  if (method === CorrectionMethod.None || m === 0) {
    return clean;
  }
  const order = clean.map((_, i) => i).sort((a, b) => (clean[a] ?? 1) - (clean[b] ?? 1));
  const adjusted = new Array<number>(m).fill(1);
  if (method === CorrectionMethod.Holm) {
    let running = 0;
    for (let rank = 0; rank < m; rank++) {
      const index = order[rank] ?? 0;
      running = Math.max(running, Math.min(1, (m - rank) * (clean[index] ?? 1)));
      adjusted[index] = running;
    }
    return adjusted;
  }
  // Benjamini–Hochberg.
  let running = 1;
  for (let rank = m - 1; rank >= 0; rank--) {
    const index = order[rank] ?? 0;
    running = Math.min(running, ((clean[index] ?? 1) * m) / (rank + 1));
    adjusted[index] = running;
  }
  return adjusted;
}
