import '../../test/dom.js';
import { act, cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useAsync } from '../use-async.js';

afterEach(cleanup);

describe('async data', () => {
  it('loads afresh when a dependency changes, but refreshes in place when the refresh key changes', async () => {
    let answer = 'first';
    let calls = 0;
    const load = (): Promise<string> => {
      calls++;
      return Promise.resolve(answer);
    };
    const { result, rerender } = renderHook(({ query, tick }: { query: string; tick: number }) => useAsync(load, [query], { refreshKey: tick }), { initialProps: { query: 'a', tick: 0 } });
    await waitFor(() => { expect(result.current.state).toMatchObject({ status: 'ready', data: 'first' }); });

    answer = 'second';
    rerender({ query: 'a', tick: 1 });
    // The old data stays on screen, marked as refreshing, until the new data arrives.
    expect(result.current.state).toMatchObject({ status: 'ready', data: 'first', refreshing: true });
    await waitFor(() => { expect(result.current.state).toMatchObject({ status: 'ready', data: 'second', refreshing: false }); });
    expect(calls).toBe(2);

    rerender({ query: 'b', tick: 1 });
    expect(result.current.state.status).toBe('loading');
    await waitFor(() => { expect(result.current.state).toMatchObject({ status: 'ready', data: 'second' }); });
    expect(calls).toBe(3);
  });

  it('skips a poll while the previous load is still running, and aborts a load replaced or left', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const signals: AbortSignal[] = [];
      const finish: ((v: string) => void)[] = [];
      const load = (signal: AbortSignal): Promise<string> => {
        signals.push(signal);
        return new Promise((resolve) => {
          finish.push(resolve);
        });
      };
      const { result, rerender, unmount } = renderHook(({ tick }: { tick: number }) => useAsync(load, [], { pollMs: 1000, refreshKey: tick }), { initialProps: { tick: 0 } });
      expect(signals).toHaveLength(1);
      // The first load takes longer than several poll periods: no poll piles onto it.
      act(() => {
        vi.advanceTimersByTime(5000);
      });
      expect(signals).toHaveLength(1);
      await act(async () => {
        finish[0]!('first');
        await Promise.resolve();
      });
      expect(result.current.state).toMatchObject({ status: 'ready', data: 'first' });
      act(() => {
        vi.advanceTimersByTime(1000);
      });
      expect(signals).toHaveLength(2);

      // A change-feed refresh replaces the running poll, which is aborted.
      rerender({ tick: 1 });
      expect(signals).toHaveLength(3);
      expect(signals[1]!.aborted).toBe(true);
      expect(signals[2]!.aborted).toBe(false);

      // Leaving the screen aborts the load under way.
      unmount();
      expect(signals[2]!.aborted).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
