import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { AppError, AppErrorCode } from '../errors.js';

/**
 * Password hashing with scrypt and a NIST SP 800-63B style strength check. Stored hashes carry their
 * own parameters (`scrypt$N$r$p$salt$hash`, base64url) so the cost can be raised without a migration:
 * old hashes still verify, and `needsRehash` tells the login path to re-hash with the current cost.
 */

export interface ScryptParams {
  /** CPU/memory cost; a power of two. */
  readonly N: number;
  /** Block size. */
  readonly r: number;
  /** Parallelisation. */
  readonly p: number;
}

/** N = 2^15, r = 8, p = 1: 32 MiB and ~85 ms per hash on the development machine (2 vCPU, Node 20). */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

const ALGORITHM = 'scrypt';
const SALT_BYTES = 16;
const KEY_BYTES = 32;
// Bounds on parameters read back from storage, so a corrupted or planted row cannot exhaust memory or CPU.
const MAX_LOG2_N = 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_MEMORY_BYTES = 256 * 1024 * 1024;
const DECIMAL = /^[1-9][0-9]{0,9}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** scrypt computations at once: libuv's pool has 4 threads, which file I/O (PGlite) and DNS share. */
export const MAX_CONCURRENT_HASHES = 2;
/** Hashes waiting for a slot; one more is refused (503, Retry-After: 1). */
export const MAX_QUEUED_HASHES = 64;
export const HASHING_BUSY_MESSAGE = 'too many sign-ins at once; retry in a moment';

/**
 * Runs at most `maxConcurrent` tasks at once, with at most `maxQueued` waiting (first come, first
 * served); a task beyond those is refused with AppError Unavailable (503, Retry-After: 1). A slot is
 * given back when its task settles, failed or not.
 */
export class ConcurrencyLimiter {
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
    private readonly busyMessage: string = HASHING_BUSY_MESSAGE,
  ) {}

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.#waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.maxConcurrent) {
      if (this.#waiting.length >= this.maxQueued) {
        throw new AppError(AppErrorCode.Unavailable, this.busyMessage, { retryAfterSeconds: 1 });
      }
      // The slot is handed over by the task that ends (#active is not decremented in between).
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active++;
    }
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) {
        this.#active--;
      } else {
        next();
      }
    }
  }
}

/**
 * Every scrypt of this process. Each takes a libuv thread for ~85 ms: a burst of sign-ins (or of
 * guesses) would otherwise hold all four, and the database's file I/O would wait behind them.
 */
const hashing = new ConcurrencyLimiter(MAX_CONCURRENT_HASHES, MAX_QUEUED_HASHES);

function scryptAsync(password: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  return hashing.run(() => scryptNow(password, salt, keyLength, params));
}

function scryptNow(password: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // scrypt needs 128·N·r bytes; Node's default maxmem (32 MiB) is exactly that at the default cost, so allow headroom.
    const maxmem = 256 * params.N * params.r;
    scrypt(password, salt, keyLength, { N: params.N, r: params.r, p: params.p, maxmem }, (error, key) => {
      if (error) {
        reject(error);
      } else {
        resolve(key);
      }
    });
  });
}

// Compatibility normalisation so the same password typed on different keyboards or platforms matches.
const normalise = (password: string): string => password.normalize('NFKC');

function checkParams(params: ScryptParams): boolean {
  const { N, r, p } = params;
  return (
    Number.isSafeInteger(N) &&
    N >= 2 &&
    N <= 2 ** MAX_LOG2_N &&
    (N & (N - 1)) === 0 &&
    Number.isSafeInteger(r) &&
    r >= 1 &&
    r <= MAX_R &&
    Number.isSafeInteger(p) &&
    p >= 1 &&
    p <= MAX_P &&
    128 * N * r <= MAX_MEMORY_BYTES
  );
}

/** Hashes a password with a fresh random salt. `params` exists so tests can use a cheap cost. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<string> {
  if (!checkParams(params)) {
    throw new RangeError('scrypt parameters out of range');
  }
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(normalise(password), salt, KEY_BYTES, params);
  return [ALGORITHM, params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export interface ParsedPasswordHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Parses a stored hash; undefined when it is not a well-formed `scrypt$N$r$p$salt$hash` within bounds. */
export function parsePasswordHash(stored: string): ParsedPasswordHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6) {
    return undefined;
  }
  const [algorithm, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  if (algorithm !== ALGORITHM || ![n, r, p].every((x) => DECIMAL.test(x)) || ![salt, hash].every((x) => BASE64URL.test(x))) {
    return undefined;
  }
  const params: ScryptParams = { N: Number(n), r: Number(r), p: Number(p) };
  const saltBytes = Buffer.from(salt, 'base64url');
  const hashBytes = Buffer.from(hash, 'base64url');
  if (!checkParams(params) || saltBytes.length < SALT_BYTES || saltBytes.length > 64 || hashBytes.length < 16 || hashBytes.length > 64) {
    return undefined;
  }
  return { params, salt: saltBytes, hash: hashBytes };
}

/** True when the password matches; false for a wrong password or a malformed stored hash (never throws). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (parsed === undefined) {
    return false;
  }
  // A refusal for a full queue (503) is the caller's to see, not a wrong password.
  return hashing.run(async () => {
    try {
      const key = await scryptNow(normalise(password), parsed.salt, parsed.hash.length, parsed.params);
      return timingSafeEqual(key, parsed.hash);
    } catch {
      return false;
    }
  });
}

/** True when a stored hash uses a lower cost than `params` (or is unreadable) and should be re-hashed at next login. */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): boolean {
  const parsed = parsePasswordHash(stored);
  if (parsed === undefined) {
    return true;
  }
  const current = parsed.params;
  return current.N < params.N || current.r < params.r || current.p < params.p;
}

/** Why a password was refused. */
export const PasswordProblemCode = {
  /** Fewer than `MIN_PASSWORD_LENGTH` characters. */
  TooShort: 'TOO_SHORT',
  /** More than `MAX_PASSWORD_LENGTH` characters. */
  TooLong: 'TOO_LONG',
  /** Only digits: dates, phone numbers and PINs are guessed first. */
  OnlyDigits: 'ONLY_DIGITS',
  /** One character repeated, or a short pattern repeated, or a keyboard or alphabet run. */
  Repetitive: 'REPETITIVE',
  /** A commonly used password, possibly padded with digits or symbols. */
  Common: 'COMMON',
  /** Contains the user's email name or display name. */
  ContainsUserInfo: 'CONTAINS_USER_INFO',
} as const;
export type PasswordProblemCode = (typeof PasswordProblemCode)[keyof typeof PasswordProblemCode];

export interface PasswordProblem {
  readonly code: PasswordProblemCode;
  readonly message: string;
}

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 256;

/**
 * Widely used passwords from public breach corpora and the usual themes they come from (names, sports,
 * seasons, months, days, places, keyboard walks), lower case. A password is refused when, after
 * stripping leading and trailing digits and symbols and undoing common letter substitutions
 * (`p@ssw0rd`), it is one of these, or one of these repeated (`Summer2024!!`, `dragondragon`).
 */
export const COMMON_PASSWORDS: ReadonlySet<string> = new Set(
  `
   123456 password 123456789 12345678 12345 qwerty 1234567 111111 1234567890 123123 abc123 password1
   iloveyou 1q2w3e4r 000000 qwerty123 zaq12wsx dragon sunshine letmein princess monkey football
   baseball welcome admin login master shadow superman batman trustno1 hello freedom whatever qazwsx
   michael jordan jennifer hunter hunter2 ranger buster soccer hockey killer george charlie andrew
   michelle love jessica pepper daniel access joshua maggie starwars silver william dallas yankees
   orange thomas ginger summer winter spring autumn fall january february march april may june july
   august september october november december monday tuesday wednesday thursday friday saturday sunday
   computer internet secret cheese mustang taylor matrix harley ashley bailey passw0rd p@ssw0rd
   passwort motdepasse contrasena senha parola wachtwoord salasana haslo heslo lozinka jelszo sifre
   qwertz azerty asdfgh asdfghjkl zxcvbn zxcvbnm qwertyuiop qweasd qweasdzxc 1qaz2wsx 1qazxsw2 zaq1xsw2
   q1w2e3r4 q1w2e3r4t5 a1b2c3 a1b2c3d4 abcd1234 abc12345 abcdef abcdefg aaaaaa 654321 7777777 888888
   999999 121212 112233 123321 123654 159753 147258 147258369 987654321 666666 696969 131313 0987654321
   11111111 22222222 55555555 123qwe qwe123 asd123 zxc123 iloveu iloveyou1 loveyou lovely loveme
   fuckyou fuckme babygirl baby babyboy angel angels jesus christ god blessed faith heaven forever
   flower flowers rainbow butterfly sunflower chocolate cookie cupcake candy sugar honey banana apple
   cherry peaches strawberry pumpkin tigger tiger lion eagle eagles bear bears dolphin dolphins monkey1
   donkey horse horses cowboy cowboys pirate pirates ninja samurai wizard merlin gandalf frodo hobbit
   pokemon pikachu naruto sasuke goku superstar rockstar player gamer games minecraft fortnite roblox
   zelda mario nintendo playstation xbox starcraft warcraft diablo arsenal chelsea liverpool barcelona
   realmadrid juventus milan manchester united united1 lakers celtics steelers cowboys1 packers
   patriots redsox yankees1 nascar ferrari porsche mercedes corvette camaro toyota honda nissan bmw
   audi jaguar yamaha harley1 ducati kawasaki suzuki chevy ford mustang1 london paris berlin madrid
   roma tokyo newyork chicago boston texas california florida america canada australia england france
   germany italy spain mexico brazil india china russia hello123 hello1 welcome1 welcome123 admin123
   administrator root toor guest user default changeme letmein1 secret1 master1 access14 temp temp123
   test test123 testing testtest demo sample example qwerty1 password12 password123 passw0rd1
   mypassword newpassword oldpassword mypass pass pass123 pass1234 passpass passcode passphrase
   passport login123 system server database oracle mysql postgres security secure private public office
   company business manager support service sales marketing student school college university teacher
   doctor nurse police soldier army navy marine jordan23 michael1 jessica1 ashley1 charlie1 daniel1
   thomas1 robert richard joseph james john david chris christopher matthew anthony mark steven kevin
   brian jason justin ryan eric nicole amanda sarah melissa stephanie heather elizabeth amber samantha
   lauren hannah emily jasmine sophie olivia emma chloe isabella mia ava grace lucy lily daisy rose
   ruby family friends friend forever1 together happy happiness smile lucky lucky7 winner victory
   champion money dollar million rich cash bitcoin crypto computer1 laptop iphone android samsung
   google yahoo hotmail gmail outlook facebook twitter instagram linkedin youtube netflix amazon
   microsoft windows apple1 macbook linux ubuntu qwerty12 qwerty1234 asdf asdf1234 zxcv1234 1234qwer
   12qwaszx 1q2w3e 1q2w3e4r5t 1q2w3e4r5t6y nothing anything something everything whatever1 nobody
   somebody superman1 batman1 spiderman ironman hulk thor captain avengers marvel starwars1 skywalker
   vader jedi yoda chewbacca matrix1 neo trinity morpheus dragon1 dragons shadow1 killer1 hunter1
   ranger1 sniper correcthorse correcthorsebatterystaple
  `
    .trim()
    .split(/\s+/),
);

const RUNS = ['abcdefghijklmnopqrstuvwxyz', '0123456789', 'qwertyuiopasdfghjklzxcvbnm', '1qaz2wsx3edc4rfv5tgb6yhn7ujm'];
const RUNS_BOTH_WAYS = [...RUNS, ...RUNS.map((run) => Array.from(run).reverse().join(''))];

/** Length in Unicode code points, as NIST counts characters (not UTF-16 units or bytes). */
function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) {
    n++;
  }
  return n;
}

/** True when the string is one short unit (up to 4 characters) repeated, e.g. `aaaa…` or `abcabc…`. */
function isRepeatedUnit(s: string): boolean {
  for (let unit = 1; unit <= 4 && unit < s.length; unit++) {
    if (s.slice(0, unit).repeat(Math.ceil(s.length / unit)).startsWith(s)) {
      return true;
    }
  }
  return false;
}

function isRun(s: string): boolean {
  return RUNS_BOTH_WAYS.some((run) => run.repeat(Math.ceil(s.length / run.length) + 1).includes(s));
}

// Common letter substitutions, undone before comparing with the common list (`p@ssw0rd` is `password`).
const LEET: Readonly<Record<string, string>> = { '@': 'a', '4': 'a', '8': 'b', '3': 'e', '6': 'g', '1': 'i', '!': 'i', '0': 'o', '$': 's', '5': 's', '7': 't', '+': 't' };

/** The password without leading and trailing digits and symbols: `summer` for `Summer2024!!`. */
const coreOf = (lower: string): string => lower.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');

/** Whether the password is a common one, repeated or padded with digits and symbols (`password1234!`, `P@ssw0rd!`). */
function isCommon(lower: string): boolean {
  const deLeet = (t: string): string => Array.from(t, (c) => LEET[c] ?? c).join('');
  const core = coreOf(lower);
  // Trailing padding goes first, so a leading substitution survives it (`@dmin2024` is `admin`).
  const candidates = [lower, core, coreOf(deLeet(core)), coreOf(deLeet(lower.replace(/[^\p{L}]+$/u, '')))].filter((c) => c.length > 0);
  for (const common of COMMON_PASSWORDS) {
    if (candidates.some((c) => c === common || (c.length % common.length === 0 && c === common.repeat(c.length / common.length)))) {
      return true;
    }
  }
  return false;
}

/** Fewest different characters (ignoring case) a password must have: `xpxpxpxpxpxp1` has 3. */
export const MIN_DISTINCT_CHARACTERS = 5;

function distinctCharacters(lower: string): number {
  return new Set(Array.from(lower)).size;
}

/** A repeated unit or a run, as is or once padding (`Aaaaaaaaaaa1`, `xpxpxpxpxpxp1`, `abcdefghij12`) is stripped. */
function isRepetitive(lower: string): boolean {
  const core = coreOf(lower);
  return (
    isRepeatedUnit(lower) ||
    isRun(lower) ||
    distinctCharacters(lower) < MIN_DISTINCT_CHARACTERS ||
    (core.length >= 6 && core.length < lower.length && (isRepeatedUnit(core) || isRun(core)))
  );
}

/**
 * Problems with a new password; empty when acceptable. NIST-style: length matters most, no rules like
 * "one upper case, one symbol" (they push people to `Password1!`); instead refuse the guessable shapes.
 * `context` holds the user's email and name, which must not appear in the password.
 */
export function validatePasswordStrength(
  password: string,
  context: { readonly email?: string; readonly name?: string } = {},
): PasswordProblem[] {
  const normalised = normalise(password);
  const length = codePointLength(normalised);
  const problems: PasswordProblem[] = [];
  if (length < MIN_PASSWORD_LENGTH) {
    problems.push({ code: PasswordProblemCode.TooShort, message: `must be at least ${MIN_PASSWORD_LENGTH} characters` });
  }
  if (length > MAX_PASSWORD_LENGTH) {
    problems.push({ code: PasswordProblemCode.TooLong, message: `must be at most ${MAX_PASSWORD_LENGTH} characters` });
    // The pattern checks below are pointless on an over-long input and would only cost time.
    return problems;
  }
  if (length === 0) {
    return problems;
  }
  const lower = normalised.toLowerCase();
  if (/^[0-9]+$/.test(lower)) {
    problems.push({ code: PasswordProblemCode.OnlyDigits, message: 'must not be only digits' });
  }
  if (isRepetitive(lower)) {
    problems.push({ code: PasswordProblemCode.Repetitive, message: `must not be a repeated character, pattern or keyboard run, and must have at least ${MIN_DISTINCT_CHARACTERS} different characters` });
  }
  if (isCommon(lower)) {
    problems.push({ code: PasswordProblemCode.Common, message: 'is a commonly used password' });
  }
  const words = [context.email?.split('@')[0], context.name]
    .flatMap((w) => (w === undefined ? [] : w.toLowerCase().split(/[\s._+-]+/)))
    .filter((w) => w.length >= 4);
  if (words.some((w) => lower.includes(w))) {
    problems.push({ code: PasswordProblemCode.ContainsUserInfo, message: 'must not contain your name or email' });
  }
  return problems;
}
