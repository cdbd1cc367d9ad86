'use strict';
// @logflux/agent-sdk: send entries to the local LogFlux agent.

const { Client, createClient, UnavailableError, DEFAULTS } = require('./client.js');
const wire = require('./wire.js');
const { metric, trace, event, audit } = require('./entries.js');

module.exports = {
  createClient,
  Client,
  metric,
  trace,
  event,
  audit,
  levels: wire.LEVELS,
  entryTypes: wire.TYPES,
  levelNumber: wire.levelNumber,
  AgentError: wire.AgentError,
  InvalidEntryError: wire.InvalidEntryError,
  UnavailableError,
  defaults: DEFAULTS,
};
