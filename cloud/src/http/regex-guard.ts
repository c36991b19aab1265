/**
 * Targeting regexes run on attributes the caller chooses (a client-side SDK key is public). Patterns
 * that can backtrack exponentially are refused when saved (@xp/shared regexBacktrackingRisk), but
 * a ruleset stored before that check, or a polynomial pattern on a long value, could still hold a
 * request — and, Node being single-threaded, every other one — for seconds or hours. V8 has a
 * linear-time engine for regexes without backreferences or lookarounds; this flag makes it take
 * over from the backtracking one once a match backtracks too much. It applies to the whole process
 * and to regexes compiled after it is set; the servers set it before they serve anything.
 */
import { setFlagsFromString } from 'node:v8';

let guarded = false;

export function guardRegexBacktracking(): void {
  if (!guarded) {
    setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
    guarded = true;
  }
}
