import type { SdkPlatform } from './sdk-fixture.js';

const DEMO = '/api/v1/projects/demo';

/** The flags the OFREP tests evaluate, in development, one per flag type and reason. */
export const OFREP_FLAGS = {
  /** Boolean: `on` for country DE (force rule `de`, TARGETING_MATCH), else the default `off`. */
  bool: 'ofrep-bool',
  /** String: on, no rules: the same `blue` for everyone (STATIC). */
  string: 'ofrep-string',
  /** Number: a 100 % rollout of `ten` (10) on the unit id (SPLIT), else the default `one` (1). */
  number: 'ofrep-number',
  /** JSON: off in development: the off variation `{ "theme": "dark" }` (DISABLED). */
  json: 'ofrep-json',
  /** String, served by running experiment `ofrep-exp` (SPLIT, exposures). */
  experiment: 'ofrep-exp-flag',
  /** Boolean, on, server-side only (`clientSide: false`). */
  serverOnly: 'ofrep-server-only',
} as const;
export const OFREP_EXPERIMENT = 'ofrep-exp';

async function must(s: SdkPlatform, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ body: any; etag: string }> {
  const res = await s.p.request(method, path, { token: s.owner, ...(body === undefined ? {} : { body }), ...(headers === undefined ? {} : { headers }) });
  if (res.status >= 300) {
    throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return { body: res.body, etag: res.headers.get('etag')! };
}

/** Creates OFREP_FLAGS and the running experiment behind OFREP_FLAGS.experiment. */
export async function addOfrepFlags(s: SdkPlatform): Promise<void> {
  const env = (state: Record<string, unknown>): Record<string, unknown> => ({ development: { enabled: true, ...state } });
  await must(s, 'POST', `${DEMO}/flags`, {
    key: OFREP_FLAGS.bool,
    name: 'OFREP boolean',
    type: 'boolean',
    variations: [
      { key: 'off', value: false },
      { key: 'on', value: true },
    ],
    environments: env({ defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'de', type: 'force', variation: 'on', condition: { country: { $eq: 'DE' } } }] }),
  });
  await must(s, 'POST', `${DEMO}/flags`, {
    key: OFREP_FLAGS.string,
    name: 'OFREP string',
    type: 'string',
    variations: [
      { key: 'blue', value: 'blue' },
      { key: 'red', value: 'red' },
    ],
    environments: env({ defaultVariation: 'blue', offVariation: 'red' }),
  });
  await must(s, 'POST', `${DEMO}/flags`, {
    key: OFREP_FLAGS.number,
    name: 'OFREP number',
    type: 'number',
    variations: [
      { key: 'one', value: 1 },
      { key: 'ten', value: 10 },
    ],
    environments: env({ defaultVariation: 'one', offVariation: 'one', rules: [{ id: 'everyone', type: 'rollout', variation: 'ten', coverage: 1 }] }),
  });
  await must(s, 'POST', `${DEMO}/flags`, {
    key: OFREP_FLAGS.json,
    name: 'OFREP JSON',
    type: 'json',
    variations: [
      { key: 'light', value: { theme: 'light' } },
      { key: 'dark', value: { theme: 'dark' } },
    ],
    environments: { development: { enabled: false, defaultVariation: 'light', offVariation: 'dark' } },
  });
  await must(s, 'POST', `${DEMO}/flags`, {
    key: OFREP_FLAGS.serverOnly,
    name: 'OFREP server only',
    type: 'boolean',
    clientSide: false,
    variations: [
      { key: 'off', value: false },
      { key: 'on', value: true },
    ],
    environments: env({ defaultVariation: 'on', offVariation: 'off' }),
  });
  const exp = await must(s, 'POST', `${DEMO}/experiments`, { key: OFREP_EXPERIMENT, name: 'OFREP experiment', variations: [{ key: 'control' }, { key: 'treatment' }] });
  await must(s, 'POST', `${DEMO}/experiments/${OFREP_EXPERIMENT}/start`, undefined, { 'If-Match': exp.etag });
  await must(s, 'POST', `${DEMO}/flags`, {
    key: OFREP_FLAGS.experiment,
    name: 'OFREP experiment flag',
    type: 'string',
    variations: [
      { key: 'control', value: 'old' },
      { key: 'treatment', value: 'new' },
    ],
    environments: env({ defaultVariation: 'control', offVariation: 'control', rules: [{ id: 'exp', type: 'experiment', experiment: OFREP_EXPERIMENT }] }),
  });
}
