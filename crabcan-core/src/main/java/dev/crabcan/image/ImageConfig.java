package dev.crabcan.image;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What an image says about running it (the OCI image config's {@code config} object): environment,
 * working directory, user, entrypoint and command, labels, exposed ports, volumes, stop signal,
 * and the shell of shell-form instructions. An empty list or null string means "not set".
 *
 * <p>Immutable and thread-safe; compares by value.
 */
public final class ImageConfig {
    /** The shell of shell-form RUN, CMD and ENTRYPOINT when SHELL did not set one. */
    public static final List<String> DEFAULT_SHELL = List.of("/bin/sh", "-c");

    private static final ImageConfig EMPTY = new Builder().build();

    private final Map<String, String> env;
    private final String user;
    private final String workingDir;
    private final List<String> entrypoint;
    private final List<String> cmd;
    private final Map<String, String> labels;
    private final Set<String> exposedPorts;
    private final Set<String> volumes;
    private final String stopSignal;
    private final List<String> shell;

    private ImageConfig(Builder b) {
        this.env = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(b.env));
        this.user = b.user;
        this.workingDir = b.workingDir;
        this.entrypoint = List.copyOf(b.entrypoint);
        this.cmd = List.copyOf(b.cmd);
        this.labels = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(b.labels));
        this.exposedPorts = java.util.Collections.unmodifiableSet(new LinkedHashSet<>(b.exposedPorts));
        this.volumes = java.util.Collections.unmodifiableSet(new LinkedHashSet<>(b.volumes));
        this.stopSignal = b.stopSignal;
        this.shell = List.copyOf(b.shell);
    }

    /** Nothing set: the config of {@code FROM scratch}. */
    public static ImageConfig empty() {
        return EMPTY;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.env.putAll(env);
        b.user = user;
        b.workingDir = workingDir;
        b.entrypoint = entrypoint;
        b.cmd = cmd;
        b.labels.putAll(labels);
        b.exposedPorts.addAll(exposedPorts);
        b.volumes.addAll(volumes);
        b.stopSignal = stopSignal;
        b.shell = shell;
        return b;
    }

    /** The environment, in the order it was set. */
    public Map<String, String> env() {
        return env;
    }

    /** {@code user}, {@code uid}, {@code user:group} or {@code uid:gid}; null when not set (root). */
    public String user() {
        return user;
    }

    /** An absolute path, or null when not set ({@code /}). */
    public String workingDir() {
        return workingDir;
    }

    public List<String> entrypoint() {
        return entrypoint;
    }

    public List<String> cmd() {
        return cmd;
    }

    public Map<String, String> labels() {
        return labels;
    }

    /** {@code port/proto}, as EXPOSE wrote them ({@code 80/tcp}). */
    public Set<String> exposedPorts() {
        return exposedPorts;
    }

    public Set<String> volumes() {
        return volumes;
    }

    /** A signal name or number, or null when not set (SIGTERM). */
    public String stopSignal() {
        return stopSignal;
    }

    /** The shell of shell-form instructions, or empty for {@link #DEFAULT_SHELL}. */
    public List<String> shell() {
        return shell;
    }

    /** The command an image runs by default: entrypoint then cmd. */
    public List<String> command() {
        List<String> all = new ArrayList<>(entrypoint);
        all.addAll(cmd);
        return all;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ImageConfig c && env.equals(c.env) && Objects.equals(user, c.user)
                && Objects.equals(workingDir, c.workingDir) && entrypoint.equals(c.entrypoint) && cmd.equals(c.cmd)
                && labels.equals(c.labels) && exposedPorts.equals(c.exposedPorts) && volumes.equals(c.volumes)
                && Objects.equals(stopSignal, c.stopSignal) && shell.equals(c.shell);
    }

    @Override
    public int hashCode() {
        return Objects.hash(env, user, workingDir, entrypoint, cmd, labels, exposedPorts, volumes, stopSignal, shell);
    }

    @Override
    public String toString() {
        return "ImageConfig[env=" + env + ", user=" + user + ", workingDir=" + workingDir + ", entrypoint="
                + entrypoint + ", cmd=" + cmd + ", labels=" + labels + ", exposedPorts=" + exposedPorts
                + ", volumes=" + volumes + ", stopSignal=" + stopSignal + ", shell=" + shell + "]";
    }

    /** Builds an {@link ImageConfig}; validates each value as it is set. Not thread-safe. */
    public static final class Builder {
        private final Map<String, String> env = new LinkedHashMap<>();
        private String user;
        private String workingDir;
        private List<String> entrypoint = List.of();
        private List<String> cmd = List.of();
        private final Map<String, String> labels = new LinkedHashMap<>();
        private final Set<String> exposedPorts = new LinkedHashSet<>();
        private final Set<String> volumes = new LinkedHashSet<>();
        private String stopSignal;
        private List<String> shell = List.of();

        private Builder() {
        }

        public Builder env(String name, String value) {
            if (name == null || name.isEmpty() || name.contains("=") || name.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("environment variable name '" + name
                        + "' must be non-empty without '=' or NUL");
            }
            env.put(name, noNul(value, "value of " + name));
            return this;
        }

        public Builder user(String user) {
            this.user = user == null || user.isEmpty() ? null : noNul(user, "user");
            return this;
        }

        public Builder workingDir(String dir) {
            if (dir != null && !dir.startsWith("/")) {
                throw new IllegalArgumentException("working directory '" + dir + "' must be absolute");
            }
            this.workingDir = dir == null ? null : noNul(dir, "working directory");
            return this;
        }

        public Builder entrypoint(List<String> entrypoint) {
            this.entrypoint = List.copyOf(entrypoint);
            return this;
        }

        public Builder cmd(List<String> cmd) {
            this.cmd = List.copyOf(cmd);
            return this;
        }

        public Builder label(String key, String value) {
            if (key == null || key.isEmpty()) {
                throw new IllegalArgumentException("a label needs a non-empty key");
            }
            labels.put(key, Objects.requireNonNull(value, "label value"));
            return this;
        }

        /** @param port {@code 80}, {@code 80/tcp}, {@code 53/udp} or {@code 132/sctp} */
        public Builder exposedPort(String port) {
            String p = port.contains("/") ? port.toLowerCase(java.util.Locale.ROOT) : port + "/tcp";
            if (!p.matches("([1-9][0-9]{0,4})/(tcp|udp|sctp)") || Integer.parseInt(p.substring(0, p.indexOf('/'))) > 65535) {
                throw new IllegalArgumentException("exposed port '" + port + "' is not PORT or PORT/PROTO"
                        + " (1-65535, tcp, udp or sctp)");
            }
            exposedPorts.add(p);
            return this;
        }

        public Builder volume(String path) {
            if (path == null || !path.startsWith("/")) {
                throw new IllegalArgumentException("volume '" + path + "' must be an absolute path");
            }
            volumes.add(path);
            return this;
        }

        public Builder stopSignal(String signal) {
            if (signal != null && !signal.matches("(SIG)?[A-Z0-9+-]+|[0-9]+")) {
                throw new IllegalArgumentException("stop signal '" + signal + "' is not a signal name or number");
            }
            this.stopSignal = signal;
            return this;
        }

        public Builder shell(List<String> shell) {
            this.shell = List.copyOf(shell);
            return this;
        }

        public ImageConfig build() {
            return new ImageConfig(this);
        }

        private static String noNul(String s, String what) {
            if (s == null || s.indexOf('\0') >= 0) {
                throw new IllegalArgumentException(what + " must be a string without NUL");
            }
            return s;
        }
    }
}
