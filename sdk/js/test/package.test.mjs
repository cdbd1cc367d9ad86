// The package as users load it: ESM import and CommonJS require of every
// entry through the exports map (one module instance), and the shipped
// TypeScript declarations compiled by tsc.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as esm from '@logflux/agent-sdk';
import esmPino from '@logflux/agent-sdk/pino';
import { LogfluxTransport as EsmWinston } from '@logflux/agent-sdk/winston';
import { sdkDir } from './helpers/agent.mjs';

const require = createRequire(import.meta.url);

test('ESM and CommonJS load the same module through the exports map', () => {
  const cjs = require('@logflux/agent-sdk');
  assert.equal(esm.createClient, cjs.createClient);
  assert.equal(typeof esm.metric, 'function');
  assert.equal(esmPino, require('@logflux/agent-sdk/pino'));
  assert.equal(EsmWinston, require('@logflux/agent-sdk/winston').LogfluxTransport);
  assert.equal(require('@logflux/agent-sdk/package.json').name, '@logflux/agent-sdk');
});

test('the core loads no third-party module', () => {
  const out = execFileSync(process.execPath, ['-e', `
    const before = new Set(Object.keys(require.cache));
    require('@logflux/agent-sdk');
    const loaded = Object.keys(require.cache).filter((f) => !before.has(f));
    console.log(JSON.stringify(loaded));
  `], { cwd: sdkDir });
  const loaded = JSON.parse(out);
  assert.ok(loaded.length > 0);
  for (const f of loaded) assert.ok(!f.includes('node_modules'), f);
});

test('tsc accepts the shipped declarations and refuses their misuse', () => {
  const tsc = path.join(sdkDir, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(sdkDir, 'test', 'types', 'tsconfig.json')], { stdio: 'pipe' });
});
