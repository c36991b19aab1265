import { useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError, metricSchema } from '@xp/shared';
import type { Metric, Stored } from '@xp/shared';
import { FormActions, useDefinitionForm, useDefinitionList } from '../../lib/definition-crud.js';
import { FieldError, FormErrorNote, invalidProps, validationIssues } from '../../lib/field-errors.js';
import { commaList, formatNumber } from '../../lib/format.js';
import { plainApiMessage, plainFieldIssues } from '../../lib/plain-issues.js';
import type { SchemaIssue } from '../../lib/plain-issues.js';
import { allowanceProps, usePermission } from '../../lib/permissions.js';
import { AsyncView, Badge, Confirm, Dialog, Empty, ErrorNote, RowActions } from '../../lib/ui.js';
import { EventFilterFields } from './event-filter-fields.js';
import { DECIMAL, builtFilter, filterDraftOf, filterText, rowOfIssue, splitIssuePath } from './event-filter.js';
import type { FilterControl, FilterDraft } from './event-filter.js';

type Aggregate = NonNullable<Metric['numerator']>;
type Side = 'numerator' | 'denominator';
type CappingType = NonNullable<Metric['capping']>['type'];

/** One side of a ratio as typed. */
interface SideDraft {
  event: string;
  aggregation: Aggregate['aggregation'];
  property: string;
  where: FilterDraft;
}

interface Draft {
  key: string;
  name: string;
  description: string;
  type: Metric['type'];
  event: string;
  property: string;
  where: FilterDraft;
  numerator: SideDraft;
  denominator: SideDraft;
  /** '' for no capping. */
  cappingType: CappingType | '';
  /** Numbers as typed: empty is "not set". */
  cappingValue: string;
  windowHours: string;
  delayHours: string;
  /** Comma-separated. */
  tags: string;
  higherIsBetter: boolean;
  guardrail: boolean;
}

const sideDraftOf = (a: Aggregate | undefined): SideDraft => ({ event: a?.event ?? '', aggregation: a?.aggregation ?? 'count', property: a?.property ?? '', where: filterDraftOf(a?.where) });
const numberText = (n: number | undefined): string => (n === undefined ? '' : String(n));

function draftOf(m: Stored<Metric> | undefined): Draft {
  const d: Partial<Metric> = m?.definition ?? {};
  return {
    key: m?.key ?? '',
    name: d.name ?? '',
    description: d.description ?? '',
    type: d.type ?? 'conversion',
    event: d.event ?? '',
    property: d.property ?? '',
    where: filterDraftOf(d.where),
    numerator: sideDraftOf(d.numerator),
    denominator: sideDraftOf(d.denominator),
    cappingType: d.capping?.type ?? '',
    cappingValue: numberText(d.capping?.value),
    windowHours: numberText(d.windowHours),
    delayHours: numberText(d.delayHours),
    tags: (d.tags ?? []).join(', '),
    higherIsBetter: d.higherIsBetter ?? true,
    guardrail: d.guardrail ?? false,
  };
}

/** The form's fields: the definition's top-level fields, and each input of a ratio's sides (a filter as a whole among them). */
type FormField = 'key' | 'name' | 'description' | 'event' | 'property' | 'where' | `${Side}.${keyof SideDraft}` | 'capping' | 'windowHours' | 'delayHours' | 'tags';

/** Where a filter sits: the metric's own, or a ratio side's. */
type FilterScope = 'where' | `${Side}.where`;

/** A control of a filter's row: "numerator.where.1.value" is the value of the numerator's second filter. */
type FilterField = `${FilterScope}.${number}.${FilterControl}`;

const FILTER_CONTROLS: readonly FilterControl[] = ['property', 'operator', 'value', 'valueType'];

const filterField = (scope: FilterScope, index: number, control: FilterControl): FilterField => `${scope}.${index}.${control}`;

const filterOf = (d: Draft, scope: FilterScope): FilterDraft => (scope === 'where' ? d.where : d[scope === 'numerator.where' ? 'numerator' : 'denominator'].where);

/** The filters the draft's type shows. */
const scopesOf = (d: Draft): FilterScope[] => (d.type === 'ratio' ? ['numerator.where', 'denominator.where'] : ['where']);

/** The name of a filter's row in its messages: "Filter 2", "Numerator filter 2" ("… property" for its property). */
function filterLabels(d: Draft): Record<FilterField, string> {
  const out: Record<string, string> = {};
  for (const scope of scopesOf(d)) {
    const prefix = scope === 'where' ? 'Filter' : `${scope === 'numerator.where' ? 'Numerator' : 'Denominator'} filter`;
    filterOf(d, scope).rows.forEach((_, i) => {
      for (const control of FILTER_CONTROLS) {
        out[filterField(scope, i, control)] = control === 'property' ? `${prefix} ${i + 1} property` : `${prefix} ${i + 1}`;
      }
    });
  }
  return out;
}

/** The labels of the form's fields (the capping value's depends on its kind). */
function labelsOf(d: Draft): Record<FormField, string> {
  const side = (s: Side, title: string) => ({ [`${s}.event`]: `${title} event`, [`${s}.aggregation`]: `${title} aggregation`, [`${s}.property`]: `${title} property`, [`${s}.where`]: `${title} filters` }) as Record<`${Side}.${keyof SideDraft}`, string>;
  return {
    key: 'Key',
    name: 'Name',
    description: 'Description',
    event: 'Event',
    property: 'Property',
    where: 'Filters',
    ...side('numerator', 'Numerator'),
    ...side('denominator', 'Denominator'),
    capping: d.cappingType === 'percentile' ? 'Percentile' : 'Cap at',
    windowHours: 'Window (hours)',
    delayHours: 'Delay (hours)',
    tags: 'Tags',
  };
}

/** A number field's value: undefined when empty ("not set"), or the plain-words problem with what was typed. */
function parseNumber(label: string, text: string): { value?: number; problem?: string } {
  const t = text.trim();
  if (t === '') {
    return {};
  }
  return DECIMAL.test(t) ? { value: Number(t) } : { problem: `${label}: "${t}" is not a number` };
}

/** What the form sends and the problems found before the schema is asked: numbers that are not numbers, filter rows that say nothing. */
interface Built {
  readonly definition: Record<string, unknown>;
  readonly problems: ReadonlyMap<FormField | FilterField, string>;
  /** The fields shown for the draft's type (the others are neither shown nor sent). */
  readonly shown: readonly (FormField | FilterField)[];
}

/** A filter's `where` (set on `out` when there is one), its rows' problems and shown fields. */
function addFilter(d: Draft, scope: FilterScope, out: Record<string, unknown>, problems: Map<FormField | FilterField, string>, shown: (FormField | FilterField)[]): void {
  const filter = filterOf(d, scope);
  const labels = filterLabels(d);
  const { where, problems: rowProblems } = builtFilter(filter);
  shown.push(scope, ...filter.rows.flatMap((_, i) => FILTER_CONTROLS.map((c) => filterField(scope, i, c))));
  for (const [i, { control, message }] of rowProblems) {
    const field = filterField(scope, i, control);
    problems.set(field, `${labels[filterField(scope, i, 'value')]}: ${message}`);
  }
  if (where !== undefined) {
    out.where = where;
  }
}

function aggregateOf(d: Draft, side: Side, problems: Map<FormField | FilterField, string>, shown: (FormField | FilterField)[]): Record<string, unknown> {
  const s = d[side];
  // Sent even empty, so the check before sending says "Numerator event is required".
  const out: Record<string, unknown> = { event: s.event.trim(), aggregation: s.aggregation, ...(s.aggregation === 'sum' && s.property.trim() !== '' ? { property: s.property.trim() } : {}) };
  addFilter(d, `${side}.where`, out, problems, shown);
  return out;
}

/** The definition the form sends: only the fields that apply to the type, and numbers only when they are numbers. */
function build(d: Draft): Built {
  const labels = labelsOf(d);
  const problems = new Map<FormField | FilterField, string>();
  const shown: (FormField | FilterField)[] = ['key', 'name', 'description'];
  const out: Record<string, unknown> = { key: d.key.trim(), name: d.name.trim(), type: d.type, higherIsBetter: d.higherIsBetter, guardrail: d.guardrail };
  if (d.description.trim() !== '') {
    out.description = d.description.trim();
  }
  if (d.type === 'ratio') {
    for (const side of ['numerator', 'denominator'] as const) {
      shown.push(`${side}.event`, `${side}.aggregation`, ...(d[side].aggregation === 'sum' ? ([`${side}.property`] as const) : []));
      out[side] = aggregateOf(d, side, problems, shown);
    }
  } else {
    // Sent even empty, so the check before sending says "Event is required" like the other fields.
    out.event = d.event.trim();
    shown.push('event');
    if (d.type === 'sum') {
      shown.push('property');
      if (d.property.trim() !== '') {
        out.property = d.property.trim();
      }
    }
    addFilter(d, 'where', out, problems, shown);
  }
  const number = (field: 'capping' | 'windowHours' | 'delayHours', text: string): number | undefined => {
    const { value, problem } = parseNumber(labels[field], text);
    if (problem !== undefined) {
      problems.set(field, problem);
    }
    return value;
  };
  // Conversions are 0/1 per unit: nothing to cap.
  if (d.type !== 'conversion' && d.cappingType !== '') {
    shown.push('capping');
    const value = number('capping', d.cappingValue);
    if (value !== undefined) {
      out.capping = { type: d.cappingType, value };
    } else if (!problems.has('capping')) {
      problems.set('capping', `${labels.capping} is required (or choose no capping)`);
    }
  }
  for (const field of ['windowHours', 'delayHours'] as const) {
    shown.push(field);
    const value = number(field, d[field]);
    if (value !== undefined) {
      out[field] = value;
    }
  }
  shown.push('tags');
  const tags = commaList(d.tags);
  if (tags.length > 0) {
    out.tags = tags;
  }
  return { definition: out, problems, shown };
}

const at = (o: unknown, k: PropertyKey | undefined): unknown => (k !== undefined && typeof o === 'object' && o !== null ? (o as Record<PropertyKey, unknown>)[k] : undefined);

/** The control of a filter's row a problem about `property` (and the stored operator `op`) belongs to, else the filter as a whole. */
function filterTarget(d: Draft, scope: FilterScope, property: string | undefined, op: string | undefined, aboutKey: boolean): FormField | FilterField {
  const target = property === undefined ? undefined : rowOfIssue(filterOf(d, scope).rows, property, op, aboutKey);
  return target === undefined ? scope : filterField(scope, target.index, target.control);
}

/**
 * The form field a problem at `path` of the definition belongs to, and the value its wording
 * measures: a ratio side's input ("numerator.event"), a filter's row ("where.1.value"), the
 * capping's value, a tag, else the top-level field. `aboutKey`: the problem is a filter's property name.
 */
function formFieldOf(path: readonly PropertyKey[], definition: Record<string, unknown>, d: Draft, aboutKey = false): { field: string; value: unknown } {
  const [top, sub] = path;
  const whereAt = top === 'where' ? 1 : (top === 'numerator' || top === 'denominator') && sub === 'where' ? 2 : 0;
  if (whereAt > 0) {
    const [property, op] = path.slice(whereAt);
    const field = filterTarget(d, path.slice(0, whereAt).join('.') as FilterScope, typeof property === 'string' ? property : undefined, typeof op === 'string' ? op : undefined, aboutKey);
    return { field, value: aboutKey ? property : path.reduce<unknown>(at, definition) };
  }
  if (top === 'numerator' || top === 'denominator') {
    const input = sub === 'aggregation' || sub === 'property' ? sub : 'event';
    return { field: `${top}.${input}`, value: path.length === 2 ? at(definition[top], sub) : undefined };
  }
  if (top === 'capping' || top === 'tags') {
    return { field: top, value: path.length === 2 ? at(definition[top], sub) : path.length === 1 ? definition[top] : undefined };
  }
  return { field: typeof top === 'string' ? top : '', value: path.length === 1 ? definition[String(top)] : undefined };
}

/** The problems the metric schema finds in the shown fields, in plain words, before anything is sent. */
function draftProblems({ definition, problems, shown }: Built, labels: Readonly<Record<string, string>>, d: Draft): Map<string, string> {
  const out = new Map<string, string>(problems);
  const result = metricSchema.safeParse(definition);
  if (result.success) {
    return out;
  }
  // Each issue under its form field, with the value its wording measures (a tag's length, not the list's).
  const values: Record<string, unknown> = {};
  const issues: SchemaIssue[] = result.error.issues.map((issue) => {
    const aboutKey = issue.code === 'invalid_key';
    const { field, value } = formFieldOf(issue.path, definition, d, aboutKey);
    if (!Object.hasOwn(values, field)) {
      values[field] = value;
    }
    // A property name's own problem (its length), not zod's "Invalid key in record".
    const inner: SchemaIssue | undefined = aboutKey ? issue.issues[0] : undefined;
    return { ...(inner ?? issue), path: [field] };
  });
  const shownLabels = Object.fromEntries(shown.filter((f) => !out.has(f)).flatMap((f) => (labels[f] === undefined ? [] : [[f, labels[f]]])));
  for (const [field, message] of plainFieldIssues(issues, shownLabels, values)) {
    out.set(field, message);
  }
  return out;
}

/** A create refused because the key is taken (409 ALREADY_EXISTS): a problem of the Key field. */
const isDuplicateKey = (error: unknown): error is ApiError => error instanceof ApiError && error.status === 409 && error.code === 'ALREADY_EXISTS';

/** An API path inside a filter: "where.plan.$in[0]", "numerator.where". */
const FILTER_PATH = /^(?:(numerator|denominator)\.)?where(?:\.(.+))?$/;

/** The API's validation messages by form field (the first of each), with the value their wording measures. */
function apiMessages(error: unknown, definition: Record<string, unknown>, d: Draft): Map<string, { message: string; value: unknown }> {
  const out = new Map<string, { message: string; value: unknown }>();
  for (const issue of validationIssues(error)) {
    if (issue.field === '') {
      continue;
    }
    let located: { field: string; value: unknown };
    const inFilter = FILTER_PATH.exec(issue.path);
    if (inFilter !== null) {
      // Split by the rows' property names, which may hold dots themselves ("user.plan").
      const scope: FilterScope = inFilter[1] === undefined ? 'where' : `${inFilter[1] as Side}.where`;
      const split = inFilter[2] === undefined ? undefined : splitIssuePath(filterOf(d, scope).rows, inFilter[2]);
      const aboutKey = /\bkey\b/i.test(issue.message);
      const index = /\[(\d+)\]$/.exec(inFilter[2] ?? '')?.[1];
      const where = scope === 'where' ? definition.where : at(definition[scope.split('.')[0]!], 'where');
      const test = at(where, split?.property);
      const leaf = split?.op === undefined ? test : at(test, split.op);
      located = { field: filterTarget(d, scope, split?.property, split?.op, aboutKey), value: aboutKey ? split?.property : index === undefined ? leaf : at(leaf, Number(index)) };
    } else {
      const path = issue.path.split(/[.[\]]+/).filter((p) => p !== '').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
      located = formFieldOf(path, definition, d);
    }
    if (!out.has(located.field)) {
      out.set(located.field, { message: issue.message, value: located.value });
    }
  }
  return out;
}

const errorId = (field: FormField): string => `metric-${field.replaceAll('.', '-')}-error`;

/** Creates a metric, or edits one from the version it was opened at (If-Match). */
export function MetricForm({ existing, onClose, onSaved }: { existing?: Stored<Metric>; onClose: () => void; onSaved: () => void }): ReactNode {
  const form = useDefinitionForm('metrics', existing, draftOf, onSaved);
  const { base, draft, set, error } = form;
  // Checked once the user tries to save, then as they type, so a fixed field's message goes away.
  const [checked, setChecked] = useState(false);
  const [sentKey, setSentKey] = useState<string | null>(null);
  // The filter rows there were at the last save: a row added since says nothing until it is filled in or saved.
  const [seen, setSeen] = useState<ReadonlySet<string>>(() => new Set());
  const labels = labelsOf(draft);
  const allLabels: Readonly<Record<string, string>> = { ...labels, ...filterLabels(draft) };
  const built = build(draft);
  const { definition, shown } = built;
  const problems = checked ? draftProblems(built, allLabels, draft) : new Map<string, string>();
  const api = apiMessages(error, definition, draft);
  // The key stays taken only while it is the one sent.
  const duplicate = isDuplicateKey(error) && sentKey === definition.key ? error : undefined;
  const messageOf = (name: FormField | FilterField, ownProblems = true): string | undefined => {
    const problem = ownProblems ? problems.get(name) : undefined;
    if (problem !== undefined) {
      return problem;
    }
    if (name === 'key' && duplicate !== undefined) {
      return `${labels.key}: ${duplicate.message}; choose another key`;
    }
    const refused = api.get(name);
    return refused === undefined ? undefined : plainApiMessage(allLabels[name] ?? name, refused.message, refused.value);
  };
  const submit = async (): Promise<void> => {
    setChecked(true);
    setSeen(new Set(scopesOf(draft).flatMap((scope) => filterOf(draft, scope).rows.map((r) => r.id))));
    if (draftProblems(built, allLabels, draft).size > 0) {
      form.clearError();
      return;
    }
    setSentKey(typeof definition.key === 'string' ? definition.key : null);
    await form.save(definition);
  };
  /** A text input with its label and its message (an id in aria-describedby); `numeric` for a number (typed as text, so a mistake can be named). */
  const field = (name: FormField, value: string, onChange: (v: string) => void, extra: { disabled?: boolean; placeholder?: string; numeric?: boolean } = {}): ReactNode => {
    const message = messageOf(name);
    const { numeric, ...props } = extra;
    return (
      <>
        <label>
          {labels[name]}
          <input value={value} {...props} {...(numeric === true ? { inputMode: 'decimal' as const } : {})} onChange={(e) => { onChange(e.target.value); }} {...invalidProps(errorId(name), message)} />
        </label>
        <FieldError id={errorId(name)} message={message} />
      </>
    );
  };
  /** "Only count events where…" for the metric's events or a ratio side's. */
  const filterFields = (scope: FilterScope, onChange: (filter: FilterDraft) => void): ReactNode => {
    const filter = filterOf(draft, scope);
    const rowMessage = (index: number): { control: FilterControl; message: string } | undefined => {
      const row = filter.rows[index];
      const untouched = row !== undefined && !seen.has(row.id) && row.property.trim() === '' && row.value.trim() === '';
      for (const control of FILTER_CONTROLS) {
        const message = messageOf(filterField(scope, index, control), !untouched);
        if (message !== undefined) {
          return { control, message };
        }
      }
      return undefined;
    };
    return <EventFilterFields id={`metric-${scope.replace('.', '-')}`} filter={filter} onChange={onChange} rowMessage={rowMessage} message={messageOf(scope)} />;
  };
  const sideFields = (side: Side, title: string): ReactNode => {
    const s = draft[side];
    const setSide = (patch: Partial<SideDraft>): void => { set({ [side]: { ...s, ...patch } }); };
    const aggregation = messageOf(`${side}.aggregation`);
    return (
      <fieldset>
        <legend>{title}</legend>
        {field(`${side}.event`, s.event, (event) => { setSide({ event }); }, { placeholder: side === 'numerator' ? 'purchase' : 'session_started' })}
        <label>
          {labels[`${side}.aggregation`]}
          <select value={s.aggregation} onChange={(e) => { setSide({ aggregation: e.target.value as SideDraft['aggregation'] }); }} {...invalidProps(errorId(`${side}.aggregation`), aggregation)}>
            <option value="count">Count of the events</option>
            <option value="sum">Sum of an event property, or of the events' value</option>
          </select>
        </label>
        <FieldError id={errorId(`${side}.aggregation`)} message={aggregation} />
        {s.aggregation === 'sum' ? field(`${side}.property`, s.property, (property) => { setSide({ property }); }, { placeholder: 'empty: the events\' value' }) : null}
        {filterFields(`${side}.where`, (where) => { setSide({ where }); })}
      </fieldset>
    );
  };
  return (
    <Dialog title={base === undefined ? 'New metric' : `Edit metric ${base.key}`} onClose={onClose}>
      {field('key', draft.key, (key) => { set({ key }); }, { disabled: base !== undefined })}
      {field('name', draft.name, (name) => { set({ name }); })}
      {field('description', draft.description, (description) => { set({ description }); })}
      <label>
        Type
        <select value={draft.type} onChange={(e) => { set({ type: e.target.value as Metric['type'] }); }}>
          <option value="conversion">Conversion (did the unit send the event)</option>
          <option value="count">Count (events per unit)</option>
          <option value="sum">Sum (of an event property, or of the events' value, per unit)</option>
          <option value="ratio">Ratio (one total over another, across units, e.g. revenue per session)</option>
        </select>
      </label>
      {draft.type === 'ratio' ? (
        <>
          {sideFields('numerator', 'Numerator')}
          {sideFields('denominator', 'Denominator')}
        </>
      ) : (
        <>
          {field('event', draft.event, (event) => { set({ event }); }, { placeholder: 'purchase_completed' })}
          {draft.type === 'sum' ? field('property', draft.property, (property) => { set({ property }); }, { placeholder: 'empty: the events\' value' }) : null}
          {filterFields('where', (where) => { set({ where }); })}
        </>
      )}
      {draft.type === 'conversion' ? null : (
        <>
          <label>
            Capping
            <select value={draft.cappingType} onChange={(e) => { set({ cappingType: e.target.value as Draft['cappingType'] }); }}>
              <option value="">No capping</option>
              <option value="absolute">At a value (per-unit values above it count as it)</option>
              <option value="percentile">At a percentile of all units (e.g. 0.99)</option>
            </select>
          </label>
          {draft.cappingType === '' ? null : field('capping', draft.cappingValue, (cappingValue) => { set({ cappingValue }); }, { numeric: true, placeholder: draft.cappingType === 'percentile' ? 'between 0 and 1, e.g. 0.99' : 'e.g. 1000' })}
        </>
      )}
      <div className="row">
        {field('delayHours', draft.delayHours, (delayHours) => { set({ delayHours }); }, { numeric: true, placeholder: '0 (from the exposure)' })}
        {field('windowHours', draft.windowHours, (windowHours) => { set({ windowHours }); }, { numeric: true, placeholder: 'empty: until the experiment stops' })}
      </div>
      <p className="small muted">
        Events count from the delay after the exposure (-24 to 8760 hours; negative also counts events shortly before it, for clocks behind the server), for the window&apos;s length (up to 8760 hours).
      </p>
      {field('tags', draft.tags, (tags) => { set({ tags }); }, { placeholder: 'comma-separated: checkout, revenue' })}
      <label className="check">
        <input type="checkbox" checked={draft.higherIsBetter} onChange={(e) => { set({ higherIsBetter: e.target.checked }); }} />
        Higher is better
      </label>
      <label className="check">
        <input type="checkbox" checked={draft.guardrail} onChange={(e) => { set({ guardrail: e.target.checked }); }} />
        Guardrail
      </label>
      <FormErrorNote error={isDuplicateKey(error) ? null : error} shown={[...new Set(shown.map((f) => f.split('.')[0]!))]} />
      <FormActions form={form} noun="metric" onClose={onClose} onSubmit={() => void submit()} />
    </Dialog>
  );
}

/** " where plan is pro and amount ≥ 10", or nothing without a filter. */
const whereText = (where: Metric['where']): string => (where === undefined ? '' : ` where ${filterText(where)}`);

/** What one side of a ratio adds up: "count of session", "sum of purchase.amount where plan is pro", "sum of purchase value". */
function aggregateText(a: Aggregate): string {
  return `${a.aggregation} of ${a.aggregation === 'sum' ? summed(a.event, a.property) : a.event}${whereText(a.where)}`;
}

/** A summed event's property, or its value when no property is named. */
function summed(event: string, property: string | undefined): string {
  return property === undefined ? `${event} value` : `${event}.${property}`;
}

/**
 * The list's Event column: the event of a conversion or count, what a sum adds up ("sum of
 * purchase.amount", "sum of purchase value"), or a ratio's "numerator ÷ denominator"; each with
 * its filter in words ("purchase where plan is pro and amount ≥ 10").
 */
export function measured(d: Metric): string {
  if (d.type === 'ratio') {
    return d.numerator === undefined || d.denominator === undefined ? '—' : `${aggregateText(d.numerator)} ÷ ${aggregateText(d.denominator)}`;
  }
  if (d.event === undefined) {
    return '—';
  }
  return `${d.type === 'sum' ? `sum of ${summed(d.event, d.property)}` : d.event}${whereText(d.where)}`;
}

/** "72 h", "1.5 h". */
const hours = (n: number): string => `${formatNumber(n)} h`;

/**
 * The list's Analysis column: what is set of the window, the delay and the capping — "window
 * 72 h · delay 24 h · capped at p99", "capped at 1,000" — or "—" when none is.
 */
export function analysisText(d: Metric): string {
  const parts: string[] = [];
  if (d.windowHours !== undefined) {
    parts.push(`window ${hours(d.windowHours)}`);
  }
  if (d.delayHours !== undefined && d.delayHours !== 0) {
    parts.push(`delay ${hours(d.delayHours)}`);
  }
  if (d.capping !== undefined) {
    parts.push(`capped at ${d.capping.type === 'percentile' ? `p${formatNumber(d.capping.value * 100)}` : formatNumber(d.capping.value)}`);
  }
  return parts.length === 0 ? '—' : parts.join(' · ');
}
/** Metrics experiments measure, from tracked events. */
export default function Metrics(): ReactNode {
  const { state, reload, editing, setEditing, deleting, setDeleting, deleteError, remove } = useDefinitionList('metrics');
  const write = usePermission('metrics:write');
  return (
    <>
      <div className="page-head">
        <h1>Metrics</h1>
        <button type="button" className="primary" {...allowanceProps(write)} onClick={() => { setEditing('new'); }}>
          New metric
        </button>
      </div>
      {deleteError === null ? null : <ErrorNote error={deleteError} />}
      <AsyncView state={state} onRetry={reload}>
        {(items) =>
          items.length === 0 ? (
            <Empty>No metrics yet. Metrics turn tracked events into per-unit numbers experiments compare.</Empty>
          ) : (
            <table aria-label="Metrics">
              <thead>
                <tr>
                  <th>Metric</th>
                  <th>Type</th>
                  <th>Event</th>
                  <th>Analysis</th>
                  <th>Direction</th>
                  <th>Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((m) => (
                  <tr key={m.key}>
                    <td>
                      {m.definition.name} {m.definition.guardrail ? <Badge tone="warn">guardrail</Badge> : null}
                      <div className="small muted">
                        <code>{m.key}</code>
                      </div>
                    </td>
                    <td>{m.definition.type}</td>
                    <td>{measured(m.definition)}</td>
                    <td>{analysisText(m.definition)}</td>
                    <td>{m.definition.higherIsBetter ? 'higher is better' : 'lower is better'}</td>
                    <td>
                      <RowActions
                        allowance={write}
                        name={m.key}
                        onEdit={() => {
                          setEditing(m);
                        }}
                        onDelete={() => {
                          setDeleting(m);
                        }}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </AsyncView>
      {editing === null ? null : (
        <MetricForm
          {...(editing === 'new' ? {} : { existing: editing })}
          onClose={() => { setEditing(null); }}
          onSaved={() => {
            setEditing(null);
            reload();
          }}
        />
      )}
      {deleting === null ? null : (
        <Confirm
          title={`Delete metric ${deleting.key}?`}
          message="Experiments that measure it must stop using it first; the API refuses otherwise."
          confirmLabel="Delete metric"
          onConfirm={() => void remove(deleting)}
          onCancel={() => { setDeleting(null); }}
        />
      )}
    </>
  );
}
