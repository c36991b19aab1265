/**
 * The main example of docs/sdk-js.md "Testing code that uses flags", run as written: the text
 * between the markers below must be the docs' first code block of that section (imports pointed at
 * the sources), which the last test checks.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// docs:begin
import { createTestClient } from '../testing.js';
import type { ExperimentationClient } from '../index.js';
import { afterEach, describe, expect, it } from 'vitest';

// The code under test takes the client as your app gives it (a module, a parameter, a context).
function checkoutLabel(client: ExperimentationClient, userId: string): string {
  if (!client.isFeatureEnabled('new-checkout', userId)) {
    return 'Checkout';
  }
  return client.getVariant('checkout-copy', userId) === 'urgency' ? 'Buy now' : 'Buy';
}

function purchase(client: ExperimentationClient, userId: string, amount: number): void {
  client.trackEvent('purchase', userId, { value: amount, currency: 'EUR' });
}

describe('checkout', () => {
  // strict: evaluating a key not configured here throws, naming it ("did you mean …?"): typos fail the test.
  const client = createTestClient({
    flags: { 'new-checkout': true, 'checkout-button': 'green', limits: { max: 5 } },
    experiments: { 'checkout-copy': 'control' },
    strict: true,
  });
  afterEach(() => {
    client.reset(); // forgets recorded events and exposures
  });

  it('shows the new checkout, with the variation the unit is in', () => {
    expect(checkoutLabel(client, 'user-1')).toBe('Buy');
    client.setExperiment('checkout-copy', 'control', { units: { 'user-7': 'urgency' } });
    expect(checkoutLabel(client, 'user-7')).toBe('Buy now');
    expect(client.exposures.map((e) => [e.experiment, e.unitId, e.variation])).toEqual([
      ['checkout-copy', 'user-1', 'control'],
      ['checkout-copy', 'user-7', 'urgency'],
    ]);
  });

  it('falls back to the old checkout when the flag is off', () => {
    client.setFlag('new-checkout', false);
    expect(checkoutLabel(client, 'user-1')).toBe('Checkout');
    expect(client.exposures).toEqual([]);
    client.setFlag('new-checkout', true);
  });

  it('tracks the purchase', () => {
    purchase(client, 'user-1', 30);
    expect(client.trackedEvents).toMatchObject([{ name: 'purchase', unitId: 'user-1', value: 30, properties: { currency: 'EUR' } }]);
  });
});
// docs:end

describe('the docs example', () => {
  it('is the one in docs/sdk-js.md', () => {
    const here = fileURLToPath(import.meta.url);
    const docs = readFileSync(resolve(dirname(here), '../../../../docs/sdk-js.md'), 'utf8');
    const section = docs.slice(docs.indexOf('## Testing code that uses flags'));
    const documented = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    const source = readFileSync(here, 'utf8');
    const tested = source.slice(source.indexOf('// docs:begin\n') + '// docs:begin\n'.length, source.indexOf('// docs:end'));

    expect(documented).toBeDefined();
    expect(tested.replace("'../testing.js'", "'@xp/sdk/testing'").replace("'../index.js'", "'@xp/sdk'")).toBe(documented);
  });

  it('every code block of the section that uses vitest imports what it uses (vitest has no globals by default)', () => {
    const here = fileURLToPath(import.meta.url);
    const docs = readFileSync(resolve(dirname(here), '../../../../docs/sdk-js.md'), 'utf8');
    const section = docs.slice(docs.indexOf('## Testing code that uses flags'), docs.indexOf('\n## ', docs.indexOf('## Testing code that uses flags') + 1));
    const blocks = [...section.matchAll(/```tsx?\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const block of blocks) {
      const imported = /import \{([^}]*)\} from 'vitest'/.exec(block)?.[1]?.split(',').map((name) => name.trim()) ?? [];
      const used = ['describe', 'it', 'expect', 'afterEach', 'beforeEach'].filter((name) => new RegExp(`(^|[^.\\w])${name}\\(`, 'm').test(block));
      expect({ block: block.slice(0, 60), missing: used.filter((name) => !imported.includes(name)) }).toEqual({ block: block.slice(0, 60), missing: [] });
    }
  });
});
