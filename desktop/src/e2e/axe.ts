import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

/** axe-core's build, injected as source: the console's CSP (script-src 'self') refuses an injected <script>. */
const AXE_SOURCE = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * The serious and critical WCAG 2.0 A/AA violations axe finds on the page, one line each with its
 * elements (empty: none). accessibility.e2e.test.ts runs the full report; the other console e2e
 * tests check their screens with this.
 */
export async function seriousViolations(page: Page): Promise<string> {
  if ((await page.evaluate('typeof window.axe')) === 'undefined') {
    await page.evaluate(await AXE_SOURCE);
  }
  return page.evaluate<string>(`(async () => {
    const results = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] }, resultTypes: ['violations'] });
    return results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => v.id + ': ' + v.help + ' — ' + v.nodes.map((n) => n.target.join(' ')).join(', '))
      .join('\\n');
  })()`);
}
