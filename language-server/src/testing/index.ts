/** Test support shared by this package's tests and cloud's end-to-end tests: a real LSP client and fixtures. */
export { DEFAULT_CAPABILITIES, globMatches, LspTestClient, SERVER_BIN } from './lsp-client.js';
export type { ProgressParams, StartOptions } from './lsp-client.js';
export { FIXTURE_FILES, writeFixtureWorkspace } from './fixture-workspace.js';
export { FLAGS_YAML } from './flags-file.js';
