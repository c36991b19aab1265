/**
 * `npm run bench`: every suite in sequence, each printing its side-by-side table.
 * `npm run bench -- aggregator results` runs only the named suites.
 */
import { runAggregatorBench } from './aggregator-bench.js';
import { runEvalBench } from './eval-bench.js';
import { runFreshnessBench } from './freshness-bench.js';
import { runLambdaBench } from './lambda-bench.js';
import { runPythonBench } from './python-bench.js';
import { runResultsBench } from './results-bench.js';
import { runSdkBench } from './sdk-bench.js';
import { runSdkJsBench } from './sdk-js-bench.js';
import { runStatsBench } from './stats-bench.js';

// As `xp start` does (cloud/bin/xp.js): the AWS SDK's notice that its releases after January 2027
// need Node 22 is not a bench result. It is emitted when a client is first used, after these imports.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const suites: [name: string, run: () => unknown][] = [
  ['eval', runEvalBench],
  ['stats', runStatsBench],
  ['sdk', runSdkBench],
  ['sdk-js', runSdkJsBench],
  ['aggregator', runAggregatorBench],
  ['freshness', runFreshnessBench],
  ['results', runResultsBench],
  ['lambda', runLambdaBench],
  ['python', runPythonBench],
  ['console', () => import('./console.js').then((m) => m.runConsoleBench())],
  ['language-server', () => import('./language-server.js').then((m) => m.runLanguageServerBench())],
];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !suites.some(([n]) => n === name));
if (unknown.length > 0) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; suites: ${suites.map(([n]) => n).join(', ')}`);
  process.exit(2);
}
for (const [name, run] of suites) {
  if (wanted.length === 0 || wanted.includes(name)) {
    await run();
  }
}
