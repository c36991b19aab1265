import { describe, expect, it } from 'vitest';
import { apiDepsFromEnv } from '../../functions/api.js';
import { ssoConfigFromEnv } from '../../functions/platform-deps.js';
import { configFromEnv } from '../../local/stack.js';
import { SsoConfigError, loadSsoConfig, mappedRole } from '../sso-config.js';

const SECRET = 'sup3r-s3cret-value-never-shown';
const GOOD = { XP_SSO_ISSUER: 'https://example.okta.com', XP_SSO_CLIENT_ID: '0oa1b2c3d4', XP_SSO_CLIENT_SECRET: SECRET, XP_SSO_REDIRECT_URL: 'https://xp.example.com/api/v1/auth/sso/callback' };

/** The error loadSsoConfig throws for `env` (fails the test when it does not throw). */
function refusal(env: Record<string, string>, defaults: { redirectUrl?: string } = {}): SsoConfigError {
  try {
    loadSsoConfig(env, defaults);
  } catch (e) {
    expect(e).toBeInstanceOf(SsoConfigError);
    return e as SsoConfigError;
  }
  throw new Error(`accepted ${JSON.stringify({ ...env, XP_SSO_CLIENT_SECRET: '…' })}`);
}

describe('loadSsoConfig', () => {
  it('is off without XP_SSO_ISSUER (an empty one too)', () => {
    expect(loadSsoConfig({})).toBeUndefined();
    expect(loadSsoConfig({ XP_SSO_ISSUER: '  ', XP_SSO_NAME: 'Okta' })).toBeUndefined();
  });

  it('reads every variable, with the defaults', () => {
    const all = loadSsoConfig({
      ...GOOD,
      XP_SSO_NAME: 'Okta',
      XP_SSO_ALLOWED_DOMAINS: 'Example.com, @example.org',
      XP_SSO_DEFAULT_ROLE: 'analyst',
      XP_SSO_GROUPS_CLAIM: 'groups',
      XP_SSO_ROLE_MAP: 'xp admins=admin, xp-editors=editor',
      XP_SSO_ENFORCED: 'true',
      XP_SSO_LINK_OWNERS: 'true',
      XP_SSO_ROLE_MAP_AUTHORITATIVE: '1',
    });
    const minimal = loadSsoConfig({ XP_SSO_ISSUER: 'http://127.0.0.1:8080/realms/xp', XP_SSO_CLIENT_ID: 'xp' }, { redirectUrl: 'http://localhost:3000/api/v1/auth/sso/callback' });

    expect(all).toMatchObject({ issuer: 'https://example.okta.com', clientId: '0oa1b2c3d4', clientSecret: SECRET, redirectUrl: GOOD.XP_SSO_REDIRECT_URL, redirectUrlDefaulted: false, name: 'Okta', allowedDomains: ['example.com', 'example.org'], defaultRole: 'analyst', groupsClaim: 'groups', enforced: true, linkOwners: true, roleMapAuthoritative: true });
    expect([...all!.roleMap]).toEqual([
      ['xp admins', 'admin'],
      ['xp-editors', 'editor'],
    ]);
    expect(minimal?.clientSecret).toBeUndefined();
    expect(minimal).toMatchObject({ redirectUrl: 'http://localhost:3000/api/v1/auth/sso/callback', redirectUrlDefaulted: true, name: 'SSO', allowedDomains: [], defaultRole: 'viewer', enforced: false, linkOwners: false, roleMapAuthoritative: false });
    expect(mappedRole(all!, ['lunch', 'xp-editors', 'xp admins'])).toBe('admin');
    expect(mappedRole(all!, ['lunch'])).toBeUndefined();
  });

  it.each([
    ['XP_SSO_ISSUER', { XP_SSO_ISSUER: 'http://idp.example.com' }, 'https'],
    ['XP_SSO_ISSUER', { XP_SSO_ISSUER: 'not a url' }, 'not a URL'],
    ['XP_SSO_ISSUER', { XP_SSO_ISSUER: 'https://idp.example.com/?x=1' }, 'query'],
    ['XP_SSO_CLIENT_ID', { XP_SSO_CLIENT_ID: '' }, 'required'],
    ['XP_SSO_CLIENT_ID', { XP_SSO_CLIENT_ID: 'has space' }, 'printable'],
    ['XP_SSO_CLIENT_SECRET', { XP_SSO_CLIENT_SECRET: `${SECRET}\u0001` }, 'value not shown'],
    ['XP_SSO_REDIRECT_URL', { XP_SSO_REDIRECT_URL: '' }, 'required'],
    ['XP_SSO_REDIRECT_URL', { XP_SSO_REDIRECT_URL: 'http://xp.example.com/api/v1/auth/sso/callback' }, 'https'],
    ['XP_SSO_REDIRECT_URL', { XP_SSO_REDIRECT_URL: 'https://xp.example.com/callback' }, '/api/v1/auth/sso/callback'],
    ['XP_SSO_NAME', { XP_SSO_NAME: 'x'.repeat(41) }, '40'],
    ['XP_SSO_NAME', { XP_SSO_NAME: 'Ok\u0007ta' }, 'control'],
    ['XP_SSO_ALLOWED_DOMAINS', { XP_SSO_ALLOWED_DOMAINS: 'example.com,not a domain' }, 'not a domain'],
    ['XP_SSO_DEFAULT_ROLE', { XP_SSO_DEFAULT_ROLE: 'owner' }, 'never owner'],
    ['XP_SSO_DEFAULT_ROLE', { XP_SSO_DEFAULT_ROLE: 'superuser' }, 'viewer'],
    ['XP_SSO_GROUPS_CLAIM', { XP_SSO_ROLE_MAP: 'a=admin' }, 'required with XP_SSO_ROLE_MAP'],
    ['XP_SSO_GROUPS_CLAIM', { XP_SSO_GROUPS_CLAIM: 'has space', XP_SSO_ROLE_MAP: 'a=admin' }, 'claim name'],
    ['XP_SSO_ROLE_MAP', { XP_SSO_GROUPS_CLAIM: 'groups' }, 'required with XP_SSO_GROUPS_CLAIM'],
    ['XP_SSO_ROLE_MAP', { XP_SSO_GROUPS_CLAIM: 'groups', XP_SSO_ROLE_MAP: 'admins' }, 'group=role'],
    ['XP_SSO_ROLE_MAP', { XP_SSO_GROUPS_CLAIM: 'groups', XP_SSO_ROLE_MAP: 'admins=owner' }, 'never owner'],
    ['XP_SSO_ROLE_MAP', { XP_SSO_GROUPS_CLAIM: 'groups', XP_SSO_ROLE_MAP: 'a=admin,a=viewer' }, 'twice'],
    ['XP_SSO_ENFORCED', { XP_SSO_ENFORCED: 'yes please' }, 'true or false'],
    ['XP_SSO_LINK_OWNERS', { XP_SSO_LINK_OWNERS: 'owners too' }, 'true or false'],
    ['XP_SSO_ROLE_MAP_AUTHORITATIVE', { XP_SSO_GROUPS_CLAIM: 'groups', XP_SSO_ROLE_MAP: 'a=admin', XP_SSO_ROLE_MAP_AUTHORITATIVE: 'yes' }, 'true or false'],
    // Without a map nobody is in a mapped group: every sign-in would reset the person to the default role.
    ['XP_SSO_ROLE_MAP_AUTHORITATIVE', { XP_SSO_ROLE_MAP_AUTHORITATIVE: 'true' }, 'XP_SSO_ROLE_MAP is not set'],
  ] as const)('refuses a bad %s, naming it, never showing the secret (%j)', (variable, change, words) => {
    const e = refusal({ ...GOOD, ...change });
    expect(e.variable.startsWith(variable)).toBe(true);
    expect(e.message.startsWith(variable)).toBe(true);
    expect(e.message).toContain(words);
    expect(e.message).not.toContain(SECRET);
  });

  it('refuses XP_SSO_ENFORCED without an issuer: passwords would still work while believed off', () => {
    expect(refusal({ XP_SSO_ENFORCED: 'true' }).variable).toBe('XP_SSO_ENFORCED');
    expect(loadSsoConfig({ XP_SSO_ENFORCED: 'false' })).toBeUndefined();
  });

  it('refuses the client secret and its ARN together, naming both, at every start', () => {
    const both = { ...GOOD, XP_SSO_CLIENT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:xp/sso-client-Ab12Cd' };
    const e = refusal(both);

    expect(e.variable).toBe('XP_SSO_CLIENT_SECRET_ARN');
    expect(e.message).toMatch(/^XP_SSO_CLIENT_SECRET_ARN: is set together with XP_SSO_CLIENT_SECRET: /);
    expect(e.message).not.toContain(SECRET);
    // `xp start` reads the same variables through loadSsoConfig.
    expect(() => configFromEnv(both)).toThrow(/^XP_SSO_CLIENT_SECRET_ARN: is set together with XP_SSO_CLIENT_SECRET/);
    expect(loadSsoConfig({ ...GOOD, XP_SSO_CLIENT_SECRET_ARN: ' ' })?.clientSecret).toBe(SECRET);
  });

  it('allows http only on this machine', () => {
    for (const host of ['localhost', '127.0.0.1', '[::1]']) {
      expect(loadSsoConfig({ ...GOOD, XP_SSO_ISSUER: `http://${host}:8080`, XP_SSO_REDIRECT_URL: `http://${host}:3000/api/v1/auth/sso/callback` })?.issuer).toBe(`http://${host}:8080`);
    }
    expect(refusal({ ...GOOD, XP_SSO_ISSUER: 'http://10.0.0.5:8080' }).variable).toBe('XP_SSO_ISSUER');
  });
});

describe('where the settings are read', () => {
  const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:xp/sso-client-Ab12Cd';
  const reader = (values: Record<string, string>) => {
    const read: string[] = [];
    return { read, fn: (arn: string): Promise<string> => (read.push(arn), arn in values ? Promise.resolve(values[arn]!) : Promise.reject(new Error(`no secret ${arn}`))) };
  };

  it('the API Lambda resolves XP_SSO_CLIENT_SECRET_ARN from Secrets Manager, only when SSO is on', async () => {
    const { XP_SSO_CLIENT_SECRET: _secret, ...withoutSecret } = GOOD;
    const on = reader({ [ARN]: SECRET });
    const off = reader({ [ARN]: SECRET });

    const config = await ssoConfigFromEnv({ ...withoutSecret, XP_SSO_CLIENT_SECRET_ARN: ARN }, on.fn);
    const none = await ssoConfigFromEnv({ XP_SSO_CLIENT_SECRET_ARN: ARN }, off.fn);

    expect([config?.clientSecret, on.read]).toEqual([SECRET, [ARN]]);
    expect([none, off.read]).toEqual([undefined, []]);
    await expect(ssoConfigFromEnv({ ...GOOD, XP_SSO_CLIENT_SECRET_ARN: ARN }, on.fn)).rejects.toThrow(/^XP_SSO_CLIENT_SECRET_ARN: is set together with XP_SSO_CLIENT_SECRET: /);
    expect(on.read).toEqual([ARN]);
  });

  it('warns once at the cold start when SSO is open to any verified email (no XP_SSO_ALLOWED_DOMAINS)', async () => {
    const warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
    const logger = { warn: (message: string, fields?: Record<string, unknown>) => warnings.push({ message, fields }), info: () => undefined, error: () => undefined };

    await ssoConfigFromEnv(GOOD, reader({}).fn, logger);
    const open = [...warnings];
    warnings.length = 0;
    await ssoConfigFromEnv({ ...GOOD, XP_SSO_ALLOWED_DOMAINS: 'example.com' }, reader({}).fn, logger);
    await ssoConfigFromEnv({}, reader({}).fn, logger);

    expect(open).toHaveLength(1);
    expect(open[0]!.message).toContain('XP_SSO_ALLOWED_DOMAINS is not set');
    expect(open[0]!.fields).toEqual({ issuer: GOOD.XP_SSO_ISSUER });
    expect(JSON.stringify(open)).not.toContain(SECRET);
    expect(warnings).toEqual([]);
  });

  it('the API function checks the settings at cold start, before it opens a database pool', async () => {
    await expect(apiDepsFromEnv({ XP_SSO_ISSUER: 'https://idp.example.com', XP_SSO_CLIENT_ID: 'xp', XP_SSO_REDIRECT_URL: 'https://xp.example.com/callback' }, reader({}).fn)).rejects.toThrow(/^XP_SSO_REDIRECT_URL: /);
  });

  it('`xp start` defaults the callback to the local console and stops on a bad value', () => {
    const local = configFromEnv({ XP_SSO_ISSUER: 'http://localhost:8080/realms/xp', XP_SSO_CLIENT_ID: 'xp', XP_CONSOLE_PORT: '3100' });
    expect(local.sso).toMatchObject({ redirectUrl: 'http://localhost:3100/api/v1/auth/sso/callback', redirectUrlDefaulted: true });
    expect(configFromEnv({}).sso).toBeUndefined();
    expect(() => configFromEnv({ XP_SSO_ISSUER: 'http://localhost:8080', XP_SSO_CLIENT_ID: 'xp', XP_SSO_DEFAULT_ROLE: 'owner' })).toThrow(/^XP_SSO_DEFAULT_ROLE: /);
  });
});
