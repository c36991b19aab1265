import '../../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeApi } from '../../../test/fake-api.js';
import { SignIn } from '../sign-in.js';

afterEach(cleanup);

describe('sign-in', () => {
  it('says the email or password is wrong, not that a session expired', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi((req) => (req.method === 'POST' && req.path === '/api/v1/auth/login' ? { status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'invalid email or password' } } } : undefined));
    let signedIn = false;
    render(<SignIn client={client} themeButton={null} onSignedIn={() => { signedIn = true; return Promise.resolve(); }} />);

    await u.type(screen.getByLabelText('Email'), 'ana@example.com');
    await u.type(screen.getByLabelText('Password'), 'not her password');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));

    expect((await screen.findByRole('alert')).textContent).toBe('invalid email or password');
    expect(signedIn).toBe(false);
    expect(screen.getByRole('button', { name: 'Sign in' })).toHaveProperty('disabled', false);
  });
});
