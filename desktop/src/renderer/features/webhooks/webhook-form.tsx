import { useId, useState } from 'react';
import type { ReactNode } from 'react';
import { WebhookFormat } from '@xp/shared';
import type { Webhook, WebhookWithSecret } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { SecretOnce } from '../../lib/copy-button.js';
import { FieldError, FormErrorNote, fieldErrors, invalidProps } from '../../lib/field-errors.js';
import { formatTime } from '../../lib/format.js';
import { Dialog, isConflict } from '../../lib/ui.js';
import { pendingProps } from '../../lib/permissions.js';
import { EVENT_CHOICES, NAME_MAX, URL_MAX, addEvent, createBody, draftOf, newDraft, patchBody, validateDraft } from './webhook-model.js';
import type { DraftErrors, DraftField, WebhookDraft } from './webhook-model.js';

const FORMAT_LABEL: Readonly<Record<WebhookFormat, string>> = {
  [WebhookFormat.Json]: 'JSON, signed (for your own services)',
  [WebhookFormat.Slack]: 'Slack message (for a Slack incoming webhook URL)',
};

/** The fields with their error shown under them; the API's other problems go to the form's note. */
const SHOWN: readonly DraftField[] = ['name', 'url', 'events', 'environments'];

/**
 * A webhook's signing secret, shown once — after creating the webhook or rotating its secret — with
 * a copy button, until closed; after a rotation that keeps the previous secret, until when it signs.
 */
export function SecretDialog({ title, result, onClose }: { title: string; result: WebhookWithSecret; onClose: () => void }): ReactNode {
  const { webhook, secret } = result;
  return (
    <Dialog title={title} onClose={onClose}>
      <p>
        {webhook.name} (<code>{webhook.url}</code>): every delivery carries <code>X-XP-Signature: t=…,v1=…</code>, the HMAC-SHA256 of <code>{'${t}.${body}'}</code> with this
        secret, so your receiver can check it came from this platform.
        {webhook.format === WebhookFormat.Slack ? ' Slack does not check it; keep it in case you point the webhook at your own service later.' : ''}
      </p>
      {webhook.previousSecretExpiresAt === null ? null : (
        <p>
          The previous secret also signs until {formatTime(webhook.previousSecretExpiresAt)}: until then every request carries both signatures, so switch your receiver to this
          secret before.
        </p>
      )}
      <p className="banner banner-warn">Copy the signing secret now: you won't see it again. The platform keeps no copy it can show; if it is lost, rotate it.</p>
      <SecretOnce value={secret} copyLabel="Copy secret" noun="secret" onDone={onClose} />
    </Dialog>
  );
}

/**
 * The event patterns as removable chips, and a field to add one: typed, or picked from the catalog
 * (`*`, each resource type's `type.*` and every action) offered as its suggestions.
 */
function EventsField({ events, onChange, text, onText, error }: { events: readonly string[]; onChange: (events: readonly string[]) => void; text: string; onText: (text: string) => void; error: string | undefined }): ReactNode {
  const id = useId();
  const [addError, setAddError] = useState<string | undefined>(undefined);
  const add = (): void => {
    const next = addEvent(events, text);
    setAddError(next.error);
    if (next.error === undefined) {
      onChange(next.events);
      onText('');
    }
  };
  const message = addError ?? error;
  return (
    <fieldset>
      <legend>Events</legend>
      <p className="small muted">
        The changes to send, by audit action: <code>*</code> for every change, <code>flag.*</code> for every change to flags, or an action such as <code>flag.updated</code>. Pick
        one from the suggestions or type it; a pattern the platform does not know is refused.
      </p>
      {events.length === 0 ? (
        <p className="small muted">No event yet.</p>
      ) : (
        <ul className="chips" aria-label="Events">
          {events.map((e) => (
            <li key={e} className="chip">
              <code>{e}</code>{' '}
              <button
                type="button"
                className="ghost"
                aria-label={`Remove event ${e}`}
                onClick={() => {
                  onChange(events.filter((x) => x !== e));
                }}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      {events.includes('*') && events.length > 1 ? <p className="small muted">* already matches every change: the other events add nothing.</p> : null}
      <div className="row">
        <label className="inline">
          Add an event
          <input
            list={`${id}-suggestions`}
            value={text}
            placeholder="flag.*"
            onChange={(e) => {
              setAddError(undefined);
              onText(e.target.value);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                add();
              }
            }}
            {...invalidProps(`${id}-error`, message)}
          />
        </label>
        <datalist id={`${id}-suggestions`}>
          {EVENT_CHOICES.filter((c) => !events.includes(c.pattern)).map((c) => (
            <option key={c.pattern} value={c.pattern} {...(c.label === undefined ? {} : { label: c.label })} />
          ))}
        </datalist>
        <button type="button" onClick={add} disabled={text.trim() === ''}>
          Add event
        </button>
      </div>
      <FieldError id={`${id}-error`} message={message} />
    </fieldset>
  );
}

/** Every environment, or the chosen ones (a key no longer in the project stays listed while chosen). */
function EnvironmentsField({ draft, onChange, error }: { draft: WebhookDraft; onChange: (next: Pick<WebhookDraft, 'allEnvironments' | 'environments'>) => void; error: string | undefined }): ReactNode {
  const { environments: known } = useSession();
  const id = useId();
  const gone = draft.environments.filter((key) => !known.some((e) => e.key === key));
  const options = [...known.map((e) => ({ key: e.key, name: e.name })), ...gone.map((key) => ({ key, name: `${key} (no longer in the project)` }))];
  return (
    <fieldset {...invalidProps(`${id}-error`, error)}>
      <legend>Environments</legend>
      <label className="check">
        <input
          type="radio"
          name={`${id}-scope`}
          checked={draft.allEnvironments}
          onChange={() => {
            onChange({ allEnvironments: true, environments: draft.environments });
          }}
        />{' '}
        All environments, and changes to no environment in particular (a new flag, a segment)
      </label>
      <br />
      <label className="check">
        <input
          type="radio"
          name={`${id}-scope`}
          checked={!draft.allEnvironments}
          onChange={() => {
            onChange({ allEnvironments: false, environments: draft.environments });
          }}
        />{' '}
        Only changes made in these environments:
      </label>
      <div className="row" role="group" aria-label="Environments to send">
        {options.map((env) => (
          <label key={env.key} className="check">
            <input
              type="checkbox"
              disabled={draft.allEnvironments}
              checked={!draft.allEnvironments && draft.environments.includes(env.key)}
              onChange={(e) => {
                onChange({ allEnvironments: false, environments: e.target.checked ? [...draft.environments, env.key] : draft.environments.filter((k) => k !== env.key) });
              }}
            />{' '}
            {env.name}
          </label>
        ))}
      </div>
      <FieldError id={`${id}-error`} message={error} />
    </fieldset>
  );
}

/**
 * Creates a webhook (then shows its signing secret once) or edits `original` (sending only the
 * fields changed, the URL only when a new one is entered, from the version of `original`). When
 * someone else changed it since (409), the edits are kept, `onConflict` reloads the screen, and
 * "Reload their version" loads the current webhook into the form.
 */
export function WebhookFormDialog({ original: opened, onClose, onSaved, onConflict }: { original?: Webhook; onClose: () => void; onSaved: (webhook: Webhook) => void; onConflict?: () => void }): ReactNode {
  const { client, project } = useSession();
  const id = useId();
  const [original, setOriginal] = useState(opened);
  const mode = original === undefined ? 'create' : 'edit';
  const [draft, setDraft] = useState<WebhookDraft>(() => (original === undefined ? newDraft() : draftOf(original)));
  const [eventText, setEventText] = useState('');
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<WebhookWithSecret | null>(null);
  const update = (change: Partial<WebhookDraft>): void => {
    setDraft((d) => ({ ...d, ...change }));
  };

  // A pattern typed but not added yet counts: saving adds it (or says why it cannot).
  const pending = addEvent(draft.events, eventText);
  const full: WebhookDraft = { ...draft, events: pending.events };
  const local: DraftErrors = tried ? { ...validateDraft(full, mode), ...(pending.error === undefined ? {} : { events: pending.error }) } : {};
  const remote = fieldErrors(error);
  const message = (field: DraftField): string | undefined => local[field] ?? remote.get(field);
  const patch = original === undefined ? null : patchBody(original, full);
  const unchanged = patch !== null && Object.keys(patch).length === 0;

  const submit = async (): Promise<void> => {
    setTried(true);
    if (pending.error !== undefined || Object.keys(validateDraft(full, mode)).length > 0) {
      return;
    }
    setDraft(full);
    setEventText('');
    setError(null);
    setBusy(true);
    try {
      if (original === undefined) {
        const res = await client.createWebhook(project, createBody(full));
        setCreated(res);
        onSaved(res.webhook);
      } else if (patch !== null && !unchanged) {
        onSaved(await client.updateWebhook(project, original.id, patch, original.version));
        onClose();
      }
    } catch (e) {
      setError(e);
      if (isConflict(e)) {
        onConflict?.();
      }
    } finally {
      setBusy(false);
    }
  };

  const reloadTheirs = async (): Promise<void> => {
    if (original === undefined) {
      return;
    }
    setBusy(true);
    try {
      const current = await client.webhook(project, original.id);
      setOriginal(current);
      setDraft(draftOf(current));
      setEventText('');
      setTried(false);
      setError(null);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (created !== null) {
    return <SecretDialog title="Webhook created" result={created} onClose={onClose} />;
  }
  return (
    <Dialog title={original === undefined ? 'New webhook' : `Edit ${original.name}`} onClose={onClose}>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          Name
          <input value={draft.name} maxLength={NAME_MAX} placeholder="e.g. Deploy notifier" onChange={(e) => { update({ name: e.target.value }); }} {...invalidProps(`${id}-name-error`, message('name'))} />
        </label>
        <FieldError id={`${id}-name-error`} message={message('name')} />
        <label>
          URL
          <input
            type="url"
            value={draft.url}
            maxLength={URL_MAX}
            placeholder={original === undefined ? 'https://example.com/hooks/xp' : `${original.url} (unchanged)`}
            autoComplete="off"
            onChange={(e) => { update({ url: e.target.value }); }}
            {...invalidProps(`${id}-url-error`, message('url'))}
            aria-describedby={message('url') === undefined ? `${id}-url-help` : `${id}-url-error ${id}-url-help`}
          />
        </label>
        <FieldError id={`${id}-url-error`} message={message('url')} />
        <span id={`${id}-url-help`} className="small muted">
          {original === undefined
            ? 'http:// or https://. The platform stores it encrypted and shows only its start afterwards (it may hold a token, as Slack URLs do).'
            : `Now ${original.url}. Leave empty to keep it; the console never sees the whole URL.`}
        </span>
        <fieldset>
          <legend>Format</legend>
          {[WebhookFormat.Json, WebhookFormat.Slack].map((f) => (
            <label key={f} className="check">
              <input type="radio" name={`${id}-format`} value={f} checked={draft.format === f} onChange={() => { update({ format: f }); }} /> {FORMAT_LABEL[f]}
            </label>
          ))}
        </fieldset>
        <EventsField events={draft.events} onChange={(events) => { update({ events }); }} text={eventText} onText={setEventText} error={message('events')} />
        <EnvironmentsField draft={draft} onChange={update} error={message('environments')} />
        <label className="check">
          <input type="checkbox" checked={draft.enabled} onChange={(e) => { update({ enabled: e.target.checked }); }} /> Enabled (disabling ends the deliveries still queued)
        </label>
        <FormErrorNote error={error} shown={SHOWN} />
        <div className="actions">
          {unchanged ? <span className="small muted">Nothing changed yet.</span> : null}
          {isConflict(error) ? (
            <button type="button" {...pendingProps(busy)} onClick={() => void reloadTheirs()}>
              Reload their version
            </button>
          ) : null}
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" {...pendingProps(busy || unchanged)}>
            {original === undefined ? 'Create webhook' : 'Save changes'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
