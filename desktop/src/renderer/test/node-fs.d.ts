// The part of Node's fs that component tests use to read the stylesheet (the renderer's program has
// no Node types; the tests run in Node).
declare module 'node:fs' {
  export function readFileSync(path: URL, encoding: 'utf8'): string;
}
