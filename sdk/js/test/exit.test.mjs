// What reaches the agent when a program ends: by returning from main (the
// event loop empties) and by process.exit(). Each case runs a child process
// against the real agent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startAgent, tempDir, byPayload, agentBin, sdkDir } from './helpers/agent.mjs';

const run = promisify(execFile);
const child = path.join(sdkDir, 'test', 'fixtures', 'exit-child.mjs');

function lines(file) {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

test('exit without close: a child logs 10,000 entries and returns; all 10,000 arrive', async (t) => {
  const agent = await startAgent(t);
  const { stderr } = await run(process.execPath, [child, 'return', agent.unixAddress, '10000'], { timeout: 60000 });
  assert.equal(stderr, '');
  // beforeExit waited for the agent's flush answer: stored without waiting long.
  const got = byPayload(await agent.waitStored(10000, 5000));
  assert.equal(got.size, 10000);
  for (let i = 0; i < 10000; i++) assert.equal(got.get(`child ${i}`)?.metadata.i, String(i));
});

test('exit without close, agent down: the child still ends, and with a fallback file nothing is lost', async (t) => {
  const dir = tempDir(t);
  const fallbackFile = path.join(dir, 'fallback.ndjson');
  const address = 'unix://' + path.join(dir, 'absent.sock');
  // Strict: an unhandled rejection would end the child with an error.
  const withFile = await run(process.execPath, ['--unhandled-rejections=strict', child, 'return', address, '1000', fallbackFile], { timeout: 60000 });
  assert.equal(withFile.stderr, '', 'nothing printed: the SDK reports through onError and counters only');
  assert.equal(lines(fallbackFile).length, 1000);
  // And without one, it still ends (what was queued is lost, as documented).
  const without = await run(process.execPath, ['--unhandled-rejections=strict', child, 'return', address, '1000'], { timeout: 60000 });
  assert.equal(without.stderr, '');
});

test('process.exit(): what is queued goes synchronously to the fallback file; replayed, all arrive', async (t) => {
  const agent = await startAgent(t);
  const fallbackFile = path.join(agent.dir, 'fallback.ndjson');
  await run(process.execPath, [child, 'exit', agent.unixAddress, '5000', fallbackFile], { timeout: 60000 });
  const saved = lines(fallbackFile);
  assert.equal(saved.length, 5000, 'nothing was sent before process.exit, so all are in the file');
  assert.equal(saved[0].source, 'exit-child');
  execFileSync(agentBin(), ['send', '--addr', agent.unixAddress, '--file', fallbackFile]);
  const got = byPayload(await agent.waitStored(5000));
  for (let i = 0; i < 5000; i++) assert.ok(got.has(`child ${i}`), `child ${i}`);
});
