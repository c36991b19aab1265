import '../../test/dom.js';
import { cleanup, renderHook, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
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
});
