import TransportStream = require('winston-transport');
import type { Client, ClientOptions, Level } from './index.js';

export interface LogfluxTransportOptions extends TransportStream.TransportStreamOptions, Omit<ClientOptions, 'level'> {
  /** Use this client instead of creating one (then close() and logger.end() flush it but do not close it). */
  client?: Client;
  /** winston level name → Agent API level, over the npm and syslog defaults. */
  levelMap?: Record<string, Level>;
  /** The client's own minimum level (the transport's `level` is winston's). */
  clientLevel?: Level;
}

export declare class LogfluxTransport extends TransportStream {
  constructor(options?: LogfluxTransportOptions);
  readonly client: Client;
  log(info: any, callback: () => void): void;
  close(): void;
}
export default LogfluxTransport;
