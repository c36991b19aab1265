import type { ReactNode } from 'react';
import type { AccessTokenView } from '@xp/shared';
import { formatTime } from '../../lib/format.js';
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
