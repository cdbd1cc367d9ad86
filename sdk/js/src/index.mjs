// ESM entry: the same module instance as require('@logflux/agent-sdk').
import sdk from './index.js';

export const {
  createClient, Client, metric, trace, event, audit, levels, entryTypes, levelNumber,
  AgentError, InvalidEntryError, UnavailableError, defaults,
} = sdk;
export default sdk;
