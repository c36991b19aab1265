import { useId, useState } from 'react';
import type { ReactNode } from 'react';
import type { SdkKeyView } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { SecretOnce } from '../../lib/copy-button.js';
import { FieldError, FormErrorNote, fieldErrors, invalidProps } from '../../lib/field-errors.js';
import { formatTime } from '../../lib/format.js';
import { KeepPreviousSelect } from '../../lib/keep-previous.js';
import type { KeepPreviousOption } from '../../lib/keep-previous.js';
import { pendingProps, usePermission } from '../../lib/permissions.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Confirm, Dialog, Empty, FormError, VisuallyHidden, errorMessage } from '../../lib/ui.js';

const KIND_LABEL: Readonly<Record<SdkKeyView['kind'], string>> = { server: 'Server-side (secret)', client: 'Client-side (public)' };

/** One environment's keys, in the order the environments are listed; keys of an environment since deleted come last. */
function byEnvironment(keys: readonly SdkKeyView[], environments: readonly { key: string; name: string }[]): { key: string; name: string; keys: SdkKeyView[] }[] {
  const groups = environments.map((e) => ({ key: e.key, name: e.name, keys: keys.filter((k) => k.environment === e.key) }));
  const known = new Set(environments.map((e) => e.key));
  for (const k of keys) {
    if (!known.has(k.environment)) {
      known.add(k.environment);
      groups.push({ key: k.environment, name: k.environment, keys: keys.filter((o) => o.environment === k.environment) });
    }
  }
  // Working keys first, each part oldest first as the API lists them.
  return groups.map((g) => ({ ...g, keys: [...g.keys.filter((k) => works(k)), ...g.keys.filter((k) => !works(k))] }));
}

/** Whether SDKs can still use the key: not revoked, and not past the expiry a rotation gave it. */
function works(k: SdkKeyView, now = Date.now()): boolean {
  return k.revokedAt === null && (k.expiresAt === null || Date.parse(k.expiresAt) > now);
}

function KeyStatus({ sdkKey: k }: { sdkKey: SdkKeyView }): ReactNode {
  if (k.revokedAt !== null) {
    return <Badge tone="bad">revoked {formatTime(k.revokedAt)}</Badge>;
  }
  if (k.expiresAt !== null) {
    return works(k) ? <Badge tone="warn">rotated: works until {formatTime(k.expiresAt)}</Badge> : <Badge tone="bad">expired {formatTime(k.expiresAt)}</Badge>;
  }
  return <Badge tone="good">active</Badge>;
}

/** How long a rotation keeps the old key working beside the new one, in hours (the API allows 0–168). */
const KEEP_PREVIOUS: readonly KeepPreviousOption[] = [
  { hours: 0, label: "Don't: stop it now" },
  { hours: 1, label: '1 hour' },
  { hours: 24, label: '24 hours' },
  { hours: 72, label: '3 days' },
  { hours: 168, label: '7 days' },
];

/**
 * The project's SDK keys by environment: kind, display prefix, creation, last use and status. Roles
 * holding `sdk-keys:manage` (owners, admins) create keys — the key is shown once, in the dialog
 * that created it — rotate and revoke them; the others see the list only, with the reason.
 */
export function SdkKeys(): ReactNode {
  const { client, project, environments, refreshTick } = useSession();
  const manage = usePermission('sdk-keys:manage');
  const keys = useAsync(() => client.sdkKeys(project), [client, project], { refreshKey: refreshTick });
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<SdkKeyView | null>(null);
  const [rotating, setRotating] = useState<SdkKeyView | null>(null);
  const [error, setError] = useState<string | null>(null);

  return (
    <section aria-labelledby="sdk-keys-heading">
      <div className="page-head">
        <h2 id="sdk-keys-heading">SDK keys</h2>
        {manage.allowed ? (
          <button type="button" className="primary" onClick={() => { setCreating(true); }}>
            New SDK key
          </button>
        ) : null}
      </div>
      <p className="muted small">
        Keys of project {project}, one or more per environment. Server-side keys are secrets for your back ends; client-side keys are public, for browsers and mobile apps. The
        key itself is shown once, when it is created; the list shows its first characters only. <em>Last used</em> is when the SDK endpoints last accepted a key (to the
        minute): a key unused for weeks is probably safe to revoke.
      </p>
      {manage.reason === undefined ? null : <p className="muted">{manage.reason}: owners and admins do. The list is read-only.</p>}
      <FormError message={error} />
      <AsyncView state={keys.state} onRetry={keys.reload}>
        {(list) =>
          list.length === 0 ? (
            <Empty>
              No SDK keys in this project yet.{' '}
              {manage.allowed ? 'Create one per environment: a server-side key for your back end, a client-side key for browsers and apps.' : 'Ask an owner or admin to create one.'}
            </Empty>
          ) : (
            byEnvironment(list, environments).map((group) => (
              <div key={group.key}>
                <h3>{group.name}</h3>
                {group.keys.length === 0 ? (
                  <p className="muted small">No SDK keys for {group.name}.</p>
                ) : (
                  <table aria-label={`SDK keys in ${group.name}`}>
                    <thead>
                      <tr>
                        <th>Name</th>
                        <th>Kind</th>
                        <th>Key</th>
                        <th>Created</th>
                        <th>Last used</th>
                        <th>Status</th>
                        {manage.allowed ? <th><VisuallyHidden>Actions</VisuallyHidden></th> : null}
                      </tr>
                    </thead>
                    <tbody>
                      {group.keys.map((k) => (
                        <tr key={k.id}>
                          <td>{k.name}</td>
                          <td>
                            <Badge tone={k.kind === 'server' ? 'warn' : 'info'}>{KIND_LABEL[k.kind]}</Badge>
                          </td>
                          <td>
                            <code>{k.prefix}…</code>
                          </td>
                          <td className="small">{formatTime(k.createdAt)}</td>
                          <td className="small">{k.lastUsedAt === null ? 'never' : formatTime(k.lastUsedAt)}</td>
                          <td>
                            <KeyStatus sdkKey={k} />
                          </td>
                          {manage.allowed ? (
                            <td>
                              {works(k) ? (
                                <>
                                  <button type="button" aria-label={`Rotate ${k.name}`} onClick={() => { setRotating(k); }}>
                                    Rotate…
                                  </button>{' '}
                                  <button type="button" className="danger" aria-label={`Revoke ${k.name}`} onClick={() => { setRevoking(k); }}>
                                    Revoke
                                  </button>
                                </>
                              ) : null}
                            </td>
                          ) : null}
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </div>
            ))
          )
        }
      </AsyncView>
      {creating ? (
        <CreateSdkKey
          onClose={() => { setCreating(false); }}
          onCreated={keys.reload}
        />
      ) : null}
      {revoking === null ? null : (
        <Confirm
          title={`Revoke ${revoking.name}?`}
          message={
            <p>
              SDKs using <code>{revoking.prefix}…</code> in {environments.find((e) => e.key === revoking.environment)?.name ?? revoking.environment} are refused within 30 seconds (the SDK endpoints cache keys that
              long; open streams close within 45). This cannot be undone: to replace a key in use without refused requests, rotate it instead.
            </p>
          }
          confirmLabel="Revoke"
          onCancel={() => { setRevoking(null); }}
          onConfirm={() => {
            const { id, name } = revoking;
            setRevoking(null);
            setError(null);
            client.revokeSdkKey(project, id).then(
              () => { keys.reload(); },
              (e: unknown) => {
                setError(`Could not revoke ${name}: ${errorMessage(e)}`);
                keys.reload();
              },
            );
          }}
        />
      )}
      {rotating === null ? null : (
        <RotateSdkKey
          sdkKey={rotating}
          onClose={() => { setRotating(null); }}
          onRotated={keys.reload}
        />
      )}
    </section>
  );
}

/**
 * Rotates a key: asks how long the old key keeps working (24 hours unless changed), then shows the
 * new key once, with when the old one stops.
 */
function RotateSdkKey({ sdkKey, onClose, onRotated }: { sdkKey: SdkKeyView; onClose: () => void; onRotated: () => void }): ReactNode {
  const { client, project, environments } = useSession();
  const id = useId();
  const [hours, setHours] = useState(24);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [rotated, setRotated] = useState<{ key: string; sdkKey: SdkKeyView; previous: SdkKeyView } | null>(null);
  const envName = environments.find((e) => e.key === sdkKey.environment)?.name ?? sdkKey.environment;

  const submit = async (): Promise<void> => {
    setError(null);
    setBusy(true);
    try {
      setRotated(await client.rotateSdkKey(project, sdkKey.id, { keepPreviousHours: hours }));
      onRotated();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (rotated !== null) {
    const until = rotated.previous.expiresAt;
    return (
      <Dialog title="SDK key rotated" onClose={onClose}>
        <p>
          The new key of {rotated.sdkKey.name} ({KIND_LABEL[rotated.sdkKey.kind].toLowerCase()}, {envName}).{' '}
          {until !== null && Date.parse(until) > Date.now() ? (
            <>
              The old key <code>{rotated.previous.prefix}…</code> keeps working until {formatTime(until)}: deploy the new one everywhere before then. Its <em>Last used</em> shows
              when the last service has moved.
            </>
          ) : (
            <>
              The old key <code>{rotated.previous.prefix}…</code> has stopped working.
            </>
          )}
        </p>
        <p className="banner banner-warn">Copy this key now: you won't see it again.</p>
        <SecretOnce value={rotated.key} copyLabel="Copy key" onDone={onClose} />
      </Dialog>
    );
  }
  return (
    <Dialog title={`Rotate ${sdkKey.name}?`} onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <p>
          A new key replaces <code>{sdkKey.prefix}…</code> ({KIND_LABEL[sdkKey.kind].toLowerCase()}, {envName}), with the same name. It is shown once.
        </p>
        {sdkKey.expiresAt === null ? null : (
          <p className="banner banner-warn">
            This key was rotated already and stops working at {formatTime(sdkKey.expiresAt)}: a new rotation can bring that closer, never later.
          </p>
        )}
        <KeepPreviousSelect label="Keep the old key working for" options={KEEP_PREVIOUS} hours={hours} onChange={setHours} describedBy={`${id}-help`} />
        <p id={`${id}-help`} className="small muted">
          {hours === 0
            ? 'SDKs still using the old key are refused at once here, within 30 seconds on other instances: for a key that leaked.'
            : 'Both keys work meanwhile, so services move to the new one without a refused request; the old one then stops on its own.'}
        </p>
        <FormError message={error === null ? null : errorMessage(error)} />
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" {...pendingProps(busy)}>
            Rotate key
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Creates a key for an environment; then shows the key once, with a copy button, until closed. */
function CreateSdkKey({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }): ReactNode {
  const { client, project, environments, environment: current } = useSession();
  const [environment, setEnvironment] = useState(current);
  const [kind, setKind] = useState<SdkKeyView['kind']>('server');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<{ key: string; sdkKey: SdkKeyView } | null>(null);
  const fields = fieldErrors(error);

  const submit = async (): Promise<void> => {
    setError(null);
    setBusy(true);
    try {
      const res = await client.createSdkKey(project, { environment, kind, name: name.trim() });
      setCreated(res);
      onCreated();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (created !== null) {
    const envName = environments.find((e) => e.key === created.sdkKey.environment)?.name ?? created.sdkKey.environment;
    return (
      <Dialog title="SDK key created" onClose={onClose}>
        <p>
          {created.sdkKey.name}: {KIND_LABEL[created.sdkKey.kind].toLowerCase()} key for {envName}.
        </p>
        <p className="banner banner-warn">
          Copy this key now: you won't see it again. The console and the API keep only its first characters.
          {created.sdkKey.kind === 'server' ? ' Keep it secret: use it on servers only, never in a browser or app.' : ' It is public: it goes in browser and mobile app code.'}
        </p>
        <SecretOnce value={created.key} copyLabel="Copy key" onDone={onClose} />
      </Dialog>
    );
  }
  return (
    <Dialog title="New SDK key" onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          Environment
          <select value={environment} onChange={(e) => { setEnvironment(e.target.value); }} {...invalidProps('sdk-key-environment-error', fields.get('environment'))}>
            {environments.map((env) => (
              <option key={env.key} value={env.key}>
                {env.name}
              </option>
            ))}
          </select>
        </label>
        <FieldError id="sdk-key-environment-error" message={fields.get('environment')} />
        <fieldset>
          <legend>Kind</legend>
          {(['server', 'client'] as const).map((k) => (
            <label key={k} className="inline">
              <input type="radio" name="sdk-key-kind" value={k} checked={kind === k} onChange={() => { setKind(k); }} /> {KIND_LABEL[k]}
            </label>
          ))}
        </fieldset>
        <label>
          Name
          <input required maxLength={100} value={name} placeholder="e.g. checkout service" onChange={(e) => { setName(e.target.value); }} {...invalidProps('sdk-key-name-error', fields.get('name'))} />
        </label>
        <FieldError id="sdk-key-name-error" message={fields.get('name')} />
        <FormErrorNote error={error} shown={['environment', 'name']} />
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={environments.length === 0} {...pendingProps(busy)}>
            Create key
          </button>
        </div>
      </form>
    </Dialog>
  );
}
