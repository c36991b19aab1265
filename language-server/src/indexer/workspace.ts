import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ignore } from 'ignore';
// Imported statically so that bundlers include it: the language server in the VS Code extension is
// one esbuild bundle, and a require() resolved at run time found no `ignore` there (or whichever a
// parent folder's node_modules held), so .gitignore files were not applied.
import ignore from 'ignore';
import type { FileIndex } from './extract.js';
import { extractReferences, MethodTable } from './extract.js';
import { scanReferences } from './fast-scan.js';
import { grammarFor } from './parser.js';
import { BINARY_PROBE, readSourceText, SourceReader } from './source-reader.js';
import type { FlagReference, Language } from './types.js';
import { languageOf } from './types.js';

export interface IndexerOptions {
  /** Extra function names whose first argument is a flag key. */
  readonly wrapperFunctions?: readonly string[];
  /** Files larger than this many characters are skipped (generated or vendored code). */
  readonly maxFileSize?: number;
  /** Worker threads for the cold index (1: in this thread). Default 1. */
  readonly workers?: number;
  /**
   * Try the lexical scanner before the tree-sitter parse (default true). False parses every
   * candidate file: the reference path the equivalence test compares against.
   */
  readonly fastPath?: boolean;
  /**
   * Whether a root folder that the .gitignore files of its git repository exclude is indexed all the
   * same (default true: a folder opened in an editor is wanted on purpose). False lists nothing
   * under it, as git sees it (`xp code-refs --dir` on an ignored folder).
   */
  readonly indexIgnoredRoots?: boolean;
  /**
   * Rules git applies below every .gitignore file of a repository: its `.git/info/exclude`, which
   * the language server does not read and `xp code-refs` passes (default none).
   */
  readonly excludes?: RepositoryExcludes;
}

/**
 * Exclude rules (.gitignore syntax) of the git repository whose root is `base`, with less weight than
 * any of its .gitignore files, as git weighs `.git/info/exclude`. They apply to the roots inside that
 * repository (not a nested one's).
 */
export interface RepositoryExcludes {
  readonly base: string;
  readonly rules: string;
}

export interface IndexProgress {
  readonly done: number;
  readonly total: number;
}

/** Cooperative cancellation: checked between batches. */
export interface CancellationFlag {
  readonly isCancellationRequested: boolean;
}

export const DEFAULT_MAX_FILE_SIZE = 1_000_000;

/**
 * Threads for a cold index on this machine: one per core but one. V8 compiles hot code and collects
 * garbage on background threads, and a cold index is mostly code warming up: on two cores a second
 * indexing thread competes with them and makes the index slower (10,000 files: ~620 ms in one
 * thread against ~730 ms in two), so the main thread indexes alone there.
 */
export function defaultIndexThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}
const ALWAYS_SKIPPED = new Set(['.git', 'node_modules', '.hg', '.svn']);
/** Files parsed between two yields to the event loop. */
const BATCH = 100;
/** Files per claim of the cold index: small enough to share out evenly, large enough that claims and messages cost nothing. */
const CHUNK = 64;

/** XP_INDEX_TIMING=1 logs where a cold index spends its time (stderr). */
const TIMING = process.env.XP_INDEX_TIMING === '1';

interface IgnoreLayer {
  readonly base: string;
  readonly rules: Ignore;
}

/** The .gitignore of `dir` added to `layers` (unchanged when there is none or it cannot be read). */
function withGitignore(layers: readonly IgnoreLayer[], dir: string): readonly IgnoreLayer[] {
  let text: string;
  try {
    text = readFileSync(path.join(dir, '.gitignore'), 'utf8');
  } catch {
    // No .gitignore, or an unreadable one: it excludes nothing.
    return layers;
  }
  // Only reading the file may fail quietly: anything else (the rules themselves) is an error to see.
  return [...layers, { base: dir, rules: ignore().add(text) }];
}

/**
 * Whether `layers` (root first) exclude `full`, as git judges: the .gitignore closest to it with a
 * rule that matches decides (its last matching rule, so a nested `!name` re-includes what a parent
 * excludes), one without leaves it to those above. A file in an excluded directory stays excluded
 * whatever a negation says: the walk does not enter that directory.
 */
function isIgnored(layers: readonly IgnoreLayer[], full: string, isDir: boolean): boolean {
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i]!;
    const rel = path.relative(l.base, full).split(path.sep).join('/');
    const { ignored, unignored } = l.rules.test(isDir ? `${rel}/` : rel);
    if (ignored || unignored) {
      return ignored;
    }
  }
  return false;
}

/**
 * The .gitignore files above `root` that git applies to it: those from the root of the git
 * repository `root` is inside down to `root`'s parent, after that repository's `excludes` (when they
 * are its own). None when `root` is not inside a repository. When they exclude `root` itself: none
 * with `indexIgnored` (a folder opened on purpose is indexed), else undefined (nothing under `root`
 * is listed).
 */
function repositoryLayers(root: string, indexIgnored = true, excludes?: RepositoryExcludes): readonly IgnoreLayer[] | undefined {
  const above: string[] = [];
  let repository = root;
  while (!existsSync(path.join(repository, '.git'))) {
    const parent = path.dirname(repository);
    if (parent === repository) {
      return [];
    }
    above.unshift(parent);
    repository = parent;
  }
  // The least weighty rules come first: a .gitignore's matching rule decides before them.
  let layers: readonly IgnoreLayer[] = excludes !== undefined && path.resolve(excludes.base) === repository ? [{ base: repository, rules: ignore().add(excludes.rules) }] : [];
  if (above.length === 0) {
    // `root` is the repository's root, which no rule excludes.
    return layers;
  }
  for (const dir of above) {
    layers = withGitignore(layers, dir);
  }
  if (!isIgnored(layers, root, true)) {
    return layers;
  }
  return indexIgnored ? [] : undefined;
}

/**
 * The .gitignore rules that apply to the entries of the folder `dir` from above it (the repository's
 * above `root`, then those of `root` down to `dir`'s parent), or undefined when listSourceFiles(root)
 * would not enter `dir`: outside `root`, under node_modules or .git, or excluded on the way down.
 */
function layersAbove(root: string, dir: string, indexIgnoredRoot = true, excludes?: RepositoryExcludes): readonly IgnoreLayer[] | undefined {
  const base = path.resolve(root);
  const rel = path.relative(base, path.resolve(dir));
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    return undefined;
  }
  const repository = repositoryLayers(base, indexIgnoredRoot, excludes);
  if (rel === '' || repository === undefined) {
    return repository;
  }
  const parts = rel.split(path.sep);
  let parent = base;
  let layers = withGitignore(repository, base);
  for (let i = 0; i < parts.length; i++) {
    const full = path.join(parent, parts[i]!);
    if (ALWAYS_SKIPPED.has(parts[i]!) || isIgnored(layers, full, true)) {
      return undefined;
    }
    if (i < parts.length - 1) {
      parent = full;
      layers = withGitignore(layers, parent);
    }
  }
  return layers;
}

/**
 * Whether `file` is one listSourceFiles(root) lists (judged by its path: the file need not exist):
 * a source file under `root`, outside node_modules and .git, not excluded by a .gitignore.
 */
export function isWorkspaceSourceFile(root: string, file: string, indexIgnoredRoot = true, excludes?: RepositoryExcludes): boolean {
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const above = languageOf(target) === undefined || target === path.resolve(root) ? undefined : layersAbove(root, dir, indexIgnoredRoot, excludes);
  return above !== undefined && !isIgnored(withGitignore(above, dir), target, false);
}

/** Adds to `files` the source files under `dir` that `layers` (the .gitignore files above it) and the ones below do not exclude. */
function walkSourceFiles(dir: string, layers: readonly IgnoreLayer[], files: string[]): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  const here = entries.some((e) => e.name === '.gitignore' && e.isFile()) ? withGitignore(layers, dir) : layers;
  // Concatenation rather than path.join: `dir` is already normal, and this runs once per entry.
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  for (const e of entries) {
    if (ALWAYS_SKIPPED.has(e.name)) {
      continue;
    }
    const full = prefix + e.name;
    const isDir = e.isDirectory();
    if (!isDir && !e.isFile()) {
      continue;
    }
    if (!isDir && languageOf(e.name) === undefined) {
      continue;
    }
    if (isIgnored(here, full, isDir)) {
      continue;
    }
    if (isDir) {
      walkSourceFiles(full, here, files);
    } else {
      files.push(full);
    }
  }
}

/**
 * Source files under `root` that .gitignore files (at any depth, and those of its repository above
 * it) do not exclude. When those above exclude `root` itself, all of them anyway with
 * `indexIgnoredRoot` (see IndexerOptions.indexIgnoredRoots), else none. `excludes`: see
 * IndexerOptions.excludes.
 */
export function listSourceFiles(root: string, indexIgnoredRoot = true, excludes?: RepositoryExcludes): string[] {
  const files: string[] = [];
  const base = path.resolve(root);
  const layers = repositoryLayers(base, indexIgnoredRoot, excludes);
  if (layers !== undefined) {
    walkSourceFiles(base, layers, files);
  }
  return files;
}

/**
 * The files listSourceFiles(root) lists under `dir`, a folder inside `root`: the .gitignore files
 * from `root` down to `dir` apply. Empty when `dir` is outside `root`, excluded or not a folder.
 */
export function listSourceFilesUnder(root: string, dir: string, indexIgnoredRoot = true, excludes?: RepositoryExcludes): string[] {
  const layers = layersAbove(root, dir, indexIgnoredRoot, excludes);
  const files: string[] = [];
  if (layers !== undefined) {
    walkSourceFiles(path.resolve(dir), layers, files);
  }
  return files;
}

/**
 * The flag references of a workspace, kept per file so one file is re-indexed alone. A workspace has
 * one or more root folders (an editor's multi-root workspace), each listed with its own .gitignore
 * files; a file under two nested roots is indexed once.
 */
export class WorkspaceIndex {
  private readonly files = new Map<string, FileIndex>();
  /** How many indexed files each folder holds at any depth: a path absent here has nothing indexed under it, found without a scan. */
  private readonly filesUnder = new Map<string, number>();
  private readonly rootFolders: string[];
  private methods: MethodTable;
  private readonly maxFileSize: number;
  private readonly workers: number;
  private readonly fastPath: boolean;
  private readonly indexIgnoredRoots: boolean;
  private readonly excludes: RepositoryExcludes | undefined;
  /** Files settled by the scanner and files parsed, since construction. */
  readonly stats = { scanned: 0, parsed: 0 };
  private wrappers: readonly string[];
  /**
   * While indexAll runs: the paths (files, and folders standing for everything under them) that
   * another update (a file event, an open document, a folder refresh) wrote or removed since it
   * started. Those updates read the disk or the editor after the cold index did, so the cold index
   * never writes over them.
   */
  private updatedDuringIndex: Set<string> | undefined;
  /** The reader of single files (file events, a closed document), made once: its buffer is reused. */
  private singleReader: SourceReader | undefined;

  constructor(roots: string | readonly string[], options: IndexerOptions = {}) {
    this.rootFolders = (typeof roots === 'string' ? [roots] : [...new Set(roots)]).map((r) => path.resolve(r));
    this.wrappers = options.wrapperFunctions ?? [];
    this.methods = new MethodTable(this.wrappers);
    this.maxFileSize = options.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
    this.workers = Math.max(1, Math.floor(options.workers ?? 1));
    this.fastPath = options.fastPath ?? true;
    this.indexIgnoredRoots = options.indexIgnoredRoots ?? true;
    this.excludes = options.excludes;
  }

  get roots(): readonly string[] {
    return this.rootFolders;
  }

  setWrapperFunctions(names: readonly string[]): void {
    this.wrappers = names;
    this.methods = new MethodTable(names);
    this.singleReader = undefined;
  }

  /** Records that `target` (a file, or a folder and all under it) was updated outside a running cold index. */
  private updated(target: string): void {
    this.updatedDuringIndex?.add(target);
  }

  /** Whether the cold index must leave `file` alone: it, or a folder above it, was updated since the cold index started. */
  private updatedSinceListing(file: string): boolean {
    const updated = this.updatedDuringIndex;
    if (updated === undefined || updated.size === 0) {
      return false;
    }
    for (let end = file.length; end > 0; end = file.lastIndexOf(path.sep, end - 1)) {
      if (updated.has(file.slice(0, end))) {
        return true;
      }
    }
    return false;
  }

  /** A cold index's result for `file`, unless an update newer than its read came first (see updatedDuringIndex). */
  private setFromColdIndex(file: string, index: FileIndex | undefined): void {
    if (this.updatedSinceListing(file)) {
      return;
    }
    if (index === undefined) {
      this.forget(file);
    } else {
      this.setFile(file, index);
    }
  }

  /**
   * Indexes every source file; yields to the event loop between chunks and stops when cancelled.
   * Each file is read into a reused buffer and settled by the pre-filter or the lexical scanner;
   * only the files the scanner hands over are parsed. With `workers` > 1, worker threads start
   * before the walk and then claim chunks of the file list from a counter shared with this thread.
   */
  async indexAll(onProgress?: (p: IndexProgress) => void, cancel?: CancellationFlag): Promise<boolean> {
    // Updates made while it runs (file events, open documents) are newer than what it read: kept.
    this.updatedDuringIndex = new Set();
    try {
      return await this.coldIndex(onProgress, cancel);
    } finally {
      this.updatedDuringIndex = undefined;
    }
  }

  private async coldIndex(onProgress?: (p: IndexProgress) => void, cancel?: CancellationFlag): Promise<boolean> {
    // Workers run the compiled indexer; from TypeScript sources (tests) this thread does the work.
    const workerScript = fileURLToPath(new URL('./index-worker.js', import.meta.url));
    let done = 0;
    let total = 0;
    const progress = (n: number): void => {
      done += n;
      onProgress?.({ done, total });
    };
    // Loaded only when used: a single-threaded index does not load worker_threads.
    const IndexWorkers = this.workers > 1 && existsSync(workerScript) ? (await import('./worker-pool.js')).IndexWorkers : undefined;
    const pool =
      IndexWorkers !== undefined
        ? new IndexWorkers(workerScript, this.workers - 1, { wrapperFunctions: this.wrappers, maxFileSize: this.maxFileSize, fastPath: this.fastPath }, (batch) => {
            for (const index of batch.indexes) {
              this.setFromColdIndex(index.file, index);
            }
            this.stats.scanned += batch.scanned;
            this.stats.parsed += batch.parsed;
            progress(batch.done);
          })
        : undefined;
    const timing = TIMING ? { started: performance.now(), listed: 0, mainDone: 0 } : undefined;
    let files: string[];
    try {
      // One root (the usual case, and xp code-refs) is listed as is; several are merged without repeats.
      files =
        this.rootFolders.length === 1
          ? listSourceFiles(this.rootFolders[0]!, this.indexIgnoredRoots, this.excludes)
          : [...new Set(this.rootFolders.flatMap((r) => listSourceFiles(r, this.indexIgnoredRoots, this.excludes)))];
      if (timing !== undefined) {
        timing.listed = performance.now();
      }
    } catch (e) {
      pool?.stop();
      throw e;
    }
    total = files.length;
    onProgress?.({ done: 0, total });
    const chunks = Math.ceil(files.length / CHUNK);
    // One chunk is not worth a message: the workers stop and this thread takes it.
    const shared = chunks > 1 ? pool : undefined;
    if (shared === undefined) {
      pool?.stop();
    } else {
      shared.begin(files, CHUNK);
    }
    let unshared = 0;
    const claim = shared === undefined ? () => unshared++ : () => shared.claim();
    const reader = new SourceReader(this.methods, this.maxFileSize, this.fastPath);
    const toParse: { file: string; text: string }[] = [];
    let mine = 0;
    let cancelled = false;
    try {
      for (let c = claim(); c < chunks; c = claim()) {
        if (cancel?.isCancellationRequested === true) {
          cancelled = true;
          break;
        }
        mine++;
        const end = Math.min(files.length, (c + 1) * CHUNK);
        let settled = 0;
        for (let i = c * CHUNK; i < end; i++) {
          const file = files[i]!;
          const language = languageOf(file);
          const outcome = language === undefined ? undefined : reader.index(file, language);
          if (outcome?.kind === 'parse') {
            toParse.push({ file, text: outcome.text });
            continue;
          }
          if (outcome?.kind === 'settled') {
            this.stats.scanned++;
          }
          this.setFromColdIndex(file, outcome?.kind === 'settled' ? outcome.index : undefined);
          settled++;
        }
        progress(settled);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      for (let i = 0; i < toParse.length && !cancelled; i += BATCH) {
        if (cancel?.isCancellationRequested === true) {
          cancelled = true;
          break;
        }
        const batch = toParse.slice(i, i + BATCH);
        for (const { file, text } of batch) {
          this.setFromColdIndex(file, await this.extract(file, text));
        }
        progress(batch.length);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (e) {
      pool?.stop();
      throw e;
    }
    if (timing !== undefined) {
      timing.mainDone = performance.now();
    }
    if (shared !== undefined && cancelled) {
      shared.stop();
    } else if (shared !== undefined) {
      await shared.finish(chunks, mine);
    }
    if (timing !== undefined) {
      const t = (a: number, b: number): string => (b - a).toFixed(1);
      process.stderr.write(
        `xp index: ${files.length} files, ${chunks} chunks (${mine} here): list ${t(timing.started, timing.listed)} ms, this thread ${t(timing.listed, timing.mainDone)} ms, waiting for workers ${t(timing.mainDone, performance.now())} ms; ${this.stats.scanned} scanned, ${this.stats.parsed} parsed\n`,
      );
    }
    return !cancelled && cancel?.isCancellationRequested !== true;
  }

  /** Re-indexes one file from the given text (an open editor's content) and returns its index. */
  async indexText(file: string, text: string): Promise<FileIndex> {
    this.updated(file);
    return this.indexWithoutParse(file, text) ?? this.parse(file, text);
  }

  /**
   * Re-indexes one file from the disk as the cold index would (a file event, a document closed): a
   * file that is not a regular one (a symbolic link is not followed), cannot be read, or is larger
   * than the cold index reads (3 × maxFileSize bytes: no more is read) is forgotten.
   */
  async indexFromDisk(file: string): Promise<void> {
    this.updated(file);
    const language = languageOf(file);
    this.singleReader ??= new SourceReader(this.methods, this.maxFileSize, this.fastPath);
    const outcome = language === undefined ? undefined : this.singleReader.index(file, language);
    if (outcome?.kind === 'parse') {
      await this.parse(file, outcome.text);
    } else if (outcome?.kind === 'settled') {
      this.stats.scanned++;
      this.setFile(file, outcome.index);
    } else {
      this.forget(file);
    }
  }

  /**
   * A file's text from the disk when the cold index would read it, for positions in a file the editor
   * has not opened: undefined when it is not a regular file or holds more than 3 × maxFileSize bytes.
   */
  readText(file: string): string | undefined {
    return readSourceText(file, 3 * this.maxFileSize);
  }

  /** Indexes a file by a tree-sitter parse. */
  private async parse(file: string, text: string): Promise<FileIndex> {
    const index = await this.extract(file, text);
    this.setFile(file, index);
    return index;
  }

  /** A file's index by a tree-sitter parse, not stored. */
  private async extract(file: string, text: string): Promise<FileIndex> {
    this.stats.parsed++;
    return extractReferences(await grammarFor(languageOf(file)!), file, text, this.methods);
  }

  /** Indexes a file by the pre-filter or the lexical scanner; undefined when it needs a parse. */
  private indexWithoutParse(file: string, text: string): FileIndex | undefined {
    const language = languageOf(file);
    // A NUL near the start: a binary file with a source extension (the cold index skips it too).
    if (language === undefined || text.length > this.maxFileSize || text.slice(0, BINARY_PROBE).includes('\0') || !this.methods.mayHaveCalls(text)) {
      const empty: FileIndex = { file, references: [], slots: [] };
      this.setFile(file, empty);
      return empty;
    }
    const scanned = this.fastPath ? scanReferences(language, file, text, this.methods) : undefined;
    if (scanned !== undefined) {
      this.stats.scanned++;
      this.setFile(file, scanned);
    }
    return scanned;
  }

  /** Loads the grammars up front so the first request does not pay for them. */
  async warmUp(languages: readonly Language[]): Promise<void> {
    await Promise.all(languages.map((l) => grammarFor(l)));
  }

  /** Forgets `file`; false when it held no reference. */
  remove(file: string): boolean {
    this.updated(file);
    return this.forget(file);
  }

  /**
   * Forgets every file indexed under any of `folders` (paths that are no folder now: a file, a link,
   * nothing), except those `keep` names: one pass over the index for a whole batch of file events.
   * Returns the number of files forgotten.
   */
  removeUnderAny(folders: ReadonlySet<string>, keep: (file: string) => boolean = () => false): number {
    for (const folder of folders) {
      this.updated(folder);
    }
    // Nearly always none: a path that was a folder with indexed files and is not one now.
    if (![...folders].some((f) => this.filesUnder.has(f))) {
      return 0;
    }
    let removed = 0;
    for (const file of this.files.keys()) {
      for (let end = file.lastIndexOf(path.sep); end > 0; end = file.lastIndexOf(path.sep, end - 1)) {
        if (folders.has(file.slice(0, end))) {
          if (!keep(file)) {
            this.forget(file);
            removed++;
          }
          break;
        }
      }
    }
    return removed;
  }

  /**
   * Forgets `target` and, when it was a folder, every file indexed under it: editors report a deleted
   * or renamed folder as one event for its path. Files `keep` names are left alone. Returns the
   * number of files forgotten.
   */
  removeUnder(target: string, keep: (file: string) => boolean = () => false): number {
    this.updated(target);
    // A path that held an index was a file: nothing is under it (the usual case, without a scan).
    if (!keep(target) && this.forget(target)) {
      return 1;
    }
    if (!target.endsWith(path.sep) && !this.filesUnder.has(target)) {
      return 0;
    }
    const prefix = target.endsWith(path.sep) ? target : target + path.sep;
    let removed = 0;
    for (const file of this.files.keys()) {
      if ((file === target || file.startsWith(prefix)) && !keep(file)) {
        this.forget(file);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Brings the index of everything under the folder `dir` in line with the disk, as a cold index
   * would: indexes the source files listed there and forgets the indexed files it no longer lists
   * (deleted with the folder, or now excluded by a .gitignore). Files `keep` names (open documents,
   * indexed from the editor's text) are left alone. Returns the number of files listed.
   */
  async refreshFolder(dir: string, keep: (file: string) => boolean = () => false): Promise<number> {
    this.updated(dir);
    const listed = this.listUnder(dir);
    const current = new Set(listed);
    const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
    // A file that was at this path before the folder (replaced in one branch switch).
    if (!keep(dir)) {
      this.forget(dir);
    }
    for (const file of [...this.files.keys()]) {
      if (file.startsWith(prefix) && !current.has(file) && !keep(file)) {
        this.forget(file);
      }
    }
    const reader = new SourceReader(this.methods, this.maxFileSize, this.fastPath);
    for (let i = 0; i < listed.length; i++) {
      const file = listed[i]!;
      if (keep(file)) {
        continue;
      }
      const outcome = reader.index(file, languageOf(file)!);
      if (outcome.kind === 'parse') {
        await this.parse(file, outcome.text);
      } else if (outcome.kind === 'settled') {
        this.stats.scanned++;
        this.setFile(file, outcome.index);
      } else {
        this.forget(file);
      }
      if (i % BATCH === BATCH - 1) {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    return listed.length;
  }

  /** Adds a root folder and indexes its files (see refreshFolder); false when it was one already. */
  async addRoot(root: string, keep?: (file: string) => boolean): Promise<boolean> {
    const folder = path.resolve(root);
    if (this.rootFolders.includes(folder)) {
      return false;
    }
    this.rootFolders.push(folder);
    await this.refreshFolder(folder, keep);
    return true;
  }

  /** Removes a root folder: its files are forgotten, except those another root holds and those `keep` names. */
  removeRoot(root: string, keep: (file: string) => boolean = () => false): boolean {
    const folder = path.resolve(root);
    const at = this.rootFolders.indexOf(folder);
    if (at < 0) {
      return false;
    }
    this.rootFolders.splice(at, 1);
    this.removeUnder(folder, (file) => keep(file) || this.includes(file));
    return true;
  }

  /** See MethodTable.typingSlot: a flag key being typed in a call that is not complete yet. */
  typingSlot(line: string, character: number): ReturnType<MethodTable['typingSlot']> {
    return this.methods.typingSlot(line, character);
  }

  /** Whether `file` belongs to this index's workspace: one of its roots lists it (see isWorkspaceSourceFile). */
  includes(file: string): boolean {
    return this.rootFolders.some((r) => isWorkspaceSourceFile(r, file, this.indexIgnoredRoots, this.excludes));
  }

  /** The files the roots list under `dir`, each root with its own .gitignore files (a root inside `dir` lists all of its own). */
  private listUnder(dir: string): string[] {
    const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
    const lists = this.rootFolders
      .map((r) => (r.startsWith(prefix) ? listSourceFiles(r, this.indexIgnoredRoots, this.excludes) : listSourceFilesUnder(r, dir, this.indexIgnoredRoots, this.excludes)))
      .filter((l) => l.length > 0);
    return lists.length === 1 ? lists[0]! : [...new Set(lists.flat())];
  }

  fileIndex(file: string): FileIndex | undefined {
    return this.files.get(file);
  }

  references(): FlagReference[] {
    const all: FlagReference[] = [];
    for (const f of this.files.values()) {
      all.push(...f.references);
    }
    return all;
  }

  referencesTo(flagKey: string): FlagReference[] {
    return this.references().filter((r) => r.flagKey === flagKey);
  }

  keys(): Set<string> {
    return new Set(this.references().map((r) => r.flagKey));
  }

  get fileCount(): number {
    return this.files.size;
  }

  private setFile(file: string, index: FileIndex): void {
    if (index.references.length === 0 && index.slots.length === 0) {
      this.forget(file);
    } else {
      if (!this.files.has(file)) {
        this.countUnder(file, 1);
      }
      this.files.set(file, index);
    }
  }

  /** Removes `file`'s index; false when it had none. */
  private forget(file: string): boolean {
    if (!this.files.delete(file)) {
      return false;
    }
    this.countUnder(file, -1);
    return true;
  }

  /** Counts `file` in (1) or out (-1) of the folders above it (see filesUnder). */
  private countUnder(file: string, by: 1 | -1): void {
    for (let end = file.lastIndexOf(path.sep); end > 0; end = file.lastIndexOf(path.sep, end - 1)) {
      const folder = file.slice(0, end);
      const n = (this.filesUnder.get(folder) ?? 0) + by;
      if (n === 0) {
        this.filesUnder.delete(folder);
      } else {
        this.filesUnder.set(folder, n);
      }
    }
  }
}
