import { describe, expect, it } from 'vitest';
import { WEBHOOK_ACTIONS, WEBHOOK_EVENTS } from '@xp/shared';
import type { Webhook } from '@xp/shared';
import { EVENT_CHOICES, addEvent, createBody, draftOf, environmentsText, newDraft, patchBody, validateDraft } from '../webhook-model.js';

const STORED: Webhook = {
  previousSecretExpiresAt: null,
  id: 'wh_1',
  name: 'Deploy notifier',
  url: 'https://hooks.example.com/…',
  format: 'json',
  events: ['flag.*', 'experiment.started'],
  environments: ['production'],
  enabled: true,
  version: 1,
  createdAt: '2026-11-25T10:00:00Z',
  updatedAt: '2026-11-25T10:00:00Z',
  lastDelivery: null,
};

describe('webhook form model', () => {
  it('starts a new webhook with every event, every environment, enabled, as JSON', () => {
    const draft = newDraft();

    const body = createBody({ ...draft, name: ' Deploys ', url: ' https://example.com/hooks ' });

    expect(body).toEqual({ name: 'Deploys', url: 'https://example.com/hooks', format: 'json', events: ['*'], environments: null, enabled: true });
  });

  it('sends the chosen environments, once each, or null for all of them', () => {
    const draft = { ...newDraft(), name: 'n', url: 'https://example.com', allEnvironments: false, environments: ['production', 'staging', 'production'] };

    expect(createBody(draft).environments).toEqual(['production', 'staging']);
    expect(createBody({ ...draft, allEnvironments: true }).environments).toBeNull();
  });

  it('requires a name, an http(s) URL on create, an event and an environment when not all', () => {
    const errors = validateDraft({ ...newDraft(), name: '  ', url: '', events: [], allEnvironments: false, environments: [] }, 'create');

    expect(errors).toEqual({
      name: 'Give the webhook a name',
      url: 'Enter the URL to send the changes to',
      events: 'Add at least one event (* for every change)',
      environments: 'Choose at least one environment, or all environments',
    });
  });

  it('refuses URLs that are not absolute http(s) URLs or are too long, and names over 100 characters', () => {
    const base = { ...newDraft(), name: 'n' };

    expect(validateDraft({ ...base, url: 'example.com/hook' }, 'create').url).toBe('Enter a full URL, such as https://example.com/hooks/xp');
    expect(validateDraft({ ...base, url: 'ftp://example.com/hook' }, 'create').url).toBe('The URL must start with https:// or http://');
    expect(validateDraft({ ...base, url: `https://example.com/${'a'.repeat(2048)}` }, 'create').url).toBe('At most 2048 characters');
    expect(validateDraft({ ...base, name: 'x'.repeat(101), url: 'http://127.0.0.1:9000/hook' }, 'create')).toEqual({ name: 'At most 100 characters' });
    expect(validateDraft({ ...base, url: 'http://127.0.0.1:9000/hook' }, 'create')).toEqual({});
  });

  it('accepts an empty URL in an edit: it means unchanged', () => {
    expect(validateDraft(draftOf(STORED), 'edit')).toEqual({});
    expect(validateDraft(draftOf(STORED), 'create').url).toBe('Enter the URL to send the changes to');
  });

  it('accepts the events of the catalog: *, a known resource type with a star and every catalogued action', () => {
    const base = { ...newDraft(), name: 'n', url: 'https://e.com' };
    const accepted = ['*', 'flag.*', 'flag.updated', 'flag.environment.updated', 'change-request.applied', 'sdk-key.*', 'experiment.guardrail-degraded', 'webhook.secret-rotated', 'webhook.tested', 'webhook.redelivered', 'code-refs.deleted'];

    for (const pattern of accepted) {
      expect(addEvent([], pattern)).toEqual({ events: [pattern] });
    }
    expect(validateDraft({ ...base, events: accepted }, 'create')).toEqual({});
    // Every catalogued action, in lists of at most 50 (a webhook's limit: the catalog has more actions than that).
    for (let i = 0; i < WEBHOOK_ACTIONS.length; i += 50) {
      expect(validateDraft({ ...base, events: WEBHOOK_ACTIONS.slice(i, i + 50) }, 'create')).toEqual({});
    }
  });

  it("refuses events outside the catalog with the API's message: a typo in the type, an unknown action, a bare type", () => {
    const types = 'flag, experiment, segment, metric, holdout, environment, sdk-key, change-request, project, rulesets, webhook, code-refs, user, unit, alert';
    const base = { ...newDraft(), name: 'n', url: 'https://e.com' };

    expect(addEvent(['*'], 'flg.*')).toEqual({ events: ['*'], error: `unknown resource type "flg": one of ${types}` });
    expect(addEvent(['*'], ' flag.toggled ').error).toBe(
      'unknown event "flag.toggled": flag actions are flag.created, flag.updated, flag.enabled, flag.disabled, flag.environment.updated, flag.deleted, flag.rolled-back, flag.change-scheduled, flag.scheduled-change-cancelled, flag.scheduled-change-applied, flag.scheduled-change-failed (or flag.*)',
    );
    expect(addEvent([], 'flags').error).toBe(`unknown event "flags": use *, <type>.* or an action such as flag.updated (types: ${types})`);
    expect(addEvent([], 'Flag.updated').error).toBe(`unknown event "Flag.updated": use *, <type>.* or an action such as flag.updated (types: ${types})`);
    expect(addEvent([], '*.updated').error).toMatch(/^unknown event "\*\.updated"/);
    // A stored pattern outside the catalog (saved before the API checked) is named when the form is checked.
    expect(validateDraft({ ...base, events: ['flag.*', 'flg.*', 'flags'] }, 'create').events).toBe(`unknown resource type "flg": one of ${types}`);
  });

  it('offers *, every resource type with a star and every action of the catalog as choices, once each', () => {
    const patterns = EVENT_CHOICES.map((c) => c.pattern);

    expect(patterns[0]).toBe('*');
    expect(patterns.slice(1, 8)).toEqual(['flag.*', 'flag.created', 'flag.updated', 'flag.enabled', 'flag.disabled', 'flag.environment.updated', 'flag.deleted']);
    expect(new Set(patterns).size).toBe(patterns.length);
    expect(new Set(patterns)).toEqual(new Set(['*', ...Object.keys(WEBHOOK_EVENTS).map((t) => `${t}.*`), ...WEBHOOK_ACTIONS]));
    expect(EVENT_CHOICES.filter((c) => c.label !== undefined).map((c) => [c.pattern, c.label]).slice(0, 3)).toEqual([
      ['*', 'every change'],
      ['flag.*', 'every flag action'],
      ['experiment.*', 'every experiment action'],
    ]);
    // Every choice is one the form accepts.
    expect(patterns.map((p) => addEvent([], p).error).filter((e) => e !== undefined)).toEqual([]);
  });

  it('adds an event trimmed and once, and says why a pattern cannot be added', () => {
    expect(addEvent(['*'], ' flag.* ')).toEqual({ events: ['*', 'flag.*'] });
    expect(addEvent(['flag.*'], 'flag.*')).toEqual({ events: ['flag.*'] });
    expect(addEvent(['flag.*'], '   ')).toEqual({ events: ['flag.*'] });
    expect(addEvent(['flag.*'], 'flag!').error).toMatch(/^unknown event "flag!": use \*, <type>\.\* or an action such as flag\.updated/);
    const fifty = EVENT_CHOICES.map((c) => c.pattern).filter((p) => p !== 'flag.*').slice(0, 50);
    expect(fifty).toHaveLength(50);
    expect(addEvent(fifty, 'flag.*').error).toBe('At most 50 events');
    expect(addEvent(fifty, fifty[0]!)).toEqual({ events: fifty });
  });

  it('opens an edit with the stored settings and the URL empty', () => {
    expect(draftOf(STORED)).toEqual({ name: 'Deploy notifier', url: '', format: 'json', events: ['flag.*', 'experiment.started'], allEnvironments: false, environments: ['production'], enabled: true });
    expect(draftOf({ ...STORED, environments: null })).toMatchObject({ allEnvironments: true, environments: [] });
  });

  it('patches nothing when nothing changed, whatever the order of events and environments', () => {
    const draft = { ...draftOf({ ...STORED, environments: ['production', 'staging'] }), events: ['experiment.started', 'flag.*'], environments: ['staging', 'production'] };

    expect(patchBody({ ...STORED, environments: ['production', 'staging'] }, draft)).toEqual({});
  });

  it('patches only the fields changed, and the URL only when one is entered', () => {
    const draft = draftOf(STORED);

    expect(patchBody(STORED, { ...draft, name: ' Deploys ' })).toEqual({ name: 'Deploys' });
    expect(patchBody(STORED, { ...draft, url: ' https://new.example.com/hook ' })).toEqual({ url: 'https://new.example.com/hook' });
    expect(patchBody(STORED, { ...draft, format: 'slack', enabled: false })).toEqual({ format: 'slack', enabled: false });
    expect(patchBody(STORED, { ...draft, events: ['*'] })).toEqual({ events: ['*'] });
    expect(patchBody(STORED, { ...draft, allEnvironments: true })).toEqual({ environments: null });
    expect(patchBody(STORED, { ...draft, environments: ['production', 'staging'] })).toEqual({ environments: ['production', 'staging'] });
    expect(patchBody({ ...STORED, environments: null }, { ...draftOf({ ...STORED, environments: null }), allEnvironments: false, environments: ['staging'] })).toEqual({ environments: ['staging'] });
  });

  it('names the environments, keeping the key of one no longer in the project', () => {
    const known = [{ key: 'production', name: 'Production' }];

    expect(environmentsText(null, known)).toBe('All environments');
    expect(environmentsText(['production', 'qa'], known)).toBe('Production, qa');
  });
});
