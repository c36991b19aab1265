/**
 * The targeting attributes of a visitor following a split-URL link (GET /r/{experimentKey}),
 * derived from the request alone: its URL and query parameters, User-Agent, Accept-Language and
 * Referer. Every value is bounded, and no header, however odd, is refused: what cannot be read is left out.
 */
import { badStringReason } from '../text.js';

/** Browser families `browser` takes. */
export const Browser = {
  /** Chrome and Chromium, on every platform (CriOS on iOS), Android WebView. */
  Chrome: 'chrome',
  /** Firefox, on every platform (FxiOS on iOS). */
  Firefox: 'firefox',
  /** Safari on macOS and iOS. */
  Safari: 'safari',
  /** Chromium Edge and legacy Edge, on every platform. */
  Edge: 'edge',
  /** Anything else: Opera, Samsung Internet, in-app browsers, bots, no User-Agent. */
  Other: 'other',
} as const;
export type Browser = (typeof Browser)[keyof typeof Browser];

/** Device classes `deviceType` takes. */
export const DeviceType = {
  /** Phones: iPhone, iPod, Android with "Mobile", other "Mobi" user agents. */
  Mobile: 'mobile',
  /** iPad (when it says so), Android without "Mobile", "Tablet" user agents. */
  Tablet: 'tablet',
  /** Everything else, including an iPad asking for desktop sites (it sends a Mac's User-Agent). */
  Desktop: 'desktop',
} as const;
export type DeviceType = (typeof DeviceType)[keyof typeof DeviceType];

/** Operating systems `os` takes. */
export const Os = {
  /** Windows, including Windows Phone. */
  Windows: 'windows',
  /** macOS (and iPadOS asking for desktop sites). */
  MacOs: 'macos',
  /** iOS and iPadOS. */
  Ios: 'ios',
  /** Android. */
  Android: 'android',
  /** ChromeOS. */
  ChromeOs: 'chromeos',
  /** Linux desktops. */
  Linux: 'linux',
  /** Anything else or unknown. */
  Other: 'other',
} as const;
export type Os = (typeof Os)[keyof typeof Os];

export interface UserAgentClass {
  readonly browser: Browser;
  readonly deviceType: DeviceType;
  readonly os: Os;
  /** A crawler, preview fetcher or HTTP library that says what it is. */
  readonly bot: boolean;
}

/** The longest User-Agent kept (real ones rarely pass 400 characters); the rest is cut before anything reads it. */
export const MAX_USER_AGENT_CHARS = 512;
/** The longest `url` or `referrer` kept. */
export const MAX_URL_CHARS = 2048;
/** Most query parameters `query` holds; the longest name read and the longest value kept. */
export const MAX_QUERY_PARAMS = 20;
export const MAX_QUERY_NAME_CHARS = 64;
/** Short enough that `utm_campaign` and its value fit an exposure's attributes (256 characters). */
export const MAX_QUERY_VALUE_CHARS = 200;
/** Campaign parameters that become attributes of their own, so exposures (flat attributes only) carry them. */
export const UTM_PARAMETERS = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'] as const;
/** Read from Accept-Language: enough for any real header's first preferences. */
const MAX_ACCEPT_LANGUAGE_CHARS = 256;

// One pass each over at most MAX_USER_AGENT_CHARS characters; none of them can backtrack far.
// (?<!cu): CUBOT is a phone maker, not a crawler.
const BOT = /(?<!cu)bot\b|crawl|spider|slurp|facebookexternalhit|embedly|preview|headless|lighthouse|curl\/|wget\/|python-requests|go-http-client|okhttp|java\//i;
const EDGE = /\b(?:Edg|EdgA|EdgiOS|Edge)\//;
const FIREFOX = /\b(?:Firefox|FxiOS)\//;
const OTHER_CHROMIUM = /\b(?:OPR|Opera|SamsungBrowser|UCBrowser|YaBrowser|Vivaldi)\//;
const CHROME = /\b(?:Chrome|CriOS|Chromium)\//;
const SAFARI = /\bVersion\/[\d.]+ (?:Mobile\/\w+ )?Safari\//;

/** Browser, device type and OS from a User-Agent, by a few fixed patterns (no database, no dependency). */
export function classifyUserAgent(userAgent: string): UserAgentClass {
  const ua = userAgent.slice(0, MAX_USER_AGENT_CHARS);
  const bot = BOT.test(ua);
  const os = osOf(ua);
  return { browser: bot ? Browser.Other : browserOf(ua, os), deviceType: deviceTypeOf(ua, os), os, bot };
}

function osOf(ua: string): Os {
  if (/Windows/.test(ua)) {
    return Os.Windows;
  }
  if (/iPhone|iPad|iPod/.test(ua)) {
    return Os.Ios;
  }
  if (/Android/.test(ua)) {
    return Os.Android;
  }
  if (/CrOS/.test(ua)) {
    return Os.ChromeOs;
  }
  if (/Mac OS X|Macintosh/.test(ua)) {
    return Os.MacOs;
  }
  return /Linux|X11/.test(ua) ? Os.Linux : Os.Other;
}

function browserOf(ua: string, os: Os): Browser {
  if (EDGE.test(ua)) {
    return Browser.Edge;
  }
  if (FIREFOX.test(ua)) {
    return Browser.Firefox;
  }
  if (OTHER_CHROMIUM.test(ua)) {
    return Browser.Other;
  }
  if (CHROME.test(ua)) {
    return Browser.Chrome;
  }
  // The old Android browser also says "Version/4.0 … Safari/".
  return SAFARI.test(ua) && (os === Os.MacOs || os === Os.Ios) ? Browser.Safari : Browser.Other;
}

function deviceTypeOf(ua: string, os: Os): DeviceType {
  if (/iPad|Tablet/.test(ua)) {
    return DeviceType.Tablet;
  }
  if (/iPhone|iPod|Mobi|Windows Phone/.test(ua)) {
    return DeviceType.Mobile;
  }
  // Android phones say "Mobile"; Android tablets do not.
  return os === Os.Android ? DeviceType.Tablet : DeviceType.Desktop;
}

/**
 * The primary language subtag of the visitor's most preferred language (`fr` for
 * `fr-CH, fr;q=0.9, en;q=0.8`), lower case; undefined when there is none to read.
 */
export function primaryLanguage(acceptLanguage: string | undefined): string | undefined {
  let best: string | undefined;
  let bestQ = 0;
  for (const entry of (acceptLanguage ?? '').slice(0, MAX_ACCEPT_LANGUAGE_CHARS).split(',')) {
    const [range = '', ...params] = entry.split(';');
    const tag = /^([a-z]{2,3})(?:-|$)/i.exec(range.trim())?.[1]?.toLowerCase();
    const qParam = params.map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/i.exec(p)?.[1]).find((q) => q !== undefined);
    const q = qParam === undefined ? 1 : Number(qParam);
    // The first of equal preferences wins, as the header lists them in order.
    if (tag !== undefined && q > bestQ) {
      best = tag;
      bestQ = q;
    }
  }
  return best;
}

/** What a request tells about the visitor, the headers already read. */
export interface VisitorRequest {
  /** The incoming URL as the browser requested it (https behind a TLS proxy that says so), the SDK key parameter already removed. */
  readonly url: URL;
  readonly userAgent?: string | undefined;
  readonly acceptLanguage?: string | undefined;
  readonly referrer?: string | undefined;
}

/** The attributes /r evaluates a visitor with (all but `id`, which the cookie gives). */
export interface VisitorAttributes {
  readonly url: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly userAgent?: string;
  readonly browser: Browser;
  readonly deviceType: DeviceType;
  readonly os: Os;
  readonly bot: boolean;
  readonly language?: string;
  readonly referrer?: string;
  readonly utm_source?: string;
  readonly utm_medium?: string;
  readonly utm_campaign?: string;
  readonly utm_term?: string;
  readonly utm_content?: string;
}

/**
 * The derived attributes that stay out of exposures: raw strings that may carry personal data
 * (emails or tokens in URLs) or fingerprint the visitor, and the path (the link itself). `query`,
 * not flat, stays out too; its UTM parameters go as attributes of their own.
 */
export const UNSTORED_VISITOR_ATTRIBUTES: readonly string[] = ['url', 'path', 'userAgent', 'referrer'];

/**
 * `s` cut to `max` characters without splitting a surrogate pair; undefined when not storable (a
 * NUL from `%00`), as exposures carry some of these values.
 */
function bounded(s: string | undefined, max: number): string | undefined {
  const cut = s === undefined || s.length <= max ? s : s.slice(0, /[\uD800-\uDBFF]/.test(s.charAt(max - 1)) ? max - 1 : max);
  return cut === undefined || badStringReason(cut) !== undefined ? undefined : cut;
}

const nonEmpty = (s: string | undefined): string | undefined => (s === '' ? undefined : s);

/** Derives a visitor's attributes from their request; never throws. */
export function visitorAttributes(request: VisitorRequest): VisitorAttributes {
  const userAgent = nonEmpty(bounded(request.userAgent, MAX_USER_AGENT_CHARS));
  const referrer = nonEmpty(bounded(request.referrer, MAX_URL_CHARS));
  const query = queryOf(request.url.searchParams);
  const language = primaryLanguage(request.acceptLanguage);
  const utm: Record<string, string> = {};
  for (const name of UTM_PARAMETERS) {
    const value = query[name];
    if (value !== undefined && value !== '') {
      utm[name] = value;
    }
  }
  return {
    url: bounded(request.url.toString(), MAX_URL_CHARS) ?? '',
    path: bounded(request.url.pathname, MAX_URL_CHARS) ?? '',
    query,
    ...(userAgent === undefined ? {} : { userAgent }),
    ...classifyUserAgent(userAgent ?? ''),
    ...(language === undefined ? {} : { language }),
    ...(referrer === undefined ? {} : { referrer }),
    ...utm,
  };
}

/**
 * The first MAX_QUERY_PARAMS parameters (`?flag` is ''), the first value of a repeated one, cut to
 * length; overlong or unstorable names and values are left out.
 */
function queryOf(params: URLSearchParams): Readonly<Record<string, string>> {
  const entries = new Map<string, string>();
  for (const [name, raw] of params) {
    if (entries.size >= MAX_QUERY_PARAMS) {
      break;
    }
    const value = bounded(raw, MAX_QUERY_VALUE_CHARS);
    if (value !== undefined && name !== '' && name.length <= MAX_QUERY_NAME_CHARS && badStringReason(name) === undefined && !entries.has(name)) {
      entries.set(name, value);
    }
  }
  // fromEntries defines own properties, so a parameter named __proto__ is a plain key.
  return Object.fromEntries(entries);
}
