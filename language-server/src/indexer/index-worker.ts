/**
 * Worker thread of a parallel cold index. It starts while the main thread lists the files, then
 * claims chunks of the list from a counter shared with every thread of the index, indexes them and
 * posts their indexes back. It loads only the reader, the scanner and (when a file needs a parse)
 * tree-sitter.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { FileIndex } from './extract.js';
import { extractReferences, MethodTable } from './extract.js';
import { grammarFor } from './parser.js';
import { SourceReader } from './source-reader.js';
import { languageOf } from './types.js';

export interface WorkerInput {
  readonly wrapperFunctions: readonly string[];
  readonly maxFileSize: number;
  readonly fastPath: boolean;
  /** One Int32: the next chunk to claim, shared by the main thread and the workers. */
  readonly next: SharedArrayBuffer;
}

/** The listed files, sent once: NUL-separated paths (a NUL cannot be in a path) and the chunk size. */
export interface WorkerFiles {
  readonly files: string;
  readonly chunk: number;
}

/** Posted per chunk claimed; `indexes` holds only files with references or key slots. */
export interface WorkerBatch {
  readonly done: number;
  readonly indexes: readonly FileIndex[];
  readonly scanned: number;
  readonly parsed: number;
}

const port = parentPort;
if (port === null) {
  throw new Error('index-worker.js runs as a worker thread');
}
const input = workerData as WorkerInput;
const methods = new MethodTable(input.wrapperFunctions);
const reader = new SourceReader(methods, input.maxFileSize, input.fastPath);
const next = new Int32Array(input.next);

async function indexChunk(files: readonly string[], from: number, to: number): Promise<WorkerBatch> {
  const indexes: FileIndex[] = [];
  let scanned = 0;
  let parsed = 0;
  for (let i = from; i < to; i++) {
    const file = files[i]!;
    const language = languageOf(file);
    if (language === undefined) {
      continue;
    }
    const outcome = reader.index(file, language);
    let index: FileIndex;
    if (outcome.kind === 'none') {
      continue;
    } else if (outcome.kind === 'settled') {
      scanned++;
      index = outcome.index;
    } else {
      parsed++;
      index = extractReferences(await grammarFor(language), file, outcome.text, methods);
    }
    if (index.references.length > 0 || index.slots.length > 0) {
      indexes.push(index);
    }
  }
  return { done: to - from, indexes, scanned, parsed };
}

port.once('message', (message: WorkerFiles) => {
  void (async () => {
    const files = message.files.split('\0');
    const chunks = Math.ceil(files.length / message.chunk);
    for (let c = Atomics.add(next, 0, 1); c < chunks; c = Atomics.add(next, 0, 1)) {
      port.postMessage(await indexChunk(files, c * message.chunk, Math.min(files.length, (c + 1) * message.chunk)));
    }
    port.close();
  })();
});
