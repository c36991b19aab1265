import { defineConfig } from 'vitest/config';

// One run over every workspace; packages resolve each other's TypeScript sources, not their builds.
export default defineConfig({
  resolve: { conditions: ['xp-source'] },
  test: {
    include: ['{shared,cloud,desktop,language-server,vscode-extension,sdk/js,bench}/src/**/__tests__/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    pool: 'threads',
    testTimeout: 20_000,
  },
});
