import { describe, expect, it } from 'vitest';
import { csvField, toCsv } from '../results-csv.js';

/** What a spreadsheet splitting a line on `sep` alone (Excel in a semicolon locale) makes of it, quotes ignored. */
const splitOn = (csv: string, sep: string): string[] => csv.split('\r\n').flatMap((line) => line.split(sep));
/** Cells that start a formula, after any spaces or quotes (a cell opening with a quote is read as a quoted field). */
const formulaStarts = (cells: readonly string[]): string[] => cells.filter((c) => /^[\s"]*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]/.test(c));

describe('csvField: formulas after a cell separator of other locales', () => {
  it('defuses each part after ; that starts a formula, prefixes the field and quotes it', () => {
    expect(csvField('a;=1+1;@SUM(2+3)')).toBe(`"'a;'=1+1;'@SUM(2+3)"`);
  });

  it('leaves no cell starting a formula when a line is split on semicolons, whatever the column', () => {
    const csv = toCsv(['id', 'name', 'note'], [[1, 'a;=1+1;@SUM(2+3)', 'x; -2'], [2, 'b;+1', 'say;"@A1"']]);

    const cells = splitOn(csv, ';');
    expect(cells.length).toBeGreaterThan(3);
    expect(formulaStarts(cells)).toEqual([]);
  });

  it('treats tab and | as separators too, with spaces before the formula and full-width forms', () => {
    expect(csvField('a\t=1')).toBe(`"'a\t'=1"`);
    expect(csvField('a|@A1')).toBe(`"'a|'@A1"`);
    expect(csvField('a;   +1')).toBe(`"'a;'   +1"`);
    expect(csvField('a;\uFF1DSUM(A1)')).toBe(`"'a;'\uFF1DSUM(A1)"`);
    expect(csvField('a;"=1"')).toBe(`"'a;'""=1"""`);
    expect(formulaStarts(splitOn(toCsv(['v'], [['a\t=1|@A1']]), '\t').concat(splitOn(toCsv(['v'], [['a|@A1']]), '|')))).toEqual([]);
  });

  it('defuses both a leading formula and later ones in the same field', () => {
    expect(csvField('=1;=2')).toBe(`"'=1;'=2"`);
    expect(csvField('=HYPERLINK("x");@A1')).toBe(`"'=HYPERLINK(""x"");'@A1"`);
  });

  it('leaves ordinary values as they are: numbers, ISO dates, separators without a formula after them', () => {
    expect(csvField(-3.5)).toBe('-3.5');
    expect(csvField(-0)).toBe('0');
    expect(csvField('2026-12-07T10:00:00.000Z')).toBe('2026-12-07T10:00:00.000Z');
    expect(csvField('a; b')).toBe('a; b');
    expect(csvField('a|b')).toBe('a|b');
    expect(csvField('sample-ratio-mismatch;few-units')).toBe('sample-ratio-mismatch;few-units');
    expect(csvField('x=1;y')).toBe('x=1;y');
    expect(toCsv(['effect', 'when', 'warnings'], [[-0.25, '2026-12-07', 'low-power;srm']])).toBe('effect,when,warnings\r\n-0.25,2026-12-07,low-power;srm\r\n');
  });
});
