import logfluxTransport from './pino.js';

export default logfluxTransport;
