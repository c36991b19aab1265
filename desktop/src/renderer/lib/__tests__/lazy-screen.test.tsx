import '../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { Suspense } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lazyScreen } from '../lazy-screen.js';

afterEach(cleanup);

describe('lazy screens', () => {
  it('shows a chunk that cannot be downloaded as an error in place of the screen, keeping the rest of the console', async () => {
    const Health = lazyScreen<object>(() => Promise.reject(new TypeError('Failed to fetch dynamically imported module: http://localhost:3000/assets/health.js')));
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    render(
      <div>
        <nav>Screens</nav>
        <Suspense fallback={<p>Loading…</p>}>
          <Health />
        </Suspense>
      </div>,
    );

    expect((await screen.findByRole('alert')).textContent).toContain('The API cannot be reached');
    expect(screen.getByRole('button', { name: 'Try again' })).toBeTruthy();
    expect(screen.getByText('Screens')).toBeTruthy();
    quiet.mockRestore();
  });
});
