'use strict';
// The winston transport: new LogfluxTransport({ source: 'web' }). It queues
// each record in a client (never waits on the network) and, when the logger
// ends (logger.end()), flushes to the agent before its 'finish'.

const TransportStream = require('winston-transport');
const { createClient } = require('./client.js');
const { winstonEntry } = require('./mapping.js');

// Options that belong to winston-transport, not to the client.
const TRANSPORT_KEYS = ['level', 'silent', 'format', 'handleExceptions', 'handleRejections', 'close', 'log', 'logv'];

class LogfluxTransport extends TransportStream {
  /**
   * @param {object} [options] winston-transport options (level, format, silent, …),
   *   createClient options (address, source, …), client (an existing client
   *   to use instead), levelMap (winston level name → Agent API level)
   */
  constructor(options = {}) {
    const transportOptions = {};
    const clientOptions = {};
    for (const k of Object.keys(options)) {
      if (TRANSPORT_KEYS.includes(k)) transportOptions[k] = options[k];
      else if (k !== 'client' && k !== 'levelMap' && k !== 'clientLevel') clientOptions[k] = options[k];
    }
    if (options.clientLevel !== undefined) clientOptions.level = options.clientLevel;
    super(transportOptions);
    this.name = 'logflux';
    this.ownsClient = !options.client;
    this.client = options.client || createClient(clientOptions);
    this.levelMap = options.levelMap;
  }

  log(info, callback) {
    this.client.log(winstonEntry(info, this.levelMap));
    setImmediate(() => this.emit('logged', info));
    callback();
  }

  // Called when the logger ends: flush everything before 'finish'.
  _final(callback) {
    const done = () => callback();
    (this.ownsClient ? this.client.close() : this.client.flush()).then(done, done);
  }

  close() {
    if (this.ownsClient) this.client.close();
  }
}

module.exports = { LogfluxTransport };
module.exports.default = LogfluxTransport;
