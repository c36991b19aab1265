import { defineConfig } from 'vitest/config';

// One run over every workspace; packages resolve each other's TypeScript sources, not their builds.
export default defineConfig({
  resolve: { conditions: ['xp-source'] },
  test: {
    include: ['{shared,cloud,desktop,language-server,vscode-extension,sdk/js,bench}/src/**/__tests__/**/*.test.{ts,tsx}'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    pool: 'threads',
    testTimeout: 20_000,
    // Hooks start real stacks (PGlite, dynalite, kinesalite, servers): slow on a loaded 2-core machine.
    hookTimeout: 60_000,
  },
});
