import type { ReactNode } from 'react';
import { ApiError } from '@xp/shared';

/**
 * Validation problems of an API error by top-level field (`issues[].path` of a VALIDATION error).
 * The management API prefixes a request body's paths with `body.` (`body.name`, `body.variations[0].value`).
 */
export function fieldErrors(error: unknown): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  if (!(error instanceof ApiError) || error.status !== 400) {
    return out;
  }
  const issues = (error.details as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues)) {
    return out;
  }
  for (const issue of issues as unknown[]) {
    if (typeof issue !== 'object' || issue === null) {
      continue;
    }
    const { path, message } = issue as { path?: unknown; message?: unknown };
    if (typeof path !== 'string' || typeof message !== 'string') {
      continue;
    }
    const field = path.replace(/^body(\.|$)/, '').split(/[.[]/)[0] ?? '';
    // A problem with the whole body (an unknown key) belongs to no field: the form's error note shows it.
    if (field !== '' && !out.has(field)) {
      out.set(field, message);
    }
  }
  return out;
}

/** The message shown under a field; its id goes in the input's aria-describedby. */
export function FieldError({ id, message }: { id: string; message: string | undefined }): ReactNode {
  return message === undefined ? null : (
    <span id={id} className="field-error" role="alert">
      {message}
    </span>
  );
}

/** aria props that tie an input to its error message. */
export function invalidProps(id: string, message: string | undefined): { 'aria-invalid'?: true; 'aria-describedby'?: string } {
  return message === undefined ? {} : { 'aria-invalid': true, 'aria-describedby': id };
}
