// Builds the React renderer (desktop/src/renderer) into dist/renderer: one entry, a chunk per screen.
import path from 'node:path';
import { defineConfig } from 'vite';

const here = path.dirname(new URL(import.meta.url).pathname);

export default defineConfig({
  root: path.join(here, 'src/renderer'),
  base: './',
  resolve: { conditions: ['xp-source'] },
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: path.join(here, 'dist/renderer'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  logLevel: 'warn',
});
