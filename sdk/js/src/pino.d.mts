import type { Transform } from 'node:stream';
import type cjs = require('./pino.js');

export type PinoTransportOptions = cjs.PinoTransportOptions;
/** The pino transport, for pino({ transport: { target: '@logflux/agent-sdk/pino', options } }). */
declare function logfluxTransport(options?: PinoTransportOptions): Promise<Transform>;
export default logfluxTransport;
