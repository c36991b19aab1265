import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TreeSitter from '@vscode/tree-sitter-wasm';
import type { Language } from './types.js';

const require = createRequire(import.meta.url);

export type SyntaxNode = TreeSitter.Node;
export type Tree = TreeSitter.Tree;
export type Query = TreeSitter.Query;

/** The tree-sitter runtime and one parser per language, loaded once per process. */
export interface Grammar {
  readonly language: Language;
  readonly parser: TreeSitter.Parser;
  readonly tsLanguage: TreeSitter.Language;
  query(source: string): TreeSitter.Query;
}

const GRAMMAR_FILE: Readonly<Record<Language, string>> = {
  typescript: 'tree-sitter-typescript.wasm',
  tsx: 'tree-sitter-tsx.wasm',
  javascript: 'tree-sitter-javascript.wasm',
  python: 'tree-sitter-python.wasm',
  go: 'tree-sitter-go.wasm',
  java: 'tree-sitter-java.wasm',
};

let runtime: Promise<typeof TreeSitter> | undefined;
const grammars = new Map<Language, Promise<Grammar>>();

function loadRuntime(): Promise<typeof TreeSitter> {
  runtime ??= (async () => {
    // The package is a UMD bundle without ESM exports, so it is required rather than imported.
    const ts = require('@vscode/tree-sitter-wasm') as typeof TreeSitter;
    await ts.Parser.init();
    return ts;
  })();
  return runtime;
}

function wasmDir(): string {
  return path.dirname(require.resolve('@vscode/tree-sitter-wasm'));
}

export function grammarFor(language: Language): Promise<Grammar> {
  let loaded = grammars.get(language);
  if (loaded === undefined) {
    loaded = (async () => {
      const ts = await loadRuntime();
      // Imported here: a cold index that never parses does not load fs/promises.
      const { readFile } = await import('node:fs/promises');
      const tsLanguage = await ts.Language.load(await readFile(path.join(wasmDir(), GRAMMAR_FILE[language])));
      const parser = new ts.Parser();
      parser.setLanguage(tsLanguage);
      const queries = new Map<string, TreeSitter.Query>();
      return {
        language,
        parser,
        tsLanguage,
        query(source: string): TreeSitter.Query {
          let q = queries.get(source);
          if (q === undefined) {
            q = new ts.Query(tsLanguage, source);
            queries.set(source, q);
          }
          return q;
        },
      };
    })();
    grammars.set(language, loaded);
  }
  return loaded;
}
