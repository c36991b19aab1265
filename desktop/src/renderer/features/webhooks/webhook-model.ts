import { WEBHOOK_EVENTS, WebhookFormat, webhookEventProblem } from '@xp/shared';
import type { Webhook, WebhookCreate, WebhookPatch } from '@xp/shared';

/** The API's limits (the contract of `WebhookCreate`); the API checks them again. */
export const NAME_MAX = 100;
export const URL_MAX = 2048;
export const EVENTS_MAX = 50;

/** What the webhook form holds. */
export interface WebhookDraft {
  readonly name: string;
  /** In an edit, empty means "keep the current URL" (the console only ever sees its preview). */
  readonly url: string;
  readonly format: WebhookFormat;
  readonly events: readonly string[];
  /** Every change of the project (`environments: null`), or only those made in `environments`. */
  readonly allEnvironments: boolean;
  readonly environments: readonly string[];
  readonly enabled: boolean;
}

export type DraftField = 'name' | 'url' | 'events' | 'environments';

/** A problem per field, in the words shown under it. */
export type DraftErrors = Partial<Record<DraftField, string>>;

/** An event pattern the form offers; `label` says what a pattern with a star covers. */
export interface EventChoice {
  readonly pattern: string;
  readonly label?: string;
}

/**
 * Every event pattern the API accepts, as the form offers them: `*`, then for each resource type of
 * the catalog (`WEBHOOK_EVENTS` of @xp/shared) its every action (`flag.*`) followed by its actions.
 */
export const EVENT_CHOICES: readonly EventChoice[] = [
  { pattern: '*', label: 'every change' },
  ...Object.entries(WEBHOOK_EVENTS).flatMap(([type, verbs]: [string, readonly string[]]): EventChoice[] => [
    { pattern: `${type}.*`, label: `every ${type} action` },
    ...verbs.map((verb) => ({ pattern: `${type}.${verb}` })),
  ]),
];

/** A new webhook: every event, every environment, enabled, JSON. */
export function newDraft(): WebhookDraft {
  return { name: '', url: '', format: WebhookFormat.Json, events: ['*'], allEnvironments: true, environments: [], enabled: true };
}

/** The form for editing `webhook`: its settings, the URL left empty (unchanged). */
export function draftOf(webhook: Webhook): WebhookDraft {
  return {
    name: webhook.name,
    url: '',
    format: webhook.format,
    events: [...webhook.events],
    allEnvironments: webhook.environments === null,
    environments: webhook.environments === null ? [] : [...webhook.environments],
    enabled: webhook.enabled,
  };
}

/**
 * The events after adding `text` (trimmed; an event already listed is not added twice), or why it
 * cannot be added (a pattern outside the catalog: the API's message).
 */
export function addEvent(events: readonly string[], text: string): { events: readonly string[]; error?: string } {
  const pattern = text.trim();
  if (pattern === '') {
    return { events };
  }
  const problem = webhookEventProblem(pattern);
  if (problem !== undefined) {
    return { events, error: problem };
  }
  if (events.includes(pattern)) {
    return { events };
  }
  if (events.length >= EVENTS_MAX) {
    return { events, error: `At most ${EVENTS_MAX} events` };
  }
  return { events: [...events, pattern] };
}

function urlProblem(url: string): string | undefined {
  if (url.length > URL_MAX) {
    return `At most ${URL_MAX} characters`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'Enter a full URL, such as https://example.com/hooks/xp';
  }
  return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? undefined : 'The URL must start with https:// or http://';
}

/** The draft's problems; `mode` 'edit' accepts an empty URL (unchanged). */
export function validateDraft(draft: WebhookDraft, mode: 'create' | 'edit'): DraftErrors {
  const errors: { -readonly [K in DraftField]?: string } = {};
  const name = draft.name.trim();
  if (name === '') {
    errors.name = 'Give the webhook a name';
  } else if (name.length > NAME_MAX) {
    errors.name = `At most ${NAME_MAX} characters`;
  }
  const url = draft.url.trim();
  if (url === '') {
    if (mode === 'create') {
      errors.url = 'Enter the URL to send the changes to';
    }
  } else {
    const problem = urlProblem(url);
    if (problem !== undefined) {
      errors.url = problem;
    }
  }
  if (draft.events.length === 0) {
    errors.events = 'Add at least one event (* for every change)';
  } else if (draft.events.length > EVENTS_MAX) {
    errors.events = `At most ${EVENTS_MAX} events`;
  } else {
    const problem = draft.events.map((e) => webhookEventProblem(e)).find((p) => p !== undefined);
    if (problem !== undefined) {
      errors.events = problem;
    }
  }
  if (!draft.allEnvironments && draft.environments.length === 0) {
    errors.environments = 'Choose at least one environment, or all environments';
  }
  return errors;
}

const environmentsOf = (draft: WebhookDraft): readonly string[] | null => (draft.allEnvironments ? null : [...new Set(draft.environments)]);

/** The body of `POST …/webhooks` for a valid draft. */
export function createBody(draft: WebhookDraft): WebhookCreate {
  return { name: draft.name.trim(), url: draft.url.trim(), format: draft.format, events: [...draft.events], environments: environmentsOf(draft), enabled: draft.enabled };
}

/** Same members, in any order. */
function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((x) => right.has(x));
}

/**
 * The body of `PATCH …/webhooks/{id}`: only the fields the draft changes from `original`; the URL
 * only when one was entered. Empty when nothing changes.
 */
export function patchBody(original: Webhook, draft: WebhookDraft): WebhookPatch {
  const patch: { -readonly [K in keyof WebhookPatch]: WebhookPatch[K] } = {};
  const name = draft.name.trim();
  if (name !== original.name) {
    patch.name = name;
  }
  const url = draft.url.trim();
  if (url !== '') {
    patch.url = url;
  }
  if (draft.format !== original.format) {
    patch.format = draft.format;
  }
  if (!sameSet(draft.events, original.events)) {
    patch.events = [...draft.events];
  }
  const environments = environmentsOf(draft);
  if (environments === null ? original.environments !== null : original.environments === null || !sameSet(environments, original.environments)) {
    patch.environments = environments;
  }
  if (draft.enabled !== original.enabled) {
    patch.enabled = draft.enabled;
  }
  return patch;
}

/** "All environments", or the names of the listed ones (a key no longer in the project as is). */
export function environmentsText(environments: readonly string[] | null, known: readonly { readonly key: string; readonly name: string }[]): string {
  if (environments === null) {
    return 'All environments';
  }
  return environments.map((key) => known.find((e) => e.key === key)?.name ?? key).join(', ');
}
