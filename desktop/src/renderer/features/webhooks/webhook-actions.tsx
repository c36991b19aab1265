import { useId, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from '@xp/shared';
import type { Webhook, WebhookWithSecret } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { Confirm, errorMessage, isConflict } from '../../lib/ui.js';
import { KeepPreviousSelect } from '../../lib/keep-previous.js';
import type { KeepPreviousOption } from '../../lib/keep-previous.js';
import { SecretDialog, WebhookFormDialog } from './webhook-form.js';

/**
 * Why an action failed, in a sentence. A stale version (409 VERSION_CONFLICT) says so in the
 * editors' words; the screen reloads the webhook at once, so the user sees it as it is now.
 */
export function failure(what: string, error: unknown): string {
  if (isConflict(error) && error instanceof ApiError) {
    return `${what}: Someone else changed this since you opened it (${error.message}). It has been reloaded: check it, then try again.`;
  }
  return `${what}: ${errorMessage(error)}`;
}

/**
 * The webhooks the screen's own actions answered, by id: a refresh that left before an action
 * answered brings an older version, which must not replace the newer one (the next action would
 * send a stale version). `keep` records an answer; `newest` picks, for each loaded webhook, the
 * newer of the two.
 */
export function useNewestWebhooks(): { keep: (webhook: Webhook) => void; newest: (webhook: Webhook) => Webhook } {
  const known = useRef(new Map<string, Webhook>());
  return {
    keep: (webhook) => {
      known.current.set(webhook.id, webhook);
    },
    newest: (webhook) => {
      const mine = known.current.get(webhook.id);
      return mine !== undefined && mine.version > webhook.version ? mine : webhook;
    },
  };
}

/** How long a rotation may keep the previous secret signing beside the new one, in hours (the API allows 0–168). */
const KEEP_PREVIOUS: readonly KeepPreviousOption[] = [
  { hours: 0, label: "Don't" },
  { hours: 1, label: '1 hour' },
  { hours: 24, label: '24 hours' },
  { hours: 168, label: '7 days' },
];

/**
 * The confirmation of a rotation, with how long the old secret keeps signing beside the new one:
 * not at all (the default) or up to 7 days, which `onConfirm` gets in hours.
 */
function RotateConfirm({ name, onConfirm, onCancel }: { name: string; onConfirm: (keepPreviousHours: number) => void; onCancel: () => void }): ReactNode {
  const id = useId();
  const [hours, setHours] = useState(0);
  const chosen = KEEP_PREVIOUS.find((k) => k.hours === hours);
  return (
    <Confirm
      title={`Rotate the secret of ${name}?`}
      message={
        <>
          <p>
            {hours === 0
              ? 'The current signing secret stops at once: deliveries from now on are signed with the new one, which is shown once. Update your receiver with it straight away.'
              : `Deliveries from now on are signed with the new secret, which is shown once, and with the current one for ${chosen?.label ?? `${hours} hours`} more.`}
          </p>
          <KeepPreviousSelect label="Keep the old secret working for" options={KEEP_PREVIOUS} hours={hours} onChange={setHours} describedBy={`${id}-help`} />
          <p id={`${id}-help`} className="small muted">
            Meanwhile every request carries both signatures (two <code>v1=</code> in <code>X-XP-Signature</code>), so you can switch your receiver to the new secret without it refusing
            deliveries.
          </p>
        </>
      }
      confirmLabel="Rotate secret"
      onCancel={onCancel}
      onConfirm={() => { onConfirm(hours); }}
    />
  );
}

type Open = { readonly kind: 'edit' | 'delete' | 'rotate'; readonly webhook: Webhook } | { readonly kind: 'secret'; readonly result: WebhookWithSecret } | null;

export interface WebhookActions {
  /** The dialog open, if any: place it in the screen. */
  readonly dialogs: ReactNode;
  /** Why the last action failed, in a sentence; null after a success. */
  readonly error: string | null;
  /** The state being set, by id, of webhooks being enabled or disabled. */
  readonly toggling: ReadonlyMap<string, boolean>;
  edit(webhook: Webhook): void;
  remove(webhook: Webhook): void;
  rotate(webhook: Webhook): void;
  setEnabled(webhook: Webhook, enabled: boolean): void;
}

/**
 * Editing, enabling or disabling, deleting (after a confirmation) and rotating the secret of a
 * webhook (after a confirmation, which may keep the old secret signing for a while; the new secret
 * is shown once), for the list and a webhook's page.
 * Each sends the version of the webhook given (as the screen shows it): a webhook changed since is
 * refused (409), said so, and the screen reloaded. `onChanged` reloads what the screen shows;
 * `onUpdated` gets the API's answer to an edit, a toggle or a rotation — the webhook at its new
 * version, so the next action works without a reload — and `onDeleted` follows a delete.
 */
export function useWebhookActions({ onChanged, onUpdated, onDeleted = onChanged }: { onChanged: () => void; onUpdated: (webhook: Webhook) => void; onDeleted?: () => void }): WebhookActions {
  const { client, project } = useSession();
  const [open, setOpen] = useState<Open>(null);
  const [error, setError] = useState<string | null>(null);
  const [toggling, setToggling] = useState<ReadonlyMap<string, boolean>>(new Map());
  const close = (): void => {
    setOpen(null);
  };
  const failed = (what: string) => (e: unknown): void => {
    setError(failure(what, e));
    onChanged();
  };

  let dialogs: ReactNode = null;
  if (open?.kind === 'edit') {
    dialogs = <WebhookFormDialog original={open.webhook} onClose={close} onSaved={onUpdated} onConflict={onChanged} />;
  } else if (open?.kind === 'delete') {
    const { id, name, version } = open.webhook;
    dialogs = (
      <Confirm
        title={`Delete ${name}?`}
        message={<p>Nothing more is sent to {open.webhook.url}, deliveries not sent yet are dropped, and its delivery log is deleted with it. This cannot be undone.</p>}
        confirmLabel="Delete webhook"
        onCancel={close}
        onConfirm={() => {
          close();
          setError(null);
          client.deleteWebhook(project, id, version).then(onDeleted, failed(`Could not delete ${name}`));
        }}
      />
    );
  } else if (open?.kind === 'rotate') {
    const { id, name, version } = open.webhook;
    dialogs = (
      <RotateConfirm
        name={name}
        onCancel={close}
        onConfirm={(keepPreviousHours) => {
          close();
          setError(null);
          client.rotateWebhookSecret(project, id, version, keepPreviousHours === 0 ? {} : { keepPreviousHours }).then(
            (result) => {
              setOpen({ kind: 'secret', result });
              onUpdated(result.webhook);
            },
            failed(`Could not rotate the secret of ${name}`),
          );
        }}
      />
    );
  } else if (open?.kind === 'secret') {
    dialogs = <SecretDialog title="New signing secret" result={open.result} onClose={close} />;
  }

  return {
    dialogs,
    error,
    toggling,
    edit: (webhook) => { setOpen({ kind: 'edit', webhook }); },
    remove: (webhook) => { setOpen({ kind: 'delete', webhook }); },
    rotate: (webhook) => { setOpen({ kind: 'rotate', webhook }); },
    setEnabled: (webhook, enabled) => {
      setError(null);
      setToggling((s) => new Map(s).set(webhook.id, enabled));
      const done = (): void => {
        setToggling((s) => {
          const next = new Map(s);
          next.delete(webhook.id);
          return next;
        });
      };
      client.updateWebhook(project, webhook.id, { enabled }, webhook.version).then(
        (updated) => {
          done();
          onUpdated(updated);
        },
        (e: unknown) => {
          done();
          failed(`Could not ${enabled ? 'enable' : 'disable'} ${webhook.name}`)(e);
        },
      );
    },
  };
}
