import { LogfluxTransport } from './winston.js';

export { LogfluxTransport };
export type { LogfluxTransportOptions } from './winston.js';
export default LogfluxTransport;
