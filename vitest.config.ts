import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer } from 'vitest/node';
import type { TestSpecification } from 'vitest/node';

/**
 * The longest files (by a profiled run of the whole suite on the 2-core CI machine), started first so
 * that no worker picks one up near the end while the other sits idle. The rest follow in Vitest's own order.
 */
const LONGEST_FIRST = [
  'cloud/src/http/__tests__/segment-ids.test.ts',
  'cloud/src/infra/__tests__/deploy-script.test.ts',
  'cloud/src/domain/__tests__/guardrails-lifecycle.test.ts',
  'cloud/src/http/__tests__/results.test.ts',
  'language-server/src/__tests__/server-api.test.ts',
  'cloud/src/local/__tests__/data-folder.test.ts',
  'language-server/src/__tests__/server-clients.test.ts',
  'cloud/src/http/__tests__/bad-input.test.ts',
  'desktop/src/e2e/__tests__/accessibility.e2e.test.ts',
  'cloud/src/http/__tests__/permissions-matrix.test.ts',
  'cloud/src/cli/__tests__/import-launchdarkly-cli.test.ts',
  'desktop/src/e2e/__tests__/console.e2e.test.ts',
  'cloud/src/local/__tests__/newer-schema.test.ts',
  'cloud/src/pipeline/__tests__/expired-records.test.ts',
  'cloud/src/http/__tests__/flows.test.ts',
];

class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification): number => {
      const at = LONGEST_FIRST.indexOf(relative(spec.project.config.root, spec.moduleId).split('\\').join('/'));
      return at < 0 ? LONGEST_FIRST.length : at;
    };
    return sorted.sort((a, b) => rank(a) - rank(b));
  }
}

const ALL = '{shared,cloud,desktop,language-server,vscode-extension,sdk/js,bench}/src/**/__tests__/**/*.test.{ts,tsx}';
/** The JavaScript SDK's tests wait on a local server with timeouts of a few hundred ms. */
const SDK_JS = 'sdk/js/src/**/__tests__/**/*.test.{ts,tsx}';
const EXCLUDE = ['**/node_modules/**', '**/dist/**'];

// One run over every workspace; packages resolve each other's TypeScript sources, not their builds.
export default defineConfig({
  resolve: { conditions: ['xp-source'] },
  test: {
    // include and exclude are the projects' (a project extending this config would add to them).
    pool: 'threads',
    // Vitest's default (one worker per core but one) runs every file in turn on 2 cores, though most
    // of a file's time is spent waiting on PostgreSQL, Chromium, child processes and timers: two
    // workers there; more cores keep the default.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    sequence: { sequencer: LongestFirstSequencer },
    testTimeout: 20_000,
    // Hooks start real stacks (PGlite, dynalite, kinesalite, servers): slow on a loaded 2-core machine.
    hookTimeout: 60_000,
    // The locked AWS SDK runs on Node 20 (which xp supports); its notice about later releases needing Node 22 is noise here.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      { extends: true, test: { name: 'xp', include: [ALL], exclude: [...EXCLUDE, SDK_JS] } },
      // Run afterwards, one file at a time, as before: never next to a file starting PGlite or Chromium.
      { extends: true, test: { name: 'sdk-js', include: [SDK_JS], exclude: EXCLUDE, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
