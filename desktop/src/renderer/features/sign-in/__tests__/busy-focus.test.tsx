import '../../../test/dom.js';
import { act, cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeApi } from '../../../test/fake-api.js';
import { SignIn } from '../sign-in.js';

afterEach(cleanup);

describe('sign-in while the request is in flight', () => {
  it('keeps the focus on the pressed button (aria-disabled, not disabled), ignores more presses, and announces the error', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi(() => undefined);
    let logins = 0;
    let refuse: (e: Error) => void = () => undefined;
    client.login = () => {
      logins++;
      return new Promise((_resolve, reject) => { refuse = reject; });
    };
    render(<SignIn client={client} themeButton={null} onSignedIn={() => Promise.resolve()} />);

    await u.type(screen.getByLabelText('Email'), 'ana@example.com');
    await u.type(screen.getByLabelText('Password'), 'secret password');
    const button = screen.getByRole('button', { name: 'Sign in' });
    await u.click(button);

    expect(button.textContent).toBe('Signing in…');
    expect(button).toHaveProperty('disabled', false);
    expect(button.getAttribute('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(button);
    await u.click(button);
    await u.keyboard('{Enter}');
    expect(logins).toBe(1);

    await act(async () => { refuse(new Error('network down')); await Promise.resolve(); });
    expect((await screen.findByRole('alert')).textContent).toContain('network down');
    expect(button.hasAttribute('aria-disabled')).toBe(false);
    expect(document.activeElement).toBe(button);
  });
});
