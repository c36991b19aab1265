import '../../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import ExperimentWizard from '../experiment-wizard.js';

afterEach(cleanup);

describe('experiment wizard', () => {
  it('splits three variations evenly into weights that add up to 100%', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => (req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined));
    render(
      <WithSession client={client} me={user()}>
        <ExperimentWizard />
      </WithSession>,
    );

    await u.type(await screen.findByRole('textbox', { name: 'Key' }), 'three-way');
    await u.type(screen.getByRole('textbox', { name: 'Name' }), 'Three-way test');
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await u.click(screen.getByRole('button', { name: '+ Variation' }));
    await u.click(screen.getByRole('button', { name: 'Split evenly' }));

    expect([1, 2, 3].map((i) => screen.getByRole<HTMLInputElement>('spinbutton', { name: `Variation ${i} weight` }).value)).toEqual(['33.33', '33.33', '33.34']);
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.getByRole('button', { name: 'Next' })).toHaveProperty('disabled', false);
  });
});
