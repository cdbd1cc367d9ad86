// The winston transport with the real winston: level sets, metadata, errors
// with their stack, and logger.end() flushing to the agent before 'finish'.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import winston from 'winston';
import { LogfluxTransport } from '@logflux/agent-sdk/winston';
import { createClient } from '@logflux/agent-sdk';
import { startAgent, byPayload } from './helpers/agent.mjs';

test('winston (npm levels): records arrive mapped; logger.end() flushes before finish', async (t) => {
  const agent = await startAgent(t);
  const transport = new LogfluxTransport({ address: agent.unixAddress, source: 'winston-npm' });
  const logger = winston.createLogger({
    level: 'silly',
    format: winston.format.combine(winston.format.errors({ stack: true }), winston.format.timestamp(), winston.format.json()),
    transports: [transport],
  });
  for (const l of ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']) logger.log(l, `at ${l}`, { req: { id: 7 } });
  logger.error(new Error('boom'));
  for (let i = 0; i < 2000; i++) logger.info(`bulk ${i}`, { i });
  logger.end();
  await once(transport, 'finish');
  // Confirmed by the agent before 'finish': its queue has them all.
  assert.equal(transport.client.stats().confirmed, 2008);
  const got = byPayload(await agent.waitStored(2008));
  const levels = Object.fromEntries(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'].map((l) => [l, got.get(`at ${l}`).logLevel]));
  assert.deepEqual(levels, { error: 4, warn: 5, info: 7, http: 7, verbose: 8, debug: 8, silly: 8 });
  const info = got.get('at info');
  assert.equal(info.source, 'winston-npm');
  assert.equal(info.metadata['req.id'], '7');
  assert.match(info.metadata.timestamp, /^\d{4}-/);
  const boom = got.get('boom');
  assert.equal(boom.logLevel, 4);
  assert.match(boom.metadata.stack, /^Error: boom\n\s+at /);
});

test('winston (syslog levels) with a shared client and a level map', async (t) => {
  const agent = await startAgent(t);
  const client = createClient({ address: agent.unixAddress, source: 'winston-syslog' });
  t.after(() => client.close());
  const transport = new LogfluxTransport({ client, levelMap: { notice: 'warning' } });
  const logger = winston.createLogger({ levels: winston.config.syslog.levels, level: 'debug', transports: [transport] });
  for (const l of ['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug']) logger.log(l, `at ${l}`);
  logger.end();
  await once(transport, 'finish');
  const got = byPayload(await agent.waitStored(8));
  const levels = ['emerg', 'alert', 'crit', 'error', 'warning', 'notice', 'info', 'debug'].map((l) => got.get(`at ${l}`).logLevel);
  assert.deepEqual(levels, [1, 2, 3, 4, 5, 5, 7, 8]);
  // The shared client was flushed, not closed.
  assert.equal(client.log('still open'), true);
});
