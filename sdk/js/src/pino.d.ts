import type { ClientOptions } from './index.js';
import type { Transform } from 'node:stream';

/** The pino transport, for pino({ transport: { target: '@logflux/agent-sdk/pino', options } }). */
declare function logfluxTransport(options?: logfluxTransport.PinoTransportOptions): Promise<Transform>;

declare namespace logfluxTransport {
  /** Options of the pino transport: the client's (structured-cloneable: no onError), plus pino's messageKey. */
  export interface PinoTransportOptions extends Omit<ClientOptions, 'onError' | 'env'> {
    /** The key of the message in pino's records. Default 'msg'. */
    messageKey?: string;
  }
  export { logfluxTransport as default };
}

export = logfluxTransport;
