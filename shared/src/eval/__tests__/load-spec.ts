import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface SpecFile<T> {
  description: string;
  cases: (T & { name: string })[];
}

/** Reads one corpus file from shared/spec; the Python SDK reads the same files. */
export function readSpec(file: string): unknown {
  const url = new URL(`../../../spec/${file}`, import.meta.url);
  return JSON.parse(readFileSync(fileURLToPath(url), 'utf8'));
}
