import { useState } from 'react';
import type { ReactNode } from 'react';

/** Copies `text`; says so, or says to copy the `noun` (key, secret) by hand where the clipboard is unavailable. */
export function CopyButton({ text, label, noun = 'key' }: { text: string; label: string; noun?: string }): ReactNode {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  return (
    <>
      <button
        type="button"
        onClick={() => {
          // Clipboard access needs a secure context (https, localhost, the desktop app's origin).
          const clipboard = (navigator as Partial<Navigator>).clipboard;
          (clipboard === undefined ? Promise.reject(new Error('no clipboard')) : clipboard.writeText(text)).then(
            () => { setCopied('yes'); },
            () => { setCopied('failed'); },
          );
        }}
      >
        {label}
      </button>{' '}
      <span role="status" className="small muted">
        {copied === 'yes' ? 'Copied.' : copied === 'failed' ? `Could not copy: select the ${noun} and copy it.` : ''}
      </span>
    </>
  );
}

/** The one button of a dialog that has only shown something: closes it. */
export function DoneActions({ onDone }: { onDone: () => void }): ReactNode {
  return (
    <div className="actions">
      <button type="button" className="primary" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

/** A secret shown once (a key, a signing secret, a temporary password): the value, a copy button, and Done. */
export function SecretOnce({ value, copyLabel, noun, valueLabel, onDone }: { value: string; copyLabel: string; noun?: string; valueLabel?: string; onDone: () => void }): ReactNode {
  return (
    <>
      <p>
        <code className="secret" aria-label={valueLabel}>
          {value}
        </code>
      </p>
      <p>
        <CopyButton text={value} label={copyLabel} {...(noun === undefined ? {} : { noun })} />
      </p>
      <DoneActions onDone={onDone} />
    </>
  );
}
