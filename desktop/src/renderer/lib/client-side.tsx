import { useId } from 'react';
import type { ReactNode } from 'react';
import { ExplainedBadge } from './ui.js';

/**
 * Server-side-only flags and experiments (`clientSide: false`): client-side SDK keys (xpk_cli_…,
 * shipped in browsers and apps, so anyone can read them) download the ruleset without them and
 * without the id lists only they use. Absent or true: available to both kinds of key.
 */

export const CLIENT_SIDE_LABEL = 'Available to client-side SDKs (browsers, mobile apps)';

/** Whether a definition is served to client-side keys: everything but an explicit `false`. */
export function availableToClientSide(definition: { readonly clientSide?: boolean | undefined }): boolean {
  return definition.clientSide !== false;
}

/**
 * The definition with its availability set: `clientSide: false` when not available; when available,
 * the field as stored if it already said so (`true`), otherwise left out (the default), so saving
 * an unchanged form writes no change.
 */
export function withClientSide<T extends { readonly clientSide?: boolean | undefined }>(definition: T, available: boolean): T {
  const { clientSide, ...rest } = definition;
  if (!available) {
    return { ...rest, clientSide: false } as T;
  }
  return (clientSide === true ? definition : rest) as T;
}

const EXPLANATION = {
  flag: 'Turning this off keeps the flag, and the id lists only it uses, out of what client-side keys download (unless a client-side flag has it as a prerequisite); server-side keys still get it.',
  experiment: 'Turning this off keeps the experiment, and the id lists only it uses, out of what client-side keys download (unless a client-side flag runs it); server-side keys still get it.',
} as const;

/** The "Available to client-side SDKs" checkbox with its one-line explanation (its accessible description). */
export function ClientSideField({ kind, checked, onChange }: { kind: 'flag' | 'experiment'; checked: boolean; onChange: (available: boolean) => void }): ReactNode {
  const hint = useId();
  return (
    <div className="client-side-field">
      <label className="check">
        <input type="checkbox" checked={checked} aria-describedby={hint} onChange={(e) => { onChange(e.target.checked); }} />
        {CLIENT_SIDE_LABEL}
      </label>
      <p id={hint} className="small muted">
        {EXPLANATION[kind]}
      </p>
    </div>
  );
}

/** "server-side only" for a definition client-side keys do not download; nothing otherwise. */
export function ServerSideOnlyBadge({ definition }: { definition: { readonly clientSide?: boolean | undefined } }): ReactNode {
  return availableToClientSide(definition) ? null : (
    <ExplainedBadge tone="info" label="server-side only">
      Client-side SDK keys (browsers, mobile apps) do not download it; server-side keys do.
    </ExplainedBadge>
  );
}
