import '../../test/dom.js';
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { Page } from '@xp/shared';
import { olderThan, usePages } from '../use-pages.js';

afterEach(cleanup);

const page = (items: string[], nextCursor?: string): Page<string> => ({ items, ...(nextCursor === undefined ? {} : { nextCursor }) });
const id = (s: string): string => s;

/** A newest-first feed whose first page the test replaces between refreshes; older pages by cursor. */
function feed(): { first: Page<string>; older: Record<string, Page<string>>; fetch: (cursor: string | undefined) => Promise<Page<string>> } {
  const f = {
    first: page(['e5', 'e4'], 'c1'),
    older: { c1: page(['e3', 'e2'], 'c2'), c2: page(['e1']) } as Record<string, Page<string>>,
    fetch: (cursor: string | undefined): Promise<Page<string>> => Promise.resolve(cursor === undefined ? f.first : (f.older[cursor] ?? page([]))),
  };
  return f;
}

const items = (state: { status: string; data?: readonly string[] }): readonly string[] | undefined => (state.status === 'ready' ? state.data : undefined);

describe('paged lists', () => {
  it('keeps the older pages through a refresh whose first page joins onto them, and starts over after a gap', async () => {
    const f = feed();
    const { result } = renderHook(() => usePages(f.fetch, ['query'], { keyOf: id }));
    await waitFor(() => { expect(items(result.current.state)).toEqual(['e5', 'e4']); });
    await act(() => result.current.loadMore!());
    expect(items(result.current.state)).toEqual(['e5', 'e4', 'e3', 'e2']);

    // One new event: the new first page ends inside what is shown.
    f.first = page(['e6', 'e5'], 'c0');
    act(() => { result.current.reload(); });
    await waitFor(() => { expect(items(result.current.state)).toEqual(['e6', 'e5', 'e4', 'e3', 'e2']); });
    // The next older page still follows the last one shown.
    await act(() => result.current.loadMore!());
    expect(items(result.current.state)).toEqual(['e6', 'e5', 'e4', 'e3', 'e2', 'e1']);
    expect(result.current.loadMore).toBeUndefined();

    // A whole page of new events: whether more came between them and what is shown is unknown, so keeping the old pages could hide a gap.
    f.first = page(['e11', 'e10'], 'c9');
    f.older.c9 = page(['e9', 'e8']);
    act(() => { result.current.reload(); });
    await waitFor(() => { expect(items(result.current.state)).toEqual(['e11', 'e10']); });
    await act(() => result.current.loadMore!());
    expect(items(result.current.state)).toEqual(['e11', 'e10', 'e9', 'e8']);
  });

  it('refreshes in the background when the refresh key changes, keeping what is shown meanwhile', async () => {
    const f = feed();
    const { result, rerender } = renderHook(({ tick }: { tick: number }) => usePages(f.fetch, ['query'], { keyOf: id, refreshKey: tick }), { initialProps: { tick: 0 } });
    await waitFor(() => { expect(items(result.current.state)).toEqual(['e5', 'e4']); });
    await act(() => result.current.loadMore!());

    f.first = page(['e6', 'e5'], 'c0');
    rerender({ tick: 1 });
    // No loading state in between: the old list stays until the new first page arrives.
    expect(items(result.current.state)).toEqual(['e5', 'e4', 'e3', 'e2']);
    await waitFor(() => { expect(items(result.current.state)).toEqual(['e6', 'e5', 'e4', 'e3', 'e2']); });
  });

  it('starts over for a new query, and without keyOf on every refresh', async () => {
    const f = feed();
    const { result, rerender } = renderHook(({ q, keyed }: { q: string; keyed: boolean }) => usePages(f.fetch, [q], keyed ? { keyOf: id } : {}), { initialProps: { q: 'a', keyed: true } });
    await waitFor(() => { expect(items(result.current.state)).toEqual(['e5', 'e4']); });
    await act(() => result.current.loadMore!());
    rerender({ q: 'b', keyed: true });
    await waitFor(() => { expect(items(result.current.state)).toEqual(['e5', 'e4']); });

    await act(() => result.current.loadMore!());
    rerender({ q: 'b', keyed: false });
    f.first = page(['e6', 'e5'], 'c1');
    act(() => { result.current.reload(); });
    await waitFor(() => { expect(items(result.current.state)).toEqual(['e6', 'e5']); });
  });

  it('joins pages by identity, dropping items the new first page repeats', () => {
    expect(olderThan(['b', 'a'], ['c', 'b', 'x', 'a', 'z'], id)).toEqual(['z']);
    expect(olderThan(['d', 'c'], ['c', 'b'], id)).toEqual(['b']);
    expect(olderThan(['q'], ['c', 'b'], id)).toBeUndefined();
    expect(olderThan([], ['c', 'b'], id)).toBeUndefined();
  });
});
