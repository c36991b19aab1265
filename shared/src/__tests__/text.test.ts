import { describe, expect, it } from 'vitest';
import { bidiControlIn, searchFold } from '../text.js';

describe('searchFold', () => {
  it('folds case across scripts, the dotted capital I included', () => {
    expect(['İstanbul', 'istanbul', 'ISTANBUL', 'i\u0307stanbul'].map(searchFold)).toEqual(['istanbul', 'istanbul', 'istanbul', 'istanbul']);
    expect(searchFold('ΣΟΦΊΑ')).toBe('σοφια');
  });

  it('drops accents from composed and decomposed text alike', () => {
    expect([`Caf\u00e9`, 'Cafe\u0301', 'CAFÉ', 'cafe'].map(searchFold)).toEqual(['cafe', 'cafe', 'cafe', 'cafe']);
    expect(searchFold('a\u1AB0b\u1DC0c\u20D0d\uFE20e')).toBe('abcde');
  });

  it('drops zero-width characters and folds compatibility forms', () => {
    expect(searchFold('ze\u200Bro\u200C\u200Dwi\u2060dth\uFEFF')).toBe('zerowidth');
    expect(searchFold('\uFF21\uFF22\uFF23\uFF05')).toBe('abc%');
    expect(searchFold('ﬁle')).toBe('file');
  });

  it('folds the sharp s to ss, as Unicode case folding does', () => {
    expect(['Straße', 'STRASSE', 'strasse', 'STRAẞE'].map(searchFold)).toEqual(['strasse', 'strasse', 'strasse', 'strasse']);
  });

  it('leaves letters that do not decompose', () => {
    expect(searchFold('Yılmaz')).toBe('yılmaz');
  });
});

describe('bidiControlIn', () => {
  it('names the first embedding, override or isolate', () => {
    expect(bidiControlIn('\u202Eevil')).toBe('U+202E');
    expect(bidiControlIn('a\u2069b\u202A')).toBe('U+2069');
    expect(bidiControlIn('plain \u200F right-to-left mark')).toBeUndefined();
  });
});
