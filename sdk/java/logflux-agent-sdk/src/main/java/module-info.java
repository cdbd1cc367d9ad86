/**
 * The LogFlux agent SDK: a client that sends log entries to the local LogFlux
 * agent over its Unix socket or TCP. No dependencies beyond the JDK.
 */
module org.logflux.agent {
    exports org.logflux.agent;
}
