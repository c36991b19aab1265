import { useState } from 'react';
import type { ReactNode } from 'react';
import type { Webhook, WebhookWithSecret } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { Confirm, errorMessage } from '../../lib/ui.js';
import { SecretDialog, WebhookFormDialog } from './webhook-form.js';

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
 * webhook (after a confirmation; the new secret is shown once), for the list and a webhook's page.
 * `onChanged` reloads what the screen shows; `onUpdated` gets the API's answer to an edit or a
 * toggle (to show it at once; by default it reloads) and `onDeleted` follows a delete.
 */
export function useWebhookActions({ onChanged, onUpdated = onChanged, onDeleted = onChanged }: { onChanged: () => void; onUpdated?: (webhook: Webhook) => void; onDeleted?: () => void }): WebhookActions {
  const { client, project } = useSession();
  const [open, setOpen] = useState<Open>(null);
  const [error, setError] = useState<string | null>(null);
  const [toggling, setToggling] = useState<ReadonlyMap<string, boolean>>(new Map());
  const close = (): void => {
    setOpen(null);
  };

  let dialogs: ReactNode = null;
  if (open?.kind === 'edit') {
    dialogs = <WebhookFormDialog original={open.webhook} onClose={close} onSaved={onUpdated} />;
  } else if (open?.kind === 'delete') {
    const { id, name } = open.webhook;
    dialogs = (
      <Confirm
        title={`Delete ${name}?`}
        message={<p>Nothing more is sent to {open.webhook.url}, deliveries not sent yet are dropped, and its delivery log is deleted with it. This cannot be undone.</p>}
        confirmLabel="Delete webhook"
        onCancel={close}
        onConfirm={() => {
          close();
          setError(null);
          client.deleteWebhook(project, id).then(onDeleted, (e: unknown) => {
            setError(`Could not delete ${name}: ${errorMessage(e)}`);
            onChanged();
          });
        }}
      />
    );
  } else if (open?.kind === 'rotate') {
    const { id, name } = open.webhook;
    dialogs = (
      <Confirm
        title={`Rotate the secret of ${name}?`}
        message={<p>The current signing secret stops at once: deliveries from now on are signed with the new one, which is shown once. Update your receiver with it straight away.</p>}
        confirmLabel="Rotate secret"
        onCancel={close}
        onConfirm={() => {
          close();
          setError(null);
          client.rotateWebhookSecret(project, id).then(
            (result) => {
              setOpen({ kind: 'secret', result });
              onChanged();
            },
            (e: unknown) => { setError(`Could not rotate the secret of ${name}: ${errorMessage(e)}`); },
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
      client.updateWebhook(project, webhook.id, { enabled }).then(
        (updated) => {
          done();
          onUpdated(updated);
        },
        (e: unknown) => {
          done();
          setError(`Could not ${enabled ? 'enable' : 'disable'} ${webhook.name}: ${errorMessage(e)}`);
          onChanged();
        },
      );
    },
  };
}
