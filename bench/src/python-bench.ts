import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The Python SDK's evaluations per second, from sdk/python/bench.py (standard library only). */
export function runPythonBench(): void {
  const script = fileURLToPath(new URL('../../sdk/python/bench.py', import.meta.url));
  const result = spawnSync('python3', [script], { encoding: 'utf8', timeout: 120_000 });
  console.log('\nPython SDK (CPython, evaluations per second)');
  if (result.status !== 0) {
    console.log(`  not measured: ${result.error?.message ?? result.stderr.trim().split('\n').pop() ?? 'python3 failed'}`);
    return;
  }
  console.log(result.stdout.trimEnd());
}
