import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Role, StoredEnvironment, Webhook, WebhookDelivery, WebhookDeliveryDetail } from '@xp/shared';
import { WEBHOOK_ACTIONS, WEBHOOK_EVENTS } from '@xp/shared';
import { formatTime } from '../../../lib/format.js';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import WebhookPage from '../webhook-page.js';
import Webhooks from '../webhooks-list.js';

afterEach(() => {
  cleanup();
  window.location.hash = '';
});

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };
const PRODUCTION: StoredEnvironment = { key: 'production', name: 'Production', production: true, requireApproval: false, version: 1, position: 1 };
const ENVIRONMENTS = [DEVELOPMENT, PRODUCTION];
const PATH = '/api/v1/projects/web/webhooks';
const SECRET = 'whsec_c2VjcmV0LW9mLXRoZS13ZWJob29r';
const AT = '2026-11-25T10:00:00Z';

function webhook(id: string, overrides: Partial<Webhook> = {}): Webhook {
  return { id, name: id, url: 'https://hooks.example.com/…', format: 'json', events: ['*'], environments: null, enabled: true, version: 1, createdAt: AT, updatedAt: AT, lastDelivery: null, previousSecretExpiresAt: null, ...overrides };
}

function delivery(id: string, overrides: Partial<WebhookDelivery> = {}): WebhookDelivery {
  return {
    id,
    webhookId: 'deploys',
    event: 'flag.updated',
    auditId: Number(id),
    status: 'succeeded',
    attempts: 1,
    nextAttemptAt: null,
    statusCode: 200,
    error: null,
    response: 'ok',
    durationMs: 42,
    createdAt: AT,
    deliveredAt: AT,
    payload: { event: 'flag.updated', change: { resourceKey: `flag-${id}` } },
    ...overrides,
  };
}

const error = (status: number, code: string, message: string, details?: unknown): { status: number; body: unknown } => ({ status, body: { error: { code, message, ...(details === undefined ? {} : { details }) } } });

/**
 * The webhook endpoints of project "web", keeping the webhooks as they change — each change bumps
 * the webhook's version, and a change from another version than the current one is refused (409,
 * 428 without If-Match), as the API does; `more` answers first (a refusal, the deliveries).
 * `change` edits a webhook behind the screen's back, as someone else would.
 */
function webhooksApi(initial: Webhook[], more: Responder = () => undefined): ReturnType<typeof fakeApi> & { change: (id: string, patch: Partial<Webhook>) => Webhook } {
  let hooks = [...initial];
  const bump = (w: Webhook, patch: Partial<Webhook>): Webhook => {
    const next = { ...w, ...patch, url: w.url, version: w.version + 1 };
    hooks = hooks.map((h) => (h.id === w.id ? next : h));
    return next;
  };
  const stale = (w: Webhook, ifMatch: string | null): { status: number; body: unknown } | undefined =>
    ifMatch === null
      ? error(428, 'PRECONDITION_REQUIRED', 'send the version read as If-Match')
      : ifMatch === `"${w.version}"`
        ? undefined
        : error(409, 'VERSION_CONFLICT', `webhook was changed by someone else (version ${w.version}, you sent ${ifMatch.replaceAll('"', '')})`, { currentVersion: w.version });
  const api = fakeApi((req) => {
    const answer = more(req);
    if (answer !== undefined) {
      return answer;
    }
    if (req.path === PATH && req.method === 'GET') {
      return { status: 200, body: { items: hooks } };
    }
    if (req.path === PATH && req.method === 'POST') {
      const body = req.body as Partial<Webhook> & { url: string };
      const created = webhook('new', { ...body, url: 'https://receiver.example.com/…' });
      hooks = [...hooks, created];
      return { status: 201, body: { webhook: created, secret: SECRET } };
    }
    const id = new RegExp(`^${PATH}/([\\w-]+)$`).exec(req.path)?.[1];
    const found = hooks.find((w) => w.id === id);
    if (id !== undefined && found === undefined) {
      return error(404, 'NOT_FOUND', 'webhook not found');
    }
    if (found !== undefined && req.method === 'GET') {
      return { status: 200, body: found };
    }
    if (found !== undefined && req.method === 'PATCH') {
      return stale(found, req.ifMatch) ?? { status: 200, body: bump(found, req.body as Partial<Webhook>) };
    }
    if (found !== undefined && req.method === 'DELETE') {
      const refused = stale(found, req.ifMatch);
      if (refused !== undefined) {
        return refused;
      }
      hooks = hooks.filter((w) => w.id !== id);
      return { status: 200, body: found };
    }
    const rotated = hooks.find((w) => w.id === new RegExp(`^${PATH}/([\\w-]+)/rotate-secret$`).exec(req.path)?.[1]);
    if (rotated !== undefined && req.method === 'POST') {
      // The API's clock reads AT: a rotation keeping the previous secret keeps it that many hours from then.
      const keep = (req.body as { keepPreviousHours?: number } | undefined)?.keepPreviousHours ?? 0;
      const previousSecretExpiresAt = keep === 0 ? null : new Date(Date.parse(AT) + keep * 3_600_000).toISOString();
      return stale(rotated, req.ifMatch) ?? { status: 200, body: { webhook: bump(rotated, { previousSecretExpiresAt }), secret: 'whsec_rotated' } };
    }
    return undefined;
  });
  return {
    ...api,
    change: (hookId, patch) => bump(hooks.find((w) => w.id === hookId)!, patch),
  };
}

function renderList(api: ReturnType<typeof fakeApi>, role: Role = 'admin'): void {
  render(
    <WithSession client={api.client} me={user({ role })} environments={ENVIRONMENTS}>
      <Webhooks />
    </WithSession>,
  );
}

function renderPage(api: ReturnType<typeof fakeApi>, id = 'deploys', role: Role = 'owner'): void {
  render(
    <WithSession client={api.client} me={user({ role })} environments={ENVIRONMENTS}>
      <WebhookPage webhookId={id} />
    </WithSession>,
  );
}

const cells = (row: HTMLElement): string[] => within(row).getAllByRole('cell').map((c) => c.textContent);

describe('webhooks list', () => {
  it('lists name, URL preview, format, events, environments, enabled and the last delivery', async () => {
    renderList(
      webhooksApi([
        webhook('deploys', { name: 'Deploy notifier', events: ['flag.*', 'experiment.started'], environments: ['production'], lastDelivery: { id: '9', status: 'failed', statusCode: 500, at: AT } }),
        webhook('slack', { name: 'Team channel', url: 'https://hooks.slack.com/…', format: 'slack', enabled: false }),
      ]),
    );

    const table = await screen.findByRole('table', { name: 'Webhooks' });
    const [deploys, slack] = within(table).getAllByRole('row').slice(1);
    expect(cells(deploys!).slice(0, 5)).toEqual(['Deploy notifier', 'https://hooks.example.com/…', 'JSON', 'flag.*experiment.started', 'Production']);
    expect(within(deploys!).getByRole('link', { name: 'Deploy notifier' }).getAttribute('href')).toBe('#/webhooks/deploys');
    expect(within(deploys!).getByRole('switch', { name: 'Deploy notifier enabled' })).toHaveProperty('checked', true);
    expect(cells(deploys!)[6]).toMatch(/^failed · 500 \S/);
    expect(cells(slack!).slice(0, 5)).toEqual(['Team channel', 'https://hooks.slack.com/…', 'Slack', '* (all)', 'All environments']);
    expect(within(slack!).getByRole('switch', { name: 'Team channel enabled' })).toHaveProperty('checked', false);
    expect(cells(slack!)[6]).toBe('none yet');
  });

  it('says so when there is none', async () => {
    renderList(webhooksApi([]));

    expect((await screen.findByText(/No webhooks in this project yet/)).textContent).toContain('Slack channel');
  });

  it('creates a webhook from the form and shows its signing secret once, with a copy button', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([]);
    renderList(api);
    await screen.findByText(/No webhooks in this project yet/);

    await u.click(screen.getByRole('button', { name: 'New webhook' }));
    const form = screen.getByRole('dialog', { name: 'New webhook' });
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), ' Deploys ');
    await u.type(within(form).getByRole('textbox', { name: 'URL' }), 'http://127.0.0.1:9000/hook?token=abc');
    await u.click(within(form).getByRole('radio', { name: /Slack message/ }));
    await u.click(within(form).getByRole('button', { name: 'Remove event *' }));
    await u.type(within(form).getByRole('combobox', { name: 'Add an event' }), 'flag.*{Enter}');
    await u.type(within(form).getByRole('combobox', { name: 'Add an event' }), 'experiment.started');
    await u.click(within(form).getByRole('radio', { name: /Only changes made in these environments/ }));
    await u.click(within(form).getByRole('checkbox', { name: 'Production' }));
    await u.click(within(form).getByRole('button', { name: 'Create webhook' }));

    const shown = await screen.findByRole('dialog', { name: 'Webhook created' });
    // The pattern typed but not added with Enter is sent too.
    expect(api.sent.filter((r) => r.method === 'POST').map((r) => r.body)).toEqual([
      { name: 'Deploys', url: 'http://127.0.0.1:9000/hook?token=abc', format: 'slack', events: ['flag.*', 'experiment.started'], environments: ['production'], enabled: true },
    ]);
    expect(within(shown).getByText(SECRET)).toBeTruthy();
    expect(shown.textContent).toContain("you won't see it again");

    await u.click(within(shown).getByRole('button', { name: 'Copy secret' }));
    expect(await navigator.clipboard.readText()).toBe(SECRET);
    expect(within(shown).getByRole('status').textContent).toBe('Copied.');

    await u.click(within(shown).getByRole('button', { name: 'Done' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    await screen.findByRole('link', { name: 'Deploys' });
    expect(document.body.textContent).not.toContain(SECRET);
  });

  it('checks the form before sending, and shows what the API refuses at its field', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([], (req) =>
      req.method === 'POST' ? error(400, 'VALIDATION_FAILED', 'invalid body', { issues: [{ path: 'body.url', message: 'the host resolves to a link-local address' }, { path: 'body', message: 'Unrecognized key: "secret"' }] }) : undefined,
    );
    renderList(api);
    await screen.findByText(/No webhooks in this project yet/);

    await u.click(screen.getByRole('button', { name: 'New webhook' }));
    const form = screen.getByRole('dialog', { name: 'New webhook' });
    await u.click(within(form).getByRole('button', { name: 'Create webhook' }));
    expect(within(form).getByText('Give the webhook a name')).toBeTruthy();
    expect(within(form).getByText('Enter the URL to send the changes to')).toBeTruthy();
    await u.type(within(form).getByRole('textbox', { name: /^Name/ }), 'Metadata');
    await u.type(within(form).getByRole('textbox', { name: 'URL' }), 'hooks.example.com');
    await u.click(within(form).getByRole('button', { name: 'Create webhook' }));
    expect(within(form).getByText('Enter a full URL, such as https://example.com/hooks/xp')).toBeTruthy();
    expect(api.sent.some((r) => r.method === 'POST')).toBe(false);

    await u.clear(within(form).getByRole('textbox', { name: 'URL' }));
    await u.type(within(form).getByRole('textbox', { name: 'URL' }), 'http://169.254.169.254/latest');
    await u.click(within(form).getByRole('button', { name: 'Create webhook' }));

    expect(await within(form).findByText('the host resolves to a link-local address')).toBeTruthy();
    expect(within(form).getByRole('textbox', { name: 'URL' }).getAttribute('aria-invalid')).toBe('true');
    expect(within(form).getByText(/Unrecognized key: "secret"/)).toBeTruthy();
    expect(screen.queryByRole('dialog', { name: 'Webhook created' })).toBeNull();
  });

  it("offers the catalog's events as suggestions, and refuses a pattern outside it with the API's message", async () => {
    const u = userEvent.setup();
    const api = webhooksApi([]);
    renderList(api);
    await screen.findByText(/No webhooks in this project yet/);

    await u.click(screen.getByRole('button', { name: 'New webhook' }));
    const form = screen.getByRole('dialog', { name: 'New webhook' });
    const input = within(form).getByRole('combobox', { name: 'Add an event' });
    const options = (): HTMLOptionElement[] => [...document.getElementById(input.getAttribute('list')!)!.querySelectorAll('option')];
    const suggestions = (): string[] => options().map((o) => o.value);
    // `*` is already added: it is not offered again; the rest of the catalog is.
    expect(suggestions()).not.toContain('*');
    expect(suggestions()).toEqual(expect.arrayContaining(['flag.*', 'flag.environment.updated', 'experiment.guardrail-degraded', 'change-request.applied', 'webhook.secret-rotated', 'rulesets.*']));
    // Every resource type's `<type>.*` and every action of the catalog.
    expect(suggestions()).toHaveLength(Object.keys(WEBHOOK_EVENTS).length + WEBHOOK_ACTIONS.length);
    expect(options().find((o) => o.value === 'flag.*')!.label).toBe('every flag action');

    await u.type(input, 'flg.*{Enter}');
    expect(within(form).getByText(/^unknown resource type "flg": one of flag, experiment, /)).toBeTruthy();
    expect(input.getAttribute('aria-invalid')).toBe('true');
    await u.clear(input);
    await u.type(input, 'flag.toggled');
    await u.click(within(form).getByRole('button', { name: 'Add event' }));
    expect(within(form).getByText(/^unknown event "flag.toggled": flag actions are flag.created, .*flag.environment.updated/)).toBeTruthy();
    expect(within(form).getByRole('list', { name: 'Events' }).textContent).not.toContain('flag.toggled');

    await u.clear(input);
    await u.type(input, 'flag.environment.updated{Enter}');
    expect(within(form).getByRole('list', { name: 'Events' }).textContent).toContain('flag.environment.updated');
    expect(suggestions()).not.toContain('flag.environment.updated');
    await u.click(within(form).getByRole('button', { name: 'Remove event *' }));
    expect(suggestions()).toContain('*');
    await u.type(within(form).getByRole('textbox', { name: 'Name' }), 'Per environment');
    await u.type(within(form).getByRole('textbox', { name: 'URL' }), 'https://example.com/hook');
    await u.click(within(form).getByRole('button', { name: 'Create webhook' }));

    await screen.findByRole('dialog', { name: 'Webhook created' });
    expect(api.sent.filter((r) => r.method === 'POST').map((r) => (r.body as { events: unknown }).events)).toEqual([['flag.environment.updated']]);
  });

  it('edits a webhook sending only the fields changed, without the URL when left empty', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([webhook('deploys', { name: 'Deploy notifier', events: ['flag.*'], environments: ['production'] })]);
    renderList(api);
    await u.click(await screen.findByRole('button', { name: 'Edit Deploy notifier' }));
    const form = screen.getByRole('dialog', { name: 'Edit Deploy notifier' });
    expect(within(form).getByRole('textbox', { name: 'URL' })).toHaveProperty('value', '');
    expect(within(form).getByRole('button', { name: 'Save changes' }).getAttribute('aria-disabled')).toBe('true');

    await u.click(within(form).getByRole('checkbox', { name: 'Development' }));
    await u.click(within(form).getByRole('checkbox', { name: /^Enabled/ }));
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));

    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    expect(api.sent.filter((r) => r.method === 'PATCH').map((r) => [r.path, r.ifMatch, r.body])).toEqual([[`${PATH}/deploys`, '"1"', { environments: ['production', 'development'], enabled: false }]]);
    expect(screen.getByRole('switch', { name: 'Deploy notifier enabled' })).toHaveProperty('checked', false);

    await u.click(screen.getByRole('button', { name: 'Edit Deploy notifier' }));
    const again = screen.getByRole('dialog', { name: 'Edit Deploy notifier' });
    await u.type(within(again).getByRole('textbox', { name: 'URL' }), 'https://new.example.com/hook');
    await u.click(within(again).getByRole('button', { name: 'Save changes' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    // The second edit in a row is sent from the version the first one answered, without a reload.
    expect(api.sent.filter((r) => r.method === 'PATCH').map((r) => [r.ifMatch, r.body])).toEqual([
      ['"1"', { environments: ['production', 'development'], enabled: false }],
      ['"2"', { url: 'https://new.example.com/hook' }],
    ]);
    expect(api.sent.filter((r) => r.method === 'GET' && r.path === PATH)).toHaveLength(1);
  });

  it('keeps the edits when someone else changed the webhook meanwhile, says so, and reloads their version on request', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([webhook('deploys', { name: 'Deploy notifier', events: ['flag.*'], environments: ['production'] })]);
    renderList(api);
    await u.click(await screen.findByRole('button', { name: 'Edit Deploy notifier' }));
    const form = screen.getByRole('dialog', { name: 'Edit Deploy notifier' });
    api.change('deploys', { events: ['experiment.*'], enabled: false });

    await u.click(within(form).getByRole('checkbox', { name: 'Development' }));
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));

    expect((await within(form).findByRole('alert')).textContent).toBe(
      'Someone else changed this since you opened it (webhook was changed by someone else (version 2, you sent 1)). Reload to see their change, then apply yours again.',
    );
    expect(within(form).getByRole('checkbox', { name: 'Development' })).toHaveProperty('checked', true);
    // The list behind the dialog is reloaded: it shows their change.
    await waitFor(() => { expect(screen.getByRole('switch', { name: 'Deploy notifier enabled', hidden: true })).toHaveProperty('checked', false); });

    await u.click(within(form).getByRole('button', { name: 'Reload their version' }));
    await waitFor(() => { expect(within(form).queryByRole('alert')).toBeNull(); });
    expect(within(form).getByRole('list', { name: 'Events' }).textContent).toContain('experiment.*');
    expect(within(form).getByRole('checkbox', { name: /^Enabled/ })).toHaveProperty('checked', false);
    await u.click(within(form).getByRole('checkbox', { name: /^Enabled/ }));
    await u.click(within(form).getByRole('button', { name: 'Save changes' }));

    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    expect(api.sent.filter((r) => r.method === 'PATCH').map((r) => [r.ifMatch, r.body])).toEqual([
      ['"1"', { environments: ['production', 'development'] }],
      ['"2"', { enabled: true }],
    ]);
    expect(screen.getByRole('switch', { name: 'Deploy notifier enabled' })).toHaveProperty('checked', true);
  });

  it('enables and disables from the list, and rolls back with the reason when refused', async () => {
    const u = userEvent.setup();
    let refuse = false;
    const api = webhooksApi([webhook('deploys', { name: 'Deploys' })], (req) => (refuse && req.method === 'PATCH' ? error(403, 'FORBIDDEN', 'admins only') : undefined));
    renderList(api);
    const toggle = await screen.findByRole('switch', { name: 'Deploys enabled' });

    await u.click(toggle);
    await waitFor(() => { expect(toggle).toHaveProperty('disabled', false); });
    expect(toggle).toHaveProperty('checked', false);
    await u.click(toggle);
    await waitFor(() => { expect(toggle).toHaveProperty('checked', true); });
    await waitFor(() => { expect(toggle).toHaveProperty('disabled', false); });
    // Each toggle is sent from the version the previous one answered.
    expect(api.sent.filter((r) => r.method === 'PATCH').map((r) => [r.ifMatch, r.body])).toEqual([
      ['"1"', { enabled: false }],
      ['"2"', { enabled: true }],
    ]);

    refuse = true;
    await u.click(toggle);
    expect((await screen.findByRole('alert')).textContent).toBe('Could not disable Deploys: You do not have permission to do this: admins only');
    expect(toggle).toHaveProperty('checked', true);
  });

  it('says when someone else changed the webhook since the list was loaded, and shows it as it is now', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([webhook('deploys', { name: 'Deploys' })]);
    renderList(api);
    const toggle = await screen.findByRole('switch', { name: 'Deploys enabled' });
    api.change('deploys', { name: 'Deploys (prod)', environments: ['production'] });

    await u.click(toggle);

    expect((await screen.findByRole('alert')).textContent).toBe(
      'Could not disable Deploys: Someone else changed this since you opened it (webhook was changed by someone else (version 2, you sent 1)). It has been reloaded: check it, then try again.',
    );
    const reloaded = await screen.findByRole('switch', { name: 'Deploys (prod) enabled' });
    expect(reloaded).toHaveProperty('checked', true);
    expect(screen.getByRole('table', { name: 'Webhooks' }).textContent).toContain('Production');

    await u.click(reloaded);
    await waitFor(() => { expect(reloaded).toHaveProperty('checked', false); });
    expect(screen.queryByRole('alert')).toBeNull();
    expect(api.sent.filter((r) => r.method === 'PATCH').map((r) => r.ifMatch)).toEqual(['"1"', '"2"']);
  });

  it('does not delete a webhook changed since it was listed: says so and reloads it', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([webhook('deploys', { name: 'Deploys' })]);
    renderList(api);
    await u.click(await screen.findByRole('button', { name: 'Delete Deploys' }));
    api.change('deploys', { name: 'Deploys (kept)' });
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete webhook' }));

    expect((await screen.findByRole('alert')).textContent).toMatch(/^Could not delete Deploys: Someone else changed this since you opened it \(.*\)\. It has been reloaded/);
    expect(await screen.findByRole('button', { name: 'Delete Deploys (kept)' })).toBeTruthy();
    expect(api.sent.filter((r) => r.method === 'DELETE').map((r) => r.ifMatch)).toEqual(['"1"']);
  });

  it('deletes after a confirmation; cancelling sends nothing', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([webhook('deploys', { name: 'Deploys' })]);
    renderList(api);

    await u.click(await screen.findByRole('button', { name: 'Delete Deploys' }));
    expect(screen.getByRole('dialog', { name: 'Delete Deploys?' }).textContent).toContain('delivery log is deleted');
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Cancel' }));
    expect(api.sent.some((r) => r.method === 'DELETE')).toBe(false);

    await u.click(screen.getByRole('button', { name: 'Delete Deploys' }));
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete webhook' }));
    expect(await screen.findByText(/No webhooks in this project yet/)).toBeTruthy();
    expect(api.sent.filter((r) => r.method === 'DELETE').map((r) => [r.path, r.ifMatch])).toEqual([[`${PATH}/deploys`, '"1"']]);
  });

  it('explains a 503: the platform has no platform key', async () => {
    renderList(webhooksApi([], (req) => (req.path === PATH ? error(503, 'WEBHOOKS_UNAVAILABLE', 'webhooks need a platform key') : undefined)));

    expect((await screen.findByRole('alert')).textContent).toContain('webhooks need a platform key');
    expect(screen.getByText(/Webhooks need the platform key/).textContent).toContain('XP_PLATFORM_KEY (at least 32 characters)');
    expect(screen.getByRole('button', { name: 'Try again' })).toBeTruthy();
  });

  it('shows a 403 as such', async () => {
    renderList(webhooksApi([], (req) => (req.path === PATH ? error(403, 'FORBIDDEN', 'needs webhooks:manage') : undefined)));

    expect(within(await screen.findByRole('alert')).getByText('You do not have permission to do this: needs webhooks:manage')).toBeTruthy();
  });

  it('tells roles without webhooks:manage who can, and asks the API nothing', () => {
    for (const role of ['editor', 'viewer'] as const) {
      const api = webhooksApi([webhook('deploys')]);
      renderList(api, role);

      expect(screen.getByRole('note').textContent).toContain(`${role === 'editor' ? 'Editors' : 'Viewers'} cannot manage webhooks: owners and admins do`);
      expect(screen.queryByRole('button', { name: 'New webhook' })).toBeNull();
      expect(api.sent).toEqual([]);
      cleanup();
    }
  });
});

describe("a webhook's page", () => {
  const DEPLOYS = webhook('deploys', { name: 'Deploy notifier', events: ['flag.*'] });

  it('sends a test and shows how the receiver answered', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([DEPLOYS], (req) => {
      if (req.path === `${PATH}/deploys/test`) {
        return { status: 200, body: delivery('77', { event: 'webhook.test', auditId: null, statusCode: 204, durationMs: 31, response: '' }) };
      }
      return req.path.startsWith(`${PATH}/deploys/deliveries`) ? { status: 200, body: { items: [] } } : undefined;
    });
    renderPage(api);
    await screen.findByRole('heading', { name: 'Deploy notifier' });

    await u.click(screen.getByRole('button', { name: 'Send test' }));

    const result = await screen.findByRole('status', { name: 'Test delivery' });
    expect(result.textContent).toContain('succeeded · 204');
    expect(result.textContent).toContain('webhook.test: HTTP 204 in 31 ms');
    expect(result.textContent).toContain('No response body.');
  });

  it('shows a failed test with its error and response excerpt', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([DEPLOYS], (req) => {
      if (req.path === `${PATH}/deploys/test`) {
        return { status: 200, body: delivery('78', { event: 'webhook.test', status: 'failed', statusCode: 500, durationMs: 12, error: 'HTTP 500', response: 'boom: database down' }) };
      }
      return req.path.startsWith(`${PATH}/deploys/deliveries`) ? { status: 200, body: { items: [] } } : undefined;
    });
    renderPage(api);
    await u.click(await screen.findByRole('button', { name: 'Send test' }));

    const result = await screen.findByRole('status', { name: 'Test delivery' });
    expect(result.textContent).toContain('failed · 500');
    expect(result.textContent).toContain('Error: HTTP 500');
    expect(within(result).getByLabelText('Response body').textContent).toBe('boom: database down');
  });

  it('lists deliveries newest first, pages with the cursor, expands one, and redelivers it', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([DEPLOYS], (req) => {
      if (req.path === `${PATH}/deploys/deliveries?limit=50`) {
        return {
          status: 200,
          body: {
            items: [
              delivery('3', { status: 'pending', attempts: 2, statusCode: 503, error: 'HTTP 503', response: 'busy', deliveredAt: null, nextAttemptAt: '2026-11-25T10:10:00Z' }),
              delivery('2', { status: 'failed', attempts: 1, statusCode: 404, error: 'HTTP 404', response: 'no such hook', deliveredAt: null }),
            ],
            nextCursor: 'c2',
          },
        };
      }
      if (req.path === `${PATH}/deploys/deliveries?limit=50&cursor=c2`) {
        return { status: 200, body: { items: [delivery('1')] } };
      }
      if (req.path === `${PATH}/deploys/deliveries/2`) {
        return { status: 200, body: { ...delivery('2', { status: 'failed', statusCode: 404, error: 'HTTP 404', response: 'no such hook', deliveredAt: null }), attemptLog: [{ attempt: 1, at: AT, statusCode: 404, error: 'HTTP 404', response: 'no such hook', durationMs: 42 }] } };
      }
      if (req.path === `${PATH}/deploys/deliveries/2/redeliver` && req.method === 'POST') {
        return { status: 202, body: delivery('4', { status: 'pending', attempts: 0, statusCode: null, deliveredAt: null, durationMs: null, response: null }) };
      }
      return undefined;
    });
    renderPage(api);

    const table = await screen.findByRole('table', { name: 'Deliveries' });
    const rows = (): string[][] => within(table).getAllByRole('row').slice(1).map(cells);
    expect(rows().map((r) => r.slice(0, 4))).toEqual([
      ['flag.updated#3', 'pending', 'HTTP 503 in 42 msHTTP 503', '2'],
      ['flag.updated#2', 'failed', 'HTTP 404 in 42 msHTTP 404', '1'],
    ]);
    expect(rows()[0]![5]).toMatch(/^next \S/);

    await u.click(screen.getByRole('button', { name: 'Load older deliveries' }));
    await within(table).findByText('#1');
    expect(rows().map((r) => r[1])).toEqual(['pending', 'failed', 'succeeded']);
    expect(screen.queryByRole('button', { name: 'Load older deliveries' })).toBeNull();

    const details = screen.getByRole('button', { name: 'Details of delivery 2' });
    expect(details.getAttribute('aria-expanded')).toBe('false');
    await u.click(details);
    expect(details.getAttribute('aria-expanded')).toBe('true');
    const expanded = document.getElementById(details.getAttribute('aria-controls')!)!;
    expect(within(expanded).getByLabelText('Response body').textContent).toBe('no such hook');
    expect(JSON.parse(within(expanded).getByLabelText('Payload').textContent)).toEqual({ event: 'flag.updated', change: { resourceKey: 'flag-2' } });

    await u.click(screen.getByRole('button', { name: 'Redeliver delivery 2' }));
    expect((await screen.findByText(/queued again/)).textContent).toBe('Delivery 2 (flag.updated) queued again as delivery 4.');
    expect(api.sent.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual([`${PATH}/deploys/deliveries/2/redeliver`]);
  });

  it('filters the log by status, asking the API for that status, and pages within the filter', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([DEPLOYS], (req) => {
      const answers: Record<string, { items: WebhookDelivery[]; nextCursor?: string }> = {
        [`${PATH}/deploys/deliveries?limit=50`]: { items: [delivery('5'), delivery('4', { status: 'failed', statusCode: 500, error: 'HTTP 500' }), delivery('3', { status: 'pending', statusCode: null, durationMs: null, deliveredAt: null })] },
        // The API answers what the filter keeps: the fake answers two failed ones on the first page, one more on the next.
        [`${PATH}/deploys/deliveries?limit=50&status=failed`]: { items: [delivery('4', { status: 'failed', statusCode: 500, error: 'HTTP 500' }), delivery('2', { status: 'failed', statusCode: 410, error: 'HTTP 410' })], nextCursor: 'f2' },
        [`${PATH}/deploys/deliveries?limit=50&cursor=f2&status=failed`]: { items: [delivery('1', { status: 'failed', statusCode: 404, error: 'HTTP 404' })] },
        [`${PATH}/deploys/deliveries?limit=50&status=pending`]: { items: [] },
      };
      const answer = answers[req.path];
      return answer === undefined ? undefined : { status: 200, body: answer };
    });
    renderPage(api);
    const ids = (): string[] => within(screen.getByRole('table', { name: 'Deliveries' })).getAllByText(/^#\d+$/).map((e) => e.textContent);
    const filter = await screen.findByRole('combobox', { name: 'Status' });
    await screen.findByRole('table', { name: 'Deliveries' });
    expect([...within(filter).getAllByRole('option')].map((o) => o.textContent)).toEqual(['All', 'Failed', 'Pending', 'Succeeded']);
    expect(ids()).toEqual(['#5', '#4', '#3']);

    await u.selectOptions(filter, 'Failed');
    await waitFor(() => { expect(ids()).toEqual(['#4', '#2']); });
    await u.click(screen.getByRole('button', { name: 'Load older deliveries' }));
    await waitFor(() => { expect(ids()).toEqual(['#4', '#2', '#1']); });
    expect(screen.queryByRole('button', { name: 'Load older deliveries' })).toBeNull();
    expect(within(screen.getByRole('table', { name: 'Deliveries' })).queryByText('succeeded')).toBeNull();

    await u.selectOptions(filter, 'Pending');
    expect((await screen.findByText(/No pending deliveries/)).textContent).toBe('No pending deliveries in the last 30 days.');

    await u.selectOptions(filter, 'All');
    await waitFor(() => { expect(ids()).toEqual(['#5', '#4', '#3']); });
    expect(api.sent.filter((r) => r.path.startsWith(`${PATH}/deploys/deliveries`)).map((r) => r.path.slice(`${PATH}/deploys/deliveries`.length))).toEqual([
      '?limit=50',
      '?limit=50&status=failed',
      '?limit=50&cursor=f2&status=failed',
      '?limit=50&status=pending',
      '?limit=50',
    ]);
  });

  it("shows a delivery's every attempt from its detail: time, HTTP code or no answer, error, duration and the answer, a long one cut", async () => {
    const u = userEvent.setup();
    const longAnswer = `<html><body>${'Service temporarily unavailable. '.repeat(8)}</body></html>`;
    const detail: WebhookDeliveryDetail = {
      ...delivery('2', { status: 'failed', attempts: 3, statusCode: 410, error: 'HTTP 410', response: 'gone', deliveredAt: null }),
      attemptLog: [
        { attempt: 1, at: '2026-11-25T10:00:01Z', statusCode: null, error: 'no answer within 10 s', response: null, durationMs: 10_000 },
        { attempt: 2, at: '2026-11-25T10:00:41Z', statusCode: 503, error: 'HTTP 503', response: longAnswer, durationMs: 120 },
        { attempt: 3, at: '2026-11-25T10:02:41Z', statusCode: 410, error: 'HTTP 410', response: 'gone', durationMs: 8 },
      ],
    };
    const api = webhooksApi([DEPLOYS], (req) => {
      if (req.path === `${PATH}/deploys/deliveries?limit=50`) {
        return { status: 200, body: { items: [detail] } };
      }
      return req.path === `${PATH}/deploys/deliveries/2` ? { status: 200, body: detail } : undefined;
    });
    renderPage(api);

    await u.click(await screen.findByRole('button', { name: 'Details of delivery 2' }));
    const attempts = await screen.findByRole('table', { name: 'Attempts of delivery 2' });
    const rows = within(attempts).getAllByRole('row').slice(1).map(cells);
    expect(rows.map((r) => [r[0], r[2], r[3], r[4]])).toEqual([
      ['1', 'no answer', 'no answer within 10 s', '10,000 ms'],
      ['2', 'HTTP 503', 'HTTP 503', '120 ms'],
      ['3', 'HTTP 410', 'HTTP 410', '8 ms'],
    ]);
    // Each attempt's time, to the second (the first two are 40 s apart).
    expect([...attempts.querySelectorAll('time')].map((t) => t.dateTime)).toEqual(['2026-11-25T10:00:01Z', '2026-11-25T10:00:41Z', '2026-11-25T10:02:41Z']);
    expect(new Set(rows.map((r) => r[1])).size).toBe(3);
    expect(rows[0]![5]).toBe('no body');
    expect(within(attempts).getByLabelText('Response of attempt 3').textContent).toBe('gone');
    // The long answer: cut to its first 80 characters, the whole of it once expanded.
    const cut = within(attempts).getAllByRole('row')[2]!.querySelector('summary')!;
    expect(cut.textContent).toBe(`${longAnswer.slice(0, 80)}…`);
    expect(within(attempts).getByLabelText('Response of attempt 2').textContent).toBe(longAnswer);
    await u.click(cut);
    expect(cut.closest('details')!.open).toBe(true);
    expect(api.sent.filter((r) => r.path === `${PATH}/deploys/deliveries/2`)).toHaveLength(1);
  });

  it('says why the attempts of a delivery could not be loaded, keeps what the log shows, and tries again', async () => {
    const u = userEvent.setup();
    let refuse = true;
    const api = webhooksApi([DEPLOYS], (req) => {
      if (req.path === `${PATH}/deploys/deliveries?limit=50`) {
        return { status: 200, body: { items: [delivery('7', { response: 'thanks' })] } };
      }
      if (req.path === `${PATH}/deploys/deliveries/7`) {
        return refuse
          ? error(500, 'INTERNAL', 'the database is unavailable')
          : { status: 200, body: { ...delivery('7'), attemptLog: [{ attempt: 1, at: AT, statusCode: 200, error: null, response: 'thanks', durationMs: 42 }] } };
      }
      return undefined;
    });
    renderPage(api);

    const details = await screen.findByRole('button', { name: 'Details of delivery 7' });
    await u.click(details);
    const expanded = document.getElementById(details.getAttribute('aria-controls')!)!;
    expect((await within(expanded).findByRole('alert')).textContent).toContain('the database is unavailable');
    expect(within(expanded).getAllByLabelText('Response body')[0]!.textContent).toBe('thanks');
    expect(within(expanded).getByLabelText('Payload')).toBeTruthy();

    refuse = false;
    await u.click(within(expanded).getByRole('button', { name: 'Try again' }));
    const attempts = await within(expanded).findByRole('table', { name: 'Attempts of delivery 7' });
    expect(within(attempts).getAllByRole('row').slice(1).map((r) => cells(r)[2])).toEqual(['HTTP 200']);
    expect(within(expanded).queryByRole('alert')).toBeNull();
  });

  it('offers no redelivery for a disabled webhook, and says why', async () => {
    const api = webhooksApi([{ ...DEPLOYS, enabled: false }], (req) => (req.path.startsWith(`${PATH}/deploys/deliveries`) ? { status: 200, body: { items: [delivery('1')] } } : undefined));
    renderPage(api);

    const redeliver = await screen.findByRole('button', { name: 'Redeliver delivery 1' });
    expect(redeliver).toHaveProperty('disabled', true);
    expect(redeliver.getAttribute('aria-description')).toBe('Enable the webhook to redeliver');
    expect(screen.getByRole('button', { name: 'Enable' })).toBeTruthy();
  });

  it('rotates the secret after a confirmation and shows the new one once; by default the old one stops at once (no body sent)', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([DEPLOYS], (req) => (req.path.startsWith(`${PATH}/deploys/deliveries`) ? { status: 200, body: { items: [] } } : undefined));
    renderPage(api);

    await u.click(await screen.findByRole('button', { name: 'Rotate secret…' }));
    const confirm = screen.getByRole('dialog', { name: 'Rotate the secret of Deploy notifier?' });
    expect(confirm.textContent).toContain('stops at once');
    const keep = within(confirm).getByRole('combobox', { name: 'Keep the old secret working for' });
    expect([...within(keep).getAllByRole('option')].map((o) => [o.textContent, (o as HTMLOptionElement).value])).toEqual([
      ["Don't", '0'],
      ['1 hour', '1'],
      ['24 hours', '24'],
      ['7 days', '168'],
    ]);
    expect(within(keep).getByRole<HTMLOptionElement>('option', { name: "Don't" }).selected).toBe(true);
    await u.click(within(confirm).getByRole('button', { name: 'Rotate secret' }));

    const shown = await screen.findByRole('dialog', { name: 'New signing secret' });
    expect(within(shown).getByText('whsec_rotated')).toBeTruthy();
    expect(shown.textContent).not.toContain('previous secret');
    await u.click(within(shown).getByRole('button', { name: 'Done' }));
    expect(screen.queryByText(/Previous secret also signs/)).toBeNull();

    // The rotation answered the webhook at its new version: disabling it next needs no reload.
    await u.click(screen.getByRole('button', { name: 'Disable' }));
    expect(await screen.findByRole('button', { name: 'Enable' })).toBeTruthy();
    expect(api.sent.filter((r) => r.method === 'POST' || r.method === 'PATCH').map((r) => [r.method, r.path, r.ifMatch, r.body])).toEqual([
      ['POST', `${PATH}/deploys/rotate-secret`, '"1"', undefined],
      ['PATCH', `${PATH}/deploys`, '"2"', { enabled: false }],
    ]);
  });

  it('rotates keeping the old secret for 24 hours: asks the API so, and says until when the previous secret signs, in the secret dialog and on the page', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([DEPLOYS], (req) => (req.path.startsWith(`${PATH}/deploys/deliveries`) ? { status: 200, body: { items: [] } } : undefined));
    renderPage(api);
    const until = formatTime('2026-11-26T10:00:00.000Z');

    await u.click(await screen.findByRole('button', { name: 'Rotate secret…' }));
    const confirm = screen.getByRole('dialog', { name: 'Rotate the secret of Deploy notifier?' });
    const keep = within(confirm).getByRole('combobox', { name: 'Keep the old secret working for' });
    expect(keep.getAttribute('aria-describedby')).toBeTruthy();
    expect(document.getElementById(keep.getAttribute('aria-describedby')!)!.textContent).toMatch(/^Meanwhile every request carries both signatures .*without it refusing deliveries\.$/);
    await u.selectOptions(keep, '24 hours');
    expect(confirm.textContent).not.toContain('stops at once');
    expect(confirm.textContent).toContain('and with the current one for 24 hours more.');
    await u.click(within(confirm).getByRole('button', { name: 'Rotate secret' }));

    const shown = await screen.findByRole('dialog', { name: 'New signing secret' });
    expect(within(shown).getByText('whsec_rotated')).toBeTruthy();
    expect(within(shown).getByText(/^The previous secret also signs until/).textContent).toBe(
      `The previous secret also signs until ${until}: until then every request carries both signatures, so switch your receiver to this secret before.`,
    );
    expect(api.sent.filter((r) => r.method === 'POST').map((r) => [r.path, r.ifMatch, r.body])).toEqual([[`${PATH}/deploys/rotate-secret`, '"1"', { keepPreviousHours: 24 }]]);

    await u.click(within(shown).getByRole('button', { name: 'Done' }));
    // The page shows the webhook the rotation answered, previous secret included.
    expect(screen.getByText(/^Previous secret also signs until/).textContent).toBe(`Previous secret also signs until ${until} (each request carries both signatures until then)`);
  });

  it('says on the page until when the previous secret still signs, and nothing about it when it does not', async () => {
    const deliveries: Responder = (req) => (req.path.startsWith(`${PATH}/deploys/deliveries`) ? { status: 200, body: { items: [] } } : undefined);
    renderPage(webhooksApi([{ ...DEPLOYS, previousSecretExpiresAt: '2026-12-01T09:30:00Z' }], deliveries));

    await screen.findByRole('heading', { name: 'Deploy notifier' });
    const note = screen.getByText(/^Previous secret also signs until/);
    expect(note.textContent).toContain(`until ${formatTime('2026-12-01T09:30:00Z')} `);
    expect(note.closest('dl')).toBeTruthy();
    cleanup();

    renderPage(webhooksApi([DEPLOYS], deliveries));
    await screen.findByRole('heading', { name: 'Deploy notifier' });
    expect(screen.queryByText(/Previous secret/)).toBeNull();
  });

  it('does not rotate the secret of a webhook changed since the page was loaded: says so and shows it as it is now', async () => {
    const u = userEvent.setup();
    const api = webhooksApi([DEPLOYS], (req) => (req.path.startsWith(`${PATH}/deploys/deliveries`) ? { status: 200, body: { items: [] } } : undefined));
    renderPage(api);
    await u.click(await screen.findByRole('button', { name: 'Rotate secret…' }));
    api.change('deploys', { name: 'Deploys, renamed', enabled: false });
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Rotate secret' }));

    expect((await screen.findByRole('alert')).textContent).toBe(
      'Could not rotate the secret of Deploy notifier: Someone else changed this since you opened it (webhook was changed by someone else (version 2, you sent 1)). It has been reloaded: check it, then try again.',
    );
    expect(await screen.findByRole('heading', { name: 'Deploys, renamed' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Enable' })).toBeTruthy();
    expect(screen.queryByRole('dialog')).toBeNull();

    await u.click(screen.getByRole('button', { name: 'Rotate secret…' }));
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Rotate secret' }));
    expect(await screen.findByRole('dialog', { name: 'New signing secret' })).toBeTruthy();
    expect(api.sent.filter((r) => r.method === 'POST').map((r) => r.ifMatch)).toEqual(['"1"', '"2"']);
  });

  it('goes back to the list after deleting the webhook', async () => {
    const u = userEvent.setup();
    window.location.hash = '#/webhooks/deploys';
    const api = webhooksApi([DEPLOYS], (req) => (req.path.startsWith(`${PATH}/deploys/deliveries`) ? { status: 200, body: { items: [] } } : undefined));
    renderPage(api);

    await u.click(await screen.findByRole('button', { name: 'Delete…' }));
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Delete webhook' }));

    await waitFor(() => { expect(window.location.hash).toBe('#/webhooks'); });
  });

  it('says when the webhook does not exist', async () => {
    renderPage(webhooksApi([], (req) => (req.path.includes('/deliveries') ? error(404, 'NOT_FOUND', 'webhook not found') : undefined)), 'gone');

    expect((await screen.findByText(/This webhook does not exist/)).textContent).toContain('deleted');
    expect(screen.getByRole('link', { name: '← Webhooks' })).toBeTruthy();
  });

  it('is not offered to roles without webhooks:manage', () => {
    const api = webhooksApi([DEPLOYS]);
    renderPage(api, 'deploys', 'editor');

    expect(screen.getByRole('note').textContent).toContain('Editors cannot manage webhooks');
    expect(api.sent).toEqual([]);
  });
});
