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

/** A ratio metric with every optional setting: capped at a value, a delayed window, tags. */
const revenuePerSession: Stored<Metric> = {
  ...revenue,
  key: 'rps',
  version: 4,
  definition: {
    key: 'rps',
    name: 'Revenue per session',
    description: 'Purchase amount over sessions',
    type: 'ratio',
    numerator: { event: 'purchase', aggregation: 'sum', property: 'amount' },
    denominator: { event: 'session',  aggregation: 'count' },
    capping: { type: 'absolute', value: 500 },
    windowHours: 168,
    delayHours: -2,
    higherIsBetter: true,
    guardrail: false,
    tags: ['money', 'checkout'],
  },
};

/** Types into a field found by its label (its error, when shown, follows the label). */
async function typeInto(u: ReturnType<typeof userEvent.setup>, label: string, text: string): Promise<void> {
  const input = screen.getByRole('textbox', { name: new RegExp(`^${label.replace(/[()]/g, '\\$&')}`) });
  await u.clear(input);
  if (text !== '') {
    await u.type(input, text);
  }
}

/** Renders a new metric's form; returns what it sends. */
function renderNew(respond: Parameters<typeof fakeApi>[0] = (req) => (req.method === 'POST' ? { status: 201, body: revenue } : undefined)): ReturnType<typeof fakeApi>['sent'] {
  const { client, sent } = fakeApi(respond);
  render(
    <WithSession client={client} me={user()}>
      <MetricForm onClose={() => undefined} onSaved={() => undefined} />
    </WithSession>,
  );
  return sent;
}

/** Fills the fields a new conversion metric needs, so the form's own check lets it through to the API. */
async function fillValid(u: ReturnType<typeof userEvent.setup>): Promise<void> {
  await u.type(screen.getByRole('textbox', { name: 'Key' }), 'revenue');
  await u.type(screen.getByRole('textbox', { name: 'Name' }), 'Revenue');
  await u.type(screen.getByRole('textbox', { name: 'Event' }), 'purchase');
}

/** The message under a field, which the input names in aria-describedby, and that it is marked invalid. */
function errorUnder(label: RegExp): string | null | undefined {
  const input = screen.getByRole('textbox', { name: label });
  expect(input.getAttribute('aria-invalid')).toBe('true');
  return document.getElementById(input.getAttribute('aria-describedby') ?? '')?.textContent;
}

/** One filter row as the user fills it in: the operator and the value type in the words the form shows. */
interface FilterInput {
  readonly property: string;
  readonly operator: string;
  readonly type?: 'text' | 'number' | 'true/false';
  readonly value?: string;
}

/** The "Only count events where…" section of the form, or of a ratio side's fieldset. */
const filtersIn = (scope: HTMLElement = document.body): HTMLElement => within(scope).getByRole('group', { name: 'Only count events where…' });

/** Adds a filter row in `filters` and fills it in (a value is pasted, so a list may hold new lines). */
async function addFilter(u: ReturnType<typeof userEvent.setup>, filters: HTMLElement, row: FilterInput): Promise<void> {
  await u.click(within(filters).getByRole('button', { name: 'Add filter' }));
  const n = within(filters).getAllByRole('button', { name: /^Remove filter / }).length;
  await u.type(within(filters).getByRole('textbox', { name: `Filter ${n} property` }), row.property);
  // By the option's text: "<" is "&lt;" in the option's HTML, which selectOptions also compares.
  const operator = within(filters).getByRole('combobox', { name: `Filter ${n} operator` });
  await u.selectOptions(operator, within(operator).getByRole('option', { name: row.operator }));
  if (row.type !== undefined) {
    await u.selectOptions(within(filters).getByRole('combobox', { name: `Filter ${n} value type` }), row.type);
  }
  if (row.value === undefined) {
    return;
  }
  const choice = within(filters).queryByRole('combobox', { name: `Filter ${n} value` });
  if (choice !== null) {
    await u.selectOptions(choice, row.value);
    return;
  }
  await u.click(within(filters).getByRole('textbox', { name: `Filter ${n} value` }));
  await u.paste(row.value);
}

/** The message beside a control of any role, which names it in aria-describedby, and that it is marked invalid. */
function problemOf(role: 'textbox' | 'combobox', name: string, scope: HTMLElement = document.body): string | null | undefined {
  const control = within(scope).getByRole(role, { name });
  expect(control.getAttribute('aria-invalid')).toBe('true');
  return document.getElementById(control.getAttribute('aria-describedby') ?? '')?.textContent;
}

/** A stored metric made of `definition` and the defaults. */
const storedMetric = (key: string, definition: Omit<Metric, 'key' | 'higherIsBetter' | 'guardrail' | 'tags'>): Stored<Metric> => ({ ...revenue, key, definition: { key, higherIsBetter: true, guardrail: false, tags: [], ...definition } });

describe('metric form', () => {
  it('edits a metric from its version and keeps its capping and tags', async () => {
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

  it('shows the API validation errors next to their fields, in the same plain wording as its own checks', async () => {
    const u = userEvent.setup();
    // An API with other limits than this console (a newer version): its zod texts are translated.
    const { client, sent } = fakeApi((req) =>
      req.method === 'POST'
        ? { status: 400, body: { error: { code: 'VALIDATION', message: 'invalid metric: property: Too big: expected string to have <=4 characters', details: { issues: [{ path: 'property', message: 'Too big: expected string to have <=4 characters' }, { path: 'name', message: 'Too small: expected string to have >=10 characters' }] } } } }
        : undefined,
    );
    let saved = false;
    render(
      <WithSession client={client} me={user()}>
        <MetricForm onClose={() => undefined} onSaved={() => { saved = true; }} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Key' }), 'revenue');
    await u.type(screen.getByRole('textbox', { name: 'Name' }), 'Revenue');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Type' }), 'sum');
    await u.type(screen.getByRole('textbox', { name: 'Event' }), 'purchase');
    await u.type(screen.getByRole('textbox', { name: 'Property' }), 'amount');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(sent.filter((r) => r.method === 'POST')).toHaveLength(1);
    expect(saved).toBe(false);
    const property = screen.getByRole('textbox', { name: /^Property/ });
    expect(property.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(property.getAttribute('aria-describedby') ?? '')?.textContent).toBe('Property: at most 4 characters (this one has 6)');
    const name = screen.getByRole('textbox', { name: /^Name/ });
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(name.getAttribute('aria-describedby') ?? '')?.textContent).toBe('Name: at least 10 characters (this one has 7)');
    expect(screen.getByRole('textbox', { name: /^Event/ }).getAttribute('aria-invalid')).toBeNull();
  });

  it('shows the validation errors of the real API, whose paths start with "body.", under their fields in plain words', async () => {
    const u = userEvent.setup();
    const issues = [
      { path: 'body.key', message: 'must not be empty' },
      { path: 'body.name', message: 'Too small: expected string to have >=1 characters' },
      { path: 'body.event', message: 'Too big: expected string to have <=200 characters' },
    ];
    const { client } = fakeApi((req) => (req.method === 'POST' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body: body.key: must not be empty', details: { issues } } } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <MetricForm onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Key' }), 'revenue');
    await u.type(screen.getByRole('textbox', { name: 'Name' }), 'Revenue');
    await u.type(screen.getByRole('textbox', { name: 'Event' }), 'purchase');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(errorUnder(/^Key/)).toBe('Key is required');
    expect(errorUnder(/^Name/)).toBe('Name is required');
    // The event's length is within the limit the API names, so the form does not claim otherwise.
    expect(errorUnder(/^Event/)).toBe('Event: at most 200 characters');
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

    await fillValid(u);
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

  it('shows the API\'s problems with the capping, the window, the tags and a ratio\'s sides under their fields, and others in its error note', async () => {
    const u = userEvent.setup();
    const issues = [
      { path: 'body.capping.value', message: 'Too big: expected number to be <=0.5' },
      { path: 'body.tags[1]', message: 'Too big: expected string to have <=4 characters' },
      { path: 'body.windowHours', message: 'Too big: expected number to be <=48' },
      { path: 'body.name', message: 'must not be empty' },
      { path: 'body.higherIsBetter', message: 'Invalid input: expected boolean' },
    ];
    const { client } = fakeApi((req) => (req.method === 'PUT' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body', details: { issues } } } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <MetricForm existing={{ ...revenue, definition: { ...revenue.definition, windowHours: 72, tags: ['money', 'checkout'] } }} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.click(screen.getByRole('button', { name: 'Save metric' }));

    expect(errorUnder(/^Name/)).toBe('Name is required');
    expect(errorUnder(/^Percentile/)).toBe('Percentile: at most 0.5');
    // The tag's own length, not the list's.
    expect(errorUnder(/^Tags/)).toBe('Tags: at most 4 characters (this one has 8)');
    expect(errorUnder(/^Window/)).toBe('Window (hours): at most 48');
    expect(screen.getByRole('textbox', { name: /^Delay/ }).getAttribute('aria-invalid')).toBeNull();
    const note = screen.getAllByRole('alert').find((a) => a.classList.contains('state-error'));
    expect(note?.textContent).toMatch(/^The API refused this setting:/);
    expect(within(note!).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['higherIsBetter: Invalid input: expected boolean']);
  });

  it('shows the API\'s problem with a ratio\'s side under that side\'s input', async () => {
    const u = userEvent.setup();
    const issues = [{ path: 'body.denominator.event', message: 'Too big: expected string to have <=3 characters' }];
    const { client } = fakeApi((req) => (req.method === 'PUT' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body', details: { issues } } } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <MetricForm existing={revenuePerSession} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.click(screen.getByRole('button', { name: 'Save metric' }));

    expect(errorUnder(/^Denominator event/)).toBe('Denominator event: at most 3 characters (this one has 7)');
    expect(screen.getByRole('textbox', { name: /^Numerator event/ }).getAttribute('aria-invalid')).toBeNull();
    expect(document.querySelector('.state-error')).toBeNull();
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

    await fillValid(u);
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(screen.getByRole('alert').textContent).toBe('The API refused this setting:type: Invalid option: expected one of "conversion"|"count"|"sum"|"ratio"');
  });

  it('checks its fields against the metric schema before sending, with a plain message under each', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => (req.method === 'POST' ? { status: 201, body: { ...revenue, key: 'purchases' } } : undefined));
    let saved = false;
    render(
      <WithSession client={client} me={user()}>
        <MetricForm onClose={() => undefined} onSaved={() => { saved = true; }} />
      </WithSession>,
    );

    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(sent).toEqual([]);
    expect(errorUnder(/^Key/)).toBe('Key is required');
    expect(errorUnder(/^Name/)).toBe('Name is required');
    expect(errorUnder(/^Event/)).toBe('Event is required');
    expect(screen.getByRole('textbox', { name: /^Description/ }).getAttribute('aria-invalid')).toBeNull();

    // The limit is the schema's (200 characters for a name), the length the one typed.
    await u.type(screen.getByRole('textbox', { name: /^Key/ }), 'purchases');
    await u.click(screen.getByRole('textbox', { name: /^Name/ }));
    await u.paste('n'.repeat(5000));
    await u.type(screen.getByRole('textbox', { name: /^Event/ }), 'purchase');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(sent).toEqual([]);
    expect(screen.getByRole('textbox', { name: /^Key/ }).getAttribute('aria-invalid')).toBeNull();
    expect(errorUnder(/^Name/)).toBe('Name: at most 200 characters (this one has 5,000)');
    expect(screen.queryByText(/Too (big|small)/)).toBeNull();

    await u.clear(screen.getByRole('textbox', { name: /^Name/ }));
    await u.type(screen.getByRole('textbox', { name: /^Name/ }), 'Purchases');
    expect(screen.getByRole('textbox', { name: /^Name/ }).getAttribute('aria-invalid')).toBeNull();
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(saved).toBe(true);
    expect(sent.map((r) => r.body)).toEqual([{ key: 'purchases', name: 'Purchases', type: 'conversion', event: 'purchase', higherIsBetter: true, guardrail: false }]);
  });

  it('shows a duplicate key (409) under the Key field, not in the general note', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => (req.method === 'POST' ? { status: 409, body: { error: { code: 'ALREADY_EXISTS', message: 'metric "demo-purchase" already exists' } } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <MetricForm onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Key' }), 'demo-purchase');
    await u.type(screen.getByRole('textbox', { name: 'Name' }), 'Purchase rate');
    await u.type(screen.getByRole('textbox', { name: 'Event' }), 'purchase');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(errorUnder(/^Key/)).toBe('Key: metric "demo-purchase" already exists; choose another key');
    expect(screen.getAllByRole('alert')).toHaveLength(1);
    expect(document.querySelector('.state-error')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Reload their version' })).toBeNull();

    // Another key is not the one refused.
    await u.type(screen.getByRole('textbox', { name: /^Key/ }), '-2');
    expect(screen.getByRole('textbox', { name: /^Key/ }).getAttribute('aria-invalid')).toBeNull();
  });

  it('shows what a ratio adds up in the Event column, and a sum of the events\' value', async () => {
    const stored = (key: string, definition: Omit<Metric, 'key' | 'higherIsBetter' | 'guardrail' | 'tags'>): Stored<Metric> => ({ ...revenue, key, definition: { key, higherIsBetter: true, guardrail: false, tags: [], ...definition } });
    const items = [
      stored('rps', { name: 'Revenue per session', type: 'ratio', numerator: { event: 'purchase', aggregation: 'sum', property: 'amount' }, denominator: { event: 'session', aggregation: 'count' } }),
      stored('vps', { name: 'Value per session', type: 'ratio', numerator: { event: 'purchase', aggregation: 'sum' }, denominator: { event: 'session', aggregation: 'count' } }),
      stored('value', { name: 'Purchase value', type: 'sum', event: 'purchase' }),
      revenue,
      stored('rate', { name: 'Purchase rate', type: 'conversion', event: 'purchase' }),
    ];
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <Metrics />
      </WithSession>,
    );

    const table = await screen.findByRole('table', { name: 'Metrics' });
    const column = within(table).getAllByRole('columnheader').findIndex((th) => th.textContent === 'Event');
    expect(within(table).getAllByRole('row').slice(1).map((row) => within(row).getAllByRole('cell')[column]?.textContent)).toEqual([
      'sum of purchase.amount ÷ count of session',
      'sum of purchase value ÷ count of session',
      'sum of purchase value',
      'sum of purchase.value',
      'purchase',
    ]);
  });

  it('creates a ratio metric: its two sides in the form, no event of its own', async () => {
    const u = userEvent.setup();
    const sent = renderNew();

    await typeInto(u, 'Key', 'rps');
    await typeInto(u, 'Name', 'Revenue per session');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Type' }), 'ratio');
    expect(screen.queryByRole('textbox', { name: /^Event/ })).toBeNull();
    expect(screen.getByRole('group', { name: 'Numerator' })).toBeTruthy();
    await typeInto(u, 'Numerator event', 'purchase');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Numerator aggregation' }), 'sum');
    await typeInto(u, 'Numerator property', 'amount');
    await typeInto(u, 'Denominator event', 'session');
    // A count has no property to sum.
    expect(screen.queryByRole('textbox', { name: /^Denominator property/ })).toBeNull();
    await typeInto(u, 'Window (hours)', '72');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(sent.map((r) => r.body)).toEqual([
      {
        key: 'rps',
        name: 'Revenue per session',
        type: 'ratio',
        numerator: { event: 'purchase', aggregation: 'sum', property: 'amount' },
        denominator: { event: 'session', aggregation: 'count' },
        windowHours: 72,
        higherIsBetter: true,
        guardrail: false,
      },
    ]);
  });

  it('does not send a ratio with an empty side, and says which input is missing', async () => {
    const u = userEvent.setup();
    const sent = renderNew();

    await fillValid(u);
    await u.selectOptions(screen.getByRole('combobox', { name: 'Type' }), 'ratio');
    await typeInto(u, 'Numerator event', 'purchase');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(sent).toEqual([]);
    expect(errorUnder(/^Denominator event/)).toBe('Denominator event is required');
    expect(screen.getByRole('textbox', { name: /^Numerator event/ }).getAttribute('aria-invalid')).toBeNull();

    await typeInto(u, 'Denominator event', 'session');
    expect(screen.getByRole('textbox', { name: /^Denominator event/ }).getAttribute('aria-invalid')).toBeNull();
    await u.click(screen.getByRole('button', { name: 'Create metric' }));
    // The event typed while it was a conversion is not part of a ratio.
    expect(sent.map((r) => r.body)).toEqual([{ key: 'revenue', name: 'Revenue', type: 'ratio', numerator: { event: 'purchase', aggregation: 'count' }, denominator: { event: 'session', aggregation: 'count' }, higherIsBetter: true, guardrail: false }]);
  });

  it('caps at a value or at a percentile between 0 and 1, and offers no capping for a conversion', async () => {
    const u = userEvent.setup();
    const sent = renderNew();

    await fillValid(u);
    expect(screen.queryByRole('combobox', { name: 'Capping' })).toBeNull();
    await u.selectOptions(screen.getByRole('combobox', { name: 'Type' }), 'sum');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Capping' }), 'percentile');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));
    expect(errorUnder(/^Percentile/)).toBe('Percentile is required (or choose no capping)');

    await typeInto(u, 'Percentile', '1.5');
    expect(errorUnder(/^Percentile/)).toBe('Percentile: less than 1');
    await typeInto(u, 'Percentile', '99%');
    expect(errorUnder(/^Percentile/)).toBe('Percentile: "99%" is not a number');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));
    expect(sent).toEqual([]);

    await typeInto(u, 'Percentile', '0.99');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));
    await u.selectOptions(screen.getByRole('combobox', { name: 'Capping' }), 'absolute');
    await typeInto(u, 'Cap at', '-5');
    expect(errorUnder(/^Cap at/)).toBe('Cap at: more than 0');
    await typeInto(u, 'Cap at', '1000');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(sent.map((r) => (r.body as Metric).capping)).toEqual([{ type: 'percentile', value: 0.99 }, { type: 'absolute', value: 1000 }]);
  });

  it('sends a window and a delay as numbers, empty as not set, and refuses a window that ends before the exposure', async () => {
    const u = userEvent.setup();
    const sent = renderNew();

    await fillValid(u);
    await typeInto(u, 'Delay (hours)', '-24');
    await typeInto(u, 'Window (hours)', '24');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));
    expect(sent).toEqual([]);
    expect(errorUnder(/^Window/)).toBe('Window (hours): the window must end after the exposure: the delay (delayHours, -24 h) plus the window (windowHours, 24 h) must be more than 0');

    await typeInto(u, 'Delay (hours)', '-25');
    expect(errorUnder(/^Delay/)).toBe('Delay (hours): at least -24');
    await typeInto(u, 'Delay (hours)', 'two');
    expect(errorUnder(/^Delay/)).toBe('Delay (hours): "two" is not a number');
    await typeInto(u, 'Window (hours)', '9000');
    expect(errorUnder(/^Window/)).toBe('Window (hours): at most 8,760');
    await typeInto(u, 'Window (hours)', '0');
    expect(errorUnder(/^Window/)).toBe('Window (hours): more than 0');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));
    expect(sent).toEqual([]);

    await typeInto(u, 'Delay (hours)', '24');
    await typeInto(u, 'Window (hours)', '48.5');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));
    await typeInto(u, 'Delay (hours)', '');
    await typeInto(u, 'Window (hours)', '');
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    const bodies = sent.map((r) => r.body as Record<string, unknown>);
    expect(bodies.map((b) => [b.delayHours, b.windowHours])).toEqual([[24, 48.5], [undefined, undefined]]);
    expect(bodies.map((b) => ['delayHours' in b, 'windowHours' in b])).toEqual([[true, true], [false, false]]);
  });

  it('shows every setting of a stored ratio metric and sends them back as they were', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => (req.method === 'PUT' ? { status: 200, body: { ...revenuePerSession, version: 5 } } : undefined));
    render(
      <WithSession client={client} me={user({ role: 'analyst' })}>
        <MetricForm existing={revenuePerSession} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    const value = (label: string): string => screen.getByLabelText<HTMLInputElement | HTMLSelectElement>(label).value;
    expect(['Type', 'Numerator event', 'Numerator aggregation', 'Numerator property', 'Denominator event', 'Denominator aggregation', 'Capping', 'Cap at', 'Delay (hours)', 'Window (hours)', 'Tags'].map(value)).toEqual(['ratio', 'purchase', 'sum', 'amount', 'session', 'count', 'absolute', '500', '-2', '168', 'money, checkout']);
    await u.click(screen.getByRole('button', { name: 'Save metric' }));
    await u.selectOptions(screen.getByRole('combobox', { name: 'Type' }), 'conversion');
    await typeInto(u, 'Event', 'purchase');
    await typeInto(u, 'Tags', 'money, , money,funnel');
    await u.click(screen.getByRole('button', { name: 'Save metric' }));

    expect(sent.map((r) => [r.method, r.ifMatch])).toEqual([['PUT', '"4"'], ['PUT', '"4"']]);
    expect(sent[0]?.body).toEqual(revenuePerSession.definition);
    // A conversion is 0/1: its capping and the ratio's sides are not sent; the window, delay and tags are.
    const { capping: _c, numerator: _n, denominator: _d, ...rest } = revenuePerSession.definition;
    expect(sent[1]?.body).toEqual({ ...rest, type: 'conversion', event: 'purchase', tags: ['money', 'funnel'] });
  });

  it('sums up the window, the delay and the capping in the list', async () => {
    const items = [
      revenuePerSession,
      revenue,
      { ...revenue, key: 'plain', definition: { ...revenue.definition, key: 'plain', type: 'conversion' as const, capping: undefined, delayHours: 0 } },
      { ...revenue, key: 'late', definition: { ...revenue.definition, key: 'late', capping: { type: 'percentile' as const, value: 0.995 }, delayHours: 24, windowHours: 1.5 } },
    ];
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <Metrics />
      </WithSession>,
    );

    const table = await screen.findByRole('table', { name: 'Metrics' });
    const column = within(table).getAllByRole('columnheader').findIndex((th) => th.textContent === 'Analysis');
    expect(within(table).getAllByRole('row').slice(1).map((row) => within(row).getAllByRole('cell')[column]?.textContent)).toEqual([
      'window 168 h · delay -2 h · capped at 500',
      'capped at p99',
      '—',
      'window 1.5 h · delay 24 h · capped at p99.5',
    ]);
  });

  it('builds the filter from its rows: every operator, typed values, two rows on one property in one object', async () => {
    const u = userEvent.setup();
    const sent = renderNew();

    await fillValid(u);
    await u.selectOptions(screen.getByRole('combobox', { name: 'Type' }), 'count');
    const filters = filtersIn();
    expect(within(filters).getByText('No filter: every event counts.')).toBeTruthy();
    const rows: FilterInput[] = [
      { property: 'plan', operator: 'is', value: 'pro' },
      { property: 'amount', operator: '≥', type: 'number', value: '10' },
      { property: 'amount', operator: '<', type: 'number', value: '100' },
      { property: 'country', operator: 'is one of', value: 'DE, FR' },
      { property: 'tier', operator: 'is none of', type: 'number', value: '1\n2\n' },
      { property: 'trial', operator: 'is not', type: 'true/false', value: 'false' },
      { property: 'coupon', operator: 'is set' },
      { property: 'referrer', operator: 'is not set' },
      { property: 'day', operator: '>', type: 'text', value: '2026-12-01' },
      { property: 'score', operator: '≤', type: 'number', value: '5' },
      { property: 'version', operator: 'is', type: 'number', value: '3' },
    ];
    for (const row of rows) {
      await addFilter(u, filters, row);
    }
    // A set/not set test has no value; a comparison offers no true/false.
    expect(within(filters).queryByRole('textbox', { name: 'Filter 7 value' })).toBeNull();
    expect(within(within(filters).getByRole('combobox', { name: 'Filter 9 value type' })).getAllByRole('option').map((o) => o.textContent)).toEqual(['number', 'text']);
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    const body = sent[0]?.body as Metric;
    expect(body.where).toEqual({
      plan: 'pro',
      amount: { $gte: 10, $lt: 100 },
      country: { $in: ['DE', 'FR'] },
      tier: { $nin: [1, 2] },
      trial: { $ne: false },
      coupon: { $exists: true },
      referrer: { $exists: false },
      day: { $gt: '2026-12-01' },
      score: { $lte: 5 },
      version: 3,
    });
    // The properties in the order of their first row.
    expect(Object.keys(body.where ?? {})).toEqual(['plan', 'amount', 'country', 'tier', 'trial', 'coupon', 'referrer', 'day', 'score', 'version']);
    expect(sent).toHaveLength(1);
  });

  it('refuses a filter row that says nothing or repeats an operator, in words beside the row, and sends once it is fixed', async () => {
    const u = userEvent.setup();
    const sent = renderNew();

    await fillValid(u);
    const filters = filtersIn();
    await addFilter(u, filters, { property: 'amount', operator: '≥', type: 'number', value: '10' });
    await addFilter(u, filters, { property: 'amount', operator: '≥', type: 'number', value: '20' });
    await addFilter(u, filters, { property: 'coupon', operator: 'is set' });
    await addFilter(u, filters, { property: 'coupon', operator: 'is not set' });
    await addFilter(u, filters, { property: 'score', operator: '≤', type: 'number', value: 'ten' });
    await addFilter(u, filters, { property: 'plan', operator: 'is', value: 'x'.repeat(1001) });
    await u.click(within(filters).getByRole('button', { name: 'Add filter' }));
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(sent).toEqual([]);
    expect(problemOf('combobox', 'Filter 2 operator', filters)).toBe('Filter 2: filter 1 already tests amount ≥: a property takes each operator once');
    expect(problemOf('combobox', 'Filter 4 operator', filters)).toBe('Filter 4: filter 3 already says whether coupon is set: keep one of them');
    expect(problemOf('textbox', 'Filter 5 value', filters)).toBe('Filter 5: "ten" is not a number');
    // The schema's limit, in the form's words.
    expect(problemOf('textbox', 'Filter 6 value', filters)).toBe('Filter 6: at most 1,000 characters (this one has 1,001)');
    expect(problemOf('textbox', 'Filter 7 property', filters)).toBe('Filter 7: name the property');
    expect(within(filters).getByRole('combobox', { name: 'Filter 1 operator' }).getAttribute('aria-invalid')).toBeNull();

    // A row added since says nothing until it is filled in.
    await u.click(within(filters).getByRole('button', { name: 'Add filter' }));
    expect(within(filters).getByRole('textbox', { name: 'Filter 8 property' }).getAttribute('aria-invalid')).toBeNull();
    await u.type(within(filters).getByRole('textbox', { name: 'Filter 8 property' }), 'x');
    expect(problemOf('textbox', 'Filter 8 value', filters)).toBe('Filter 8: enter a value');
    await u.click(within(filters).getByRole('button', { name: 'Remove filter 8' }));

    // The focus goes to the next row's remove button, which now has the removed one's number.
    await u.click(within(filters).getByRole('button', { name: 'Remove filter 2' }));
    expect(document.activeElement?.getAttribute('aria-label')).toBe('Remove filter 2');
    for (const n of [6, 5, 4, 3]) {
      await u.click(within(filters).getByRole('button', { name: `Remove filter ${n}` }));
    }
    expect(within(filters).getAllByRole('button', { name: /^Remove filter / })).toHaveLength(2);
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(sent.map((r) => (r.body as Metric).where)).toEqual([{ amount: { $gte: 10 }, coupon: { $exists: true } }]);
  });

  it('filters each side of a ratio metric, and sends no filter of its own', async () => {
    const u = userEvent.setup();
    const sent = renderNew();

    await fillValid(u);
    await addFilter(u, filtersIn(), { property: 'plan', operator: 'is', value: 'pro' });
    await u.selectOptions(screen.getByRole('combobox', { name: 'Type' }), 'ratio');
    await typeInto(u, 'Numerator event', 'purchase');
    await typeInto(u, 'Denominator event', 'session');
    await addFilter(u, filtersIn(screen.getByRole('group', { name: 'Numerator' })), { property: 'amount', operator: '>', type: 'number', value: '0' });
    await addFilter(u, filtersIn(screen.getByRole('group', { name: 'Denominator' })), { property: 'source', operator: 'is none of', value: 'bot, crawler' });
    await u.click(screen.getByRole('button', { name: 'Create metric' }));

    expect(sent.map((r) => r.body)).toEqual([
      {
        key: 'revenue',
        name: 'Revenue',
        type: 'ratio',
        numerator: { event: 'purchase', aggregation: 'count', where: { amount: { $gt: 0 } } },
        denominator: { event: 'session', aggregation: 'count', where: { source: { $nin: ['bot', 'crawler'] } } },
        higherIsBetter: true,
        guardrail: false,
      },
    ]);
  });

  it('shows a stored filter as rows and sends it back exactly as it was stored', async () => {
    const u = userEvent.setup();
    const where = {
      plan: 'pro',
      amount: { $gte: 10, $lt: 99.5 },
      tier: { $eq: 'gold' },
      country: { $in: ['DE', 'FR'] },
      label: { $nin: ['a, b', 'c'] },
      beta: { $exists: false },
      trial: true,
      day: { $lte: '2026-12-01T00:00:00Z' },
      code: '10',
    };
    const stored = storedMetric('filtered', {
      name: 'Filtered purchases',
      type: 'count',
      event: 'purchase',
      where,
    });
    const ratio = storedMetric('rps', { name: 'Revenue per session', type: 'ratio', numerator: { event: 'purchase', aggregation: 'sum', property: 'amount', where: { amount: { $gt: 0 } } }, denominator: { event: 'session', aggregation: 'count', where: { bot: false } } });
    const { client, sent } = fakeApi((req) => (req.method === 'PUT' ? { status: 200, body: stored } : undefined));
    const { unmount } = render(
      <WithSession client={client} me={user()}>
        <MetricForm existing={stored} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    const filters = filtersIn();
    const value = (label: string): string => within(filters).getByLabelText<HTMLInputElement | HTMLSelectElement>(label).value;
    const rows = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => [`Filter ${n} property`, `Filter ${n} operator`].map(value).join(' '));
    expect(rows).toEqual(['plan is', 'amount gte', 'amount lt', 'tier is', 'country one-of', 'label none-of', 'beta not-set', 'trial is', 'day lte', 'code is']);
    expect(['Filter 2 value', 'Filter 2 value type', 'Filter 3 value', 'Filter 5 value', 'Filter 6 value', 'Filter 8 value', 'Filter 8 value type', 'Filter 10 value', 'Filter 10 value type'].map(value)).toEqual([
      '10',
      'number',
      '99.5',
      'DE, FR',
      // A value with a comma: one per line.
      'a, b\nc\n',
      'true',
      'boolean',
      '10',
      'text',
    ]);
    await u.click(screen.getByRole('button', { name: 'Save metric' }));
    unmount();

    render(
      <WithSession client={client} me={user()}>
        <MetricForm existing={ratio} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );
    await u.click(screen.getByRole('button', { name: 'Save metric' }));

    // An empty tag list is not sent (as before filters).
    expect(sent.map((r) => ({ tags: [], ...(r.body as object) }))).toEqual([stored.definition, ratio.definition]);
    // Same properties, operators, types and order: "tier: { $eq }" stays as it was, "plan" stays bare.
    const wheres = sent.map((r) => r.body as Metric).map((m) => JSON.stringify([m.where, m.numerator?.where, m.denominator?.where]));
    expect(wheres).toEqual([JSON.stringify([where, undefined, undefined]), JSON.stringify([undefined, { amount: { $gt: 0 } }, { bot: false }])]);
  });

  it('keeps a stored filter the rows cannot show as it is, and clears it on request', async () => {
    const u = userEvent.setup();
    // A list of a number and a text: a row's values have one type.
    const stored = storedMetric('mixed', { name: 'Mixed', type: 'conversion', event: 'purchase', where: { plan: 'pro', code: { $in: [1, 'one'] } } });
    const { client, sent } = fakeApi((req) => (req.method === 'PUT' ? { status: 200, body: stored } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <MetricForm existing={stored} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    const filters = filtersIn();
    expect(within(filters).queryByRole('textbox', { name: 'Filter 1 property' })).toBeNull();
    expect(within(filters).getByText(/"one"/).textContent).toBe(JSON.stringify(stored.definition.where, null, 2));
    await u.click(screen.getByRole('button', { name: 'Save metric' }));
    await u.click(within(filters).getByRole('button', { name: 'Clear this filter' }));
    await addFilter(u, filters, { property: 'plan', operator: 'is', value: 'pro' });
    await u.click(screen.getByRole('button', { name: 'Save metric' }));

    expect(sent.map((r) => (r.body as Metric).where)).toEqual([stored.definition.where, { plan: 'pro' }]);
  });

  it('shows the API\'s problems with a filter beside the row they concern, and the filter\'s own above its button', async () => {
    const u = userEvent.setup();
    const issues = [
      { path: 'body.where.plan', message: 'Too big: expected string to have <=2 characters' },
      { path: 'body.where.user.tier.$in[1]', message: 'Too big: expected string to have <=3 characters' },
      { path: 'body.where.amount', message: 'Invalid key in record' },
      { path: 'body.where', message: 'where may name at most 2 properties' },
    ];
    const refuse = (list: readonly { path: string; message: string }[]) => fakeApi((req) => (req.method === 'PUT' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body', details: { issues: list } } } } : undefined)).client;
    const client = refuse(issues);
    const stored = storedMetric('filtered', { name: 'Filtered', type: 'count', event: 'purchase', where: { plan: 'pro', amount: { $gte: 1 }, 'user.tier': { $in: ['gold', 'platinum'] } } });
    const { unmount } = render(
      <WithSession client={client} me={user()}>
        <MetricForm existing={stored} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.click(screen.getByRole('button', { name: 'Save metric' }));

    const filters = filtersIn();
    expect(problemOf('textbox', 'Filter 1 value', filters)).toBe('Filter 1: at most 2 characters (this one has 3)');
    // A key's problem is its property's; a dotted property name is found among the rows'.
    expect(problemOf('textbox', 'Filter 2 property', filters)).toBe('Filter 2 property: Invalid key in record');
    expect(problemOf('textbox', 'Filter 3 value', filters)).toBe('Filter 3: at most 3 characters (this one has 8)');
    expect(within(filters).getByText('Filters: where may name at most 2 properties').getAttribute('role')).toBe('alert');
    expect(document.querySelector('.state-error')).toBeNull();
    unmount();

    const ratio = storedMetric('rps', { name: 'Purchases per session', type: 'ratio', numerator: { event: 'purchase', aggregation: 'count' }, denominator: { event: 'session', aggregation: 'count', where: { source: { $ne: 'bot' } } } });
    render(
      <WithSession client={refuse([{ path: 'body.denominator.where.source.$ne', message: 'Too small: expected string to have >=5 characters' }])} me={user()}>
        <MetricForm existing={ratio} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );
    await u.click(screen.getByRole('button', { name: 'Save metric' }));
    expect(document.querySelector('.state-error')).toBeNull();
    expect(problemOf('textbox', 'Filter 1 value', filtersIn(screen.getByRole('group', { name: 'Denominator' })))).toBe('Denominator filter 1: at least 5 characters (this one has 3)');
  });

  it('says in the list which events a metric counts', async () => {
    const items = [
      storedMetric('pro', { name: 'Pro purchases', type: 'count', event: 'purchase', where: { plan: 'pro', amount: { $gte: 10, $lt: 100 } } }),
      storedMetric('eu', { name: 'EU value', type: 'sum', event: 'purchase', property: 'amount', where: { country: { $in: ['DE', 'FR'] }, coupon: { $exists: false } } }),
      storedMetric('rps', { name: 'Revenue per session', type: 'ratio', numerator: { event: 'purchase', aggregation: 'sum', property: 'amount', where: { test: { $ne: true } } }, denominator: { event: 'session', aggregation: 'count', where: { bot: { $exists: true } } } }),
      // Texts that read as another type, or hide a space, are quoted.
      storedMetric('codes', { name: 'Codes', type: 'conversion', event: 'signup', where: { code: '10', note: ' x', day: { $gt: '2026-12-01' } } }),
    ];
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <Metrics />
      </WithSession>,
    );

    const table = await screen.findByRole('table', { name: 'Metrics' });
    const column = within(table).getAllByRole('columnheader').findIndex((th) => th.textContent === 'Event');
    expect(within(table).getAllByRole('row').slice(1).map((row) => within(row).getAllByRole('cell')[column]?.textContent)).toEqual([
      'purchase where plan is pro and amount ≥ 10 and amount < 100',
      'sum of purchase.amount where country is one of DE, FR and coupon is not set',
      'sum of purchase.amount where test is not true ÷ count of session where bot is set',
      'signup where code is "10" and note is " x" and day > 2026-12-01',
    ]);
  });
});
