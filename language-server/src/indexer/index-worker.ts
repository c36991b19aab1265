/** Worker thread of a parallel cold index: indexes the files it is given and posts their indexes back. */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { FileIndex } from './extract.js';
import { WorkspaceIndex } from './workspace.js';

export interface WorkerInput {
  readonly root: string;
  readonly files: readonly string[];
  readonly wrapperFunctions: readonly string[];
  readonly maxFileSize: number;
}

/** Posted per batch; `indexes` holds only files with references or key slots. */
export interface WorkerBatch {
  readonly done: number;
  readonly indexes: readonly FileIndex[];
}

const input = workerData as WorkerInput;
const index = new WorkspaceIndex(input.root, { wrapperFunctions: input.wrapperFunctions, maxFileSize: input.maxFileSize });
const BATCH = 200;
for (let i = 0; i < input.files.length; i += BATCH) {
  const indexes: FileIndex[] = [];
  const batch = input.files.slice(i, i + BATCH);
  for (const file of batch) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const result = await index.indexText(file, text);
    if (result.references.length > 0 || result.slots.length > 0) {
      indexes.push(result);
    }
  }
  parentPort?.postMessage({ done: batch.length, indexes } satisfies WorkerBatch);
}
