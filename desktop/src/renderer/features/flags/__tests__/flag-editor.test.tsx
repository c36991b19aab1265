import '../../../test/dom.js';
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Flag, Stored, StoredEnvironment } from '@xp/shared';
import { SessionContext } from '../../../app/session.js';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { booleanFlag, storedOf } from '../../../test/fixtures.js';
import FlagEditor from '../flag-editor.js';

afterEach(cleanup);

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };
const PRODUCTION: StoredEnvironment = { key: 'production', name: 'Production', production: true, requireApproval: true, version: 1, position: 1 };

function stored(version: number, enabled: boolean): Stored<Flag> {
  const environments = { development: { enabled, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [] } };
  return storedOf(booleanFlag('checkout', { name: 'Checkout', temporary: true, environments }), { version });
}

/**
 * The flags API for one stored flag, answering PUTs as the API does: 409 for a stale If-Match, else
 * the next version. `stored.current` is what it holds (a test sets it for another tab's save).
 */
/** The editor on flag "checkout" (version 3, off) in development, every list empty. */
function renderCheckout(): void {
  const { client } = fakeApi((req) => {
    if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
      return { status: 200, body: stored(3, false) };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  });
  render(
    <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [DEVELOPMENT], environment: 'development', setEnvironment: () => undefined, refreshTick: 0 }}>
      <FlagEditor flagKey="checkout" />
    </SessionContext.Provider>,
  );
}

function versionedFlagApi(initial: Stored<Flag>): ReturnType<typeof fakeApi> & { stored: { current: Stored<Flag> } } {
  const held = { current: initial };
  const api = fakeApi((req) => {
    if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
      return { status: 200, body: held.current };
    }
    if (req.method === 'GET') {
      return { status: 200, body: { items: [] } };
    }
    if (req.method !== 'PUT') {
      return undefined;
    }
    if (req.ifMatch !== `"${held.current.version}"`) {
      return { status: 409, body: { error: { code: 'VERSION_CONFLICT', message: `version ${held.current.version}, you sent ${(req.ifMatch ?? '').replaceAll('"', '')}` } } };
    }
    held.current = { ...held.current, version: held.current.version + 1 };
    return { status: 200, body: held.current };
  });
  return { ...api, stored: held };
}

describe('flag editor', () => {
  it('keeps the focus in the rules and prerequisites when one is removed: next, else previous, else the add button', async () => {
    const u = userEvent.setup();
    renderCheckout();

    const addRule = await screen.findByRole('button', { name: '+ Targeting rule' });
    await u.click(addRule);
    await u.click(addRule);
    await u.click(addRule);
    await u.click(screen.getByRole('button', { name: 'Delete rule 1' }));
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Delete rule 1' }));
    await u.click(screen.getByRole('button', { name: 'Delete rule 2' }));
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Delete rule 1' }));
    await u.keyboard('{Enter}');
    expect(screen.queryByRole('button', { name: /^Delete rule/ })).toBeNull();
    expect(document.activeElement).toBe(screen.getByRole('button', { name: '+ Targeting rule' }));

    const addPrerequisite = screen.getByRole('button', { name: '+ Prerequisite' });
    await u.click(addPrerequisite);
    await u.click(addPrerequisite);
    await u.click(screen.getByRole('button', { name: 'Remove prerequisite 2' }));
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Remove prerequisite 1' }));
    await u.keyboard('{Enter}');
    expect(document.activeElement).toBe(addPrerequisite);
  });

  it('keeps a draft saveable after the user turns the flag on while editing it', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: stored(3, false) };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      if (req.method === 'POST' && req.path.endsWith('/environments/development/toggle')) {
        return { status: 200, body: stored(4, true) };
      }
      return req.method === 'PUT' ? { status: 200, body: stored(5, true) } : undefined;
    });
    render(
      <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [DEVELOPMENT], environment: 'development', setEnvironment: () => undefined, refreshTick: 0 }}>
        <FlagEditor flagKey="checkout" />
      </SessionContext.Provider>,
    );

    await u.click(await screen.findByRole('button', { name: '+ Targeting rule' }));
    await u.click(screen.getByRole('switch', { name: 'Flag on in Development' }));
    await u.click(screen.getByRole('button', { name: 'Turn on' }));
    await screen.findByText('Turned on in Development (version 4).');

    expect(screen.queryByText(/while you were editing/)).toBeNull();
    const save = screen.getByRole('button', { name: 'Save' });
    await u.click(save);
    await screen.findByText('Saved the targeting in Development (version 5).');
    // Saved, nothing is left to save: Save is held back but keeps the focus (disabled would drop it to the page).
    expect(save).toHaveProperty('disabled', false);
    expect(save.getAttribute('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(save);
    expect(sent.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.ifMatch ?? ''}`)).toEqual(['POST "3"', 'PUT "4"']);
    expect(sent.find((r) => r.method === 'PUT')?.body).toMatchObject({ enabled: true, rules: [{ id: 'rule-1', type: 'force', variation: 'on' }] });
  });

  it('says a stale flag can leave the code, with the value to put in its place; not for a flag changed lately', async () => {
    const environments = { development: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] } };
    const show = async (updatedAt: string): Promise<HTMLElement | null> => {
      const { client } = fakeApi((req) => {
        if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
          return { status: 200, body: storedOf(booleanFlag('checkout', { name: 'Checkout', temporary: true, environments }), { version: 3, at: updatedAt }) };
        }
        return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
      });
      render(
        <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
          <FlagEditor flagKey="checkout" />
        </WithSession>,
      );
      await screen.findByRole('heading', { name: 'Checkout' });
      const note = screen.queryByText(/^Stale: this temporary flag/);
      cleanup();
      return note;
    };

    const stale = await show(new Date(Date.now() - 45 * 86_400_000).toISOString());
    expect(stale?.textContent).toBe(
      'Stale: this temporary flag has served on (true) to everyone in every environment and has not changed for over 30 days. Replace its calls in your code with that value (the language server offers the edit), then archive it. Where it is used in code',
    );
    expect(stale?.querySelector('a')?.getAttribute('href')).toBe('#/code-refs?flag=checkout');
    expect(await show(new Date(Date.now() - 5 * 86_400_000).toISOString())).toBeNull();
  });

  it('keeps a space between the update time and the temporary badge', async () => {
    renderCheckout();

    const badge = await screen.findByText('temporary');
    expect(badge.parentElement?.textContent).toMatch(/\S temporary$/);
  });

  it('names who changed the flag last', async () => {
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: { ...stored(3, false), updatedBy: 'u-1', updatedByName: 'Ana Lopez' } };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [DEVELOPMENT], environment: 'development', setEnvironment: () => undefined, refreshTick: 0 }}>
        <FlagEditor flagKey="checkout" />
      </SessionContext.Provider>,
    );

    const badge = await screen.findByText('temporary');
    expect(badge.parentElement?.textContent).toMatch(/· version 3 · updated .+ by Ana Lopez temporary$/);
  });

  it('is read only for a viewer, with the reason, while evaluating still works', async () => {
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: stored(3, false) };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    expect((await screen.findByRole('note')).textContent).toMatch(/Read only: Viewers cannot change flags/);
    const toggle = screen.getByRole('switch', { name: 'Flag on in Development' });
    expect(toggle).toHaveProperty('disabled', true);
    expect(toggle.getAttribute('aria-description')).toBe('Viewers cannot change flags');
    // Disabled by the fieldset around the draft (the property reflects only the element's own attribute).
    expect(screen.getByRole('button', { name: '+ Targeting rule' }).matches(':disabled')).toBe(true);
    expect(screen.getByRole('combobox', { name: 'Default variation' }).matches(':disabled')).toBe(true);
    expect(screen.getByRole('button', { name: 'Save' }).getAttribute('aria-description')).toBe('Viewers cannot change flags');
    expect(screen.getByRole('combobox', { name: 'Editing environment' })).toHaveProperty('disabled', false);
    expect(sent.every((r) => r.method === 'GET')).toBe(true);
  });

  it('still offers an editor the change-request path in a protected environment', async () => {
    const u = userEvent.setup();
    const flag = stored(3, false);
    const inProduction = { ...flag, definition: { ...flag.definition, environments: { production: { enabled: false, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [] } } } };
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: inProduction };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      if ((req.method === 'POST' && req.path.endsWith('/toggle')) || req.method === 'PUT') {
        return { status: 403, body: { error: { code: 'APPROVAL_REQUIRED', message: 'production needs an approved change request' } } };
      }
      return req.method === 'POST' ? { status: 201, body: { id: 'cr-12345678', resourceType: 'flag', resourceKey: 'checkout', environment: 'production', status: 'open', baseVersion: 3, proposed: {}, diff: [], comment: null, proposedBy: 'u-ed', approvedBy: null, createdAt: '2026-11-25T10:00:00Z' } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-ed', role: 'editor' })} environments={[PRODUCTION]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    const toggle = await screen.findByRole('switch', { name: 'Flag on in Production' });
    expect(toggle).toHaveProperty('disabled', false);
    expect(screen.queryByRole('note')).toBeNull();
    await u.click(toggle);
    await u.click(screen.getByRole('button', { name: 'Turn on' }));
    await screen.findByText(/change request cr-12345 was proposed/);
    // The role proposes in a protected environment: no write is tried first (each was a 403).
    expect(sent.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/v1/projects/web/change-requests']);
    expect(screen.getByText('protected: changes need approval')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Propose change' })).toBeTruthy();
  });

  it('shows the real, unchanged targeting after proposing a change, says it waits for approval, and sends the comment', async () => {
    const u = userEvent.setup();
    const flag = stored(3, false);
    const inProduction = { ...flag, definition: { ...flag.definition, environments: { production: { enabled: false, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [] } } } };
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: inProduction };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      return req.method === 'POST' ? { status: 201, body: { id: 'cr-12345678', resourceType: 'flag', resourceKey: 'checkout', environment: 'production', status: 'open', baseVersion: 3, proposed: {}, diff: [], comment: 'launch', proposedBy: 'u-ed', approvedBy: null, createdAt: '2026-11-25T10:00:00Z' } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-ed', role: 'editor' })} environments={[PRODUCTION]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    await u.click(await screen.findByRole('button', { name: '+ Targeting rule' }));
    await u.type(screen.getByRole('textbox', { name: 'Comment for the reviewers (optional)' }), 'launch');
    await u.click(screen.getByRole('button', { name: 'Propose change' }));

    const banner = await screen.findByText(/change request cr-12345 was proposed/);
    expect(banner.textContent).toMatch(/waits for approval by an owner or admin \(not its proposer\) on the Change requests screen\. Until it is approved and applied, Production keeps the state shown here\./);
    expect(within(banner).getByRole('link', { name: 'Review the change request' }).getAttribute('href')).toBe('#/change-requests?id=cr-12345678');
    expect(sent.filter((r) => r.method !== 'GET').map((r) => r.body)).toEqual([
      { resourceType: 'flag', resourceKey: 'checkout', environment: 'production', baseVersion: 3, comment: 'launch', state: { enabled: false, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [{ id: 'rule-1', type: 'force', variation: 'on' }] } },
    ]);
    // The flag is unchanged until the request is applied: the editor shows its real state, not the proposal.
    expect(screen.getByText(/No rules: everyone gets the default variation/)).toBeTruthy();
    expect(screen.queryByText('Rule 1', { exact: false })).toBeNull();
    expect(screen.getByRole('button', { name: 'Discard changes' })).toHaveProperty('disabled', true);
    // Nothing to propose: held back, but focusable (the focus stays on it after a proposal).
    expect(screen.getByRole('button', { name: 'Propose change' }).getAttribute('aria-disabled')).toBe('true');
    expect(screen.getByRole('textbox', { name: 'Comment for the reviewers (optional)' })).toHaveProperty('value', '');
  });

  it('tells a role that needs approval that its toggle becomes a change request, with an optional comment; an owner is told the direct effect', async () => {
    const u = userEvent.setup();
    const flag = stored(3, false);
    const inProduction = { ...flag, definition: { ...flag.definition, environments: { production: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] } } } };
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: inProduction };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      return req.method === 'POST' ? { status: 201, body: { id: 'cr-12345678', resourceType: 'flag', resourceKey: 'checkout', environment: 'production', status: 'open', baseVersion: 3, proposed: {}, diff: [], comment: null, proposedBy: 'u-ed', approvedBy: null, createdAt: '2026-11-25T10:00:00Z' } } : undefined;
    });
    const { unmount } = render(
      <WithSession client={client} me={user({ id: 'u-ed', role: 'editor' })} environments={[PRODUCTION]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    await u.click(await screen.findByRole('switch', { name: 'Flag on in Production' }));
    const dialog = screen.getByRole('dialog', { name: 'Propose turning checkout off in Production?' });
    expect(dialog.textContent).toMatch(/the environment is protected, so a change request is proposed instead/);
    expect(dialog.textContent).not.toMatch(/will serve/);
    await u.type(within(dialog).getByRole('textbox', { name: 'Comment for the reviewers (optional)' }), 'incident 42');
    await u.click(within(dialog).getByRole('button', { name: 'Turn off' }));
    await screen.findByText(/change request cr-12345 was proposed/);
    expect(sent.filter((r) => r.method !== 'GET').map((r) => [r.path, (r.body as { comment?: string }).comment])).toEqual([['/api/v1/projects/web/change-requests', 'incident 42']]);
    unmount();

    render(
      <WithSession client={client} me={user({ role: 'owner' })} environments={[PRODUCTION]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );
    await u.click(await screen.findByRole('switch', { name: 'Flag on in Production' }));
    const direct = screen.getByRole('dialog', { name: 'Turn checkout off in Production?' });
    expect(direct.textContent).toMatch(/Every SDK reading Production will serve "off" within seconds\./);
    expect(within(direct).queryByRole('textbox')).toBeNull();
  });

  it("turns the flag off directly for an editor where the environment lets editors turn flags off, and still proposes turning it on", async () => {
    const u = userEvent.setup();
    const flag = stored(3, false);
    const state = (enabled: boolean) => ({ enabled, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] });
    const at = (version: number, enabled: boolean) => ({ ...flag, version, definition: { ...flag.definition, environments: { production: state(enabled) } } });
    let held = at(3, true);
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: held };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      if (req.method === 'POST' && req.path.endsWith('/toggle')) {
        held = at(held.version + 1, (req.body as { enabled: boolean }).enabled);
        return { status: 200, body: held };
      }
      return req.method === 'POST' ? { status: 201, body: { id: 'cr-12345678', resourceType: 'flag', resourceKey: 'checkout', environment: 'production', status: 'open', baseVersion: 4, proposed: {}, diff: [], comment: null, proposedBy: 'u-ed', approvedBy: null, createdAt: '2026-11-25T10:00:00Z' } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-ed', role: 'editor' })} environments={[{ ...PRODUCTION, editorsMayTurnOff: true }]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    await u.click(await screen.findByRole('switch', { name: 'Flag on in Production' }));
    expect(screen.getByText('protected: changes need approval')).toBeTruthy();
    expect(screen.getByText('you may turn it off directly')).toBeTruthy();
    const dialog = screen.getByRole('dialog', { name: 'Turn checkout off in Production?' });
    expect(dialog.textContent).toMatch(/Every SDK reading Production will serve "off" within seconds\./);
    expect(dialog.textContent).toMatch(/lets editors turn flags off without a change request: this takes effect now, and the audit log records that it\s+bypassed approval/);
    expect(within(dialog).queryByRole('textbox')).toBeNull();
    await u.click(within(dialog).getByRole('button', { name: 'Turn off' }));
    const done = await screen.findByText(/Turned off in Production \(version 4\)\./);
    expect(done.textContent).toMatch(/No change request: the environment lets editors turn flags off/);
    // The toggle endpoint at the version shown; no change request.
    expect(sent.filter((r) => r.method !== 'GET').map((r) => [r.method, r.path, r.ifMatch, r.body])).toEqual([['POST', '/api/v1/projects/web/flags/checkout/environments/production/toggle', '"3"', { enabled: false }]]);

    // Turning it on again is a change request, as before.
    await u.click(await screen.findByRole('switch', { name: 'Flag on in Production' }));
    const on = await screen.findByRole('dialog', { name: 'Propose turning checkout on in Production?' });
    await u.click(within(on).getByRole('button', { name: 'Turn on' }));
    await screen.findByText(/change request cr-12345 was proposed/);
    expect(sent.filter((r) => r.method !== 'GET').map((r) => r.path).at(-1)).toBe('/api/v1/projects/web/change-requests');
    expect(sent.filter((r) => r.path.endsWith('/toggle'))).toHaveLength(1);
  });

  it('archives the flag after confirmation, with the version it shows, and unarchives it', async () => {
    const u = userEvent.setup();
    const archived = { ...stored(4, false), archived: true, definition: { ...stored(4, false).definition, archived: true } };
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: stored(3, false) };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      if (req.method === 'PUT' && req.ifMatch === '"3"') {
        return { status: 200, body: archived };
      }
      return req.method === 'PUT' ? { status: 200, body: stored(5, false) } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    await u.click(await screen.findByRole('button', { name: 'Archive…' }));
    expect(sent.filter((r) => r.method === 'PUT')).toEqual([]);
    await u.click(screen.getByRole('button', { name: 'Archive flag' }));
    await screen.findByText('Archived checkout (version 4).');
    expect(screen.getByText(/This flag is archived/)).toBeTruthy();
    const put = sent.find((r) => r.method === 'PUT');
    expect(put).toMatchObject({ path: '/api/v1/projects/web/flags/checkout', ifMatch: '"3"', body: { key: 'checkout', archived: true, variations: [{ key: 'off' }, { key: 'on' }] } });

    await u.click(screen.getByRole('button', { name: 'Unarchive…' }));
    await u.click(screen.getByRole('button', { name: 'Unarchive flag' }));
    await screen.findByText('Unarchived checkout (version 5).');
    expect(sent.filter((r) => r.method === 'PUT').map((r) => [r.ifMatch, (r.body as { archived: boolean }).archived])).toEqual([
      ['"3"', true],
      ['"4"', false],
    ]);
  });

  it('reports a conflict when archiving and offers to reload; a viewer cannot archive', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: stored(3, false) };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      return req.method === 'PUT' ? { status: 409, body: { error: { code: 'VERSION_CONFLICT', message: 'expected version 3, current is 6' } } } : undefined;
    });
    const { unmount } = render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );
    await u.click(await screen.findByRole('button', { name: 'Archive…' }));
    await u.click(screen.getByRole('button', { name: 'Archive flag' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/Someone else changed this since you opened it/);
    expect(screen.getByRole('button', { name: 'Reload' })).toBeTruthy();
    unmount();

    render(
      <WithSession client={client} me={user({ role: 'analyst' })} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );
    const archive = await screen.findByRole('button', { name: 'Archive…' });
    expect(archive).toHaveProperty('disabled', true);
    expect(archive.getAttribute('aria-description')).toBe('Analysts cannot change flags');
  });

  it('asks before switching the environment away from unsaved targeting, and keeps it on Cancel', async () => {
    const u = userEvent.setup();
    const flag = stored(3, false);
    const both = { ...flag, definition: { ...flag.definition, environments: { ...flag.definition.environments, production: { enabled: false, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [] } } } };
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: both };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT, PRODUCTION]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    await u.click(await screen.findByRole('button', { name: '+ Targeting rule' }));
    const select = screen.getByRole('combobox', { name: 'Editing environment' });
    await u.selectOptions(select, 'production');
    expect(screen.getByRole('dialog', { name: 'Discard your changes in Development?' })).toBeTruthy();
    await u.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(select).toHaveProperty('value', 'development');
    expect(screen.getByText('Rule 1', { exact: false })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Save' })).toHaveProperty('disabled', false);

    await u.selectOptions(select, 'production');
    await u.click(screen.getByRole('button', { name: 'Discard and switch' }));
    expect(select).toHaveProperty('value', 'production');
    expect(screen.getByText(/No rules: everyone gets the default variation/)).toBeTruthy();
    // An owner changes a protected environment directly, and is told so.
    expect(screen.getByRole('button', { name: 'Save' }).getAttribute('aria-disabled')).toBe('true');
    expect(screen.getByText('protected: you change it directly')).toBeTruthy();

    // Without changes, switching needs no confirmation.
    await u.selectOptions(select, 'development');
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(select).toHaveProperty('value', 'development');
    expect(sent.every((r) => r.method === 'GET')).toBe(true);
  });

  it('refuses to remove a variation that is still served, saying where, and sends nothing', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: stored(3, false) };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    await u.click(await screen.findByRole('tab', { name: 'Settings' }));
    const off = screen.getAllByRole('row').findIndex((r) => within(r).queryByDisplayValue('off') !== null);
    await u.click(screen.getByRole('button', { name: `Remove variation ${off}` }));
    await u.click(screen.getByRole('button', { name: 'Save settings' }));

    expect(await screen.findByText('"off" is still served in Development (default), Development (when off): choose another variation there first.')).toBeTruthy();
    expect(sent.every((r) => r.method === 'GET')).toBe(true);
  });

  it('saves the settings tab with the version it was opened from: a rename saved meanwhile is a conflict, not overwritten', async () => {
    const u = userEvent.setup();
    let current = stored(3, false);
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: current };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      return req.method === 'PUT' ? (req.ifMatch === `"${current.version}"` ? { status: 200, body: current } : { status: 409, body: { error: { code: 'VERSION_CONFLICT', message: `expected version ${req.ifMatch ?? ''}, current is ${current.version}` } } }) : undefined;
    });
    const session = (refreshTick: number) => ({ client, user: user(), project: 'web', environments: [DEVELOPMENT], environment: 'development', setEnvironment: () => undefined, refreshTick });
    const { rerender } = render(
      <SessionContext.Provider value={session(0)}>
        <FlagEditor flagKey="checkout" />
      </SessionContext.Provider>,
    );
    await u.click(await screen.findByRole('tab', { name: 'Settings' }));
    await u.type(screen.getByLabelText('Tags (comma-separated)'), 'ui');

    // Someone renames the flag; the change feed refreshes the editor.
    current = { ...current, version: 4, definition: { ...current.definition, name: 'Renamed elsewhere' } };
    rerender(
      <SessionContext.Provider value={session(1)}>
        <FlagEditor flagKey="checkout" />
      </SessionContext.Provider>,
    );
    await screen.findByRole('heading', { name: 'Renamed elsewhere' });
    await u.click(screen.getByRole('button', { name: 'Save settings' }));

    expect((await screen.findByRole('alert')).textContent).toMatch(/Someone else changed this since you opened it/);
    expect(sent.filter((r) => r.method === 'PUT').map((r) => r.ifMatch)).toEqual(['"3"']);
    await u.click(screen.getByRole('button', { name: 'Discard mine and load theirs' }));
    expect(screen.getByLabelText('Name')).toHaveProperty('value', 'Renamed elsewhere');
    expect(screen.getByLabelText('Tags (comma-separated)')).toHaveProperty('value', '');
  });

  it('never reports your own save as someone else\'s, and a newer result clears the older ones (F10)', async () => {
    const u = userEvent.setup();
    const { client, sent, stored: held } = versionedFlagApi(stored(3, false));
    const session = (refreshTick: number) => ({ client, user: user(), project: 'web', environments: [DEVELOPMENT], environment: 'development', setEnvironment: () => undefined, refreshTick });
    const { rerender } = render(
      <SessionContext.Provider value={session(0)}>
        <FlagEditor flagKey="checkout" />
      </SessionContext.Provider>,
    );
    await u.click(await screen.findByRole('button', { name: '+ Targeting rule' }));

    // Another tab saves version 4; the change feed refreshes this one.
    held.current = { ...held.current, version: 4, definition: { ...held.current.definition, description: 'theirs' } };
    rerender(
      <SessionContext.Provider value={session(1)}>
        <FlagEditor flagKey="checkout" />
      </SessionContext.Provider>,
    );
    expect((await screen.findByText(/while you were editing/)).textContent).toMatch(/^Someone else saved version 4 while you were editing the targeting in Development\./);
    await u.click(screen.getByRole('button', { name: 'Save' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/Someone else changed this since you opened it \(version 4, you sent 3\)/);

    // This tab now saves its settings: version 5 is its own.
    await u.click(screen.getByRole('tab', { name: 'Settings' }));
    await u.type(screen.getByLabelText('Tags (comma-separated)'), 'ui');
    await u.click(screen.getByRole('button', { name: 'Save settings' }));
    await screen.findByText('Saved.');
    expect(sent.filter((r) => r.method === 'PUT').map((r) => r.ifMatch)).toEqual(['"3"', '"4"']);
    expect(screen.queryByText(/version 5 while you were editing/)).toBeNull();
    expect(screen.getByText(/while you were editing/).textContent).toMatch(/^Someone else saved version 4/);
    // The old conflict is gone: "Saved." is the newest result.
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.queryByText(/you sent 3/)).toBeNull();
  });

  it('moves an untouched targeting draft past your own settings save: no banner, and it saves without a conflict', async () => {
    const u = userEvent.setup();
    const { client, sent } = versionedFlagApi(stored(3, false));
    render(
      <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [DEVELOPMENT], environment: 'development', setEnvironment: () => undefined, refreshTick: 0 }}>
        <FlagEditor flagKey="checkout" />
      </SessionContext.Provider>,
    );
    await u.click(await screen.findByRole('button', { name: '+ Targeting rule' }));
    await u.click(screen.getByRole('tab', { name: 'Settings' }));
    await u.type(screen.getByLabelText('Tags (comma-separated)'), 'ui');
    await u.click(screen.getByRole('button', { name: 'Save settings' }));
    await screen.findByText('Saved.');
    expect(screen.queryByText(/while you were editing/)).toBeNull();

    await u.click(screen.getByRole('tab', { name: 'Targeting' }));
    await u.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByText('Saved the targeting in Development (version 5).');
    expect(sent.filter((r) => r.method === 'PUT').map((r) => r.ifMatch)).toEqual(['"3"', '"4"']);
  });

  it("locks an editor out of changing a protected environment's variations, but lets them add one", async () => {
    const u = userEvent.setup();
    const flag = stored(3, false);
    const served = { ...flag, definition: { ...flag.definition, environments: { ...flag.definition.environments, production: { enabled: true, defaultVariation: 'on', offVariation: 'off', prerequisites: [], rules: [] } } } };
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: served };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ id: 'u-ed', role: 'editor' })} environments={[DEVELOPMENT, PRODUCTION]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    await u.click(await screen.findByRole('tab', { name: 'Settings' }));
    const reason = 'Served in Production: ask an owner or admin to change or remove a variation (adding one is fine)';
    expect(screen.getByRole('note').textContent).toBe(`${reason}.`);
    for (const name of ['Variation 1 value', 'Variation 1 key', 'Remove variation 1']) {
      const control = screen.getByLabelText(name);
      expect(control).toHaveProperty('disabled', true);
      expect(control.getAttribute('title')).toBe(reason);
    }
    await u.click(screen.getByRole('button', { name: '+ Variation' }));
    expect(screen.getByLabelText('Variation 3 value')).toHaveProperty('disabled', false);
  });

  it('makes a flag server-side only from the settings tab with the version it opened, shows it, and makes it available again', async () => {
    const u = userEvent.setup();
    let current = stored(3, false);
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: current };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      if (req.method === 'PUT' && req.path === '/api/v1/projects/web/flags/checkout') {
        current = storedOf(req.body as Flag, { version: current.version + 1 });
        return { status: 200, body: current };
      }
      return undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    await screen.findByRole('heading', { name: 'Checkout' });
    expect(screen.queryByText('server-side only')).toBeNull();
    await u.click(screen.getByRole('tab', { name: 'Settings' }));
    const available = screen.getByRole('checkbox', { name: 'Available to client-side SDKs (browsers, mobile apps)' });
    expect(available).toHaveProperty('checked', true);
    expect(available.getAttribute('aria-describedby')).not.toBeNull();
    expect(document.getElementById(available.getAttribute('aria-describedby')!)?.textContent).toMatch(/^Turning this off keeps the flag, and the id lists only it uses, out of what client-side keys download/);

    await u.click(available);
    await u.click(screen.getByRole('button', { name: 'Save settings' }));
    await screen.findByText('server-side only');
    const [off] = sent.filter((r) => r.method === 'PUT');
    expect(off?.ifMatch).toBe('"3"');
    // The whole flag, only its availability changed.
    expect(off?.body).toEqual({ ...stored(3, false).definition, clientSide: false });
    expect(screen.getByRole('checkbox', { name: 'Available to client-side SDKs (browsers, mobile apps)' })).toHaveProperty('checked', false);

    await u.click(screen.getByRole('checkbox', { name: 'Available to client-side SDKs (browsers, mobile apps)' }));
    await u.click(screen.getByRole('button', { name: 'Save settings' }));
    await waitFor(() => { expect(screen.queryByText('server-side only')).toBeNull(); });
    const on = sent.filter((r) => r.method === 'PUT')[1];
    expect(on?.ifMatch).toBe('"4"');
    expect(on?.body).toEqual(stored(3, false).definition);
  });

  it("keeps a viewer from changing a flag's availability to client-side SDKs", async () => {
    const u = userEvent.setup();
    const flag = stored(3, false);
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: { ...flag, definition: { ...flag.definition, clientSide: false } } };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    expect(await screen.findByText('server-side only')).toBeTruthy();
    await u.click(screen.getByRole('tab', { name: 'Settings' }));
    const available = screen.getByRole('checkbox', { name: 'Available to client-side SDKs (browsers, mobile apps)' });
    expect(available).toHaveProperty('checked', false);
    // Disabled by the fieldset around the settings (the property reflects only the element's own attribute).
    expect(available.matches(':disabled')).toBe(true);
    const save = screen.getByRole('button', { name: 'Save settings' });
    expect(save).toHaveProperty('disabled', true);
    expect(save.getAttribute('aria-description')).toBe('Viewers cannot change flags');
  });

  it('sets a flag up in an environment where it has no state with one click on Save', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: stored(3, false) };
      }
      if (req.method === 'GET') {
        return { status: 200, body: { items: [] } };
      }
      return req.method === 'PUT' ? { status: 200, body: stored(4, false) } : undefined;
    });
    const staging: StoredEnvironment = { ...DEVELOPMENT, key: 'staging', name: 'Staging', position: 2 };
    render(
      <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [DEVELOPMENT, staging], environment: 'staging', setEnvironment: () => undefined, refreshTick: 0 }}>
        <FlagEditor flagKey="checkout" />
      </SessionContext.Provider>,
    );

    expect(await screen.findByText('Not set up here yet: save to create its state (off).')).toBeTruthy();
    await u.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByText(/Saved the targeting in Staging/);
    expect(sent.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`)).toEqual(['PUT /api/v1/projects/web/flags/checkout/environments/staging']);
    expect(sent.find((r) => r.method === 'PUT')?.body).toMatchObject({ enabled: false, rules: [] });
  });
});

describe('flag editor, network use in a large project', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('loads the pickers\' lists (every flag, segment and experiment) once, while the flag itself still refreshes', async () => {
    // Only the poll timers are fake: the loads themselves run on real time.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const flags = Array.from({ length: 450 }, (_, i) => storedOf(booleanFlag(`flag-${i}`), { version: 1 }));
    const { client, sent } = fakeApi((req) => {
      if (req.method !== 'GET') {
        return undefined;
      }
      if (req.path === '/api/v1/projects/web/flags/checkout') {
        return { status: 200, body: stored(3, false) };
      }
      if (req.path.startsWith('/api/v1/projects/web/flags?')) {
        // Pages of 200, as the API answers a large project.
        const from = Number(new URLSearchParams(req.path.split('?')[1]).get('cursor') ?? '0');
        const next = from + 200;
        return { status: 200, body: { items: flags.slice(from, next), ...(next < flags.length ? { nextCursor: String(next) } : {}) } };
      }
      return { status: 200, body: { items: [] } };
    });
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );
    await screen.findByText('temporary');
    const lists = () => sent.filter((r) => /^\/api\/v1\/projects\/web\/(flags|segments|experiments)\?/.test(r.path)).length;
    const flagReads = () => sent.filter((r) => r.path === '/api/v1/projects/web/flags/checkout').length;
    // Three pages of flags, one of segments, one of experiments.
    expect(lists()).toBe(5);
    expect(flagReads()).toBe(1);

    await act(async () => {
      vi.advanceTimersByTime(30_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
    });

    expect(lists()).toBe(5);
    // The flag shown still follows changes by itself (one small document every 5 s).
    expect(flagReads()).toBeGreaterThan(1);
  });
});
