/** `npm run bench`: every suite in sequence, each printing its side-by-side table. */
import { runEvalBench } from './eval-bench.js';
import { runStatsBench } from './stats-bench.js';

await runEvalBench();
await runStatsBench();
