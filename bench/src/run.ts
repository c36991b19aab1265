/** `npm run bench`: every suite in sequence, each printing its side-by-side table. */
import { runAggregatorBench } from './aggregator-bench.js';
import { runEvalBench } from './eval-bench.js';
import { runFreshnessBench } from './freshness-bench.js';
import { runLambdaBench } from './lambda-bench.js';
import { runPythonBench } from './python-bench.js';
import { runResultsBench } from './results-bench.js';
import { runSdkBench } from './sdk-bench.js';
import { runSdkJsBench } from './sdk-js-bench.js';
import { runStatsBench } from './stats-bench.js';

await runEvalBench();
await runStatsBench();
await runSdkBench();
await runSdkJsBench();
await runAggregatorBench();
await runFreshnessBench();
await runResultsBench();
await runLambdaBench();
runPythonBench();
