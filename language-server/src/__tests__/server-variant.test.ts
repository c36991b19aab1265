/**
 * getVariant / get_variant given a flag's key over stdio: the xp SDKs look the key up among the
 * ruleset's experiments only, so they return null for it whatever the flag serves.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CodeAction, Diagnostic } from 'vscode-languageserver-protocol/node';
import { CodeActionRequest } from 'vscode-languageserver-protocol/node';
import { experimentSchema } from '@xp/shared';
import { LspTestClient } from '../testing/index.js';
import type { StandInApi } from './stand-in-api.js';
import { standInApi } from './stand-in-api.js';

// dark-mode is set up nowhere: off everywhere, serving its off variation since January, so stale.
const TS = ["const v = client.getVariant('dark-mode', user);", "if (v === 'dark') { paint(); }", "const w = client.getVariant('cta-copy', user);", "const x = client.getValue('dark-mode', user, 'light');", ''].join('\n');
const PY = ['v = client.get_variant("dark-mode", user)', 'w = client.get_variant("cta-copy", user)', ''].join('\n');

describe('language server over stdio: getVariant of a flag', () => {
  let root: string;
  let api: StandInApi;
  let client: LspTestClient;

  beforeAll(async () => {
    api = standInApi();
    api.experiments.push(experimentSchema.parse({ key: 'cta-copy', name: 'CTA copy', variations: [{ key: 'control' }, { key: 'buy-now' }] }));
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
    root = mkdtempSync(path.join(tmpdir(), 'xp-ls-variant-'));
    writeFileSync(path.join(root, 'a.ts'), TS);
    writeFileSync(path.join(root, 'a.py'), PY);
    client = await LspTestClient.start(root, { apiUrl: api.url(), token: 'xpp_good', project: 'shop', refreshIntervalSeconds: 0, cacheFile: path.join(root, '.cache.json') });
    await client.until('the API data', () => client.statuses.find((s) => s.source === 'api' && !s.indexing));
  }, 60_000);
  afterAll(async () => {
    await client.stop();
    await api.close();
    rmSync(root, { recursive: true, force: true });
  });

  const checks = (d: readonly Diagnostic[]): unknown[] => d.map((x) => [x.code, x.severity, x.range.start.line, x.message]);

  it('warns on a flag key in TypeScript and Python, and not on an experiment key', async () => {
    const ts = await client.diagnosticsFor(await client.open('a.ts', TS, 'typescript'), (d) => d.length > 0);
    // The getValue call of the same flag is what reads it: that one is stale.
    expect(checks(ts)).toEqual([
      ['not-an-experiment', 2, 0, 'getVariant takes an experiment key; "dark-mode" is a flag, for which it returns null — use getValue.'],
      ['stale-flag', 3, 3, expect.stringContaining('Flag "dark-mode" has served "light" to everyone')],
    ]);
    const py = await client.diagnosticsFor(await client.open('a.py', PY, 'python'), (d) => d.length > 0);
    expect(checks(py)).toEqual([['not-an-experiment', 2, 0, 'get_variant takes an experiment key; "dark-mode" is a flag, for which it returns None — use get_value.']]);
  });

  it('offers no clean-up of the getVariant call, only of the call that reads the flag', async () => {
    const uri = client.uri('a.ts');
    const diagnostics = await client.diagnosticsFor(uri, (d) => d.length > 0);
    const at = async (line: number): Promise<string[]> => {
      const range = { start: { line, character: 12 }, end: { line, character: 12 } };
      const actions = (await client.connection.sendRequest(CodeActionRequest.type, { textDocument: { uri }, range, context: { diagnostics: diagnostics.filter((d) => d.range.start.line === line) } })) as CodeAction[];
      return actions.map((a) => a.title);
    };
    expect(await at(0)).toEqual([]);
    expect(await at(3)).toEqual(['Replace stale flag "dark-mode" with \'light\'']);
  });
});
