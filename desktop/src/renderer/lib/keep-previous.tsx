import type { ReactNode } from 'react';

/** One choice of how long a rotated secret or key keeps working beside its replacement. */
export interface KeepPreviousOption {
  readonly hours: number;
  readonly label: string;
}

/**
 * A rotation's "keep the old one working for" choice, in hours (the API takes 0–168): the
 * labelled select of a webhook secret's and an SDK key's rotation dialogs.
 */
export function KeepPreviousSelect({
  label,
  options,
  hours,
  onChange,
  describedBy,
}: {
  label: string;
  options: readonly KeepPreviousOption[];
  hours: number;
  onChange: (hours: number) => void;
  describedBy: string;
}): ReactNode {
  return (
    <label>
      {label}
      <select value={hours} aria-describedby={describedBy} onChange={(e) => { onChange(Number(e.target.value)); }}>
        {options.map((k) => (
          <option key={k.hours} value={k.hours}>
            {k.label}
          </option>
        ))}
      </select>
    </label>
  );
}
