#!/usr/bin/env node
// Starts the xp language server on stdio (editors launch this with `--stdio`).
// Tree-sitter grammars run about twice as fast when V8 compiles wasm with its optimising tier from
// the start (`--no-liftoff`): a parse is one long call that never tiers up midway. The flag must be
// given at start-up, so the server re-runs itself with it, sharing this process's stdio.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

if (process.execArgv.includes('--no-liftoff')) {
  await import('../dist/bin.js');
} else {
  const child = spawn(process.execPath, ['--no-liftoff', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal === null ? 0 : 1);
  });
}
