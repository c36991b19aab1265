import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExposureEvent } from '@xp/shared';
import type { SdkPlatform } from './sdk-fixture.js';
import { readStream, startSdkPlatform } from './sdk-fixture.js';

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1';
const ANDROID_PHONE = 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36';
const DESKTOP = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

/** Everyone the condition lets in goes to /b (weight 1), everyone else to the control's /a. */
const targeted = (key: string, condition: Record<string, unknown>): Record<string, unknown> => ({
  key,
  name: key,
  type: 'split-url',
  condition,
  variations: [
    { key: 'a', url: `https://example.com/${key}/a`, weight: 0 },
    { key: 'b', url: `https://example.com/${key}/b`, weight: 1 },
  ],
});

describe('GET /r/{experimentKey}: targeting on the request', () => {
  let s: SdkPlatform;
  let client: string;
  let visitors = 0;

  beforeAll(async () => {
    s = await startSdkPlatform();
    client = s.p.boot.sdkKeys!.development!.client;
    for (const exp of [
      targeted('mobile-only', { deviceType: 'mobile' }),
      targeted('french', { language: 'fr' }),
      targeted('newsletter', { $or: [{ utm_source: 'newsletter' }, { 'query.ref': 'partner' }] }),
      targeted('us-only', { country: 'US' }),
    ]) {
      const created = await s.p.request('POST', '/api/v1/projects/demo/experiments', { token: s.owner, body: exp });
      const started = await s.p.request('POST', `/api/v1/projects/demo/experiments/${String(exp.key)}/start`, { token: s.owner, headers: { 'If-Match': created.headers.get('etag') ?? '' } });
      if (created.status !== 201 || started.status !== 200) {
        throw new Error(`setup failed: ${JSON.stringify([created.body, started.body])}`);
      }
    }
  });
  afterAll(async () => {
    await s.close();
  });

  /** A visit by a new visitor with a known id (the cookie), so their exposures can be found. */
  const visit = async (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ uid: string; status: number; location: string | null; cookie: string | null }> => {
    const uid = `visitor-${++visitors}-${Date.now()}`;
    const res = await Promise.resolve(s.p.app.request(`http://localhost${path}`, { method, headers: { ...headers, cookie: `xp_uid=${uid}` } }));
    return { uid, status: res.status, location: res.headers.get('location'), cookie: res.headers.get('set-cookie') };
  };
  const exposuresOf = async (uid: string): Promise<ExposureEvent[]> =>
    (await readStream(s.kinesis)).map((r) => r.event.event).filter((e): e is ExposureEvent => e.type === 'exposure' && e.unitId === uid);

  it('enrols a phone in an experiment targeted on deviceType "mobile" and sends a desktop to the control, unexposed', async () => {
    const iphone = await visit(`/r/mobile-only?k=${client}`, { 'user-agent': IPHONE });
    const android = await visit(`/r/mobile-only?k=${client}`, { 'user-agent': ANDROID_PHONE });
    const desktop = await visit(`/r/mobile-only?k=${client}`, { 'user-agent': DESKTOP });
    const noAgent = await visit(`/r/mobile-only?k=${client}`);

    expect([iphone.location, android.location]).toEqual(['https://example.com/mobile-only/b', 'https://example.com/mobile-only/b']);
    expect([desktop.location, noAgent.location]).toEqual(['https://example.com/mobile-only/a', 'https://example.com/mobile-only/a']);
    expect((await exposuresOf(iphone.uid)).map((e) => e.variation)).toEqual(['b']);
    expect((await exposuresOf(android.uid)).map((e) => e.variation)).toEqual(['b']);
    expect([await exposuresOf(desktop.uid), await exposuresOf(noAgent.uid)]).toEqual([[], []]);
  });

  it("targets the visitor's most preferred language from Accept-Language", async () => {
    const french = await visit(`/r/french?k=${client}`, { 'accept-language': 'fr-CH, fr;q=0.9, en;q=0.8' });
    const preferred = await visit(`/r/french?k=${client}`, { 'accept-language': 'en;q=0.5, fr' });
    const english = await visit(`/r/french?k=${client}`, { 'accept-language': 'en-US,en;q=0.9,fr;q=0.8' });

    expect([french.location, preferred.location, english.location]).toEqual(['https://example.com/french/b', 'https://example.com/french/b', 'https://example.com/french/a']);
  });

  it('targets on UTM parameters (attributes of their own) and any parameter under query.<name>, the key never among them', async () => {
    const mail = await visit(`/r/newsletter?utm_source=newsletter&k=${client}`);
    const partner = await visit(`/r/newsletter?k=${client}&ref=partner`);
    const ads = await visit(`/r/newsletter?utm_source=ads&k=${client}`);
    const none = await visit(`/r/newsletter?k=${client}`);

    expect([mail.location, partner.location, ads.location, none.location]).toEqual([
      'https://example.com/newsletter/b?utm_source=newsletter',
      'https://example.com/newsletter/b?ref=partner',
      'https://example.com/newsletter/a?utm_source=ads',
      'https://example.com/newsletter/a',
    ]);
  });

  it("logs the derived attributes with the exposure, less the raw URL, path, User-Agent and Referer, and the id", async () => {
    const visitor = await visit(`/r/mobile-only?utm_source=newsletter&utm_campaign=spring&k=${client}&email=someone%40example.com`, {
      'user-agent': IPHONE,
      'accept-language': 'fr-FR,fr;q=0.9',
      referer: 'https://mail.example.com/inbox?token=secret',
    });

    const [exposure] = await exposuresOf(visitor.uid);
    expect(exposure?.attributes).toEqual({ browser: 'safari', deviceType: 'mobile', os: 'ios', bot: false, language: 'fr', utm_source: 'newsletter', utm_campaign: 'spring' });
    expect(JSON.stringify(exposure)).not.toMatch(/someone|secret|Mozilla|xpk_/);
  });

  it('truncates an absurdly long User-Agent rather than failing, and classifies its first 512 characters', async () => {
    const padding = 'x'.repeat(100_000);
    const long = await visit(`/r/mobile-only?k=${client}`, { 'user-agent': `${IPHONE} ${padding}` });
    const buried = await visit(`/r/mobile-only?k=${client}`, { 'user-agent': `Mozilla/5.0 (${padding}) ${IPHONE}` });

    expect([long.status, long.location]).toEqual([302, 'https://example.com/mobile-only/b']);
    expect([buried.status, buried.location]).toEqual([302, 'https://example.com/mobile-only/a']);
    const [exposure] = await exposuresOf(long.uid);
    expect(exposure?.attributes).toMatchObject({ deviceType: 'mobile' });
    expect(JSON.stringify(exposure).length).toBeLessThan(1_000);
  });

  it('takes no country from a CloudFront-Viewer-Country header: a visitor can send it straight to API Gateway', async () => {
    const forged = await visit(`/r/us-only?k=${client}`, { 'cloudfront-viewer-country': 'US', 'x-xp-edge': 'guessed' });

    expect(forged.location).toBe('https://example.com/us-only/a');
    expect(await exposuresOf(forged.uid)).toEqual([]);
  });

  it('answers HEAD with the targeted redirect but still sets no cookie and logs no exposure', async () => {
    const head = await visit(`/r/mobile-only?k=${client}`, { 'user-agent': IPHONE }, 'HEAD');

    expect([head.status, head.location, head.cookie]).toEqual([302, 'https://example.com/mobile-only/b', null]);
    expect(await exposuresOf(head.uid)).toEqual([]);
  });
});
