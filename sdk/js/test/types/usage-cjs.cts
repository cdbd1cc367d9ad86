import sdk = require('@logflux/agent-sdk');
import winstonEntry = require('@logflux/agent-sdk/winston');

const c: sdk.Client = sdk.createClient({ address: 'unix:///tmp/x.sock' });
const t: winstonEntry.LogfluxTransport = new winstonEntry.LogfluxTransport({ client: c });
void t;
import pinoTransport = require('@logflux/agent-sdk/pino');
const p: Promise<unknown> = pinoTransport({ source: 'w' });
void p;
