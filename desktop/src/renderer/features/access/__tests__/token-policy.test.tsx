import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Role, RolesView, TokenPolicyView } from '@xp/shared';
import { ROLES, WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { SentRequest } from '../../../test/fake-api.js';
import Access from '../access.js';
import { TokenPolicySection, canEditTokenPolicy, checkPolicy, exceedingNote } from '../token-policy.js';

afterEach(cleanup);

const POLICY = '/api/v1/organisation/token-policy';

/**
 * The token policy endpoints as the API has them: GET answers the policy and its version, PUT
 * needs the version (428 without, 409 when stale) and makes the next one. `exceeding` is the
 * answer's liveTokensExceedingMax; `refuse` answers a PUT instead.
 */
function policyApi(options: { initial?: TokenPolicyView; exceeding?: number; refuse?: { status: number; body: unknown } } = {}): ReturnType<typeof fakeApi> & { changeElsewhere: (p: Omit<TokenPolicyView, 'version'>) => void } {
  let stored: TokenPolicyView = options.initial ?? { maxLifetimeDays: 90, defaultLifetimeDays: 30, version: 3 };
  const api = fakeApi((req) => {
    if (req.path === '/api/v1/roles') {
      return { status: 200, body: ROLES };
    }
    if (req.path !== POLICY) {
      return undefined;
    }
    if (req.method === 'PUT') {
      if (options.refuse !== undefined) {
        return options.refuse;
      }
      if (req.ifMatch === null) {
        return { status: 428, body: { error: { code: 'PRECONDITION_REQUIRED', message: 'send the version you read' } } };
      }
      if (req.ifMatch !== `"${String(stored.version)}"`) {
        return { status: 409, body: { error: { code: 'VERSION_CONFLICT', message: `the token policy was changed by someone else (version ${String(stored.version)}, you sent ${req.ifMatch.replaceAll('"', '')})`, details: { currentVersion: stored.version } } } };
      }
      const body = req.body as Omit<TokenPolicyView, 'version'>;
      stored = { ...body, version: stored.version! + 1 };
      return { status: 200, body: { ...stored, liveTokensExceedingMax: options.exceeding ?? 0 } };
    }
    return { status: 200, body: stored };
  });
  return {
    ...api,
    changeElsewhere: (p) => {
      stored = { ...p, version: stored.version! + 1 };
    },
  };
}

function renderPolicy(client: ReturnType<typeof fakeApi>['client'], role: Role): void {
  render(
    <WithSession client={client} me={user({ id: 'u-me', role })}>
      <TokenPolicySection />
    </WithSession>,
  );
}

const puts = (sent: readonly SentRequest[]): { ifMatch: string | null; body: unknown }[] => sent.filter((r) => r.method === 'PUT' && r.path === POLICY).map((r) => ({ ifMatch: r.ifMatch, body: r.body }));
/** The maximum and the default as the section shows them. */
const shown = (): string[] => screen.getAllByRole('definition').map((d) => d.textContent);
const field = (name: RegExp): HTMLInputElement => screen.getByRole('textbox', { name });

describe('token policy checks', () => {
  it('takes whole days from 1 to 3,650, empty as unset, and a default at most the maximum, as the API does', () => {
    expect(checkPolicy({ max: ' 90 ', fallback: '30' })).toEqual({ ok: true, policy: { maxLifetimeDays: 90, defaultLifetimeDays: 30 } });
    expect(checkPolicy({ max: '', fallback: '' })).toEqual({ ok: true, policy: { maxLifetimeDays: null, defaultLifetimeDays: null } });
    expect(checkPolicy({ max: '', fallback: '3650' })).toEqual({ ok: true, policy: { maxLifetimeDays: null, defaultLifetimeDays: 3650 } });
    expect(checkPolicy({ max: '30', fallback: '30' })).toEqual({ ok: true, policy: { maxLifetimeDays: 30, defaultLifetimeDays: 30 } });
    for (const bad of ['0', '3651', '1.5', '-3', 'ten', '1e2']) {
      expect(checkPolicy({ max: bad, fallback: '' })).toEqual({ ok: false, errors: { max: 'Whole days from 1 to 3,650, or empty for no maximum' } });
      expect(checkPolicy({ max: '', fallback: bad })).toEqual({ ok: false, errors: { fallback: 'Whole days from 1 to 3,650, or empty for no default' } });
    }
    expect(checkPolicy({ max: '30', fallback: '31' })).toEqual({ ok: false, errors: { fallback: 'At most the maximum (30 days)' } });
  });

  it('says how many live tokens outlast a new maximum, and nothing when none do', () => {
    expect(exceedingNote(0)).toBeNull();
    expect(exceedingNote(1)).toBe('1 live token outlasts the new maximum; it keeps its expiry — revoke it to apply it.');
    expect(exceedingNote(1200)).toBe('1,200 live tokens outlast the new maximum; they keep their expiry — revoke them to apply it.');
  });

  it("lets edit those whose role holds org-settings:manage in the API's matrix, and owners when the matrix does not list it", () => {
    const withOrgSettings: RolesView = { ...ROLES, permissions: [...ROLES.permissions, { permission: 'org-settings:manage', description: '', roles: ['owner', 'admin'] }] };
    expect(canEditTokenPolicy({ user: user({ role: 'admin' }), matrix: withOrgSettings })).toBe(true);
    expect(canEditTokenPolicy({ user: user({ role: 'editor' }), matrix: withOrgSettings })).toBe(false);
    expect(canEditTokenPolicy({ user: user({ role: 'owner' }), matrix: ROLES })).toBe(true);
    expect(canEditTokenPolicy({ user: user({ role: 'admin' }), matrix: ROLES })).toBe(false);
    expect(canEditTokenPolicy({ user: user({ role: 'owner' }) })).toBe(true);
    expect(canEditTokenPolicy({ user: user({ role: 'admin' }) })).toBe(false);
  });
});

describe('the token policy section', () => {
  it('shows every role the maximum and the default; only owners get the form', async () => {
    for (const role of ['viewer', 'admin'] as const) {
      const { client } = policyApi();
      renderPolicy(client, role);
      expect(await screen.findByText('90 days')).toBeTruthy();
      expect(shown()).toEqual(['90 days', '30 days']);
      expect(screen.getByText('Only owners change the token policy.')).toBeTruthy();
      expect(screen.queryByRole('form', { name: 'Change the token policy' })).toBeNull();
      cleanup();
    }
    const { client } = policyApi({ initial: { maxLifetimeDays: null, defaultLifetimeDays: null, version: 1 } });
    renderPolicy(client, 'owner');
    expect(await screen.findByRole('form', { name: 'Change the token policy' })).toBeTruthy();
    expect(shown()).toEqual(['No maximum: tokens may never expire', 'No default: a token made without a lifetime never expires']);
    expect(field(/Maximum lifetime/).value).toBe('');
    expect(screen.queryByText('Only owners change the token policy.')).toBeNull();
  });

  it('says a policy without a default gives the maximum', async () => {
    const { client } = policyApi({ initial: { maxLifetimeDays: 7, defaultLifetimeDays: null, version: 2 } });
    renderPolicy(client, 'viewer');
    expect(await screen.findByText('7 days')).toBeTruthy();
    expect(shown()).toEqual(['7 days', 'No default: a token made without a lifetime gets the maximum (7 days)']);
  });

  it('saves an owner\'s change with the version read (If-Match), shows the new policy and the live tokens that outlast the new maximum', async () => {
    const u = userEvent.setup();
    const { client, sent } = policyApi({ exceeding: 4 });
    renderPolicy(client, 'owner');
    await u.clear(await screen.findByRole('textbox', { name: /Maximum lifetime/ }));
    await u.type(field(/Maximum lifetime/), '60');
    await u.clear(field(/Default lifetime/));
    await u.click(screen.getByRole('button', { name: 'Save token policy' }));

    expect((await screen.findByRole('status')).textContent).toBe('Token policy saved. 4 live tokens outlast the new maximum; they keep their expiry — revoke them to apply it.');
    expect(puts(sent)).toEqual([{ ifMatch: '"3"', body: { maxLifetimeDays: 60, defaultLifetimeDays: null } }]);
    expect(shown()).toEqual(['60 days', 'No default: a token made without a lifetime gets the maximum (60 days)']);
    expect(field(/Maximum lifetime/).value).toBe('60');

    // The next save goes from the version the last one made.
    await u.type(field(/Default lifetime/), '14');
    expect(screen.queryByRole('status')).toBeNull();
    await u.click(screen.getByRole('button', { name: 'Save token policy' }));
    await waitFor(() => { expect(shown()).toEqual(['60 days', '14 days']); });
    expect(puts(sent)[1]).toEqual({ ifMatch: '"4"', body: { maxLifetimeDays: 60, defaultLifetimeDays: 14 } });
  });

  it('says nothing of live tokens when none outlast the maximum', async () => {
    const u = userEvent.setup();
    const { client } = policyApi({ exceeding: 0 });
    renderPolicy(client, 'owner');
    // "30" becomes "300", above the maximum of 90: refused here. Then a default within it.
    await u.type(await screen.findByRole('textbox', { name: /Default lifetime/ }), '0');
    await u.click(screen.getByRole('button', { name: 'Save token policy' }));
    expect(screen.getByRole('textbox', { name: /Default lifetime/ }).getAttribute('aria-invalid')).toBe('true');
    await u.clear(field(/Default lifetime/));
    await u.type(field(/Default lifetime/), '45');
    await u.click(screen.getByRole('button', { name: 'Save token policy' }));
    expect((await screen.findByRole('status')).textContent).toBe('Token policy saved.');
  });

  it("refuses what the API would, beside the field, and sends nothing", async () => {
    const u = userEvent.setup();
    const { client, sent } = policyApi();
    renderPolicy(client, 'owner');
    const max = await screen.findByRole('textbox', { name: /Maximum lifetime/ });
    await u.clear(max);
    await u.type(max, '20');
    await u.click(screen.getByRole('button', { name: 'Save token policy' }));

    const fallback = field(/Default lifetime/);
    expect(fallback.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(fallback.getAttribute('aria-describedby')!.split(' ')[0]!)?.textContent).toBe('At most the maximum (20 days)');

    await u.clear(max);
    await u.type(max, '1.5');
    expect(fallback.getAttribute('aria-invalid')).toBeNull();
    await u.click(screen.getByRole('button', { name: 'Save token policy' }));
    expect(max.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('Whole days from 1 to 3,650, or empty for no maximum')).toBeTruthy();
    expect(puts(sent)).toEqual([]);
  });

  it("shows the API's refusal of a field beside it", async () => {
    const u = userEvent.setup();
    const refuse = { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body', details: { issues: [{ path: 'body.defaultLifetimeDays', message: 'must be at most maxLifetimeDays (90)' }] } } } };
    const { client } = policyApi({ refuse });
    renderPolicy(client, 'owner');
    await u.clear(await screen.findByRole('textbox', { name: /Default lifetime/ }));
    await u.type(field(/Default lifetime/), '60');
    await u.click(screen.getByRole('button', { name: 'Save token policy' }));

    expect(await screen.findByText('must be at most maxLifetimeDays (90)')).toBeTruthy();
    expect(field(/Default lifetime/).getAttribute('aria-invalid')).toBe('true');
  });

  it('reloads the policy, saying so, when another owner changed it since it was read, and saves from the new version', async () => {
    const u = userEvent.setup();
    const api = policyApi();
    renderPolicy(api.client, 'owner');
    await u.clear(await screen.findByRole('textbox', { name: /Maximum lifetime/ }));
    await u.type(field(/Maximum lifetime/), '45');
    api.changeElsewhere({ maxLifetimeDays: 30, defaultLifetimeDays: 7 });
    await u.click(screen.getByRole('button', { name: 'Save token policy' }));

    expect((await screen.findByRole('alert')).textContent).toBe('Someone else changed the token policy since you opened it. It has been reloaded: check it, then save your change again.');
    await waitFor(() => { expect(shown()).toEqual(['30 days', '7 days']); });
    expect(field(/Maximum lifetime/).value).toBe('30');
    expect(puts(api.sent)).toEqual([{ ifMatch: '"3"', body: { maxLifetimeDays: 45, defaultLifetimeDays: 30 } }]);

    await u.clear(field(/Maximum lifetime/));
    await u.type(field(/Maximum lifetime/), '45');
    await u.click(screen.getByRole('button', { name: 'Save token policy' }));
    expect((await screen.findByRole('status')).textContent).toBe('Token policy saved.');
    expect(screen.queryByRole('alert')).toBeNull();
    expect(puts(api.sent)[1]).toEqual({ ifMatch: '"4"', body: { maxLifetimeDays: 45, defaultLifetimeDays: 7 } });
  });

  it('offers no form for a server whose policy has no version', async () => {
    const { client } = policyApi({ initial: { maxLifetimeDays: 90, defaultLifetimeDays: null } });
    renderPolicy(client, 'owner');
    expect(await screen.findByText('This server cannot take changes of the policy from the console: change it with the API.')).toBeTruthy();
    expect(screen.queryByRole('form', { name: 'Change the token policy' })).toBeNull();
  });

  it('sits on the Users & keys screen', async () => {
    const { client } = policyApi();
    render(
      <WithSession client={client} me={user({ id: 'u-me', role: 'viewer' })}>
        <Access />
      </WithSession>,
    );
    const section = (await screen.findByRole('heading', { name: 'Token policy' })).closest('section')!;
    expect(await within(section).findByText('90 days')).toBeTruthy();
  });
});
