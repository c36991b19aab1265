export { extractReferences, literalOf, MethodTable } from './extract.js';
export type { FileIndex, KeySlotInfo } from './extract.js';
export { DEFAULT_MAX_FILE_SIZE, defaultIndexThreads, listSourceFiles, listSourceFilesUnder, WorkspaceIndex } from './workspace.js';
export { readSourceText } from './source-reader.js';
export type { CancellationFlag, IndexerOptions, IndexProgress, RepositoryExcludes } from './workspace.js';
export { CallKind, Language, languageOf, SDK_METHODS, SOURCE_EXTENSIONS } from './types.js';
export type { ComparedVariation, FlagReference, Position, Range } from './types.js';
