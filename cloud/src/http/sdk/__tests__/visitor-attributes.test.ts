import { describe, expect, it } from 'vitest';
import { SPLIT_URL_HASH_ATTRIBUTES } from '@xp/shared';
import { MAX_QUERY_PARAMS, MAX_QUERY_VALUE_CHARS, MAX_USER_AGENT_CHARS, classifyUserAgent, primaryLanguage, visitorAttributes } from '../visitor-attributes.js';

/** Real User-Agent strings, as browsers and crawlers send them. */
const UA = {
  chromeWindows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  chromeMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  chromeOs: 'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  safariMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15',
  iphoneSafari: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1',
  iphoneChrome: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1',
  iphoneInstagram: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 329.0.0.41.93',
  ipadSafari: 'Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1',
  androidChromePhone: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  androidChromeTablet: 'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  cubotPhone: 'Mozilla/5.0 (Linux; Android 9; CUBOT X20 PRO) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  samsungInternet: 'Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36',
  oldAndroidBrowser: 'Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebkit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30',
  firefoxWindows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
  firefoxLinux: 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  firefoxAndroid: 'Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0',
  edgeWindows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80',
  edgeAndroid: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.64',
  operaWindows: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0',
  googlebot: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  googlebotSmartphone:
    'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.201 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  facebookPreview: 'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
  curl: 'curl/8.5.0',
} as const;

describe('classifyUserAgent', () => {
  it.each([
    ['chromeWindows', 'chrome', 'desktop', 'windows', false],
    ['chromeMac', 'chrome', 'desktop', 'macos', false],
    ['chromeOs', 'chrome', 'desktop', 'chromeos', false],
    ['safariMac', 'safari', 'desktop', 'macos', false],
    ['iphoneSafari', 'safari', 'mobile', 'ios', false],
    ['iphoneChrome', 'chrome', 'mobile', 'ios', false],
    ['iphoneInstagram', 'other', 'mobile', 'ios', false],
    ['ipadSafari', 'safari', 'tablet', 'ios', false],
    ['androidChromePhone', 'chrome', 'mobile', 'android', false],
    ['androidChromeTablet', 'chrome', 'tablet', 'android', false],
    ['cubotPhone', 'chrome', 'mobile', 'android', false],
    ['samsungInternet', 'other', 'mobile', 'android', false],
    ['oldAndroidBrowser', 'other', 'mobile', 'android', false],
    ['firefoxWindows', 'firefox', 'desktop', 'windows', false],
    ['firefoxLinux', 'firefox', 'desktop', 'linux', false],
    ['firefoxAndroid', 'firefox', 'mobile', 'android', false],
    ['edgeWindows', 'edge', 'desktop', 'windows', false],
    ['edgeAndroid', 'edge', 'mobile', 'android', false],
    ['operaWindows', 'other', 'desktop', 'windows', false],
    ['googlebot', 'other', 'desktop', 'other', true],
    ['googlebotSmartphone', 'other', 'mobile', 'android', true],
    ['facebookPreview', 'other', 'desktop', 'other', true],
    ['curl', 'other', 'desktop', 'other', true],
  ] as const)('%s → %s, %s, %s, bot %s', (name, browser, deviceType, os, bot) => {
    expect(classifyUserAgent(UA[name])).toEqual({ browser, deviceType, os, bot });
  });

  it('classifies no User-Agent as another desktop browser', () => {
    expect(classifyUserAgent('')).toEqual({ browser: 'other', deviceType: 'desktop', os: 'other', bot: false });
  });

  it(`reads only the first ${MAX_USER_AGENT_CHARS} characters`, () => {
    const padded = `Mozilla/5.0 (${'x'.repeat(MAX_USER_AGENT_CHARS)}) ${UA.iphoneSafari}`;

    expect(classifyUserAgent(padded)).toEqual({ browser: 'other', deviceType: 'desktop', os: 'other', bot: false });
  });
});

describe('primaryLanguage', () => {
  it.each([
    ['fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5', 'fr'],
    ['en;q=0.5, de', 'de'],
    ['EN-us', 'en'],
    ['pt-BR,pt;q=0.9', 'pt'],
    ['da, en-gb;q=0.8, en;q=0.7', 'da'],
    ['en;q=0.8,fr;q=0.8', 'en'],
  ])('%s → %s', (header, language) => {
    expect(primaryLanguage(header)).toBe(language);
  });

  it.each([undefined, '', '*', '1234', 'x-klingon', 'de;q=0', ';;;,,,', 'zz'.repeat(1_000)])('reads no language from %s', (header) => {
    expect(primaryLanguage(header)).toBeUndefined();
  });
});

describe('visitorAttributes', () => {
  it('derives every attribute from the request', () => {
    const attributes = visitorAttributes({
      url: new URL('https://xp.example.com/r/landing?utm_source=mail&utm_campaign=spring&ref=partner'),
      userAgent: UA.iphoneSafari,
      acceptLanguage: 'de-AT,de;q=0.9',
      referrer: 'https://news.example.org/',
    });

    expect(attributes).toEqual({
      url: 'https://xp.example.com/r/landing?utm_source=mail&utm_campaign=spring&ref=partner',
      path: '/r/landing',
      query: { utm_source: 'mail', utm_campaign: 'spring', ref: 'partner' },
      userAgent: UA.iphoneSafari,
      browser: 'safari',
      deviceType: 'mobile',
      os: 'ios',
      bot: false,
      language: 'de',
      referrer: 'https://news.example.org/',
      utm_source: 'mail',
      utm_campaign: 'spring',
    });
  });

  it('leaves out what the request does not say or says oddly, and refuses nothing', () => {
    const attributes = visitorAttributes({ url: new URL('http://localhost/r/x?utm_source=&flag&__proto__=1&a=1&a=2'), userAgent: '', acceptLanguage: '*', referrer: '' });

    expect(attributes).toEqual({ url: 'http://localhost/r/x?utm_source=&flag&__proto__=1&a=1&a=2', path: '/r/x', query: { utm_source: '', flag: '', ['__proto__']: '1', a: '1' }, browser: 'other', deviceType: 'desktop', os: 'other', bot: false });
    expect(Object.getPrototypeOf(attributes.query)).toBe(Object.prototype);
  });

  it('bounds every value: User-Agent, query values (without splitting a character), parameter count; drops NUL', () => {
    const emoji = '😀'.repeat(MAX_QUERY_VALUE_CHARS);
    const many = Array.from({ length: 50 }, (_, i) => `p${i}=${i}`).join('&');
    const attributes = visitorAttributes({
      url: new URL(`http://localhost/r/x?utm_term=${encodeURIComponent(emoji)}&nul=a%00b&${'n'.repeat(65)}=1&${many}`),
      userAgent: `${UA.chromeWindows} ${'x'.repeat(100_000)}`,
    });

    expect(attributes.userAgent).toHaveLength(MAX_USER_AGENT_CHARS);
    expect(attributes.browser).toBe('chrome');
    expect(attributes.utm_term).toBe('😀'.repeat(MAX_QUERY_VALUE_CHARS / 2));
    expect(attributes.query.nul).toBeUndefined();
    expect(Object.keys(attributes.query)).toHaveLength(MAX_QUERY_PARAMS);
    expect(Object.keys(attributes.query).some((name) => name.startsWith('nnn'))).toBe(false);
  });

  it('cuts a surrogate pair that straddles the limit before it, not in two', () => {
    const value = `${'a'.repeat(MAX_QUERY_VALUE_CHARS - 1)}😀`;

    const attributes = visitorAttributes({ url: new URL(`http://localhost/r/x?utm_content=${encodeURIComponent(value)}`) });

    expect(attributes.utm_content).toBe('a'.repeat(MAX_QUERY_VALUE_CHARS - 1));
  });

  it("gives, with the cookie's id, exactly the string attributes a split-URL experiment may hash on (shared's list)", () => {
    const attributes = visitorAttributes({
      url: new URL('https://xp.example.com/r/x?utm_source=a&utm_medium=b&utm_campaign=c&utm_term=d&utm_content=e'),
      userAgent: UA.chromeWindows,
      acceptLanguage: 'fr',
      referrer: 'https://example.com/',
    });
    const strings = Object.entries({ ...attributes, id: 'cookie' }).filter(([, v]) => typeof v === 'string').map(([k]) => k);

    expect(strings.sort()).toEqual([...SPLIT_URL_HASH_ATTRIBUTES].sort());
  });
});
