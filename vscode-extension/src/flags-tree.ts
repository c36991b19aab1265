import type { FlagReferenceSummary, FlagSummary } from '@xp/language-server/protocol';

/** A node of the Flags view: a state group, a flag, or one reference of a flag. */
export type FlagTreeNode =
  | { readonly kind: 'group'; readonly state: FlagSummary['state']; readonly label: string; readonly flags: readonly FlagSummary[]; readonly unchecked?: boolean }
  | { readonly kind: 'flag'; readonly flag: FlagSummary; readonly unchecked?: boolean }
  | { readonly kind: 'reference'; readonly flag: FlagSummary; readonly uri: string; readonly line: number; readonly character: number; readonly snippet: string };

const GROUPS: readonly { state: FlagSummary['state']; label: string }[] = [
  { state: 'active', label: 'Active' },
  { state: 'stale', label: 'Stale (fully rolled out)' },
  { state: 'unknown', label: 'Unknown (in code, not in the project)' },
  { state: 'archived', label: 'Archived' },
];

/**
 * Top level: one group per state that has flags. Without flag data (no API, no flags file: the
 * server's source is `none`) the keys in code are not checked against any project: they are listed
 * as such, not as unknown.
 */
export function rootNodes(flags: readonly FlagSummary[], options: { readonly flagData?: boolean } = {}): FlagTreeNode[] {
  const unchecked = options.flagData === false;
  return GROUPS.flatMap((g) => {
    const members = flags.filter((f) => f.state === g.state);
    if (members.length === 0) {
      return [];
    }
    const label = unchecked && g.state === 'unknown' ? 'In code (no flag data to check them against)' : g.label;
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

export function itemView(node: FlagTreeNode): TreeItemView {
  switch (node.kind) {
    case 'group':
      return { id: `group:${node.state}`, label: node.label, collapsible: true, contextValue: 'xp-group' };
    case 'flag': {
      const f = node.flag;
      const refs = `${f.referenceCount} ref${f.referenceCount === 1 ? '' : 's'}`;
      return {
        id: `flag:${f.key}`,
        label: f.key,
        description: f.state === 'unknown' ? refs : `${f.summary} · ${refs}`,
        tooltip:
          node.unchecked === true
            ? `${f.key}: no flag data to check it against (sign in, or add a flags file)`
            : f.state === 'unknown'
              ? `${f.key}: not a flag of this project`
              : `${f.name} (${f.type})\n${f.environments.map((e) => `${e.key}: ${e.summary}`).join('\n')}`,
        collapsible: f.referenceCount > 0,
        contextValue: f.state === 'unknown' ? 'xp-unknown-flag' : f.state === 'archived' ? 'xp-archived-flag' : 'xp-flag',
        icon: node.unchecked === true ? 'symbol-constant' : f.state === 'unknown' ? 'warning' : f.environments.some((e) => e.enabled) ? 'pass-filled' : 'circle-large-outline',
      };
    }
    case 'reference':
      return { id: `ref:${node.flag.key}:${node.uri}:${node.line}:${node.character}`, label: `${fileName(node.uri)}:${node.line + 1}`, description: node.snippet, tooltip: node.uri, collapsible: false, contextValue: 'xp-reference', icon: 'references' };
  }
}
