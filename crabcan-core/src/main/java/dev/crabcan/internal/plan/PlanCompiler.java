package dev.crabcan.internal.plan;

import static dev.crabcan.internal.plan.Contract.*;

import dev.crabcan.Bind;
import dev.crabcan.Capability;
import dev.crabcan.ContainerHooks;
import dev.crabcan.Network;
import dev.crabcan.KernelMount;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.SeccompAction;
import dev.crabcan.SeccompPolicy;
import dev.crabcan.Syscall;
import dev.crabcan.Tmpfs;
import dev.crabcan.internal.Text;
import dev.crabcan.internal.host.HostIds;
import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.launch.Session;
import dev.crabcan.internal.net.Ipv4;
import dev.crabcan.internal.seccomp.BpfCompiler;
import dev.crabcan.internal.seccomp.DefaultFilter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Turns a {@link Sandbox} into the helper's plan: every decision (ids, mount list and flags,
 * capabilities, argv, env) is made here, so that the helper only executes.
 */
public final class PlanCompiler {
    static final int CLONE_NEWNS = 0x00020000, CLONE_NEWCGROUP = 0x02000000, CLONE_NEWUTS = 0x04000000,
            CLONE_NEWIPC = 0x08000000, CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000,
            CLONE_NEWNET = 0x40000000;

    /** The host directories that make up the default root filesystem, all read-only. */
    static final List<String> DEFAULT_ROOTFS = List.of("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64");

    /** Device nodes bound from the host into the sandbox's /dev. */
    static final List<String> DEVICES = List.of("null", "zero", "full", "random", "urandom", "tty");

    /** The run directory's subdirectory on which sandboxes' roots are built. */
    public static final String STAGING = "root";

    /** Never held on a private network, whatever the caller keeps. */
    public static final java.util.Set<Capability> PRIVATE_NETWORK_DENIED = java.util.Set.of(Capability.NET_RAW,
            Capability.NET_ADMIN);

    /**
     * Never held by a root caller's sandbox, whatever it asks for: its read-write binds are
     * idmapped to host root (or, for root without the host's privileges, it is that root), so file
     * capabilities it wrote there (SETFCAP) would be effective for that root, and FSETID would let
     * it keep or set a setgid bit that the kernel strips otherwise.
     */
    public static final java.util.Set<Capability> ROOT_CALLER_DENIED = java.util.Set.of(Capability.SETFCAP,
            Capability.FSETID);

    private static final int NOSUID_NODEV = MF_NOSUID | MF_NODEV;
    /** mount(2)'s propagation flags (linux/mount.h), which T_PROPAGATION carries. */
    private static final int MS_UNBINDABLE = 1 << 17, MS_SLAVE = 1 << 19, MS_SHARED = 1 << 20;

    /** A string record's bytes beyond its text: tag, length and the NUL. */
    private static final int RECORD_OVERHEAD = 9;

    /**
     * What build() keeps of PLAN_MAX for everything but arguments and environment: up to
     * MAX_MOUNTS mounts with two paths each, the seccomp program and the rest.
     */
    private static final int PLAN_ROOM = 3 << 20;

    /** Nearly every sandbox uses the default filter: compiled by the build. */
    private static final byte[] DEFAULT_FILTER = DefaultFilter.load();

    private PlanCompiler() {}

    /**
     * Where one of the sandbox's fds 0, 1, 2 comes from: a pipe the helper makes, whose other end
     * the JVM opens; or the helper opens path with these open(2) flags and mode; or a descriptor
     * the JVM passes (a T_PASS_FD record at that fd: an end of a SandboxPipe); or, with none of
     * these, the helper keeps its own fd, which is the JVM's.
     */
    public record StdioSource(int fd, boolean pipe, int flags, int mode, String path, boolean toStdout,
            boolean passed) {
        public static StdioSource pipe(int fd) {
            return new StdioSource(fd, true, 0, 0, null, false, false);
        }

        public static StdioSource file(int fd, int flags, int mode, String path) {
            return new StdioSource(fd, false, flags, mode, path, false, false);
        }

        public static StdioSource inherit(int fd) {
            return new StdioSource(fd, false, 0, 0, null, false, false);
        }

        /** fd 2 as a copy of fd 1, whatever fd 1 is. */
        public static StdioSource stderrToStdout() {
            return new StdioSource(2, false, 0, 0, null, true, false);
        }

        /** A descriptor the JVM passes, placed at fd by the helper. */
        public static StdioSource passed(int fd) {
            return new StdioSource(fd, false, 0, 0, null, false, true);
        }
    }

    /**
     * The plan. ids are the host uid and gid the sandbox runs as ({@link HostIds#lease}); cgroupProcs
     * are the cgroup.procs files the helper puts the sandbox's init into; stdio says where fds 0, 1
     * and 2 come from (the launcher's choice).
     */
    public static byte[] compile(Sandbox s, HostInfo host, HostIds.Lease ids, Path runDir, String hostname,
            List<Path> cgroupProcs, List<StdioSource> stdio, NetPlan net) {
        return compile(s, host, ids, runDir, hostname, cgroupProcs, List.of(), stdio, net, null, ContainerHooks.none(),
                null);
    }

    /**
     * The plan of a sandbox in a cgroup of its own that it sees at {@value #CGROUP_VIEW}:
     * cgroupFileSystems are that cgroup's ({@link dev.crabcan.internal.cgroup.SandboxCgroup#fileSystems}).
     */
    public static byte[] compile(Sandbox s, HostInfo host, HostIds.Lease ids, Path runDir, String hostname,
            List<Path> cgroupProcs, List<String> cgroupFileSystems, List<StdioSource> stdio, NetPlan net) {
        return compile(s, host, ids, runDir, hostname, cgroupProcs, cgroupFileSystems, stdio, net, null,
                ContainerHooks.none(), null);
    }

    /**
     * The plan of a detached sandbox when releaseFifo is not null: set up in full, its command then
     * waits for a reader of that FIFO before seccomp and execve, and it outlives the helper (see
     * {@link Sandbox#createDetached}), and runs the hooks.
     */
    public static byte[] compile(Sandbox s, HostInfo host, HostIds.Lease ids, Path runDir, String hostname,
            List<Path> cgroupProcs, List<StdioSource> stdio, NetPlan net, Path releaseFifo, ContainerHooks hooks) {
        return compile(s, host, ids, runDir, hostname, cgroupProcs, List.of(), stdio, net, releaseFifo, hooks, null);
    }

    /**
     * The plan, in full: namespaceOwner (null: none) is the sandbox whose namespaces s joins by its
     * {@code /proc/PID/ns} paths ({@link Sandbox.Builder#joinNamespacesOf}), which the helper joins
     * only while that process still has its pid.
     */
    public static byte[] compile(Sandbox s, HostInfo host, HostIds.Lease ids, Path runDir, String hostname,
            List<Path> cgroupProcs, List<String> cgroupFileSystems, List<StdioSource> stdio, NetPlan net,
            Path releaseFifo, ContainerHooks hooks, JoinTarget namespaceOwner) {
        PlanWriter w = new PlanWriter();
        if (releaseFifo != null) {
            w.detach(releaseFifo.toString());
        }
        for (ContainerHooks.Hook h : hooks.hooks()) {
            java.io.ByteArrayOutputStream strings = new java.io.ByteArrayOutputStream();
            List<String> all = new ArrayList<>();
            all.add(h.path());
            all.addAll(h.args());
            all.addAll(h.env());
            for (String str : all) {
                strings.writeBytes(str.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                strings.write(0);
            }
            w.hook(h.phase() == ContainerHooks.Phase.CREATE_CONTAINER ? HOOK_CREATE_CONTAINER : HOOK_START_CONTAINER,
                    h.timeoutSeconds().orElse(0), h.args().size(), strings.toByteArray());
        }
        if (!hooks.hooks().isEmpty()) {
            w.hookState(hooks.state());
        }
        int options = (net.ownNamespace() ? OPT_LOOPBACK_UP : 0)
                | (s.noNewPrivileges() ? OPT_NO_NEW_PRIVS : 0) | (s.keepTerminal() ? 0 : OPT_SETSID);
        // In a cgroup of its own, the sandbox gets its cgroup namespace only once init is in it,
        // so that the namespace is rooted there.
        int cgroupNs = cgroupProcs.isEmpty() ? CLONE_NEWCGROUP : 0;
        if (!cgroupProcs.isEmpty()) {
            options |= OPT_UNSHARE_CGROUP;
        }
        if (anyToStdout(stdio)) {
            options |= OPT_STDERR_TO_STDOUT;
        }
        if (Session.SETUP_LOG.isDebugEnabled()) {
            options |= OPT_DEBUG;
        }
        if (s.socketActivation()) {
            options |= OPT_LISTEN_PID;
        }
        if (releaseFifo != null && hooks.runtime() != ContainerHooks.RuntimeHooks.NONE) {
            options |= OPT_RUNTIME_HOOKS;
        }
        List<Integer> groups = supplementaryGroups(s, host, ids);
        if (!groups.isEmpty()) {
            options |= OPT_SETGROUPS;
        }
        w.config(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | (s.utsNamespace().isPresent() ? 0 : CLONE_NEWUTS)
                | (s.ipcNamespace().isPresent() ? 0 : CLONE_NEWIPC) | (net.ownNamespace() ? CLONE_NEWNET : 0)
                | cgroupNs, options);
        if (net.iface() != null) {
            NetPlan.Interface i = net.iface();
            w.net(i.address(), Ipv4.netmask(i.prefix()), i.gateway(), i.name());
            if (i.ipv6() != null) {
                w.net6(i.ipv6().prefix(), i.ipv6().address(), i.ipv6().gateway());
            }
            i.refused().forEach(w::netRefuse);
        }
        if (net.veth() != null) {
            w.veth(net.veth().routeLocalnet() ? VETH_ROUTE_LOCALNET : 0, net.veth().name());
        }
        for (String arg : net.helperCommand()) {
            w.netHelper(arg);
        }
        if (net.filter() != null) {
            w.netFilter(net.filter().tool(), net.filter().rules());
            if (net.filter().hostSets() != null) {
                w.netFilterHosts(net.filter().watchHosts() ? 1 : 0, net.filter().hostSets());
            }
        }
        joinNamespace(w, CLONE_NEWNET, "net", s.network().namespacePath(), namespaceOwner);
        joinNamespace(w, CLONE_NEWIPC, "ipc", s.ipcNamespace(), namespaceOwner);
        joinNamespace(w, CLONE_NEWUTS, "uts", s.utsNamespace(), namespaceOwner);
        for (Path p : cgroupProcs) {
            w.cgroup(p.toString());
        }
        for (StdioSource io : stdio) {
            if (io.pipe()) {
                w.pipe(io.fd());
            } else if (io.path() != null) {
                w.stdio(io.fd(), io.flags(), io.mode(), io.path());
            }
        }
        // In the order the launcher sends them: the stdio ones (0, 1, 2), then the others as passed.
        for (StdioSource io : stdio) {
            if (io.passed()) {
                w.passFd(io.fd());
            }
        }
        for (var fd : s.passedFds().entrySet()) {
            if (fd.getValue() != InheritedFd.FROM_ZYGOTE) {
                w.passFd(fd.getKey());
            }
        }
        inheritedFds(w, s);
        // Their descriptors follow the passed ones, in this order too.
        for (dev.crabcan.CopyIn c : s.copyIns()) {
            w.copyIn(c.mode(), c.isReadOnly() ? MF_RDONLY : 0, c.target());
        }
        for (Map.Entry<String, Long> out : s.copyOuts().entrySet()) {
            w.copyOut(out.getValue(), out.getKey());
        }

        int hostUid = ids.uid();
        int hostGid = ids.gid();
        int uid = s.uid();
        w.uidMap(uid + " " + hostUid + " 1\n");
        // Each group as the host gid leased for it, or, for a caller that leases none, as the same id of
        // the caller's namespace, which maps it (supplementaryGroups checked that).
        StringBuilder gidMap = new StringBuilder(uid + " " + hostGid + " 1\n");
        for (int i = 0; i < groups.size(); i++) {
            gidMap.append(groups.get(i)).append(' ').append(host.leasesHostIds() ? ids.groupGids().get(i)
                    : groups.get(i)).append(" 1\n");
        }
        w.gidMap(gidMap.toString());
        boolean idmappedRoot = host.isHostRoot() && (s.rootfs().isPresent() || !s.rootfsLayers().isEmpty());
        if (host.isHostRoot()) {
            // The caller's binds and root filesystem are idmapped, so that the caller's files appear
            // as the sandbox's own (as they do for a rootless caller) and files created inside
            // belong to the caller on the host.
            w.idmapUidMap(host.euid() + " " + hostUid + " 1\n");
            String idmapGidMap = host.egid() + " " + hostGid + " 1\n";
            w.idmapGidMap(idmapGidMap);
            if (idmappedRoot && !groups.isEmpty()) {
                w.idmapRootGidMap(idmapGidMap + rootGroups(groups, ids.groupGids(), host.egid()));
            }
        }
        // A hostname the caller asked for is always set: where it is refused, the start fails and says why.
        // A joined UTS namespace keeps its own unless the caller asked for one.
        if (s.hostname().isPresent() || (host.setsHostname() && s.utsNamespace().isEmpty())) {
            w.hostname(hostname);
        }
        if (s.domainname().isPresent()) {
            w.domainname(s.domainname().get());
        }
        w.staging(runDir.resolve(STAGING).toString());

        // Host paths are opened by the helper before it changes ids when the caller is host root:
        // the sandbox's unprivileged host id may not be able to reach them. Cloning a mount for that
        // takes CAP_SYS_ADMIN there, which a container's root lacks: its sandboxes reach what their
        // host id may, as an ordinary user's do.
        int parentOpen = host.isHostRoot() ? MF_OPEN_IN_PARENT : 0;
        int idmap = host.isHostRoot() ? MF_IDMAP : 0;
        List<Mount> mounts = new ArrayList<>();
        // An engine's image root, which the kernel cannot idmap: the helper remakes it of its layers.
        Optional<HostOverlay> engineRoot = host.isHostRoot() && s.rootfs().isPresent()
                ? HostOverlay.at(s.rootfs().get()) : Optional.empty();
        if (engineRoot.isPresent()) {
            HostOverlay o = engineRoot.get();
            o.makeWork();
            int flags = NOSUID_NODEV | parentOpen | idmap | (s.rootfsWritable() ? 0 : MF_RDONLY);
            w.root(ROOT_HOST_OVERLAY, flags, o.upper().map(Path::toString).orElse(""));
            w.hostOverlay(s.rootfs().get().toString(), o.work().map(Path::toString).orElse(""), o.options());
            for (Path layer : o.lowers()) {
                w.layer(layer.toString());
            }
        } else if (s.rootfs().isPresent()) {
            int flags = NOSUID_NODEV | parentOpen | idmap | (s.rootfsWritable() ? 0 : MF_RDONLY);
            w.root(ROOT_BIND, flags, s.rootfs().get().toString());
        } else if (!s.rootfsLayers().isEmpty()) {
            // An image: its mount points are made in the overlay's private upper layer, never in its layers.
            int flags = NOSUID_NODEV | parentOpen | idmap | (s.rootfsWritable() ? 0 : MF_RDONLY);
            if (s.writableLayerDirectory().isPresent()) {
                Path dir = s.writableLayerDirectory().get();
                makeWritableLayer(dir, host.isHostRoot() ? ids : null);
                w.root(ROOT_OVERLAY, flags, dir.toString());
            } else {
                w.root(ROOT_OVERLAY, flags, "");
                w.overlaySize(s.writableLayerSize());
            }
            for (Path layer : s.rootfsLayers()) {
                w.layer(layer.toString());
            }
        } else {
            w.root(ROOT_TMPFS, NOSUID_NODEV | MF_RDONLY, "");
            for (String dir : DEFAULT_ROOTFS) {
                Path p = Path.of(dir);
                if (Files.isSymbolicLink(p)) {
                    mounts.add(new Mount(M_SYMLINK, 0, 0, 0, readLink(p), dir));
                } else if (Files.isDirectory(p)) {
                    mounts.add(new Mount(M_BIND, MF_RDONLY | NOSUID_NODEV | parentOpen, 0, 0, dir, dir));
                }
            }
        }
        mounts.add(switch (host.procMount()) {
            case FULL -> new Mount(M_PROC, NOSUID_NODEV | MF_NOEXEC, 0, 0, "", "/proc");
            // Made by the "proc" step too, so that a refusal is recognised the same way.
            case PID_SUBSET -> new Mount(M_FS, NOSUID_NODEV | MF_NOEXEC, 0, 0, "proc:subset=pid", "/proc");
            case NONE -> new Mount(M_TMPFS, MF_RDONLY | NOSUID_NODEV | MF_NOEXEC, 0555, 4096, "", "/proc");
        });
        // Before /proc/sys becomes read-only. A joined network namespace is not the sandbox's user
        // namespace's to change: the helper writes its net.* sysctls there, with the sandbox's ids.
        // (A joined IPC namespace's are refused when the sandbox is built: only its root may write them.)
        for (Map.Entry<String, String> sysctl : s.sysctls().entrySet()) {
            String name = sysctl.getKey();
            String value = sysctl.getValue();
            if (s.network().mode() == Network.Mode.NAMESPACE && name.startsWith("net.")) {
                requireNotOwnNetwork(s.network().namespacePath().get(), name);
                w.joinedSysctl(name.replace('.', '/'), hostIdsIn(name, value, uid, hostGid));
            } else {
                mounts.add(new Mount(M_WRITE, 0, 0, 0, value, "/proc/sys/" + name.replace('.', '/')));
            }
        }
        mounts.add(new Mount(M_TMPFS, MF_NOSUID | MF_NOEXEC, 0755, 0, "", "/dev"));
        for (String dev : DEVICES) {
            mounts.add(new Mount(M_BIND, MF_FILE | MF_NOSUID | MF_NOEXEC | parentOpen, 0, 0, "/dev/" + dev, "/dev/" + dev));
        }
        // Not idmapped (devtmpfs does not allow it): the sandbox's host ids get what the node's mode gives them.
        for (Bind d : s.devices()) {
            mounts.add(new Mount(M_BIND, MF_FILE | MF_NOSUID | MF_NOEXEC | parentOpen, 0, 0, d.source().toString(),
                    d.target()));
        }
        mounts.add(new Mount(M_SYMLINK, 0, 0, 0, "/proc/self/fd", "/dev/fd"));
        mounts.add(new Mount(M_SYMLINK, 0, 0, 0, "/proc/self/fd/0", "/dev/stdin"));
        mounts.add(new Mount(M_SYMLINK, 0, 0, 0, "/proc/self/fd/1", "/dev/stdout"));
        mounts.add(new Mount(M_SYMLINK, 0, 0, 0, "/proc/self/fd/2", "/dev/stderr"));
        List<Mount> user = new ArrayList<>();
        for (Bind b : s.binds()) {
            Path source = b.source();
            int flags = NOSUID_NODEV | parentOpen | idmap | (b.readOnly() ? MF_RDONLY : 0) | (b.noExec() ? MF_NOEXEC : 0)
                    | (Files.isDirectory(source) ? 0 : MF_FILE) | atimeFlags(b.atime());
            user.add(new Mount(M_BIND, flags, 0, 0, source.toString(), b.target()));
        }
        for (Tmpfs t : s.tmpfs()) {
            user.add(new Mount(M_TMPFS, NOSUID_NODEV | (t.readOnly() ? MF_RDONLY : 0) | (t.noExec() ? MF_NOEXEC : 0)
                    | atimeFlags(t.atime()), t.mode(), t.sizeBytes(), "", t.target()));
        }
        for (KernelMount k : s.kernelMounts()) {
            int ro = (k.readOnly() ? MF_RDONLY : 0) | atimeFlags(k.atime());
            switch (k.type()) {
                // Only who may change a network or IPC namespace may mount its sysfs or mqueue: for a
                // joined one, which the sandbox's user namespace does not own, the helper mounts it with
                // the caller's credentials, which joining took (host root, or root of the user namespace
                // that owns it, as under rootless podman).
                case SYSFS -> user.add(new Mount(M_FS, NOSUID_NODEV | MF_NOEXEC | ro
                        | (s.network().mode() == Network.Mode.NAMESPACE ? MF_OPEN_IN_PARENT : 0), 0, 0, "sysfs",
                        k.target()));
                case MQUEUE -> user.add(new Mount(M_FS, NOSUID_NODEV | MF_NOEXEC | ro
                        | (s.ipcNamespace().isPresent() ? MF_OPEN_IN_PARENT : 0), 0, 0, "mqueue", k.target()));
                case CGROUP -> user.add(new Mount(M_FS, NOSUID_NODEV | MF_NOEXEC | ro, 0, 0, "cgroup2", k.target()));
                case DEVPTS -> {
                    // Not nodev: its terminals are device nodes. Group 5 (tty) is not mapped: no gid= option.
                    user.add(new Mount(M_FS, MF_NOSUID | MF_NOEXEC | ro, 0, 0,
                            "devpts:newinstance,ptmxmode=0666,mode=0620", k.target()));
                    if (k.target().equals("/dev/pts")) {
                        user.add(new Mount(M_SYMLINK, 0, 0, 0, "pts/ptmx", "/dev/ptmx"));
                    }
                }
            }
        }
        // A mount must come after the one it lies in, whatever order the caller gave them in.
        if (user.size() > 1) { // one or none is in order, and its comparator's lambda not worth a fresh JVM's making
            user.sort(java.util.Comparator.comparingLong(m -> m.target.chars().filter(c -> c == '/').count()));
        }
        for (String dir : List.of("/dev/shm", "/tmp")) {
            if (!hasTarget(user, dir)) {
                mounts.add(new Mount(M_TMPFS, NOSUID_NODEV, 01777, 0, "", dir));
            }
        }
        harden(mounts, PROC_READ_ONLY, PROC_MASKED);
        if (net.resolvConf() != null) {
            // Its text, not a file of the JVM's run directory: a bind would show that host path in mountinfo.
            mounts.add(new Mount(M_CONTENT, MF_FILE | MF_RDONLY | NOSUID_NODEV | MF_NOEXEC | MF_OPTIONAL, 0, 0,
                    net.resolvConf(), "/etc/resolv.conf"));
        }
        mounts.addAll(user);
        // After the user's mounts, which they may lie in (e.g. /sys/firmware in a sysfs).
        harden(mounts, s.readOnlyPaths(), s.maskedPaths());
        List<String> earlier = new ArrayList<>();
        for (Mount m : mounts) {
            int flags = m.flags;
            // Mount points in a host root filesystem are made with the caller's host ids before the
            // namespaces exist; those below another mount are made inside, in that mount.
            if (s.rootfs().isPresent() && engineRoot.isEmpty() && m.kind != M_SYMLINK && (m.flags & MF_OPTIONAL) == 0 && !isBelowAny(m.target, earlier)) {
                flags |= MF_PRECREATE;
            }
            w.mount(m.kind, flags, m.mode, m.size, m.source, m.target);
            earlier.add(m.target);
        }
        for (Map.Entry<String, dev.crabcan.Propagation> p : s.propagations().entrySet()) {
            w.propagation(switch (p.getValue()) {
                case SHARED -> MS_SHARED;
                case SLAVE -> MS_SLAVE;
                case UNBINDABLE -> MS_UNBINDABLE;
                case PRIVATE -> throw new IllegalStateException("private propagation is every mount's, never recorded");
            }, p.getKey());
        }

        if (!cgroupProcs.isEmpty()) {
            for (Mount m : cgroupView(cgroupFileSystems, s)) {
                w.cgroupfs(m.kind, m.flags, m.mode, m.size, m.source, m.target);
            }
        }

        console(w, s);
        return process(w, s, host);
    }

    /** Where a sandbox in a cgroup of its own sees that cgroup, as container runtimes show it. */
    public static final String CGROUP_VIEW = "/sys/fs/cgroup";

    /**
     * The mounts that show the sandbox's cgroup read-only at {@value #CGROUP_VIEW} (T_CGROUPFS),
     * so that runtimes that size themselves from their cgroup's limits (HotSpot's heap and CPU
     * count, Go, .NET, Node) find them: on v2 the one cgroup2; on v1 a tmpfs holding each
     * hierarchy's file system at its name, as runc lays it out, with a link from each controller of
     * a hierarchy that has several (cpu -> cpu,cpuacct). None where the caller mounts something
     * there or below, or masks it.
     */
    static List<Mount> cgroupView(List<String> fileSystems, Sandbox s) {
        List<String> callers = new ArrayList<>(s.readOnlyPaths());
        callers.addAll(s.maskedPaths());
        for (Bind b : s.binds()) {
            callers.add(b.target());
        }
        for (Tmpfs t : s.tmpfs()) {
            callers.add(t.target());
        }
        for (KernelMount k : s.kernelMounts()) {
            callers.add(k.target());
        }
        if (fileSystems.isEmpty()) {
            return List.of();
        }
        for (String t : callers) {
            if (t.equals(CGROUP_VIEW) || isBelow(t, CGROUP_VIEW)) {
                return List.of();
            }
        }
        int flags = MF_RDONLY | NOSUID_NODEV | MF_NOEXEC;
        if (fileSystems.equals(List.of("cgroup2"))) {
            return List.of(new Mount(M_FS, flags, 0, 0, "cgroup2", CGROUP_VIEW));
        }
        List<Mount> view = new ArrayList<>();
        view.add(new Mount(M_TMPFS, flags, 0755, 64 << 10, "", CGROUP_VIEW));
        for (String fs : fileSystems) {
            String hierarchy = fs.substring(fs.indexOf(':') + 1);
            view.add(new Mount(M_FS, flags, 0, 0, fs, CGROUP_VIEW + "/" + hierarchy));
        }
        for (String fs : fileSystems) {
            String hierarchy = fs.substring(fs.indexOf(':') + 1);
            for (String controller : hierarchy.split(",")) {
                if (!controller.equals(hierarchy)) {
                    view.add(new Mount(M_SYMLINK, 0, 0, 0, hierarchy, CGROUP_VIEW + "/" + controller));
                }
            }
        }
        return view;
    }

    /**
     * The running sandbox an exec joins: its init and the command's process (pid 0: unknown), with
     * their start times in clock ticks after boot (field 22 of /proc/PID/stat), which tell them
     * from later processes that reuse their pids.
     */
    public record JoinTarget(long pid, long startTime, long commandPid, long commandStartTime) {}

    /**
     * The plan of an OCI exec: s's command, ids, capabilities, rlimits, seccomp filter, environment,
     * working directory and terminal, run in the running sandbox target (whose settings s must be,
     * but for the process) instead of a new one; cgroupProcs are the cgroup.procs files of that
     * sandbox's cgroups that differ from the JVM's, which the helper joins first. Its stdio cannot
     * be pipes. A detached command is left, once it runs, to whoever reaps this JVM's orphans (an
     * engine's subreaper), which then gets its exit status; the session then says nothing more.
     */
    public static byte[] compileJoin(Sandbox s, HostInfo host, JoinTarget target, List<Path> cgroupProcs,
            List<StdioSource> stdio, boolean detached) {
        PlanWriter w = new PlanWriter();
        checkJoinGroups(s, host, target.pid());
        int options = (s.noNewPrivileges() ? OPT_NO_NEW_PRIVS : 0) | (s.keepTerminal() ? 0 : OPT_SETSID)
                | (detached ? OPT_DETACHED : 0) | (commandGroups(s).isEmpty() ? 0 : OPT_SETGROUPS)
                | (Session.SETUP_LOG.isDebugEnabled() ? OPT_DEBUG : 0)
                | (anyToStdout(stdio) ? OPT_STDERR_TO_STDOUT : 0);
        // The namespaces the sandbox has of its own: all but the network of a sandbox on the host's.
        w.config(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP
                | (s.network().mode() == Network.Mode.HOST ? 0 : CLONE_NEWNET), options);
        w.join((int) target.pid(), (int) target.commandPid(), target.startTime(), target.commandStartTime());
        for (Path p : cgroupProcs) {
            w.cgroup(p.toString());
        }
        for (StdioSource io : stdio) {
            if (io.pipe() || io.passed()) {
                throw new SandboxSpecException("a command joining a running sandbox cannot have piped stdio: use "
                        + "inherit, discard or files");
            } else if (io.path() != null) {
                w.stdio(io.fd(), io.flags(), io.mode(), io.path());
            }
        }
        for (Object source : s.passedFds().values()) {
            if (source != InheritedFd.FROM_ZYGOTE) {
                throw new SandboxSpecException("a command joining a running sandbox gets no fds of this JVM (passFd); "
                        + "only inheritFd");
            }
        }
        inheritedFds(w, s);
        console(w, s);
        return process(w, s, host);
    }

    /** The fds the helper inherits from its zygote (Sandbox.Builder.inheritFd), which the launcher sends nothing for. */
    private static void inheritedFds(PlanWriter w, Sandbox s) {
        for (var fd : s.passedFds().entrySet()) {
            if (fd.getValue() == InheritedFd.FROM_ZYGOTE) {
                w.inheritFd(fd.getKey());
            }
        }
    }

    // Loops rather than streams and lambdas here and above: every plan is compiled on the first
    // sandbox's path, where a fresh JVM pays for each lambda it meets (it generates a class for it).

    /**
     * The command's supplementary groups but its own gid (the sandbox's uid), which it has anyway:
     * the groups a root caller's sandbox leases a host gid for.
     */
    public static List<Integer> commandGroups(Sandbox s) {
        List<Integer> groups = new ArrayList<>();
        for (int g : s.supplementaryGroups()) {
            if (g != s.uid()) {
                groups.add(g);
            }
        }
        return List.copyOf(groups);
    }

    private static boolean anyToStdout(List<StdioSource> stdio) {
        for (StdioSource io : stdio) {
            if (io.toStdout()) {
                return true;
            }
        }
        return false;
    }

    private static void console(PlanWriter w, Sandbox s) {
        if (s.terminal().isPresent()) {
            dev.crabcan.Terminal t = s.terminal().get();
            w.console(t.rows(), t.columns(), t.consoleSocket().toString());
        }
    }

    private static boolean hasTarget(List<Mount> mounts, String target) {
        for (Mount m : mounts) {
            if (m.target.equals(target)) {
                return true;
            }
        }
        return false;
    }

    private static boolean isBelowAny(String path, List<String> dirs) {
        for (String dir : dirs) {
            if (isBelow(path, dir)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The lines of the root file system's idmap gid map that make its files of each supplementary
     * group (their on-disk id, as an image stores it) the sandbox's group: on-disk g to the host
     * gid leased for g. Not the caller's own group, which the first line already gives to the
     * sandbox's gid. Binds get none of these: a bind's files of a group are a host group's.
     */
    private static String rootGroups(List<Integer> groups, List<Integer> hostGids, int callerGid) {
        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < groups.size(); i++) {
            if (groups.get(i) != callerGid) {
                lines.append(groups.get(i)).append(' ').append(hostGids.get(i)).append(" 1\n");
            }
        }
        return lines.toString();
    }

    /**
     * The supplementary groups, checked against what the caller may map. A caller that leases host
     * ids (host root) holds each group as a host gid leased for it, which no host user or group and
     * no other sandbox has; root of a user namespace (rootless podman's runtime) maps each as the
     * same id of its namespace, which must map it; an ordinary user maps only its own group.
     */
    private static List<Integer> supplementaryGroups(Sandbox s, HostInfo host, HostIds.Lease ids) {
        List<Integer> groups = commandGroups(s);
        if (groups.isEmpty()) {
            return groups;
        }
        String what = "supplementaryGroups " + groups;
        if (host.leasesHostIds()) {
            if (ids.groupGids().size() != groups.size()) {
                throw new IllegalStateException(what + ": the lease holds " + ids.groupGids().size() + " group ids");
            }
            return groups;
        }
        refuseGroupsOfOrdinaryUsers(what, host);
        String map = readProc(Path.of("/proc/self/gid_map"));
        for (int g : groups) {
            if (g == ids.gid()) {
                throw new SandboxSpecException(what + ": group " + g + " is the caller's own, which the sandbox's gid "
                        + s.uid() + " is already mapped to");
            }
            if (!mapped(map, g)) {
                throw new SandboxSpecException(what + ": group " + g + " is not mapped in the caller's user "
                        + "namespace (/proc/self/gid_map: " + map.trim().replace("\n", "; ") + ")");
            }
        }
        return groups;
    }

    private static void refuseGroupsOfOrdinaryUsers(String what, HostInfo host) {
        if (!host.isRoot()) {
            throw new SandboxSpecException(what + ": an ordinary user's sandbox maps the caller's own group only; "
                    + "supplementary groups need a caller that is root of a user namespace that maps them (as rootless "
                    + "podman runs its runtime)");
        }
    }

    /**
     * The groups of a process that joins the running sandbox of init: the caller's rules, as for a new
     * sandbox, and the sandbox's user namespace must allow setgroups (Crabcan leaves it allowed only in
     * a sandbox made with supplementary groups) and map each group (a root caller's sandbox maps those
     * it was made with, each to the host gid leased for it). Otherwise the kernel's EPERM or EINVAL,
     * once the helper had joined, would be all the caller heard.
     */
    private static void checkJoinGroups(Sandbox s, HostInfo host, long init) {
        List<Integer> groups = commandGroups(s);
        if (groups.isEmpty()) {
            return;
        }
        String what = "supplementaryGroups " + groups;
        if (!host.leasesHostIds()) {
            refuseGroupsOfOrdinaryUsers(what, host);
        }
        Path proc = Path.of("/proc", Long.toString(init));
        if (readProc(proc.resolve("setgroups")).strip().equals("deny")) {
            throw new SandboxSpecException(what + ": the running sandbox's user namespace denies setgroups (" + proc
                    + "/setgroups), as it does in every sandbox made without supplementary groups; give the groups to "
                    + "the sandbox when it is made (OCI: process.user.additionalGids at create), then its exec'd "
                    + "processes may have them");
        }
        String map = readProc(proc.resolve("gid_map"));
        for (int g : groups) {
            if (!mapped(map, g)) {
                throw new SandboxSpecException(what + ": group " + g + " is not mapped in the running sandbox's user "
                        + "namespace (" + proc + "/gid_map: " + map.trim().replace("\n", "; ") + "); a process joining "
                        + "it may have only the groups the sandbox was made with");
            }
        }
    }

    /** Whether a gid_map (inside, outside, count a line) maps the id g of its namespace. */
    private static boolean mapped(String map, int g) {
        return map.lines().map(Text::fields).filter(f -> f.length == 3).anyMatch(f ->
                g >= Long.parseLong(f[0]) && g < Long.parseLong(f[0]) + Long.parseLong(f[2]));
    }

    private static String readProc(Path file) {
        try {
            return Files.readString(file);
        } catch (java.io.IOException e) {
            throw new SandboxSpecException("supplementaryGroups: cannot read " + file + ": " + e.getMessage());
        }
    }

    /**
     * The policy of a sandbox whose writable layer is kept (a build's RUN step, a sandbox to commit):
     * this one, or with {@link SeccompPolicy#none()} a filter of just these rules, refusing every
     * call that writes or removes an xattr (ENOTSUP, as a file system without them answers). The
     * owner marks of an image's layers (user.crabcan.owner, which overlayfs copies up) say whose
     * each file of the kept layer is: the sandbox must not write them. Layers keep no xattrs.
     */
    static SeccompPolicy refusingXattrWrites(SeccompPolicy p) {
        final int ENOTSUP = 95;
        SeccompPolicy.Builder b = p.toBuilder();
        for (Syscall call : List.of(Syscall.SETXATTR, Syscall.LSETXATTR, Syscall.FSETXATTR, Syscall.SETXATTRAT,
                Syscall.REMOVEXATTR, Syscall.LREMOVEXATTR, Syscall.FREMOVEXATTR, Syscall.REMOVEXATTRAT)) {
            b.rule(call, SeccompAction.errno(ENOTSUP));
        }
        return b.build();
    }

    /** What the command's process is given, in a new sandbox or a joined one: ids, capabilities, limits, filter, argv, env. */
    private static byte[] process(PlanWriter w, Sandbox s, HostInfo host) {
        int uid = s.uid();
        w.creds(uid, uid);
        if (s.sessionKeyring().isPresent()) {
            w.sessionKeyring(s.sessionKeyring().get());
        } else if (!s.keepsCallersSessionKeyring() && !s.seccomp().equals(SeccompPolicy.defaultPolicy())) {
            // Keyrings are not namespaced: a filter that may allow keyctl (the default denies it)
            // would leave the command the caller's session keyring and its keys (an attack review
            // read a root caller's). An anonymous one instead; none for the default, whose keyring
            // each would count against a rootless caller's 200 keys.
            w.sessionKeyring("");
        }
        List<Integer> groups = commandGroups(s);
        if (!groups.isEmpty()) {
            java.nio.ByteBuffer gids = java.nio.ByteBuffer.allocate(4 * groups.size())
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            groups.forEach(gids::putInt);
            w.groups(gids.array());
        }
        long denied = 0;
        for (Capability c : Capability.values()) {
            // On a private network raw packets would pass the host's rules: pasta turns a forged SYN to
            // 127.0.0.1 into a connection to the host's loopback, and with a veth they spoof addresses.
            if (s.network().mode() == Network.Mode.PRIVATE && PRIVATE_NETWORK_DENIED.contains(c)
                    || host.isRoot() && ROOT_CALLER_DENIED.contains(c)) {
                denied |= 1L << c.number();
            }
        }
        // Removed from every set alike, so that each stays within the ones it must lie in.
        w.caps(mask(s.capabilities()) & ~denied, mask(s.effectiveCapabilities()) & ~denied,
                mask(s.permittedCapabilities()) & ~denied, mask(s.inheritableCapabilities()) & ~denied,
                mask(s.ambientCapabilities()) & ~denied);
        // A hard limit above the caller's is raised by the helper on the host, where root may.
        for (Map.Entry<dev.crabcan.Rlimit, long[]> r : rlimits(s).entrySet()) {
            w.rlimit(r.getKey().resource(), rlimValue(r.getValue()[0]), rlimValue(r.getValue()[1]));
        }
        if (s.oomScoreAdj().isPresent()) {
            w.oomScoreAdj(s.oomScoreAdj().getAsInt());
        }
        SeccompPolicy policy = s.writableLayerDirectory().isPresent() ? refusingXattrWrites(s.seccomp()) : s.seccomp();
        byte[] filter;
        if (policy.equals(SeccompPolicy.defaultPolicy())) {
            filter = DEFAULT_FILTER;
        } else if (host.isRoot()) {
            // A root caller's files in read-write binds are the sandbox's: never let it give them privilege.
            if (!s.noNewPrivileges() && !s.capabilities().contains(Capability.SYS_ADMIN)) {
                throw new SandboxSpecException("a root caller's sandbox always gets the seccomp rules against "
                        + "setuid files, which need noNewPrivileges(true)");
            }
            filter = BpfCompiler.compile(policy.withRootCallerRulesFirst());
        } else {
            filter = BpfCompiler.compile(policy);
        }
        if (filter.length > 0) {
            w.seccomp(filter);
        }

        for (String arg : s.command()) {
            w.arg(arg);
        }
        Map<String, String> env = new LinkedHashMap<>(s.environment());
        env.putIfAbsent("PATH", Sandbox.DEFAULT_PATH);
        for (Map.Entry<String, String> e : env.entrySet()) {
            w.env(e.getKey() + "=" + e.getValue());
        }
        w.searchPath(env.get("PATH"));
        w.cwd(s.workingDirectory());
        if (s.umask().isPresent()) {
            w.umask(s.umask().getAsInt());
        }
        if (w.size() > PLAN_MAX) {
            throw new SandboxSpecException("the sandbox's plan is " + w.size() + " bytes; the helper reads at most "
                    + PLAN_MAX + ": pass long arguments, environment or paths in a file");
        }
        return w.toByteArray();
    }

    /**
     * The upper and work directories of an image's writable layer kept in {@code dir}, made where
     * missing. For a host root caller ({@code owner} not null) they and what they hold are given to
     * the sandbox's host ids, as a private upper layer is: the overlay, which the helper mounts as
     * host root, stores what the sandbox makes as those ids, and shows the upper directory's owner.
     */
    private static void makeWritableLayer(Path dir, HostIds.Lease owner) {
        try {
            for (String sub : List.of("upper", "work")) {
                Path p = dir.resolve(sub);
                if (!Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    Files.createDirectory(p);
                    Files.setAttribute(p, "unix:mode", sub.equals("upper") ? 0755 : 0700);
                }
                if (owner != null) {
                    try (java.util.stream.Stream<Path> all = Files.walk(p)) {
                        for (Path f : (Iterable<Path>) all::iterator) {
                            Files.setAttribute(f, "unix:uid", owner.uid(), java.nio.file.LinkOption.NOFOLLOW_LINKS);
                            Files.setAttribute(f, "unix:gid", owner.gid(), java.nio.file.LinkOption.NOFOLLOW_LINKS);
                        }
                    }
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new SandboxSpecException("writableLayerDirectory " + dir + ": cannot prepare its upper and work "
                    + "directories: " + e + "; give an empty directory of your own");
        }
    }

    /**
     * Refuses, when the spec is built, what the helper's tables cannot hold (it would fail at
     * start with "plan EINVAL"): arguments, environment entries, and mounts, counting the most
     * that {@link #compile} adds of its own.
     */
    public static void checkLimits(Sandbox s) {
        if (s.command().size() > MAX_ARGS) {
            throw new SandboxSpecException("the command has " + s.command().size() + " arguments; the helper takes "
                    + "at most " + MAX_ARGS + " (pass the rest in a file)");
        }
        int env = s.environment().size() + (s.environment().containsKey("PATH") ? 0 : 1);
        if (env > MAX_ENV) {
            throw new SandboxSpecException("the environment has " + env + " variables with PATH; the helper takes at "
                    + "most " + MAX_ENV);
        }
        long bytes = 0;
        for (String arg : s.command()) {
            bytes += RECORD_OVERHEAD + arg.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        }
        for (Map.Entry<String, String> e : s.environment().entrySet()) {
            bytes += RECORD_OVERHEAD + 1 + (e.getKey() + e.getValue()).getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        }
        if (bytes > PLAN_MAX - PLAN_ROOM) {
            throw new SandboxSpecException("the command's arguments and environment take " + bytes + " bytes; the helper "
                    + "reads plans of at most " + PLAN_MAX + " bytes, " + PLAN_ROOM + " of them kept for the rest of the "
                    + "sandbox: pass long arguments or environment in a file");
        }
        int own = (s.rootfs().isPresent() || !s.rootfsLayers().isEmpty() ? 0 : DEFAULT_ROOTFS.size()) + 2 /* /proc, /dev */ + DEVICES.size()
                + 4 /* /dev/fd, stdin, stdout, stderr */ + 2 /* /dev/shm, /tmp */ + PROC_READ_ONLY.size()
                + PROC_MASKED.size() + 1 /* resolv.conf */;
        int users = s.binds().size() + s.devices().size() + s.tmpfs().size() + 2 * s.kernelMounts().size() + s.sysctls().size()
                + s.readOnlyPaths().size() + s.maskedPaths().size();
        if (own + users > MAX_MOUNTS) {
            throw new SandboxSpecException("the sandbox needs up to " + (own + users) + " mounts (" + users
                    + " from its binds, tmpfs, kernel mounts, sysctls and masked or read-only paths, up to " + own
                    + " of its own); the helper makes at most " + MAX_MOUNTS + ": bind a common parent instead of "
                    + "many siblings");
        }
        if (s.sysctls().size() > MAX_JOINED_SYSCTLS && s.network().mode() == Network.Mode.NAMESPACE) {
            throw new SandboxSpecException("the sandbox sets " + s.sysctls().size() + " sysctls and joins a network "
                    + "namespace, whose sysctls the helper writes, at most " + MAX_JOINED_SYSCTLS + ": set fewer");
        }
    }

    /** Read-only, like OCI runtimes' readonlyPaths: kernel knobs the sandbox must not turn. */
    public static final List<String> PROC_READ_ONLY = List.of("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
            "/proc/sysrq-trigger");

    /** Hidden, like OCI runtimes' maskedPaths: host memory, keys and timing details. */
    public static final List<String> PROC_MASKED = List.of("/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore",
            "/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
            "/proc/timer_stats");

    /** Binds over paths of the new root: read-only ones, then files masked by /dev/null and directories by an empty tmpfs. */
    private static void harden(List<Mount> mounts, List<String> readOnly, List<String> masked) {
        for (String p : readOnly) {
            mounts.add(new Mount(M_INNER_BIND, MF_RDONLY | NOSUID_NODEV | MF_NOEXEC | MF_OPTIONAL, 0, 0, p, p));
        }
        for (String p : masked) {
            if (Files.isDirectory(Path.of(p))) {
                mounts.add(new Mount(M_TMPFS, MF_RDONLY | NOSUID_NODEV | MF_NOEXEC | MF_OPTIONAL, 0555, 4096, "", p));
            } else {
                // Not nodev: reading the /dev/null device through it must work (and give nothing).
                mounts.add(new Mount(M_INNER_BIND, MF_RDONLY | MF_NOSUID | MF_NOEXEC | MF_OPTIONAL, 0, 0,
                        "/dev/null", p));
            }
        }
    }

    /**
     * A net.* sysctl's value as the helper writes it, from the host's user namespace: the group
     * range of net.ipv4.ping_group_range is read in the writer's namespace, so the sandbox's one
     * group (gid, host gid hostGid) becomes "hostGid hostGid" when the range holds it, else the
     * empty range "1 0"; groups the sandbox does not have cannot use ping sockets anyway.
     */
    static String hostIdsIn(String name, String value, int gid, int hostGid) {
        if (!name.equals("net.ipv4.ping_group_range")) {
            return value;
        }
        String[] range = Text.fields(value);
        try {
            if (range.length == 2 && Long.parseLong(range[0]) <= gid && gid <= Long.parseLong(range[1])) {
                return hostGid + " " + hostGid;
            }
        } catch (NumberFormatException e) {
            throw new SandboxSpecException("sysctl " + name + " must be two group ids, got '" + value + "'");
        }
        if (range.length != 2) {
            throw new SandboxSpecException("sysctl " + name + " must be two group ids, got '" + value + "'");
        }
        return "1 0";
    }

    /** A T_JOIN_NS record for path, with its owner's pid and start time where path is that process's own. */
    private static void joinNamespace(PlanWriter w, int type, String file, java.util.Optional<Path> path,
            JoinTarget owner) {
        if (path.isEmpty()) {
            return;
        }
        String p = path.get().toString();
        if (owner != null && p.equals("/proc/" + owner.pid() + "/ns/" + file)) {
            w.joinNs(type, (int) owner.pid(), owner.startTime(), p);
        } else {
            w.joinNs(type, 0, 0, p);
        }
    }

    /** Refuses a sysctl that the helper would write into this JVM's own network namespace: the host's, as a rule. */
    private static void requireNotOwnNetwork(Path namespace, String sysctl) {
        Object joined;
        Object own;
        try {
            joined = Files.readAttributes(namespace, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
            own = Files.readAttributes(Path.of("/proc/self/ns/net"), java.nio.file.attribute.BasicFileAttributes.class)
                    .fileKey();
        } catch (IOException e) {
            throw new SandboxSpecException("cannot read the network namespace " + namespace + " that sysctl " + sysctl
                    + " is for: " + e);
        }
        if (joined != null && joined.equals(own)) {
            throw new SandboxSpecException("sysctl " + sysctl + " would change the network namespace of this JVM, "
                    + namespace + " is that namespace: leave the sysctl out or give the sandbox a namespace of its own");
        }
    }

    private static int atimeFlags(dev.crabcan.Atime a) {
        int mode = switch (a.mode()) {
            case DEFAULT -> 0;
            case RELATIME -> MF_RELATIME;
            case NOATIME -> MF_NOATIME;
            case STRICTATIME -> MF_STRICTATIME;
        };
        return mode | (a.noDirAtime() ? MF_NODIRATIME : 0);
    }

    /**
     * The rlimits the command gets: the limits' own, with an output limit on stdout or stderr written
     * to a file made the file-size limit (the file's current size plus the output limit, for a file
     * appended to), unless Rlimit.FSIZE is already lower. The kernel's SIGXFSZ then enforces it.
     */
    public static java.util.Map<dev.crabcan.Rlimit, long[]> rlimits(Sandbox s) {
        java.util.Map<dev.crabcan.Rlimit, long[]> r = s.limits().rlimits();
        if (s.limits().outputBytes().isEmpty()) {
            return r;
        }
        long output = s.limits().outputBytes().getAsLong();
        for (dev.crabcan.Stdio io : List.of(s.stdout(), s.stderr())) {
            long max;
            if (io.kind() == dev.crabcan.Stdio.Kind.WRITE_FILE) {
                max = output;
            } else if (io.kind() == dev.crabcan.Stdio.Kind.APPEND_FILE) {
                max = output + (java.nio.file.Files.isRegularFile(io.file()) ? io.file().toFile().length() : 0);
            } else {
                continue;
            }
            long[] fsize = r.getOrDefault(dev.crabcan.Rlimit.FSIZE, new long[] {max, max});
            r.put(dev.crabcan.Rlimit.FSIZE, new long[] {Math.min(fsize[0], max), Math.min(fsize[1], max)});
        }
        return r;
    }

    /** Rlimit.UNLIMITED is the kernel's RLIM_INFINITY, 2^64-1. */
    private static long rlimValue(long v) {
        return v == dev.crabcan.Rlimit.UNLIMITED ? -1L : v;
    }

    private static long mask(java.util.Set<Capability> caps) {
        long m = 0;
        for (Capability c : caps) {
            m |= 1L << c.number();
        }
        return m;
    }

    private record Mount(int kind, int flags, int mode, long size, String source, String target) {}

    private static boolean isBelow(String path, String dir) {
        return path.startsWith(dir.endsWith("/") ? dir : dir + "/");
    }

    private static String readLink(Path p) {
        try {
            return Files.readSymbolicLink(p).toString();
        } catch (IOException e) {
            throw new SandboxSpecException("cannot read the host's symbolic link " + p + ": " + e.getMessage());
        }
    }
}
