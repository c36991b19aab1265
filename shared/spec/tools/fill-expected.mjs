#!/usr/bin/env node
// Recomputes `expected` in the shared/spec case files with GrowthBook's own SDK functions (the oracle).
// Usage: node shared/spec/tools/fill-expected.mjs [--write] [file.json ...]
//   default  check every case against GrowthBook; exit 1 listing mismatches and format errors
//   --write  rewrite the files with GrowthBook's values (inputs are never changed)
// Maintainer tool, not run in CI. Needs @growthbook/growthbook installed (a dev dependency of bench).
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SPEC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const gbPackageJson = require.resolve('@growthbook/growthbook/package.json');
const gbDir = path.dirname(gbPackageJson);
const gbVersion = JSON.parse(readFileSync(gbPackageJson, 'utf8')).version;
// util.mjs is not in the package's `exports`, so it is imported by file URL.
const gbUtil = await import(pathToFileURL(path.join(gbDir, 'dist/esm/util.mjs')).href);
const { evalCondition, paddedVersionString } = await import('@growthbook/growthbook');
const { hash, getBucketRanges, chooseVariation, inNamespace } = gbUtil;

// getBucketRanges logs clamping warnings outside production; the corpus exercises them on purpose.
process.env.NODE_ENV = 'production';

const isString = (v) => typeof v === 'string';
const isNumber = (v) => typeof v === 'number' && Number.isFinite(v);
const isRange = (r) => Array.isArray(r) && r.length === 2 && r.every(isNumber);
const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// Per file: the inputs each case must carry (name -> type check) and the oracle call.
const KINDS = {
  'hash.json': {
    inputs: { seed: isString, value: isString, version: isNumber },
    oracle: (c) => hash(c.seed, c.value, c.version),
  },
  'bucket-ranges.json': {
    inputs: {
      numVariations: (v) => Number.isInteger(v) && v >= 0,
      coverage: isNumber,
      weights: (v) => v === null || (Array.isArray(v) && v.every(isNumber)),
    },
    oracle: (c) => getBucketRanges(c.numVariations, c.coverage, c.weights === null ? undefined : c.weights),
  },
  'choose-variation.json': {
    inputs: { hash: isNumber, ranges: (v) => Array.isArray(v) && v.every(isRange) },
    oracle: (c) => chooseVariation(c.hash, c.ranges),
  },
  'namespaces.json': {
    inputs: {
      unitId: isString,
      namespace: (v) => Array.isArray(v) && v.length === 3 && isString(v[0]) && isNumber(v[1]) && isNumber(v[2]),
    },
    oracle: (c) => inNamespace(c.unitId, c.namespace),
  },
  'conditions.json': {
    inputs: {
      condition: isPlainObject,
      attributes: isPlainObject,
      savedGroups: (v) => v === undefined || (isPlainObject(v) && Object.values(v).every(Array.isArray)),
    },
    oracle: (c) => withQuietConsole(() => evalCondition(c.attributes, c.condition, c.savedGroups)),
  },
  'version-strings.json': {
    inputs: { input: (v) => v === null || isString(v) || isNumber(v) },
    oracle: (c) => paddedVersionString(c.input),
  },
};

// evalCondition reports unknown operators with console.error; those cases are deliberate.
function withQuietConsole(fn) {
  const original = console.error;
  console.error = () => {};
  try {
    return fn();
  } finally {
    console.error = original;
  }
}

// Invisible or look-alike characters are written as \u escapes so a reader sees what is tested.
const INVISIBLE = /[\u007f-\u00a0\u00ad\u0300-\u036f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\ufff0-\uffff]/g;
const quote = (s) =>
  JSON.stringify(s).replace(INVISIBLE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);

// One case per line, with spaces after ':' and ',' so diffs stay readable.
function inline(value) {
  if (Array.isArray(value)) {
    return value.length === 0 ? '[]' : `[${value.map(inline).join(', ')}]`;
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) {return '{}';}
    return `{ ${entries.map(([k, v]) => `${quote(k)}: ${inline(v)}`).join(', ')} }`;
  }
  return typeof value === 'string' ? quote(value) : JSON.stringify(value);
}

function format(doc) {
  const cases = doc.cases.map((c) => `    ${inline(c)}`).join(',\n');
  const rest = Object.entries(doc)
    .filter(([k]) => k !== 'description' && k !== 'cases')
    .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},\n`)
    .join('');
  return `{\n  "description": ${JSON.stringify(doc.description)},\n${rest}  "cases": [\n${cases}\n  ]\n}\n`;
}

function processFile(fileName, write) {
  const kind = KINDS[fileName];
  const problems = [];
  if (!kind) {return { problems: [`no GrowthBook oracle for ${fileName}`], count: 0 };}
  const filePath = path.join(SPEC_DIR, fileName);
  let doc;
  try {
    doc = JSON.parse(readFileSync(filePath, 'utf8'));
  } catch (err) {
    return { problems: [`cannot read or parse: ${err.message}`], count: 0 };
  }
  if (!isString(doc.description) || doc.description.length === 0) {problems.push('missing "description"');}
  if (!Array.isArray(doc.cases)) {return { problems: [...problems, 'missing "cases" array'], count: 0 };}

  const seen = new Set();
  let mismatches = 0;
  const cases = doc.cases.map((c, i) => {
    const label = `#${i} ${JSON.stringify(c?.name)}`;
    if (!isPlainObject(c) || !isString(c.name) || c.name.length === 0) {
      problems.push(`${label}: a case must be an object with a non-empty "name"`);
      return c;
    }
    if (seen.has(c.name)) {problems.push(`${label}: duplicate name`);}
    seen.add(c.name);
    const known = new Set(['name', 'expected', ...Object.keys(kind.inputs)]);
    const unknown = Object.keys(c).filter((k) => !known.has(k));
    if (unknown.length > 0) {problems.push(`${label}: unknown keys ${unknown.join(', ')}`);}
    const badInputs = Object.entries(kind.inputs).filter(([k, check]) => !check(c[k])).map(([k]) => k);
    if (badInputs.length > 0) {
      problems.push(`${label}: missing or malformed ${badInputs.join(', ')}`);
      return c;
    }
    const actual = kind.oracle(c);
    // JSON text is the contract, so compare what a reader of the file would see.
    const actualJson = JSON.stringify(actual);
    if (!('expected' in c)) {
      mismatches++;
      if (!write) {problems.push(`${label}: no expected (GrowthBook says ${actualJson})`);}
    } else if (JSON.stringify(c.expected) !== actualJson) {
      mismatches++;
      if (!write) {problems.push(`${label}: expected ${JSON.stringify(c.expected)}, GrowthBook says ${actualJson}`);}
    }
    const { expected: _ignored, ...inputs } = c;
    return { ...inputs, expected: actual };
  });

  if (write && problems.length === 0) {
    writeFileSync(filePath, format({ ...doc, cases }));
  }
  return { problems, count: doc.cases.length, changed: mismatches };
}

const args = process.argv.slice(2);
const write = args.includes('--write');
const unknownFlags = args.filter((a) => a.startsWith('--') && a !== '--write');
if (unknownFlags.length > 0) {
  console.error(`unknown option ${unknownFlags.join(' ')}; usage: fill-expected.mjs [--write] [file.json ...]`);
  process.exit(2);
}
const files = args.filter((a) => !a.startsWith('--')).map((a) => path.basename(a));
const targets = files.length > 0 ? files : Object.keys(KINDS);

console.log(`oracle: @growthbook/growthbook ${gbVersion} (${gbDir})`);
let failed = false;
let total = 0;
for (const fileName of targets) {
  const { problems, count, changed } = processFile(fileName, write);
  total += count;
  if (problems.length > 0) {
    failed = true;
    console.log(`FAIL ${fileName}: ${count} cases, ${problems.length} problem(s)`);
    for (const p of problems) {console.log(`  ${p}`);}
  } else if (write) {
    console.log(`wrote ${fileName}: ${count} cases, ${changed} expected value(s) filled or changed`);
  } else {
    console.log(`ok   ${fileName}: ${count} cases`);
  }
}
console.log(`${total} cases in ${targets.length} file(s)${failed ? ' — FAILED' : ''}`);
process.exit(failed ? 1 : 0);
