/** A java.util.logging Handler that sends records to the local LogFlux agent. */
module org.logflux.agent.jul {
    requires transitive org.logflux.agent;
    requires transitive java.logging;

    exports org.logflux.agent.jul;
}
