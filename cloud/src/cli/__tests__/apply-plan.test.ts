import { describe, expect, it } from 'vitest';
import type { ApplyChange, XpApiClient } from '@xp/shared';
import { ApiError } from '@xp/shared';
import { AppError } from '../../errors.js';
import { MAX_APPLY_CHANGES } from '../../domain/apply.js';
import { applyPlan } from '../flags-as-code.js';
import type { PlannedChange } from '../flags-as-code.js';

const change = (key: string): PlannedChange => ({ kind: 'segments', key, action: 'create', definition: { key }, diff: [] });

/** The API as the CLI sees it (the real endpoint is exercised in local/__tests__/stack.test.ts). */
function fakeApi(answer: (changes: readonly ApplyChange[], dryRun: boolean) => Promise<unknown>): { client: XpApiClient; sent: { changes: readonly ApplyChange[]; dryRun: boolean }[] } {
  const sent: { changes: readonly ApplyChange[]; dryRun: boolean }[] = [];
  const client = {
    apply: (_project: string, changes: readonly ApplyChange[], options: { dryRun?: boolean }) => {
      sent.push({ changes, dryRun: options.dryRun === true });
      return answer(changes, options.dryRun === true);
    },
  } as unknown as XpApiClient;
  return { client, sent };
}

describe('applyPlan', () => {
  it('sends the whole plan in one request (versions to update and delete, no definition to delete) and lists what the API applied', async () => {
    const { client, sent } = fakeApi((changes) => Promise.resolve({ dryRun: false, changes: changes.map((c) => ({ kind: c.kind, key: c.key, action: c.action, ...(c.action === 'delete' ? {} : { version: 4 }) })) }));
    const update: PlannedChange = { kind: 'flags', key: 'f', action: 'update', version: 3, definition: { key: 'f' }, diff: [] };
    const removal: PlannedChange = { kind: 'experiments', key: 'e', action: 'delete', version: 7, definition: { key: 'e', stored: true }, diff: [] };
    const log: string[] = [];

    await applyPlan(client, 'demo', [change('a'), update, removal], (l) => log.push(l));

    expect(sent).toEqual([
      {
        dryRun: false,
        changes: [
          { kind: 'segments', action: 'create', key: 'a', definition: { key: 'a' } },
          { kind: 'flags', action: 'update', key: 'f', version: 3, definition: { key: 'f' } },
          { kind: 'experiments', action: 'delete', key: 'e', version: 7 },
        ],
      },
    ]);
    expect(log).toEqual(['  created segment a', '  updated flag f', '  deleted experiment e']);
  });

  it("says nothing was applied when the API refuses a change, keeping the API's issues", async () => {
    const issues = [
      { path: 'changes.1.definition.variations', message: 'first' },
      { path: 'changes.1.definition.seed', message: 'second' },
    ];
    const { client } = fakeApi(() => Promise.reject(new ApiError(400, 'VALIDATION_FAILED', 'update experiment e (change 2 of 3): invalid experiment: variations: first', { issues })));
    const log: string[] = [];

    const outcome = await applyPlan(client, 'demo', [change('a'), change('b'), change('c')], (l) => log.push(l)).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(outcome).toBeInstanceOf(AppError);
    expect((outcome as AppError).message).toBe('nothing was applied: update experiment e (change 2 of 3): invalid experiment: variations: first');
    expect((outcome as AppError).details).toEqual({ issues });
    expect((outcome as AppError).cause).toBeInstanceOf(ApiError);
    expect(log).toEqual([]);
  });

  it('asks for a dry run, lists nothing as applied, and words a refusal as what the API would refuse', async () => {
    const accepting = fakeApi(() => Promise.resolve({ dryRun: true, changes: [{ kind: 'segments', key: 'a', action: 'create', version: 1 }] }));
    const log: string[] = [];
    await applyPlan(accepting.client, 'demo', [change('a')], (l) => log.push(l), { dryRun: true });
    const refusing = fakeApi(() => Promise.reject(new ApiError(403, 'APPROVAL_REQUIRED', 'create segment a (change 1 of 1): no', { environments: ['production'] })));
    const refused = await applyPlan(refusing.client, 'demo', [change('a')], () => undefined, { dryRun: true }).catch((e: unknown) => e);

    expect(accepting.sent.map((s) => s.dryRun)).toEqual([true]);
    expect(log).toEqual([]);
    expect((refused as AppError).message).toBe('the API would refuse the plan: create segment a (change 1 of 1): no');
    expect((refused as AppError).details).toEqual({ environments: ['production'] });
  });

  it('refuses a plan larger than one apply takes without sending it', async () => {
    const { client, sent } = fakeApi(() => Promise.resolve({ dryRun: false, changes: [] }));
    const plan = Array.from({ length: MAX_APPLY_CHANGES + 1 }, (_, i) => change(`s${i}`));

    const outcome = await applyPlan(client, 'demo', plan, () => undefined).catch((e: unknown) => e);

    expect((outcome as AppError).message).toBe('nothing was applied: the plan has 2001 changes and one apply takes at most 2,000; apply the document in parts');
    expect(sent).toEqual([]);
  });
});
