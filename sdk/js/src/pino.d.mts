import type { Writable } from 'node:stream';
import type cjs = require('./pino.js');

export type PinoTransportOptions = cjs.PinoTransportOptions;
/** The pino transport, for pino({ transport: { target: '@logflux/agent-sdk/pino', options } }). */
declare function logfluxTransport(options?: PinoTransportOptions): Promise<Writable>;
export default logfluxTransport;
