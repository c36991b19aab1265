import { describe, expect, it } from 'vitest';
import type { XpApiClient } from '@xp/shared';
import { ApiError } from '@xp/shared';
import { AppError } from '../../errors.js';
import { ApplyInterrupted, applyPlan } from '../flags-as-code.js';
import type { PlannedChange } from '../flags-as-code.js';

const change = (key: string): PlannedChange => ({ kind: 'segments', key, action: 'create', definition: { key }, diff: [] });

describe('applyPlan', () => {
  it('stops between two changes when interrupted, after the one in flight is confirmed, and says how far it got', async () => {
    const stop = { requested: false };
    const sent: string[] = [];
    // The API as the CLI sees it: the interrupt arrives while the second create is in flight.
    const client = {
      create: (_project: string, _kind: string, definition: { key: string }) => {
        sent.push(definition.key);
        if (sent.length === 2) {
          stop.requested = true;
        }
        return Promise.resolve({});
      },
    } as unknown as XpApiClient;
    const log: string[] = [];

    const outcome = await applyPlan(client, 'demo', [change('a'), change('b'), change('c'), change('d')], (l) => log.push(l), stop).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(sent).toEqual(['a', 'b']);
    expect(log).toEqual(['  created segment a', '  created segment b']);
    expect(outcome).toBeInstanceOf(ApplyInterrupted);
    expect((outcome as Error).message).toBe('interrupted: 2 of 4 changes applied (listed above); the other 2 were not sent. Run the apply again to finish.');
  });

  it('names the failed change, how many were applied before it, and keeps the API\'s other issues', async () => {
    const issues = [
      { path: 'body.variations', message: 'first' },
      { path: 'body.seed', message: 'second' },
    ];
    const client = {
      create: () => Promise.resolve({}),
      replace: () => Promise.reject(new ApiError(400, 'VALIDATION_FAILED', 'invalid body: body.variations: first', { issues })),
    } as unknown as XpApiClient;
    const update: PlannedChange = { kind: 'experiments', key: 'e', action: 'update', version: 3, definition: { key: 'e' }, diff: [] };

    const outcome = await applyPlan(client, 'demo', [change('a'), update, change('c')], () => undefined).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(outcome).toBeInstanceOf(AppError);
    expect((outcome as AppError).message).toBe('update experiment e failed: invalid body: body.variations: first; 1 of 3 changes applied (listed above), the other 2 not sent');
    expect((outcome as AppError).details).toEqual({ issues });
  });
});
