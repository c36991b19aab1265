import '../../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeApi } from '../../../test/fake-api.js';
import { ChangePassword } from '../change-password.js';

afterEach(cleanup);

describe('change password', () => {
  it('ties "the new passwords do not match" to the confirmation field, and sends nothing', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi(() => ({ status: 204 }));
    render(<ChangePassword client={client} onClose={() => undefined} />);

    await u.type(screen.getByLabelText('Current password'), 'old password 1');
    await u.type(screen.getByLabelText('New password'), 'a new long password');
    const confirm = screen.getByLabelText(/^Confirm new password/);
    await u.type(confirm, 'a new long passwort');
    await u.click(screen.getByRole('button', { name: 'Change password' }));

    const error = screen.getByRole('alert');
    expect(error.textContent).toBe('The new passwords do not match.');
    expect(confirm.getAttribute('aria-invalid')).toBe('true');
    expect(confirm.getAttribute('aria-describedby')).toBe(error.id);
    expect(screen.getByLabelText('New password').hasAttribute('aria-invalid')).toBe(false);
    expect(sent).toEqual([]);

    await u.type(confirm, '{Backspace}d');
    expect(confirm.hasAttribute('aria-invalid')).toBe(false);
    expect(screen.queryByRole('alert')).toBeNull();
  });
});
