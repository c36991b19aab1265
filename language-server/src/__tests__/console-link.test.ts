import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Hover, MarkupContent } from 'vscode-languageserver-protocol/node';
import { HoverRequest } from 'vscode-languageserver-protocol/node';
import type { XpSettings } from '../protocol.js';
import { FIXTURE_FILES, FLAGS_YAML, LspTestClient, writeFixtureWorkspace } from '../testing/index.js';

// The console link hovers carry when consoleUrl is not set. Signed out (no token), with the flags
// file's data: the API itself is never called. The VS Code extension's commands follow the same
// rule (vscode-extension/src/commands.ts, localConsoleUrl).
describe('the console link without a consoleUrl setting', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) {
      await c();
    }
  });

  const hoverText = async (settings: XpSettings): Promise<string> => {
    const root = writeFixtureWorkspace({ 'flags.yaml': FLAGS_YAML });
    cleanups.push(() => {
      rmSync(root, { recursive: true, force: true });
    });
    const client = await LspTestClient.start(root, { environment: 'production', ...settings });
    cleanups.push(() => client.stop());
    await client.indexed();
    const uri = await client.open('web/checkout.ts', FIXTURE_FILES['web/checkout.ts']!, 'typescript');
    const h = (await client.connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line: 4, character: 46 } })) as Hover;
    const text = (h.contents as MarkupContent).value;
    expect(text).toContain('**Checkout v2**');
    return text;
  };

  it("is the local stack's console, at the root of port 3000, whatever path the API URL has", async () => {
    // The console is served at the root of its own port (docs/console.md): a path in the API URL is not its.
    expect(await hoverText({ apiUrl: 'http://localhost:8000/xp' })).toContain('[Open in console](http://localhost:3000/?project=shop#/flags/checkout-v2)');
    expect(await hoverText({ apiUrl: 'http://localhost:8000' })).toContain('[Open in console](http://localhost:3000/?project=shop#/flags/checkout-v2)');
    // Another port: the console's address cannot be told.
    expect(await hoverText({ apiUrl: 'http://localhost:8911/xp' })).not.toContain('Open in console');
  }, 60_000);
});
