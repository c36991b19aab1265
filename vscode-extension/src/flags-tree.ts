import type { FlagEvaluationSummary, FlagReferenceSummary, FlagSummary } from '@xp/language-server/protocol';

/** A group of the Flags view: a flag state, or the active flags no SDK evaluated lately. */
export type GroupKind = FlagSummary['state'] | 'not-evaluated';

/** A node of the Flags view: a group, a flag, or one reference of a flag. */
export type FlagTreeNode =
  | { readonly kind: 'group'; readonly state: GroupKind; readonly label: string; readonly flags: readonly FlagSummary[]; readonly unchecked?: boolean }
  | { readonly kind: 'flag'; readonly flag: FlagSummary; readonly unchecked?: boolean }
  | { readonly kind: 'reference'; readonly flag: FlagSummary; readonly uri: string; readonly line: number; readonly character: number; readonly snippet: string };

const GROUPS: readonly { state: GroupKind; label: string }[] = [
  { state: 'active', label: 'Active' },
  { state: 'not-evaluated', label: 'Not evaluated in {days} days' },
  { state: 'stale', label: 'Stale (fully rolled out)' },
  { state: 'unknown', label: 'Unknown (in code, not in the project)' },
  { state: 'archived', label: 'Archived' },
];

/**
 * Whether no SDK evaluated the flag in the whole window, by counts the server has (never without
 * counts, nor when counting began within the window: then it is only "not evaluated since").
 */
const notEvaluated = (f: FlagSummary): boolean => f.evaluations !== undefined && f.evaluations.total === 0 && f.evaluations.countingSince === undefined;

/** The group a flag is listed in: active flags no SDK evaluated lately are listed apart (removal candidates). */
const groupOf = (f: FlagSummary): GroupKind => (f.state === 'active' && notEvaluated(f) ? 'not-evaluated' : f.state);

/**
 * Top level: one group per state that has flags, and, where the project reports evaluation counts,
 * the active flags none evaluated lately. Without flag data (no API, no flags file: the server's
 * source is `none`) the keys in code are not checked against any project: they are listed as such,
 * not as unknown.
 */
export function rootNodes(flags: readonly FlagSummary[], options: { readonly flagData?: boolean } = {}): FlagTreeNode[] {
  const unchecked = options.flagData === false;
  const days = flags.find((f) => f.evaluations !== undefined)?.evaluations?.days ?? 0;
  return GROUPS.flatMap((g) => {
    const members = flags.filter((f) => groupOf(f) === g.state);
    if (members.length === 0) {
      return [];
    }
    const label = unchecked && g.state === 'unknown' ? 'In code (no flag data to check them against)' : g.label.replace('{days}', String(days));
    return [{ kind: 'group' as const, state: g.state, label: `${label} (${members.length})`, flags: members, ...(unchecked && g.state === 'unknown' ? { unchecked } : {}) }];
  });
}

export function childNodes(node: FlagTreeNode): FlagTreeNode[] {
  switch (node.kind) {
    case 'group':
      return node.flags.map((flag) => ({ kind: 'flag' as const, flag, ...(node.unchecked === true ? { unchecked: true } : {}) }));
    case 'flag':
      return referenceNodes(node.flag, node.flag.references);
    case 'reference':
      return [];
  }
}

/** A flag's reference nodes, from the references the server sent for it (xp/flagReferences). */
export function referenceNodes(flag: FlagSummary, references: readonly FlagReferenceSummary[]): FlagTreeNode[] {
  return references.map((r) => ({ kind: 'reference' as const, flag, uri: r.uri, line: r.line, character: r.character, snippet: r.snippet }));
}

export interface TreeItemView {
  /** Stable across refreshes (a count in a group's label changes): VS Code keeps the item's expansion. */
  readonly id: string;
  readonly label: string;
  readonly description?: string;
  readonly tooltip?: string;
  readonly collapsible: boolean;
  /**
   * contextValue for menus (package.json `view/item/context`): xp-flag (active or stale: every
   * action), xp-archived-flag (no toggle or rollout), xp-unknown-flag (copy key only), xp-reference,
   * xp-group.
   */
  readonly contextValue: string;
  readonly icon?: string;
}

function fileName(uri: string): string {
  const path = decodeURIComponent(new URL(uri).pathname);
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `3 min ago`, `5 h ago`, `2 days ago` from `iso` to `now` (ms). */
export function ago(iso: string, now: number): string {
  const minutes = Math.floor((now - Date.parse(iso)) / 60_000);
  if (!Number.isFinite(minutes)) {
    return 'at an unknown time';
  }
  return minutes < 1 ? 'just now' : minutes < 60 ? `${minutes} min ago` : minutes < 48 * 60 ? `${Math.floor(minutes / 60)} h ago` : `${Math.floor(minutes / 1440)} days ago`;
}

/**
 * The evaluations of a flag as the item's description (`12,345 evals · 3 min ago`, `not evaluated in
 * 30 days`) and tooltip lines (with the applications that evaluated it, where the server names them);
 * both empty without counts.
 */
function evaluationsText(f: FlagSummary, now: number): { readonly description: string; readonly tooltip: string } {
  const e = f.evaluations;
  if (e === undefined) {
    return { description: '', tooltip: '' };
  }
  if ((e.total === 0 || e.lastEvaluatedAt === null) && e.countingSince !== undefined) {
    const since = e.countingSince.slice(0, 10);
    return { description: ` · not evaluated since ${since}`, tooltip: `\nNot evaluated since evaluation counting began on ${since}: too soon to tell whether deployed code still asks for it` };
  }
  if (e.total === 0 || e.lastEvaluatedAt === null) {
    return { description: ` · not evaluated in ${e.days} days`, tooltip: `\nNot evaluated in the last ${e.days} days by any SDK that reports evaluation counts` };
  }
  const total = e.total.toLocaleString('en-US');
  const last = ago(e.lastEvaluatedAt, now);
  const apps = e.apps === undefined || e.apps.length === 0 ? '' : `\nby ${appsText(e.apps)}`;
  return { description: ` · ${total} eval${e.total === 1 ? '' : 's'} · ${last}`, tooltip: `\nEvaluated ${total} time${e.total === 1 ? '' : 's'} in the last ${e.days} days, last ${last}${apps}` };
}

/** How many applications a tooltip names before "+N more" (as hovers do). */
const APPS_SHOWN = 3;

/** "checkout-api 10,000 · web-shop 2,345 · no app named 12 · +2 more", as the language server's hovers say it. */
function appsText(apps: NonNullable<FlagEvaluationSummary['apps']>): string {
  const shown = apps.slice(0, APPS_SHOWN).map((a) => `${a.app ?? 'no app named'} ${a.count.toLocaleString('en-US')}`);
  return [...shown, ...(apps.length > APPS_SHOWN ? [`+${apps.length - APPS_SHOWN} more`] : [])].join(' · ');
}

/** `now` (ms) dates the evaluations' "3 min ago". */
export function itemView(node: FlagTreeNode, now: number = Date.now()): TreeItemView {
  switch (node.kind) {
    case 'group':
      return { id: `group:${node.state}`, label: node.label, collapsible: true, contextValue: 'xp-group' };
    case 'flag': {
      const f = node.flag;
      const refs = `${f.referenceCount} ref${f.referenceCount === 1 ? '' : 's'}`;
      const usage = evaluationsText(f, now);
      return {
        id: `flag:${f.key}`,
        label: f.key,
        description: f.state === 'unknown' ? `${refs}${usage.description}` : `${f.summary} · ${refs}${usage.description}`,
        tooltip:
          node.unchecked === true
            ? `${f.key}: no flag data to check it against (sign in, or add a flags file)`
            : f.state === 'unknown'
              ? `${f.key}: not a flag of this project${usage.tooltip}`
              : `${f.name} (${f.type})\n${f.environments.map((e) => `${e.key}: ${e.summary}`).join('\n')}${usage.tooltip}`,
        collapsible: f.referenceCount > 0,
        contextValue: f.state === 'unknown' ? 'xp-unknown-flag' : f.state === 'archived' ? 'xp-archived-flag' : 'xp-flag',
        icon: node.unchecked === true ? 'symbol-constant' : f.state === 'unknown' ? 'warning' : f.environments.some((e) => e.enabled) ? 'pass-filled' : 'circle-large-outline',
      };
    }
    case 'reference':
      return { id: `ref:${node.flag.key}:${node.uri}:${node.line}:${node.character}`, label: `${fileName(node.uri)}:${node.line + 1}`, description: node.snippet, tooltip: node.uri, collapsible: false, contextValue: 'xp-reference', icon: 'references' };
  }
}
