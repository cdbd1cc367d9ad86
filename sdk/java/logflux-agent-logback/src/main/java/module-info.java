/** A Logback appender that sends events to the local LogFlux agent. */
module org.logflux.agent.logback {
    requires transitive org.logflux.agent;
    requires ch.qos.logback.classic;
    requires ch.qos.logback.core;
    requires org.slf4j;

    exports org.logflux.agent.logback;
}
