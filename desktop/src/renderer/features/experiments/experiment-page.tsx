import { useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError, appliedAnalysisPlan, MAX_RESULT_DIMENSIONS, attributeNameSchema, expandVariations, splitShares } from '@xp/shared';
import type { Experiment, ExperimentResultsView, GuardrailAlert, ResultsPhase, ResultsQuery, Stored } from '@xp/shared';
import { hashQuery, navigate, routeHash } from '../../app/router.js';
import { useSession } from '../../app/session.js';
import type { Session } from '../../app/session.js';
import { ClientSideField, ServerSideOnlyBadge, availableToClientSide, withClientSide } from '../../lib/client-side.js';
import { formatCount, formatEffect, formatInterval, formatNumber, formatPercent, formatTime, pValueText } from '../../lib/format.js';
import { allowanceProps, isProtected, sessionRole, useExperimentLifecycle, usePermission } from '../../lib/permissions.js';
import type { Allowance } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { knownTimeZone, localTimeZone, nextDay, startOfDay } from '../../lib/zoned-time.js';
import { AsyncView, Badge, Confirm, Dialog, ErrorNote, FormError, ResultMessage, errorMessage, isConflict } from '../../lib/ui.js';
import { CumulativeChart, defaultInterval } from './cumulative-chart.js';
import type { SeriesInterval } from './cumulative-chart.js';
import { BreakdownTable } from './breakdown-table.js';
import { ResultsView, shownInResultsView } from './results-view.js';
import { shipAdvice, shipCautions } from './ship-advice.js';
import { download } from '../../lib/download.js';
import { fieldErrors, validationIssues } from '../../lib/field-errors.js';
import { ATTRIBUTE_NAME_PATTERN } from '../flags/condition-model.js';
import { AnalysisPlanField, GuardrailActionField, HoldoutField, NamespaceField, UnitField, analysisPlanDraftOf, analysisPlanOf, analysisPlanRefusal, checkAnalysisPlan, checkNamespace, checkUnit, guardrailActionText, knownUnitAttributes, namespaceDraftOf, namespaceRefusal, percentText, unitDraftOf, unitRefusal, unitText, withField } from './experiment-settings-fields.js';
import type { AnalysisPlanDraft, GuardrailAction, NamespaceDraft, UnitDraft } from './experiment-settings-fields.js';
import { AlertAcknowledgement, isAcknowledged } from './alert-acknowledgement.js';
import { BanditFieldset, BanditPanel, banditDraftOf, checkBandit, frozenSplitReason, withBanditSticky } from './bandit.js';
import type { BanditContext, BanditDraft } from './bandit.js';

const STATUS_TONE = { draft: 'neutral', running: 'good', stopped: 'warn' } as const;

/** The analysis choices of the results on the page (environment, test, CUPED), which the decision is judged by. */
type Analysis = Pick<ResultsQuery, 'environment' | 'sequential' | 'cuped'>;

/** What every dialog of the page is given: the experiment as it was when the dialog opened, and what to do after. */
interface DialogProps {
  /** The stored experiment the dialog was opened on: its form starts from it, and its saves send its version. */
  readonly experiment: Stored<Experiment>;
  readonly onClose: () => void;
  readonly onDone: (e: Stored<Experiment>) => void;
  /** A save was refused because someone else changed the experiment since (409): the page refreshes behind the dialog. */
  readonly onConflict: () => void;
}

/**
 * The saving of a dialog of the page. It writes from the version the dialog was opened at (`opened`,
 * whose values its form shows), never the newer one a live refresh brings behind the dialog: a save
 * after someone else's change is then refused (409) instead of overwriting it unseen. The dialog says
 * so with the console's conflict message, `onConflict` refreshes the page, and *Reload their version*
 * puts the latest version into the form (`reset`) to apply the change again.
 */
function useDialogSave({ experiment: opened, onDone, onConflict }: DialogProps, reset: (latest: Stored<Experiment>) => void): {
  readonly base: Stored<Experiment>;
  readonly busy: boolean;
  readonly save: (write: (base: Stored<Experiment>) => Promise<Stored<Experiment>>) => Promise<void>;
  readonly feedback: ReactNode;
  readonly reloadButton: ReactNode;
  /** The last save's error (null when none), for the fields it names. */
  readonly error: unknown;
} {
  const { client, project } = useSession();
  const [base, setBase] = useState(opened);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  /** Said once their version is in the form. */
  const [reloaded, setReloaded] = useState<string | null>(null);
  const save = async (write: (base: Stored<Experiment>) => Promise<Stored<Experiment>>): Promise<void> => {
    setError(null);
    setReloaded(null);
    setBusy(true);
    try {
      onDone(await write(base));
    } catch (e) {
      setError(e);
      setBusy(false);
      if (isConflict(e)) {
        onConflict();
      }
    }
  };
  const reloadTheirs = async (): Promise<void> => {
    setBusy(true);
    try {
      const latest = await client.get(project, 'experiments', base.key);
      setBase(latest);
      reset(latest);
      setError(null);
      setReloaded(`The dialog now shows their version (version ${latest.version}): check it, make your change again and save.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return {
    base,
    busy,
    save,
    feedback: (
      <>
        {reloaded === null ? null : (
          <p className="banner banner-info" role="status">
            {reloaded}
          </p>
        )}
        {error === null ? null : <ErrorNote error={error} />}
      </>
    ),
    reloadButton: isConflict(error) ? (
      <button type="button" disabled={busy} onClick={() => void reloadTheirs()}>
        Reload their version
      </button>
    ) : null,
    error,
  };
}

function DecideDialog({ analysis, ...props }: DialogProps & { analysis: Analysis | null }): ReactNode {
  const { onClose } = props;
  const { client, project, environments } = useSession();
  const [decision, setDecision] = useState<'ship' | 'rollback' | 'inconclusive'>('ship');
  /** The user's choice of winner; until there is one, the advice's (none when nothing is significantly better). */
  const [chosen, setChosen] = useState<string | null>(null);
  // Their version keeps the user's choice of winner while it still names one of its variations.
  const { base: experiment, busy, save, feedback, reloadButton } = useDialogSave(props, (latest) => {
    setChosen((c) => (c !== null && latest.definition.variations.some((v) => v.key === c) ? c : null));
  });
  // The results as the page analyses them, without its filters: a winner is proposed only when one is significantly better.
  const results = useAsync(() => client.resultsDetail(project, experiment.key, analysis ?? {}), [client, project, experiment.key, analysis]);
  const advice = results.state.status === 'ready' ? shipAdvice(experiment.definition, results.state.data) : undefined;
  const winner = chosen ?? advice?.winner ?? '';
  const [release, setRelease] = useState(false);
  const submit = (): Promise<void> => save((base) => client.stopExperiment(project, base.key, base.version, { decision, ...(decision === 'ship' && winner !== '' ? { winner, releaseWinner: release } : {}) }));
  /** Someone else stopped it meanwhile (their version reloaded): there is nothing left to decide here. */
  const notRunning = experiment.definition.status !== 'running';
  const shown = results.state.status === 'ready' ? results.state.data : undefined;
  // The sample ratio check, and the guardrails the variation to ship (chosen, else the best on the primary metric) harms.
  const cautions = shown === undefined || advice === undefined ? [] : chosen !== null && decision === 'ship' ? shipCautions(shown, chosen === '' ? null : chosen) : advice.cautions;
  const basis =
    shown === undefined
      ? null
      : `Judged on the unfiltered results in ${environments.find((e) => e.key === shown.environment)?.name ?? shown.environment} (${shown.analysis.sequential ? 'sequential' : 'fixed-horizon'} test at α = ${String(shown.analysis.alpha)}, ${shown.analysis.correction === 'none' ? 'not corrected' : 'corrected'} for multiple comparisons).`;
  const missingWinner = decision === 'ship' && winner === '';
  return (
    <Dialog title={`Decide on ${experiment.definition.name}`} onClose={onClose}>
      <p>Stopping ends assignment; the decision is recorded in the audit log.</p>
      {cautions.length === 0 ? null : (
        <div className="banner banner-bad" role="alert" aria-label="Before you decide">
          {cautions.map((c) => (
            <p key={c}>{c}</p>
          ))}
        </div>
      )}
      <label>
        Decision
        <select value={decision} onChange={(e) => { setDecision(e.target.value as typeof decision); }}>
          <option value="ship">Ship a variation</option>
          <option value="rollback">Roll back (keep control)</option>
          <option value="inconclusive">Inconclusive</option>
        </select>
      </label>
      {decision === 'ship' ? (
        <>
          {results.state.status === 'loading' ? <p className="small muted">Checking the results…</p> : null}
          {results.state.status === 'error' ? (
            <p className="banner banner-warn" role="status">
              The results could not be loaded ({errorMessage(results.state.error)}), so no winner is proposed: shipping one is a judgement call.
            </p>
          ) : null}
          {advice === undefined ? null : (
            <p className={`banner ${advice.warn ? 'banner-warn' : 'banner-info'}`} role="status">
              {advice.note} {basis === null || !advice.judged ? null : <span className="small muted">{basis}</span>}
            </p>
          )}
          <label>
            Winner
            <select value={winner} onChange={(e) => { setChosen(e.target.value); }}>
              {winner === '' ? <option value="">Choose a variation…</option> : null}
              {/* Shipping the control is a rollback (the API refuses it as a ship). */}
              {experiment.definition.variations.slice(1).map((v) => (
                <option key={v.key} value={v.key}>
                  {v.name ?? v.key}
                </option>
              ))}
            </select>
          </label>
          <label className="check">
            <input type="checkbox" checked={release} onChange={(e) => { setRelease(e.target.checked); }} />
            Release the winner to everyone
          </label>
        </>
      ) : null}
      {notRunning ? (
        <p className="banner banner-warn" role="status">
          The experiment is now {experiment.definition.status}: there is nothing to decide. Close this dialog to see it.
        </p>
      ) : null}
      {feedback}
      <div className="actions">
        {reloadButton}
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button
          type="button"
          className="primary"
          disabled={missingWinner || notRunning || busy}
          {...(missingWinner ? { title: 'Choose the variation to ship' } : {})}
          onClick={() => void submit()}
        >
          Stop and record decision
        </button>
      </div>
    </Dialog>
  );
}

/**
 * The definition with the Settings… form's values: each field as stored when the form leaves it as
 * it was (an absent guardrail action shown as "alert only" stays absent, a range stays at the stored
 * precision, an analysis option shown at its default stays absent), so a save that changes one
 * setting changes nothing else.
 */
export function withSettings(
  definition: Experiment,
  form: { readonly clientSide: boolean; readonly guardrailAction: GuardrailAction | undefined; readonly holdout: string; readonly namespace: NamespaceDraft; readonly analysis: AnalysisPlanDraft; readonly unit?: UnitDraft; readonly bandit?: BanditDraft },
): Experiment {
  let out = withClientSide(definition, form.clientSide);
  if (form.bandit !== undefined) {
    out = withBanditSettings(out, form.bandit);
  }
  // The unit only while a draft: once started, the API refuses any change of it (the form shows it read-only).
  const unit = form.unit === undefined || definition.startedAt !== undefined ? undefined : checkUnit(form.unit, definition.type).unit;
  if (unit !== undefined && (unit.hashAttribute !== definition.hashAttribute || unit.fallbackAttribute !== definition.fallbackAttribute)) {
    out = withField(withField(out, 'hashAttribute', unit.hashAttribute), 'fallbackAttribute', unit.fallbackAttribute);
  }
  if ((form.guardrailAction ?? 'alert') !== (definition.guardrailAction ?? 'alert')) {
    out = withField(out, 'guardrailAction', form.guardrailAction);
  }
  if (form.holdout !== (definition.holdout ?? '')) {
    out = withField(out, 'holdout', form.holdout === '' ? undefined : form.holdout);
  }
  const stored = namespaceDraftOf(definition.namespace);
  const unchanged = form.namespace.id.trim() === stored.id && Number(form.namespace.start) === Number(stored.start) && Number(form.namespace.end) === Number(stored.end);
  if (!unchanged) {
    out = withField(out, 'namespace', checkNamespace(form.namespace).namespace);
  }
  return withField(out, 'analysis', analysisPlanOf(definition.analysis, form.analysis));
}

/** What the bandit checks need of a stored experiment. */
function banditContextOf(definition: Experiment): BanditContext {
  return { type: definition.type, primary: definition.metrics.primary, variations: expandVariations(definition).length };
}

/**
 * The definition with the bandit the form gives: unchanged when the form leaves it as stored (or has
 * problems, which keep the save disabled); turned on or changed, with sticky bucketing on (a moved
 * split must keep every unit's variation); turned off, without it — the weights stay those the
 * variations have now (the last move's), and sticky bucketing stays on (turning it off after a move
 * is refused: units would be hashed again into the current split).
 */
export function withBanditSettings(definition: Experiment, draft: BanditDraft): Experiment {
  if (!draft.enabled) {
    return definition.bandit === undefined ? definition : withField(definition, 'bandit', undefined);
  }
  const { bandit } = checkBandit(draft, banditContextOf(definition));
  if (bandit === undefined) {
    return definition;
  }
  const stored = definition.bandit;
  const same =
    stored !== undefined &&
    stored.metric === bandit.metric &&
    stored.updateEveryHours === bandit.updateEveryHours &&
    stored.burnInHours === bandit.burnInHours &&
    stored.minShare === bandit.minShare;
  if (same && definition.stickyBucketing?.enabled === true) {
    return definition;
  }
  return { ...withField(definition, 'bandit', same ? stored : bandit), stickyBucketing: withBanditSticky(definition) };
}

/**
 * Edits the experiment's settings: its availability to client-side SDKs, what a guardrail
 * degradation does, its holdout, its namespace range and its analysis plan. Saves the stored definition as read — the
 * platform's fields (status, times, `splitHistory`) and every setting left as it was unchanged —
 * with the version it was read at (If-Match), like every write of this page.
 */
function SettingsDialog(props: DialogProps): ReactNode {
  const { onClose } = props;
  const { client, project } = useSession();
  const initial = props.experiment.definition;
  const [clientSide, setClientSide] = useState(availableToClientSide(initial));
  const [guardrailAction, setGuardrailAction] = useState(initial.guardrailAction);
  const [holdout, setHoldout] = useState(initial.holdout ?? '');
  const [namespace, setNamespace] = useState(namespaceDraftOf(initial.namespace));
  const [analysis, setAnalysis] = useState(analysisPlanDraftOf(initial.analysis));
  const [unit, setUnit] = useState(unitDraftOf(initial));
  const [bandit, setBandit] = useState(banditDraftOf(initial.bandit));
  const { base: experiment, busy, save, feedback, reloadButton, error } = useDialogSave(props, (latest) => {
    setUnit(unitDraftOf(latest.definition));
    setBandit(banditDraftOf(latest.definition.bandit));
    setClientSide(availableToClientSide(latest.definition));
    setGuardrailAction(latest.definition.guardrailAction);
    setHoldout(latest.definition.holdout ?? '');
    setNamespace(namespaceDraftOf(latest.definition.namespace));
    setAnalysis(analysisPlanDraftOf(latest.definition.analysis));
  });
  // The project's holdouts and experiments (their namespace ranges): the dialog works without them.
  const holdouts = useAsync(() => client.listAll(project, 'holdouts'), [client, project]);
  const experiments = useAsync(() => client.listAll(project, 'experiments'), [client, project]);
  const namespaceProblems = Object.keys(checkNamespace(namespace).problems).length > 0;
  const analysisProblem = checkAnalysisPlan(analysis).problem !== undefined;
  const started = experiment.definition.startedAt !== undefined;
  const unitProblem = !started && Object.keys(checkUnit(unit, experiment.definition.type).problems).length > 0;
  const banditProblem = Object.keys(checkBandit(bandit, banditContextOf(experiment.definition)).problems).length > 0;
  const submit = (): Promise<void> =>
    save((base) => client.replace(project, 'experiments', base.key, withSettings(base.definition, { clientSide, guardrailAction, holdout, namespace, analysis, unit, bandit }), base.version));
  return (
    <Dialog title={`Settings of ${experiment.definition.name}`} onClose={onClose}>
      <ClientSideField kind="experiment" checked={clientSide} onChange={setClientSide} />
      <UnitField
        draft={started ? unitDraftOf(experiment.definition) : unit}
        onChange={setUnit}
        type={experiment.definition.type}
        suggestions={knownUnitAttributes({
          ...(experiments.state.status === 'ready' ? { experiments: experiments.state.data } : {}),
          ...(holdouts.state.status === 'ready' ? { holdouts: holdouts.state.data } : {}),
        })}
        locked={
          started
            ? 'Fixed since the experiment started: another unit would move units to other variations, and those already exposed would be counted in one they did not see, so the API refuses the change. To randomise by another attribute, create a new experiment.'
            : undefined
        }
        holdout={{ key: holdout, holdouts: holdouts.state.status === 'ready' ? holdouts.state.data : [] }}
        namespace={namespace.id}
        experiments={experiments.state.status === 'ready' ? experiments.state.data : []}
        self={experiment.key}
        refusal={unitRefusal(error)}
      />
      <GuardrailActionField value={guardrailAction} onChange={setGuardrailAction} />
      <HoldoutField holdouts={holdouts.state} value={holdout} onChange={setHoldout} />
      <NamespaceField
        draft={namespace}
        onChange={setNamespace}
        experiments={experiments.state}
        self={experiment.key}
        environments={experiment.definition.environments}
        refusal={namespaceRefusal(error)}
      />
      <AnalysisPlanField draft={analysis} onChange={setAnalysis} refusal={analysisPlanRefusal(error)} />
      <BanditFieldset
        draft={bandit}
        onChange={setBandit}
        context={banditContextOf(experiment.definition)}
        running={experiment.definition.status === 'running'}
        // A bandit on since the start moves a split that sticky bucketing kept from the start; one turned on later may not.
        frozen={experiment.definition.bandit === undefined ? frozenSplitReason(experiment.definition) : undefined}
        refusal={fieldErrors(error).get('bandit') ?? fieldErrors(error).get('stickyBucketing')}
      />
      {feedback}
      <div className="actions">
        {reloadButton}
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button
          type="button"
          className="primary"
          disabled={busy || unitProblem || namespaceProblems || analysisProblem || banditProblem}
          {...(unitProblem
            ? { title: 'Fix the unit of randomisation first' }
            : namespaceProblems
              ? { title: 'Fix the namespace first' }
              : analysisProblem
                ? { title: 'Fix the significance level first' }
                : banditProblem
                  ? { title: 'Fix the bandit settings first' }
                  : {})}
          onClick={() => void submit()}
        >
          Save settings
        </button>
      </div>
    </Dialog>
  );
}

/** The experiment's guardrail action, its unit when not the user (`id`), and its holdout and namespace range when it has them. */
export function SettingsSummary({ experiment }: { experiment: Experiment }): ReactNode {
  const unit = unitText(experiment);
  return (
    <section aria-label="Guardrail action, holdout and namespace" className="small">
      <p>
        {unit === undefined ? null : (
          <>
            <strong>Unit (randomised by):</strong> <code>{unit}</code>
            {' · '}
          </>
        )}
        <strong>Guardrail action:</strong> {guardrailActionText(experiment.guardrailAction)}
        {experiment.holdout === undefined ? null : (
          <>
            {' · '}
            <strong>Holdout:</strong> <code>{experiment.holdout}</code>
          </>
        )}
        {experiment.namespace === undefined ? null : (
          <>
            {' · '}
            <strong>Namespace:</strong> <code>{experiment.namespace.id}</code> {percentText(experiment.namespace.range[0])}–{percentText(experiment.namespace.range[1])}
          </>
        )}
      </p>
    </section>
  );
}

/** "control 50.0% · treatment 50.0%": each variation's share of covered traffic, by key. */
function sharesText(shares: Readonly<Record<string, number>>): string {
  return Object.entries(shares)
    .map(([key, share]) => `${key} ${formatPercent(share)}`)
    .join(' · ');
}

/**
 * The split the experiment serves and, when it was moved while running (sticky bucketing), the
 * splits it served before, oldest first, each until the time it was replaced (`splitHistory`).
 */
export function SplitSummary({ experiment }: { experiment: Experiment }): ReactNode {
  const history = experiment.splitHistory ?? [];
  const last = history.at(-1);
  const current = sharesText(splitShares(experiment));
  return (
    <section aria-label="Split" className="split-summary">
      {last === undefined ? (
        <p>
          <strong>Split:</strong> {current}
        </p>
      ) : (
        <>
          <ol aria-label="Split history">
            {history.map((h, i) => (
              <li key={i}>
                Split until {formatTime(h.until)}: {sharesText(h.shares)}
              </li>
            ))}
            <li>
              <strong>
                Split since {formatTime(last.until)} (current): {current}
              </strong>
            </li>
          </ol>
          <p className="small muted">
            {experiment.bandit === undefined
              ? 'The split was moved while running (units keep their variation): the results analyse one split phase at a time (the current one unless you choose another), since pooling periods with different splits can confound the effects; pooled, the expected shares blend each period\'s split.'
              : 'The bandit moved the split while running (units keep their variation): the results compare the variations within each split phase and combine the estimates (stratified) unless you choose another, since pooling periods with different splits can confound the effects.'}
          </p>
        </>
      )}
    </section>
  );
}

/** The longest attribute name the API takes. */
const MAX_ATTRIBUTE_NAME = attributeNameSchema.maxLength ?? 256;
const ATTRIBUTE_NAME_RULE = 'letters, digits, "_", "-" and "." for nested fields, starting with a letter or "_"';

/** A name as a message quotes it: a long one cut to its start. */
function quoted(name: string): string {
  return `"${name.length > 40 ? `${name.slice(0, 40)}…` : name}"`;
}

/** "twice", "3 times". */
function times(n: number): string {
  return n === 2 ? 'twice' : `${n} times`;
}

/** The comma-separated dimensions as typed (trimmed, empty items dropped, duplicates kept), and what is wrong with them, in plain words. */
export function checkDimensions(text: string): { readonly dimensions: string[]; readonly problems: string[] } {
  const listed = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  const problems: string[] = [];
  const counts = new Map<string, number>();
  for (const name of listed) {
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const distinct = [...counts.keys()];
  if (distinct.length > MAX_RESULT_DIMENSIONS) {
    problems.push(`At most ${MAX_RESULT_DIMENSIONS} dimensions: ${distinct.length} are listed. Remove ${distinct.length - MAX_RESULT_DIMENSIONS}.`);
  }
  for (const name of distinct) {
    if (name.length > MAX_ATTRIBUTE_NAME) {
      problems.push(`${quoted(name)} is too long for an attribute name (${name.length} characters; at most ${MAX_ATTRIBUTE_NAME}).`);
    } else if (!ATTRIBUTE_NAME_PATTERN.test(name)) {
      problems.push(`${quoted(name)} is not an attribute name: use ${ATTRIBUTE_NAME_RULE}.`);
    }
  }
  for (const [name, n] of counts) {
    if (n > 1) {
      problems.push(`${name} is listed ${times(n)}.`);
    }
  }
  return { dimensions: listed, problems };
}

/**
 * A refusal of the dimensions by the API (400 naming `dimensions` or `dimensions[i]`) in plain words;
 * any other error as it is (conflicts keep their own message and the reload button).
 */
function plainDimensionsError(error: unknown, dimensions: readonly string[]): unknown {
  const lines: string[] = [];
  for (const { path, message } of validationIssues(error)) {
    const match = /^dimensions(?:\[(\d+)\])?$/.exec(path);
    if (match === null) {
      continue;
    }
    const index = match[1] === undefined ? undefined : Number(match[1]);
    const name = index === undefined ? undefined : dimensions[index];
    const which = name === undefined ? (index === undefined ? 'The dimensions' : `Dimension ${index + 1}`) : quoted(name);
    const limit = /<=\s*(\d+)/.exec(message)?.[1];
    if (/too big/i.test(message) && /items/.test(message)) {
      lines.push(`At most ${limit ?? MAX_RESULT_DIMENSIONS} dimensions.`);
    } else if (/too big/i.test(message) && /characters/.test(message)) {
      lines.push(`${which} is too long for an attribute name (at most ${limit ?? MAX_ATTRIBUTE_NAME} characters).`);
    } else if (/too small/i.test(message)) {
      lines.push(`${which} is empty.`);
    } else if (message.startsWith('duplicate')) {
      lines.push(`${name ?? which} is listed twice.`);
    } else {
      lines.push(`${which}: ${message}.`);
    }
  }
  return lines.length === 0 ? error : new Error(`The dimensions were not saved. ${lines.join(' ')}`);
}

/** Edits the attributes the results can be broken down by (the experiment's `dimensions`), checking them before saving. */
function DimensionsDialog(props: DialogProps): ReactNode {
  const { onClose } = props;
  const { client, project } = useSession();
  const [text, setText] = useState((props.experiment.definition.dimensions ?? []).join(', '));
  /** The problems found when saving, checked again as the field changes; null until a save is tried. */
  const [problems, setProblems] = useState<readonly string[] | null>(null);
  const { base: experiment, busy, save, feedback, reloadButton } = useDialogSave(props, (latest) => {
    setText((latest.definition.dimensions ?? []).join(', '));
    setProblems(null);
  });
  const submit = async (): Promise<void> => {
    const checked = checkDimensions(text);
    setProblems(checked.problems);
    if (checked.problems.length > 0) {
      return;
    }
    const { dimensions } = checked;
    await save(async (base) => {
      try {
        return await client.replace(project, 'experiments', base.key, withField(base.definition, 'dimensions', dimensions.length === 0 ? undefined : dimensions), base.version);
      } catch (e) {
        throw plainDimensionsError(e, dimensions);
      }
    });
  };
  const shown = problems === null || problems.length === 0 ? null : problems;
  return (
    <Dialog title={`Result dimensions of ${experiment.definition.name}`} onClose={onClose}>
      <p>
        Unit attributes the results can be filtered and broken down by as fast as unfiltered (at most {MAX_RESULT_DIMENSIONS}; choose attributes with few values). A new one is
        built from the stored totals on the next results request.
      </p>
      <label>
        Dimensions (comma-separated)
        <input
          value={text}
          placeholder="country, plan"
          {...(shown === null ? {} : { 'aria-invalid': true, 'aria-describedby': 'dimension-problems' })}
          onChange={(e) => {
            setText(e.target.value);
            if (problems !== null) {
              setProblems(checkDimensions(e.target.value).problems);
            }
          }}
        />
      </label>
      {shown === null ? null : (
        <div className="state-error" role="alert" id="dimension-problems" aria-label="Problems with the dimensions">
          {shown.map((p) => (
            <p key={p}>{p}</p>
          ))}
        </div>
      )}
      {feedback}
      <div className="actions">
        {reloadButton}
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" disabled={busy} onClick={() => void submit()}>
          Save dimensions
        </button>
      </div>
    </Dialog>
  );
}

/** An answer that there is no such experiment (404), as a link to a deleted or mistyped key gets. */
function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}

/** The page of a key no experiment has: says so, with the API's message and the way back to the list. */
function ExperimentNotFound({ error }: { error: unknown }): ReactNode {
  return (
    <section aria-labelledby="experiment-not-found">
      <h1 id="experiment-not-found">Experiment not found</h1>
      <p className="state state-error">{errorMessage(error).replace(/\.$/, '')}. It may have been deleted, or the link may be mistyped.</p>
      <p>
        <a href="#/experiments">← All experiments</a>
      </p>
    </section>
  );
}

/** A variation's name and key, "Treatment (treatment)", or the key alone when it has no other name. */
function variationLabel(experiment: Experiment, key: string): string {
  const name = expandVariations(experiment).find((v) => v.key === key)?.name;
  return name === undefined || name === key ? key : `${name} (${key})`;
}

/** The guardrails system actor: the last writer of an experiment the guardrail checks stopped (docs/api.md, Guardrails). */
export const GUARDRAILS_ACTOR = 'system:guardrails';

/** The experiment's guardrail alerts (open and resolved, newest first) and the names of the project's metrics by key. */
export interface GuardrailFindings {
  readonly alerts: readonly GuardrailAlert[];
  readonly metricNames: ReadonlyMap<string, string>;
}

/** A metric's name, or its key when the project no longer lists it. */
function metricName(findings: GuardrailFindings, key: string): string {
  return findings.metricNames.get(key) ?? key;
}

/** How much worse the metric got, unsigned, on the alert's scale: "23.1%" (relative) or "0.02" (absolute). */
function worsenedBy(alert: GuardrailAlert): string {
  return alert.difference === 'relative' ? formatPercent(Math.abs(alert.effect)) : formatNumber(Math.abs(alert.effect));
}

/** "+23.1% [+19.8%, +26.3%], p < 0.001": the alert's effect with its confidence sequence and always-valid p-value. */
function alertFigures(alert: GuardrailAlert): string {
  return `${formatEffect(alert.effect, alert.difference)} ${formatInterval(alert.ci, alert.difference)}${alert.difference === 'absolute' ? ' (absolute)' : ''}, ${pValueText(alert.pValue)}`;
}

/** What the platform did about an alert, in words (`running`: whether the experiment still runs). */
function alertOutcome(alert: GuardrailAlert, running: boolean): string {
  const rollback = alert.flag === null ? 'rolled back (the control is kept)' : `rolled back flag ${alert.flag} (it serves what it served before the experiment)`;
  switch (alert.action) {
    case 'stopped':
      return `The platform stopped the experiment and ${rollback}${alert.actionAt === null ? '' : ` ${formatTime(alert.actionAt)}`}.`;
    case 'stop-failed':
      return `The platform tried to stop the experiment and roll back, but the stop failed${alert.actionAt === null ? '' : ` ${formatTime(alert.actionAt)}`}; the next check tries again.`;
    default:
      return running ? 'Alerted only: the experiment keeps running (its guardrail action is to alert, not to stop).' : 'Alerted only (its guardrail action was to alert, not to stop).';
  }
}

/**
 * The alerts behind the experiment's current stop when the guardrail checks made it: those whose
 * action is `stopped` since it last started or resumed. An empty list when the guardrails actor
 * stopped it but its alerts are unknown (not loaded); null when it was not stopped by guardrails.
 */
export function guardrailStopOf(stored: Stored<Experiment>, findings: GuardrailFindings | undefined): readonly GuardrailAlert[] | null {
  const d = stored.definition;
  if (d.status !== 'stopped') {
    return null;
  }
  const since = Date.parse(d.pauses?.at(-1)?.resumedAt ?? d.startedAt ?? '1970-01-01T00:00:00Z');
  const stops = (findings?.alerts ?? []).filter((a) => a.action === 'stopped' && a.actionAt !== null && Date.parse(a.actionAt) >= since);
  if (stops.length > 0) {
    return stops;
  }
  return stored.updatedBy === GUARDRAILS_ACTOR ? [] : null;
}

/** "Page load time worsened by 23.1% in Treatment (treatment)" for each alert, joined with "; ". */
function worsenedList(experiment: Experiment, findings: GuardrailFindings, alerts: readonly GuardrailAlert[], amount: boolean): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const a of alerts) {
    const part = `${metricName(findings, a.metric)} worsened${amount ? ` by ${worsenedBy(a)}` : ''} in ${variationLabel(experiment, a.variation)}`;
    if (!seen.has(part)) {
      seen.add(part);
      parts.push(part);
    }
  }
  return parts.join('; ');
}

/**
 * The experiment's open guardrail alerts, prominently: for each, the metric, the variation and the
 * environment, the effect with its interval, when it was detected and what the platform did, and
 * whether someone acknowledged it (with Acknowledge… / Un-acknowledge for those who may edit
 * experiments; `onAlertChanged` gets the alert an acknowledgement returned).
 */
export function GuardrailAlertsBanner({ experiment, findings, onAlertChanged = () => undefined }: { experiment: Experiment; findings: GuardrailFindings; onAlertChanged?: (alert: GuardrailAlert) => void }): ReactNode {
  const { environments } = useSession();
  const write = usePermission('experiments:write');
  const open = findings.alerts.filter((a) => a.resolvedAt === null);
  if (open.length === 0) {
    return null;
  }
  const acknowledged = open.filter(isAcknowledged).length;
  return (
    <section className="banner banner-bad" role="alert" aria-label="Guardrail alerts">
      <p>
        <strong>{open.length === 1 ? 'A guardrail metric degraded' : `${open.length} guardrail alerts are open`}</strong>: the guardrail checks found a significant change in the harmful
        direction (sequential test).{acknowledged === 0 ? '' : ` ${acknowledged === open.length ? (open.length === 1 ? 'It is' : 'All are') : `${acknowledged} of ${open.length} are`} acknowledged.`}
      </p>
      <ul>
        {open.map((a) => (
          <li key={a.id}>
            <p>
              <strong>{metricName(findings, a.metric)}</strong> worsened by {worsenedBy(a)} in {variationLabel(experiment, a.variation)} (
              {environments.find((e) => e.key === a.environment)?.name ?? a.environment}): effect {alertFigures(a)}, detected {formatTime(a.detectedAt)}. {alertOutcome(a, experiment.status === 'running')}
            </p>
            <AlertAcknowledgement alert={a} allowance={write} onChanged={onAlertChanged} />
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * The warning of the Resume dialog when guardrails stopped the experiment, or alerts are open: it
 * will be stopped (or alerted about) again if the harm persists. Nothing otherwise.
 */
function resumeWarning(stored: Stored<Experiment>, findings: GuardrailFindings | undefined): string | null {
  const d = stored.definition;
  const stop = guardrailStopOf(stored, findings);
  const open = findings?.alerts.filter((a) => a.resolvedAt === null) ?? [];
  if (stop === null && open.length === 0) {
    return null;
  }
  // After a guardrails stop the checks judge only the units exposed since the resume; after a manual one, every unit.
  const again =
    d.guardrailAction !== 'stop'
      ? 'its guardrail action is now to alert only, so it keeps running, but the alert will be raised again unless the cause is fixed'
      : stop === null
        ? 'it will stop again unless the cause is fixed'
        : 'once resumed, the checks judge only the units exposed from then on, and stop it again if those show the same harm';
  const alerts = stop !== null && stop.length > 0 ? stop : open;
  const cause = findings === undefined || alerts.length === 0 ? 'a guardrail metric worsened' : worsenedList(d, findings, alerts, false);
  return `${stop === null ? 'Guardrail alerts are open' : 'Guardrails stopped this experiment'} because ${cause}; ${again}.`;
}

/**
 * What a stopped experiment ended with: when, the decision, the winner by name and key, and whether
 * everyone gets it now. A stop the guardrail checks made says so, with the metrics that worsened.
 */
export function DecisionSummary({ experiment: d, guardrailStop = null, findings }: { experiment: Experiment; guardrailStop?: readonly GuardrailAlert[] | null; findings?: GuardrailFindings }): ReactNode {
  const { environments } = useSession();
  const at = d.stoppedAt === undefined ? '' : formatTime(d.stoppedAt);
  let when: string;
  if (guardrailStop === null) {
    when = at === '' ? 'Stopped' : `Stopped ${at}`;
  } else if (guardrailStop.length === 0 || findings === undefined) {
    when = `Stopped by guardrails${at === '' ? '' : ` (${at})`}: a guardrail metric worsened significantly`;
  } else {
    when = `Stopped by guardrails: ${worsenedList(d, findings, guardrailStop, true)}${at === '' ? '' : ` (${at})`}`;
  }
  let decision: ReactNode;
  if (d.decision === 'ship') {
    decision =
      d.winner === undefined ? (
        <>
          <strong>ship</strong>, with no winner recorded.
        </>
      ) : (
        <>
          <strong>ship {variationLabel(d, d.winner)}</strong>
          {d.releaseWinner ? ', released to everyone (the winner is served to everyone).' : ', not released to everyone (the experiment no longer serves it).'}
        </>
      );
  } else if (d.decision === 'rollback') {
    decision = (
      <>
        <strong>roll back</strong> (keep the control).
      </>
    );
  } else if (d.decision === 'inconclusive') {
    decision = <strong>inconclusive.</strong>;
  } else {
    decision = <>none recorded.</>;
  }
  return (
    <section aria-label="Decision" className={`banner ${guardrailStop === null ? 'banner-info' : 'banner-bad'}`}>
      <p>
        <strong>{when}.</strong> Decision: {decision}
      </p>
      {guardrailStop === null || guardrailStop.length === 0 ? null : (
        <ul className="small">
          {guardrailStop.map((a) => (
            <li key={a.id}>
              {findings === undefined ? a.metric : metricName(findings, a.metric)} in {variationLabel(d, a.variation)} ({environments.find((e) => e.key === a.environment)?.name ?? a.environment}): effect {alertFigures(a)}, detected {formatTime(a.detectedAt)}.
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/**
 * Whether the signed-in user may delete the experiment, and why not: it needs experiments:write; a
 * running experiment must be stopped first (the API refuses, 409); a started one whose results in a
 * protected environment would go needs an owner or admin (the API's 403 APPROVAL_REQUIRED for editors).
 */
export function deleteAllowance(session: Pick<Session, 'user' | 'project' | 'environments'>, write: Allowance, experiment: Experiment): Allowance {
  if (!write.allowed) {
    return write;
  }
  if (experiment.status === 'running') {
    return { allowed: false, reason: 'Stop the experiment before deleting it' };
  }
  const role = sessionRole(session);
  if (experiment.startedAt === undefined || role === 'owner' || role === 'admin') {
    return write;
  }
  const ran = experiment.environments.length === 0 ? session.environments : session.environments.filter((e) => experiment.environments.includes(e.key));
  const guarded = ran.filter(isProtected).map((e) => e.name);
  return guarded.length === 0 ? write : { allowed: false, reason: `Only an owner or admin can delete an experiment that ran in ${guarded.join(', ')} (its results there go for good)` };
}

/**
 * Whether the signed-in user may archive (or unarchive) the experiment, and why not: it needs
 * experiments:write, and a running experiment is stopped first (the API refuses it, 409).
 */
export function archiveAllowance(write: Allowance, experiment: Experiment): Allowance {
  if (!write.allowed || experiment.archived === true || experiment.status !== 'running') {
    return write;
  }
  return { allowed: false, reason: 'Stop the experiment before archiving it' };
}

/** An action an archived experiment does not take (the API refuses it, 409): disabled, saying to unarchive it first. */
function unlessArchived(allowance: Allowance, experiment: Experiment, action: string): Allowance {
  return allowance.allowed && experiment.archived === true ? { allowed: false, reason: `Unarchive the experiment to ${action} it` } : allowance;
}

/** An experiment: status and actions, then live results with analysis controls. */
export default function ExperimentPage({ experimentKey }: { experimentKey: string }): ReactNode {
  const session = useSession();
  const { client, project, refreshTick, environments } = session;
  const exp = useAsync(() => Promise.all([client.get(project, 'experiments', experimentKey), client.listAll(project, 'segments')]), [client, project, experimentKey], { pollMs: 15_000, refreshKey: refreshTick });
  // The guardrail alerts of the experiment (the newest 200, open and resolved), and the metric names they need.
  const guardrails = useAsync(
    async (): Promise<GuardrailFindings> => {
      const page = await client.alerts(project, { experiment: experimentKey, limit: 200 });
      const metrics = page.items.length === 0 ? [] : await client.listAll(project, 'metrics', { archived: true });
      return { alerts: page.items, metricNames: new Map(metrics.map((m) => [m.key, m.definition.name])) };
    },
    [client, project, experimentKey],
    { pollMs: 15_000, refreshKey: refreshTick },
  );
  const findings = guardrails.state.status === 'ready' ? guardrails.state.data : undefined;
  /**
   * The dialog open over the page, if any, with the experiment as it was when it opened: the dialog's
   * form and its save's If-Match come from that, not from the newer version a refresh may show.
   */
  const [dialog, setDialog] = useState<{ readonly kind: 'decide' | 'dimensions' | 'settings' | 'resume' | 'delete' | 'archive'; readonly opened: Stored<Experiment> } | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  /** An archive or unarchive in flight: its button says busy and ignores clicks (focus stays on it). */
  const [archiving, setArchiving] = useState(false);
  /** What the last archive or unarchive did, announced (a failure goes to actionError). */
  const [notice, setNotice] = useState<{ readonly tone: 'good'; readonly text: string } | null>(null);
  /** How the results below are analysed (reported by the panel): the decision dialog judges by the same. */
  const [analysis, setAnalysis] = useState<Analysis | null>(null);
  const write = usePermission('experiments:write');
  /** Shows the experiment a start or resume returns, or the error it met (after a conflict, with the page showing their version). */
  const lifecycleAction = (request: Promise<Stored<Experiment>>): void => {
    setActionError(null);
    setNotice(null);
    request.then(
      (updated) => { exp.setData(([, s]) => [updated, s]); },
      (e: unknown) => {
        setActionError(e);
        if (isConflict(e)) {
          exp.reload();
        }
      },
    );
  };
  const lifecycle = useExperimentLifecycle(exp.state.status === 'ready' ? exp.state.data[0].definition.environments : []);
  /**
   * Archives or unarchives the experiment as the confirmation showed it: the whole definition with
   * `archived` set, at the version it was opened at (If-Match), as flags are archived.
   */
  const setArchived = (target: Stored<Experiment>, archived: boolean): void => {
    setActionError(null);
    setNotice(null);
    setArchiving(true);
    client.replace(project, 'experiments', target.key, { ...target.definition, archived }, target.version).then(
      (saved) => {
        setArchiving(false);
        exp.setData(([, s]) => [saved, s]);
        setNotice({ tone: 'good', text: `${archived ? 'Archived' : 'Unarchived'} ${saved.key} (version ${saved.version}).` });
      },
      (e: unknown) => {
        setArchiving(false);
        setActionError(e);
        if (isConflict(e)) {
          exp.reload();
        }
      },
    );
  };

  if (exp.state.status === 'error' && isNotFound(exp.state.error)) {
    return <ExperimentNotFound error={exp.state.error} />;
  }
  return (
    <AsyncView state={exp.state} onRetry={exp.reload}>
      {([experiment, segments]) => {
        const d = experiment.definition;
        const envs = d.environments.length > 0 ? d.environments : environments.map((e) => e.key);
        const open = (kind: NonNullable<typeof dialog>['kind']): void => {
          setDialog({ kind, opened: experiment });
        };
        const dialogProps: Omit<DialogProps, 'experiment'> = {
          onClose: () => { setDialog(null); },
          onDone: (saved: Stored<Experiment>) => {
            setDialog(null);
            exp.setData(([, s]) => [saved, s]);
          },
          onConflict: exp.reload,
        };
        const opened = dialog?.opened.definition;
        const guardrailStop = guardrailStopOf(experiment, findings);
        const deletable = deleteAllowance(session, write, d);
        const archivable = archiveAllowance(write, d);
        const isArchived = d.archived === true;
        const resumeWarned = dialog?.kind === 'resume' ? resumeWarning(dialog.opened, findings) : null;
        return (
          <>
            <div className="page-head">
              <div>
                <h1>{d.name}</h1>
                <p className="muted">
                  <code>{experiment.key}</code> <Badge tone={STATUS_TONE[d.status]}>{d.status}</Badge>
                  {isArchived ? (
                    <>
                      {' '}
                      <Badge tone="warn">archived</Badge>
                    </>
                  ) : null}
                  {d.bandit === undefined ? null : (
                    <>
                      {' '}
                      <Badge tone="info">bandit</Badge>
                    </>
                  )}
                  {availableToClientSide(d) ? null : (
                    <>
                      {' '}
                      <ServerSideOnlyBadge definition={d} />
                    </>
                  )}
                  {d.startedAt === undefined ? null : <> started {formatTime(d.startedAt)}</>}
                  {d.status !== 'stopped' || d.stoppedAt === undefined ? null : <> · stopped {formatTime(d.stoppedAt)}</>}
                </p>
              </div>
              <div className="row">
                {d.status === 'draft' ? (
                  <button
                    type="button"
                    className="primary"
                    {...allowanceProps(unlessArchived(lifecycle, d, 'start'))}
                    onClick={() => { lifecycleAction(client.startExperiment(project, experiment.key, experiment.version)); }}
                  >
                    Start experiment
                  </button>
                ) : null}
                {d.status === 'running' ? (
                  <button type="button" className="primary" {...allowanceProps(lifecycle)} onClick={() => { open('decide'); }}>
                    Decide…
                  </button>
                ) : null}
                {d.status === 'stopped' ? (
                  <button type="button" {...allowanceProps(unlessArchived(lifecycle, d, 'resume'))} onClick={() => { open('resume'); }}>
                    Resume…
                  </button>
                ) : null}
                <button type="button" {...allowanceProps(unlessArchived(write, d, 'change'))} onClick={() => { open('dimensions'); }}>
                  Dimensions…
                </button>
                <button type="button" {...allowanceProps(unlessArchived(write, d, 'change'))} onClick={() => { open('settings'); }}>
                  Settings…
                </button>
                <button type="button" {...allowanceProps(archivable, archiving)} aria-busy={archiving} onClick={() => { open('archive'); }}>
                  {isArchived ? 'Unarchive…' : 'Archive…'}
                </button>
                <button type="button" className="danger" {...allowanceProps(deletable)} onClick={() => { open('delete'); }}>
                  Delete…
                </button>
                <a href="#/experiments">← All experiments</a>
              </div>
            </div>
            {d.hypothesis === undefined ? null : (
              <p>
                <strong>Hypothesis:</strong> {d.hypothesis}
              </p>
            )}
            {isArchived ? (
              <p className="banner banner-warn" role="note">
                This experiment is archived: the experiments list hides it unless Show archived is ticked, and it cannot be started, resumed or changed until it is unarchived. Its
                results are kept below.
              </p>
            ) : null}
            <ResultMessage message={notice} />
            {findings === undefined ? null : (
              <GuardrailAlertsBanner
                experiment={d}
                findings={findings}
                onAlertChanged={(updated) => { guardrails.setData((f) => ({ ...f, alerts: f.alerts.map((a) => (a.id === updated.id ? updated : a)) })); }}
              />
            )}
            {guardrails.state.status === 'error' ? <p className="small muted">The guardrail alerts could not be loaded ({errorMessage(guardrails.state.error)}).</p> : null}
            {d.status === 'stopped' ? <DecisionSummary experiment={d} guardrailStop={guardrailStop} {...(findings === undefined ? {} : { findings })} /> : null}
            <SplitSummary experiment={d} />
            <SettingsSummary experiment={d} />
            {d.bandit === undefined ? null : <BanditPanel experiment={experiment} onChecked={exp.reload} />}
            {actionError === null ? null : <ErrorNote error={actionError} />}
            {d.status === 'draft' ? (
              <p className="state state-empty">Results appear once the experiment is started and units are exposed.</p>
            ) : (
              <ResultsPanel experiment={experiment} environments={envs} segments={segments.map((s) => s.key)} onAnalysis={setAnalysis} />
            )}
            {dialog?.kind === 'dimensions' ? <DimensionsDialog {...dialogProps} experiment={dialog.opened} /> : null}
            {dialog?.kind === 'settings' ? <SettingsDialog {...dialogProps} experiment={dialog.opened} /> : null}
            {dialog?.kind === 'decide' ? <DecideDialog {...dialogProps} experiment={dialog.opened} analysis={analysis} /> : null}
            {dialog?.kind === 'delete' ? (
              <Confirm
                title={`Delete ${experiment.key}?`}
                message={
                  <p>
                    Deleting is permanent: the experiment and everything the platform stored for it — exposures, per-unit totals, results and guardrail alerts — go for good
                    (the audit log keeps its definition), and a new experiment with the key starts from nothing. To keep the results but take it out of the experiments list,
                    archive it instead.
                  </p>
                }
                confirmLabel="Delete experiment"
                onCancel={() => { setDialog(null); }}
                onConfirm={() => {
                  const target = dialog.opened;
                  setDialog(null);
                  setActionError(null);
                  // The version the confirmation was opened at: a change since is refused (409), not deleted unseen.
                  client.remove(project, 'experiments', target.key, target.version).then(
                    () => { navigate({ screen: 'experiments' }); },
                    (e: unknown) => {
                      setActionError(e);
                      if (isConflict(e)) {
                        exp.reload();
                      }
                    },
                  );
                }}
              />
            ) : null}
            {dialog?.kind === 'archive' ? (
              <Confirm
                title={`${dialog.opened.definition.archived === true ? 'Unarchive' : 'Archive'} ${experiment.key}?`}
                message={
                  dialog.opened.definition.archived === true ? (
                    <p>The experiment comes back to the experiments list, and can be started, resumed and changed again.</p>
                  ) : (
                    <p>
                      The experiment leaves the experiments list (Show archived lists it) and cannot be started, resumed or changed until it is unarchived. Its results are kept and
                      stay readable here; what it serves does not change (a released winner is still served).
                    </p>
                  )
                }
                confirmLabel={dialog.opened.definition.archived === true ? 'Unarchive experiment' : 'Archive experiment'}
                onCancel={() => { setDialog(null); }}
                onConfirm={() => {
                  const target = dialog.opened;
                  setDialog(null);
                  // The version the confirmation was opened at: a change since is refused (409), not overwritten unseen.
                  setArchived(target, target.definition.archived !== true);
                }}
              />
            ) : null}
            {dialog?.kind === 'resume' && opened !== undefined ? (
              <Confirm
                title={`Resume ${experiment.key}?`}
                message={
                  <>
                    {resumeWarned === null ? null : (
                      <p className="banner banner-warn" role="alert">
                        {resumeWarned}
                      </p>
                    )}
                    <p>
                      Units are assigned again as before (same variations) and results continue from the units already exposed.
                      {opened.decision === undefined ? '' : ` The decision (${opened.decision}${opened.winner === undefined ? '' : `, ${opened.winner}`}) is cleared`}
                      {opened.releaseWinner ? ' and the winner is no longer served to everyone.' : opened.decision === undefined ? '' : '.'}
                    </p>
                  </>
                }
                confirmLabel="Resume experiment"
                onCancel={() => { setDialog(null); }}
                onConfirm={() => {
                  setDialog(null);
                  // The version the confirmation described: a change since is refused (409), not resumed unseen.
                  lifecycleAction(client.resumeExperiment(project, dialog.opened.key, dialog.opened.version));
                }}
              />
            ) : null}
          </>
        );
      }}
    </AsyncView>
  );
}

/**
 * The first-exposure window of two typed days, both inclusive, in `timeZone` (the browser's, as every
 * time in the console, unless a shared link pins the zone its days were chosen in): `from` is the
 * first day's midnight there, `to` the midnight that ends the last one, both sent as UTC instants.
 * A window that ends before it starts is not applied, and says why.
 */
export function exposureWindow(fromDay: string, toDay: string, timeZone: string = localTimeZone()): { readonly from?: string; readonly to?: string; readonly problem?: string } {
  const start = fromDay === '' ? undefined : startOfDay(fromDay, timeZone);
  const end = toDay === '' ? undefined : startOfDay(nextDay(toDay), timeZone);
  if ((start !== undefined && Number.isNaN(start)) || (end !== undefined && Number.isNaN(end))) {
    return { problem: 'Enter the days as dates.' };
  }
  if (start !== undefined && end !== undefined && end <= start) {
    return { problem: `The window ends (${toDay}) before it starts (${fromDay}): the dates are not applied.` };
  }
  return { ...(start === undefined ? {} : { from: new Date(start).toISOString() }), ...(end === undefined ? {} : { to: new Date(end).toISOString() }) };
}

/** A part of a file name: letters, digits, ".", "_" and "-" only, at most 60 characters; a part that had to change gets a short hash, so different values keep different names. */
function fileNamePart(value: string): string {
  const safe = value.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+|[._-]+$/g, '').slice(0, 60);
  if (safe === value && safe !== '') {
    return safe;
  }
  // FNV-1a over the UTF-16 code units: short, stable, not cryptographic.
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    hash = Math.imul(hash ^ value.charCodeAt(i), 0x01000193) >>> 0;
  }
  return `${safe === '' ? 'value' : safe}-${hash.toString(16).padStart(8, '0').slice(0, 6)}`;
}

/**
 * The name of a results CSV, saying which filters it was exported with, so that a filtered file
 * cannot be taken for the unfiltered one: `checkout-production-results.csv`, or
 * `checkout-production-results-segment-us-users-plan-pro-2026-11-01_2026-11-30.csv` (the segment, the
 * dimension and its value, the first and last exposure days; `from-…` or `through-…` for one alone).
 * Every part is made safe for file systems.
 */
export function resultsFileName(
  experiment: string,
  environment: string,
  filters: { readonly segment?: string; readonly attribute?: readonly [string, string]; readonly fromDay?: string; readonly toDay?: string; readonly phase?: ResultsPhase } = {},
): string {
  const parts = [fileNamePart(experiment), fileNamePart(environment), 'results'];
  if (filters.segment !== undefined && filters.segment !== '') {
    parts.push('segment', fileNamePart(filters.segment));
  }
  if (filters.attribute !== undefined) {
    parts.push(fileNamePart(filters.attribute[0]), fileNamePart(filters.attribute[1]));
  }
  const from = filters.fromDay === undefined || filters.fromDay === '' ? undefined : fileNamePart(filters.fromDay);
  const to = filters.toDay === undefined || filters.toDay === '' ? undefined : fileNamePart(filters.toDay);
  if (from !== undefined && to !== undefined) {
    parts.push(`${from}_${to}`);
  } else if (from !== undefined) {
    parts.push('from', from);
  } else if (to !== undefined) {
    parts.push('through', to);
  }
  // A split phase other than the API's default (given only then): `phase-1` (1-based, as the console shows it), `all-phases`, `stratified-phases`, `current-phase` (of a bandit).
  if (filters.phase === 'all') {
    parts.push('all-phases');
  } else if (filters.phase === 'stratified') {
    parts.push('stratified-phases');
  } else if (filters.phase === 'current') {
    parts.push('current-phase');
  } else if (typeof filters.phase === 'number') {
    parts.push('phase', String(filters.phase + 1));
  }
  return `${parts.join('-')}.csv`;
}

/**
 * The results filters a URL carries (`#/experiments/checkout?segment=beta&attr.plan=pro&from=2026-11-01&to=2026-11-30&tz=America%2FNew_York`),
 * so a reload or a shared link shows the same subset. The days are calendar days of `timeZone`, the
 * zone they were chosen in: without it a viewer in Kolkata would read "Dec 4" as other instants than
 * the New York analyst who shared it, and see other units.
 */
export interface ResultsFilters {
  readonly segment: string;
  readonly dimension: string;
  readonly value: string;
  readonly fromDay: string;
  readonly toDay: string;
  /** The IANA zone of the days; empty when the URL names none (a link from before zones were pinned: the viewer's own zone). */
  readonly timeZone: string;
}

const NO_FILTERS: ResultsFilters = { segment: '', dimension: '', value: '', fromDay: '', toDay: '', timeZone: '' };

/** The filters in the query of a hash (#/experiments/checkout?segment=beta&attr.plan=pro&from=…&to=…&tz=…); missing ones, and a zone the browser does not know, are empty. */
export function filtersFromHash(hash: string = window.location.hash): ResultsFilters {
  const q = hashQuery(hash);
  const attr = [...q.keys()].find((k) => k.startsWith('attr.') && k.length > 'attr.'.length);
  const day = (v: string | null): string => (v !== null && /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : '');
  const tz = q.get('tz');
  return {
    segment: q.get('segment') ?? '',
    dimension: attr === undefined ? '' : attr.slice('attr.'.length),
    value: attr === undefined ? '' : (q.get(attr) ?? ''),
    fromDay: day(q.get('from')),
    toDay: day(q.get('to')),
    timeZone: tz === null || knownTimeZone(tz) === undefined ? '' : tz,
  };
}

/** The hash of an experiment's page with its applied filters in the query (none: the plain route). */
export function filtersHash(experimentKey: string, f: ResultsFilters): string {
  const q = new URLSearchParams();
  if (f.segment !== '') {
    q.set('segment', f.segment);
  }
  if (f.dimension !== '' && f.value !== '') {
    q.set(`attr.${f.dimension}`, f.value);
  }
  if (f.fromDay !== '') {
    q.set('from', f.fromDay);
  }
  if (f.toDay !== '') {
    q.set('to', f.toDay);
  }
  if ((f.fromDay !== '' || f.toDay !== '') && f.timeZone !== '') {
    q.set('tz', f.timeZone);
  }
  const query = q.toString();
  return routeHash({ screen: 'experiment', key: experimentKey }) + (query === '' ? '' : `?${query}`);
}

/** The days of an exposure window in words: "from 2026-11-01 through 2026-11-30", "on or after 2026-11-01". */
function daysText(fromDay: string, toDay: string): string {
  if (fromDay !== '' && toDay !== '') {
    return fromDay === toDay ? `on ${fromDay}` : `from ${fromDay} through ${toDay}`;
  }
  return fromDay !== '' ? `on or after ${fromDay}` : `on or before ${toDay}`;
}

/** The split phase a select option stands for: current, all, stratified, or an index. */
function phaseOfOption(value: string): ResultsPhase {
  return value === 'current' || value === 'all' || value === 'stratified' ? value : Number(value);
}

/** The phase the API analyses when none is asked for: every phase stratified for a bandit (its split moves by design), else the current one. */
export function defaultPhase(experiment: Pick<Experiment, 'bandit'>): ResultsPhase {
  return experiment.bandit === undefined ? 'current' : 'stratified';
}

/** "Phase 1: until 21 Nov 2026, 12:00", "Phase 2: 21 Nov 2026, 12:00 – 23 Nov 2026, 08:30": an earlier phase (0-based index) among the split changes. */
function phaseOptionText(index: number, changes: readonly { readonly until: string }[]): string {
  const end = formatTime(changes[index]?.until);
  return index === 0 ? `Phase 1: until ${end}` : `Phase ${index + 1}: ${formatTime(changes[index - 1]?.until)} – ${end}`;
}

/**
 * Which split phase the results analysed, as the API reports it (`filters.phase`), and, when the
 * analysed units pool periods with different splits, that the effects may be confounded.
 */
export function PhaseNote({ results, changes }: { results: ExperimentResultsView; changes: readonly { readonly until: string }[] }): ReactNode {
  const phase = results.filters?.phase;
  const pooledWarning = results.warnings?.find((w) => w.code === 'SPLIT_PERIODS_POOLED');
  // The results view shows the data-quality warnings itself (by metric, unit ids, the SRM banner).
  // The stratified note says which phases it left out, in place of their warning.
  const droppedSaid = phase?.stratified !== undefined && phase.stratified.droppedPhases !== null;
  const others = (results.warnings ?? []).filter((w) => w !== pooledWarning && !shownInResultsView(w) && !(droppedSaid && w.code === 'STRATIFIED_PHASES_DROPPED'));
  if (phase === undefined || phase.count < 2) {
    return others.length === 0 ? null : <WarningList warnings={others} />;
  }
  let text: string;
  if (phase.index === null && phase.stratified !== undefined) {
    const s = phase.stratified;
    const dropped =
      s.droppedPhases === null || s.droppedPhases === 0
        ? ''
        : ` ${s.droppedPhases === 1 ? 'One phase was' : `${s.droppedPhases} phases were`} left out, since some variation had fewer than 2 units in ${s.droppedPhases === 1 ? 'it' : 'them'}${s.droppedUnits === null ? '' : ` (${formatCount(s.droppedUnits)} units)`}.`;
    text =
      `Results of ${s.phases === phase.count ? `all ${phase.count}` : `${s.phases} of the ${phase.count}`} split phases, stratified: each variation is compared within each phase (under one split), and the ` +
      `estimates are combined weighted by each phase's units, so the moves of the split do not bias the effects (pooling the phases could).${dropped}`;
  } else if (phase.index === null) {
    text = `Results of all ${phase.count} split phases (pooled).`;
  } else if (phase.index === 0) {
    text = `Results before the split first changed on ${formatTime(changes[0]?.until ?? phase.to)} (phase 1 of ${phase.count}).`;
  } else if (phase.index === phase.count - 1) {
    text = `Results since the split changed on ${formatTime(phase.splitChangedAt)} (phase ${phase.index + 1} of ${phase.count}).`;
  } else {
    text = `Results from the split change on ${formatTime(phase.splitChangedAt)} until the next on ${formatTime(changes[phase.index]?.until ?? phase.to)} (phase ${phase.index + 1} of ${phase.count}).`;
  }
  return (
    <>
      <p className="small muted" role="status" aria-label="Split phase">
        {text}
        {phase.index === null
          ? null
          : ' Units first exposed in the partial hour after a change are left out, so that every unit counted was assigned under this split.'}
      </p>
      {phase.pooled || pooledWarning !== undefined ? (
        <div className="banner banner-warn" role="alert" aria-label="Pooled split phases">
          <strong>Effects may be confounded:</strong> the analysed units were exposed under different splits, and pooling them can make a variation look better or worse
          than it is in every period (Simpson&apos;s paradox) when the metrics drift over time. Choose one split phase for unconfounded effects.
        </div>
      ) : null}
      {others.length === 0 ? null : <WarningList warnings={others} />}
    </>
  );
}

function WarningList({ warnings }: { warnings: readonly { readonly code: string; readonly message: string }[] }): ReactNode {
  return (
    <ul className="banner banner-warn" aria-label="Results warnings">
      {warnings.map((w, i) => (
        <li key={`${w.code}-${String(i)}`}>{w.message}</li>
      ))}
    </ul>
  );
}

/** Says which filters narrow the results, with their units, and clears them in one click. */
function FilterBanner({ parts, units, unit, onClear }: { parts: readonly string[]; units: number | undefined; unit: string | undefined; onClear: () => void }): ReactNode {
  return (
    <div className="banner banner-info filter-banner" role="status" aria-label="Results filter">
      <span>
        <strong>Filtered:</strong> {parts.join(' · ')}
        {units === undefined ? null : ` · ${formatCount(units)} unit${units === 1 ? '' : 's'}${unit === undefined ? '' : ` (${unit})`}`}. Every figure below covers only these units.
      </span>{' '}
      <button type="button" onClick={onClear}>
        Clear filter
      </button>
    </div>
  );
}

function ResultsPanel({ experiment, environments, segments, onAnalysis }: { experiment: Stored<Experiment>; environments: readonly string[]; segments: readonly string[]; onAnalysis?: (analysis: Analysis) => void }): ReactNode {
  const { client, project, environment: sessionEnv, environments: known, refreshTick } = useSession();
  const [environment, setEnvironment] = useState(environments.includes(sessionEnv) ? sessionEnv : (environments[0] ?? sessionEnv));
  // What one unit is, from the definition the page has (undefined for the user, `id`): named wherever units are counted.
  const unit = unitText(experiment.definition);
  // The test and CUPED follow the experiment's analysis plan (as saved now) until chosen here.
  const [sequentialChoice, setSequential] = useState<boolean | undefined>(undefined);
  const [cupedChoice, setCuped] = useState<boolean | undefined>(undefined);
  const planned = appliedAnalysisPlan(experiment.definition.analysis);
  const sequential = sequentialChoice ?? planned.sequential;
  const cuped = cupedChoice ?? planned.cuped;
  /** The filters the page opened with, from its URL (a reload or a shared link). */
  const [initial] = useState(() => filtersFromHash());
  const [segment, setSegment] = useState(initial.segment);
  const dimensions = experiment.definition.dimensions ?? [];
  const [dimension, setDimension] = useState(initial.value === '' ? '' : initial.dimension);
  /** The value the results are filtered by (applied on Enter or when the field loses focus), and the one being typed. */
  const [dimensionValue, setDimensionValue] = useState(initial.value === '' ? '' : initial.value);
  const [dimensionDraft, setDimensionDraft] = useState(initial.value);
  // A dimension taken off the experiment (Dimensions…) while chosen here is no longer asked for.
  if (dimension !== '' && !dimensions.includes(dimension)) {
    setDimension('');
    setDimensionValue('');
    setDimensionDraft('');
  }
  /** First-exposure dates (days of `daysZone`, inclusive), as typed: either may be empty. */
  const [fromDay, setFromDay] = useState(initial.fromDay);
  const [toDay, setToDay] = useState(initial.toDay);
  const zone = localTimeZone();
  /**
   * The zone of the days: the one a shared link pins (so every viewer asks for the same instants),
   * else the browser's. It goes into the URL with the days, and stays until the dates are cleared.
   */
  const [daysZone, setDaysZone] = useState(initial.timeZone === '' ? zone : initial.timeZone);
  /** Said after the days when they are not of the viewer's own zone: " (America/New_York)" (an alias of it, Asia/Calcutta for Asia/Kolkata, is the same zone). */
  const zoneNote = knownTimeZone(daysZone) === knownTimeZone(zone) ? '' : ` (${daysZone})`;
  const daysZoneText = zoneNote === '' ? `your time zone (${zone})` : `the link's time zone (${daysZone}), not yours (${zone})`;
  const exposed = exposureWindow(fromDay, toDay, daysZone);
  const [seriesInterval, setSeriesInterval] = useState<SeriesInterval>(() => defaultInterval(experiment.definition.startedAt));
  const [metric, setMetric] = useState<string | undefined>(undefined);
  const [csvError, setCsvError] = useState<unknown>(null);
  /** The split phase analysed when the split moved while running: the current one (the API's default) unless chosen. */
  const splitChanges = experiment.definition.splitHistory ?? [];
  const serverPhase = defaultPhase(experiment.definition);
  const [phase, setPhase] = useState<ResultsPhase>(serverPhase);
  // The dimension filters only once it has a value: choosing one alone does not ask for the same results again.
  const filterBy = dimensionValue === '' ? '' : dimension;
  const query = useMemo(
    () => ({
      environment,
      sequential,
      cuped,
      interval: seriesInterval,
      ...(segment === '' ? {} : { segment }),
      ...(filterBy === '' ? {} : { attributes: { [filterBy]: dimensionValue } }),
      ...(exposed.from === undefined ? {} : { from: exposed.from }),
      ...(exposed.to === undefined ? {} : { to: exposed.to }),
      // Asked for only when not the default, so that servers older than split phases still answer.
      ...(splitChanges.length === 0 || phase === serverPhase ? {} : { phase }),
    }),
    [environment, sequential, cuped, seriesInterval, segment, filterBy, dimensionValue, exposed.from, exposed.to, splitChanges.length, phase, serverPhase],
  );
  const { state, reload } = useAsync(() => client.resultsDetail(project, experiment.key, query), [client, project, experiment.key, query], { pollMs: 10_000, refreshKey: refreshTick });
  // A dimension chosen without a value: every value side by side (from the dimension's rollups), with
  // the page's segment and exposure dates (its only attribute filter is the dimension's value, absent here).
  const breakdownQuery = useMemo(
    () =>
      dimension === '' || dimensionValue !== ''
        ? null
        : {
            environment,
            sequential,
            cuped,
            dimension,
            ...(segment === '' ? {} : { segment }),
            ...(exposed.from === undefined ? {} : { from: exposed.from }),
            ...(exposed.to === undefined ? {} : { to: exposed.to }),
            ...(splitChanges.length === 0 || phase === serverPhase ? {} : { phase }),
          },
    [environment, sequential, cuped, dimension, dimensionValue, segment, exposed.from, exposed.to, splitChanges.length, phase, serverPhase],
  );
  const breakdown = useAsync(
    () => (breakdownQuery === null ? Promise.resolve(null) : client.resultsBreakdown(project, experiment.key, breakdownQuery)),
    [client, project, experiment.key, breakdownQuery],
    { pollMs: 30_000, refreshKey: refreshTick },
  );
  // The applied filters go into the URL (without a new history entry), so a reload keeps them.
  const appliedFrom = exposed.from === undefined ? '' : fromDay;
  const appliedTo = exposed.to === undefined ? '' : toDay;
  useEffect(() => {
    const current = window.location.hash;
    // Only while this page is shown: another screen's URL is not ours to change.
    if (!current.startsWith(routeHash({ screen: 'experiment', key: experiment.key }))) {
      return;
    }
    const next = filtersHash(experiment.key, { segment, dimension: filterBy, value: dimensionValue, fromDay: appliedFrom, toDay: appliedTo, timeZone: daysZone });
    if (next !== current) {
      window.history.replaceState(window.history.state, '', next);
    }
  }, [experiment.key, segment, filterBy, dimensionValue, appliedFrom, appliedTo, daysZone]);
  const filterParts = [
    ...(segment === '' ? [] : [`segment ${segment}`]),
    ...(filterBy === '' ? [] : [`${filterBy} = ${dimensionValue}`]),
    ...(appliedFrom === '' && appliedTo === '' ? [] : [`first exposed ${daysText(appliedFrom, appliedTo)}${zoneNote}`]),
  ];
  /** Sets a day of the window; with both days empty, new ones are the viewer's own again. */
  const setDay = (set: (day: string) => void, day: string, otherDay: string): void => {
    set(day);
    if (day === '' && otherDay === '') {
      setDaysZone(zone);
    }
  };
  const clearFilters = (): void => {
    setSegment(NO_FILTERS.segment);
    setDimension(NO_FILTERS.dimension);
    setDimensionValue(NO_FILTERS.value);
    setDimensionDraft(NO_FILTERS.value);
    setFromDay(NO_FILTERS.fromDay);
    setToDay(NO_FILTERS.toDay);
    setDaysZone(zone);
  };
  const chooseValue = (value: string): void => {
    setDimensionDraft(value);
    setDimensionValue(value);
  };

  useEffect(() => {
    onAnalysis?.({ environment, sequential, cuped });
  }, [onAnalysis, environment, sequential, cuped]);

  useEffect(() => {
    if (state.status === 'ready') {
      performance.mark('xp:results-rendered');
    }
  }, [state]);

  const exportCsv = async (): Promise<void> => {
    setCsvError(null);
    try {
      // With a byte order mark: the file is for spreadsheets, and Excel needs it to read UTF-8.
      const text = await client.resultsCsv(project, experiment.key, { ...query, bom: true });
      download(
        resultsFileName(experiment.key, environment, {
          segment,
          ...(filterBy === '' ? {} : { attribute: [filterBy, dimensionValue] as const }),
          ...(exposed.from === undefined ? {} : { fromDay }),
          ...(exposed.to === undefined ? {} : { toDay }),
          ...(splitChanges.length === 0 || phase === serverPhase ? {} : { phase }),
        }),
        text,
      );
    } catch (e) {
      setCsvError(e);
    }
  };

  return (
    <section aria-label="Results">
      <div className="toolbar">
        <h2 style={{ margin: 0 }}>Results</h2>
        <label className="inline">
          Environment
          <select value={environment} onChange={(e) => { setEnvironment(e.target.value); }}>
            {environments.map((e) => (
              <option key={e} value={e}>
                {known.find((k) => k.key === e)?.name ?? e}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" role="switch" checked={sequential} onChange={(e) => { setSequential(e.target.checked); }} />
          Sequential (safe to peek)
        </label>
        <label className="check" title="Variance reduction with each unit's pre-exposure data, when there is some">
          <input type="checkbox" role="switch" checked={cuped} onChange={(e) => { setCuped(e.target.checked); }} />
          CUPED
        </label>
        <label className="inline">
          Segment
          <select value={segment} onChange={(e) => { setSegment(e.target.value); }}>
            <option value="">Everyone</option>
            {segments.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        {dimensions.length === 0 ? null : (
          <>
            <label className="inline" title="Only the units whose attribute (sent with their first exposure) has this value; the experiment's dimensions are answered from their rollups">
              Dimension
              <select
                value={dimension}
                onChange={(e) => {
                  setDimension(e.target.value);
                  setDimensionValue('');
                  setDimensionDraft('');
                }}
              >
                <option value="">All units</option>
                {dimensions.map((d) => (
                  <option key={d}>{d}</option>
                ))}
              </select>
            </label>
            {dimension === '' ? null : (
              <input
                aria-label={`${dimension} equals`}
                placeholder="value, then Enter"
                size={16}
                value={dimensionDraft}
                onChange={(e) => { setDimensionDraft(e.target.value); }}
                onBlur={() => { setDimensionValue(dimensionDraft.trim()); }}
                onKeyDown={(e) => {
                  if (e.key === 'Enter') {
                    setDimensionValue(dimensionDraft.trim());
                  }
                }}
              />
            )}
          </>
        )}
        <label className="inline" title={`Only the units first exposed on or after this day, from its midnight in ${daysZoneText}`}>
          Exposed from
          <input type="date" value={fromDay} onChange={(e) => { setDay(setFromDay, e.target.value, toDay); }} />
        </label>
        <label className="inline" title={`Only the units first exposed on or before this day, until its end in ${daysZoneText}`}>
          through
          <input type="date" value={toDay} onChange={(e) => { setDay(setToDay, e.target.value, fromDay); }} />
        </label>
        <span className="small muted" title={daysZone}>
          {zoneNote === '' ? '(your time zone)' : `(days in ${daysZone}, the link's time zone)`}
        </span>
        {splitChanges.length === 0 ? null : (
          <label className="inline" title="The split moved while running: the effects are estimated within one split phase, or within each and combined (stratified), since pooling periods with different splits may confound them">
            Split phase
            <select value={String(phase)} onChange={(e) => { setPhase(phaseOfOption(e.target.value)); }}>
              <option value="current">
                Current: since {formatTime(splitChanges.at(-1)?.until)} (phase {splitChanges.length + 1} of {splitChanges.length + 1})
              </option>
              {splitChanges.map((_, i) => (
                <option key={i} value={String(i)}>
                  {phaseOptionText(i, splitChanges)}
                </option>
              ))}
              <option value="stratified">All phases, stratified (each phase compared on its own, then combined)</option>
              <option value="all">All phases (pooled; effects may be confounded)</option>
            </select>
          </label>
        )}
        <label className="inline" title="Width of the time series' buckets (hours by default for an experiment younger than three days)">
          Over time
          <select value={seriesInterval} onChange={(e) => { setSeriesInterval(e.target.value === 'day' ? 'day' : 'hour'); }}>
            <option value="hour">by hour</option>
            <option value="day">by day</option>
          </select>
        </label>
        <span className="spacer" />
        {state.status === 'ready' && state.refreshing ? <span className="small muted">refreshing…</span> : null}
        <button type="button" onClick={() => void exportCsv()}>
          Export CSV
        </button>
      </div>
      <FormError message={exposed.problem} />
      {csvError === null ? null : <p className="state-error">{errorMessage(csvError)}</p>}
      {breakdownQuery === null ? null : (
        <AsyncView state={breakdown.state} onRetry={breakdown.reload}>
          {(b) =>
            b === null ? null : (
              <BreakdownTable
                breakdown={b}
                metric={metric ?? b.values[0]?.results.metrics[0]?.key ?? ''}
                onChoose={chooseValue}
                unit={unit}
              />
            )
          }
        </AsyncView>
      )}
      {filterParts.length === 0 ? null : <FilterBanner parts={filterParts} units={state.status === 'ready' ? state.data.units.analysed : undefined} unit={unit} onClear={clearFilters} />}
      <AsyncView state={state} onRetry={reload}>
        {(results) => {
          const selected = metric ?? results.metrics[0]?.key;
          // Only dates narrow the units: none then means no exposure in those days, not a missing attribute or segment.
          const datesOnly = segment === '' && filterBy === '' && (appliedFrom !== '' || appliedTo !== '') && results.variations.every((v) => v.units === 0);
          const emptyDates = datesOnly ? `No units were first exposed ${daysText(appliedFrom, appliedTo)}${zoneNote}: no exposures fall in the chosen dates. Widen the dates to see results.` : undefined;
          return (
            <>
              <PhaseNote results={results} changes={splitChanges} />
              <ResultsView
                results={results}
                unit={unit}
                cuped={cuped}
                filtered={filterParts.length > 0}
                {...(emptyDates === undefined ? {} : { emptyText: emptyDates })}
                {...(selected === undefined ? {} : { selectedMetric: selected })}
                onSelectMetric={setMetric}
                chart={selected === undefined ? null : <CumulativeChart results={results} metric={selected} {...(emptyDates === undefined ? {} : { emptyText: 'No time series: no exposures fall in the chosen dates.' })} />}
              />
            </>
          );
        }}
      </AsyncView>
    </section>
  );
}
