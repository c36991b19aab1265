import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { compileRuleset } from '@xp/shared';
import type { Experiment, Flag, Ruleset, StoredEnvironment } from '@xp/shared';
import { evaluateFlag } from '@xp/shared/eval';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { abExperiment, booleanFlag } from '../../../test/fixtures.js';
import { EvaluateAs, attributesOf, hashAttributes, parseAttributeValue } from '../evaluate-as.js';

afterEach(cleanup);

const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 };

describe('evaluate as', () => {
  it('fits the side column: three columns, with the rule, bucket and why under the reason (L4)', async () => {
    const u = userEvent.setup();
    const flag = booleanFlag('checkout', {
      environments: { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [{ id: 'rule-1', type: 'force', variation: 'on', condition: { country: { $eq: 'NL' } } }] } },
    });
    const ruleset = compileRuleset({ environment: 'development', version: 1, flags: [flag] });
    const { client } = fakeApi((req) =>
      req.path.endsWith('/environments/development/ruleset') ? { status: 200, body: { expectedVersion: 1, published: { version: 1, etag: '"1"', publishedAt: '2026-11-25T12:00:00Z', ruleset } } } : undefined,
    );
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <EvaluateAs flagKey="checkout" />
      </WithSession>,
    );
    await u.click(screen.getByRole('button', { name: 'Evaluate' }));
    const table = await screen.findByRole('table', { name: 'Evaluation by environment' });

    expect(within(table).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Environment', 'Serves', 'Reason and why']);
    const cells = within(within(table).getByRole('row', { name: /^Development/ })).getAllByRole('cell');
    expect(cells).toHaveLength(3);
    expect(cells[1]?.textContent).toBe('falsevariation off');
    expect(cells[2]?.textContent).toContain('DEFAULT');
    expect(cells[2]?.textContent).toContain('rule — · bucket —');
    expect(cells[2]?.textContent).toContain('rule-1 condition-false: country is missing');
  });
});

/** Renders "Evaluate as" for `flag` over one development ruleset, with these attribute rows, and evaluates. */
async function evaluateAs(ruleset: Ruleset, flagKey: string, rows: readonly (readonly [string, string])[]): Promise<HTMLElement> {
  const u = userEvent.setup();
  const { client } = fakeApi((req) =>
    req.path.endsWith('/environments/development/ruleset') ? { status: 200, body: { expectedVersion: 1, published: { version: 1, etag: '"1"', publishedAt: '2026-11-25T12:00:00Z', ruleset } } } : undefined,
  );
  render(
    <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
      <EvaluateAs flagKey={flagKey} />
    </WithSession>,
  );
  for (const [i, [name, value]] of rows.entries()) {
    if (i > 0) {
      await u.click(screen.getByRole('button', { name: '+ Attribute' }));
    }
    const nameField = screen.getByRole('textbox', { name: `Attribute name ${String(i + 1)}` });
    const valueField = screen.getByRole('textbox', { name: `Attribute value ${String(i + 1)}` });
    await u.clear(nameField);
    await u.type(nameField, name);
    await u.clear(valueField);
    // Braces and brackets are user-event key descriptors: double them to type them.
    await u.type(valueField, value.replace(/[[{]/g, '$&$&'));
  }
  await u.click(screen.getByRole('button', { name: 'Evaluate' }));
  const table = await screen.findByRole('table', { name: 'Evaluation by environment' });
  return within(table).getByRole('row', { name: /^Development/ });
}

const rollout = (key: string, hashAttribute: string): Flag =>
  booleanFlag(key, {
    environments: { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [{ id: 'rollout', type: 'rollout', variation: 'on', coverage: 0.5, hashAttribute, hashVersion: 2 }] } },
  });

describe('evaluate as: attribute types', () => {
  it('evaluates the unit id as the text typed, as SDKs hash it, even when it reads as a number', async () => {
    const ruleset = compileRuleset({ environment: 'development', version: 1, flags: [rollout('checkout', 'id')] });
    for (const id of ['12345678901234567890', '1e5', ' 42']) {
      const trace = (value: unknown): string => evaluateFlag(ruleset, 'checkout', { attributes: { id: value } }, { explain: true }).trace?.[0]?.detail ?? '';
      const row = await evaluateAs(ruleset, 'checkout', [['id', id]]);
      // The bucket of the text, as SDKs compute it, never that of the number the text reads as.
      expect([id, row.textContent.includes(trace(id)), trace(id) === trace(Number(id))]).toEqual([id, true, false]);
      cleanup();
    }
  });

  it('keeps every hash attribute of the ruleset as text (rollouts and splits, experiments, fallbacks), and types the others', () => {
    const experiment = abExperiment('exp', { status: 'running', hashAttribute: 'deviceId', fallbackAttribute: 'anonymousId' });
    const flag = booleanFlag('checkout', {
      environments: {
        development: {
          enabled: true,
          defaultVariation: 'off',
          offVariation: 'off',
          prerequisites: [],
          rules: [
            { id: 'split', type: 'split', hashAttribute: 'accountId', hashVersion: 2, distribution: [{ variation: 'on', weight: 1 }] },
            { id: 'exp', type: 'experiment', experiment: 'exp' },
          ],
        },
      },
    });
    const ruleset = compileRuleset({ environment: 'development', version: 1, flags: [flag], experiments: [experiment] });
    const names = hashAttributes(ruleset);
    expect([...names].sort()).toEqual(['accountId', 'anonymousId', 'deviceId', 'id']);
    const rows = [['id', '007'], ['deviceId', '1e5'], ['accountId', '12345678901234567890'], ['age', '42'], ['plan', '"42"'], ['beta', 'true'], ['tags', '["a"]'], ['name', 'Ann']].map(([name, value]) => ({ name: name!, value: value! }));
    expect(attributesOf(rows, names)).toEqual({ id: '007', deviceId: '1e5', accountId: '12345678901234567890', age: 42, plan: '42', beta: true, tags: ['a'], name: 'Ann' });
    expect([parseAttributeValue('"x'), parseAttributeValue('  '), parseAttributeValue('1e5')]).toEqual(['"x', '', 100000]);
  });

  it('lets a value typed in quotes stay text for a condition on text', async () => {
    const flag = booleanFlag('checkout', {
      environments: { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [{ id: 'zip', type: 'force', variation: 'on', condition: { zip: { $eq: '01234' } } }] } },
    });
    const ruleset = compileRuleset({ environment: 'development', version: 1, flags: [flag] });
    const row = await evaluateAs(ruleset, 'checkout', [['id', 'u1'], ['zip', '"01234"']]);
    expect(within(row).getAllByRole('cell')[1]?.textContent).toBe('truevariation on');
  });
});

describe('evaluate as: sticky bucketing', () => {
  const sticky = (stickyBucketing?: Experiment['stickyBucketing']): Ruleset => {
    const experiment = abExperiment('new-checkout', { status: 'running', ...(stickyBucketing === undefined ? {} : { stickyBucketing }) });
    const flag = booleanFlag('checkout', {
      environments: { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', prerequisites: [], rules: [{ id: 'exp', type: 'experiment', experiment: 'new-checkout' }] } },
    });
    return compileRuleset({ environment: 'development', version: 1, flags: [flag], experiments: [experiment] });
  };

  it('says the preview cannot see stored assignments when the result went through a sticky experiment', async () => {
    const row = await evaluateAs(sticky({ enabled: true, bucketVersion: 0, minBucketVersion: 0 }), 'checkout', [['id', 'user-1']]);
    const note = within(row).getByRole('note');
    expect(note.textContent).toContain('Sticky bucketing in new-checkout');
    expect(note.textContent).toContain('a unit already assigned keeps its stored variation, which this preview cannot see');
    expect(note.textContent).toContain("unit's timeline in Events");
  });

  it('says nothing for an experiment without sticky bucketing, or one turned off', async () => {
    for (const setting of [undefined, { enabled: false, bucketVersion: 0, minBucketVersion: 0 }]) {
      const row = await evaluateAs(sticky(setting), 'checkout', [['id', 'user-1']]);
      expect([setting, within(row).queryByRole('note')]).toEqual([setting, null]);
      cleanup();
    }
  });
});
