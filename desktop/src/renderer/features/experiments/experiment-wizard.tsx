import { useEffect, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { experimentSchema } from '@xp/shared';
import type { Experiment, Metric, Stored } from '@xp/shared';
import { navigate } from '../../app/router.js';
import { useSession } from '../../app/session.js';
import { FieldError, FormErrorNote, fieldErrors, invalidProps } from '../../lib/field-errors.js';
import { commaList } from '../../lib/format.js';
import { allowanceProps, isProtected, pendingProps, useExperimentLifecycle, usePermission } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { ClientSideField } from '../../lib/client-side.js';
import { AsyncView, Badge, CodeBlock, FormError } from '../../lib/ui.js';
import { ConditionBuilder } from '../flags/condition-builder.js';
import { rowsToTargeting, validateRows } from '../flags/condition-model.js';
import type { ConditionRow } from '../flags/condition-model.js';
import { planDuration, planText } from './power-plan.js';
import type { PowerPlan, PowerPlanField } from './power-plan.js';
import { variationIssues } from './variation-checks.js';
import { AnalysisPlanField, DEFAULT_UNIT_ATTRIBUTE, GuardrailActionField, HoldoutField, NamespaceField, UnitField, analysisPlanDraftOf, analysisPlanOf, analysisPlanRefusal, checkAnalysisPlan, checkNamespace, checkUnit, knownUnitAttributes, namespaceDraftOf, namespaceRefusal, unitDraftOf, unitRefusal } from './experiment-settings-fields.js';
import type { AnalysisPlanDraft, GuardrailAction, NamespaceDraft, UnitDraft } from './experiment-settings-fields.js';
import type { VariationDraft } from './variation-checks.js';
import { BanditFieldset, banditDraftOf, checkBandit } from './bandit.js';
import type { BanditDraft } from './bandit.js';

const STEPS = ['Hypothesis', 'Variations', 'Targeting', 'Metrics', 'Power', 'Review'] as const;

const PLAN_OUTPUT_ID = 'power-plan-output';

/** Marks the calculator field the plan's problem is about, pointing at the sentence that says what is wrong. */
function planFieldProps(plan: PowerPlan, field: PowerPlanField): { 'aria-invalid'?: true; 'aria-describedby'?: string } {
  return 'error' in plan && plan.field === field ? { 'aria-invalid': true, 'aria-describedby': PLAN_OUTPUT_ID } : {};
}

type Role = '' | 'primary' | 'secondary' | 'guardrail';

/**
 * The role a metric has until one is chosen: a project-wide guardrail (`guardrail: true`) is a
 * guardrail of every experiment, never unused.
 */
function defaultRole(metric: { readonly definition: Pick<Metric, 'guardrail'> }): Role {
  return metric.definition.guardrail ? 'guardrail' : '';
}

/** The first step's fields, with the labels their messages start with. */
type DetailsField = 'key' | 'name' | 'hypothesis';
const DETAILS_LABELS: Readonly<Record<DetailsField, string>> = { key: 'Key', name: 'Name', hypothesis: 'Hypothesis' };

/** A schema issue as the checks below read it (zod's issues have these fields). */
interface SchemaIssue {
  readonly code: string;
  readonly message: string;
  readonly path: readonly PropertyKey[];
  readonly maximum?: unknown;
  readonly minimum?: unknown;
}
interface Checkable {
  safeParse: (value: unknown) => { success: true } | { success: false; error: { issues: readonly SchemaIssue[] } };
}

// The API's own schema: its limits (200 characters for a name, 5,000 for a hypothesis…) are not repeated here.
const DETAILS_SCHEMAS: Readonly<Record<DetailsField, Checkable>> = {
  key: experimentSchema.shape.key,
  name: experimentSchema.shape.name,
  hypothesis: experimentSchema.shape.hypothesis,
};
const DIMENSIONS_SCHEMA: Checkable = experimentSchema.shape.dimensions;

/** A schema issue of a text in plain words, starting with the field's label: "Name: at most 200 characters (this one has 300)." */
function textIssueMessage(label: string, issue: SchemaIssue, value: string): string {
  if (issue.code === 'too_big' && typeof issue.maximum === 'number') {
    return `${label}: at most ${issue.maximum.toLocaleString('en-US')} characters (this one has ${value.length.toLocaleString('en-US')}).`;
  }
  if (issue.code === 'too_small' && value === '') {
    return `${label}: enter ${label === 'Key' ? 'a key' : label === 'Name' ? 'a name' : 'one'}.`;
  }
  if (issue.code === 'invalid_format') {
    return `${label}: it must start with an ASCII letter or digit and contain only ASCII letters, digits, ".", "_" and "-".`;
  }
  return `${label}: ${issue.message}.`;
}

/** What is wrong with the first step's fields (trimmed, as they are sent), by field; empty when nothing is. */
export function detailsIssues(values: Readonly<Record<DetailsField, string>>): Partial<Record<DetailsField, string>> {
  const out: Partial<Record<DetailsField, string>> = {};
  for (const field of ['key', 'name', 'hypothesis'] as const) {
    const value = values[field].trim();
    if (field === 'hypothesis' && value === '') {
      continue;
    }
    const result = DETAILS_SCHEMAS[field].safeParse(value);
    const issue = result.success ? undefined : result.error.issues[0];
    if (issue !== undefined) {
      out[field] = textIssueMessage(DETAILS_LABELS[field], issue, value);
    }
  }
  return out;
}

/** What is wrong with the result dimensions, in the schema's limits; null when nothing is. */
function dimensionsProblem(dimensions: readonly string[]): string | null {
  if (dimensions.length === 0) {
    return null;
  }
  const result = DIMENSIONS_SCHEMA.safeParse(dimensions);
  if (result.success) {
    return null;
  }
  return result.error.issues
    .map((issue) => {
      const index = issue.path[0];
      if (typeof index === 'number') {
        return textIssueMessage(`Result dimension ${index + 1}`, issue, dimensions[index] ?? '');
      }
      return issue.code === 'too_big' && typeof issue.maximum === 'number' ? `At most ${issue.maximum} result dimensions (now ${dimensions.length}).` : `Result dimensions: ${issue.message}.`;
    })
    .join(' ');
}

/** An emptied number field holds no number (NaN, which the calculator names), not 0. */
function numberField(value: number, set: (value: number) => void): { value: number | ''; onChange: (e: { target: { value: string } }) => void } {
  return { value: Number.isNaN(value) ? '' : value, onChange: (e) => { set(e.target.value === '' ? Number.NaN : Number(e.target.value)); } };
}

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
  // Next and Back move the focus to the new step's heading, so a screen reader reads where it is and
  // the focus is not left on a button that the new step disables (Back on the first, Next on a step with problems).
  const stepHeading = useRef<HTMLHeadingElement>(null);
  const headedStep = useRef(step);
  useEffect(() => {
    if (headedStep.current !== step) {
      headedStep.current = step;
      stepHeading.current?.focus();
    }
  }, [step]);
  // For the Targeting step's holdout and namespace, loaded once it is reached (the first step's key check
  // is the only request before); neither blocks the wizard when it cannot be loaded.
  const targeting = step >= 2;
  const holdouts = useAsync(() => (targeting ? client.listAll(project, 'holdouts') : Promise.resolve([])), [client, project, targeting]);
  const experiments = useAsync(() => (targeting ? client.listAll(project, 'experiments') : Promise.resolve([])), [client, project, targeting]);
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
  /** Unset until chosen: the API's default (alert) applies, and nothing is sent. */
  const [guardrailAction, setGuardrailAction] = useState<GuardrailAction | undefined>(undefined);
  const [holdout, setHoldout] = useState('');
  const [namespaceDraft, setNamespaceDraft] = useState<NamespaceDraft>(namespaceDraftOf(undefined));
  const namespaceCheck = checkNamespace(namespaceDraft);
  /** `id` without a fallback until changed: the API's default, and nothing is sent. */
  const [unitDraft, setUnitDraft] = useState<UnitDraft>(unitDraftOf());
  const unitCheck = checkUnit(unitDraft);
  /** The platform's defaults until changed: only the options changed are sent. */
  const [analysisDraft, setAnalysisDraft] = useState<AnalysisPlanDraft>(analysisPlanDraftOf(undefined));
  const analysisPlan = analysisPlanOf(undefined, analysisDraft);
  /** Off until ticked: a bandit, with sticky bucketing, is sent only when on. */
  const [banditDraft, setBanditDraft] = useState<BanditDraft>(banditDraftOf(undefined));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  /** The experiment once created: a retry after a failed start only starts it (creating again would be refused as taken). */
  const [created, setCreated] = useState<Stored<Experiment> | null>(null);
  const write = usePermission('experiments:write');
  // Starting where a protected environment's ruleset would change is an owner's or admin's to do.
  const startable = useExperimentLifecycle(envs.length === environments.length ? [] : envs);
  const dimensions = commaList(dimensionsText);
  /** Whether Next was tried on the first step: its problems show from then on. */
  const [detailsTried, setDetailsTried] = useState(false);
  /** A key the API already has an experiment under (checked on leaving the first step), and whether that check runs. */
  const [takenKey, setTakenKey] = useState<string | null>(null);
  const [checkingKey, setCheckingKey] = useState(false);
  const keyInput = useRef<HTMLInputElement>(null);
  const details = detailsIssues({ key, name, hypothesis });
  const keyMessage = details.key ?? (takenKey !== null && takenKey === key.trim() ? `An experiment with key ${takenKey} already exists.` : undefined);

  const loadedMetrics = lists.state.status === 'ready' ? lists.state.data[0] : [];
  const roleOf = (metric: (typeof loadedMetrics)[number]): Role => roles[metric.key] ?? defaultRole(metric);
  // The results analyse every metric with a role, project-wide guardrails included, and correct them together.
  const analysedMetrics = loadedMetrics.filter((m) => roleOf(m) !== '').length;
  // A few closed-form computations: cheap enough for every render.
  const plan = planDuration({
    baseline: baseline / 100,
    mde: mde / 100,
    alpha,
    power,
    variations: variations.map((v) => ({ key: v.key, weight: v.weight })),
    metrics: analysedMetrics,
    correction: analysisDraft.correction,
    sequential: analysisDraft.sequential,
    dailyUnits: daily,
    coverage: coverage / 100,
  });
  const issues = variationIssues(variations);
  const primaryMetrics = Object.entries(roles).flatMap(([k, v]) => (v === 'primary' ? [k] : []));
  // The wizard creates A/B experiments; the checks are the API's (a primary metric, room for every least share).
  const banditCheck = checkBandit(banditDraft, { type: 'ab', primary: primaryMetrics, variations: variations.length });
  const banditProblems = Object.values(banditCheck.problems);
  /** Marks a variation's input the problems name, pointing at the sentence that says what is wrong. */
  const variationFieldProps = (index: number, field: 'key' | 'name' | 'weight'): { 'aria-invalid'?: true; 'aria-describedby'?: string } =>
    issues.some((i) => i.index === index && i.field === field) ? { 'aria-invalid': true, 'aria-describedby': VARIATIONS_PROBLEM_ID } : {};
  // The first step's problems show under its fields once Next was tried there; the other steps' as they arise.
  const problems: (string | null)[] = [
    null,
    // Variations added after the bandit's least share was set may leave no room for it: said here, where they are.
    issues.length === 0 ? (banditCheck.problems.minShare === undefined ? null : banditCheck.problems.minShare) : issues.map((i) => i.message).join(' '),
    validateRows(rows).size > 0
      ? 'Fix the targeting conditions.'
      : envs.length === 0
        ? 'Choose at least one environment.'
        : Object.keys(unitCheck.problems).length > 0
          ? 'Fix the unit of randomisation.'
          : Object.keys(namespaceCheck.problems).length > 0
            ? 'Fix the namespace.'
            : null,
    dimensionsProblem(dimensions) ??
      (checkAnalysisPlan(analysisDraft).problem === undefined ? (banditProblems.length === 0 ? null : 'Fix the bandit settings.') : 'Fix the significance level α of the analysis plan.'),
    null,
    null,
  ];
  const shownDetails = (field: DetailsField): string | undefined => (detailsTried ? (field === 'key' ? keyMessage : details[field]) : undefined);

  /**
   * Leaves the step. The first step's fields are checked first, and then whether the key is free:
   * an experiment the API finds under it takes it (a 404 means free; when the API cannot say, Create
   * checks again).
   */
  const next = async (): Promise<void> => {
    if (checkingKey) {
      return;
    }
    if (step === 0) {
      setDetailsTried(true);
      if (Object.keys(details).length > 0) {
        return;
      }
      const wanted = key.trim();
      setCheckingKey(true);
      let taken = false;
      try {
        await client.get(project, 'experiments', wanted);
        taken = true;
      } catch {
        // 404: the key is free. Anything else (offline, no permission) must not block the wizard.
        taken = false;
      } finally {
        setCheckingKey(false);
      }
      setTakenKey(taken ? wanted : null);
      if (taken) {
        // To the field at fault, whose message says why (Next stayed focusable while the API answered).
        keyInput.current?.focus();
        return;
      }
    }
    setStep(step + 1);
  };

  const build = (): Record<string, unknown> => {
    const metric = (r: Role): string[] => Object.entries(roles).flatMap(([k, v]) => (v === r ? [k] : []));
    // Project-wide guardrails are not listed: the results and checks apply them to every experiment.
    const projectWide = new Set(loadedMetrics.filter((m) => m.definition.guardrail).map((m) => m.key));
    return {
      key: key.trim(),
      name: name.trim(),
      ...(hypothesis.trim() === '' ? {} : { hypothesis: hypothesis.trim() }),
      type: 'ab',
      variations: variations.map((v) => ({ key: v.key, ...(v.name.trim() === '' ? {} : { name: v.name.trim() }), weight: weightShare(v.weight), value: v.key })),
      coverage: coverage / 100,
      environments: envs.length === environments.length ? [] : envs,
      ...rowsToTargeting(rows),
      metrics: { primary: metric('primary'), secondary: metric('secondary'), guardrails: metric('guardrail').filter((k) => !projectWide.has(k)) },
      ...(dimensions.length === 0 ? {} : { dimensions }),
      ...(clientSide ? {} : { clientSide: false }),
      ...(unitCheck.unit === undefined || unitCheck.unit.hashAttribute === DEFAULT_UNIT_ATTRIBUTE ? {} : { hashAttribute: unitCheck.unit.hashAttribute }),
      ...(unitCheck.unit?.fallbackAttribute === undefined ? {} : { fallbackAttribute: unitCheck.unit.fallbackAttribute }),
      ...(holdout === '' ? {} : { holdout }),
      ...(namespaceCheck.namespace === undefined ? {} : { namespace: namespaceCheck.namespace }),
      ...(guardrailAction === undefined ? {} : { guardrailAction }),
      ...(analysisPlan === undefined ? {} : { analysis: analysisPlan }),
      // A bandit moves the split while running: sticky bucketing keeps every unit in the variation it saw.
      ...(banditCheck.bandit === undefined ? {} : { stickyBucketing: { enabled: true }, bandit: banditCheck.bandit }),
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
            <h2 ref={stepHeading} tabIndex={-1} className="wizard-step-heading">
              Step {step + 1} of {STEPS.length}: {STEPS[step]}
            </h2>
            {step === 0 ? (
              <>
                <label>
                  Key
                  <input ref={keyInput} value={key} onChange={(e) => { setKey(e.target.value); }} placeholder="checkout-copy-test" {...invalidProps('experiment-key-error', shownDetails('key'))} />
                </label>
                <FieldError id="experiment-key-error" message={shownDetails('key')} />
                <label>
                  Name
                  <input value={name} onChange={(e) => { setName(e.target.value); }} {...invalidProps('experiment-name-error', shownDetails('name'))} />
                </label>
                <FieldError id="experiment-name-error" message={shownDetails('name')} />
                <label>
                  Hypothesis
                  <textarea rows={3} value={hypothesis} onChange={(e) => { setHypothesis(e.target.value); }} placeholder="If we …, then … will increase because …" {...invalidProps('experiment-hypothesis-error', shownDetails('hypothesis'))} />
                </label>
                <FieldError id="experiment-hypothesis-error" message={shownDetails('hypothesis')} />
              </>
            ) : null}
            {step === 1 ? (
              <>
                {variations.map((v, i) => (
                  <div className="row" key={i}>
                    <input aria-label={`Variation ${i + 1} key`} value={v.key} {...variationFieldProps(i, 'key')} onChange={(e) => { setVariations(variations.map((x, j) => (j === i ? { ...x, key: e.target.value } : x))); }} />
                    <input aria-label={`Variation ${i + 1} name`} value={v.name} {...variationFieldProps(i, 'name')} onChange={(e) => { setVariations(variations.map((x, j) => (j === i ? { ...x, name: e.target.value } : x))); }} />
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
                <UnitField
                  draft={unitDraft}
                  onChange={setUnitDraft}
                  suggestions={knownUnitAttributes({
                    segments,
                    ...(experiments.state.status === 'ready' ? { experiments: experiments.state.data } : {}),
                    ...(holdouts.state.status === 'ready' ? { holdouts: holdouts.state.data } : {}),
                  })}
                  holdout={{ key: holdout, holdouts: holdouts.state.status === 'ready' ? holdouts.state.data : [] }}
                  namespace={namespaceDraft.id}
                  experiments={experiments.state.status === 'ready' ? experiments.state.data : []}
                  refusal={unitRefusal(error)}
                />
                <h3>Who is eligible</h3>
                <ConditionBuilder rows={rows} onChange={setRows} segments={segments.map((s) => s.key)} label="Experiment targeting" />
                <h3>Holdout and namespace</h3>
                <HoldoutField holdouts={holdouts.state} value={holdout} onChange={setHoldout} />
                <NamespaceField
                  draft={namespaceDraft}
                  onChange={setNamespaceDraft}
                  experiments={experiments.state}
                  environments={envs.length === environments.length ? [] : envs}
                  refusal={namespaceRefusal(error)}
                />
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
                          <select aria-label={`Role of ${m.key}`} value={roleOf(m)} onChange={(e) => { setRoles({ ...roles, [m.key]: e.target.value as Role }); }}>
                            {/* A project-wide guardrail is analysed and watched in every experiment: it cannot be "not used". */}
                            {m.definition.guardrail ? null : <option value="">Not used</option>}
                            <option value="primary">Primary</option>
                            <option value="secondary">Secondary</option>
                            <option value="guardrail">{m.definition.guardrail ? 'Guardrail (project-wide, applies to every experiment)' : 'Guardrail'}</option>
                          </select>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )
            ) : null}
            {step === 3 ? (
              <BanditFieldset
                draft={banditDraft}
                onChange={setBanditDraft}
                context={{ type: 'ab', primary: primaryMetrics, variations: variations.length }}
                refusal={fieldErrors(error).get('bandit') ?? fieldErrors(error).get('stickyBucketing')}
              />
            ) : null}
            {step === 3 ? <GuardrailActionField value={guardrailAction} onChange={setGuardrailAction} /> : null}
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
            {step === 3 ? <AnalysisPlanField
                draft={analysisDraft}
                onChange={(draft) => {
                  setAnalysisDraft(draft);
                  // The power calculation plans at the plan's α (it can still be changed there).
                  const planned = checkAnalysisPlan(draft).alpha;
                  if (planned !== undefined) {
                    setAlpha(planned);
                  }
                }}
                refusal={analysisPlanRefusal(error)}
              /> : null}
            {step === 4 ? (
              <>
                <p className="muted">
                  How long to run: the units each variation needs to detect the effect you care about, given the weights of the variations and the traffic the
                  experiment covers. It runs until the variation that gets its units last has them.
                </p>
                <div className="grid-2">
                  <label>
                    Baseline conversion rate (%)
                    <input type="number" min={0.1} max={99.9} step={0.1} {...numberField(baseline, setBaseline)} {...planFieldProps(plan, 'baseline')} />
                  </label>
                  <label>
                    Smallest lift worth detecting (relative %)
                    <input type="number" min={0.1} step={0.1} {...numberField(mde, setMde)} {...planFieldProps(plan, 'mde')} />
                  </label>
                  <label>
                    Significance level α
                    <input type="number" min={0.001} max={0.2} step={0.005} {...numberField(alpha, setAlpha)} {...planFieldProps(plan, 'alpha')} />
                  </label>
                  <label>
                    Power
                    <input type="number" min={0.5} max={0.99} step={0.01} {...numberField(power, setPower)} {...planFieldProps(plan, 'power')} />
                  </label>
                  <label>
                    Eligible units per day
                    <input type="number" min={1} step={100} {...numberField(daily, setDaily)} {...planFieldProps(plan, 'dailyUnits')} />
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
            {/* Every problem the API names, not only the first: the fields are on earlier steps, so all are listed. */}
            <FormErrorNote error={error} shown={[]} />
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
                <button type="button" className="primary" {...pendingProps(problems[step] !== null)} aria-busy={checkingKey} onClick={() => void next()}>
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
