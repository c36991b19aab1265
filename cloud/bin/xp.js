#!/usr/bin/env node
// The `xp` command; the implementation is compiled to dist/ by `npm run build`.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/xp.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('xp is not built yet: run `npm run build` in the repository first.');
  process.exit(1);
}
const { run } = await import(entry.href);
run();
