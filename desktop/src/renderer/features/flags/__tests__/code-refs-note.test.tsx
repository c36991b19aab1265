import '../../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoredEnvironment } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { booleanFlag, storedOf } from '../../../test/fixtures.js';
import FlagEditor from '../flag-editor.js';

afterEach(cleanup);

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };

function editor(codeRefs: unknown[]): ReturnType<typeof fakeApi> {
  return fakeApi((req) => {
    if (req.method === 'GET' && req.path === '/api/v1/projects/web/flags/checkout') {
      return { status: 200, body: storedOf(booleanFlag('checkout'), { version: 3 }) };
    }
    if (req.method === 'GET' && req.path === '/api/v1/projects/web/code-refs/flags?flag=checkout') {
      return { status: 200, body: { flags: codeRefs } };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  });
}

describe("the archive confirmation's code references", () => {
  it('names the branches that still reference the flag, with a link to them', async () => {
    const { client } = editor([
      {
        flagKey: 'checkout',
        references: 3,
        branches: [
          { repository: 'acme/shop', branch: 'dev', references: 1 },
          { repository: 'acme/shop', branch: 'main', references: 2 },
        ],
      },
    ]);
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    await userEvent.click(await screen.findByRole('button', { name: 'Archive…' }));

    const note = await screen.findByRole('note');
    expect(note.textContent).toBe('Still referenced in code: 3 references on acme/shop@dev (1), acme/shop@main (2). That code gets its default value. See where');
    expect(screen.getByRole('link', { name: 'See where' }).getAttribute('href')).toBe('#/code-refs?flag=checkout');
  });

  it('says when no references are stored', async () => {
    const { client } = editor([]);
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[DEVELOPMENT]}>
        <FlagEditor flagKey="checkout" />
      </WithSession>,
    );

    await userEvent.click(await screen.findByRole('button', { name: 'Archive…' }));

    expect(await screen.findByText(/No code references to it are stored/)).toBeTruthy();
    expect(screen.queryByRole('note')).toBeNull();
  });
});
