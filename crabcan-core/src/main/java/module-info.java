/**
 * Crabcan: runs a command inside a Linux container and hands back a {@link java.lang.Process}.
 * The API is {@code dev.crabcan}; nothing under {@code dev.crabcan.internal} is exported.
 */
module dev.crabcan {
    requires transitive org.slf4j;
    requires org.jnrproject.constants;
    requires org.jnrproject.jffi; // native calls of Sandbox.Builder.passFd, loaded by it alone
    requires jdk.net; // SO_PEERCRED on the helpers' control socket
    requires dev.crabcan.helper;

    exports dev.crabcan;
    exports dev.crabcan.image;
}
