import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Metric, Stored } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import Metrics, { MetricForm } from '../metrics.js';

afterEach(cleanup);

const revenue: Stored<Metric> = {
  key: 'revenue',
  version: 2,
  archived: false,
  createdAt: '2026-11-25T10:00:00Z',
  updatedAt: '2026-11-25T10:00:00Z',
  createdBy: null,
  updatedBy: null,
  definition: { key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase', property: 'value', capping: { type: 'percentile', value: 0.99 }, higherIsBetter: true, guardrail: false, tags: ['money'] },
};

describe('metric form', () => {
  it('edits a metric from its version and keeps settings the form does not show', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => (req.method === 'PUT' ? { status: 200, body: { ...revenue, version: 3 } } : undefined));
    render(
      <WithSession client={client} me={user({ role: 'analyst' })}>
        <MetricForm existing={revenue} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.clear(screen.getByRole('textbox', { name: 'Property' }));
    await u.type(screen.getByRole('textbox', { name: 'Property' }), 'amount');
    await u.click(screen.getByRole('checkbox', { name: 'Guardrail' }));
    await u.click(screen.getByRole('button', { name: 'Save metric' }));

    expect(sent).toEqual([
      {
        method: 'PUT',
        path: '/api/v1/projects/web/metrics/revenue',
        ifMatch: '"2"',
        body: { key: 'revenue', name: 'Revenue', type: 'sum', event: 'purchase', property: 'amount', capping: { type: 'percentile', value: 0.99 }, higherIsBetter: true, guardrail: true, tags: ['money'] },
      },
    ]);
  });

  it('shows the API validation errors next to their fields', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) =>
      req.method === 'POST'
        ? { status: 400, body: { error: { code: 'VALIDATION', message: 'invalid metric: property: Too big: expected string to have <=256 characters', details: { issues: [{ path: 'property', message: 'Too big: expected string to have <=256 characters' }, { path: 'name', message: 'Too small: expected string to have >=1 characters' }] } } } }
        : undefined,
    );
    let saved = false;
    render(
      <WithSession client={client} me={user()}>
        <MetricForm onClose={() => undefined} onSaved={() => { saved = true; }} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Key' }), 'revenue');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Type' }), 'sum');
    await u.type(screen.getByRole('textbox', { name: 'Event' }), 'purchase');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(saved).toBe(false);
    const property = screen.getByRole('textbox', { name: /^Property/ });
    expect(property.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(property.getAttribute('aria-describedby') ?? '')?.textContent).toBe('Too big: expected string to have <=256 characters');
    expect(screen.getByRole('textbox', { name: /^Name/ }).getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByRole('textbox', { name: /^Event/ }).getAttribute('aria-invalid')).toBeNull();
  });

  it('shows the validation errors of the real API, whose paths start with "body.", under their fields', async () => {
    const u = userEvent.setup();
    const issues = [
      { path: 'body.key', message: 'must not be empty' },
      { path: 'body.name', message: 'Too small: expected string to have >=1 characters' },
      { path: 'body.event', message: 'Too small: expected string to have >=1 characters' },
    ];
    const { client } = fakeApi((req) => (req.method === 'POST' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body: body.key: must not be empty', details: { issues } } } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <MetricForm onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    const key = screen.getByRole('textbox', { name: /^Key/ });
    expect(key.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(key.getAttribute('aria-describedby') ?? '')?.textContent).toBe('must not be empty');
    expect(screen.getByRole('textbox', { name: /^Name/ }).getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByRole('textbox', { name: /^Event/ }).getAttribute('aria-invalid')).toBe('true');
  });

  it('shows a problem with the whole body, which belongs to no field, in the form', async () => {
    const u = userEvent.setup();
    const issues = [{ path: 'body', message: 'Unrecognized key: "colour"' }];
    const { client } = fakeApi((req) => (req.method === 'POST' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body: body: Unrecognized key: "colour"', details: { issues } } } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <MetricForm onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Key' }), 'revenue');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(screen.getByRole('alert').textContent).toBe('invalid body: body: Unrecognized key: "colour"');
  });

  it('lets an analyst, who owns metric definitions, edit and delete them, but not a viewer', async () => {
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items: [revenue] } } : undefined));
    const { unmount } = render(
      <WithSession client={client} me={user({ role: 'analyst' })}>
        <Metrics />
      </WithSession>,
    );
    expect(await screen.findByRole('button', { name: 'Edit revenue' })).toHaveProperty('disabled', false);
    expect(screen.getByRole('button', { name: 'New metric' })).toHaveProperty('disabled', false);
    unmount();

    render(
      <WithSession client={client} me={user({ role: 'viewer' })}>
        <Metrics />
      </WithSession>,
    );
    for (const name of ['Edit revenue', 'Delete revenue', 'New metric']) {
      const button = await screen.findByRole('button', { name });
      expect(button).toHaveProperty('disabled', true);
      expect(button.getAttribute('aria-description')).toBe('Viewers cannot change metrics');
    }
  });

  it('shows problems with settings the form does not show (capping, tags) in its error note', async () => {
    const u = userEvent.setup();
    const issues = [
      { path: 'body.capping.value', message: 'Too big: expected number to be <=1' },
      { path: 'body.tags[0]', message: 'Too small: expected string to have >=1 characters' },
      { path: 'body.name', message: 'must not be empty' },
    ];
    const { client } = fakeApi((req) => (req.method === 'PUT' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body', details: { issues } } } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <MetricForm existing={revenue} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.click(screen.getByRole('button', { name: 'Save metric' }));

    const name = screen.getByRole('textbox', { name: /^Name/ });
    expect(document.getElementById(name.getAttribute('aria-describedby') ?? '')?.textContent).toBe('must not be empty');
    const note = screen.getAllByRole('alert').find((a) => a.classList.contains('state-error'));
    expect(note?.textContent).toMatch(/^The API refused these settings:/);
    expect(within(note!).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['capping.value: Too big: expected number to be <=1', 'tags[0]: Too small: expected string to have >=1 characters']);
  });

  it('shows a refused setting without a message of its own under its control (the type) in the error note', async () => {
    const u = userEvent.setup();
    const issues = [{ path: 'type', message: 'Invalid option: expected one of "conversion"|"count"|"sum"|"ratio"' }];
    const { client } = fakeApi((req) => (req.method === 'POST' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body', details: { issues } } } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <MetricForm onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Key' }), 'revenue');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(screen.getByRole('alert').textContent).toBe('The API refused this setting:type: Invalid option: expected one of "conversion"|"count"|"sum"|"ratio"');
  });
});
