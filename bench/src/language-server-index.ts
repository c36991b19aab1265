/**
 * Child process of the language-server bench: one cold index of the directory in argv[2], started
 * the way the server runs (`node --no-liftoff`, as many threads as the server uses on this machine),
 * printing `{ references, files }` as JSON.
 */
import { defaultIndexThreads, WorkspaceIndex } from '@xp/language-server/indexer';

const root = process.argv[2];
if (root === undefined) {
  throw new Error('usage: language-server-index.js DIR');
}
const index = new WorkspaceIndex(root, { workers: defaultIndexThreads() });
await index.indexAll();
process.stdout.write(JSON.stringify({ references: index.references().length, files: index.fileCount }));
