import type { CodeAction, CodeLens, CompletionItem, Diagnostic, Hover, TextEdit } from 'vscode-languageserver';
import { CodeActionKind, CompletionItemKind, DiagnosticSeverity, DiagnosticTag, MarkupKind } from 'vscode-languageserver';
import type { Experiment, Flag } from '@xp/shared';
import { expandVariations, getType, keySchema, servedToEveryone, staleVariation, unconfiguredOffVariation } from '@xp/shared';
import type { FlagRecord, ProjectSnapshot } from './flag-data.js';
import type { ResultHeadline } from './flag-data.js';
import { EVALUATION_DAYS, absenceClaim, appsText, environmentSummary, formatHeadline, namesApps, resultHeadline, runningExperiment } from './flag-data.js';
import type { FileIndex } from './indexer/index.js';
import { linesOf } from './indexer/lines.js';
import type { DefaultArgument, DefaultKind, FlagReference, Position, Range } from './indexer/types.js';
import { returnsObject } from './indexer/types.js';
import { ServerCommand } from './protocol.js';

/** What the features need besides the document: flag data and presentation settings. */
export interface FeatureContext {
  readonly snapshot: ProjectSnapshot;
  readonly flags: ReadonlyMap<string, FlagRecord>;
  readonly environment: string;
  readonly consoleUrl: string | undefined;
  readonly staleDays: number;
  readonly now: Date;
  /** Keys referenced anywhere in the workspace (completion without flag data). */
  readonly workspaceKeys: ReadonlySet<string>;
  readonly canCreateFlags: boolean;
  /** The hover's format: the client's preference (textDocument.hover.contentFormat); Markdown when not given. */
  readonly markup?: MarkupKind;
  /** The code lenses' command: `xp.showFlag` for a client that registers it (the VS Code extension), else the server's. */
  readonly lensCommand?: string;
  /** Why there is no flag data (the hover of a key when the source is none); the default advice when not given. */
  readonly noDataReason?: string;
}

/** The advice when nothing is configured. */
export const NO_DATA_CONFIGURED = 'No flag data: configure an API URL or a flags file.';

/** How a hover writes emphasis, code, links and the environments table: Markdown, or plain text for clients that take only that. */
interface Format {
  readonly bold: (s: string) => string;
  readonly em: (s: string) => string;
  readonly code: (s: string) => string;
  readonly link: (text: string, url: string) => string;
  readonly table: (header: readonly string[], rows: readonly (readonly string[])[]) => string[];
}

const MARKDOWN: Format = {
  bold: (s) => `**${s}**`,
  em: (s) => `_${s}_`,
  code: (s) => `\`${s}\``,
  link: (text, url) => `[${text}](${url})`,
  table: (header, rows) => [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)],
};

const PLAIN: Format = {
  bold: (s) => s,
  em: (s) => s,
  code: (s) => s,
  link: (text, url) => `${text}: ${url}`,
  // One line per row: "production: ON 25%, serves on".
  table: (_header, rows) => rows.map((r) => `${r[0]!}: ${r.slice(1).join(', ')}`),
};

/**
 * The hover format a client prefers: the first of its `textDocument.hover.contentFormat` the server
 * writes; plain text when it lists none (absent, as the protocol's default is plain text).
 */
export function preferredMarkup(contentFormat: readonly string[] | undefined): MarkupKind {
  const known = (contentFormat ?? []).find((f) => f === MarkupKind.Markdown || f === MarkupKind.PlainText);
  return known === MarkupKind.Markdown ? MarkupKind.Markdown : MarkupKind.PlainText;
}

function formatOf(ctx: FeatureContext): Format {
  return ctx.markup === MarkupKind.PlainText ? PLAIN : MARKDOWN;
}

function hoverOf(ctx: FeatureContext, lines: readonly string[], ref: FlagReference): Hover {
  return { contents: { kind: ctx.markup ?? MarkupKind.Markdown, value: lines.join('\n') }, range: ref.range };
}

export const DIAGNOSTIC_SOURCE = 'xp';

/** Diagnostic codes; code actions read them back. */
export const DiagnosticCode = {
  /** The key is not a flag of the project. */
  UnknownFlag: 'unknown-flag',
  /** The flag is archived. */
  ArchivedFlag: 'archived-flag',
  /** The flag has served one variation to everyone for longer than the stale threshold. */
  StaleFlag: 'stale-flag',
  /** A compared variation the flag does not have. */
  UnknownVariation: 'unknown-variation',
  /** isFeatureEnabled (or a boolean OpenFeature call) on a non-boolean flag. */
  NotBoolean: 'not-boolean',
  /** An OpenFeature string, number or object call on a flag of another type. */
  WrongType: 'wrong-type',
  /** A literal default value of another type than the flag's values. */
  WrongDefaultType: 'wrong-default-type',
  /** getVariant / getExperiment (and their hooks) given a flag's key: the SDK reads experiments only, so it returns null. */
  NotAnExperiment: 'not-an-experiment',
} as const;

export function contains(range: Range, pos: Position): boolean {
  const afterStart = pos.line > range.start.line || (pos.line === range.start.line && pos.character >= range.start.character);
  const beforeEnd = pos.line < range.end.line || (pos.line === range.end.line && pos.character <= range.end.character);
  return afterStart && beforeEnd;
}

export function referenceAt(index: FileIndex | undefined, pos: Position): FlagReference | undefined {
  return index?.references.find((r) => contains(r.range, pos) || contains(r.keyRange, pos));
}

export function consoleLink(ctx: FeatureContext, key: string): string | undefined {
  if (ctx.consoleUrl === undefined || ctx.snapshot.project === '') {
    return undefined;
  }
  // The console routes after "#"; the project rides in the query so the link opens the right one.
  return `${ctx.consoleUrl.replace(/\/+$/, '')}/?project=${encodeURIComponent(ctx.snapshot.project)}#/flags/${encodeURIComponent(key)}`;
}

/**
 * The experiment a getVariant-style call names. The xp SDKs' getVariant / getExperiment (and
 * useVariant, useExperiment, Python's get_variant / get_experiment) look the key up among the
 * ruleset's experiments only, never its flags: a standalone experiment and one a flag's rule
 * delivers are both assigned, so a key that is a flag's and an experiment's is the experiment's.
 */
export function experimentOf(ctx: FeatureContext, ref: Pick<FlagReference, 'flagKey' | 'kind'>): Experiment | undefined {
  if (ref.kind !== 'variant') {
    return undefined;
  }
  return ctx.snapshot.experiments.find((e) => e.key === ref.flagKey);
}

/** Whether the flag data lists the project's experiments (a flags file need not: then no key is known not to be one). */
function experimentsKnown(ctx: FeatureContext): boolean {
  return ctx.snapshot.source !== 'none' && ctx.snapshot.experimentsListed !== false;
}

/**
 * Whether the call reads the flag of its key. A getVariant-style call never does: for a flag's key
 * the SDK finds no experiment and returns null (not in the experiment), whatever the flag serves.
 */
function readsFlag(ref: Pick<FlagReference, 'kind'>): boolean {
  return ref.kind !== 'variant';
}

/** Whether the call takes an experiment's key and the data lists the experiments to tell which keys are. */
function wantsExperiment(ctx: FeatureContext, ref: Pick<FlagReference, 'kind'>): boolean {
  return !readsFlag(ref) && experimentsKnown(ctx);
}

/**
 * The flag a getVariant-style call names when its key is a flag's and, as far as the data tells,
 * no experiment's; undefined otherwise, and when the data does not list experiments (a flags file
 * without them: the key may be an experiment's).
 */
export function flagInExperimentCall(ctx: FeatureContext, ref: Pick<FlagReference, 'flagKey' | 'kind'>): FlagRecord | undefined {
  if (readsFlag(ref) || !experimentsKnown(ctx) || experimentOf(ctx, ref) !== undefined) {
    return undefined;
  }
  return ctx.flags.get(ref.flagKey);
}

/** What a getVariant-style call returns for a flag's key, and the call that reads a flag, by method. */
const FLAG_ALTERNATIVE: Readonly<Record<string, { readonly returns: string; readonly use: string }>> = {
  getVariant: { returns: 'null', use: 'getValue' },
  get_variant: { returns: 'None', use: 'get_value' },
  GetVariant: { returns: 'no variation', use: 'GetValue' },
  getExperiment: { returns: 'no assignment (variationKey null)', use: 'getValue' },
  get_experiment: { returns: 'no assignment (variation_key None)', use: 'get_value' },
  useVariant: { returns: 'null', use: 'useFlag' },
  useExperiment: { returns: 'no assignment (variationKey null)', use: 'useFlag' },
};

/** `getVariant takes an experiment key; "dark-mode" is a flag, for which it returns null — use getValue.` */
export function notAnExperimentMessage(ref: Pick<FlagReference, 'flagKey' | 'method'>): string {
  const alt = Object.hasOwn(FLAG_ALTERNATIVE, ref.method) ? FLAG_ALTERNATIVE[ref.method]! : { returns: 'null', use: 'getValue' };
  return `${ref.method} takes an experiment key; "${ref.flagKey}" is a flag, for which it returns ${alt.returns} — use ${alt.use}.`;
}

function experimentHover(ctx: FeatureContext, experiment: Experiment, ref: FlagReference): Hover {
  const f = formatOf(ctx);
  const lines = [`${f.bold(experiment.name)} ${f.code(experiment.key)} · experiment · ${experiment.status}`];
  if (experiment.hypothesis !== undefined && experiment.hypothesis !== '') {
    lines.push('', experiment.hypothesis);
  }
  if (experiment.environments.length > 0) {
    lines.push('', `Environments: ${experiment.environments.join(', ')}`);
  }
  lines.push('', `Variations: ${expandVariations(experiment).map((v) => f.code(v.key)).join(', ')}`);
  if (experiment.status === 'running') {
    const headline = resultHeadline(ctx.snapshot.results[experiment.key]);
    lines.push(
      '',
      `Running${experiment.startedAt === undefined ? '' : ` since ${experiment.startedAt.slice(0, 10)}`}` +
        (headline === undefined ? ': no results yet' : `: ${headlineText(headline, f)}`),
    );
  }
  if (ctx.consoleUrl !== undefined && ctx.snapshot.project !== '') {
    lines.push('', f.link('Open in console', `${ctx.consoleUrl.replace(/\/+$/, '')}/?project=${encodeURIComponent(ctx.snapshot.project)}#/experiments/${encodeURIComponent(experiment.key)}`));
  }
  return hoverOf(ctx, lines, ref);
}

function headlineText(headline: ResultHeadline, f: Format = MARKDOWN): string {
  return `${headline.metric} ${formatHeadline(headline)} for ${f.code(headline.variation)}, p = ${headline.pValue.toFixed(3)}, ${headline.significant ? 'significant' : 'not significant'}, chance to win ${(headline.chanceToWin * 100).toFixed(0)}%`;
}

function environmentsOf(flag: Flag, first: string): string[] {
  const keys = Object.keys(flag.environments);
  return [...keys.filter((k) => k === first), ...keys.filter((k) => k !== first).sort()];
}

function valueText(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

export function hover(ctx: FeatureContext, ref: FlagReference): Hover {
  const f = formatOf(ctx);
  const experiment = experimentOf(ctx, ref);
  if (experiment !== undefined) {
    return experimentHover(ctx, experiment, ref);
  }
  const record = ctx.flags.get(ref.flagKey);
  const lines: string[] = [];
  if (record === undefined) {
    lines.push(f.bold(ref.flagKey), '', f.em(ctx.snapshot.source === 'none' ? (ctx.noDataReason ?? NO_DATA_CONFIGURED) : `Not ${wantsExperiment(ctx, ref) ? 'an experiment' : 'a flag'} of this project.`));
    const usage = usageText(ctx, ref.flagKey, undefined);
    if (usage !== undefined && usage.evaluated) {
      lines.push('', `${usage.text}: code asks for it and gets the default it passes.`);
    }
    return hoverOf(ctx, lines, ref);
  }
  const flag = record.definition;
  lines.push(
    `${f.bold(flag.name)} ${f.code(flag.key)} · ${flag.type}${record.archived ? ` · ${f.bold('archived')}` : ''}${flag.temporary ? '' : ' · permanent'}${flag.clientSide === false ? ' · server-side only' : ''}`,
  );
  if (flagInExperimentCall(ctx, ref) !== undefined) {
    lines.push('', `⚠ ${notAnExperimentMessage(ref)}`);
  } else if (!readsFlag(ref)) {
    // A flags file without experiments: the key may be an experiment's of the same name.
    lines.push('', f.em(`${ref.method} takes an experiment key: it returns null for a flag's key unless an experiment has the same key (the flags file lists no experiments to tell).`));
  }
  if (flag.clientSide === false) {
    lines.push('', f.em('Server-side only: client-side SDK keys (browsers, apps) do not get this flag; evaluate it on a server.'));
  }
  if (flag.description !== undefined && flag.description !== '') {
    lines.push('', flag.description);
  }
  const configured = environmentsOf(flag, ctx.environment);
  if (configured.length === 0) {
    // No state anywhere: every environment's ruleset has it off (an empty table said nothing).
    const off = unconfiguredOffVariation(flag);
    lines.push('', f.em(`Not set up in any environment yet: off everywhere, serving${off === undefined ? ' its off variation' : ` ${f.code(off)}`}.`));
  } else {
    const rows = configured.map((env) => {
      const state = flag.environments[env]!;
      const served = servedToEveryone(flag, env, ctx.now, ctx.snapshot.experiments);
      return [env === ctx.environment ? f.bold(env) : env, environmentSummary(flag, env), f === PLAIN ? `serves ${served ?? `default ${state.defaultVariation}`}` : (served ?? `default ${f.code(state.defaultVariation)}`)];
    });
    lines.push('', ...f.table(['environment', 'state', 'serves'], rows));
    if (!configured.includes(ctx.environment)) {
      const off = unconfiguredOffVariation(flag);
      lines.push('', f.em(`Not set up in ${f.bold(ctx.environment)}: off there, serving${off === undefined ? ' its off variation' : ` ${f.code(off)}`}.`));
    }
  }
  lines.push('', `Variations: ${flag.variations.map((v) => `${f.code(v.key)} = ${valueText(v.value)}`).join(', ')}`);
  const running = runningExperiment(ctx.snapshot, flag, ctx.environment);
  if (running !== undefined) {
    const headline = resultHeadline(ctx.snapshot.results[running.key]);
    lines.push(
      '',
      `Experiment ${f.bold(running.name)} (${f.code(running.key)}) running${running.startedAt === undefined ? '' : ` since ${running.startedAt.slice(0, 10)}`}` +
        (headline === undefined
          ? ': no results yet'
          : `: ${headlineText(headline, f)}`),
    );
  }
  const usage = usageText(ctx, flag.key, record.createdAt);
  if (usage !== undefined) {
    lines.push('', usage.evaluated ? `${usage.text}.` : f.em(usage.text));
  }
  if (record.updatedAt !== null) {
    lines.push('', `Last change ${record.updatedAt.slice(0, 16).replace('T', ' ')}${record.updatedBy === null ? '' : ` by ${record.updatedBy}`} · version ${record.version ?? '?'}`);
  }
  const link = consoleLink(ctx, flag.key);
  if (link !== undefined) {
    lines.push('', f.link('Open in console', link));
  }
  return hoverOf(ctx, lines, ref);
}

/** "3 min ago", "5 h ago", "12 days ago": how long before `now` the instant `at` was. */
function ago(at: string, now: Date): string {
  const minutes = Math.max(0, Math.floor((now.getTime() - Date.parse(at)) / 60_000));
  if (!Number.isFinite(minutes)) {
    return 'at an unknown time';
  }
  return minutes < 1 ? 'just now' : minutes < 60 ? `${minutes} min ago` : minutes < 48 * 60 ? `${Math.floor(minutes / 60)} h ago` : `${Math.floor(minutes / 1440)} days ago`;
}

/**
 * How often SDKs evaluated `key` lately, from the evaluation counts the API reports: "Evaluated 12,345
 * times in 30 days (production 10,000 · staging 2,345), last 3 min ago", then, where the project's SDKs
 * name their applications, "by checkout-api 10,000 · web-shop 2,345" (`appsText`); or, when the project's SDKs
 * report counts but none asked for the key, what its absence supports (`absenceClaim`): not evaluated
 * in the last 30 days (counting began before the window, and the flag, created `createdAt`, is older),
 * or not evaluated since counting began on a date within it. Undefined when nothing is known: no
 * counts from the source (a flags file, an older server), none in the whole project (its SDKs may not
 * report them), or a flag too young (or of unknown age) for the window, where absence proves nothing.
 */
function usageText(ctx: FeatureContext, key: string, createdAt: string | undefined): { readonly evaluated: boolean; readonly text: string } | undefined {
  const usage = ctx.snapshot.evaluations;
  if (usage === undefined || usage.flags.length === 0) {
    return undefined;
  }
  const days = EVALUATION_DAYS;
  const entry = usage.flags.find((e) => e.flag === key);
  if (entry === undefined) {
    const claim = absenceClaim(usage, createdAt);
    if (claim === undefined) {
      return undefined;
    }
    return claim.kind === 'window'
      ? { evaluated: false, text: `Not evaluated in the last ${claim.days} days by any SDK that reports evaluation counts: if no deployed code asks for it, it can be removed.` }
      : {
          evaluated: false,
          text: `Not evaluated since evaluation counting began on ${claim.since.slice(0, 10)}${claim.environment === undefined ? '' : ` in ${claim.environment}`}: too soon to tell whether deployed code still asks for it.`,
        };
  }
  const count = (n: number): string => n.toLocaleString('en-US');
  const environments = entry.environments.map((e) => `${e.environment} ${count(e.count)}`).join(' · ');
  const apps = appsText(entry.apps, namesApps(usage));
  // On a line of its own (plain text); Markdown joins it to the sentence it ends.
  return {
    evaluated: true,
    text: `Evaluated ${count(entry.total)} ${entry.total === 1 ? 'time' : 'times'} in the last ${days} days (${environments}), last ${ago(entry.lastEvaluatedAt, ctx.now)}${apps === undefined ? '' : `,\nby ${apps}`}`,
  };
}

/** `● checkout-v2 · production ON 25% · exp +3.1% ±2.0` */
export function lensTitle(ctx: FeatureContext, ref: Pick<FlagReference, 'flagKey' | 'kind'>): string {
  const experiment = experimentOf(ctx, ref);
  if (experiment !== undefined) {
    const headline = experiment.status === 'running' ? resultHeadline(ctx.snapshot.results[experiment.key]) : undefined;
    return `● ${experiment.key} · experiment ${experiment.status}${headline === undefined ? '' : ` · ${formatHeadline(headline)}`}`;
  }
  const record = ctx.flags.get(ref.flagKey);
  if (record === undefined) {
    return ctx.snapshot.source === 'none' ? `● ${ref.flagKey}` : `● ${ref.flagKey} · unknown ${wantsExperiment(ctx, ref) ? 'experiment' : 'flag'}`;
  }
  if (flagInExperimentCall(ctx, ref) !== undefined) {
    // Not the flag's rollout: the call does not read the flag.
    return `● ${ref.flagKey} · a flag, not an experiment key`;
  }
  const flag = record.definition;
  const parts = [`● ${flag.key}`];
  if (record.archived) {
    parts.push('archived');
  }
  parts.push(`${ctx.environment} ${environmentSummary(flag, ctx.environment)}`);
  const running = runningExperiment(ctx.snapshot, flag, ctx.environment);
  if (running !== undefined) {
    const headline = resultHeadline(ctx.snapshot.results[running.key]);
    parts.push(headline === undefined ? 'exp running' : `exp ${formatHeadline(headline)}`);
  }
  return parts.join(' · ');
}

export function codeLenses(ctx: FeatureContext, index: FileIndex | undefined): CodeLens[] {
  const lenses: CodeLens[] = [];
  const seenLines = new Set<string>();
  for (const ref of index?.references ?? []) {
    const id = `${ref.callRange.start.line}:${ref.flagKey}`;
    if (seenLines.has(id)) {
      continue;
    }
    seenLines.add(id);
    const line = ref.callRange.start.line;
    lenses.push({
      range: { start: { line, character: 0 }, end: { line, character: 0 } },
      command: { title: lensTitle(ctx, ref), command: ctx.lensCommand ?? ServerCommand.ShowFlag, arguments: [ref.flagKey] },
    });
  }
  return lenses;
}

/** Edit distance, for "did you mean". */
export function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

export function closestKey(key: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1;
  for (const c of candidates) {
    const d = levenshtein(key, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

const BOOLEAN_KINDS = new Set(['enabled', 'boolean']);
/** The flag type OpenFeature's string, number and object calls expect (boolean calls: BOOLEAN_KINDS). */
const TYPED_KINDS: Readonly<Partial<Record<FlagReference['kind'], Flag['type']>>> = { string: 'string', number: 'number', object: 'json' };

/** A value's kind as the SDKs compare a default with it: an object, an array and null differ. */
function kindOfValue(value: unknown): DefaultKind | undefined {
  const type = getType(value);
  return type === 'undefined' || type === 'unknown' ? undefined : (type as DefaultKind);
}

const KIND_NAME: Readonly<Record<DefaultKind, { readonly one: string; readonly many: string }>> = {
  boolean: { one: 'a boolean', many: 'booleans' },
  number: { one: 'a number', many: 'numbers' },
  string: { one: 'a string', many: 'strings' },
  object: { one: 'an object', many: 'objects' },
  array: { one: 'an array', many: 'arrays' },
  null: { one: 'null', many: 'null' },
};

/** "a", "a and b", "a, b and c". */
function listed(items: readonly string[]): string {
  return items.length <= 2 ? items.join(' and ') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`;
}

/** The variation a flag serves when off in the context's environment (where it has no state: off there). */
function offVariation(ctx: FeatureContext, flag: Flag): Flag['variations'][number] | undefined {
  const state = Object.hasOwn(flag.environments, ctx.environment) ? flag.environments[ctx.environment] : undefined;
  const key = state?.offVariation ?? unconfiguredOffVariation(flag);
  return flag.variations.find((v) => v.key === key);
}

/**
 * The kinds of value a flag serves when a literal default is of none of them (the SDKs then return
 * the default with TYPE_MISMATCH); undefined when the default fits, or is null / None / nil, which
 * the SDKs take as no default.
 */
function defaultMismatch(flag: Flag, given: DefaultArgument): DefaultKind[] | undefined {
  if (given.kind === 'null') {
    return undefined;
  }
  const served = [...new Set(flag.variations.map((v) => kindOfValue(v.value)).filter((k): k is DefaultKind => k !== undefined))];
  return served.length === 0 || served.includes(given.kind) ? undefined : served;
}

/** Whether the call's method expects another flag type (not-boolean, wrong-type): its default is then not the point. */
function methodMismatch(ref: FlagReference, flag: Flag): boolean {
  const expected = TYPED_KINDS[ref.kind];
  return (BOOLEAN_KINDS.has(ref.kind) && flag.type !== 'boolean') || (expected !== undefined && flag.type !== expected);
}

/** The literal a wrong default can be replaced with: the value the flag serves when off, written in the file's language. */
export function defaultReplacement(ctx: FeatureContext, ref: FlagReference): string | undefined {
  const flag = ctx.flags.get(ref.flagKey)?.definition;
  if (flag === undefined || ref.defaultValue === undefined || methodMismatch(ref, flag) || defaultMismatch(flag, ref.defaultValue) === undefined) {
    return undefined;
  }
  const off = offVariation(ctx, flag);
  return off === undefined ? undefined : literal(off.value, ref.language, ref.method);
}

/** The flag type a call expects (`isFeatureEnabled`, OpenFeature's typed calls), when it says. */
function expectedType(ref: FlagReference): Flag['type'] | undefined {
  return BOOLEAN_KINDS.has(ref.kind) ? 'boolean' : TYPED_KINDS[ref.kind];
}

/**
 * The "did you mean" of an unknown key: among the keys close enough, an active flag of the type the
 * call expects first, then any active flag, then one of that type, then any (the archived one the
 * code may still name). Suggesting an archived flag or one the call would report as the wrong type
 * trades one warning for another.
 */
export function unknownKeySuggestion(ctx: FeatureContext, ref: FlagReference): string | undefined {
  if (wantsExperiment(ctx, ref)) {
    // A flag's key there would only trade this warning for not-an-experiment.
    const experiments = ctx.snapshot.experiments;
    return closestKey(ref.flagKey, experiments.filter((e) => e.archived !== true).map((e) => e.key)) ?? closestKey(ref.flagKey, experiments.map((e) => e.key));
  }
  const records = [...ctx.flags.values()];
  const expected = expectedType(ref);
  const fits = (r: FlagRecord): boolean => expected === undefined || r.definition.type === expected;
  const tiers = [records.filter((r) => !r.archived && fits(r)), records.filter((r) => !r.archived), records.filter(fits), records];
  for (const tier of tiers) {
    const found = closestKey(ref.flagKey, tier.map((r) => r.key));
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

/**
 * The variation a stale flag serves (see @xp/shared's staleFlag), judged with the project's
 * experiments as the snapshot has them. Without the project's environments (their fetch failed, or
 * an older cache) none is stale: an environment it has no state in may serve something else.
 */
function isStale(ctx: FeatureContext, record: FlagRecord): string | undefined {
  const { environments, experimentsUpdatedAt } = ctx.snapshot;
  if (environments === undefined) {
    return undefined;
  }
  return staleVariation(record.definition, {
    servingChangedAt: record.servingChangedAt,
    updatedAt: record.updatedAt,
    archived: record.archived,
    now: ctx.now,
    days: ctx.staleDays,
    experiments: ctx.snapshot.experiments.map((e) => ({ ...e, updatedAt: experimentsUpdatedAt?.[e.key] })),
    environments,
  });
}

export function staleFlagVariation(ctx: FeatureContext, key: string): string | undefined {
  const record = ctx.flags.get(key);
  return record === undefined ? undefined : isStale(ctx, record);
}

export function diagnostics(ctx: FeatureContext, index: FileIndex | undefined): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (ctx.snapshot.source === 'none') {
    return out;
  }
  for (const ref of index?.references ?? []) {
    const record = ctx.flags.get(ref.flagKey);
    const experiment = experimentOf(ctx, ref);
    if (experiment !== undefined) {
      const keys = expandVariations(experiment).map((v) => v.key);
      for (const c of ref.compared) {
        if (!keys.includes(c.name)) {
          const suggestion = closestKey(c.name, keys);
          out.push({
            range: c.range,
            severity: DiagnosticSeverity.Warning,
            source: DIAGNOSTIC_SOURCE,
            code: DiagnosticCode.UnknownVariation,
            message: `Experiment "${experiment.key}" has no variation "${c.name}" (it has ${keys.map((k) => `"${k}"`).join(', ')}).`,
            data: { flagKey: experiment.key, ...(suggestion === undefined ? {} : { suggestion }) },
          });
        }
      }
      continue;
    }
    if (record !== undefined && !readsFlag(ref)) {
      // The SDK returns null whatever the flag serves: its type, state and variations do not apply.
      if (flagInExperimentCall(ctx, ref) !== undefined) {
        out.push({
          range: ref.range,
          severity: DiagnosticSeverity.Warning,
          source: DIAGNOSTIC_SOURCE,
          code: DiagnosticCode.NotAnExperiment,
          message: notAnExperimentMessage(ref),
          data: { flagKey: ref.flagKey },
        });
      }
      continue;
    }
    if (record === undefined) {
      const suggestion = unknownKeySuggestion(ctx, ref);
      out.push({
        range: ref.range,
        severity: DiagnosticSeverity.Warning,
        source: DIAGNOSTIC_SOURCE,
        code: DiagnosticCode.UnknownFlag,
        message: `Unknown ${wantsExperiment(ctx, ref) ? 'experiment' : 'flag'} "${ref.flagKey}".${suggestion === undefined ? '' : ` Did you mean "${suggestion}"?`}`,
        data: { flagKey: ref.flagKey, ...(suggestion === undefined ? {} : { suggestion }) },
      });
      continue;
    }
    const flag = record.definition;
    if (record.archived) {
      out.push({ range: ref.range, severity: DiagnosticSeverity.Warning, source: DIAGNOSTIC_SOURCE, code: DiagnosticCode.ArchivedFlag, message: `Flag "${flag.key}" is archived.`, data: { flagKey: flag.key } });
    } else {
      const served = isStale(ctx, record);
      if (served !== undefined) {
        out.push({
          range: ref.range,
          severity: DiagnosticSeverity.Information,
          source: DIAGNOSTIC_SOURCE,
          code: DiagnosticCode.StaleFlag,
          tags: [DiagnosticTag.Unnecessary],
          message: `Flag "${flag.key}" has served "${served}" to everyone in every environment and not changed for over ${ctx.staleDays} days; consider removing it.`,
          data: { flagKey: flag.key, variation: served },
        });
      }
    }
    if (BOOLEAN_KINDS.has(ref.kind) && flag.type !== 'boolean') {
      out.push({
        range: ref.range,
        severity: DiagnosticSeverity.Warning,
        source: DIAGNOSTIC_SOURCE,
        code: DiagnosticCode.NotBoolean,
        message: `${ref.method} expects a boolean flag, but "${flag.key}" is a ${flag.type} flag.`,
        data: { flagKey: flag.key },
      });
    }
    const expected = TYPED_KINDS[ref.kind];
    if (expected !== undefined && flag.type !== expected) {
      out.push({
        range: ref.range,
        severity: DiagnosticSeverity.Warning,
        source: DIAGNOSTIC_SOURCE,
        code: DiagnosticCode.WrongType,
        message: `${ref.method} expects ${expected === 'json' ? 'a json' : `a ${expected}`} flag, but "${flag.key}" is a ${flag.type} flag.`,
        data: { flagKey: flag.key },
      });
    }
    const served = ref.defaultValue === undefined || methodMismatch(ref, flag) ? undefined : defaultMismatch(flag, ref.defaultValue);
    if (ref.defaultValue !== undefined && served !== undefined) {
      const off = offVariation(ctx, flag);
      const example = off ?? flag.variations[0];
      // What defaultReplacement gives here: the checks it starts with have just passed.
      const replacement = off === undefined ? undefined : literal(off.value, ref.language, ref.method);
      out.push({
        range: ref.defaultValue.range,
        severity: DiagnosticSeverity.Warning,
        source: DIAGNOSTIC_SOURCE,
        code: DiagnosticCode.WrongDefaultType,
        message:
          `The default ${ref.defaultValue.text} is ${KIND_NAME[ref.defaultValue.kind].one}, but "${flag.key}" serves ${listed(served.map((k) => KIND_NAME[k].many))}` +
          `${example === undefined ? '' : ` (e.g. ${valueText(example.value)})`}.`,
        data: { flagKey: flag.key, ...(replacement === undefined ? {} : { replacement }) },
      });
    }
    const names = new Set(flag.variations.flatMap((v) => (typeof v.value === 'string' ? [v.key, v.value] : [v.key])));
    for (const c of ref.compared) {
      if (!names.has(c.name)) {
        const suggestion = closestKey(c.name, flag.variations.map((v) => v.key));
        out.push({
          range: c.range,
          severity: DiagnosticSeverity.Warning,
          source: DIAGNOSTIC_SOURCE,
          code: DiagnosticCode.UnknownVariation,
          message: `Flag "${flag.key}" has no variation "${c.name}" (it has ${flag.variations.map((v) => `"${v.key}"`).join(', ')}).`,
          data: { flagKey: flag.key, ...(suggestion === undefined ? {} : { suggestion }) },
        });
      }
    }
  }
  return out;
}

/** OpenFeature calls whose value is an integer type (Java Integer, Go int64, Python int). */
const INTEGER_METHODS = new Set(['getIntegerValue', 'getIntegerDetails', 'IntValue', 'IntValueDetails', 'get_integer_value', 'get_integer_details']);
/** Java calls whose value is a Double: an int literal does not convert to it. */
const DOUBLE_METHODS = new Set(['getDoubleValue', 'getDoubleDetails']);
const JAVA_INT_MAX = 2 ** 31 - 1;

/**
 * The value as a literal of the language, fitting the call's type where a number must be an integer
 * (none for a fraction) or, in Java, a double (`10.0`). None for a string with quotes, backslashes or
 * any control or line-separator character, which a plain literal cannot hold.
 */
function literal(value: unknown, language: string, method?: string): string | undefined {
  if (typeof value === 'boolean') {
    return language === 'python' ? (value ? 'True' : 'False') : String(value);
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    if (method !== undefined && INTEGER_METHODS.has(method)) {
      return Number.isSafeInteger(value) && (language !== 'java' || Math.abs(value) <= JAVA_INT_MAX) ? String(value) : undefined;
    }
    const text = String(value);
    return language === 'java' && method !== undefined && DOUBLE_METHODS.has(method) && /^-?\d+$/.test(text) ? `${text}.0` : text;
  }
  if (typeof value === 'string' && !/["'\\\u0000-\u001f\u007f\u2028\u2029]/.test(value)) {
    return language === 'go' || language === 'java' || language === 'python' ? `"${value}"` : `'${value}'`;
  }
  return undefined;
}

/** The value a stale call can be replaced with, when the replacement keeps the code's meaning. */
export function cleanupReplacement(ctx: FeatureContext, ref: FlagReference): string | undefined {
  // getVariant-style calls read experiments, never a flag: a flag's served variation is not what they return.
  if (!readsFlag(ref)) {
    return undefined;
  }
  const record = ctx.flags.get(ref.flagKey);
  const served = record === undefined ? undefined : isStale(ctx, record);
  if (record === undefined || served === undefined) {
    return undefined;
  }
  const variation = record.definition.variations.find((v) => v.key === served);
  if (variation === undefined) {
    return undefined;
  }
  // Evaluation details (evaluate, useFlagDetails, OpenFeature's …Details) and experiment results
  // (getExperiment, useExperiment) are objects, not the value.
  if (returnsObject(ref.method)) {
    return undefined;
  }
  switch (ref.kind) {
    case 'enabled':
      return typeof variation.value === 'boolean' ? literal(variation.value, ref.language) : undefined;
    case 'boolean':
    case 'string':
    case 'number':
    case 'value':
      // Not in Go: OpenFeature's calls return (value, error), and GetValue is left alone with them (docs/language-server.md).
      if (ref.language === 'go' || typeof variation.value === 'object') {
        return undefined;
      }
      // A default of another kind than the value (read where the call takes it: `getValue(k, u, d)`,
      // `useFlag(k, d)`) makes the SDK return the default, with TYPE_MISMATCH, and not the value.
      if (ref.defaultValue !== undefined && defaultMismatch(record.definition, ref.defaultValue) !== undefined) {
        return undefined;
      }
      return ref.kind === 'boolean' && typeof variation.value !== 'boolean' ? undefined : literal(variation.value, ref.language, ref.method);
    default:
      return undefined;
  }
}

/** Where a stale call's replacement starts: before an `await` applied to the call, which a constant no longer needs. */
function replacementStart(lines: readonly string[], call: Range): Position {
  const before = lines[call.start.line]?.slice(0, call.start.character) ?? '';
  const awaited = /\bawait\s+$/.exec(before);
  return awaited === null ? call.start : { line: call.start.line, character: awaited.index };
}

/** A literal that reads as one operand wherever an expression may stand: a name-like word, a string, a number without a sign. */
const ATOM = /^(?:[A-Za-z_]\w*|"[^"]*"|'[^']*'|\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/;
/** Before an expression that stands whole: an assignment, an argument or element, a return, an arrow's body, a key's value. */
const WHOLE_BEFORE = /(?:(?:^|[^=!<>+\-*/%&|^:?.])(?::=|=)|[([{,]|\breturn|=>|(?:^|[^:]):|(?:^|[^?])\?)\s*$/;
/** After an expression that stands whole: the end of a statement, an argument, an element or a branch. */
const WHOLE_AFTER = /^(?:[;,)\]}:]|$)/;
/** What may continue an expression on the next line. */
const CONTINUES = /^(?:[-.?[(*/%+<>=!&|^]|as\b|satisfies\b|instanceof\b|in\b|and\b|or\b)/;

/**
 * The replacement as it can stand where the call stood, or undefined where no literal can: a
 * result destructured into several values (Go's `v, err :=`), or, in Go and Java, a member access
 * on it (their literals have no members, Java's strings excepted). Elsewhere a literal that is not
 * an atom (a negative number) goes in parentheses unless the call was a whole expression, and a
 * number before a member access too (`5.toFixed()` does not parse).
 */
function inPlace(replacement: string, language: string, lines: readonly string[], start: Position, end: Position): string | undefined {
  const before = lines[start.line]?.slice(0, start.character) ?? '';
  const rest = (lines[end.line]?.slice(end.character) ?? '').replace(language === 'python' ? /#.*$/ : /\/\/.*$/, '').trim();
  let next = '';
  if (rest === '') {
    for (let l = end.line + 1; l < lines.length && next === ''; l++) {
      next = lines[l]!.trim();
    }
  }
  const assigned = /^(.*?[^=!<>+\-*/%&|^:])(?::=|=)\s*$/.exec(before);
  if (assigned !== null && destructures(assigned[1]!)) {
    return undefined;
  }
  const member = /^(?:\?\.|\.(?!\.)|\[)/.test(rest === '' ? next : rest);
  if (member && (language === 'go' || (language === 'java' && !replacement.startsWith('"')))) {
    return undefined;
  }
  if (ATOM.test(replacement) && !(member && /^\d/.test(replacement))) {
    return replacement;
  }
  const whole = !member && WHOLE_BEFORE.test(before) && (rest === '' ? !CONTINUES.test(next) : WHOLE_AFTER.test(rest));
  return whole ? replacement : `(${replacement})`;
}

/** Whether an assignment's left side takes several values: `v, err`, `[a, b]`, `{ a }` (not `Map<K, V> m` or `f(a, b=`). */
function destructures(left: string): boolean {
  const target = left.replace(/^\s*(?:var|let|const|val|final)\s+/, '').trim();
  if (/^[[{(]/.test(target)) {
    return true;
  }
  let depth = 0;
  for (const ch of target) {
    if ('([{<'.includes(ch)) {
      depth++;
    } else if (')]}>'.includes(ch)) {
      depth--;
    } else if (ch === ',' && depth === 0) {
      return true;
    }
  }
  return false;
}

/**
 * A diagnostic's data as diagnostics() wrote it. A client without `publishDiagnostics.dataSupport`
 * drops it from the diagnostics it sends back: an unknown key's is then worked out again from the
 * reference at the diagnostic's range, as it was when reported.
 */
function diagnosticData(ctx: FeatureContext, d: Diagnostic, ref: FlagReference): { flagKey?: string; suggestion?: string } {
  if (d.data !== undefined && d.data !== null) {
    return d.data as { flagKey?: string; suggestion?: string };
  }
  if (d.code !== DiagnosticCode.UnknownFlag || ctx.flags.has(ref.flagKey) || experimentOf(ctx, ref) !== undefined) {
    return {};
  }
  const suggestion = unknownKeySuggestion(ctx, ref);
  return { flagKey: ref.flagKey, ...(suggestion === undefined ? {} : { suggestion }) };
}

/** The quick fixes and refactorings at `range`; `text` is the document's (to edit around a call). */
export function codeActions(ctx: FeatureContext, uri: string, index: FileIndex | undefined, range: Range, diags: readonly Diagnostic[], text: string): CodeAction[] {
  const actions: CodeAction[] = [];
  for (const d of diags) {
    if (d.source !== DIAGNOSTIC_SOURCE) {
      continue;
    }
    const ref = index?.references.find(
      (r) => contains(r.range, d.range.start) || r.compared.some((c) => contains(c.range, d.range.start)) || (r.defaultValue !== undefined && contains(r.defaultValue.range, d.range.start)),
    );
    if (ref === undefined) {
      continue;
    }
    const data = diagnosticData(ctx, d, ref);
    if (d.code === DiagnosticCode.UnknownFlag && data.suggestion !== undefined) {
      const edit: TextEdit = { range: ref.keyRange, newText: data.suggestion };
      // Constants are followed within a file, so the key's literal is in this document either way.
      actions.push({ title: `Change to "${data.suggestion}"`, kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred: true, edit: { changes: { [uri]: [edit] } } });
    }
    // Only a key the API takes (its key rules: pattern and length): another would be refused with a 400.
    // Not for a getVariant-style call: it would return null for the new flag too.
    if (d.code === DiagnosticCode.UnknownFlag && readsFlag(ref) && ctx.canCreateFlags && data.flagKey !== undefined && keySchema.safeParse(data.flagKey).success) {
      actions.push({ title: `Create flag "${data.flagKey}" in ${ctx.snapshot.project}`, kind: CodeActionKind.QuickFix, diagnostics: [d], command: { title: 'Create flag', command: ServerCommand.CreateFlag, arguments: [data.flagKey] } });
    }
    if (d.code === DiagnosticCode.WrongDefaultType && ref.defaultValue !== undefined && contains(ref.defaultValue.range, d.range.start)) {
      const newText = defaultReplacement(ctx, ref);
      if (newText !== undefined) {
        actions.push({ title: `Change default to ${newText}`, kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred: true, edit: { changes: { [uri]: [{ range: ref.defaultValue.range, newText }] } } });
      }
    }
    if (d.code === DiagnosticCode.UnknownVariation && data.suggestion !== undefined) {
      actions.push({ title: `Change to "${data.suggestion}"`, kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred: true, edit: { changes: { [uri]: [{ range: d.range, newText: data.suggestion }] } } });
    }
  }
  let lines: string[] | undefined;
  for (const ref of index?.references ?? []) {
    if (!contains(ref.callRange, range.start)) {
      continue;
    }
    const replacement = cleanupReplacement(ctx, ref);
    if (replacement === undefined) {
      continue;
    }
    lines ??= linesOf(text);
    const start = replacementStart(lines, ref.callRange);
    const newText = inPlace(replacement, ref.language, lines, start, ref.callRange.end);
    if (newText !== undefined) {
      actions.push({
        title: `Replace stale flag "${ref.flagKey}" with ${replacement}`,
        kind: `${CodeActionKind.RefactorInline}.xp`,
        edit: { changes: { [uri]: [{ range: { start, end: ref.callRange.end }, newText }] } },
      });
    }
  }
  return actions;
}

/**
 * Keys to complete in a call's key slot: the project's flags, then keys referenced in the workspace.
 * A getVariant-style call (`kind` 'variant') takes an experiment's key: the project's experiments,
 * and flags only when the data does not list experiments (for a flag's key the SDK returns null).
 */
export function keyCompletions(ctx: FeatureContext, slotRange: Range, kind?: FlagReference['kind']): CompletionItem[] {
  const items: CompletionItem[] = [];
  const experimentCall = kind !== undefined && !readsFlag({ kind });
  const experimentKeys = new Set<string>();
  if (experimentCall) {
    for (const exp of ctx.snapshot.experiments) {
      experimentKeys.add(exp.key);
      if (exp.archived !== true) {
        items.push({ label: exp.key, kind: CompletionItemKind.Event, detail: `${exp.name} · experiment ${exp.status}`, textEdit: { range: slotRange, newText: exp.key }, sortText: `1${exp.key}` });
      }
    }
  }
  for (const record of experimentCall && experimentsKnown(ctx) ? [] : ctx.flags.values()) {
    if (experimentKeys.has(record.key)) {
      continue;
    }
    const flag = record.definition;
    items.push({
      label: flag.key,
      kind: CompletionItemKind.Constant,
      detail: `${flag.name} · ${flag.type} · ${ctx.environment} ${environmentSummary(flag, ctx.environment)}`,
      ...(flag.description === undefined ? {} : { documentation: flag.description }),
      textEdit: { range: slotRange, newText: flag.key },
      sortText: `${record.archived ? '1' : '0'}${flag.key}`,
      ...(record.archived ? { tags: [1] } : {}),
    });
  }
  // Without flag data the keys the code already uses are the best guess; with it, a key that is not
  // a flag is one the diagnostics call unknown (a typo, or an experiment's key): not offered.
  for (const key of ctx.snapshot.source === 'none' ? ctx.workspaceKeys : []) {
    if (!ctx.flags.has(key)) {
      items.push({ label: key, kind: CompletionItemKind.Text, detail: 'referenced in this workspace', textEdit: { range: slotRange, newText: key }, sortText: `2${key}` });
    }
  }
  return items;
}

export function variationCompletions(ctx: FeatureContext, ref: FlagReference, range: Range): CompletionItem[] {
  const flagKey = ref.flagKey;
  const experiment = experimentOf(ctx, ref);
  if (experiment !== undefined) {
    return expandVariations(experiment).map((v) => ({ label: v.key, kind: CompletionItemKind.EnumMember, detail: `${flagKey} variation${v.name === undefined ? '' : ` · ${v.name}`}`, textEdit: { range, newText: v.key } }));
  }
  // A getVariant-style call never returns a flag's variation (null for a flag's key).
  const record = readsFlag(ref) ? ctx.flags.get(flagKey) : undefined;
  return (record?.definition.variations ?? []).map((v) => ({
    label: v.key,
    kind: CompletionItemKind.EnumMember,
    detail: `${flagKey} variation = ${valueText(v.value)}`,
    textEdit: { range, newText: v.key },
  }));
}
