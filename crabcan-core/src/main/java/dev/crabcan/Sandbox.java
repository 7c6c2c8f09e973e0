package dev.crabcan;

import dev.crabcan.internal.cgroup.Cgroups;
import dev.crabcan.internal.cgroup.SandboxCgroup;
import dev.crabcan.internal.host.HostIds;
import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.launch.FileCopies;
import dev.crabcan.internal.launch.HelperRuntime;
import dev.crabcan.internal.launch.Launcher;
import dev.crabcan.internal.launch.Session;
import dev.crabcan.internal.net.NetworkSetup;
import dev.crabcan.internal.plan.NetPlan;
import dev.crabcan.internal.plan.PlanCompiler;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An immutable, reusable description of a sandboxed command: root filesystem, binds, ids,
 * command, environment and stdio. Every {@link #start()} runs it in fresh namespaces.
 *
 * <pre>{@code
 * Sandbox sandbox = Sandbox.builder()
 *     .bind(Path.of("/data/in"), "/in", true)
 *     .command("/bin/sh", "-c", "wc -l /in/*")
 *     .build();
 * SandboxResult result = sandbox.run();
 * }</pre>
 *
 * <p>Without {@link Builder#rootfs(Path)} the root filesystem is an empty read-only tmpfs with
 * the host's {@code /usr}, {@code /etc}, {@code /bin}, {@code /sbin}, {@code /lib} and
 * {@code /lib64} bound read-only (symbolic links such as Debian's {@code /bin -> usr/bin} are
 * recreated as links). Every sandbox also gets {@code /proc}, a minimal {@code /dev} and an
 * empty tmpfs {@code /tmp}.
 *
 * <p>Immutable and thread-safe: one sandbox may be started from several threads at once, each
 * start a sandbox of its own.
 */
public final class Sandbox {
    private static final Logger LOG = LoggerFactory.getLogger(Sandbox.class);

    /** The PATH a sandbox gets when its environment does not set one. */
    public static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    /**
     * The most bytes an image's writable layer holds unless {@link Builder#writableLayerSize} says
     * otherwise: 256 MiB, enough for a program's scratch files, while a runaway writer meets ENOSPC
     * long before it fills the host's memory (a tmpfs's own default is half of it).
     */
    public static final long DEFAULT_WRITABLE_LAYER_SIZE = 256L << 20;

    private static final Set<String> RESERVED_TARGETS = Set.of("/", "/proc", "/dev");
    /** The highest fd number a passed fd may have: the kernel's default fs.nr_open. */
    private static final int MAX_PASSED_FD = 1_048_575;
    /** Compiled by the first spec that names a host or a sysctl, not by every JVM's first sandbox. */
    private static final class Patterns {
        static final Pattern HOSTNAME = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*");
        static final Pattern SYSCTL_NAME = Pattern.compile("[a-z0-9_]+(\\.[A-Za-z0-9_-]+)+");
    }
    private static final List<String> SYSCTL_NAMESPACED = List.of("net.", "kernel.shm", "kernel.msg", "kernel.sem",
            "fs.mqueue.");

    private final Path rootfs;
    private final List<Path> rootfsLayers;
    private final boolean rootfsWritable;
    private final long writableLayerSize;
    private final Path writableLayerDirectory;
    private final List<Bind> binds;
    private final List<Tmpfs> tmpfs;
    private final int uid;
    private final List<Integer> supplementaryGroups;
    private final List<String> command;
    private final Map<String, String> environment;
    private final String workingDirectory;
    private final String hostname;
    private final String domainname;
    private final String sessionKeyring;
    private final boolean callersSessionKeyring;
    private final Stdio stdin;
    private final Stdio stdout;
    private final Stdio stderr;
    private final Set<Capability> capabilities;
    /** Each null when not set: then derived from the uid and the bounding set (see the accessors). */
    private final Set<Capability> effective, permitted, inheritable, ambient;
    private final boolean noNewPrivileges;
    private final SeccompPolicy seccomp;
    private final boolean keepTerminal;
    private final Terminal terminal;
    private final Limits limits;
    private final Network network;
    private final Path ipcNamespace;
    private final Path utsNamespace;
    /** The sandbox whose /proc/PID/ns paths these are ({@link Builder#joinNamespacesOf}), or null. */
    private final PlanCompiler.JoinTarget namespaceOwner;
    private final Integer umask;
    private final Integer oomScoreAdj;
    private final List<KernelMount> kernelMounts;
    private final Map<String, Propagation> propagations;
    private final List<String> maskedPaths;
    private final List<Bind> devices;
    private final List<String> readOnlyPaths;
    private final Map<String, String> sysctls;
    private final Map<Integer, Object> passedFds;
    private final boolean socketActivation;
    private final List<CopyIn> copyIns;
    private final Map<String, Long> copyOuts;
    /** A private copy of the builder this was built from, never changed: {@link #toBuilder()} copies it. */
    private final Builder settings;

    private Sandbox(Builder b) {
        this.settings = new Builder(b);
        this.rootfs = b.rootfs;
        this.rootfsLayers = b.rootfsLayers;
        this.rootfsWritable = b.rootfsWritable;
        this.writableLayerSize = b.writableLayerSize;
        this.writableLayerDirectory = b.writableLayerDirectory;
        this.binds = List.copyOf(b.binds);
        this.tmpfs = List.copyOf(b.tmpfs);
        this.uid = b.uid;
        this.supplementaryGroups = List.copyOf(b.supplementaryGroups);
        this.command = List.copyOf(b.command);
        this.environment = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(b.environment));
        this.workingDirectory = b.workingDirectory;
        this.hostname = b.hostname;
        this.domainname = b.domainname;
        this.sessionKeyring = b.sessionKeyring;
        this.callersSessionKeyring = b.callersSessionKeyring;
        this.stdin = b.stdin;
        this.stdout = b.stdout;
        this.stderr = b.stderr;
        this.capabilities = capSet(b.capabilities);
        this.effective = b.effective == null ? null : capSet(b.effective);
        this.permitted = b.permitted == null ? null : capSet(b.permitted);
        this.inheritable = b.inheritable == null ? null : capSet(b.inheritable);
        this.ambient = b.ambient == null ? null : capSet(b.ambient);
        this.noNewPrivileges = b.noNewPrivileges;
        this.seccomp = b.seccomp;
        this.keepTerminal = b.keepTerminal;
        this.terminal = b.terminal;
        this.limits = b.limits;
        this.network = b.network;
        this.ipcNamespace = b.ipcNamespace;
        this.utsNamespace = b.utsNamespace;
        this.namespaceOwner = b.namespaceOwner;
        this.umask = b.umask;
        this.oomScoreAdj = b.oomScoreAdj;
        this.kernelMounts = List.copyOf(b.kernelMounts);
        this.propagations = Collections.unmodifiableMap(new LinkedHashMap<>(b.propagations));
        this.maskedPaths = List.copyOf(b.maskedPaths);
        this.devices = List.copyOf(b.devices);
        this.readOnlyPaths = List.copyOf(b.readOnlyPaths);
        this.sysctls = Collections.unmodifiableMap(new LinkedHashMap<>(b.sysctls));
        this.passedFds = Collections.unmodifiableMap(new LinkedHashMap<>(b.passedFds));
        this.socketActivation = b.socketActivation;
        this.copyIns = List.copyOf(b.copyIns);
        this.copyOuts = Collections.unmodifiableMap(new LinkedHashMap<>(b.copyOuts));
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this sandbox's settings, to derive a variant. */
    public Builder toBuilder() {
        return new Builder(settings);
    }

    /** The host directory used as the root filesystem; empty for the default root filesystem. */
    public Optional<Path> rootfs() {
        return Optional.ofNullable(rootfs);
    }

    /**
     * The directories of the image's layers ({@link Builder#image}), top-most first, of which an
     * overlayfs is the root filesystem; empty for a sandbox that runs no image.
     */
    public List<Path> rootfsLayers() {
        return rootfsLayers;
    }

    /** Whether the sandbox may write to its root filesystem (default false). */
    public boolean rootfsWritable() {
        return rootfsWritable;
    }

    /**
     * The most bytes the writable layer of an image holds when it is a tmpfs
     * ({@link Builder#writableLayerSize}; default {@link #DEFAULT_WRITABLE_LAYER_SIZE}).
     */
    public long writableLayerSize() {
        return writableLayerSize;
    }

    /** The directory that keeps the writable layer of an image ({@link Builder#writableLayerDirectory}), if any. */
    public Optional<Path> writableLayerDirectory() {
        return Optional.ofNullable(writableLayerDirectory);
    }

    public List<Bind> binds() {
        return binds;
    }

    public List<Tmpfs> tmpfs() {
        return tmpfs;
    }

    /** The uid and gid the command runs as inside the sandbox (default 0). */
    public int uid() {
        return uid;
    }

    /**
     * The most supplementary groups a sandbox takes: with its own gid's, each a line of its gid map
     * of up to 24 bytes (two 10-digit ids), which the kernel reads in one write of less than a page.
     */
    public static final int MAX_SUPPLEMENTARY_GROUPS = 128;

    /** The command's supplementary group ids inside the sandbox, in order, each once (default none). */
    public List<Integer> supplementaryGroups() {
        return supplementaryGroups;
    }

    public List<String> command() {
        return command;
    }

    /** The command's whole environment; PATH is {@link #DEFAULT_PATH} unless set here. */
    public Map<String, String> environment() {
        return environment;
    }

    public String workingDirectory() {
        return workingDirectory;
    }

    /** The NIS domain name inside (uname's domainname); empty for the kernel's "(none)". */
    public Optional<String> domainname() {
        return Optional.ofNullable(domainname);
    }

    /**
     * The name of the sandbox's own session keyring; empty: none of a name (an anonymous one where
     * the seccomp policy is not the default, which denies keyctl; see {@link Builder#sessionKeyring}).
     */
    public Optional<String> sessionKeyring() {
        return Optional.ofNullable(sessionKeyring);
    }

    /** Whether the sandbox keeps the caller's session keyring whatever its policy ({@link Builder#keepCallersSessionKeyring}). */
    public boolean keepsCallersSessionKeyring() {
        return callersSessionKeyring;
    }

    /** The hostname inside; empty for a new random {@code adjective-noun-number} at each start. */
    public Optional<String> hostname() {
        return Optional.ofNullable(hostname);
    }

    public Stdio stdin() {
        return stdin;
    }

    public Stdio stdout() {
        return stdout;
    }

    public Stdio stderr() {
        return stderr;
    }

    /** Whether stderr goes where stdout goes, as one stream in order ({@link Stdio#toStdout()}). */
    public boolean redirectErrorStream() {
        return stderr.kind() == Stdio.Kind.TO_STDOUT;
    }

    /**
     * The bounding set: the capabilities the command keeps when it runs as uid 0 inside (default
     * {@link Capability#DEFAULT_KEPT}); all others are dropped from every set, the bounding set
     * included. A non-zero uid holds none unless its sets say otherwise (see
     * {@link #ambientCapabilities()}); no set ever holds more than this one. They apply inside the sandbox's user namespace only.
     * A root caller's sandbox never holds SETFCAP or FSETID, in any set, even when they are listed:
     * its read-write binds are idmapped to host root, where a file capability it wrote would give
     * privilege on the host. On a private network NET_RAW and NET_ADMIN are left out of every set too.
     */
    public Set<Capability> capabilities() {
        return capabilities;
    }

    /**
     * The effective capabilities the command is given before execve: by default the bounding set
     * ({@link #capabilities()}) for uid 0 and none for other uids. Never more than the permitted
     * set. At execve the kernel recomputes the sets: uid 0 then holds its bounding set (plus its
     * inheritable and ambient sets) as effective and permitted, as under runc and crun; another
     * uid keeps only its ambient set.
     */
    public Set<Capability> effectiveCapabilities() {
        return effective != null ? effective : uid == 0 ? capabilities : Set.of();
    }

    /** The permitted capabilities before execve (see {@link #effectiveCapabilities()}); within the bounding set. */
    public Set<Capability> permittedCapabilities() {
        return permitted != null ? permitted : uid == 0 ? capabilities : Set.of();
    }

    /** The inheritable capabilities (default none); within the bounding set. */
    public Set<Capability> inheritableCapabilities() {
        return inheritable != null ? inheritable : Set.of();
    }

    /**
     * The ambient capabilities (default none), which a command of any uid keeps across execve;
     * each must also be permitted and inheritable, as the kernel requires.
     */
    public Set<Capability> ambientCapabilities() {
        return ambient != null ? ambient : Set.of();
    }

    private static Set<Capability> capSet(Set<Capability> caps) {
        return Collections.unmodifiableSet(caps.isEmpty() ? EnumSet.noneOf(Capability.class) : EnumSet.copyOf(caps));
    }

    /** Whether no_new_privs is set, so that no execve can gain privileges (default true). */
    public boolean noNewPrivileges() {
        return noNewPrivileges;
    }

    /** The seccomp filter installed just before execve (default {@link SeccompPolicy#defaultPolicy()}). */
    public SeccompPolicy seccomp() {
        return seccomp;
    }

    /**
     * Whether the sandbox stays in the caller's session and may use its controlling terminal
     * (default false: a new session without a terminal, so nothing can be typed into the
     * caller's terminal).
     */
    public boolean keepTerminal() {
        return keepTerminal;
    }

    /** The command's terminal, if it has one (see {@link Terminal}). */
    public java.util.Optional<Terminal> terminal() {
        return java.util.Optional.ofNullable(terminal);
    }

    /** The sandbox's network; {@link Network#none()} by default. */
    public Network network() {
        return network;
    }

    /** The existing IPC namespace the sandbox joins ({@link Builder#ipcNamespace}); empty: one of its own. */
    public Optional<Path> ipcNamespace() {
        return Optional.ofNullable(ipcNamespace);
    }

    /** The existing UTS namespace the sandbox joins ({@link Builder#utsNamespace}); empty: one of its own. */
    public Optional<Path> utsNamespace() {
        return Optional.ofNullable(utsNamespace);
    }

    /** What the sandbox may use (default {@link Limits#none()}). */
    public Limits limits() {
        return limits;
    }

    /** The file mode creation mask of the command; empty to keep the caller's. */
    public java.util.OptionalInt umask() {
        return umask == null ? java.util.OptionalInt.empty() : java.util.OptionalInt.of(umask);
    }

    /**
     * The sandbox's {@code oom_score_adj} (-1000 to 1000), which its init and command inherit; empty
     * to keep the caller's. Raising it is always allowed; lowering it below the caller's needs
     * root (CAP_SYS_RESOURCE on the host), else the start fails naming it.
     */
    public java.util.OptionalInt oomScoreAdj() {
        return oomScoreAdj == null ? java.util.OptionalInt.empty() : java.util.OptionalInt.of(oomScoreAdj);
    }

    /** Kernel file systems (sysfs, devpts, mqueue, cgroup) mounted inside, beyond /proc. */
    public List<KernelMount> kernelMounts() {
        return kernelMounts;
    }

    /** The propagation of mounts that is not {@link Propagation#PRIVATE}, by target ("/": the root file system). */
    public Map<String, Propagation> propagations() {
        return propagations;
    }

    /**
     * Paths hidden in addition to the /proc paths every sandbox hides (a file is covered by
     * /dev/null, a directory by an empty read-only tmpfs); a path that does not exist is skipped.
     */
    public List<String> maskedPaths() {
        return maskedPaths;
    }

    /**
     * The host's device nodes bound in besides the six every sandbox has (see
     * {@link Builder#device(Path, String)}): each bind's source is the host's node, its target the
     * path inside.
     */
    public List<Bind> devices() {
        return devices;
    }

    /** Paths made read-only in addition to the /proc paths every sandbox has read-only. */
    public List<String> readOnlyPaths() {
        return readOnlyPaths;
    }

    /** Kernel parameters of the sandbox's own namespaces, set before the command starts. */
    public Map<String, String> sysctls() {
        return sysctls;
    }

    /**
     * The fds given to the command ({@link Builder#passFd(int, java.nio.channels.Channel)}): fd
     * number to the {@link java.nio.channels.Channel}, {@link java.io.FileDescriptor} or
     * {@link SandboxPipe.End} passed there ({@code InheritedFd.FROM_ZYGOTE} for {@link
     * Builder#inheritFd(int)}), in the order they were set; unmodifiable.
     */
    public Map<Integer, Object> passedFds() {
        return passedFds;
    }

    /**
     * What a start passes, by target fd, in the order of the plan's T_PASS_FD records: the ends of
     * SandboxPipes at stdio (0, 1, 2), then {@link #passedFds()}, with each pipe end as the
     * descriptor the start takes.
     */
    private Map<Integer, Object> fdsToPass() {
        Map<Integer, Object> all = new LinkedHashMap<>();
        List<Stdio> stdio = List.of(stdin, stdout, stderr);
        for (int fd = 0; fd < 3; fd++) {
            if (stdio.get(fd).pipeEnd() != null) {
                all.put(fd, stdio.get(fd).pipeEnd().fd);
            }
        }
        for (Map.Entry<Integer, Object> passed : passedFds.entrySet()) {
            Object source = passed.getValue();
            all.put(passed.getKey(), source instanceof SandboxPipe.End e ? e.fd : source);
        }
        return all;
    }

    /** Whether the command is told about its passed fds as systemd socket activation does (LISTEN_FDS, LISTEN_PID). */
    public boolean socketActivation() {
        return socketActivation;
    }

    /** The files put into the sandbox before the command starts ({@link Builder#copyIn(CopyIn)}), in order. */
    public List<CopyIn> copyIns() {
        return copyIns;
    }

    /**
     * The files read back once the command ended ({@link Builder#copyOut(String, long)}): path
     * inside the sandbox to the most bytes read of it, in order; unmodifiable.
     */
    public Map<String, Long> copyOuts() {
        return copyOuts;
    }

    /**
     * Starts the command in a new sandbox and returns once it is running. A root caller's sandbox
     * runs as a host uid and gid of its own, allocated from Crabcan's id range
     * ({@code -Dcrabcan.idRange}, {@code CRABCAN_ID_RANGE}, the {@code crabcan} user's /etc/subuid
     * and /etc/subgid entries, or 2000000000-2000065535) and given back when the sandbox ends; a
     * rootless caller's runs as the caller.
     *
     * @throws SandboxSetupException a setup step failed (the message names the step, path and
     *     errno), or every host id of the range is held by a running sandbox (step "host ids")
     * @throws CommandNotFoundException the command is not in the sandbox's root filesystem
     * @throws CommandNotExecutableException it is there but cannot be executed, for example
     *     because its ELF interpreter is missing (the message says which bind fixes it)
     * @throws UnsupportedHostException this host cannot run sandboxes, or the id range is
     *     malformed or collides with the host's users, groups or subordinate ids
     */
    public SandboxProcess start() throws SandboxException {
        return Crabcan.defaultClient().start(this);
    }

    SandboxProcess startWith(Crabcan client) throws SandboxException {
        for (int attempt = 0; ; attempt++) {
            try {
                return startOnce(client);
            } catch (SandboxSetupException e) {
                if (attempt >= 3 || !HostInfo.get().adaptTo(e, hostname != null)) {
                    throw e;
                }
            }
        }
    }

    /** An image's layers keep its owners, which only an idmapped mount shows as the sandbox's. */
    private void refuseImageWithoutIdmap(HostInfo host) throws UnsupportedHostException {
        if (!rootfsLayers.isEmpty() && host.leasesHostIds() && !host.isHostRoot()) {
            throw new UnsupportedHostException("an image's root filesystem cannot run here: this JVM is the host's "
                    + "root without CAP_SYS_ADMIN (a container's root), so its sandboxes run as host ids of their own "
                    + "without idmapped mounts, and the image's root-owned files would be nobody's in the sandbox; give "
                    + "the container a user namespace of its own (see the README, \"Running inside Docker, podman and "
                    + "Kubernetes\"), where images build and run");
        }
    }

    private SandboxProcess startOnce(Crabcan client) throws SandboxException {
        long startNanos = System.nanoTime();
        HostInfo host = HostInfo.get();
        HelperRuntime runtime = checkedRuntime(host, client);
        refuseImageWithoutIdmap(host);
        String name = hostname != null ? hostname : Hostnames.random();
        HostIds.Lease ids = holdingLayers(client.lease(host, PlanCompiler.commandGroups(this).size()));
        Session.SETUP_LOG.debug("Linux release {}; starting {} as uid {} (host uid {}), binds {}, tmpfs {}, {}",
                host.kernel(), this, uid, ids.uid(), binds, tmpfs, limits);
        NetworkSetup net;
        try {
            net = NetworkSetup.create(network, host);
        } catch (SandboxException | RuntimeException e) {
            ids.release();
            throw e;
        }
        SandboxCgroup cgroup = null;
        Launcher.Launched launched = null;
        FileCopies copies = FileCopies.NONE;
        try {
            copies = FileCopies.open(copyIns, copyOuts);
            cgroup = limits.needsCgroup() ? client.cgroupFor(limits) : null;
            List<java.nio.file.Path> cgroupProcs = cgroup == null ? List.of() : cgroup.procsFiles();
            List<String> cgroupFileSystems = cgroup == null ? List.of() : cgroup.fileSystems();
            launched = runtime.launcher().launch(io -> PlanCompiler.compile(this, host, ids, runtime.runDir(), name,
                    cgroupProcs, cgroupFileSystems, io, net.plan(), null, ContainerHooks.none(), namespaceOwner), stdin,
                    stdout, stderr, fdsToPass(), copies);
            client.track(launched.session());
            return SandboxProcess.awaitStart(this, launched, cgroup, net, ids, client.callbacks(), startNanos);
        } catch (SandboxException | RuntimeException e) {
            copies.collect(); // closes what the start made; a sandbox that ran left nothing worth reading
            if (cgroup != null) {
                cgroup.remove();
            }
            net.release();
            if (launched == null) {
                // Once launched, the sandbox's end releases them: not before its processes are gone.
                ids.release();
            }
            throw e;
        }
    }

    /**
     * The lease, which the sandbox's end releases once its processes are gone, made to keep the
     * image's layer directories from a prune of its store until then too: they are mounted.
     */
    private HostIds.Lease holdingLayers(HostIds.Lease lease) throws SandboxException {
        if (rootfsLayers.isEmpty()) {
            return lease;
        }
        dev.crabcan.internal.image.StoreLock.Held held;
        try {
            held = dev.crabcan.internal.image.ImageRootfs.use(rootfsLayers);
        } catch (IOException e) {
            lease.release();
            throw new SandboxSpecException("the image cannot run: " + e.getMessage());
        }
        java.util.concurrent.atomic.AtomicBoolean released = new java.util.concurrent.atomic.AtomicBoolean();
        return new HostIds.Lease() {
            @Override
            public int uid() {
                return lease.uid();
            }

            @Override
            public int gid() {
                return lease.gid();
            }

            @Override
            public List<Integer> groupGids() {
                return lease.groupGids();
            }

            @Override
            public void pin(long pid) throws SandboxSetupException {
                lease.pin(pid);
            }

            @Override
            public void release() {
                lease.release();
                if (released.compareAndSet(false, true)) {
                    held.close();
                }
            }
        };
    }

    /**
     * Sets the sandbox up in full and leaves its command waiting just before seccomp and execve
     * until a reader opens the FIFO this makes at {@code releaseFifo} (which must not exist): this is
     * OCI create, and opening the FIFO is OCI start. Returns the host pid of the sandbox's init,
     * which from then on does not depend on this JVM: it outlives it and is reaped by whoever reaps
     * orphans (the nearest subreaper, such as an OCI engine's monitor), passes the signals it
     * receives on to the command, and exits with the command's status (128+N when signal N killed
     * it). Its stdio must not be pipes, and limits that this JVM enforces (cgroups, time, output)
     * are refused.
     */
    public long createDetached(Path releaseFifo) throws SandboxException {
        return Crabcan.defaultClient().createDetached(this, releaseFifo);
    }

    /**
     * {@link #createDetached(Path)} with the sandbox's init put into cgroups the caller made and
     * owns (their {@code cgroup.procs} files, at most one per hierarchy) before it runs anything,
     * so that the limits the caller set there hold for every process of the sandbox without
     * this JVM: an OCI runtime's container cgroup. The caller removes them once the sandbox ends.
     */
    public long createDetached(Path releaseFifo, List<Path> cgroupProcsFiles) throws SandboxException {
        return createDetached(releaseFifo, cgroupProcsFiles, ContainerHooks.none());
    }

    /**
     * {@link #createDetached(Path, List)} with hooks the sandbox runs inside itself (an OCI
     * runtime's createContainer and startContainer hooks; see {@link ContainerHooks}), and the
     * caller's own runtime hooks, run on this thread while the sandbox waits before pivot_root
     * ({@link ContainerHooks.RuntimeHooks}).
     */
    public long createDetached(Path releaseFifo, List<Path> cgroupProcsFiles, ContainerHooks hooks)
            throws SandboxException {
        Validation.notNull(cgroupProcsFiles, "cgroup.procs files");
        Validation.notNull(hooks, "container hooks");
        return createDetachedWith(Crabcan.defaultClient(), releaseFifo, List.copyOf(cgroupProcsFiles), hooks);
    }

    long createDetachedWith(Crabcan client, Path releaseFifo, List<Path> cgroupProcs, ContainerHooks hooks)
            throws SandboxException {
        for (int attempt = 0; ; attempt++) {
            try {
                return createDetachedOnce(client, releaseFifo, cgroupProcs, hooks);
            } catch (SandboxSetupException e) {
                if (attempt >= 3 || !HostInfo.get().adaptTo(e, hostname != null)) {
                    throw e;
                }
                try {
                    Files.deleteIfExists(releaseFifo); // made again by the next attempt
                } catch (IOException d) {
                    e.addSuppressed(d);
                    throw e;
                }
            }
        }
    }

    private long createDetachedOnce(Crabcan client, Path releaseFifo, List<Path> cgroupProcs, ContainerHooks hooks)
            throws SandboxException {
        Validation.notNull(releaseFifo, "release FIFO");
        if (network.mode() == Network.Mode.PRIVATE) {
            throw new SandboxSpecException("a detached sandbox cannot have a private network: its interface and "
                    + "port forwarding are kept by this JVM, which does not stay; use Network.none() or host()");
        }
        if (limits.needsCgroup() || limits.wallTime().isPresent() || limits.outputBytes().isPresent()) {
            throw new SandboxSpecException("a detached sandbox cannot have " + limits + ": its cgroup, time and "
                    + "output limits would be enforced by this JVM, which does not stay; only rlimits are possible (and "
                    + "cgroups the caller makes: createDetached(fifo, cgroupProcsFiles))");
        }
        if (!copyOuts.isEmpty()) {
            throw new SandboxSpecException("a detached sandbox cannot copy files out: this JVM, which would read them, "
                    + "does not stay; write them to a bind instead");
        }
        for (Stdio s : List.of(stdin, stdout, stderr)) {
            if (s.kind() == Stdio.Kind.PIPE) {
                throw new SandboxSpecException("a detached sandbox cannot have piped stdio (nobody would read the "
                        + "pipes once this JVM is gone): use inherit, discard or files");
            }
        }
        HostInfo host = HostInfo.get();
        HelperRuntime runtime = checkedRuntime(host, client);
        refuseImageWithoutIdmap(host);
        String name = hostname != null ? hostname : Hostnames.random();
        HostIds.Lease ids = client.lease(host, PlanCompiler.commandGroups(this).size());
        Launcher.Launched launched;
        FileCopies copies = FileCopies.NONE;
        try {
            makeReleaseFifo(releaseFifo, host, ids);
            copies = FileCopies.open(copyIns, Map.of());
            launched = runtime.launcher().launch(io -> PlanCompiler.compile(this, host, ids, runtime.runDir(), name,
                    cgroupProcs, List.of(), io, network.mode() == Network.Mode.NONE ? NetPlan.NONE : NetPlan.HOST,
                    releaseFifo.toAbsolutePath(), hooks, namespaceOwner), stdin, stdout, stderr, fdsToPass(), copies);
        } catch (SandboxException | RuntimeException e) {
            ids.release();
            throw e;
        } finally {
            copies.collect(); // the copy-in sources: the helper has its own, or the start failed
        }
        Session session = launched.session();
        // Detached, the helper exits and the session ends at once; the pin then keeps the id.
        session.ended().whenComplete((outcome, e) -> ids.release());
        Session.Start started;
        try {
            if (hooks.runtime() != ContainerHooks.RuntimeHooks.NONE) {
                runRuntimeHooks(session, hooks.runtime());
            }
            started = session.started().get();
        } catch (InterruptedException e) {
            session.kill();
            Thread.currentThread().interrupt();
            throw new SandboxException("interrupted while the sandbox was being created; it has been killed");
        } catch (java.util.concurrent.ExecutionException e) {
            session.kill();
            throw new SandboxException("the sandbox failed to start: " + e.getCause(), e.getCause());
        }
        if (started instanceof Session.Created) {
            try {
                ids.pin(session.pid());
            } catch (SandboxSetupException e) {
                session.kill();
                throw e;
            }
            try {
                session.detach();
            } catch (IOException e) {
                throw new SandboxException("cannot let the created sandbox go: its helper is gone (" + e + ")", e);
            }
            return session.pid();
        }
        session.kill();
        throw Failures.toException(started, this);
    }

    /**
     * Runs the caller's hooks once init waits for them, its mounts made, then lets it go on; nothing
     * when the start fails first. A hook that fails kills the sandbox, which is gone before this
     * throws (so that the caller can remove the cgroups it made for it). A sandbox that ends
     * meanwhile (killed) interrupts this thread, so that hooks that wait end at once rather than
     * hold the create: the interrupt is this method's own, cleared before it throws.
     */
    private static void runRuntimeHooks(Session session, ContainerHooks.RuntimeHooks hooks)
            throws InterruptedException, java.util.concurrent.ExecutionException, SandboxException {
        java.util.concurrent.CompletableFuture.anyOf(session.paused(), session.started()).get();
        if (!session.paused().isDone()) {
            return; // the start failed: started says how
        }
        Thread runner = Thread.currentThread();
        // [0]: the hooks are done, no interrupt may come; [1]: the sandbox's end interrupted them.
        boolean[] hooking = {false, false};
        session.ended().thenRun(() -> {
            synchronized (hooking) {
                // An interrupt already there is the caller's: it stays theirs.
                if (!hooking[0] && !runner.isInterrupted()) {
                    hooking[1] = true;
                    runner.interrupt();
                }
            }
        });
        try {
            hooks.run(session.pid());
        } catch (Exception e) {
            if (endHooking(hooking)) {
                throw new SandboxException("sandbox " + session.pid() + " ended (was it killed?) while its runtime hooks "
                        + "ran, which were stopped" + (e.getMessage() == null ? "" : ": " + e.getMessage()), e);
            }
            session.kill();
            try {
                session.ended().get(10, java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException gone) {
                LOG.warn("sandbox {} did not end within 10 s of being killed after its runtime hooks failed", session.pid());
            }
            if (e instanceof InterruptedException i) {
                throw i;
            }
            throw e instanceof SandboxException s ? s : new SandboxException(e.getMessage(), e);
        } catch (Error e) {
            // A hook's AssertionError or the like: no interrupt may follow the caller out, nor the sandbox wait on.
            endHooking(hooking);
            session.kill();
            throw e;
        }
        endHooking(hooking); // an end just after them: started says so
        try {
            session.resume();
        } catch (IOException e) {
            LOG.debug("sandbox {}: its helper went during the runtime hooks: {}", session.pid(), e.toString());
        }
    }

    /** No more interrupts from the sandbox's end; whether one came, which is then cleared. */
    private static boolean endHooking(boolean[] hooking) {
        synchronized (hooking) {
            hooking[0] = true;
            if (hooking[1]) {
                Thread.interrupted();
            }
            return hooking[1];
        }
    }

    /** The FIFO, owned by the sandbox's host ids so that its command can open it. */
    private static void makeReleaseFifo(Path fifo, HostInfo host, HostIds.Lease ids) throws SandboxException {
        Path abs = fifo.toAbsolutePath();
        // The JVM has no mkfifo(3) of its own and this is no hot path: coreutils' mkfifo makes it.
        try {
            Process p = new ProcessBuilder("/usr/bin/mkfifo", "-m", "0600", "--", abs.toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
            if (p.waitFor() != 0) {
                throw new SandboxException("cannot make the release FIFO " + abs + ": " + out);
            }
        } catch (IOException e) {
            throw e instanceof SandboxException s ? s : new SandboxException("cannot run mkfifo for " + abs + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SandboxException("interrupted while making the release FIFO " + abs);
        }
        if (host.leasesHostIds()) {
            try {
                Files.setAttribute(abs, "unix:uid", ids.uid(), java.nio.file.LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(abs, "unix:gid", ids.gid(), java.nio.file.LinkOption.NOFOLLOW_LINKS);
            } catch (IOException e) {
                throw new SandboxException("cannot give the release FIFO " + abs + " to the sandbox: " + e, e);
            }
        }
    }

    /** Checks that this host and the binds are usable and returns the helper runtime. */
    private HelperRuntime checkedRuntime(HostInfo host, Crabcan client) throws SandboxException {
        host.requireSupported();
        for (Bind b : binds) {
            if (!Files.exists(b.source())) {
                throw new SandboxSpecException("bind source " + b.source() + " (for " + b.target()
                        + ") no longer exists");
            }
        }
        HelperRuntime runtime = client.runtime();
        // Run directories live there (control sockets, files bound into sandboxes): a sandbox that saw
        // one could pose as that JVM's helpers or change what its sandboxes are given.
        List<Path> sources = new ArrayList<>();
        for (Bind b : binds) {
            sources.add(b.source());
        }
        if (rootfs != null) {
            sources.add(rootfs);
        }
        String exposed = runtime.exposure(sources);
        if (exposed != null) {
            throw new SandboxSpecException(exposed + " (JVMs' run directories with their control sockets), which no "
                    + "sandbox may see; bind a directory outside it, or move the cache with -D"
                    + HelperRuntime.CACHE_PROPERTY + "=DIR (a client's with Crabcan.Builder.cacheDirectory)");
        }
        return runtime;
    }

    /**
     * Reads an OCI runtime bundle: {@code config.json} (runtime-spec 1.0 to 1.2) in {@code bundle},
     * its root filesystem relative to it. Every field is either carried out or refused with a
     * {@link SandboxSpecException} that names it and says why; see the README for the list.
     * The config's user namespace settings do not matter: the sandbox always gets its own, with
     * the config's uid mapped to the caller (or, for a root caller, to an unprivileged host id).
     */
    public static Sandbox fromOciBundle(Path bundle) {
        return dev.crabcan.internal.oci.OciConfig.read(bundle);
    }

    /**
     * This sandbox as an OCI runtime {@code config.json} (runtime-spec 1.2), so that other OCI
     * runtimes can run it; {@link #fromOciBundle} reads it back. Needs a {@link Builder#rootfs}.
     */
    public String toOciConfig() {
        return dev.crabcan.internal.oci.OciConfig.write(this);
    }

    /**
     * Runs the command to completion, capturing stdout and stderr where they are {@link Stdio#pipe()}
     * (the default, each up to the output limit) and giving it no input where stdin is a pipe.
     * When it returns, the sandbox's processes are gone, its cgroup removed and its published
     * host ports free; a private network's veth pair, which the kernel removes asynchronously with
     * the namespace, may still be going, and its address is given to no other sandbox until then.
     */
    public SandboxResult run() throws SandboxException, InterruptedException {
        return Crabcan.defaultClient().run(this);
    }

    SandboxResult runWith(Crabcan client) throws SandboxException, InterruptedException {
        SandboxProcess p = startWith(client);
        try {
            p.getOutputStream().close();
            Future<byte[]> out = capture(p.getInputStream(), stdout);
            Future<byte[]> err = capture(p.getErrorStream(), stderr);
            SandboxProcess.Finished finished = p.finishedWhenDone();
            finished.requireReported();
            byte[] o = get(out);
            byte[] e = get(err);
            return new SandboxResult(finished, o, p.stdoutTruncated(), e, p.stderrTruncated());
        } catch (IOException e) {
            throw new SandboxException("reading the sandbox's output: " + e, e);
        } finally {
            p.destroyForcibly();
        }
    }

    /**
     * Like {@link #run()}, killing the sandbox once {@code timeout} has passed since the command's execve: the
     * same as a {@linkplain Limits#wallTime() wall-time limit} of {@code timeout} (or this
     * sandbox's own, when shorter), so a run that takes longer ends with verdict
     * {@link Verdict#WALL_TIME_LIMIT} and whatever output it wrote until then.
     */
    public SandboxResult run(java.time.Duration timeout) throws SandboxException, InterruptedException {
        Validation.notNull(timeout, "timeout");
        java.time.Duration wall = limits.wallTime().filter(own -> own.compareTo(timeout) < 0).orElse(timeout);
        return toBuilder().limits(limits.toBuilder().wallTime(wall).build()).build().run();
    }

    /** Like {@link #run()}, with these bytes on the command's stdin (then end of file), whatever {@link #stdin()} says. */
    public SandboxResult run(byte[] stdin) throws SandboxException, InterruptedException {
        return toBuilder().stdin(Stdio.bytes(Validation.notNull(stdin, "stdin bytes"))).build().run();
    }

    /** Like {@link #run(byte[])}, with this text as UTF-8. */
    public SandboxResult run(String stdin) throws SandboxException, InterruptedException {
        return run(Validation.notNull(stdin, "stdin text").getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /**
     * {@link #run()} on {@code executor}: the future completes with the result, or exceptionally
     * with the {@link SandboxException} (or {@link InterruptedException}) that run() would throw,
     * wrapped in a {@link java.util.concurrent.CompletionException}. Cancelling the future does not
     * stop the sandbox; give it a {@linkplain Limits#wallTime() wall-time limit} for that.
     */
    public java.util.concurrent.CompletableFuture<SandboxResult> runAsync(java.util.concurrent.Executor executor) {
        Validation.notNull(executor, "executor");
        return java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return run();
            } catch (SandboxException e) {
                throw new java.util.concurrent.CompletionException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.util.concurrent.CompletionException(e);
            }
        }, executor);
    }

    /** Reads a captured stream to its end: the process's stream itself stops at the output limit and kills the sandbox past it. */
    private static Future<byte[]> capture(InputStream in, Stdio how) {
        if (how.kind() != Stdio.Kind.PIPE) {
            return java.util.concurrent.CompletableFuture.completedFuture(new byte[0]);
        }
        return dev.crabcan.internal.launch.IoThreads.pool().submit(() -> {
            try (in) {
                return in.readAllBytes();
            }
        });
    }

    private static <T> T get(Future<T> f) throws InterruptedException, IOException {
        try {
            return f.get();
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof IOException io ? io : new IOException(e.getCause());
        }
    }

    /** Equal when every setting is: two equal sandboxes run the same way. */
    @Override
    public boolean equals(Object o) {
        return o instanceof Sandbox x && Objects.equals(rootfs, x.rootfs) && rootfsLayers.equals(x.rootfsLayers)
                && rootfsWritable == x.rootfsWritable && writableLayerSize == x.writableLayerSize
                && Objects.equals(writableLayerDirectory, x.writableLayerDirectory) && binds.equals(x.binds) && tmpfs.equals(x.tmpfs) && uid == x.uid
                && supplementaryGroups.equals(x.supplementaryGroups) && command.equals(x.command)
                && environment.equals(x.environment) && workingDirectory.equals(x.workingDirectory)
                && Objects.equals(hostname, x.hostname) && Objects.equals(domainname, x.domainname)
                && Objects.equals(sessionKeyring, x.sessionKeyring) && callersSessionKeyring == x.callersSessionKeyring
                && stdin.equals(x.stdin) && stdout.equals(x.stdout)
                && stderr.equals(x.stderr) && capabilities.equals(x.capabilities)
                && Objects.equals(effective, x.effective) && Objects.equals(permitted, x.permitted)
                && Objects.equals(inheritable, x.inheritable) && Objects.equals(ambient, x.ambient)
                && noNewPrivileges == x.noNewPrivileges && seccomp.equals(x.seccomp) && keepTerminal == x.keepTerminal
                && Objects.equals(terminal, x.terminal)
                && limits.equals(x.limits) && network.equals(x.network) && Objects.equals(ipcNamespace, x.ipcNamespace)
                && Objects.equals(utsNamespace, x.utsNamespace) && Objects.equals(namespaceOwner, x.namespaceOwner)
                && Objects.equals(umask, x.umask)
                && Objects.equals(oomScoreAdj, x.oomScoreAdj) && kernelMounts.equals(x.kernelMounts)
                && propagations.equals(x.propagations)
                && maskedPaths.equals(x.maskedPaths) && readOnlyPaths.equals(x.readOnlyPaths)
                && sysctls.equals(x.sysctls) && devices.equals(x.devices) && passedFds.equals(x.passedFds)
                && socketActivation == x.socketActivation && copyIns.equals(x.copyIns) && copyOuts.equals(x.copyOuts);
    }

    @Override
    public int hashCode() {
        return Objects.hash(rootfs, rootfsLayers, rootfsWritable, writableLayerSize, writableLayerDirectory, binds, tmpfs, uid, supplementaryGroups, command, environment,
                workingDirectory,
                hostname, domainname, sessionKeyring, callersSessionKeyring, stdin, stdout, stderr, capabilities, effective, permitted, inheritable, ambient,
                noNewPrivileges, seccomp, keepTerminal, terminal, limits, network, ipcNamespace, utsNamespace, namespaceOwner, umask,
                oomScoreAdj, kernelMounts,
                propagations, maskedPaths, readOnlyPaths, sysctls, devices, passedFds, socketActivation, copyIns, copyOuts);
    }

    @Override
    public String toString() {
        return "Sandbox" + command + (rootfs == null ? "" : " in " + rootfs);
    }

    /**
     * Collects settings and checks each as it comes; {@link #build()} checks the whole.
     *
     * <p>Not thread-safe: confine a builder to one thread; the {@link Sandbox} it builds is immutable
     * and thread-safe.
     */
    public static final class Builder {
        private Path rootfs;
        private List<Path> rootfsLayers = List.of();
        private boolean rootfsWritable;
        private long writableLayerSize = DEFAULT_WRITABLE_LAYER_SIZE;
        private Path writableLayerDirectory;
        private final List<Bind> binds = new ArrayList<>();
        private final List<Tmpfs> tmpfs = new ArrayList<>();
        private int uid;
        private final List<Integer> supplementaryGroups = new ArrayList<>();
        private final List<String> command = new ArrayList<>();
        private final Map<String, String> environment = new LinkedHashMap<>();
        private String workingDirectory = "/";
        private String hostname;
        private String domainname;
        private String sessionKeyring;
        private boolean callersSessionKeyring;
        private Stdio stdin = Stdio.pipe();
        private Stdio stdout = Stdio.pipe();
        private Stdio stderr = Stdio.pipe();
        private final Set<Capability> capabilities = EnumSet.copyOf(Capability.DEFAULT_KEPT);
        private Set<Capability> effective, permitted, inheritable, ambient;
        private boolean noNewPrivileges = true;
        private SeccompPolicy seccomp = SeccompPolicy.defaultPolicy();
        private boolean keepTerminal;
        private Terminal terminal;
        private Limits limits = Limits.none();
        private Network network = Network.none();
        private Path ipcNamespace;
        private Path utsNamespace;
        private PlanCompiler.JoinTarget namespaceOwner;
        private Integer umask;
        private Integer oomScoreAdj;
        private final List<KernelMount> kernelMounts = new ArrayList<>();
        private final Map<String, Propagation> propagations = new LinkedHashMap<>();
        private final List<String> maskedPaths = new ArrayList<>();
        private final List<Bind> devices = new ArrayList<>();
        private final List<String> readOnlyPaths = new ArrayList<>();
        private final Map<String, String> sysctls = new LinkedHashMap<>();
        private final Map<Integer, Object> passedFds = new LinkedHashMap<>();
        private boolean socketActivation;
        private final List<CopyIn> copyIns = new ArrayList<>();
        private final Map<String, Long> copyOuts = new LinkedHashMap<>();

        private Builder() {}

        /** A copy whose lists, sets and maps are its own. */
        private Builder(Builder b) {
            rootfs = b.rootfs;
            rootfsLayers = b.rootfsLayers;
            rootfsWritable = b.rootfsWritable;
            writableLayerSize = b.writableLayerSize;
            writableLayerDirectory = b.writableLayerDirectory;
            binds.addAll(b.binds);
            tmpfs.addAll(b.tmpfs);
            uid = b.uid;
            supplementaryGroups.addAll(b.supplementaryGroups);
            command.addAll(b.command);
            environment.putAll(b.environment);
            workingDirectory = b.workingDirectory;
            hostname = b.hostname;
            domainname = b.domainname;
            sessionKeyring = b.sessionKeyring;
            callersSessionKeyring = b.callersSessionKeyring;
            stdin = b.stdin;
            stdout = b.stdout;
            stderr = b.stderr;
            capabilities.clear();
            capabilities.addAll(b.capabilities);
            effective = mutable(b.effective);
            permitted = mutable(b.permitted);
            inheritable = mutable(b.inheritable);
            ambient = mutable(b.ambient);
            noNewPrivileges = b.noNewPrivileges;
            seccomp = b.seccomp;
            keepTerminal = b.keepTerminal;
            terminal = b.terminal;
            limits = b.limits;
            network = b.network;
            ipcNamespace = b.ipcNamespace;
            utsNamespace = b.utsNamespace;
            namespaceOwner = b.namespaceOwner;
            umask = b.umask;
            oomScoreAdj = b.oomScoreAdj;
            kernelMounts.addAll(b.kernelMounts);
            propagations.putAll(b.propagations);
            maskedPaths.addAll(b.maskedPaths);
            devices.addAll(b.devices);
            readOnlyPaths.addAll(b.readOnlyPaths);
            sysctls.putAll(b.sysctls);
            passedFds.putAll(b.passedFds);
            socketActivation = b.socketActivation;
            copyIns.addAll(b.copyIns);
            copyOuts.putAll(b.copyOuts);
        }

        /** A copy of this builder, to derive variants; changing one does not change the other. */
        public Builder toBuilder() {
            return new Builder(this);
        }

        /**
         * A host directory to use as the root filesystem; relative paths are taken from the JVM's
         * working directory. For a host root caller it is idmapped to the sandbox's host id; the
         * kernel cannot idmap an overlayfs mount, so where the directory is the mount point of one
         * (an OCI engine's image root), the overlay is made again of the same layers and upper
         * directory, each idmapped, with a work directory {@code crabcan} made in its own (see
         * the README, "An engine's image root as host root").
         */
        public Builder rootfs(Path dir) {
            Validation.notNull(dir, "rootfs");
            if (!rootfsLayers.isEmpty()) {
                throw new SandboxSpecException("image(...) and rootfs(...) both give the root filesystem; use one");
            }
            Path abs = dir.toAbsolutePath();
            if (!Files.exists(abs)) {
                throw new SandboxSpecException("rootfs " + dir + " does not exist (resolved to " + abs + ")");
            }
            if (!Files.isDirectory(abs)) {
                throw new SandboxSpecException("rootfs " + dir + " is not a directory");
            }
            this.rootfs = realPath(abs, "rootfs");
            return this;
        }

        /**
         * Runs an image of an {@link dev.crabcan.image.ImageStore}: its layers, each unpacked once in
         * the store, are mounted as an overlayfs that is the root filesystem, read-only unless
         * {@link #rootfsWritable}(true) asks for a writable layer on top (a private tmpfs of at most
         * {@link #writableLayerSize} bytes, thrown away with the sandbox; the image never changes;
         * see {@link #writableLayerDirectory} to keep it and ImageStore.commit to make it an image).
         * From its start to its end a sandbox keeps a prune of the store from removing its layers. Its ENV, WORKDIR, USER and
         * ENTRYPOINT/CMD apply where this builder does not set them (an environment variable,
         * working directory, uid or command set here, before or after, wins).
         *
         * @throws SandboxSpecException when a root filesystem is already set, or the image cannot
         *     be unpacked or its USER resolved
         */
        public Builder image(dev.crabcan.image.Image image) {
            Validation.notNull(image, "image");
            if (rootfs != null || !rootfsLayers.isEmpty()) {
                throw new SandboxSpecException("image(...) and rootfs(...) both give the root filesystem; use one");
            }
            List<Path> layers;
            int imageUid;
            try {
                layers = dev.crabcan.internal.image.ImageRootfs.layers(image);
                imageUid = dev.crabcan.internal.image.ImageRootfs.uid(image, layers);
            } catch (IOException e) {
                throw new SandboxSpecException("image " + image.name().orElse(image.digest().toString())
                        + " cannot run: " + e.getMessage());
            }
            if (layers.isEmpty()) {
                throw new SandboxSpecException("image " + image.name().orElse(image.digest().toString())
                        + " has no layers: there is no root filesystem to run it on");
            }
            if (layers.size() > dev.crabcan.internal.plan.Contract.MAX_LAYERS) {
                throw new SandboxSpecException("image " + image.name().orElse(image.digest().toString()) + " has "
                        + layers.size() + " layers; overlayfs stacks at most " + dev.crabcan.internal.plan.Contract.MAX_LAYERS
                        + ": squash it");
            }
            rootfsLayers = layers;
            dev.crabcan.image.ImageConfig c = image.config();
            c.env().forEach(environment::putIfAbsent);
            if (command.isEmpty()) {
                command.addAll(c.command());
            }
            if (workingDirectory.equals("/") && c.workingDir() != null) {
                workingDirectory = c.workingDir();
            }
            if (uid == 0) {
                uid = imageUid;
            }
            return this;
        }

        /** Lets the sandbox write to its root filesystem; by default it is read-only. */
        public Builder rootfsWritable(boolean writable) {
            this.rootfsWritable = writable;
            return this;
        }

        /**
         * The most bytes an image's writable layer ({@link #image} with {@link #rootfsWritable}(true),
         * a private tmpfs) holds, default {@link Sandbox#DEFAULT_WRITABLE_LAYER_SIZE}: a write past it
         * fails with ENOSPC inside. It is counted in the sandbox's memory too, as a tmpfs is.
         * A {@link #writableLayerDirectory} is bounded by its own file system instead.
         */
        public Builder writableLayerSize(long bytes) {
            if (bytes < 4096) {
                throw new SandboxSpecException("writableLayerSize must be at least 4096 bytes (a page), got " + bytes);
            }
            this.writableLayerSize = bytes;
            return this;
        }

        /**
         * Keeps an image's writable layer in {@code dir} instead of a private tmpfs, so that what the
         * sandbox changes outlives it (and implies {@link #rootfsWritable}(true)): the overlayfs's
         * upper layer is {@code dir/upper} and its work directory {@code dir/work}, made when the
         * sandbox starts if missing. Changes are in overlayfs's format: whiteouts of removed files
         * are character devices 0/0, a replaced directory is marked {@code user.overlay.opaque=y}.
         * {@code dir} must be the caller's own, on a file system with user extended attributes and
         * idmapped mounts (ext4, xfs, btrfs, tmpfs). Image builds use it for their RUN steps, and
         * {@code ImageStore.commit} makes what it keeps an image. Such a sandbox cannot write or remove
         * extended attributes (ENOTSUP): the owner marks of the image's files are copied up with them.
         */
        public Builder writableLayerDirectory(Path dir) {
            Validation.notNull(dir, "writableLayerDirectory");
            Path abs = dir.toAbsolutePath();
            if (!Files.isDirectory(abs)) {
                throw new SandboxSpecException("writableLayerDirectory " + dir + " is not a directory");
            }
            this.writableLayerDirectory = realPath(abs, "writableLayerDirectory");
            this.rootfsWritable = true;
            return this;
        }

        /** Makes the host path {@code from} visible at {@code to} inside the sandbox. */
        public Builder bind(Path from, String to, boolean readOnly) {
            Validation.notNull(from, "bind source");
            Path abs = from.toAbsolutePath();
            if (!Files.exists(abs)) {
                throw new SandboxSpecException("bind source " + from + " does not exist"
                        + (Files.exists(abs, LinkOption.NOFOLLOW_LINKS) ? " (it is a dangling symbolic link)" : ""));
            }
            binds.add(new Bind(realPath(abs, "bind source"), Validation.normalize(Validation.containerPath(to, "bind target")), readOnly));
            return this;
        }

        /** {@code bind(from, to, true)}: the host path {@code from} at {@code to}, read-only. */
        public Builder bindReadOnly(Path from, String to) {
            return bind(from, to, true);
        }

        /**
         * Adds this bind, checked and resolved as {@link #bind(Path, String, boolean, boolean)} does,
         * e.g. {@code bind(Bind.readOnly(Path.of("/data"), "/in"))}.
         */
        public Builder bind(Bind b) {
            Validation.notNull(b, "bind");
            bind(b.source(), b.target(), b.readOnly(), b.noExec());
            Bind added = binds.remove(binds.size() - 1);
            binds.add(new Bind(added.source(), added.target(), added.readOnly(), added.noExec(), b.atime()));
            return this;
        }

        /** The path with every link resolved, as the kernel will see it ("link/.." is the link target's parent). */
        private static Path realPath(Path p, String what) {
            try {
                return p.toRealPath();
            } catch (java.io.IOException e) {
                throw new SandboxSpecException(what + " " + p + " cannot be resolved: " + e.getMessage());
            }
        }

        /** An empty tmpfs at {@code target}, of the kernel's default size. */
        public Builder tmpfs(String target) {
            return tmpfs(target, 0);
        }

        public Builder tmpfs(String target, long sizeBytes) {
            tmpfs.add(new Tmpfs(Validation.normalize(Validation.containerPath(target, "tmpfs target")), sizeBytes));
            return this;
        }

        /** Like {@link #bind(Path, String, boolean)}; with noExec nothing in it may be executed. */
        public Builder bind(Path from, String to, boolean readOnly, boolean noExec) {
            bind(from, to, readOnly);
            Bind b = binds.remove(binds.size() - 1);
            binds.add(new Bind(b.source(), b.target(), readOnly, noExec));
            return this;
        }

        /** An empty tmpfs at {@code target} whose root directory has these permissions. */
        public Builder tmpfs(String target, long sizeBytes, int mode) {
            return tmpfs(target, sizeBytes, mode, false, false);
        }

        /** Like {@link #tmpfs(String, long, int)}, read-only and without exec as asked. */
        public Builder tmpfs(String target, long sizeBytes, int mode, boolean readOnly, boolean noExec) {
            tmpfs.add(new Tmpfs(Validation.normalize(Validation.containerPath(target, "tmpfs target")), sizeBytes, mode,
                    readOnly, noExec));
            return this;
        }

        /** Adds this tmpfs, its target checked and normalized as {@link #tmpfs(String, long)} does. */
        public Builder tmpfs(Tmpfs t) {
            Validation.notNull(t, "tmpfs");
            tmpfs.add(new Tmpfs(Validation.normalize(t.target()), t.sizeBytes(), t.mode(), t.readOnly(), t.noExec(),
                    t.atime()));
            return this;
        }

        /** Adds this kernel mount, its target checked and normalized as {@link #kernelMount(KernelMount.Type, String, boolean)} does. */
        public Builder kernelMount(KernelMount k) {
            Validation.notNull(k, "kernel mount");
            kernelMounts.add(new KernelMount(k.type(), Validation.normalize(k.target()), k.readOnly(), k.atime()));
            return this;
        }

        /**
         * How mount events propagate to and from the mount at {@code target} and everything below it:
         * "/" for the root file system, else the target of a bind, tmpfs or kernel mount of this
         * sandbox (checked by {@link #build()}). Set after the sandbox's own mounts are made, before
         * its command runs; binds are made slaves of their sources as they are made, for {@link
         * Propagation#SLAVE} and {@link Propagation#SHARED} alike, so that no mount the sandbox
         * makes reaches the host.
         */
        public Builder propagation(String target, Propagation propagation) {
            Validation.notNull(propagation, "propagation");
            String t = Validation.normalize(Validation.containerPath(target, "propagation target"));
            propagations.remove(t);
            if (propagation != Propagation.PRIVATE) {
                propagations.put(t, propagation);
            }
            return this;
        }

        /** Mounts a kernel file system of the sandbox's own namespaces at {@code target}. */
        public Builder kernelMount(KernelMount.Type type, String target, boolean readOnly) {
            kernelMounts.add(new KernelMount(type, Validation.normalize(Validation.containerPath(target,
                    "kernel mount target")), readOnly));
            return this;
        }

        /** The command's umask (0 to 0777); by default it keeps the caller's. */
        public Builder umask(int mask) {
            if (mask < 0 || mask > 0777) {
                throw new SandboxSpecException("umask must be between 0 and 0777, got " + Integer.toOctalString(mask));
            }
            this.umask = mask;
            return this;
        }

        /** The sandbox's oom_score_adj, -1000 to 1000 (see {@link Sandbox#oomScoreAdj()}). */
        public Builder oomScoreAdj(int adj) {
            if (adj < -1000 || adj > 1000) {
                throw new SandboxSpecException("oomScoreAdj must be between -1000 and 1000, got " + adj);
            }
            this.oomScoreAdj = adj;
            return this;
        }

        /**
         * Binds the host's device node {@code node} (a character or block device) at {@code target},
         * usable inside: no other mount of a sandbox lets a device node work, and a user namespace
         * cannot make one (mknod). The sandbox gets what the node's owner and mode give its ids; a
         * root caller's binds are idmapped, so a node of the caller's shows as the sandbox's own.
         * This gives the sandbox that hardware: bind only what it is meant to use.
         */
        public Builder device(Path node, String target) {
            Validation.notNull(node, "device node");
            Path real = realPath(node.toAbsolutePath(), "device node");
            int mode;
            try {
                mode = (Integer) Files.getAttribute(real, "unix:mode");
            } catch (java.io.IOException | UnsupportedOperationException e) {
                throw new SandboxSpecException("device node " + node + " cannot be read: " + e.getMessage());
            }
            int type = mode & 0170000;
            if (type != 0020000 && type != 0060000) {
                throw new SandboxSpecException("device node " + node + (real.equals(node) ? "" : " (" + real + ")")
                        + " is not a character or block device");
            }
            devices.add(new Bind(real, Validation.normalize(Validation.containerPath(target, "device target")), false,
                    true));
            return this;
        }

        /** Hides these paths too (see {@link Sandbox#maskedPaths()}). */
        public Builder maskPaths(String... paths) {
            for (String p : Validation.notNull(paths, "masked paths")) {
                maskedPaths.add(Validation.normalize(Validation.containerPath(p, "masked path")));
            }
            return this;
        }

        /** Makes these paths read-only too (see {@link Sandbox#readOnlyPaths()}). */
        public Builder readOnlyPaths(String... paths) {
            for (String p : Validation.notNull(paths, "read-only paths")) {
                readOnlyPaths.add(Validation.normalize(Validation.containerPath(p, "read-only path")));
            }
            return this;
        }

        /**
         * Sets a kernel parameter of one of the sandbox's own namespaces, such as
         * {@code net.ipv4.ping_group_range}: {@code net.*} (its network namespace),
         * {@code kernel.shm*}, {@code kernel.msg*}, {@code kernel.sem} and {@code fs.mqueue.*} (its IPC
         * namespace). Others would change the host and are refused. In a network namespace the
         * sandbox joins ({@link Network#namespace}) the helper writes {@code net.*} ones, for everybody
         * in it (refused when that is the caller's own); in an IPC namespace it joins
         * ({@link #ipcNamespace}) only the namespace's root may write them, so they are refused.
         */
        public Builder sysctl(String name, String value) {
            Validation.noNul(name, "sysctl name");
            Validation.noNul(value, "value of sysctl " + name);
            if (!Patterns.SYSCTL_NAME.matcher(name).matches() || name.contains("..")) {
                throw new SandboxSpecException("sysctl name must be dotted words such as net.ipv4.ip_forward, got '"
                        + Validation.printable(name) + "'");
            }
            if (SYSCTL_NAMESPACED.stream().noneMatch(name::startsWith)) {
                throw new SandboxSpecException("sysctl " + name + " is not one of the sandbox's own namespaces "
                        + "(only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* are): setting it would "
                        + "change the host");
            }
            sysctls.put(name, value);
            return this;
        }

        /**
         * The uid and gid inside the sandbox; 0 (the default) is root of the sandbox, never of the
         * host (see {@link Sandbox#start()} for the host ids it runs as).
         */
        public Builder uid(int uid) {
            if (uid < 0) {
                throw new SandboxSpecException("uid must not be negative, got " + uid);
            }
            this.uid = uid;
            return this;
        }

        /**
         * The command's supplementary groups, ids inside the sandbox (replacing any given before; the
         * sandbox's own gid among them is left out, as the command has it anyway), at most
         * {@value Sandbox#MAX_SUPPLEMENTARY_GROUPS}. A root caller's sandbox holds each as a host gid of its
         * own, leased with its uid (README, "Ids"): a group gives it the files of its root file
         * system that have that group, and what it makes with the group inside, never a host
         * group's files. Root of a user namespace (rootless podman's runtime) maps each to the same
         * id of its namespace, which must map it (its user's subordinate gids). An ordinary user
         * maps only its own group: its start fails naming them.
         */
        public Builder supplementaryGroups(java.util.Collection<Integer> gids) {
            Validation.notNull(gids, "supplementary groups");
            List<Integer> checked = new ArrayList<>();
            for (Integer g : gids) {
                if (g == null || g < 0) {
                    throw new SandboxSpecException("supplementary group ids must be 0 or more, got " + g);
                }
                if (!checked.contains(g)) {
                    checked.add(g);
                }
            }
            if (checked.size() > MAX_SUPPLEMENTARY_GROUPS) {
                throw new SandboxSpecException("a sandbox takes at most " + MAX_SUPPLEMENTARY_GROUPS
                        + " supplementary groups, got " + checked.size() + ": each is a line of its user namespace's "
                        + "gid map, which the kernel takes in one page (4096 bytes); give fewer groups");
            }
            supplementaryGroups.clear();
            supplementaryGroups.addAll(checked);
            return this;
        }

        /** The program and its arguments, passed to execve exactly as given. A name without '/' is looked up in PATH. */
        public Builder command(String... argv) {
            return command(Arrays.asList(Validation.notNull(argv, "command")));
        }

        public Builder command(List<String> argv) {
            Validation.notNull(argv, "command");
            List<String> copy = new ArrayList<>(argv.size());
            for (int i = 0; i < argv.size(); i++) {
                copy.add(Validation.noNul(argv.get(i), "command argument " + i));
            }
            command.clear();
            command.addAll(copy);
            return this;
        }

        /** Sets one environment variable; the environment is otherwise empty. */
        public Builder env(String name, String value) {
            Validation.noNul(name, "environment variable name");
            if (name.isEmpty() || name.indexOf('=') >= 0) {
                throw new SandboxSpecException("environment variable name must be non-empty and without '=', got '"
                        + name + "'");
            }
            environment.put(name, Validation.noNul(value, "value of environment variable " + name));
            return this;
        }

        /** Replaces the whole environment. */
        public Builder environment(Map<String, String> env) {
            Validation.notNull(env, "environment");
            Builder checked = new Builder();
            env.forEach(checked::env);
            environment.clear();
            environment.putAll(checked.environment);
            return this;
        }

        public Builder workingDirectory(String dir) {
            this.workingDirectory = Validation.containerPath(dir, "working directory");
            return this;
        }

        public Builder hostname(String name) {
            Validation.notNull(name, "hostname");
            if (name.length() > 64 || !Patterns.HOSTNAME.matcher(name).matches()) {
                throw new SandboxSpecException("hostname must be 1 to 64 letters, digits, '-' and '.', got '"
                        + Validation.printable(name) + "'");
            }
            this.hostname = name;
            return this;
        }

        /** The NIS domain name of the sandbox's own UTS namespace, with the hostname's characters. */
        public Builder domainname(String name) {
            Validation.notNull(name, "domainname");
            if (name.length() > 64 || !Patterns.HOSTNAME.matcher(name).matches()) {
                throw new SandboxSpecException("domainname must be 1 to 64 letters, digits, '-' and '.', got '"
                        + Validation.printable(name) + "'");
            }
            this.domainname = name;
            return this;
        }

        /**
         * A new session keyring of this name for the sandbox (an OCI runtime's, as runc names it
         * {@code _ses.<container id>}): its init joins it, as the command's ids, before anything of
         * the sandbox runs, so that the command cannot reach the caller's session keyring and its
         * keys. Joining by name takes a keyring of that name the sandbox's user namespace already
         * has. Where keyctl says ENOSYS (an outer seccomp profile), the sandbox keeps the caller's,
         * as runc does; any other refusal fails the sandbox (step {@code keyring}). Without it (the
         * default), a sandbox with {@link SeccompPolicy#defaultPolicy()}, which denies the command
         * {@code keyctl}, {@code add_key} and {@code request_key}, keeps the caller's session
         * keyring, which it cannot use (a keyring per sandbox would count against a rootless
         * caller's quota of keys, 200 by default); with any other policy (an OCI bundle's among
         * them) it gets a new anonymous one. The keyring's holders have every right on it; the
         * sandbox's ids, outside it, may only see and search it.
         */
        public Builder sessionKeyring(String name) {
            Validation.notNull(name, "sessionKeyring");
            if (name.isEmpty() || name.length() > 4095 || name.startsWith(".") || name.indexOf('\0') >= 0) {
                throw new SandboxSpecException("sessionKeyring must be 1 to 4095 characters without NUL, not starting "
                        + "with '.' (the kernel keeps those names for itself), got '" + Validation.printable(name) + "'");
            }
            this.sessionKeyring = name;
            this.callersSessionKeyring = false;
            return this;
        }

        /**
         * Keeps the caller's session keyring for the sandbox whatever its seccomp policy (runc's
         * {@code --no-new-keyring}): a command its filter lets use keyctl can then read, link and
         * clear the caller's keys. Undoes {@link #sessionKeyring(String)}.
         */
        public Builder keepCallersSessionKeyring() {
            this.sessionKeyring = null;
            this.callersSessionKeyring = true;
            return this;
        }

        public Builder stdin(Stdio s) {
            Validation.notNull(s, "stdin");
            if (!s.isInput()) {
                throw new SandboxSpecException("stdin cannot be " + s + ": use pipe, inherit, discard, readFrom, bytes or "
                        + "from(SandboxPipe)");
            }
            this.stdin = s;
            return this;
        }

        public Builder stdout(Stdio s) {
            if (Validation.notNull(s, "stdout").kind() == Stdio.Kind.TO_STDOUT) {
                throw new SandboxSpecException("stdout cannot be " + s + ": only stderr can go to stdout");
            }
            this.stdout = output(s, "stdout");
            return this;
        }

        /** Where stderr goes; {@link Stdio#toStdout()} sends it where stdout goes, as one stream. */
        public Builder stderr(Stdio s) {
            this.stderr = output(s, "stderr");
            return this;
        }

        /**
         * As {@link ProcessBuilder#redirectErrorStream(boolean)}: true sends stderr where stdout goes
         * ({@code stderr(Stdio.toStdout())}), so that the two are one stream in the order the command
         * wrote them and {@link SandboxResult#stdout()} holds both; false makes stderr its own pipe
         * again if it went to stdout, and otherwise changes nothing.
         */
        public Builder redirectErrorStream(boolean merge) {
            if (merge) {
                this.stderr = Stdio.toStdout();
            } else if (stderr.kind() == Stdio.Kind.TO_STDOUT) {
                this.stderr = Stdio.pipe();
            }
            return this;
        }

        /** Sets exactly the capabilities a uid-0 command keeps; an empty set drops them all. */
        public Builder capabilities(Set<Capability> keep) {
            Validation.notNull(keep, "capabilities");
            keep.forEach(c -> Validation.notNull(c, "capability"));
            capabilities.clear();
            capabilities.addAll(keep);
            return this;
        }

        /** Keeps these capabilities in addition to the current set. */
        public Builder addCapabilities(Capability... add) {
            for (Capability c : Validation.notNull(add, "capabilities")) {
                capabilities.add(Validation.notNull(c, "capability"));
            }
            return this;
        }

        /** Drops these capabilities from the bounding set and from every set given explicitly. */
        public Builder dropCapabilities(Capability... drop) {
            for (Capability c : Validation.notNull(drop, "capabilities")) {
                Validation.notNull(c, "capability");
                for (Set<Capability> set : java.util.Arrays.asList(capabilities, effective, permitted, inheritable,
                        ambient)) {
                    if (set != null) {
                        set.remove(c);
                    }
                }
            }
            return this;
        }

        /**
         * The effective set before execve, instead of the default (the bounding set for uid 0, else
         * none); see {@link Sandbox#effectiveCapabilities()}. It must lie within the permitted set.
         */
        public Builder effectiveCapabilities(Set<Capability> caps) {
            effective = mutable(checkedCaps(caps, "effective capabilities"));
            return this;
        }

        /** The permitted set before execve, instead of the default; within the bounding set. */
        public Builder permittedCapabilities(Set<Capability> caps) {
            permitted = mutable(checkedCaps(caps, "permitted capabilities"));
            return this;
        }

        /** The inheritable set (default none); within the bounding set. */
        public Builder inheritableCapabilities(Set<Capability> caps) {
            inheritable = mutable(checkedCaps(caps, "inheritable capabilities"));
            return this;
        }

        /**
         * The ambient set (default none): kept across execve by a command of any uid. Each must also
         * be in the permitted and the inheritable set.
         */
        public Builder ambientCapabilities(Set<Capability> caps) {
            ambient = mutable(checkedCaps(caps, "ambient capabilities"));
            return this;
        }

        private static Set<Capability> checkedCaps(Set<Capability> caps, String what) {
            Validation.notNull(caps, what);
            caps.forEach(c -> Validation.notNull(c, "capability in " + what));
            return caps;
        }

        private static Set<Capability> mutable(Set<Capability> caps) {
            if (caps == null) {
                return null;
            }
            Set<Capability> copy = EnumSet.noneOf(Capability.class);
            copy.addAll(caps);
            return copy;
        }

        /** Refuses sets the kernel would refuse, and any capability beyond the bounding set. */
        private void checkCapabilitySets(Sandbox s) {
            requireSubset(s.permittedCapabilities(), s.capabilities(), "permitted", "the bounding set "
                    + "(capabilities(...)): a sandbox never holds more than its bounding set");
            requireSubset(s.inheritableCapabilities(), s.capabilities(), "inheritable", "the bounding set "
                    + "(capabilities(...)): a sandbox never holds more than its bounding set");
            requireSubset(s.effectiveCapabilities(), s.permittedCapabilities(), "effective", "the permitted set: "
                    + "the kernel makes effective only what is permitted");
            Set<Capability> both = EnumSet.noneOf(Capability.class);
            both.addAll(s.permittedCapabilities());
            both.retainAll(s.inheritableCapabilities());
            requireSubset(s.ambientCapabilities(), both, "ambient", "both the permitted and the inheritable set: the "
                    + "kernel raises an ambient capability only then");
        }

        private static void requireSubset(Set<Capability> set, Set<Capability> limit, String name, String why) {
            Set<Capability> beyond = EnumSet.noneOf(Capability.class);
            beyond.addAll(set);
            beyond.removeAll(limit);
            if (!beyond.isEmpty()) {
                throw new SandboxSpecException(name + " capabilities " + beyond + " are not in " + why);
            }
        }

        public Builder noNewPrivileges(boolean set) {
            this.noNewPrivileges = set;
            return this;
        }

        /** The seccomp filter; {@link SeccompPolicy#none()} installs none. */
        public Builder seccomp(SeccompPolicy policy) {
            this.seccomp = Validation.notNull(policy, "seccomp policy");
            return this;
        }

        /** The network: {@link Network#none()} (the default), {@link Network#host()} or {@link Network#privateNetwork()}. */
        public Builder network(Network n) {
            this.network = Validation.notNull(n, "network");
            return this;
        }

        /**
         * Joins an existing IPC namespace instead of giving the sandbox one of its own, as a pod's
         * containers share the pod's: path names it, such as {@code /proc/PID/ns/ipc} of another
         * sandbox's init, or a bind of one. The helper joins it before the sandbox's user namespace
         * exists, so the caller must be allowed to (root; an ordinary user only a namespace of its own
         * user namespace), and the sandbox's root holds no privilege over it: its System V objects and
         * POSIX message queues are the sandbox's as their modes give them to its host ids, its sysctls
         * ({@code kernel.shm*}, {@code kernel.msg*}, {@code kernel.sem}, {@code fs.mqueue.*}) are
         * set by whoever made it (a {@link #sysctl} of those is refused), and the helper mounts an
         * mqueue {@link KernelMount} of it. The caller's own IPC namespace (the host's, as a rule) is
         * refused when the sandbox starts. A {@code /proc/PID} path names whatever process has that
         * pid then: once the process it meant has ended, another sandbox can take the pid (pids are
         * few; a sandbox that forks enough gets any free one), and the sandbox would join that
         * sandbox's namespace, whose root may then read or remove its objects and change its
         * hostname (found by an attack review). {@link #joinNamespacesOf} names the process instead
         * and is refused once it has ended; a path is the caller's to keep meaning what it meant (a
         * bind of the namespace file made while the process lived keeps the namespace itself, as
         * CRI-O pins a pod's).
         *
         * @param path an absolute path that names an IPC namespace when the sandbox starts
         */
        public Builder ipcNamespace(Path path) {
            this.ipcNamespace = namespacePath(path, "IPC");
            return this;
        }

        /**
         * Joins an existing UTS namespace instead of giving the sandbox one of its own, as a pod's
         * containers share the pod's hostname: path names it, such as {@code /proc/PID/ns/uts}. As
         * for {@link #ipcNamespace}, the caller must be allowed to join it, and the sandbox's root
         * may not change it. The sandbox gets no random hostname; a {@link #hostname} or
         * {@link #domainname} given is set there by the helper, for everybody in it. The caller's own
         * UTS namespace (the host's, as a rule) is refused when the sandbox starts. A
         * {@code /proc/PID} path may have become another sandbox's, as for {@link #ipcNamespace}.
         *
         * @param path an absolute path that names a UTS namespace when the sandbox starts
         */
        public Builder utsNamespace(Path path) {
            this.utsNamespace = namespacePath(path, "UTS");
            return this;
        }

        /**
         * Joins the network, IPC and UTS namespaces of a running sandbox, as a pod's containers
         * join its infra container's: {@link Network#namespace}, {@link #ipcNamespace} and
         * {@link #utsNamespace} of its init's {@code /proc/PID/ns} files, with one check more: the
         * helper joins them only while that process still has its pid, so once it has ended the
         * start fails (step "namespace") instead of joining whatever process took the pid since.
         * Setting one of the three again afterwards replaces it.
         *
         * @throws SandboxSpecException the sandbox has ended
         */
        public Builder joinNamespacesOf(SandboxProcess sandbox) {
            Validation.notNull(sandbox, "sandbox whose namespaces to join");
            long pid = sandbox.pid();
            /*
             * Init's start time as its helper read it, before it could reap init: isAlive() stays true
             * for a while after the reap (until the JVM has handled the end), and a start time read
             * here then may be that of whatever process took the pid (found by an attack review).
             */
            long startTime = sandbox.startTime();
            if (!sandbox.isAlive() || dev.crabcan.internal.host.HostIds.startTime(pid) != startTime) {
                throw new SandboxSpecException("the sandbox (pid " + pid + ") whose namespaces to join has ended");
            }
            Path ns = Path.of("/proc", Long.toString(pid), "ns");
            network = Network.namespace(ns.resolve("net"));
            ipcNamespace = ns.resolve("ipc");
            utsNamespace = ns.resolve("uts");
            namespaceOwner = new PlanCompiler.JoinTarget(pid, startTime, 0, 0);
            return this;
        }

        private static Path namespacePath(Path path, String type) {
            Validation.notNull(path, type + " namespace path");
            if (!path.isAbsolute()) {
                throw new SandboxSpecException("the " + type + " namespace path must be absolute, got '"
                        + Validation.printable(path.toString()) + "'");
            }
            return path;
        }

        public Builder limits(Limits l) {
            this.limits = Validation.notNull(l, "limits");
            return this;
        }

        /**
         * Gives the command one of this JVM's sockets at fd number {@code fd} (3 or more): a
         * {@link java.nio.channels.ServerSocketChannel}, {@link java.nio.channels.SocketChannel} or
         * {@link java.nio.channels.DatagramChannel} (IP or Unix domain, bound or connected), or a
         * {@link java.nio.channels.FileChannel}. The command gets a copy of the descriptor at each
         * start (the same open socket or file: whatever it can do with it, such as accept
         * connections on a host port from a sandbox without a network, it can do); this JVM's stays
         * open and is the caller's to close. The channel must be open when the sandbox starts, and not be
         * repositioned by another thread during the start (a file is found by its position, which
         * the start sets and restores). The first sandbox that passes fds loads native bindings (jffi).
         */
        public Builder passFd(int fd, java.nio.channels.Channel channel) {
            Validation.notNull(channel, "channel for fd " + fd);
            if (!(channel instanceof java.nio.channels.NetworkChannel || channel instanceof java.nio.channels.FileChannel)) {
                throw new SandboxSpecException("passFd(" + fd + ", " + channel.getClass().getName() + "): only sockets "
                        + "(NetworkChannel) and FileChannels can be passed");
            }
            return passSource(fd, channel);
        }

        /**
         * Gives the command the file this JVM holds as {@code descriptor} at fd number {@code fd}
         * (3 or more), as {@link #passFd(int, java.nio.channels.Channel)} does; {@link
         * java.io.FileDescriptor#in}, {@code out} and {@code err} are the JVM's own stdio, any other
         * must be a seekable file.
         */
        public Builder passFd(int fd, java.io.FileDescriptor descriptor) {
            return passSource(fd, Validation.notNull(descriptor, "FileDescriptor for fd " + fd));
        }

        /**
         * Gives the command an end of a pipe to another sandbox at fd number {@code fd} (3 or
         * more), as go-judge's pipe mapping does; its stdin and stdout take one with {@link
         * Stdio#from(SandboxPipe)} and {@link Stdio#to(SandboxPipe)}. The start takes the end from
         * this JVM: see {@link SandboxPipe} for why an end goes to one start only.
         */
        public Builder passFd(int fd, SandboxPipe.End end) {
            return passSource(fd, Validation.notNull(end, "pipe end for fd " + fd));
        }

        /**
         * Gives the command fd number {@code fd} (3 or more) of the process that forks the sandbox,
         * as it is there: for a launcher whose zygote is the caller's own process, which is how
         * crabcan-oci's native front end carries out runc's {@code --preserve-fds}. This JVM's own
         * zygote holds no caller's fds, so a start through it refuses such a sandbox.
         */
        public Builder inheritFd(int fd) {
            return passSource(fd, dev.crabcan.internal.plan.InheritedFd.FROM_ZYGOTE);
        }

        private Builder passSource(int fd, Object source) {
            if (fd < 3 || fd > MAX_PASSED_FD) {
                throw new SandboxSpecException("passFd(" + fd + ", ...): the fd number must be from 3 to " + MAX_PASSED_FD
                        + " (0, 1 and 2 are stdin(), stdout() and stderr())");
            }
            if (passedFds.containsKey(fd)) {
                throw new SandboxSpecException("passFd(" + fd + ", ...): fd " + fd + " is already passed");
            }
            if (passedFds.size() == dev.crabcan.internal.plan.Contract.MAX_PASSED_FDS) {
                throw new SandboxSpecException("passFd(" + fd + ", ...): at most "
                        + dev.crabcan.internal.plan.Contract.MAX_PASSED_FDS + " fds can be passed");
            }
            passedFds.put(fd, source);
            return this;
        }

        /**
         * Puts a file into the sandbox before its command starts (go-judge's copy-in): the caller's
         * bytes or a host file's, at a target in a writable {@link Tmpfs} of this sandbox (and in
         * no other mount below it), whose size is then the run's disk quota. Missing directories on
         * the way are made, owned by the command's user. No host directory is needed for the run:
         * the bytes go through an in-memory file that the sandbox's init copies from.
         */
        public Builder copyIn(CopyIn file) {
            Validation.notNull(file, "copy-in");
            if (copyIns.stream().anyMatch(c -> c.target().equals(file.target()))) {
                throw new SandboxSpecException("copyIn: " + file.target() + " is already copied in");
            }
            if (copyIns.size() == dev.crabcan.internal.plan.Contract.MAX_COPIES) {
                throw new SandboxSpecException("copyIn: at most " + dev.crabcan.internal.plan.Contract.MAX_COPIES
                        + " files can be copied in");
            }
            copyIns.add(file);
            return this;
        }

        /** {@code copyIn(CopyIn.bytes(target, content))}: a writable file, mode 0644. */
        public Builder copyIn(String target, byte[] content) {
            return copyIn(CopyIn.bytes(target, content));
        }

        /**
         * Reads a file of the sandbox back once its command has ended, at most {@code maxBytes} of
         * it, into {@link SandboxResult#copiedFiles()} and {@link SandboxProcess#copiedFiles()}
         * (go-judge's copy-out). Before reading, the sandbox's init kills whatever the command
         * left running, so nothing changes the file meanwhile; it opens the file as the command
         * (its user and capabilities), follows no symbolic link, and takes only a regular file: a
         * missing, linked or special file is left out of the result. When the command ends by
         * itself, by a signal, by the OOM killer or at a time or output limit (init kills the rest
         * of the sandbox and stays), the files are read; when the whole sandbox is killed ({@link
         * SandboxProcess#destroyForcibly()}, or an init that has not ended 2 s after a limit's
         * kill), its init dies with it and nothing is read back. While init reads them, their bytes count against the
         * sandbox's memory limit, like the tmpfs files they are read from: keep the most bytes of
         * the copy-outs well below it.
         */
        public Builder copyOut(String path, long maxBytes) {
            String p = Validation.normalize(Validation.containerPath(Validation.notNull(path, "copy-out path"),
                    "copy-out path"));
            if (maxBytes < 0) {
                throw new SandboxSpecException("copyOut(" + p + ", " + maxBytes + "): the most bytes must not be negative");
            }
            if (!copyOuts.containsKey(p) && copyOuts.size() == dev.crabcan.internal.plan.Contract.MAX_COPIES) {
                throw new SandboxSpecException("copyOut: at most " + dev.crabcan.internal.plan.Contract.MAX_COPIES
                        + " files can be copied out");
            }
            copyOuts.put(p, maxBytes);
            return this;
        }

        /**
         * systemd-style socket activation: the listeners become fds 3, 4, ... of the command, which
         * is told so by LISTEN_FDS (their count) and LISTEN_PID (its own pid, as sd_listen_fds(3)
         * checks). The listeners are passed as {@link #passFd(int, java.nio.channels.Channel)} does.
         */
        public Builder socketActivation(java.nio.channels.NetworkChannel... listeners) {
            Validation.notNull(listeners, "listeners");
            if (socketActivation) {
                throw new SandboxSpecException("socketActivation(...) is already set; pass every listener in one call");
            }
            if (listeners.length == 0) {
                throw new SandboxSpecException("socketActivation() needs at least one listener");
            }
            for (int i = 0; i < listeners.length; i++) {
                passFd(3 + i, Validation.notNull(listeners[i], "listener " + i));
            }
            socketActivation = true;
            return env("LISTEN_FDS", Integer.toString(listeners.length));
        }

        /**
         * Gives the command a terminal of the sandbox's own devpts, whose master goes to a console
         * socket (see {@link Terminal}); null for none (the default). Needs a devpts at /dev/pts.
         */
        public Builder terminal(Terminal t) {
            this.terminal = t;
            return this;
        }

        /** Keeps the caller's session and controlling terminal (see {@link Sandbox#keepTerminal()}). */
        public Builder keepTerminal(boolean keep) {
            this.keepTerminal = keep;
            return this;
        }

        private static Stdio output(Stdio s, String which) {
            Validation.notNull(s, which);
            if (!s.isOutput()) {
                throw new SandboxSpecException(which + " cannot be " + s
                        + ": use pipe, inherit, discard, writeTo or appendTo");
            }
            return s;
        }

        /** Checks the settings as a whole and returns the immutable sandbox. */
        /**
         * A copy-in target must lie in a writable tmpfs of this sandbox, and in no other mount
         * within it: init writes it there before the command runs, and that tmpfs bounds its size.
         */
        private void checkCopyInTarget(String target) {
            Tmpfs in = null;
            for (Tmpfs t : tmpfs) {
                if (target.startsWith(t.target().endsWith("/") ? t.target() : t.target() + "/")
                        && (in == null || t.target().length() > in.target().length())) {
                    in = t;
                }
            }
            if (in == null) {
                throw new SandboxSpecException("copyIn target " + target + " lies in no tmpfs of the sandbox: add one "
                        + "(e.g. tmpfs(new Tmpfs(\"/box\", 64 << 20)), whose size is the run's disk quota) and copy into it");
            }
            if (in.readOnly()) {
                throw new SandboxSpecException("copyIn target " + target + " lies in the read-only tmpfs " + in.target());
            }
            List<String> others = new ArrayList<>();
            binds.forEach(b -> others.add(b.target()));
            kernelMounts.forEach(k -> others.add(k.target()));
            tmpfs.forEach(t -> others.add(t.target()));
            for (String m : others) {
                if (m.length() > in.target().length() && m.startsWith(in.target() + "/")
                        && (target.equals(m) || target.startsWith(m + "/"))) {
                    throw new SandboxSpecException("copyIn target " + target + " lies in the mount at " + m
                            + ", not in the tmpfs " + in.target() + " itself");
                }
            }
        }

        public Sandbox build() {
            if (command.isEmpty()) {
                throw new SandboxSpecException("command is empty: set it with command(\"/bin/sh\", \"-c\", \"...\")");
            }
            if (command.get(0).isEmpty()) {
                throw new SandboxSpecException("command name (argument 0) is empty");
            }
            Set<String> targets = new LinkedHashSet<>();
            // Loops, not lambdas, on every build's path: a fresh JVM makes a class for each lambda it meets.
            List<String> all = new ArrayList<>();
            for (Bind b : binds) {
                all.add(b.target());
            }
            for (Tmpfs t : tmpfs) {
                all.add(t.target());
            }
            for (KernelMount k : kernelMounts) {
                all.add(k.target());
            }
            for (String t : all) {
                if (RESERVED_TARGETS.contains(t) || t.startsWith("/proc/")) {
                    throw new SandboxSpecException("cannot mount over " + t + ": the sandbox provides "
                            + (t.equals("/") ? "its root filesystem; use rootfs(...) instead" : t + " itself"));
                }
                if (!targets.add(t)) {
                    throw new SandboxSpecException("two mounts have the same target " + t);
                }
            }
            for (String t : propagations.keySet()) {
                if (!t.equals("/") && !targets.contains(t)) {
                    throw new SandboxSpecException("propagation(\"" + t + "\", " + propagations.get(t) + "): " + t
                            + " is not the target of a bind, tmpfs or kernel mount of this sandbox (nor \"/\", its root "
                            + "file system)");
                }
            }
            if (writableLayerDirectory != null && rootfsLayers.isEmpty()) {
                throw new SandboxSpecException("writableLayerDirectory(" + writableLayerDirectory + ") keeps the "
                        + "writable layer of an image: give one with image(...)");
            }
            if (rootfsWritable && rootfs == null && rootfsLayers.isEmpty()) {
                throw new SandboxSpecException("rootfsWritable(true) needs rootfs(dir): the default root filesystem "
                        + "is always read-only; bind a writable directory instead");
            }
            if (!seccomp.isNone() && !noNewPrivileges && !capabilities.contains(Capability.SYS_ADMIN)) {
                throw new SandboxSpecException("a seccomp filter needs noNewPrivileges(true): the kernel refuses to "
                        + "install one for a process without it (or without SYS_ADMIN); use seccomp(SeccompPolicy.none()) "
                        + "to run without a filter");
            }
            if (terminal != null && kernelMounts.stream().noneMatch(k -> k.type() == KernelMount.Type.DEVPTS
                    && k.target().equals("/dev/pts"))) {
                throw new SandboxSpecException("a terminal is made in the sandbox's own devpts: add "
                        + "kernelMount(KernelMount.Type.DEVPTS, \"/dev/pts\", false)");
            }
            for (CopyIn c : copyIns) {
                checkCopyInTarget(c.target());
            }
            for (String name : sysctls.keySet()) {
                // The kernel lets only the root of the namespace's own user namespace write them, by uid.
                if (ipcNamespace != null && !name.startsWith("net.")) {
                    throw new SandboxSpecException("sysctl " + name + " belongs to the IPC namespace the sandbox "
                            + "joins (" + ipcNamespace + "), which only that namespace's root may change: set it "
                            + "where the namespace is made (a pod's sandbox, as the CRI sets a pod's sysctls)");
                }
            }
            Sandbox built = new Sandbox(this);
            checkCapabilitySets(built);
            dev.crabcan.internal.plan.PlanCompiler.checkLimits(built);
            return built;
        }
    }
}
