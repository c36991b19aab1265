import { describe, expect, it } from 'vitest';
import { experimentSchema, SPLIT_URL_HASH_ATTRIBUTES, storedExperimentSchema } from '../experiment.js';

const landing = (urls: readonly [string, string], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  key: 'landing',
  name: 'Landing',
  type: 'split-url',
  variations: [
    { key: 'a', url: urls[0] },
    { key: 'b', url: urls[1] },
  ],
  ...extra,
});

/** `path: message` of every issue. */
function issuesOf(input: unknown, schema = experimentSchema): string[] {
  const result = schema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('split-URL variation URLs', () => {
  it('says an absolute http(s) URL is needed, not a bare "Invalid URL", for a path alone or another scheme', () => {
    expect(issuesOf(landing(['/landing', 'ftp://example.com/b']))).toEqual([
      'variations.0.url: must be an absolute http(s) URL, such as https://example.com/landing',
      'variations.1.url: must be an absolute http(s) URL, such as https://example.com/landing',
    ]);
  });

  it('refuses a URL that is itself a split-URL link (a redirect loop, one exposure per hop)', () => {
    const issues = issuesOf(landing(['https://xp.example.com/r/landing?k=xpk_cli_0123456789abcdef', 'https://example.com/b']));

    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^variations\.0\.url: is a split-URL link \(\/r\/\{key\}\?k=…\).*landing page's own URL$/);
    // A site's own /r/ page (no SDK key in it) is a landing page like any other.
    expect(issuesOf(landing(['https://forum.example.com/r/cats?k=new', 'https://example.com/b']))).toEqual([]);
  });

  it('refuses a URL holding a server-side SDK key anywhere, also percent-encoded, in every experiment type', () => {
    const inQuery = issuesOf(landing(['https://example.com/a?api=xpk_srv_0123456789abcdef', 'https://example.com/b']));
    const encoded = issuesOf(landing(['https://example.com/a', 'https://example.com/xpk%5Fsrv%5F0123456789abcdef']));
    const ab = issuesOf({ key: 'ab', name: 'AB', variations: [{ key: 'a', url: 'https://example.com/#xpk_srv_0123456789abcdef' }, { key: 'b' }] });

    for (const issues of [inQuery, encoded, ab]) {
      expect(issues).toHaveLength(1);
      expect(issues[0]).toMatch(/^variations\.[01]\.url: holds a server-side SDK key \(xpk_srv_…\)/);
    }
  });

  it('refuses a split-URL experiment hashed on an attribute its /r links never have, unless its fallback is one', () => {
    const issues = issuesOf(landing(['https://example.com/a', 'https://example.com/b'], { hashAttribute: 'userId' }));

    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^hashAttribute: a split-URL experiment is evaluated by its \/r\/\{key\} links.*"userId" is never among them.*use "id"$/);
    expect(issuesOf(landing(['https://example.com/a', 'https://example.com/b'], { hashAttribute: 'query.uid' }))).toHaveLength(1);
    expect(issuesOf(landing(['https://example.com/a', 'https://example.com/b'], { hashAttribute: 'userId', fallbackAttribute: 'id' }))).toEqual([]);
    expect(issuesOf(landing(['https://example.com/a', 'https://example.com/b']))).toEqual([]);
    // Only split-URL experiments are evaluated by /r: an A/B experiment hashes on what its SDK passes.
    expect(issuesOf({ key: 'ab', name: 'AB', hashAttribute: 'userId', variations: [{ key: 'a' }, { key: 'b' }] })).toEqual([]);
    expect(SPLIT_URL_HASH_ATTRIBUTES[0]).toBe('id');
  });

  it('still reads an experiment stored before these checks, so its results do not break', () => {
    const saved = landing(['https://xp.example.com/r/other?k=xpk_cli_0123456789abcdef', 'https://example.com/b?key=xpk_srv_0123456789abcdef'], { hashAttribute: 'userId' });

    expect(issuesOf(saved)).toHaveLength(3);
    expect(issuesOf(saved, storedExperimentSchema)).toEqual([]);
  });
});
