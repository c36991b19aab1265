import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { compileRuleset } from '@xp/shared';
import type { StoredEnvironment } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { booleanFlag } from '../../../test/fixtures.js';
import { EvaluateAs } from '../evaluate-as.js';

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
