/**
 * Installs a jsdom window as the global DOM for component tests. Import it first in a test file:
 * Testing Library reads `document` when it loads. (Vitest's built-in "jsdom" environment imports
 * jsdom from its own folder, but npm installed jsdom under desktop/node_modules only.)
 */
import { JSDOM } from 'jsdom';
import { populateGlobal } from 'vitest/runtime';

const dom = new JSDOM('<!DOCTYPE html><html><body></body></html>', { pretendToBeVisual: true, url: 'http://localhost:3000/' });
populateGlobal(globalThis, dom.window, { bindFunctions: true });
// React checks this flag to allow act() in tests.
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

// Only now may Testing Library load. A screen's first render waits for its lazily loaded chunk,
// which Vite transforms on first use: on a busy CI machine that alone has taken over the default
// one second, failing `findBy…` queries that pass on the second try. Waiting longer changes only
// how slowly a test that would fail anyway fails.
const { configure } = await import('@testing-library/react');
configure({ asyncUtilTimeout: 5_000 });
