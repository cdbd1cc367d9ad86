// The pino transport with the real pino: a child process logs through
// '@logflux/agent-sdk/pino' (pino's worker thread) and returns; pino's own
// worker shutdown completes the transport's flush.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startAgent, byPayload, sdkDir } from './helpers/agent.mjs';

const run = promisify(execFile);

test('pino: every record arrives with mapped levels, fields as metadata, err with its stack', async (t) => {
  const agent = await startAgent(t);
  const N = 5000;
  const { stderr } = await run(process.execPath, [path.join(sdkDir, 'test', 'fixtures', 'pino-child.mjs'), agent.unixAddress, String(N)], { timeout: 60000 });
  assert.equal(stderr, '');
  const got = byPayload(await agent.waitStored(N + 6, 5000));
  assert.equal(got.size, N + 6);
  const levels = Object.fromEntries(['trace', 'debug', 'info', 'warn', 'error', 'fatal'].map((l) => [l, got.get(`at ${l}`).logLevel]));
  assert.deepEqual(levels, { trace: 8, debug: 8, info: 7, warn: 5, error: 4, fatal: 3 });
  const info = got.get('at info');
  assert.equal(info.source, 'pino-child');
  assert.equal(info.metadata['req.method'], 'GET');
  assert.equal(info.metadata['req.url'], '/x');
  assert.equal(info.metadata.user, 'ana');
  assert.match(info.metadata.pid, /^\d+$/);
  const err = got.get('at error').metadata;
  assert.equal(err['err.message'], 'boom');
  assert.equal(err['err.type'], 'Error');
  assert.match(err['err.stack'], /^Error: boom\n\s+at /);
  for (let i = 0; i < N; i += 997) assert.equal(got.get(`bulk ${i}`)?.metadata.i, String(i));
});

test('pino and process.exit(): pino ends its worker at exit, and the transport delivers everything first', async (t) => {
  const agent = await startAgent(t);
  const N = 5000;
  await run(process.execPath, [path.join(sdkDir, 'test', 'fixtures', 'pino-child.mjs'), agent.unixAddress, String(N), 'exit'], { timeout: 60000 });
  const got = byPayload(await agent.waitStored(N + 6, 5000));
  assert.equal(got.size, N + 6);
});

test('pino: a burst many times the queue\'s size arrives whole (the transport waits for the sender, it does not drop)', async (t) => {
  const agent = await startAgent(t);
  const N = 30000; // ~7 MB of records, pino hands them over up to 4 MiB at a time; the queue holds 256 KiB
  await run(process.execPath, [path.join(sdkDir, 'test', 'fixtures', 'pino-child.mjs'), agent.unixAddress, String(N), 'return', String(256 << 10)], { timeout: 120000 });
  const got = byPayload(await agent.waitStored(N + 6, 15000));
  assert.equal(got.size, N + 6);
});
