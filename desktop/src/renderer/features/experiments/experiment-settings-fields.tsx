import { useId } from 'react';
import type { ReactNode } from 'react';
import { SPLIT_URL_HASH_ATTRIBUTES, appliedAnalysisPlan, attributeNameSchema } from '@xp/shared';
import type { AnalysisPlan, Experiment, Holdout, ResolvedAnalysisPlan, Segment, Stored } from '@xp/shared';
import { FieldError, fieldErrors, invalidProps } from '../../lib/field-errors.js';
import { errorMessage } from '../../lib/ui.js';
import type { AsyncState } from '../../lib/use-async.js';

/**
 * The fields the wizard's Targeting and Metrics steps and the experiment page's Settings… dialog
 * share: the guardrail action, the holdout, the namespace range and the analysis plan (docs/api.md,
 * Guardrails and Results; docs/evaluation.md). Each is optional in the API; absent stays absent.
 */

export type GuardrailAction = NonNullable<Experiment['guardrailAction']>;
type Namespace = NonNullable<Experiment['namespace']>;

/** The actions the API supports (`guardrailAction`), each with its one-line explanation. `alert` is what absent means. */
export const GUARDRAIL_ACTIONS: readonly { readonly value: GuardrailAction; readonly label: string }[] = [
  { value: 'alert', label: 'Alert only: record an alert, the experiment keeps running (default)' },
  { value: 'stop', label: 'Stop the experiment and roll back to the control' },
];

/** The action in a few words, as the experiment page's summary shows it. */
export function guardrailActionText(action: GuardrailAction | undefined): string {
  return action === 'stop' ? 'stop and roll back to the control' : 'alert only';
}

/** What a significant degradation of a guardrail metric does: select, with its explanation. `value` undefined: absent (alert). */
export function GuardrailActionField({ value, onChange }: { value: GuardrailAction | undefined; onChange: (action: GuardrailAction) => void }): ReactNode {
  const hint = useId();
  return (
    <div>
      <label>
        When a guardrail degrades
        <select value={value ?? 'alert'} aria-describedby={hint} onChange={(e) => { onChange(e.target.value as GuardrailAction); }}>
          {GUARDRAIL_ACTIONS.map((a) => (
            <option key={a.value} value={a.value}>
              {a.label}
            </option>
          ))}
        </select>
      </label>
      <p id={hint} className="small muted">
        The platform checks the guardrail metrics (this experiment&apos;s and the project-wide ones) every minute in each environment it runs in; a significant
        change in the harmful direction always records an alert. Stopping also stops the experiment with the decision “roll back”, no winner released.
      </p>
    </div>
  );
}

/** Select of the project's holdouts, with "None". `value` '' is none (the field absent). */
export function HoldoutField({ holdouts, value, onChange }: { holdouts: AsyncState<readonly Stored<Holdout>[]>; value: string; onChange: (key: string) => void }): ReactNode {
  const hint = useId();
  const listed = holdouts.status === 'ready' ? holdouts.data : [];
  const unknown = value !== '' && !listed.some((h) => h.key === value);
  return (
    <div>
      <label>
        Holdout
        <select value={value} aria-describedby={hint} onChange={(e) => { onChange(e.target.value); }}>
          <option value="">None</option>
          {listed.map((h) => (
            <option key={h.key} value={h.key}>
              {h.definition.name} ({h.key}, {percentText(h.definition.coverage)} held out)
            </option>
          ))}
          {unknown ? <option value={value}>{value}{holdouts.status === 'ready' ? ' (not found)' : ''}</option> : null}
        </select>
      </label>
      <p id={hint} className="small muted">
        Units in the holdout (a stable share of all units) are kept out of this experiment — and of every experiment naming the same holdout — so the combined effect of
        the experiments can be measured against them.
        {holdouts.status === 'loading' ? ' Loading the holdouts…' : null}
        {holdouts.status === 'error' ? ` The holdouts could not be loaded (${errorMessage(holdouts.error)}).` : null}
        {holdouts.status === 'ready' && listed.length === 0 ? ' The project has no holdouts yet (they are created through the API or the CLI).' : null}
      </p>
    </div>
  );
}

/** A namespace as the form holds it: its id and the range in percent, as typed. An empty id is no namespace. */
export interface NamespaceDraft {
  readonly id: string;
  readonly start: string;
  readonly end: string;
}

/** A fraction of the namespace as a percentage in the form's precision (hundredths): 0.3333 → "33.33". */
function percentOf(fraction: number): string {
  return String(Math.round(fraction * 10_000) / 100);
}

/** 0.2 → "20%", 0.3333 → "33.33%". */
export function percentText(fraction: number): string {
  return `${percentOf(fraction)}%`;
}

/** The form of a stored namespace (none: all empty). */
export function namespaceDraftOf(namespace: Namespace | undefined): NamespaceDraft {
  return namespace === undefined ? { id: '', start: '', end: '' } : { id: namespace.id, start: percentOf(namespace.range[0]), end: percentOf(namespace.range[1]) };
}

/** The longest namespace id the API takes. */
const MAX_NAMESPACE_ID = 128;

/** What is wrong with one end of the range, or its fraction. */
function rangeEnd(label: string, text: string): { readonly fraction?: number; readonly problem?: string } {
  if (text.trim() === '') {
    return { problem: `${label}: enter a percentage from 0 to 100.` };
  }
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 100) {
    return { problem: `${label}: ${text.trim()}% is not between 0 and 100%.` };
  }
  return { fraction: Math.round(value * 100) / 10_000 };
}

/**
 * The namespace the form gives (undefined: none, when no id is typed) and what is wrong with it, by
 * field: the id within the API's 128 characters, each end of the range from 0 to 100%, start below end.
 */
export function checkNamespace(draft: NamespaceDraft): { readonly namespace?: Namespace; readonly problems: { readonly id?: string; readonly range?: string } } {
  const id = draft.id.trim();
  if (id === '') {
    return { problems: {} };
  }
  const idProblem = id.length > MAX_NAMESPACE_ID ? `Namespace: at most ${MAX_NAMESPACE_ID} characters (this one has ${id.length}).` : undefined;
  const start = rangeEnd('Range start', draft.start);
  const end = rangeEnd('Range end', draft.end);
  let rangeProblem = [start.problem, end.problem].filter((p) => p !== undefined).join(' ') || undefined;
  if (rangeProblem === undefined && start.fraction !== undefined && end.fraction !== undefined && start.fraction >= end.fraction) {
    rangeProblem = `Range: the start (${draft.start.trim()}%) must be below the end (${draft.end.trim()}%).`;
  }
  const problems = { ...(idProblem === undefined ? {} : { id: idProblem }), ...(rangeProblem === undefined ? {} : { range: rangeProblem }) };
  if (idProblem !== undefined || rangeProblem !== undefined || start.fraction === undefined || end.fraction === undefined) {
    return { problems };
  }
  return { namespace: { id, range: [start.fraction, end.fraction] }, problems };
}

/** Whether two experiments' environment lists share one (an empty list is every environment), as the API judges an overlap. */
function shareEnvironment(a: readonly string[], b: readonly string[]): boolean {
  return a.length === 0 || b.length === 0 || a.some((env) => b.includes(env));
}

/** The parts of [0, 1) the ranges leave free, in order. */
export function freeRanges(held: readonly (readonly [number, number])[]): [number, number][] {
  const sorted = [...held].sort((a, b) => a[0] - b[0]);
  const free: [number, number][] = [];
  let at = 0;
  for (const [start, end] of sorted) {
    if (start > at) {
      free.push([at, start]);
    }
    at = Math.max(at, end);
  }
  if (at < 1) {
    free.push([at, 1]);
  }
  return free;
}

/**
 * The API's refusal of the namespace (a 400 naming `namespace` or `namespace.range`, such as the
 * overlap with running experiments: `overlaps "x" in namespace "y"`), for under the range field.
 */
export function namespaceRefusal(error: unknown): string | undefined {
  return fieldErrors(error).get('namespace');
}

/**
 * The namespace key (free text, with the namespaces the project's experiments already use to pick
 * from) and its range in percent, with the ranges the other experiments of that namespace use, the
 * parts running ones leave free, an overlap the API would refuse, and the API's refusal.
 */
export function NamespaceField({
  draft,
  onChange,
  experiments,
  self,
  environments,
  refusal,
}: {
  draft: NamespaceDraft;
  onChange: (draft: NamespaceDraft) => void;
  /** The project's experiments: their namespaces and ranges. */
  experiments: AsyncState<readonly Stored<Experiment>[]>;
  /** The experiment edited (left out of the others); none in the wizard. */
  self?: string;
  /** The environments the experiment runs in (empty: all). */
  environments: readonly string[];
  /** The API's refusal of the namespace, if any. */
  refusal?: string | undefined;
}): ReactNode {
  const ids = useId();
  const listId = `${ids}-namespaces`;
  const idError = `${ids}-id-error`;
  const rangeError = `${ids}-range-error`;
  const { namespace, problems } = checkNamespace(draft);
  const others = experiments.status === 'ready' ? experiments.data.filter((e) => e.key !== self) : [];
  const used = [...new Set(others.flatMap((e) => (e.definition.namespace === undefined ? [] : [e.definition.namespace.id])))].sort();
  const id = draft.id.trim();
  const neighbours = id === '' ? [] : others.filter((e) => e.definition.namespace?.id === id);
  const running = neighbours.filter((e) => e.definition.status === 'running');
  const clashes =
    namespace === undefined
      ? []
      : running.filter((e) => {
          const r = e.definition.namespace!.range;
          return r[0] < namespace.range[1] && namespace.range[0] < r[1] && shareEnvironment(environments, e.definition.environments);
        });
  const rangeMessage = problems.range ?? (refusal === undefined ? undefined : `The API refused this range: ${refusal}.`);
  const set = (patch: Partial<NamespaceDraft>): void => { onChange({ ...draft, ...patch }); };
  return (
    <fieldset>
      <legend>Namespace (mutually exclusive experiments)</legend>
      <label>
        Namespace
        <input value={draft.id} list={listId} placeholder="checkout-layer" {...invalidProps(idError, problems.id)} onChange={(e) => { set({ id: e.target.value }); }} />
        <datalist id={listId}>
          {used.map((u) => (
            <option key={u} value={u} />
          ))}
        </datalist>
      </label>
      <FieldError id={idError} message={problems.id} />
      <p className="small muted">
        Experiments in one namespace whose ranges do not overlap never share a unit. Leave empty for none.
        {experiments.status === 'error' ? ` The project's experiments could not be loaded (${errorMessage(experiments.error)}), so the ranges they use are not shown.` : null}
      </p>
      {id === '' ? null : (
        <>
          <div className="row">
            <label>
              Range start (%)
              <input type="number" min={0} max={100} step={0.01} value={draft.start} {...invalidProps(rangeError, rangeMessage)} onChange={(e) => { set({ start: e.target.value }); }} />
            </label>
            <label>
              Range end (%)
              <input type="number" min={0} max={100} step={0.01} value={draft.end} {...invalidProps(rangeError, rangeMessage)} onChange={(e) => { set({ end: e.target.value }); }} />
            </label>
          </div>
          <FieldError id={rangeError} message={rangeMessage} />
          {experiments.status !== 'ready' ? null : neighbours.length === 0 ? (
            <p className="small muted">No other experiment uses namespace {id}: any range is free.</p>
          ) : (
            <>
              <ul aria-label={`Ranges in namespace ${id}`} className="small">
                {neighbours.map((e) => {
                  const r = e.definition.namespace!.range;
                  const where = e.definition.environments.length === 0 ? 'all environments' : e.definition.environments.join(', ');
                  return (
                    <li key={e.key}>
                      {e.definition.name} (<code>{e.key}</code>): {percentText(r[0])}–{percentText(r[1])}, {e.definition.status}
                      {e.definition.status === 'running' ? ` in ${where}` : ' (holds no range until it runs)'}
                    </li>
                  );
                })}
              </ul>
              <p className="small muted">
                Free while the running ones run: {freeRanges(running.map((e) => e.definition.namespace!.range)).map(([a, b]) => `${percentText(a)}–${percentText(b)}`).join(', ') || 'none'}.
              </p>
            </>
          )}
          {clashes.length === 0 ? null : (
            <p className="banner banner-warn" role="status">
              This range overlaps {clashes.map((e) => `${e.key} (${percentText(e.definition.namespace!.range[0])}–${percentText(e.definition.namespace!.range[1])})`).join(', ')}, running in an
              environment this experiment runs in: the API refuses to run both with overlapping ranges. Choose a free range.
            </p>
          )}
        </>
      )}
    </fieldset>
  );
}

/** An analysis plan as the form holds it: each option shown as it applies (the default when the plan has none), α as typed. */
export interface AnalysisPlanDraft {
  readonly sequential: boolean;
  readonly alpha: string;
  readonly cuped: boolean;
  readonly correction: ResolvedAnalysisPlan['correction'];
}

/** The corrections the API takes (`analysis.correction`), each in plain words. */
const CORRECTIONS: readonly { readonly value: ResolvedAnalysisPlan['correction']; readonly label: string }[] = [
  { value: 'holm', label: 'Holm–Bonferroni: controls the chance of any false positive' },
  { value: 'bh', label: 'Benjamini–Hochberg: controls the share of false positives' },
  { value: 'none', label: 'None: each comparison on its own' },
];

/** The form of a stored plan (none: every default). */
export function analysisPlanDraftOf(plan: AnalysisPlan | undefined): AnalysisPlanDraft {
  const applied = appliedAnalysisPlan(plan);
  return { sequential: applied.sequential, alpha: String(applied.alpha), cuped: applied.cuped, correction: applied.correction };
}

/** The significance level the draft gives, or what is wrong with it: the API takes a number above 0 and below 1. */
export function checkAnalysisPlan(draft: AnalysisPlanDraft): { readonly alpha?: number; readonly problem?: string } {
  const text = draft.alpha.trim();
  const alpha = Number(text);
  if (text === '' || !Number.isFinite(alpha)) {
    return { problem: 'Significance level α: enter a number between 0 and 1, such as 0.05.' };
  }
  if (alpha <= 0 || alpha >= 1) {
    return { problem: `Significance level α: ${text} is not between 0 and 1 (both excluded); 0.05 is usual.` };
  }
  return { alpha };
}

/**
 * The plan to save: `stored` with each option the form changed from what applies now (the stored
 * value, else the default); an option left as it applies stays as stored, absent included. Undefined
 * when nothing was stored and nothing changed. `draft` must pass checkAnalysisPlan.
 */
export function analysisPlanOf(stored: AnalysisPlan | undefined, draft: AnalysisPlanDraft): AnalysisPlan | undefined {
  const applied = appliedAnalysisPlan(stored);
  const alpha = checkAnalysisPlan(draft).alpha ?? applied.alpha;
  const changed: AnalysisPlan = {
    ...(draft.sequential === applied.sequential ? {} : { sequential: draft.sequential }),
    ...(alpha === applied.alpha ? {} : { alpha }),
    ...(draft.cuped === applied.cuped ? {} : { cuped: draft.cuped }),
    ...(draft.correction === applied.correction ? {} : { correction: draft.correction }),
  };
  return stored === undefined && Object.keys(changed).length === 0 ? undefined : { ...stored, ...changed };
}

/** A multiple-comparison correction in plain words, by its code (the results' `analysis.correction`). */
export const CORRECTION_WORDS: Readonly<Record<string, string>> = { holm: 'Holm–Bonferroni correction', bh: 'Benjamini–Hochberg correction', none: 'no correction' };

/**
 * The analysis plan: the test, α, CUPED and the correction the results use unless a reader asks for
 * others, with α checked in plain words, and the API's refusal of the plan.
 */
export function AnalysisPlanField({ draft, onChange, refusal }: { draft: AnalysisPlanDraft; onChange: (draft: AnalysisPlanDraft) => void; refusal?: string | undefined }): ReactNode {
  const ids = useId();
  const alphaError = `${ids}-alpha-error`;
  const message = checkAnalysisPlan(draft).problem ?? (refusal === undefined ? undefined : `The API refused this plan: ${refusal}.`);
  const set = (patch: Partial<AnalysisPlanDraft>): void => { onChange({ ...draft, ...patch }); };
  return (
    <fieldset>
      <legend>Analysis plan</legend>
      <p className="small muted">
        How the results are analysed unless a reader asks otherwise: on the experiment page, in the CSV export and when deciding. Saved with the experiment, so
        everyone reads the same numbers; an option left as it is keeps the platform&apos;s default.
      </p>
      <div className="row">
        <label>
          Test
          <select value={draft.sequential ? 'sequential' : 'fixed'} onChange={(e) => { set({ sequential: e.target.value === 'sequential' }); }}>
            <option value="fixed">Fixed-horizon: read once, at the planned end</option>
            <option value="sequential">Sequential: safe to look at any time</option>
          </select>
        </label>
        <label>
          Significance level α
          <input type="number" min={0} max={1} step={0.005} value={draft.alpha} {...invalidProps(alphaError, message)} onChange={(e) => { set({ alpha: e.target.value }); }} />
        </label>
      </div>
      <FieldError id={alphaError} message={message} />
      <label>
        Multiple-comparison correction
        <select value={draft.correction} onChange={(e) => { set({ correction: e.target.value as AnalysisPlanDraft['correction'] }); }}>
          {CORRECTIONS.map((c) => (
            <option key={c.value} value={c.value}>
              {c.label}
            </option>
          ))}
        </select>
      </label>
      <label className="check" title="Variance reduction with each unit's pre-exposure data, when there is some">
        <input type="checkbox" checked={draft.cuped} onChange={(e) => { set({ cuped: e.target.checked }); }} />
        CUPED
      </label>
    </fieldset>
  );
}

/** The API's refusal of the analysis plan (a 400 naming `analysis` or one of its options), for under its fields. */
export function analysisPlanRefusal(error: unknown): string | undefined {
  return fieldErrors(error).get('analysis');
}

/** `definition` with `field` set to `value`, or without it when `value` is undefined. */
export function withField<T extends object, K extends keyof T>(definition: T, field: K, value: T[K] | undefined): T {
  const { [field]: _old, ...rest } = definition;
  return (value === undefined ? rest : { ...rest, [field]: value }) as T;
}

/**
 * The unit of randomisation as the form holds it: the attribute units are hashed by
 * (`hashAttribute`) and the one used for units without it (`fallbackAttribute`, '' for none), as typed.
 */
export interface UnitDraft {
  readonly attribute: string;
  readonly fallback: string;
}

/** The attribute an experiment randomises by when it names none: the user (`id`). */
export const DEFAULT_UNIT_ATTRIBUTE = 'id';

/** The form of a stored unit (a new experiment: `id`, no fallback). */
export function unitDraftOf(experiment?: Pick<Experiment, 'hashAttribute' | 'fallbackAttribute'>): UnitDraft {
  return { attribute: experiment?.hashAttribute ?? DEFAULT_UNIT_ATTRIBUTE, fallback: experiment?.fallbackAttribute ?? '' };
}

/** The unit fields the form gives, trimmed: `fallbackAttribute` absent for none. */
export interface UnitFields {
  readonly hashAttribute: string;
  readonly fallbackAttribute?: string;
}

const MAX_UNIT_ATTRIBUTE = attributeNameSchema.maxLength ?? 256;

/**
 * The unit the form gives, and what is wrong with it in plain words, as the API's schema judges it:
 * an attribute name of 1 to 256 characters, an optional fallback of at most 256, and for a split-URL
 * experiment an attribute its /r/{key} links know (the cookie's `id` or what the request says).
 */
export function checkUnit(draft: UnitDraft, type: Experiment['type'] = 'ab'): { readonly unit?: UnitFields; readonly problems: { readonly attribute?: string; readonly fallback?: string } } {
  const attribute = draft.attribute.trim();
  const fallback = draft.fallback.trim();
  let attributeProblem: string | undefined;
  if (attribute === '') {
    attributeProblem = `Unit (randomise by): enter the attribute that identifies a unit, such as ${DEFAULT_UNIT_ATTRIBUTE} (each user) or accountId (each account).`;
  } else if (attribute.length > MAX_UNIT_ATTRIBUTE) {
    attributeProblem = `Unit (randomise by): at most ${MAX_UNIT_ATTRIBUTE} characters (this one has ${attribute.length.toLocaleString('en-US')}).`;
  } else if (type === 'split-url' && !SPLIT_URL_HASH_ATTRIBUTES.includes(attribute) && (fallback === '' || !SPLIT_URL_HASH_ATTRIBUTES.includes(fallback))) {
    attributeProblem = `Unit (randomise by): a split-URL experiment's links know a visitor only by the cookie's "${DEFAULT_UNIT_ATTRIBUTE}" and what the request says, never by "${attribute}"; use ${DEFAULT_UNIT_ATTRIBUTE}.`;
  }
  const fallbackProblem = fallback.length > MAX_UNIT_ATTRIBUTE ? `Fallback attribute: at most ${MAX_UNIT_ATTRIBUTE} characters (this one has ${fallback.length.toLocaleString('en-US')}).` : undefined;
  const problems = { ...(attributeProblem === undefined ? {} : { attribute: attributeProblem }), ...(fallbackProblem === undefined ? {} : { fallback: fallbackProblem }) };
  if (attributeProblem !== undefined || fallbackProblem !== undefined) {
    return { problems };
  }
  return { unit: { hashAttribute: attribute, ...(fallback === '' ? {} : { fallbackAttribute: fallback }) }, problems };
}

/** The API's refusal of the unit (a 400 naming `hashAttribute` or `fallbackAttribute`), for under each field. */
export function unitRefusal(error: unknown): { readonly attribute?: string; readonly fallback?: string } {
  const errors = fieldErrors(error);
  const attribute = errors.get('hashAttribute');
  const fallback = errors.get('fallbackAttribute');
  return { ...(attribute === undefined ? {} : { attribute }), ...(fallback === undefined ? {} : { fallback }) };
}

/**
 * The attribute names the project already randomises or lists units by, to suggest: `id`, its
 * experiments' units and fallbacks, its holdouts' and its id lists' attributes.
 */
export function knownUnitAttributes(sources: {
  readonly experiments?: readonly Stored<Experiment>[];
  readonly holdouts?: readonly Stored<Holdout>[];
  readonly segments?: readonly Stored<Segment>[];
}): string[] {
  const names = new Set<string>([DEFAULT_UNIT_ATTRIBUTE]);
  for (const e of sources.experiments ?? []) {
    names.add(e.definition.hashAttribute);
    if (e.definition.fallbackAttribute !== undefined) {
      names.add(e.definition.fallbackAttribute);
    }
  }
  for (const h of sources.holdouts ?? []) {
    names.add(h.definition.hashAttribute);
  }
  for (const s of sources.segments ?? []) {
    if (s.definition.type === 'ids') {
      names.add(s.definition.attribute);
    }
  }
  return [...names].sort((a, b) => (a === DEFAULT_UNIT_ATTRIBUTE ? -1 : b === DEFAULT_UNIT_ATTRIBUTE ? 1 : a.localeCompare(b)));
}

/**
 * The unit in a few words for where units are counted: undefined for the default (`id`, no
 * fallback), whose wording stays "units"; else the attribute, with its fallback ("accountId or deviceId").
 */
export function unitText(unit: { readonly hashAttribute: string; readonly fallbackAttribute?: string | undefined }): string | undefined {
  if (unit.hashAttribute === DEFAULT_UNIT_ATTRIBUTE && unit.fallbackAttribute === undefined) {
    return undefined;
  }
  return unit.fallbackAttribute === undefined ? unit.hashAttribute : `${unit.hashAttribute} or ${unit.fallbackAttribute}`;
}

/**
 * The unit of randomisation: the attribute (free text, with the project's known attribute names to
 * pick from) and an optional fallback, with a warning when a fallback is set, what a holdout or
 * namespace requires of it, problems in plain words and the API's refusal under each field.
 * `locked`: why it cannot change (the experiment has started); the fields are then read-only.
 */
export function UnitField({
  draft,
  onChange,
  type = 'ab',
  suggestions,
  locked,
  holdout,
  namespace,
  experiments = [],
  self,
  refusal = {},
}: {
  draft: UnitDraft;
  onChange: (draft: UnitDraft) => void;
  type?: Experiment['type'];
  /** Attribute names to suggest (knownUnitAttributes). */
  suggestions: readonly string[];
  locked?: string | undefined;
  /** The holdout the experiment names ('' none), and the project's holdouts when loaded. */
  holdout?: { readonly key: string; readonly holdouts: readonly Stored<Holdout>[] } | undefined;
  /** The namespace id the experiment names ('' none). */
  namespace?: string | undefined;
  /** The project's experiments, for the running ones of the namespace. */
  experiments?: readonly Stored<Experiment>[];
  /** The experiment edited (left out of the namespace's others); none in the wizard. */
  self?: string | undefined;
  refusal?: { readonly attribute?: string; readonly fallback?: string };
}): ReactNode {
  const ids = useId();
  const listId = `${ids}-attributes`;
  const hint = `${ids}-hint`;
  const attributeError = `${ids}-attribute-error`;
  const fallbackError = `${ids}-fallback-error`;
  const { problems } = checkUnit(draft, type);
  const attributeMessage = locked === undefined ? (problems.attribute ?? (refusal.attribute === undefined ? undefined : `The API refused this unit: ${refusal.attribute}.`)) : undefined;
  const fallbackMessage = locked === undefined ? (problems.fallback ?? (refusal.fallback === undefined ? undefined : `The API refused this fallback: ${refusal.fallback}.`)) : undefined;
  const attribute = draft.attribute.trim();
  const fallback = draft.fallback.trim();
  const holdoutKey = holdout?.key ?? '';
  const namespaceId = (namespace ?? '').trim();
  const chosenHoldout = holdoutKey === '' ? undefined : holdout?.holdouts.find((h) => h.key === holdoutKey);
  const holdoutClash = chosenHoldout !== undefined && attribute !== '' && chosenHoldout.definition.hashAttribute !== attribute ? chosenHoldout : undefined;
  const namespaceClashes =
    namespaceId === '' || attribute === ''
      ? []
      : experiments.filter(
          (e) =>
            e.key !== self &&
            e.definition.status === 'running' &&
            e.definition.namespace?.id === namespaceId &&
            (e.definition.hashAttribute !== attribute || (e.definition.fallbackAttribute !== undefined && fallback !== '' && e.definition.fallbackAttribute !== fallback)),
        );
  const set = (patch: Partial<UnitDraft>): void => { onChange({ ...draft, ...patch }); };
  const describedBy = (error: string, message: string | undefined): { 'aria-invalid'?: true; 'aria-describedby': string } =>
    message === undefined ? { 'aria-describedby': hint } : { 'aria-invalid': true, 'aria-describedby': `${error} ${hint}` };
  return (
    <fieldset>
      <legend>Unit of randomisation</legend>
      <div className="row">
        <label>
          Unit (randomise by)
          <input value={draft.attribute} list={listId} placeholder={DEFAULT_UNIT_ATTRIBUTE} readOnly={locked !== undefined} {...describedBy(attributeError, attributeMessage)} onChange={(e) => { set({ attribute: e.target.value }); }} />
          <datalist id={listId}>
            {suggestions.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        </label>
        <label>
          Fallback attribute
          <input value={draft.fallback} list={listId} placeholder={locked === undefined ? 'none (recommended)' : 'none'} readOnly={locked !== undefined} {...describedBy(fallbackError, fallbackMessage)} onChange={(e) => { set({ fallback: e.target.value }); }} />
        </label>
      </div>
      <FieldError id={attributeError} message={attributeMessage} />
      <FieldError id={fallbackError} message={fallbackMessage} />
      <p id={hint} className="small muted">
        {locked ?? (
          <>
            The attribute SDKs send that identifies one unit: {DEFAULT_UNIT_ATTRIBUTE} gives each user their variation, accountId (for example) gives every user of an account
            the same one, and the results then count accounts. Fixed once the experiment starts.
          </>
        )}
        {holdoutKey !== '' || namespaceId !== ''
          ? ` ${holdoutKey !== '' && namespaceId !== '' ? 'Its holdout and the other experiments of its namespace' : holdoutKey !== '' ? 'Its holdout' : 'The other experiments of its namespace'} must randomise by the same attribute: the API refuses a mismatch.`
          : null}
      </p>
      {fallback === '' ? null : (
        <p className="banner banner-warn" role="note" aria-label="Fallback attribute set">
          With a fallback, a unit is a value of either attribute: events without {attribute === '' ? 'the unit attribute' : attribute} count under {fallback}, so one visitor can count as two units (say a user and an
          account), possibly in both variations. For an account experiment, prefer no fallback.
        </p>
      )}
      {holdoutClash === undefined ? null : (
        <p className="banner banner-warn" role="note" aria-label="Holdout randomises by another attribute">
          Holdout {holdoutClash.key} holds out units by {holdoutClash.definition.hashAttribute}, this experiment randomises by {attribute}: the API refuses this. Choose a holdout by {attribute}, or no holdout.
        </p>
      )}
      {namespaceClashes.length === 0 ? null : (
        <p className="banner banner-warn" role="note" aria-label="Namespace randomises by another attribute">
          Namespace {namespaceId} has running experiments that randomise by another attribute ({namespaceClashes.map((e) => `${e.key} by ${unitText(e.definition) ?? DEFAULT_UNIT_ATTRIBUTE}`).join(', ')}): one namespace keeps
          units apart only within one attribute, and the API refuses to run both. Choose another namespace.
        </p>
      )}
    </fieldset>
  );
}
