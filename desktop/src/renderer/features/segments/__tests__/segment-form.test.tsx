import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Segment, Stored, StoredEnvironment } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import Segments, { SegmentForm } from '../segments.js';

afterEach(cleanup);

function stored(version: number, name: string, values: string[]): Stored<Segment> {
  return { key: 'beta', version, archived: false, createdAt: '2026-11-25T10:00:00Z', updatedAt: '2026-11-25T10:00:00Z', createdBy: null, updatedBy: null, definition: { key: 'beta', name, type: 'ids', attribute: 'id', values } };
}

describe('segment form', () => {
  it('saves an edit with the version it was opened at', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => (req.method === 'PUT' ? { status: 200, body: stored(4, 'Beta testers', ['a', 'b', 'c']) } : undefined));
    let saved = 0;
    render(
      <WithSession client={client} me={user()}>
        <SegmentForm existing={stored(3, 'Beta', ['a', 'b'])} onClose={() => undefined} onSaved={() => { saved++; }} />
      </WithSession>,
    );

    expect(screen.getByRole('textbox', { name: 'Key' })).toHaveProperty('disabled', true);
    await u.clear(screen.getByRole('textbox', { name: 'Name' }));
    await u.type(screen.getByRole('textbox', { name: 'Name' }), 'Beta testers');
    await u.type(screen.getByRole('textbox', { name: /Unit ids/ }), '\nc');
    await u.click(screen.getByRole('button', { name: 'Save segment' }));

    expect(saved).toBe(1);
    expect(sent).toEqual([{ method: 'PUT', path: '/api/v1/projects/web/segments/beta', ifMatch: '"3"', body: { key: 'beta', name: 'Beta testers', type: 'ids', attribute: 'id', values: ['a', 'b', 'c'] } }]);
  });

  it("keeps a segment's tags on save and edits them (xp apply scopes a repository's segments by tag)", async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => (req.method === 'PUT' ? { status: 200, body: stored(4, 'Beta', ['a']) } : undefined));
    const tagged: Stored<Segment> = { ...stored(3, 'Beta', ['a']), definition: { key: 'beta', name: 'Beta', type: 'ids', attribute: 'id', values: ['a'], tags: ['repo-a'] } };
    render(
      <WithSession client={client} me={user()}>
        <SegmentForm existing={tagged} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    expect(screen.getByRole('textbox', { name: 'Tags' })).toHaveProperty('value', 'repo-a');
    await u.type(screen.getByRole('textbox', { name: 'Name' }), '!');
    await u.click(screen.getByRole('button', { name: 'Save segment' }));
    await u.type(screen.getByRole('textbox', { name: 'Tags' }), ', checkout, repo-a');
    await u.click(screen.getByRole('button', { name: 'Save segment' }));

    expect(sent.map((r) => (r.body as { tags?: string[] }).tags)).toEqual([['repo-a'], ['repo-a', 'checkout']]);
  });

  it("keeps a field's accessible name to its label when it shows an error, and describes the field with the error", async () => {
    const u = userEvent.setup();
    const issues = [{ path: 'name', message: 'Too big: expected string to have <=200 characters' }, { path: 'tags', message: 'Too big: expected array to have <=50 items' }];
    const { client } = fakeApi((req) => (req.method === 'PUT' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body', details: { issues } } } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <SegmentForm existing={stored(3, 'Beta', ['a'])} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );
    await u.type(screen.getByRole('textbox', { name: 'Name' }), '!');
    await u.click(screen.getByRole('button', { name: 'Save segment' }));
    // Inside the <label>, the error became part of the name ("Name Name must be at most …"): a screen
    // reader read it twice and voice control users could no longer say "click Name".
    const name = await screen.findByRole('textbox', { name: 'Name' });
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(name.getAttribute('aria-describedby') ?? '')?.textContent).toMatch(/200/);
    expect(screen.getByRole('textbox', { name: 'Tags' }).getAttribute('aria-invalid')).toBe('true');
  });

  it('explains a conflict and reloads the other version on request', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'PUT') {
        return { status: 409, body: { error: { code: 'VERSION_CONFLICT', message: 'expected version 3, current is 5' } } };
      }
      return req.method === 'GET' ? { status: 200, body: stored(5, 'Beta (renamed by Ana)', ['z']) } : undefined;
    });
    render(
      <WithSession client={client} me={user()}>
        <SegmentForm existing={stored(3, 'Beta', ['a'])} onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Name' }), '!');
    await u.click(screen.getByRole('button', { name: 'Save segment' }));
    expect(screen.getByRole('alert').textContent).toMatch(/Someone else changed this since you opened it/);

    await u.click(screen.getByRole('button', { name: 'Reload their version' }));
    expect(screen.getByRole('textbox', { name: 'Name' })).toHaveProperty('value', 'Beta (renamed by Ana)');
    expect(screen.queryByRole('alert')).toBeNull();

    await u.click(screen.getByRole('button', { name: 'Save segment' }));
    expect(sent.filter((r) => r.method === 'PUT').map((r) => r.ifMatch)).toEqual(['"3"', '"5"']);
  });

  it('shows a validation error at its field and a missing condition before sending', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) =>
      req.method === 'POST' ? { status: 400, body: { error: { code: 'VALIDATION', message: 'invalid segment: key: invalid key', details: { issues: [{ path: 'key', message: 'use lowercase letters, digits and dashes' }] } } } } : undefined,
    );
    render(
      <WithSession client={client} me={user()}>
        <SegmentForm onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Key' }), 'Bad Key');
    await u.type(screen.getByRole('textbox', { name: 'Name' }), 'Beta');
    await u.click(screen.getByRole('button', { name: 'Create segment' }));
    expect(sent).toHaveLength(0);
    expect(screen.getByRole('alert').textContent).toBe('Add at least one valid attribute condition');

    await u.selectOptions(screen.getByRole('combobox', { name: 'Kind' }), 'ids');
    await u.type(screen.getByRole('textbox', { name: /Unit ids/ }), 'u1, u2');
    await u.click(screen.getByRole('button', { name: 'Create segment' }));
    const key = screen.getByRole('textbox', { name: /^Key/ });
    expect(key.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(key.getAttribute('aria-describedby') ?? '')?.textContent).toBe('Key: use lowercase letters, digits and dashes');
    expect(sent[0]?.body).toEqual({ key: 'Bad Key', name: 'Beta', type: 'ids', attribute: 'id', values: ['u1', 'u2'] });
  });

  it("puts the API's schema wording in plain words under the field", async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) =>
      req.method === 'POST'
        ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body: body.name: Too big: expected string to have <=200 characters', details: { issues: [{ path: 'body.name', message: 'Too big: expected string to have <=200 characters' }] } } } }
        : undefined,
    );
    render(
      <WithSession client={client} me={user()}>
        <SegmentForm onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Key' }), 'beta');
    await u.click(screen.getByRole('textbox', { name: 'Name' }));
    await u.paste('n'.repeat(250));
    await u.selectOptions(screen.getByRole('combobox', { name: 'Kind' }), 'ids');
    await u.type(screen.getByRole('textbox', { name: /Unit ids/ }), 'u1');
    await u.click(screen.getByRole('button', { name: 'Create segment' }));

    const name = await screen.findByRole('textbox', { name: /^Name/ });
    await waitFor(() => { expect(name.getAttribute('aria-invalid')).toBe('true'); });
    expect(document.getElementById(name.getAttribute('aria-describedby') ?? '')?.textContent).toBe('Name: at most 200 characters (this one has 250)');
  });

  it('says that a new key is taken instead of offering another version to reload', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => (req.method === 'POST' ? { status: 409, body: { error: { code: 'ALREADY_EXISTS', message: 'segment "beta" already exists' } } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <SegmentForm onClose={() => undefined} onSaved={() => undefined} />
      </WithSession>,
    );

    await u.type(screen.getByRole('textbox', { name: 'Key' }), 'beta');
    await u.type(screen.getByRole('textbox', { name: 'Name' }), 'Beta');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Kind' }), 'ids');
    await u.type(screen.getByRole('textbox', { name: /Unit ids/ }), 'u1');
    await u.click(screen.getByRole('button', { name: 'Create segment' }));

    expect(screen.getByRole('alert').textContent).toBe('segment "beta" already exists');
    expect(screen.queryByRole('button', { name: 'Reload their version' })).toBeNull();
  });

  it('names and links the flags and experiments that still use a segment the API refused to delete', async () => {
    const u = userEvent.setup();
    const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'DELETE') {
        return {
          status: 400,
          body: {
            error: {
              code: 'VALIDATION_FAILED',
              message: 'segment "beta" is still used (flags.search-v2.environments.development.rules[0].segments: uses segment "beta"; experiments.checkout.segments: uses segment "beta"); remove it from them first',
              details: { problems: ['flags.search-v2.environments.development.rules[0].segments: uses segment "beta"', 'experiments.checkout.segments: uses segment "beta"'] },
            },
          },
        };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [stored(3, 'Beta', ['a'])] } } : undefined;
    });
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <Segments />
      </WithSession>,
    );

    await u.click(await screen.findByRole('button', { name: 'Delete beta' }));
    await u.click(screen.getByRole('button', { name: 'Delete segment' }));

    const alert = await screen.findByRole('alert');
    expect(sent.find((r) => r.method === 'DELETE')).toMatchObject({ path: '/api/v1/projects/web/segments/beta', ifMatch: '"3"' });
    expect(alert.textContent).toContain('Segment beta is still used, so it was not deleted.');
    expect(alert.textContent).not.toContain('uses segment');
    const users = within(alert).getByRole('list', { name: 'What uses segment beta' });
    expect(within(users).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['flag search-v2 (rule 1 in Development)', 'experiment checkout (its targeting)']);
    expect(within(users).getByRole('link', { name: 'search-v2' }).getAttribute('href')).toBe('#/flags/search-v2');
    expect(within(users).getByRole('link', { name: 'checkout' }).getAttribute('href')).toBe('#/experiments/checkout');
  });

  it('disables creating, editing and deleting segments for an analyst, and says why', async () => {
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items: [stored(3, 'Beta', ['a'])] } } : undefined));
    render(
      <WithSession client={client} me={user({ role: 'analyst' })}>
        <Segments />
      </WithSession>,
    );
    for (const name of ['Edit beta', 'Delete beta', 'New segment']) {
      const button = await screen.findByRole('button', { name });
      expect(button).toHaveProperty('disabled', true);
      expect(button.getAttribute('title')).toBe('Analysts cannot change segments');
    }
  });
});
