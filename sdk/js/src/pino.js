'use strict';
// The pino transport: pino({ transport: { target: '@logflux/agent-sdk/pino', options } }).
// It runs in pino's worker thread; options must be structured-cloneable (no
// onError function). pino ends the worker at exit (its own flushSync and
// worker shutdown) and this transport's close flushes to the agent first.

const build = require('pino-abstract-transport');
const { createClient } = require('./client.js');
const { pinoRecord } = require('./mapping.js');

/**
 * @param {object} [options] createClient options, plus messageKey (pino's, default "msg")
 */
async function logfluxTransport(options = {}) {
  // pino adds $context and pinoWillSendConfig to every transport's options.
  const { messageKey = 'msg', $context, pinoWillSendConfig, ...clientOptions } = options;
  const client = createClient(clientOptions);
  return build(
    (source) => {
      // Records are taken as pino's worker hands them over, a chunk at a
      // time, without a promise per record. While the agent is connected
      // and the queue is half full, the source pauses until the sender has
      // made room (pino then waits, as with its own file transport) rather
      // than dropping records of a burst.
      const resume = () => source.resume();
      const make = (obj, defaultSource) => pinoRecord(obj, messageKey, defaultSource);
      source.on('data', (obj) => {
        client._logRecord(make, obj);
        if (client._shouldWait(resume)) source.pause();
      });
    },
    {
      async close() {
        await client.close();
      },
    },
  );
}

module.exports = logfluxTransport;
module.exports.default = logfluxTransport;
