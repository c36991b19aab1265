import '../../test/dom.js';
import { useState } from 'react';
import type { ReactNode } from 'react';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Confirm } from '../ui.js';

const proto = HTMLDialogElement.prototype as { showModal?: () => void };

beforeEach(() => {
  // As browsers do (jsdom has no showModal): open the dialog and focus its first focusable element.
  proto.showModal = function (this: HTMLDialogElement) {
    this.setAttribute('open', '');
    this.querySelector<HTMLElement>('input, select, textarea, button')?.focus();
  };
});

afterEach(() => {
  cleanup();
  delete proto.showModal;
});

function Opener(): ReactNode {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => { setOpen(true); }}>
        Decide…
      </button>
      {open ? <Confirm title="Stop it?" message="Sure?" confirmLabel="Stop" onConfirm={() => { setOpen(false); }} onCancel={() => { setOpen(false); }} /> : null}
    </>
  );
}

describe('dialog', () => {
  it('takes focus and gives it back to the control that opened it when closed with Escape or Cancel', async () => {
    const u = userEvent.setup();
    render(<Opener />);
    const opener = screen.getByRole('button', { name: 'Decide…' });

    await u.click(opener);
    expect(screen.getByRole('dialog', { name: 'Stop it?' }).contains(document.activeElement)).toBe(true);
    await u.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(opener);

    await u.click(opener);
    await u.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(document.activeElement).toBe(opener);
  });
});
