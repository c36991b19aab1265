import { useState } from 'react';
import type { ReactNode } from 'react';
import type { TokenPolicyInput, TokenPolicyView } from '@xp/shared';
import { useSession } from '../../app/session.js';
import type { Session } from '../../app/session.js';
import { FieldError, FormErrorNote, fieldErrors, invalidProps } from '../../lib/field-errors.js';
import { permissionsOf, pendingProps } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, isConflict } from '../../lib/ui.js';

/** The longest lifetime the API accepts, in days (cloud tokenPolicySchema). */
export const MAX_POLICY_DAYS = 3650;

const ORG_SETTINGS = 'org-settings:manage';

/**
 * Whether the signed-in user may change the token policy: their organisation role holds
 * org-settings:manage in the API's matrix; an API whose matrix does not list it (or none loaded):
 * owners, as the API has it.
 */
export function canEditTokenPolicy(session: Pick<Session, 'user' | 'matrix'>): boolean {
  const matrix = session.matrix;
  if (matrix === undefined || !matrix.permissions.some((p) => p.permission === ORG_SETTINGS)) {
    return session.user.role === 'owner';
  }
  return permissionsOf(matrix, session.user.role).has(ORG_SETTINGS);
}

const days = (n: number): string => `${n.toLocaleString('en-US')} ${n === 1 ? 'day' : 'days'}`;

/** "90 days" or what an unset lifetime means. */
export function describeMax(max: number | null): string {
  return max === null ? 'No maximum: tokens may never expire' : days(max);
}

export function describeDefault(policy: TokenPolicyInput): string {
  if (policy.defaultLifetimeDays !== null) {
    return days(policy.defaultLifetimeDays);
  }
  return policy.maxLifetimeDays === null ? 'No default: a token made without a lifetime never expires' : `No default: a token made without a lifetime gets the maximum (${days(policy.maxLifetimeDays)})`;
}

/** What the form's two fields hold, as typed. */
export interface PolicyDraft {
  readonly max: string;
  readonly fallback: string;
}

export type PolicyCheck = { readonly ok: true; readonly policy: TokenPolicyInput } | { readonly ok: false; readonly errors: { readonly max?: string; readonly fallback?: string } };

/** One field: empty is null (unset), else whole days from 1 to 3,650. */
function parseDays(text: string, unset: string): { value: number | null; error?: string } {
  const t = text.trim();
  if (t === '') {
    return { value: null };
  }
  if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > MAX_POLICY_DAYS) {
    return { value: null, error: `Whole days from 1 to ${MAX_POLICY_DAYS.toLocaleString('en-US')}, or empty for ${unset}` };
  }
  return { value: Number(t) };
}

/** The policy a draft asks for, or why the API would refuse it (the same rules: whole days, 1–3,650, the default at most the maximum). */
export function checkPolicy(draft: PolicyDraft): PolicyCheck {
  const max = parseDays(draft.max, 'no maximum');
  const fallback = parseDays(draft.fallback, 'no default');
  const over = max.error === undefined && fallback.error === undefined && max.value !== null && fallback.value !== null && fallback.value > max.value;
  const errors = {
    ...(max.error === undefined ? {} : { max: max.error }),
    ...(fallback.error !== undefined ? { fallback: fallback.error } : over ? { fallback: `At most the maximum (${days(max.value!)})` } : {}),
  };
  return errors.max === undefined && errors.fallback === undefined ? { ok: true, policy: { maxLifetimeDays: max.value, defaultLifetimeDays: fallback.value } } : { ok: false, errors };
}

/** The note after a save: how many live tokens outlast the new maximum (none: nothing to say). */
export function exceedingNote(n: number): string | null {
  if (n <= 0) {
    return null;
  }
  return n === 1
    ? '1 live token outlasts the new maximum; it keeps its expiry — revoke it to apply it.'
    : `${n.toLocaleString('en-US')} live tokens outlast the new maximum; they keep their expiry — revoke them to apply it.`;
}

const draftOf = (p: TokenPolicyInput): PolicyDraft => ({ max: p.maxLifetimeDays === null ? '' : String(p.maxLifetimeDays), fallback: p.defaultLifetimeDays === null ? '' : String(p.defaultLifetimeDays) });

/**
 * The organisation's token policy: the longest and the default lifetime of new access tokens (API
 * keys and service accounts' tokens). Everyone sees it; owners change it, from the version read
 * (If-Match): another owner's change since reloads it, with a note.
 */
export function TokenPolicySection(): ReactNode {
  const session = useSession();
  const { client } = session;
  // An answer missing a field (not this API's) reads as unset rather than breaking the screen.
  const policy = useAsync(
    () => client.tokenPolicy().then((p): TokenPolicyView => ({ maxLifetimeDays: p.maxLifetimeDays ?? null, defaultLifetimeDays: p.defaultLifetimeDays ?? null, ...(typeof p.version === 'number' ? { version: p.version } : {}) })),
    [client],
  );
  const editable = canEditTokenPolicy(session);
  // What happened to the last save, kept across the reload a conflict makes.
  const [saved, setSaved] = useState<{ readonly exceeding: number } | null>(null);
  const [conflict, setConflict] = useState(false);

  return (
    <section aria-labelledby="token-policy-heading">
      <h2 id="token-policy-heading">Token policy</h2>
      <p className="muted">
        How long new API keys and service-account tokens may live. Existing tokens keep their expiry.
      </p>
      <AsyncView state={policy.state} onRetry={policy.reload}>
        {(p) => (
          <>
            <dl>
              <dt>Maximum lifetime</dt>
              <dd>{describeMax(p.maxLifetimeDays)}</dd>
              <dt>Default lifetime</dt>
              <dd>{describeDefault(p)}</dd>
            </dl>
            {!editable ? (
              <p className="small muted">Only owners change the token policy.</p>
            ) : p.version === undefined ? (
              <p className="small muted">This server cannot take changes of the policy from the console: change it with the API.</p>
            ) : (
              <PolicyForm
                // A new version (saved, or reloaded after a conflict) starts the form from it.
                key={p.version}
                policy={p}
                version={p.version}
                onSaved={(next) => {
                  setConflict(false);
                  setSaved({ exceeding: next.liveTokensExceedingMax });
                  policy.setData(() => next);
                }}
                onConflict={() => {
                  setSaved(null);
                  setConflict(true);
                  policy.reload();
                }}
                onEdit={() => { setSaved(null); }}
              />
            )}
          </>
        )}
      </AsyncView>
      {conflict ? (
        <p className="banner banner-warn" role="alert">
          Someone else changed the token policy since you opened it. It has been reloaded: check it, then save your change again.
        </p>
      ) : null}
      {saved === null ? null : (
        <p className="banner banner-good" role="status">
          Token policy saved.{exceedingNote(saved.exceeding) === null ? null : <> {exceedingNote(saved.exceeding)}</>}
        </p>
      )}
    </section>
  );
}

function PolicyForm({ policy, version, onSaved, onConflict, onEdit }: { policy: TokenPolicyView; version: number; onSaved: (next: TokenPolicyView & { liveTokensExceedingMax: number }) => void; onConflict: () => void; onEdit: () => void }): ReactNode {
  const { client } = useSession();
  const [draft, setDraft] = useState<PolicyDraft>(() => draftOf(policy));
  const [problems, setProblems] = useState<{ readonly max?: string; readonly fallback?: string }>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const api = fieldErrors(error);
  const maxError = problems.max ?? api.get('maxLifetimeDays');
  const fallbackError = problems.fallback ?? api.get('defaultLifetimeDays');
  const unchanged = draft.max.trim() === draftOf(policy).max && draft.fallback.trim() === draftOf(policy).fallback;

  const edit = (next: Partial<PolicyDraft>): void => {
    setDraft((d) => ({ ...d, ...next }));
    setProblems({});
    setError(null);
    onEdit();
  };

  const submit = async (): Promise<void> => {
    const checked = checkPolicy(draft);
    if (!checked.ok) {
      setProblems(checked.errors);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      onSaved(await client.setTokenPolicy(checked.policy, version));
    } catch (e: unknown) {
      if (isConflict(e)) {
        onConflict();
      } else {
        setError(e);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="panel"
      aria-label="Change the token policy"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <label>
        Maximum lifetime (days)
        <input
          inputMode="numeric"
          value={draft.max}
          onChange={(e) => { edit({ max: e.target.value }); }}
          {...invalidProps('token-policy-max-error', maxError)}
          aria-describedby={maxError === undefined ? 'token-policy-max-help' : 'token-policy-max-error token-policy-max-help'}
        />
      </label>
      <FieldError id="token-policy-max-error" message={maxError} />
      <span id="token-policy-max-help" className="small muted">
        Whole days, 1 to {MAX_POLICY_DAYS.toLocaleString('en-US')}; empty for no maximum. Under a maximum no new token lives longer, and none lives forever.
      </span>
      <label>
        Default lifetime (days)
        <input
          inputMode="numeric"
          value={draft.fallback}
          onChange={(e) => { edit({ fallback: e.target.value }); }}
          {...invalidProps('token-policy-default-error', fallbackError)}
          aria-describedby={fallbackError === undefined ? 'token-policy-default-help' : 'token-policy-default-error token-policy-default-help'}
        />
      </label>
      <FieldError id="token-policy-default-error" message={fallbackError} />
      <span id="token-policy-default-help" className="small muted">
        What a token made without a lifetime gets, at most the maximum; empty for no default (the maximum, or never expiring without one).
      </span>
      <div className="actions">
        <button type="submit" className="primary" {...pendingProps(busy || unchanged)}>
          Save token policy
        </button>
      </div>
      <FormErrorNote error={error} shown={['maxLifetimeDays', 'defaultLifetimeDays']} />
    </form>
  );
}
