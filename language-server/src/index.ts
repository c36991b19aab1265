/** Language server for flag keys in code: hovers, code lenses, diagnostics. */
export const PACKAGE_NAME = '@xp/language-server';
export { startServer } from './server.js';
export type { ServerOptions } from './server.js';
export * from './protocol.js';
export * from './indexer/index.js';
