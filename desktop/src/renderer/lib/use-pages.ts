import { useMemo, useState } from 'react';
import type { Page } from '@xp/shared';
import type { AsyncState } from './use-async.js';
import { useAsync } from './use-async.js';

export interface PagesResult<T> {
  /** The first page followed by every older page loaded so far. */
  readonly state: AsyncState<readonly T[]>;
  readonly reload: () => void;
  /** Loads the next page; undefined when there is none. */
  readonly loadMore: (() => Promise<void>) | undefined;
  /** Why the last `loadMore` failed (null after a success). */
  readonly moreError: unknown;
}

/**
 * A cursor-paged list (newest first): `useAsync` over the first page, plus older pages on demand.
 * Reloading the first page (deps, reload, polling) drops the older pages.
 */
export function usePages<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, deps: readonly unknown[], options: { pollMs?: number } = {}): PagesResult<T> {
  const [more, setMore] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [moreError, setMoreError] = useState<unknown>(null);
  const { state: first, reload } = useAsync(
    async (): Promise<readonly T[]> => {
      const page = await fetchPage(undefined);
      setMore([]);
      setCursor(page.nextCursor);
      return page.items;
    },
    deps,
    options,
  );
  const state = useMemo((): AsyncState<readonly T[]> => (first.status === 'ready' ? { ...first, data: [...first.data, ...more] } : first), [first, more]);
  const loadMore =
    cursor === undefined
      ? undefined
      : async (): Promise<void> => {
          try {
            const page = await fetchPage(cursor);
            setMore((m) => [...m, ...page.items]);
            setCursor(page.nextCursor);
            setMoreError(null);
          } catch (e) {
            setMoreError(e);
          }
        };
  return { state, reload, loadMore, moreError };
}
