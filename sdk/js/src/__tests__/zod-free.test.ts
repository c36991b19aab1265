import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The browser bundle stays small only if the SDK loads @xp/shared's zod-free subpaths
 * (`@xp/shared/eval`) at run time: the `@xp/shared` barrel also holds the zod model, stats and
 * API code. Type-only imports from the barrel are erased, so they are fine.
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FORBIDDEN = new Set(['@xp/shared', 'zod']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === '__tests__' ? [] : sourceFiles(join(dir, e.name))) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Module specifiers a file loads at run time (everything but `import type` / `export type`). */
function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  return source.statements.flatMap((s) => {
    if (ts.isImportDeclaration(s) && s.importClause?.phaseModifier !== ts.SyntaxKind.TypeKeyword && ts.isStringLiteral(s.moduleSpecifier)) {
      return [s.moduleSpecifier.text];
    }
    if (ts.isExportDeclaration(s) && !s.isTypeOnly && s.moduleSpecifier !== undefined && ts.isStringLiteral(s.moduleSpecifier)) {
      return [s.moduleSpecifier.text];
    }
    return [];
  });
}

describe('the SDK loads no zod', () => {
  it('imports neither zod nor the @xp/shared barrel at run time (only zod-free subpaths)', () => {
    const files = sourceFiles(SRC);
    const offending = files.flatMap((f) => runtimeImports(f).filter((m) => FORBIDDEN.has(m)).map((m) => `${relative(SRC, f)} imports ${m}`));

    expect(files.length).toBeGreaterThan(10);
    expect(offending).toEqual([]);
  });
});
