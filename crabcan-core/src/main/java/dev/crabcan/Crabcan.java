package dev.crabcan;

import dev.crabcan.internal.cgroup.CgroupDriver;
import dev.crabcan.internal.cgroup.Cgroups;
import dev.crabcan.internal.host.HostIds;
import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.launch.HelperRuntime;
import dev.crabcan.internal.launch.IoThreads;
import dev.crabcan.internal.launch.Session;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;

/**
 * Where and how sandboxes are started: the cache directory (the helper's run directory), the
 * cgroup parent, the host id range for a root caller's sandboxes, the executor that runs
 * {@link SandboxProcess#onExit()}'s dependent actions, and default limits. Built once, in the style
 * of {@code java.net.http.HttpClient}, and used for any number of sandboxes:
 *
 * <pre>{@code
 * try (Crabcan judge = Crabcan.newBuilder()
 *         .cacheDirectory(Path.of("/var/cache/judge"))
 *         .cgroupParent(Path.of("/sys/fs/cgroup/judge.slice"))
 *         .defaultLimits(Limits.builder().memory(256 << 20).wallTime(Duration.ofSeconds(5)).build())
 *         .build()) {
 *     SandboxResult r = judge.run(sandbox);
 * }
 * }</pre>
 *
 * <p>{@link Sandbox#start()}, {@link Sandbox#run()} and {@link Sandbox#createDetached} use the
 * {@linkplain #defaultClient() default client}, configured from the system properties and
 * environment variables that the README lists. Clients with the same cache directory share one
 * helper process (zygote); a client with a cache directory of its own has its own, stopped by
 * {@link #close()}.
 *
 * <p>Immutable and thread-safe: one client serves any number of threads.
 */
public final class Crabcan implements AutoCloseable {
    private static final Crabcan DEFAULT = new Crabcan(new Builder(), true);

    private final Path cacheDirectory;
    private final Path cgroupParent;
    private final String hostIdRange;
    private final Executor callbackExecutor;
    private final Limits defaultLimits;
    private final boolean isDefault;
    /** The sessions of this client's running sandboxes, which {@link #close()} ends. */
    private final Set<Session> running = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;
    private volatile HelperRuntime runtime;
    private HostCapabilities capabilities;

    private Crabcan(Builder b, boolean isDefault) {
        this.cacheDirectory = b.cacheDirectory;
        this.cgroupParent = b.cgroupParent;
        this.hostIdRange = b.hostIdRange;
        this.callbackExecutor = b.callbackExecutor;
        this.defaultLimits = b.defaultLimits;
        this.isDefault = isDefault;
    }

    public static Builder newBuilder() {
        return new Builder();
    }

    /**
     * The client that {@link Sandbox#start()} and {@link Sandbox#run()} use: the cache directory
     * {@code -Dcrabcan.cache.dir} / {@code CRABCAN_CACHE_DIR} or the usual location, the cgroup
     * parent {@code -Dcrabcan.cgroup.parent} / {@code CRABCAN_CGROUP_PARENT} or the JVM's own
     * cgroup, the id range {@code -Dcrabcan.idRange} / {@code CRABCAN_ID_RANGE} or the host's
     * {@code crabcan} entries, callbacks on threads of the library's own, no default limits. It
     * lives as long as the JVM and cannot be closed.
     */
    public static Crabcan defaultClient() {
        return DEFAULT;
    }

    /** Starts the sandbox as {@link Sandbox#start()} does, with this client's settings. */
    public SandboxProcess start(Sandbox sandbox) throws SandboxException {
        return withDefaults(sandbox).startWith(this);
    }

    /** Runs the sandbox as {@link Sandbox#run()} does, with this client's settings. */
    public SandboxResult run(Sandbox sandbox) throws SandboxException, InterruptedException {
        return withDefaults(sandbox).runWith(this);
    }

    /** Creates a detached sandbox as {@link Sandbox#createDetached(Path)} does, with this client's settings. */
    public long createDetached(Sandbox sandbox, Path releaseFifo) throws SandboxException {
        return withDefaults(sandbox).createDetachedWith(this, releaseFifo, java.util.List.of(), ContainerHooks.none());
    }

    /** The configured cache directory; empty for the default choice (see {@link #defaultClient()}). */
    public Optional<Path> cacheDirectory() {
        return Optional.ofNullable(cacheDirectory);
    }

    /** The configured cgroup parent; empty for the default choice. */
    public Optional<Path> cgroupParent() {
        return Optional.ofNullable(cgroupParent);
    }

    /** The configured host id range ({@code START-END}); empty for the default choice. */
    public Optional<String> hostIdRange() {
        return Optional.ofNullable(hostIdRange);
    }

    /** The executor of {@link SandboxProcess#onExit()}'s dependent actions; empty for the library's own threads. */
    public Optional<Executor> callbackExecutor() {
        return Optional.ofNullable(callbackExecutor);
    }

    /**
     * Which limits this host enforces for this caller: found once per client by making a cgroup as
     * a sandbox's would be made (below this client's cgroup parent) and removing it again. Where
     * {@link HostCapabilities#cgroupLimits()} is false, a run with a limit that needs a cgroup throws
     * {@link CgroupUnavailableException}.
     */
    public synchronized HostCapabilities capabilities() {
        if (capabilities == null) {
            Limits probe = Limits.builder().memory(64L << 20).pids(64).cpus(1).cpuWeight(100)
                    .cpuTime(java.time.Duration.ofSeconds(1)).build();
            String problem = null;
            boolean swap = false;
            try {
                cgroups().create(probe).remove();
            } catch (SandboxException e) {
                problem = e.getMessage();
            }
            if (problem == null) {
                try {
                    cgroups().create(probe.toBuilder().swap(1L << 20).build()).remove();
                    swap = true;
                } catch (SandboxException e) {
                    // Memory is limited here, swap is not (cgroup v1 without the kernel's swap accounting).
                }
            }
            capabilities = new HostCapabilities(problem, swap);
        }
        return capabilities;
    }

    /** The limits of every sandbox that sets none of its own ({@link Limits#none()} when not set). */
    public Limits defaultLimits() {
        return defaultLimits;
    }

    /**
     * Kills every sandbox this client started that still runs and waits for their ends, then
     * stops the helper process of this client's own cache directory; later starts throw
     * {@link IllegalStateException}. Idempotent. Detached sandboxes are not this client's: they
     * outlive it.
     *
     * @throws IllegalStateException on the {@linkplain #defaultClient() default client}
     */
    @Override
    public void close() {
        if (isDefault) {
            throw new IllegalStateException("the default Crabcan client lives as long as the JVM and cannot be closed");
        }
        closed = true;
        running.forEach(Session::kill);
        boolean interrupted = false;
        for (Session s : running) {
            while (true) {
                try {
                    s.ended().get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (java.util.concurrent.ExecutionException e) {
                    break; // ended with a failure: ended all the same
                }
            }
        }
        HelperRuntime r = runtime;
        if (r != null) {
            HelperRuntime.release(r);
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return isDefault ? "Crabcan[default]" : "Crabcan[cache=" + cacheDirectory + ", cgroupParent=" + cgroupParent
                + ", idRange=" + hostIdRange + ", defaultLimits=" + defaultLimits + "]";
    }

    // ---- for Sandbox and SandboxProcess ------------------------------------------------------

    private Sandbox withDefaults(Sandbox s) {
        Validation.notNull(s, "sandbox");
        return s.limits().equals(Limits.none()) && !defaultLimits.equals(Limits.none())
                ? s.toBuilder().limits(defaultLimits).build() : s;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException(this + " is closed");
        }
    }

    synchronized HelperRuntime runtime() throws SandboxException {
        requireOpen();
        if (runtime == null) {
            runtime = HelperRuntime.acquire(cacheDirectory);
        }
        return runtime;
    }

    CgroupDriver cgroups() throws SandboxException {
        return Cgroups.driver(cgroupParent);
    }

    /** A sandbox's cgroup for these limits; one the caller may not make names the limits that need it. */
    dev.crabcan.internal.cgroup.SandboxCgroup cgroupFor(Limits limits) throws SandboxException {
        try {
            return cgroups().create(limits);
        } catch (CgroupUnavailableException e) {
            throw new CgroupUnavailableException(limits.cgroupLimitNames(), e.getMessage());
        }
    }

    /** The host ids of a sandbox of this caller with that many supplementary groups (see {@link HostIds#lease}). */
    HostIds.Lease lease(HostInfo host, int groups) throws SandboxException {
        return HostIds.lease(host, hostIdRange, host.leasesHostIds() ? groups : 0);
    }

    Executor callbacks() {
        return callbackExecutor != null ? callbackExecutor : IoThreads.pool();
    }

    /** Tracks a started sandbox until it ends; one started while closing is killed at once. */
    void track(Session session) {
        running.add(session);
        session.ended().whenComplete((o, e) -> running.remove(session));
        if (closed) {
            session.kill();
        }
    }

    /**
     * Builds a {@link Crabcan}. Each setting is checked as it is set.
     *
     * <p>Not thread-safe: confine a builder to one thread.
     */
    public static final class Builder {
        private Path cacheDirectory;
        private Path cgroupParent;
        private String hostIdRange;
        private Executor callbackExecutor;
        private Limits defaultLimits = Limits.none();

        private Builder() {}

        /**
         * The directory that holds the helper's run directory (its control socket, files bound into
         * sandboxes). It must be private to this user, as the README's "Ids" and cache sections
         * describe; it is refused, never bypassed, when it is not. No sandbox may bind it.
         */
        public Builder cacheDirectory(Path dir) {
            this.cacheDirectory = Validation.notNull(dir, "cacheDirectory").toAbsolutePath().normalize();
            return this;
        }

        /**
         * The cgroup under which sandboxes with cgroup limits get their cgroups (in
         * {@code crabcan-<pid>/}): a cgroup v2 directory, or on cgroup v1 the path relative to each
         * hierarchy's root. Crabcan creates and removes only cgroups below it.
         */
        public Builder cgroupParent(Path parent) {
            this.cgroupParent = Validation.notNull(parent, "cgroupParent").normalize();
            return this;
        }

        /**
         * The host ids a root caller's sandboxes run as: {@code count} uids and gids from {@code first},
         * checked at the first start against the host's users, groups and subordinate ids.
         */
        public Builder hostIdRange(int first, int count) {
            if (first <= 0 || count <= 0 || (long) first + count - 1 > 0xFFFF_FFFEL) {
                throw new SandboxSpecException("hostIdRange(" + first + ", " + count + "): ids must be from 1 to "
                        + 0xFFFF_FFFEL + " and the count positive");
            }
            this.hostIdRange = first + "-" + ((long) first + count - 1);
            return this;
        }

        /**
         * Runs {@link SandboxProcess#onExit()}'s dependent actions (default: a thread of the
         * library's own per action, never one that serves other sandboxes).
         */
        public Builder callbackExecutor(Executor executor) {
            this.callbackExecutor = Validation.notNull(executor, "callbackExecutor");
            return this;
        }

        /** Limits for every sandbox that sets none of its own ({@link Sandbox#limits()} is {@link Limits#none()}). */
        public Builder defaultLimits(Limits limits) {
            this.defaultLimits = Validation.notNull(limits, "defaultLimits");
            return this;
        }

        public Crabcan build() {
            return new Crabcan(this, false);
        }
    }
}
