package dev.crabcan;

/** Signal names for messages. */
final class Signals {
    private Signals() {}

    static String name(int signal) {
        for (jnr.constants.platform.Signal s : jnr.constants.platform.Signal.values()) {
            if (s.defined() && s.intValue() == signal) {
                return s.name();
            }
        }
        return "SIG" + signal;
    }
}
