import type { ReactNode } from 'react';
import type { MetricResultView, ResultsBreakdownView } from '@xp/shared';
import { formatCount, formatEffect, formatInterval, formatPValue, formatTime } from '../../lib/format.js';
import { Badge } from '../../lib/ui.js';

/**
 * One metric across the values of a dimension: per value its units and each treatment's effect,
 * interval and corrected p-value. Choosing a value filters the results by it. The API applies the
 * page's segment, exposure dates and other attribute filters to every value, and echoes them: a line
 * at its top names them, so that the units are read as the filtered ones.
 */
export function BreakdownTable({ breakdown, metric, onChoose, unit }: { breakdown: ResultsBreakdownView; metric: string; onChoose: (value: string) => void; /** What one unit is when not the user (unitText): named in the Units header. */ unit?: string | undefined }): ReactNode {
  const first = breakdown.values[0]?.results;
  const treatments = first?.variations.slice(1).map((v) => v.key) ?? [];
  // Headers by the variations' names, as the rest of the results view shows them.
  const names = new Map(first?.variations.map((v) => [v.key, v.name ?? v.key]) ?? []);
  const name = first?.metrics.find((m) => m.key === metric)?.name ?? metric;
  const applied = filtersText(breakdown.filters);
  const filtered =
    applied === null ? null : (
      <p className="small muted" role="note">
        Filtered as the results: {applied}.
      </p>
    );
  if (breakdown.values.length === 0) {
    return (
      <>
        {filtered}
        <p className="state state-empty">{applied === null ? `No unit has a value for ${breakdown.dimension} yet.` : `No unit these filters keep has a value for ${breakdown.dimension}.`}</p>
      </>
    );
  }
  // As the results table: the interval and p-value shown are corrected unless the correction is none.
  const corrected = breakdown.values.some(({ results }) => results.analysis.correction !== 'none');
  return (
    <section className="results-breakdown" aria-label={`Breakdown by ${breakdown.dimension}`}>
      {filtered}
      <table aria-label={`${name} by ${breakdown.dimension}`}>
        <caption className="small muted" style={{ textAlign: 'left' }}>
          {name} by {breakdown.dimension}: each value analysed on its own (corrections within a value, not across values: one significant value among many may be chance).
        </caption>
        <thead>
          <tr>
            <th>{breakdown.dimension}</th>
            <th className="num">{unit === undefined ? 'Units' : `Units (${unit})`}</th>
            {treatments.map((t) => (
              <th key={t} className="num">
                <span className="break-anywhere">{names.get(t) ?? t}</span>: effect [CI], p{corrected ? ' (corrected)' : ''}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {breakdown.values.map(({ value, results }) => {
            const m: MetricResultView | undefined = results.metrics.find((x) => x.key === metric);
            return (
              <tr key={value}>
                <td>
                  <button type="button" className="link" title={`Filter the results by ${breakdown.dimension} = ${value}`} onClick={() => { onChoose(value); }}>
                    {value}
                  </button>
                </td>
                <td className="num">{formatCount(results.units.analysed)}</td>
                {treatments.map((t) => {
                  const c = m?.variations.find((v) => v.variation === t)?.comparison ?? null;
                  return (
                    <td key={t} className="num">
                      {c === null || c.error !== null ? (
                        // No comparison for this value (too few units, no variance): a dash and why, not the API's placeholders.
                        <span className="muted" title={c?.error?.message ?? 'no comparison'}>
                          — {c?.error === undefined || c.error === null ? '' : <span className="small">{c.error.message}</span>}
                        </span>
                      ) : (
                        <>
                          {formatEffect(c.effect, c.difference)} {formatInterval(c.adjustedCi ?? c.ci, c.difference)}, {formatPValue(c.adjustedPValue)}{' '}
                          {c.significant ? <Badge tone={c.effect > 0 === m!.higherIsBetter ? 'good' : 'bad'}>significant</Badge> : null}
                        </>
                      )}
                    </td>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
      {breakdown.omitted.values === 0 ? null : (
        <p className="small muted">
          {formatCount(breakdown.omitted.values)} smaller values ({formatCount(breakdown.omitted.units)} units) not shown.
        </p>
      )}
    </section>
  );
}

/** The filters a breakdown applied, as a phrase ("segment beta, first exposed from … before …, plan = pro"), or null when none. */
export function filtersText(filters: ResultsBreakdownView['filters']): string | null {
  if (filters === undefined) {
    return null;
  }
  const parts = [
    ...(filters.segment === null ? [] : [`segment ${filters.segment}`]),
    ...(filters.from === null && filters.to === null
      ? []
      : [`first exposed${filters.from === null ? '' : ` from ${formatTime(filters.from)}`}${filters.to === null ? '' : ` before ${formatTime(filters.to)}`}`]),
    ...Object.entries(filters.attributes).map(([k, v]) => `${k} = ${v}`),
  ];
  return parts.length === 0 ? null : parts.join(', ');
}
