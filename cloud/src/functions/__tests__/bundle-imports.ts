/**
 * The packages a bundled (esbuild, ESM) function imports: static `import … from "x"`, bare
 * `import "x"` and `export … from "x"` — what loads at init — and, with `dynamic`, `import("x")`
 * too; `node:` built-ins and relative chunks left out. Only import statements count: the word
 * "from" before a quote inside a bundled string ("…differs from" + `"`) is not an import.
 */
export function bundledPackages(source: string, options: { readonly dynamic: boolean }): string[] {
  const statements = options.dynamic
    ? /(?<![\w$.])(?:import\s*(?:\(\s*|[\w$*{},\s]*?from\s*)?|export\s*[\w$*{},\s]*?from\s*)"([^"]+)"/g
    : /(?<![\w$.])(?:import\s*(?:[\w$*{},\s]*?from\s*)?|export\s*[\w$*{},\s]*?from\s*)"([^"]+)"/g;
  return [...source.matchAll(statements)].map((m) => m[1]!).filter((i) => !i.startsWith('node:') && !i.startsWith('./'));
}
