/** @xp/sdk/node — Node-only additions: bootstrap from a ruleset file. */
import { readFileSync } from 'node:fs';
import { ExperimentationClient as BaseClient } from './client.js';
import { RulesetError } from './errors.js';
import { loadRuleset } from './ruleset-state.js';
import type { ClientOptions } from './types.js';

export * from './index.js';

/** Reads and validates a ruleset file (e.g. one saved from `client.getSnapshot()`); throws RulesetError. */
export function loadRulesetFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new RulesetError(`cannot read the ruleset file ${path}`, { cause: e });
  }
  const loaded = loadRuleset(text);
  if (loaded instanceof RulesetError) {
    throw loaded;
  }
  // The server-only list goes with the document: a client-side key's client drops what it names.
  return loaded.serverOnly === undefined ? loaded.document : { ...loaded.document, serverOnly: loaded.serverOnly };
}

export interface NodeClientOptions extends Omit<ClientOptions, 'bootstrap'> {
  /** A ruleset document, or the path of a JSON file holding one (read once, synchronously, at construction). */
  readonly bootstrap?: unknown;
}

/** The client, plus `bootstrap` given as a file path. An unreadable file is logged, never thrown. */
export class ExperimentationClient extends BaseClient {
  constructor(sdkKey: string, options: NodeClientOptions = {}) {
    const { bootstrap: given, ...rest } = options;
    let bootstrap = given;
    if (typeof given === 'string') {
      try {
        bootstrap = loadRulesetFile(given);
      } catch (e) {
        (options.logger ?? console).error(`xp: bootstrap file not used: ${(e as Error).message}`);
        bootstrap = undefined;
      }
    }
    super(sdkKey, bootstrap === undefined ? rest : { ...rest, bootstrap });
  }
}
