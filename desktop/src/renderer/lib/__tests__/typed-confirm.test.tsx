import '../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TypedConfirmDialog } from '../typed-confirm.js';

const proto = HTMLDialogElement.prototype as { showModal?: () => void };

beforeEach(() => {
  proto.showModal = function (this: HTMLDialogElement) {
    this.setAttribute('open', '');
  };
});

afterEach(() => {
  cleanup();
  delete proto.showModal;
});

/** The dialog for `expected`, counting the runs of its action. */
function renderFor(expected: string): { runs: () => number } {
  let runs = 0;
  render(
    <TypedConfirmDialog
      title="Erase?"
      expected={expected}
      what="unit id"
      confirmLabel="Erase unit data"
      run={() => {
        runs++;
        return Promise.resolve();
      }}
      renderError={() => null}
      onClose={() => undefined}
    >
      <p>Gone for good.</p>
    </TypedConfirmDialog>,
  );
  return { runs: () => runs };
}

describe('TypedConfirmDialog', () => {
  it('enables its button for the id as typed, even one ending in a space, and for a paste with spaces around it', async () => {
    const u = userEvent.setup();
    const { runs } = renderFor('pad ');
    const field = screen.getByRole('textbox', { name: 'Type the unit id, pad , to confirm' });
    const button = screen.getByRole('button', { name: 'Erase unit data' });

    await u.type(field, 'pad');
    expect(button.hasAttribute('disabled')).toBe(true);
    await u.type(field, ' ');
    expect(button.hasAttribute('disabled')).toBe(false);
    await u.click(button);
    expect(runs()).toBe(1);

    cleanup();
    renderFor('u-42');
    await u.type(screen.getByRole('textbox', { name: /to confirm/ }), '  u-42 ');
    expect(screen.getByRole('button', { name: 'Erase unit data' }).hasAttribute('disabled')).toBe(false);
  });
});
