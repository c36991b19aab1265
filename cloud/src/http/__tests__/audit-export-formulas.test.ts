import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from './harness.js';
import { OWNER, mustAs, startPlatform } from './harness.js';
import { parseCsv } from './csv.js';

/** A name that a spreadsheet splitting on semicolons (Excel in many European locales) would turn into two formulas. */
const NAME = 'a;=1+1;@SUM(2+3)';

describe('audit export: formulas after a semicolon', () => {
  let p: Platform;
  let owner = '';

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget());
    owner = await p.login(OWNER.email, OWNER.password);
  }, 120_000);
  afterAll(async () => {
    await p.close();
  });

  it('leaves no cell starting with = or @ when a line of the CSV is split on semicolons', async () => {
    const hook = await mustAs(p, owner, 'POST', '/api/v1/projects/demo/webhooks', { name: NAME, url: 'http://127.0.0.1:9/hook', events: ['flag.*'] });
    const id = String(hook.webhook.id);

    const res = await p.request('GET', `/api/v1/audit/export?resourceType=webhook&resourceKey=${id}`, { token: owner });

    expect(res.status).toBe(200);
    const text = res.body as string;
    const lines = text.split('\r\n').filter((l) => l !== '');
    expect(lines).toHaveLength(2);
    // What Python's line.split(';') (or a semicolon-locale spreadsheet) makes of each line, quotes ignored.
    const cells = lines.flatMap((l) => l.split(';'));
    expect(cells.filter((c) => /^[\s"]*[=@]/.test(c))).toEqual([]);
    // Read as the comma-separated file it is, the label keeps the name, each part defused with '.
    const [header, row] = parseCsv(text);
    expect(row![header!.indexOf('resource_label')]).toBe("'a;'=1+1;'@SUM(2+3)");
  });
});
