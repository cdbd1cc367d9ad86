'use strict';
// The pino transport: pino({ transport: { target: '@logflux/agent-sdk/pino', options } }).
// It runs in pino's worker thread; options must be structured-cloneable (no
// onError function). pino ends the worker at exit (its own flushSync and
// worker shutdown) and this transport's close flushes to the agent first.

const build = require('pino-abstract-transport');
const { createClient } = require('./client.js');
const { pinoEntry } = require('./mapping.js');

/**
 * @param {object} [options] createClient options, plus messageKey (pino's, default "msg")
 */
async function logfluxTransport(options = {}) {
  // pino adds $context and pinoWillSendConfig to every transport's options.
  const { messageKey = 'msg', $context, pinoWillSendConfig, ...clientOptions } = options;
  const client = createClient(clientOptions);
  return build(
    async (source) => {
      for await (const obj of source) client.log(pinoEntry(obj, messageKey));
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
