import type { z } from 'zod';
import { AppError, AppErrorCode } from '../errors.js';

/** One schema problem, named by its dotted field path. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

export function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '['),
    message: issue.message,
  }));
}

/** Parses input with a schema, or throws a 400 whose details name every offending field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    const issues = issuesOf(result.error);
    const first = issues[0];
    const summary = first === undefined ? '' : `: ${first.path === '' ? '' : `${first.path}: `}${first.message}`;
    throw new AppError(AppErrorCode.Validation, `invalid ${what}${summary}`, { issues });
  }
  return result.data;
}
