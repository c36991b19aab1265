#!/usr/bin/env node
// The `xp` command; the implementation is compiled to dist/ by `npm run build`.
import { existsSync } from 'node:fs';

// The AWS SDK (used for the local DynamoDB and Kinesis stand-ins) warns on Node 20 that its releases
// after January 2027 will need Node 22; the version the lockfile installs runs on Node 20, which xp
// supports (engines: >=20.19). The warning would be the first thing a newcomer sees; set the
// variable to "false" to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const entry = new URL('../dist/cli/xp.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('xp is not built yet: run `npm run build` in the repository first.');
  process.exit(1);
}
const { run } = await import(entry.href);
run();
