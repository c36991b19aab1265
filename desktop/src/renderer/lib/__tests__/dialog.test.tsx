import '../../test/dom.js';
import { useState } from 'react';
import type { ReactNode } from 'react';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Confirm, Dialog, Tabs } from '../ui.js';

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

  it('keeps Tab and Shift+Tab inside the open dialog, skipping disabled controls', async () => {
    const u = userEvent.setup();
    render(
      <>
        <button type="button">Behind</button>
        <Dialog title="New flag" onClose={() => undefined}>
          <label>
            Key
            <input />
          </label>
          <button type="button" disabled>
            Busy
          </button>
          <button type="button">Create</button>
        </Dialog>
      </>,
    );
    const key = screen.getByRole('textbox', { name: 'Key' });
    const create = screen.getByRole('button', { name: 'Create' });
    expect(document.activeElement).toBe(key);

    await u.tab();
    expect(document.activeElement).toBe(create);
    await u.tab();
    expect(document.activeElement).toBe(key);
    await u.tab({ shift: true });
    expect(document.activeElement).toBe(create);
  });
});

describe('tabs', () => {
  function Sections(): ReactNode {
    const [tab, setTab] = useState<'targeting' | 'settings' | 'history'>('targeting');
    const tabs = [
      { key: 'targeting', label: 'Targeting' },
      { key: 'settings', label: 'Settings' },
      { key: 'history', label: 'History' },
    ] as const;
    return (
      <Tabs label="Flag sections" tabs={tabs} selected={tab} onSelect={setTab}>
        <p>{tab} content</p>
      </Tabs>
    );
  }

  it('puts only the selected tab in the Tab order, moves with the arrow keys, Home and End, and labels its panel', async () => {
    const u = userEvent.setup();
    render(<Sections />);
    const tab = (name: string): HTMLElement => screen.getByRole('tab', { name });

    await u.tab();
    expect(document.activeElement).toBe(tab('Targeting'));
    expect(tab('Settings').tabIndex).toBe(-1);
    await u.keyboard('{ArrowRight}');
    expect(document.activeElement).toBe(tab('Settings'));
    expect(tab('Settings').getAttribute('aria-selected')).toBe('true');
    expect(screen.getByRole('tabpanel', { name: 'Settings' }).textContent).toBe('settings content');
    await u.keyboard('{End}');
    expect(document.activeElement).toBe(tab('History'));
    await u.keyboard('{ArrowRight}');
    expect(document.activeElement).toBe(tab('Targeting'));
    await u.keyboard('{ArrowLeft}');
    expect(document.activeElement).toBe(tab('History'));
    await u.keyboard('{Home}');
    expect(tab('Targeting').getAttribute('aria-selected')).toBe('true');
    expect(tab('Targeting').getAttribute('aria-controls')).toBe(screen.getByRole('tabpanel').id);
  });
});
