import '../../../test/dom.js';
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { abExperiment, storedOf } from '../../../test/fixtures.js';
import ExperimentsList from '../experiments-list.js';

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe('experiments list', () => {
  it('does not download the whole list again every few seconds (the change feed refreshes it)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const experiments = Array.from({ length: 301 }, (_, i) => storedOf(abExperiment(`exp-${i}`, { name: `Experiment ${i}` })));
    const { client, sent } = fakeApi((req) => {
      const from = Number(new URLSearchParams(req.path.split('?')[1]).get('cursor') ?? '0');
      const next = from + 200;
      return { status: 200, body: { items: experiments.slice(from, next), ...(next < experiments.length ? { nextCursor: String(next) } : {}) } };
    });
    render(
      <WithSession client={client} me={user()}>
        <ExperimentsList />
      </WithSession>,
    );
    await screen.findByRole('table', { name: 'Experiments' });
    expect(sent).toHaveLength(2);

    await act(async () => {
      vi.advanceTimersByTime(30_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    expect(sent).toHaveLength(2);
  });
});
