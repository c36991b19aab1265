import { useState } from 'react';
import type { ReactNode } from 'react';
import type { AccessTokenView, TokenPolicyView } from '@xp/shared';
import { FieldError, invalidProps } from '../../lib/field-errors.js';
import { useSession } from '../../app/session.js';
import { formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { Badge, VisuallyHidden } from '../../lib/ui.js';

/**
 * What a key may do, in a few words: "viewer · demo, shop", "your role · all projects" (an API without
 * scopes sends neither: the user's role, every project). `follows` names the role a key without one
 * acts with (a service account's token: "the account's role").
 */
export function tokenAccess(t: Pick<AccessTokenView, 'role' | 'projects'>, follows = 'your role'): string {
  const role = t.role ?? follows;
  const projects = t.projects ?? null;
  // Limited to projects that were all deleted since: it reaches none (never "all").
  return `${role} · ${projects === null ? 'all projects' : projects.length === 0 ? 'no project left' : projects.join(', ')}`;
}

/** A lifetime offered when minting a token: days, or null for never. */
export interface ExpiryChoice {
  readonly days: number | null;
  readonly label: string;
}

const LIFETIMES: readonly (number | null)[] = [30, 90, 180, 365, null];
const lifetimeLabel = (days: number | null): string => (days === null ? 'Never' : days === 365 ? '1 year' : `${days.toLocaleString('en-US')} days`);

/**
 * The lifetimes the organisation's token policy lets a new token have, and the one chosen first.
 * With a maximum: the usual ones within it, and the maximum itself; never "Never". With a default (a
 * mint without a lifetime gets it), no "Never" either: the API cannot be asked for one then. The first
 * choice: the policy's default, else 90 days (or the maximum below it). Without a policy (not read yet,
 * or a server from before policies): the usual ones, 90 days first.
 */
export function expiryChoices(policy: TokenPolicyView | null | undefined): { readonly choices: readonly ExpiryChoice[]; readonly initial: number | null } {
  const max = policy?.maxLifetimeDays ?? null;
  const fallback = policy?.defaultLifetimeDays ?? null;
  const days = new Set<number | null>(LIFETIMES.filter((d) => (d === null ? max === null && fallback === null : max === null || d <= max)));
  if (max !== null) {
    days.add(max);
  }
  if (fallback !== null) {
    days.add(fallback);
  }
  const ordered = [...days].sort((a, b) => (a === null ? 1 : b === null ? -1 : a - b));
  const initial = fallback ?? (max === null ? 90 : Math.min(90, max));
  return {
    choices: ordered.map((d) => ({ days: d, label: `${lifetimeLabel(d)}${d !== null && d === max ? ' (the maximum)' : ''}` })),
    initial,
  };
}

/**
 * The lifetime of a token being made, under the organisation's token policy (read once; older servers
 * have none: the usual choices): its value for ExpiryField ('' for never; the policy's first choice
 * until one is picked), the choices, and the setter.
 */
export function useTokenLifetime(): { readonly expiry: string; readonly choices: readonly ExpiryChoice[]; readonly setExpiry: (value: string) => void } {
  const { client } = useSession();
  const policy = useAsync(() => client.tokenPolicy().catch(() => null), [client]);
  const lifetimes = expiryChoices(policy.state.status === 'ready' ? policy.state.data : null);
  const [chosen, setExpiry] = useState<string | undefined>(undefined);
  return { expiry: chosen ?? (lifetimes.initial === null ? '' : String(lifetimes.initial)), choices: lifetimes.choices, setExpiry };
}

/** "Expires after": a select of `choices` (its value the days as text, '' for never) with the API's error beside it. */
export function ExpiryField({ id, value, onChange, choices, error }: { id: string; value: string; onChange: (value: string) => void; choices: readonly ExpiryChoice[]; error: string | undefined }): ReactNode {
  return (
    <>
      <label>
        Expires after
        <select value={value} onChange={(e) => { onChange(e.target.value); }} {...invalidProps(`${id}-expiry-error`, error)}>
          {choices.map((x) => (
            <option key={x.label} value={x.days === null ? '' : String(x.days)}>
              {x.label}
            </option>
          ))}
        </select>
      </label>
      <FieldError id={`${id}-expiry-error`} message={error} />
    </>
  );
}

/** Whether a token has passed its expiry (a revoked one is revoked, whatever its expiry). */
export function isExpired(t: Pick<AccessTokenView, 'expiresAt' | 'revokedAt'>, now = Date.now()): boolean {
  return t.revokedAt === null && t.expiresAt !== null && Date.parse(t.expiresAt) <= now;
}

/**
 * Access tokens as a table — your personal API keys, a service account's tokens — never their
 * secrets: name, first characters, what each may do, created, expires, last used, and Revoke for
 * one that still works (*revoked* or *expired* otherwise). `follows` names the role of a token
 * without one ("your role", "the account's role"); `revokeName` gives each Revoke button its own
 * accessible name when the table sits beside others.
 */
export function TokenTable({ label, tokens, follows, onRevoke, revokeName }: { label: string; tokens: readonly AccessTokenView[]; follows?: string; onRevoke: (t: AccessTokenView) => void; revokeName?: (t: AccessTokenView) => string }): ReactNode {
  return (
    <table aria-label={label}>
      <thead>
        <tr>
          <th>Name</th>
          <th>Prefix</th>
          <th>Access</th>
          <th>Created</th>
          <th>Expires</th>
          <th>Last used</th>
          <th>
            <VisuallyHidden>Actions</VisuallyHidden>
          </th>
        </tr>
      </thead>
      <tbody>
        {tokens.map((t) => (
          <tr key={t.id}>
            <td>{t.name}</td>
            <td>
              <code>{t.prefix}…</code>
            </td>
            <td className="small">{follows === undefined ? tokenAccess(t) : tokenAccess(t, follows)}</td>
            <td className="small">{formatTime(t.createdAt)}</td>
            <td className="small">{t.expiresAt === null ? 'never' : formatTime(t.expiresAt)}</td>
            <td className="small">{t.lastUsedAt === null ? 'never' : formatTime(t.lastUsedAt)}</td>
            <td>
              {t.revokedAt !== null ? (
                <Badge tone="bad">revoked</Badge>
              ) : isExpired(t) ? (
                <Badge tone="warn">expired</Badge>
              ) : (
                <button type="button" className="danger" {...(revokeName === undefined ? {} : { 'aria-label': revokeName(t) })} onClick={() => { onRevoke(t); }}>
                  Revoke
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
