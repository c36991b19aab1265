// @vitest-environment jsdom
/**
 * @xp/sdk/testing with @xp/sdk/react: XpProvider takes a test client, its hooks show the values set,
 * and setFlag / setExperiment re-render them; the exposures the hooks log are recorded.
 */
import { act } from 'react';
import type { ReactNode } from 'react';
import { describe, expect, it } from 'vitest';
import { XpProvider, useFeatureEnabled, useFlag, useVariant, useXpReady } from '../react.js';
import { createTestClient } from '../testing.js';
import type { TestElement } from './dom.js';
import { reactPage } from './react-page.js';

const harness = reactPage();
const { clients, text } = harness;
const mount = (ui: ReactNode): TestElement => harness.mount(ui).container;

let renders = 0;

function Checkout(): ReactNode {
  renders++;
  const { ready, status } = useXpReady();
  return (
    <ul>
      <li data-testid="ready">{`${String(ready)} ${status}`}</li>
      <li data-testid="button">{useFlag('checkout-button', 'gray')}</li>
      <li data-testid="nav">{String(useFeatureEnabled('new-nav'))}</li>
      <li data-testid="max">{useFlag('limits', { max: 0 }).max}</li>
      <li data-testid="variant">{useVariant('pricing-page') ?? 'none'}</li>
    </ul>
  );
}

describe('XpProvider over a test client', () => {
  it('renders the values set, re-renders on setFlag and setExperiment, and records the exposures', () => {
    const client = createTestClient({ flags: { 'checkout-button': 'green', 'new-nav': true, limits: { max: 5 } }, experiments: { 'pricing-page': 'control' } });
    clients.push(client);
    const container = mount(
      <XpProvider client={client} user="user-7">
        <Checkout />
      </XpProvider>,
    );

    expect(text(container, 'ready')).toBe('true READY');
    expect(text(container, 'button')).toBe('green');
    expect(text(container, 'nav')).toBe('true');
    expect(text(container, 'max')).toBe('5');
    expect(text(container, 'variant')).toBe('control');

    const before = renders;
    act(() => {
      client.setFlag('checkout-button', 'blue', { units: { 'user-7': 'red' } });
    });
    expect(text(container, 'button')).toBe('red');
    expect(renders).toBeGreaterThan(before);
    act(() => {
      client.setFlag('new-nav', false);
      client.removeFlag('limits');
    });
    expect(text(container, 'nav')).toBe('false');
    expect(text(container, 'max')).toBe('0');
    act(() => {
      client.setExperiment('pricing-page', 'control', { units: { 'user-7': 'treatment' } });
    });
    expect(text(container, 'variant')).toBe('treatment');

    expect(client.exposures.map((e) => [e.experiment, e.unitId, e.variation])).toEqual([
      ['pricing-page', 'user-7', 'control'],
      ['pricing-page', 'user-7', 'treatment'],
    ]);
  });

  it('the docs pattern: render, setFlag, see the new value', () => {
    function Button(): ReactNode {
      return <button>{useFlag('checkout-button', 'gray')}</button>;
    }
    const client = createTestClient({ flags: { 'checkout-button': 'green' } });
    clients.push(client);
    const container = mount(
      <XpProvider client={client} user="user-1">
        <Button />
      </XpProvider>,
    );
    expect(container.textContent).toBe('green');

    act(() => {
      client.setFlag('checkout-button', 'blue');
    });
    expect(container.textContent).toBe('blue');
  });
});
