import { AppErrorCode, AppError } from '../errors.js';

/** A page of results and the opaque cursor for the next one (absent on the last page). */
export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

export interface PageRequest {
  readonly limit: number;
  readonly cursor?: string | undefined;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** Encodes the sort key of the last item as an opaque, URL-safe cursor. */
export function encodeCursor(value: string | number): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined, type: 'string'): string | undefined;
export function decodeCursor(cursor: string | undefined, type: 'number'): number | undefined;
export function decodeCursor(cursor: string | undefined, type: 'string' | 'number'): string | number | undefined {
  if (cursor === undefined || cursor === '') {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof value === type) {
      return value as string | number;
    }
  } catch {
    // fall through to the error below
  }
  throw new AppError(AppErrorCode.Validation, 'invalid cursor: pass the nextCursor of the previous page as it was given', { issues: [{ path: 'query.cursor', message: 'not a cursor of this list' }] });
}

/** Turns `limit + 1` fetched rows into a page; the extra row only signals that more exist. */
export function toPage<R, T>(rows: R[], limit: number, map: (row: R) => T, sortKey: (row: R) => string | number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return rows.length > limit && last !== undefined ? { items: items.map(map), nextCursor: encodeCursor(sortKey(last)) } : { items: items.map(map) };
}
