/** A Log4j2 appender plugin that sends events to the local LogFlux agent. */
module org.logflux.agent.log4j2 {
    requires transitive org.logflux.agent;
    requires org.apache.logging.log4j;
    requires org.apache.logging.log4j.core;

    exports org.logflux.agent.log4j2;
    // The plugin builder's attributes are injected by reflection.
    opens org.logflux.agent.log4j2 to org.apache.logging.log4j.core;
}
