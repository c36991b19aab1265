import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The evaluation engine ships in browser bundles (`@xp/shared/eval`), so nothing it loads at run
 * time may import zod (443 kB minified) or any other package. Type-only imports are erased and
 * so allowed.
 */

const EVAL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC_DIR = resolve(EVAL_DIR, '..');

/** The modules a file loads at run time: every import / re-export that is not `import type` / `export type`. */
function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && node.importClause?.phaseModifier !== ts.SyntaxKind.TypeKeyword && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && !node.isTypeOnly) {
      out.push(node.moduleReference.getText(source));
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      out.push(arg !== undefined && ts.isStringLiteral(arg) ? arg.text : '<dynamic import>');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** Every file reachable from `roots` at run time, and the external modules they import (with the importing file). */
function importGraph(roots: readonly string[]): { files: Set<string>; external: string[] } {
  const files = new Set<string>();
  const external: string[] = [];
  const queue = [...roots];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (files.has(file)) {
      continue;
    }
    files.add(file);
    for (const specifier of runtimeImports(file)) {
      if (!specifier.startsWith('.')) {
        external.push(`${relative(SRC_DIR, file)} imports ${specifier}`);
        continue;
      }
      const target = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'));
      if (!existsSync(target)) {
        external.push(`${relative(SRC_DIR, file)} imports ${specifier}, which does not resolve to a .ts file`);
        continue;
      }
      queue.push(target);
    }
  }
  return { files, external };
}

const nonTestEvalFiles = readdirSync(EVAL_DIR)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => join(EVAL_DIR, f));

describe('the evaluation engine is zod-free', () => {
  it('imports no package, zod included, from eval/index.ts or any non-test file in eval/', () => {
    const { files, external } = importGraph([join(EVAL_DIR, 'index.ts'), ...nonTestEvalFiles]);

    expect(external).toEqual([]);
    expect(files.size).toBeGreaterThanOrEqual(nonTestEvalFiles.length);
  });

  it('is what the "./eval" subpath export points at', () => {
    const pkg = JSON.parse(readFileSync(resolve(SRC_DIR, '..', 'package.json'), 'utf8')) as {
      sideEffects?: unknown;
      exports: Record<string, Record<string, string>>;
    };

    expect(pkg.exports['./eval']).toEqual({ 'xp-source': './src/eval/index.ts', types: './dist/eval/index.d.ts', default: './dist/eval/index.js' });
    expect(pkg.sideEffects).toBe(false);
  });

  it('detects a zod import when there is one (the scanner works)', () => {
    const { external } = importGraph([join(SRC_DIR, 'model', 'ruleset.ts')]);

    expect(external).toContain('model/ruleset.ts imports zod');
  });
});
