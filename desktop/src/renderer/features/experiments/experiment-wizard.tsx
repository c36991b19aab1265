import { useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import type { Experiment, Stored } from '@xp/shared';
import { navigate } from '../../app/router.js';
import { useSession } from '../../app/session.js';
import { commaList } from '../../lib/format.js';
import { allowanceProps, isProtected, useExperimentLifecycle, usePermission } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { ClientSideField } from '../../lib/client-side.js';
import { AsyncView, Badge, CodeBlock, ErrorNote, FormError } from '../../lib/ui.js';
import { ConditionBuilder } from '../flags/condition-builder.js';
import { rowsToTargeting, validateRows } from '../flags/condition-model.js';
import type { ConditionRow } from '../flags/condition-model.js';
import { planDuration, planText } from './power-plan.js';
import type { PowerPlan, PowerPlanField } from './power-plan.js';
import { variationIssues } from './variation-checks.js';
import type { VariationDraft } from './variation-checks.js';

const STEPS = ['Hypothesis', 'Variations', 'Targeting', 'Metrics', 'Power', 'Review'] as const;

const PLAN_OUTPUT_ID = 'power-plan-output';

/** Marks the calculator field the plan's problem is about, pointing at the sentence that says what is wrong. */
function planFieldProps(plan: PowerPlan, field: PowerPlanField): { 'aria-invalid'?: true; 'aria-describedby'?: string } {
  return 'error' in plan && plan.field === field ? { 'aria-invalid': true, 'aria-describedby': PLAN_OUTPUT_ID } : {};
}

type Role = '' | 'primary' | 'secondary' | 'guardrail';

type VariationRow = VariationDraft;

const VARIATIONS_PROBLEM_ID = 'variations-problem';

/**
 * 100% split as evenly as hundredths allow, adding up to exactly 100: the hundredths left over go
 * one each to the last variations (3 → 33.33, 33.33, 33.34; 6 → 16.66 ×2, 16.67 ×4), so no
 * variation differs from another by more than 0.01%.
 */
export function evenWeights(count: number): number[] {
  if (count <= 0) {
    return [];
  }
  const base = Math.floor(10_000 / count);
  const extra = 10_000 - base * count;
  return Array.from({ length: count }, (_v, i) => (base + (i >= count - extra ? 1 : 0)) / 100);
}

/**
 * A weight in percent as the share the API takes, rounded to the form's precision (hundredths of a
 * percent): 16.67 → 0.1667, not 0.16670000000000001 (16.67 / 100 in floating point). The API
 * normalises the weights, so rounding cannot make them add up to other than 1.
 */
export function weightShare(percent: number): number {
  return Math.round(percent * 100) / 10_000;
}

/** Says that starting runs the experiment in the chosen protected environments. */
function ProtectedNote({ names }: { names: readonly string[] }): ReactNode {
  return (
    <p className="banner banner-warn" role="note" aria-label="Protected environments chosen">
      {names.join(', ')} {names.length === 1 ? 'is' : 'are'} protected: “Create and start” runs the experiment there at once, for real users.
    </p>
  );
}

/** Designs an experiment step by step and creates it as a draft (or starts it at once). */
export default function ExperimentWizard(): ReactNode {
  const { client, project, environments } = useSession();
  const lists = useAsync(() => Promise.all([client.listAll(project, 'metrics'), client.listAll(project, 'segments')]), [client, project]);
  const [step, setStep] = useState(0);
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const [hypothesis, setHypothesis] = useState('');
  const [variations, setVariations] = useState<VariationRow[]>([
    { key: 'control', name: 'Control', weight: 50 },
    { key: 'treatment', name: 'Treatment', weight: 50 },
  ]);
  // Protected environments (production, or requiring approval) only when chosen: "Create and start" runs the experiment there for real users.
  const [envs, setEnvs] = useState<string[]>(environments.filter((e) => !isProtected(e)).map((e) => e.key));
  const protectedChosen = environments.filter((e) => isProtected(e) && envs.includes(e.key)).map((e) => e.name);
  const [coverage, setCoverage] = useState(100);
  const [clientSide, setClientSide] = useState(true);
  const [rows, setRows] = useState<ConditionRow[]>([]);
  const [roles, setRoles] = useState<Record<string, Role>>({});
  const [baseline, setBaseline] = useState(10);
  const [mde, setMde] = useState(5);
  const [alpha, setAlpha] = useState(0.05);
  const [power, setPower] = useState(0.8);
  const [daily, setDaily] = useState(5000);
  const [dimensionsText, setDimensionsText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  /** The experiment once created: a retry after a failed start only starts it (creating again would be refused as taken). */
  const [created, setCreated] = useState<Stored<Experiment> | null>(null);
  const write = usePermission('experiments:write');
  // Starting where a protected environment's ruleset would change is an owner's or admin's to do.
  const startable = useExperimentLifecycle(envs.length === environments.length ? [] : envs);
  const dimensions = commaList(dimensionsText);

  const plan = useMemo(() => planDuration({ baseline: baseline / 100, mde: mde / 100, alpha, power, arms: variations.length, dailyUnits: daily, coverage: coverage / 100 }), [baseline, mde, alpha, power, variations.length, daily, coverage]);
  const issues = variationIssues(variations);
  /** Marks a variation's input the problems name, pointing at the sentence that says what is wrong. */
  const variationFieldProps = (index: number, field: 'key' | 'weight'): { 'aria-invalid'?: true; 'aria-describedby'?: string } =>
    issues.some((i) => i.index === index && i.field === field) ? { 'aria-invalid': true, 'aria-describedby': VARIATIONS_PROBLEM_ID } : {};
  const problems: (string | null)[] = [
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(key) && name.trim() !== '' ? null : 'Give the experiment a key (letters, digits, ".", "_", "-") and a name.',
    issues.length === 0 ? null : issues.map((i) => i.message).join(' '),
    validateRows(rows).size === 0 ? (envs.length > 0 ? null : 'Choose at least one environment.') : 'Fix the targeting conditions.',
    dimensions.length <= 10 ? null : 'At most 10 result dimensions.',
    null,
    null,
  ];

  const build = (): Record<string, unknown> => {
    const metric = (r: Role): string[] => Object.entries(roles).flatMap(([k, v]) => (v === r ? [k] : []));
    return {
      key: key.trim(),
      name: name.trim(),
      ...(hypothesis.trim() === '' ? {} : { hypothesis: hypothesis.trim() }),
      type: 'ab',
      variations: variations.map((v) => ({ key: v.key, ...(v.name.trim() === '' ? {} : { name: v.name.trim() }), weight: weightShare(v.weight), value: v.key })),
      coverage: coverage / 100,
      environments: envs.length === environments.length ? [] : envs,
      ...rowsToTargeting(rows),
      metrics: { primary: metric('primary'), secondary: metric('secondary'), guardrails: metric('guardrail') },
      ...(dimensions.length === 0 ? {} : { dimensions }),
      ...(clientSide ? {} : { clientSide: false }),
    };
  };

  const create = async (start: boolean): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      let experiment = created;
      if (experiment === null) {
        experiment = await client.create(project, 'experiments', build());
        setCreated(experiment);
      } else if (start) {
        // A retry reads it again: a start whose answer was lost may have gone through.
        experiment = await client.get(project, 'experiments', experiment.key);
      }
      if (start && experiment.definition.status === 'draft') {
        await client.startExperiment(project, experiment.key, experiment.version);
      }
      navigate({ screen: 'experiment', key: experiment.key });
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <>
      <div className="page-head">
        <h1>New experiment</h1>
        <a href="#/experiments">Cancel</a>
      </div>
      {write.allowed ? null : (
        <p className="banner banner-info" role="note">
          {write.reason}: you can plan an experiment here (power, duration), but not create it.
        </p>
      )}
      <ol className="wizard-steps" aria-label="Steps">
        {STEPS.map((s, i) => (
          <li key={s} aria-current={i === step ? 'step' : undefined}>
            {i + 1}. {s}
          </li>
        ))}
      </ol>
      <AsyncView state={lists.state} onRetry={lists.reload}>
        {([metrics, segments]) => (
          <div className="panel">
            {step === 0 ? (
              <>
                <label>
                  Key
                  <input value={key} onChange={(e) => { setKey(e.target.value); }} placeholder="checkout-copy-test" />
                </label>
                <label>
                  Name
                  <input value={name} onChange={(e) => { setName(e.target.value); }} />
                </label>
                <label>
                  Hypothesis
                  <textarea rows={3} value={hypothesis} onChange={(e) => { setHypothesis(e.target.value); }} placeholder="If we …, then … will increase because …" />
                </label>
              </>
            ) : null}
            {step === 1 ? (
              <>
                {variations.map((v, i) => (
                  <div className="row" key={i}>
                    <input aria-label={`Variation ${i + 1} key`} value={v.key} {...variationFieldProps(i, 'key')} onChange={(e) => { setVariations(variations.map((x, j) => (j === i ? { ...x, key: e.target.value } : x))); }} />
                    <input aria-label={`Variation ${i + 1} name`} value={v.name} onChange={(e) => { setVariations(variations.map((x, j) => (j === i ? { ...x, name: e.target.value } : x))); }} />
                    <input
                      type="number"
                      min={0}
                      max={100}
                      step={0.1}
                      aria-label={`Variation ${i + 1} weight`}
                      value={Number.isNaN(v.weight) ? '' : v.weight}
                      style={{ width: '6em' }}
                      {...variationFieldProps(i, 'weight')}
                      // An emptied field is no weight (NaN, which the checks name), not 0%.
                      onChange={(e) => { setVariations(variations.map((x, j) => (j === i ? { ...x, weight: e.target.value === '' ? Number.NaN : Number(e.target.value) } : x))); }}
                    />
                    %
                    <button type="button" className="ghost" aria-label={`Remove variation ${i + 1}`} disabled={variations.length <= 2} onClick={() => { setVariations(variations.filter((_x, j) => j !== i)); }}>
                      ✕
                    </button>
                  </div>
                ))}
                <div className="row">
                  <button type="button" onClick={() => { setVariations([...variations, { key: `treatment-${variations.length}`, name: '', weight: 0 }]); }}>
                    + Variation
                  </button>
                  <button
                    type="button"
                    onClick={() => {
                      const weights = evenWeights(variations.length);
                      setVariations(variations.map((v, i) => ({ ...v, weight: weights[i] ?? 0 })));
                    }}
                  >
                    Split evenly
                  </button>
                </div>
              </>
            ) : null}
            {step === 2 ? (
              <>
                <fieldset>
                  <legend>Environments</legend>
                  {environments.map((e) => (
                    <div className="row" key={e.key}>
                      <label className="check">
                        <input type="checkbox" checked={envs.includes(e.key)} onChange={(ev) => { setEnvs(ev.target.checked ? [...envs, e.key] : envs.filter((x) => x !== e.key)); }} />
                        {e.name}
                      </label>
                      {isProtected(e) ? <Badge tone="warn">protected</Badge> : null}
                    </div>
                  ))}
                </fieldset>
                {protectedChosen.length === 0 ? null : <ProtectedNote names={protectedChosen} />}
                <label className="inline">
                  Traffic in the experiment
                  <input type="range" min={1} max={100} value={coverage} aria-label="Traffic coverage" onChange={(e) => { setCoverage(Number(e.target.value)); }} />
                  {coverage}%
                </label>
                <ClientSideField kind="experiment" checked={clientSide} onChange={setClientSide} />
                <h3>Who is eligible</h3>
                <ConditionBuilder rows={rows} onChange={setRows} segments={segments.map((s) => s.key)} label="Experiment targeting" />
              </>
            ) : null}
            {step === 3 ? (
              metrics.length === 0 ? (
                <p className="state state-empty">
                  No metrics defined yet. <a href="#/metrics">Define metrics</a> first, or continue without.
                </p>
              ) : (
                <table aria-label="Metrics and guardrails">
                  <thead>
                    <tr>
                      <th>Metric</th>
                      <th>Type</th>
                      <th>Role in this experiment</th>
                    </tr>
                  </thead>
                  <tbody>
                    {metrics.map((m) => (
                      <tr key={m.key}>
                        <td>
                          {m.definition.name} <code className="small">{m.key}</code>
                        </td>
                        <td>{m.definition.type}</td>
                        <td>
                          <select aria-label={`Role of ${m.key}`} value={roles[m.key] ?? ''} onChange={(e) => { setRoles({ ...roles, [m.key]: e.target.value as Role }); }}>
                            <option value="">Not used</option>
                            <option value="primary">Primary</option>
                            <option value="secondary">Secondary</option>
                            <option value="guardrail">Guardrail</option>
                          </select>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )
            ) : null}
            {step === 3 ? (
              <label>
                Result dimensions
                <input
                  value={dimensionsText}
                  placeholder="country, plan"
                  onChange={(e) => { setDimensionsText(e.target.value); }}
                />
                <span className="small muted">
                  Unit attributes you will slice the results by (comma-separated, at most 10). Each gets its own rollups, so filtering by it is as fast as the unfiltered
                  results; choose attributes with few values.
                </span>
              </label>
            ) : null}
            {step === 4 ? (
              <>
                <p className="muted">How long to run: the units each variation needs to detect the effect you care about.</p>
                <div className="grid-2">
                  <label>
                    Baseline conversion rate (%)
                    <input type="number" min={0.1} max={99.9} step={0.1} value={baseline} {...planFieldProps(plan, 'baseline')} onChange={(e) => { setBaseline(Number(e.target.value)); }} />
                  </label>
                  <label>
                    Smallest lift worth detecting (relative %)
                    <input type="number" min={0.1} step={0.1} value={mde} {...planFieldProps(plan, 'mde')} onChange={(e) => { setMde(Number(e.target.value)); }} />
                  </label>
                  <label>
                    Significance level α
                    <input type="number" min={0.001} max={0.2} step={0.005} value={alpha} {...planFieldProps(plan, 'alpha')} onChange={(e) => { setAlpha(Number(e.target.value)); }} />
                  </label>
                  <label>
                    Power
                    <input type="number" min={0.5} max={0.99} step={0.01} value={power} {...planFieldProps(plan, 'power')} onChange={(e) => { setPower(Number(e.target.value)); }} />
                  </label>
                  <label>
                    Eligible units per day
                    <input type="number" min={1} step={100} value={daily} {...planFieldProps(plan, 'dailyUnits')} onChange={(e) => { setDaily(Number(e.target.value)); }} />
                  </label>
                </div>
                <output id={PLAN_OUTPUT_ID} className={`banner ${'error' in plan ? 'banner-warn' : 'banner-info'}`} aria-live="polite" style={{ display: 'block' }}>
                  {planText(plan, daily, coverage / 100)}
                </output>
              </>
            ) : null}
            {step === 5 ? (
              <>
                {protectedChosen.length === 0 ? null : <ProtectedNote names={protectedChosen} />}
                <CodeBlock label="Experiment definition">{JSON.stringify(build(), null, 2)}</CodeBlock>
              </>
            ) : null}
            <FormError message={problems[step]} {...(step === 1 ? { id: VARIATIONS_PROBLEM_ID } : {})} />
            {created === null ? null : (
              <p className="banner banner-warn" role="status">
                {created.key} was created as a draft, but starting it failed. Start it again, or open the draft and start it later.
              </p>
            )}
            {error === null ? null : <ErrorNote error={error} />}
            <div className="actions">
              <button
                type="button"
                disabled={step === 0 || created !== null}
                {...(created === null ? {} : { title: 'The experiment is created: changes here would not be sent' })}
                onClick={() => { setStep(step - 1); }}
              >
                Back
              </button>
              {step < STEPS.length - 1 ? (
                <button type="button" className="primary" disabled={problems[step] !== null} onClick={() => { setStep(step + 1); }}>
                  Next
                </button>
              ) : (
                <>
                  <button type="button" {...allowanceProps(write, busy)} onClick={() => void create(false)}>
                    {created === null ? 'Create draft' : 'Open the draft'}
                  </button>
                  <button type="button" className="primary" {...allowanceProps(startable, busy)} onClick={() => void create(true)}>
                    {created === null ? 'Create and start' : 'Start experiment'}
                  </button>
                </>
              )}
            </div>
          </div>
        )}
      </AsyncView>
    </>
  );
}
