import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { CodeRefsBranch, StoredCodeRef } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { SentRequest } from '../../../test/fake-api.js';
import CodeRefs from '../code-refs.js';

afterEach(cleanup);

function ref(flagKey: string, line: number, branch = 'main'): StoredCodeRef {
  return { flagKey, repository: 'acme/shop', branch, commit: 'abcdef1234', path: 'src/app.ts', line, column: 3, snippet: `isOn('${flagKey}')`, language: 'typescript', updatedAt: '2026-12-01T10:00:00.000Z' };
}

const BRANCHES: CodeRefsBranch[] = [
  { repository: 'acme/shop', branch: 'main', commit: 'abcdef1234', uploadedAt: '2026-12-01T10:00:00.000Z', references: 2, flags: 2 },
  { repository: 'acme/shop', branch: 'old-feature', commit: null, uploadedAt: '2026-06-01T10:00:00.000Z', references: 1, flags: 1 },
];

/** The API's pages: the first without a cursor, the second after "c1". */
function api(sent: (req: SentRequest) => void = () => undefined): ReturnType<typeof fakeApi> {
  return fakeApi((req) => {
    sent(req);
    if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/code-refs/branches')) {
      return { status: 200, body: { branches: BRANCHES } };
    }
    if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/code-refs?')) {
      const q = new URL(`http://x${req.path}`).searchParams;
      return q.get('cursor') === 'c1'
        ? { status: 200, body: { references: [ref('window-ended', 9, 'old-feature')], total: 3 } }
        : { status: 200, body: { references: [ref('checkout', 1), ref('launched-00', 3)], total: 3, nextCursor: 'c1' } };
    }
    if (req.method === 'DELETE' && req.path.startsWith('/api/v1/projects/web/code-refs?')) {
      return { status: 200, body: { repository: 'acme/shop', branch: 'old-feature', deleted: 1 } };
    }
    return undefined;
  });
}

describe('code references screen', () => {
  it('says how many references it shows of how many, and loads the next page with the cursor', async () => {
    const { client, sent } = api();
    render(
      <WithSession client={client} me={user({ role: 'viewer' })}>
        <CodeRefs />
      </WithSession>,
    );

    expect(await screen.findByText(/Showing 2 of 3 references/)).toBeTruthy();
    expect(screen.queryByRole('region', { name: 'References to window-ended' })).toBeNull();

    await userEvent.click(screen.getByRole('button', { name: 'Load 1 more' }));

    expect(await screen.findByRole('region', { name: 'References to window-ended' })).toBeTruthy();
    expect(screen.getByText(/Showing 3 of 3 references/)).toBeTruthy();
    expect(screen.queryByRole('button', { name: /^Load/ })).toBeNull();
    expect(sent.filter((r) => r.path.startsWith('/api/v1/projects/web/code-refs?')).map((r) => r.path)).toEqual(['/api/v1/projects/web/code-refs?limit=1000', '/api/v1/projects/web/code-refs?limit=1000&cursor=c1']);
  });

  it('filters by flag, repository and branch', async () => {
    const { client, sent } = api();
    render(
      <WithSession client={client} me={user({ role: 'viewer' })}>
        <CodeRefs />
      </WithSession>,
    );
    await screen.findByText(/Showing 2 of 3/);

    await userEvent.type(screen.getByRole('searchbox', { name: 'Flag key' }), 'checkout');
    await userEvent.type(screen.getByRole('searchbox', { name: 'Repository' }), 'Acme/Shop');
    await userEvent.type(screen.getByRole('searchbox', { name: 'Branch' }), 'main');
    await userEvent.click(screen.getByRole('button', { name: 'Show' }));

    await waitFor(() => {
      expect(sent.map((r) => r.path)).toContain('/api/v1/projects/web/code-refs?flag=checkout&repository=Acme%2FShop&branch=main&limit=1000');
    });
  });

  it("lists the uploaded branches and deletes one's references for an editor, not for a viewer", async () => {
    const viewer = api();
    render(
      <WithSession client={viewer.client} me={user({ role: 'viewer' })}>
        <CodeRefs />
      </WithSession>,
    );
    const readOnly = await screen.findByRole('button', { name: 'Delete the references of acme/shop@old-feature' });
    expect(readOnly).toHaveProperty('disabled', true);
    cleanup();

    const { client, sent } = api();
    render(
      <WithSession client={client} me={user({ role: 'editor' })}>
        <CodeRefs />
      </WithSession>,
    );
    const branches = await screen.findByRole('region', { name: 'Uploaded branches' });
    expect(within(branches).getAllByRole('row').map((r) => r.textContent)).toEqual([
      expect.stringContaining('Repository'),
      expect.stringMatching(/acme\/shopmainabcdef12.*2 \(2 flags\)/),
      expect.stringMatching(/acme\/shopold-feature–.*1 \(1 flag\)/),
    ]);

    await userEvent.click(within(branches).getByRole('button', { name: 'Delete the references of acme/shop@old-feature' }));
    await userEvent.click(screen.getByRole('button', { name: 'Delete references' }));

    await waitFor(() => {
      expect(sent.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual(['/api/v1/projects/web/code-refs?repository=acme%2Fshop&branch=old-feature']);
    });
  });

  it('names xp code-refs, not the editor extension, as what uploads references', async () => {
    const { client } = fakeApi((req) =>
      req.path.includes('/branches') ? { status: 200, body: { branches: [] } } : req.path.includes('/code-refs') ? { status: 200, body: { references: [], total: 0 } } : undefined,
    );
    render(
      <WithSession client={client} me={user({ role: 'viewer' })}>
        <CodeRefs />
      </WithSession>,
    );

    const empty = await screen.findByText(/No references uploaded yet/);
    expect(empty.textContent).toContain('xp code-refs');
    expect(empty.textContent).not.toMatch(/VS Code|extension|language server/);
  });

  it('keeps focus on "Load more" while pages remain, and puts it on the count once the last page is in (keyboard)', async () => {
    // Three pages: after "c1" comes "c2", after it nothing.
    const { client } = fakeApi((req) => {
      if (req.path.includes('/code-refs/branches')) {
        return { status: 200, body: { branches: BRANCHES } };
      }
      if (req.method === 'GET' && req.path.includes('/code-refs?')) {
        const cursor = new URL(`http://x${req.path}`).searchParams.get('cursor');
        return cursor === null
          ? { status: 200, body: { references: [ref('checkout', 1)], total: 3, nextCursor: 'c1' } }
          : cursor === 'c1'
            ? { status: 200, body: { references: [ref('launched-00', 3)], total: 3, nextCursor: 'c2' } }
            : { status: 200, body: { references: [ref('window-ended', 9)], total: 3 } };
      }
      return undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'viewer' })}>
        <CodeRefs />
      </WithSession>,
    );
    await screen.findByText(/Showing 1 of 3/);

    screen.getByRole('button', { name: 'Load 2 more' }).focus();
    await userEvent.keyboard('{Enter}');
    await screen.findByText(/Showing 2 of 3/);

    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Load 1 more' }));

    // A second Enter loads the last page: the button goes, and focus lands on what is now shown.
    await userEvent.keyboard('{Enter}');
    await screen.findByText(/Showing 3 of 3/);

    await waitFor(() => {
      expect(document.activeElement).toBe(screen.getByRole('status'));
    });
    expect(screen.queryByRole('button', { name: /^Load/ })).toBeNull();
  });

  it("puts focus on the branches' heading once a branch's references are deleted (keyboard)", async () => {
    const { client } = api();
    render(
      <WithSession client={client} me={user({ role: 'editor' })}>
        <CodeRefs />
      </WithSession>,
    );
    const branches = await screen.findByRole('region', { name: 'Uploaded branches' });
    within(branches).getByRole('button', { name: 'Delete the references of acme/shop@old-feature' }).focus();
    await userEvent.keyboard('{Enter}');
    screen.getByRole('button', { name: 'Delete references' }).focus();

    await userEvent.keyboard('{Enter}');

    await waitFor(() => {
      expect(document.activeElement).toBe(screen.getByRole('heading', { name: 'Branches' }));
    });
    expect(screen.queryByRole('button', { name: 'Delete references' })).toBeNull();
  });
});
