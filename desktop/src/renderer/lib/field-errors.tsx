import type { ReactNode } from 'react';
import { ApiError } from '@xp/shared';
import { ErrorNote } from './ui.js';

/** One problem of a validation error: its top-level field ('' for the whole body), path and message. */
interface Issue {
  readonly field: string;
  readonly path: string;
  readonly message: string;
}

/**
 * The problems of a validation error (`issues[]` of a 400). The management API prefixes a request
 * body's paths with `body.` (`body.name`, `body.variations[0].value`); they are returned without it.
 */
export function validationIssues(error: unknown): Issue[] {
  if (!(error instanceof ApiError) || error.status !== 400) {
    return [];
  }
  const issues = (error.details as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues)) {
    return [];
  }
  const out: Issue[] = [];
  for (const issue of issues as unknown[]) {
    if (typeof issue !== 'object' || issue === null) {
      continue;
    }
    const { path, message } = issue as { path?: unknown; message?: unknown };
    if (typeof path !== 'string' || typeof message !== 'string') {
      continue;
    }
    const relative = path.replace(/^body(\.|$)/, '');
    out.push({ field: relative.split(/[.[]/)[0] ?? '', path: relative, message });
  }
  return out;
}

/** Validation problems of an API error by top-level field; a problem with the whole body belongs to no field. */
export function fieldErrors(error: unknown): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const { field, message } of validationIssues(error)) {
    if (field !== '' && !out.has(field)) {
      out.set(field, message);
    }
  }
  return out;
}

/**
 * A form's general error note: the error itself when no field of it is named, else the problems no
 * field of the form shows (`shown`: the fields with a FieldError on screen) — a setting the form
 * keeps but does not display (a metric's capping, tags), or the whole body — so none is lost.
 */
export function FormErrorNote({ error, shown }: { error: unknown; shown: readonly string[] }): ReactNode {
  if (error === null) {
    return null;
  }
  const issues = validationIssues(error);
  if (!issues.some((i) => i.field !== '')) {
    return <ErrorNote error={error} />;
  }
  const hidden = issues.filter((i) => !shown.includes(i.field));
  if (hidden.length === 0) {
    return null;
  }
  return (
    <div className="state state-error" role="alert">
      <p>The API refused {hidden.length === 1 ? 'this setting' : 'these settings'}:</p>
      <ul>
        {hidden.map((i) => (
          <li key={`${i.path}:${i.message}`}>
            {i.path === '' ? null : (
              <>
                <code>{i.path}</code>:{' '}
              </>
            )}
            {i.message}
          </li>
        ))}
      </ul>
    </div>
  );
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
