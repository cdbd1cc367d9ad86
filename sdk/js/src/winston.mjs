import winstonTransport from './winston.js';

export const { LogfluxTransport } = winstonTransport;
export default LogfluxTransport;
