import { useState } from 'react';
import type { ReactNode } from 'react';
import { evaluateFlag } from '@xp/shared/eval';
import type { EvaluationResult } from '@xp/shared/eval';
import type { Ruleset } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { formatPercent } from '../../lib/format.js';
import { Badge, ErrorNote, ScrollRegion } from '../../lib/ui.js';
import { pendingProps } from '../../lib/permissions.js';

interface AttributeRow {
  readonly id: number;
  readonly name: string;
  readonly value: string;
}

/**
 * Attribute text → JSON value: numbers, booleans and JSON literals are typed, the rest stays text;
 * a value in double quotes (`"42"`) is the text between them, so any value can stay text.
 */
export function parseAttributeValue(text: string): unknown {
  const t = text.trim();
  if (t === '') {
    return '';
  }
  if (/^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)$/.test(t) || t.startsWith('[') || t.startsWith('{') || t.startsWith('"')) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * The attributes `ruleset` hashes units by (rollouts, splits, experiments and holdouts, fallbacks
 * included), and always `id`. SDKs hash their text: typing `12345678901234567890` or `1e5` as a
 * number would bucket another unit (the number's digits differ from the id's), so these stay as typed.
 */
export function hashAttributes(ruleset: Ruleset): ReadonlySet<string> {
  const names = new Set(['id']);
  const add = (h: { readonly hashAttribute: string; readonly fallbackAttribute?: string | undefined }): void => {
    names.add(h.hashAttribute);
    if (h.fallbackAttribute !== undefined) {
      names.add(h.fallbackAttribute);
    }
  };
  for (const flag of Object.values(ruleset.flags)) {
    for (const rule of flag.rules ?? []) {
      if (rule.type === 'rollout' || rule.type === 'split') {
        add(rule);
      }
    }
  }
  Object.values(ruleset.experiments ?? {}).forEach(add);
  Object.values(ruleset.holdouts ?? {}).forEach(add);
  return names;
}

/** The evaluation's attributes: hash attributes exactly as typed, the others typed by `parseAttributeValue`. */
export function attributesOf(rows: readonly { readonly name: string; readonly value: string }[], asText: ReadonlySet<string>): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const r of rows) {
    const name = r.name.trim();
    if (name !== '') {
      attributes[name] = asText.has(name) ? r.value : parseAttributeValue(r.value);
    }
  }
  return attributes;
}

/**
 * The sticky-bucketed experiments the evaluation reached (an experiment rule past its schedule and
 * condition): there a unit already assigned keeps its stored variation, which this preview cannot see.
 */
export function stickyExperiments(ruleset: Ruleset, flagKey: string, result: EvaluationResult): string[] {
  const rules = ruleset.flags[flagKey]?.rules ?? [];
  const reached = (result.trace ?? []).filter((step) => step.outcome !== 'inactive' && step.outcome !== 'condition-false').map((step) => step.ruleId);
  const keys = rules.flatMap((rule) => (rule.type === 'experiment' && reached.includes(rule.id) ? [rule.experiment] : []));
  if (result.experiment !== undefined) {
    keys.push(result.experiment.key);
  }
  return [...new Set(keys)].filter((key) => ruleset.experiments?.[key]?.sticky !== undefined);
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
  /** See stickyExperiments. */
  readonly sticky: readonly string[];
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
    try {
      const now = Date.now();
      const results = await Promise.all(
        environments.map(async (env): Promise<Outcome> => {
          const { published } = await client.publishedRuleset(project, env.key);
          if (published === null) {
            return { environment: env.key, name: env.name, published: false, result: null, sticky: [] };
          }
          const { ruleset } = published;
          const result = evaluateFlag(ruleset, flagKey, { attributes: attributesOf(rows, hashAttributes(ruleset)), now }, { explain: true });
          return { environment: env.key, name: env.name, published: true, result, sticky: stickyExperiments(ruleset, flagKey, result) };
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
      <p className="muted small">
        Enter a user&apos;s attributes to see what each environment serves them, and why. Numbers, <code>true</code>/<code>false</code> and JSON are typed; quote a
        value (<code>&quot;42&quot;</code>) to keep it text. The id and the other attributes units are hashed by stay exactly as typed.
      </p>
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
                        {o.sticky.length === 0 ? null : (
                          <p className="small state-warn" role="note">
                            Sticky bucketing in{' '}
                            {o.sticky.map((key, i) => (
                              <span key={key}>
                                {i === 0 ? '' : ', '}
                                <code>{key}</code>
                              </span>
                            ))}
                            : a unit already assigned keeps its stored variation, which this preview cannot see. The unit&apos;s timeline
                            in Events shows the variation it actually got.
                          </p>
                        )}
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
