import { useState } from 'react';
import type { ReactNode } from 'react';
import { evaluateFlag } from '@xp/shared/eval';
import type { EvaluationResult } from '@xp/shared/eval';
import { useSession } from '../../app/session.js';
import { formatPercent } from '../../lib/format.js';
import { Badge, ErrorNote, ScrollRegion } from '../../lib/ui.js';
import { pendingProps } from '../../lib/permissions.js';

interface AttributeRow {
  readonly id: number;
  readonly name: string;
  readonly value: string;
}

/** Attribute text → JSON value: numbers, booleans and JSON literals are typed, the rest stays text. */
export function parseAttributeValue(text: string): unknown {
  const t = text.trim();
  if (t === '') {
    return '';
  }
  if (/^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)$/.test(t) || t.startsWith('[') || t.startsWith('{')) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/** Every rule the evaluation considered, in order, and why it did or did not apply (the trace). */
function Why({ result }: { readonly result: EvaluationResult }): ReactNode {
  const steps = result.trace ?? [];
  if (steps.length === 0) {
    return <span className="small muted">{result.reason === 'DISABLED' ? 'The flag is off here: it serves its off variation.' : result.reason === 'DEFAULT' ? 'No rule: it serves its default.' : '—'}</span>;
  }
  return (
    <ol className="small trace">
      {steps.map((step, i) => (
        <li key={i}>
          {step.ruleId === undefined ? null : <code>{step.ruleId}</code>} {step.outcome}
          {step.detail === undefined ? null : <span className="muted">: {step.detail}</span>}
        </li>
      ))}
    </ol>
  );
}

interface Outcome {
  readonly environment: string;
  readonly name: string;
  readonly published: boolean;
  readonly result: EvaluationResult | null;
}

const REASON_TONE: Record<string, 'good' | 'info' | 'warn' | 'bad' | 'neutral'> = {
  TARGETING_MATCH: 'good',
  SPLIT: 'info',
  DEFAULT: 'neutral',
  DISABLED: 'warn',
  PREREQUISITE_FAILED: 'warn',
  FLAG_NOT_FOUND: 'bad',
  ERROR: 'bad',
};

/**
 * "Evaluate as": the value a unit with these attributes gets in every environment, with the exact
 * reason, rule and bucket — computed by the SDKs' own evaluator on each published ruleset.
 */
export function EvaluateAs({ flagKey }: { flagKey: string }): ReactNode {
  const { client, project, environments } = useSession();
  const [rows, setRows] = useState<AttributeRow[]>([{ id: 1, name: 'id', value: 'user-1' }]);
  const [outcomes, setOutcomes] = useState<Outcome[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const run = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    const attributes: Record<string, unknown> = {};
    for (const r of rows) {
      if (r.name.trim() !== '') {
        attributes[r.name.trim()] = parseAttributeValue(r.value);
      }
    }
    try {
      const now = Date.now();
      const results = await Promise.all(
        environments.map(async (env): Promise<Outcome> => {
          const { published } = await client.publishedRuleset(project, env.key);
          return { environment: env.key, name: env.name, published: published !== null, result: published === null ? null : evaluateFlag(published.ruleset, flagKey, { attributes, now }, { explain: true }) };
        }),
      );
      setOutcomes(results);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="evaluate-as-title">
      <h2 id="evaluate-as-title">Evaluate as</h2>
      <p className="muted small">Enter a user&apos;s attributes to see what each environment serves them, and why.</p>
      {rows.map((r, i) => (
        <div className="row" key={r.id}>
          <input aria-label={`Attribute name ${i + 1}`} value={r.name} size={12} placeholder="name" onChange={(e) => { setRows(rows.map((x) => (x.id === r.id ? { ...x, name: e.target.value } : x))); }} />
          <input aria-label={`Attribute value ${i + 1}`} value={r.value} size={14} placeholder="value" onChange={(e) => { setRows(rows.map((x) => (x.id === r.id ? { ...x, value: e.target.value } : x))); }} />
          <button type="button" className="ghost" aria-label={`Remove attribute ${i + 1}`} onClick={() => { setRows(rows.filter((x) => x.id !== r.id)); }}>
            ✕
          </button>
        </div>
      ))}
      <div className="row">
        <button type="button" onClick={() => { setRows([...rows, { id: Math.max(0, ...rows.map((r) => r.id)) + 1, name: '', value: '' }]); }}>
          + Attribute
        </button>
        <button type="button" className="primary" onClick={() => void run()} {...pendingProps(busy)}>
          {busy ? 'Evaluating…' : 'Evaluate'}
        </button>
      </div>
      {error === null ? null : <ErrorNote error={error} />}
      {outcomes === null ? null : (
        <ScrollRegion label="Evaluation results">
          {/* Three columns, the rule, bucket and trace under the reason: the side column of the editor is narrow (F-L4). */}
          <table aria-label="Evaluation by environment">
            <thead>
              <tr>
                <th>Environment</th>
                <th>Serves</th>
                <th>Reason and why</th>
              </tr>
            </thead>
            <tbody>
              {outcomes.map((o) => (
                <tr key={o.environment}>
                  <td>{o.name}</td>
                  {o.result === null ? (
                    <td colSpan={2} className="muted">
                      No ruleset published yet
                    </td>
                  ) : (
                    <>
                      <td>
                        <code>{JSON.stringify(o.result.value)}</code>
                        <div className="small muted">variation {o.result.variationKey ?? '—'}</div>
                      </td>
                      <td>
                        <Badge tone={REASON_TONE[o.result.reason] ?? 'neutral'}>{o.result.reason}</Badge>
                        {o.result.prerequisite === undefined ? null : <span className="small muted"> on {o.result.prerequisite}</span>}
                        {o.result.errorMessage === undefined ? null : <div className="small state-error">{o.result.errorMessage}</div>}
                        <div className="small muted">
                          rule {o.result.ruleId ?? '—'} · bucket {o.result.bucket === undefined ? '—' : formatPercent(o.result.bucket, { digits: 2 })}
                        </div>
                        <Why result={o.result} />
                      </td>
                    </>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollRegion>
      )}
    </section>
  );
}
