package dev.crabcan.internal.oci;

import dev.crabcan.ArgCondition;
import dev.crabcan.Atime;
import dev.crabcan.Bind;
import dev.crabcan.Capability;
import dev.crabcan.KernelMount;
import dev.crabcan.Limits;
import dev.crabcan.Propagation;
import dev.crabcan.Rlimit;
import dev.crabcan.Network;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.SeccompAction;
import dev.crabcan.SeccompPolicy;
import dev.crabcan.Syscall;
import dev.crabcan.Tmpfs;
import dev.crabcan.internal.cgroup.CgroupTuning;
import dev.crabcan.internal.cgroup.CgroupTuning.Knob;
import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.json.Json;
import dev.crabcan.internal.plan.PlanCompiler;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * An OCI runtime-spec {@code config.json} (1.0 to 1.2) to a {@link Sandbox} and back. Every field
 * is either carried out or refused with a message naming it ({@code linux.sysctl["kernel.x"]: not
 * supported because ...}); none is skipped without a word. Fields that only narrow what Crabcan
 * already does (a missing user or cgroup namespace: the sandbox always gets its own) are accepted.
 */
public final class OciConfig {
    /** The version Crabcan writes; it reads 1.0.x to 1.2.x. */
    public static final String OCI_VERSION = "1.2.0";

    /** Namespaces every sandbox gets; a config must ask for these, since leaving one out would share the host's. */
    private static final Set<String> REQUIRED_NAMESPACES = Set.of("pid", "ipc", "uts", "mount");
    private static final Set<String> ALWAYS_NAMESPACES = Set.of("user", "cgroup");
    private static final Set<String> JOINABLE_NAMESPACES = Set.of("network", "ipc", "uts");
    private static final Set<String> ATIME_OPTIONS = Set.of("relatime", "norelatime", "strictatime", "nostrictatime",
            "noatime", "atime", "nodiratime", "diratime");
    /**
     * Mount propagation as mount(8) names it: Crabcan's binds are recursive, so the plain and the
     * recursive forms set the same for everything below the mount.
     */
    private static final Map<String, Propagation> PROPAGATION = Map.of("private", Propagation.PRIVATE, "rprivate",
            Propagation.PRIVATE, "slave", Propagation.SLAVE, "rslave", Propagation.SLAVE, "shared",
            Propagation.SHARED, "rshared", Propagation.SHARED, "unbindable", Propagation.UNBINDABLE, "runbindable",
            Propagation.UNBINDABLE);
    /** The device nodes every sandbox has, as runtime-spec's linux.devices would name them. */
    private static final Map<String, String> OWN_DEVICES = Map.of("/dev/null", "c 1:3", "/dev/zero", "c 1:5",
            "/dev/full", "c 1:7", "/dev/random", "c 1:8", "/dev/urandom", "c 1:9", "/dev/tty", "c 5:0");
    /** Options that only say what every sandbox mount is or does anyway. */
    private static final Set<String> SAME_RESULT = Set.of("rw", "exec", "nosuid", "nodev", "async", "defaults");
    private static final Set<String> RECURSIVE_FORMS = Set.of("rro", "rrw", "rnoexec", "rexec", "rnosuid", "rnodev",
            "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime", "rnoatime", "ratime", "rnodiratime",
            "rdiratime");

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(OciConfig.class);

    private OciConfig() {}

    /** Reads {@code bundle/config.json}; its root path is taken relative to the bundle. */
    public static Sandbox read(Path bundle) {
        return read(bundle, false).sandbox();
    }

    /**
     * A program the engine asks the runtime to run at a point of the container's life, with the
     * container's state on its stdin (runtime-spec "hooks"). args[0] is the program's argv[0].
     */
    public record Hook(String path, List<String> args, List<String> env, java.util.OptionalInt timeoutSeconds) {}

    /**
     * The sandbox of a bundle, the hooks the runtime runs for it by kind ("prestart", ...), the
     * config's linux.cgroupsPath (null if none: where the runtime makes the container's cgroup),
     * the linux.resources fields the runtime writes into that cgroup beyond the sandbox's limits,
     * and whether its process asks for a terminal ({@code process.terminal}), of what size (0: the
     * kernel's default), which the runtime gives it with the engine's console socket.
     */
    public record Bundle(Sandbox sandbox, Map<String, List<Hook>> hooks, String cgroupsPath, CgroupTuning tuning,
            boolean terminal, int rows, int columns) {}

    /** A linux.resources object (OCI update): the limits, and the fields only a runtime's cgroup carries out. */
    public record Resources(Limits limits, CgroupTuning tuning) {}

    /**
     * The hooks an OCI runtime runs (see crabcan-oci): all of runtime-spec's, createContainer and
     * startContainer inside the sandbox (ContainerHooks), the others in the runtime's namespaces.
     */
    public static final List<String> RUNTIME_HOOKS = List.of("prestart", "createRuntime", "createContainer",
            "startContainer", "poststart", "poststop");

    /**
     * Reads {@code bundle/config.json} for an OCI runtime, which runs the {@link #RUNTIME_HOOKS}
     * itself; a sandbox alone runs no host programs, so {@link #read(Path)} refuses hooks.
     */
    public static Bundle readForRuntime(Path bundle) {
        return read(bundle, true);
    }

    private static Bundle read(Path bundle, boolean runtimeHooks) {
        Path file = bundle.resolve("config.json");
        return read(bundle, parseFile(file, "OCI config"), runtimeHooks, file.toString());
    }

    /**
     * Reads a parsed config as {@link #readForRuntime(Path)} reads one, its relative root path
     * relative to {@code bundle}; messages start with {@code source}. For OCI exec, which runs the
     * container's config with the process replaced.
     */
    public static Bundle readForRuntime(Path bundle, Object config, String source) {
        return read(bundle, config, true, source);
    }

    private static Bundle read(Path bundle, Object parsed, boolean runtimeHooks, String source) {
        try {
            Reader reader = new Reader(bundle.toAbsolutePath(), runtimeHooks);
            Sandbox sandbox = reader.config(parsed);
            return new Bundle(sandbox, reader.hooks, reader.cgroupsPath, CgroupTuning.of(reader.tuning), reader.terminal,
                    reader.rows, reader.columns);
        } catch (SandboxSpecException e) {
            throw new SandboxSpecException(source + ": " + e.getMessage());
        }
    }

    /**
     * A runtime-spec {@code linux.resources} object (OCI update), read and checked as a config's
     * is; messages name the field as {@code linux.resources.pids.limit}. A 0 that a config leaves
     * out as the new cgroup's default (cpu.burst, cpu.idle) is kept here: it undoes an earlier one.
     */
    public static Resources readResources(Object resources) {
        Reader reader = new Reader(Path.of("/"), true);
        reader.update = true;
        reader.resources(object(resources, "linux.resources"), List.of());
        return new Resources(reader.limits.build(), CgroupTuning.of(reader.tuning));
    }

    /**
     * Reads a seccomp profile: a file holding one runtime-spec {@code linux.seccomp} object
     * ({@code defaultAction}, {@code syscalls}, ...), read as a config's is. Messages name the file
     * and the field, e.g. {@code /etc/p.json: syscalls[0].action SCMP_ACT_NOTIFY: not supported because ...}.
     */
    public static SeccompPolicy readSeccomp(Path file) {
        Object parsed = parseFile(file, "seccomp profile");
        try {
            return seccompPolicy(object(parsed, "the profile"), "");
        } catch (SandboxSpecException e) {
            throw new SandboxSpecException(file + ": " + e.getMessage());
        }
    }

    private static Object parseFile(Path file, String what) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SandboxSpecException("cannot read the " + what + " " + file + ": " + e);
        }
        try {
            return Json.parse(text);
        } catch (Json.ParseException e) {
            throw new SandboxSpecException(file + " is not valid JSON: " + e.getMessage());
        }
    }

    /** Reads a parsed config whose relative root path is relative to {@code bundle}; for tests. */
    static Sandbox read(Path bundle, Object config) {
        return new Reader(bundle.toAbsolutePath(), false).config(config);
    }

    /** The hooks of a parsed config, read as an OCI runtime reads them; for tests. */
    static Map<String, List<Hook>> hooks(Path bundle, Object config) {
        Reader reader = new Reader(bundle.toAbsolutePath(), true);
        reader.config(config);
        return reader.hooks;
    }

    private static SandboxSpecException refuse(String field, String why) {
        return new SandboxSpecException(field + ": not supported because " + why);
    }

    private static SandboxSpecException invalid(String field, String why) {
        return new SandboxSpecException(field + ": " + why);
    }

    /**
     * The host id a config written by root maps the process's id to. Crabcan gives each root
     * caller's sandbox an id of its own when it starts, which a config, read later by another
     * runtime, cannot name: that runtime runs the container as nobody unless the config is edited.
     */
    static final long WRITTEN_ROOT_HOST_ID = 65534;

    /** The host id a config written by this caller maps the process's id to. */
    private static long writtenHostId(HostInfo host, int callerId) {
        return host.leasesHostIds() ? WRITTEN_ROOT_HOST_ID : callerId;
    }

    // ---- reading -------------------------------------------------------------------------

    private static final class Reader {
        private final Path bundle;
        private final Sandbox.Builder b = Sandbox.builder();
        private final Limits.Builder limits = Limits.builder();
        private final boolean runtimeHooks;
        private final Map<String, List<Hook>> hooks = new LinkedHashMap<>();
        private final Map<Knob, Long> tuning = new EnumMap<>(Knob.class);
        /** Reading an OCI update's resources rather than a config. */
        private boolean update;
        private String cgroupsPath;
        private boolean terminal;
        private int rows;
        private int columns;

        Reader(Path bundle, boolean runtimeHooks) {
            this.bundle = bundle;
            this.runtimeHooks = runtimeHooks;
        }

        Sandbox config(Object root) {
            Map<String, Object> c = object(root, "config");
            known(c, "", "ociVersion", "process", "root", "hostname", "domainname", "mounts", "annotations", "linux",
                    "hooks");
            String version = string(c.get("ociVersion"), "ociVersion");
            if (!version.matches("1\\.[012]\\.\\d+(-.*)?")) {
                throw refuse("ociVersion \"" + version + "\"", "Crabcan reads runtime-spec 1.0 to 1.2");
            }
            if (c.get("domainname") != null && !string(c.get("domainname"), "domainname").isEmpty()) {
                b.domainname(string(c.get("domainname"), "domainname"));
            }
            if (c.get("hooks") != null) {
                hooks(object(c.get("hooks"), "hooks"));
            }
            // annotations: free-form metadata for tools, which the spec lets runtimes ignore.
            root(object(required(c, "root", ""), "root"));
            if (c.get("hostname") != null && !string(c.get("hostname"), "hostname").isEmpty()) {
                b.hostname(string(c.get("hostname"), "hostname"));
            }
            Map<String, Object> process = object(required(c, "process", ""), "process");
            int uid = process(process);
            linux(c.get("linux") == null ? Map.of() : object(c.get("linux"), "linux"), uid);
            List<Object> mounts = c.get("mounts") == null ? List.of() : array(c.get("mounts"), "mounts");
            for (int i = 0; i < mounts.size(); i++) {
                mount(object(mounts.get(i), "mounts[" + i + "]"), "mounts[" + i + "]");
            }
            if (!runtimeHooks && !tuning.isEmpty()) {
                Knob k = tuning.keySet().iterator().next();
                throw refuse(k.field(), "a sandbox's cgroup has no such setting (Limits); crabcan-oci create "
                        + "writes it into the container's cgroup");
            }
            b.limits(limits.build());
            return b.build();
        }

        private void hooks(Map<String, Object> all) {
            known(all, "hooks.", RUNTIME_HOOKS.toArray(String[]::new));
            for (Map.Entry<String, Object> e : all.entrySet()) {
                String kind = e.getKey();
                List<Object> list = e.getValue() == null ? List.of() : array(e.getValue(), "hooks." + kind);
                if (list.isEmpty() || !RUNTIME_HOOKS.contains(kind)) {
                    continue;
                }
                if (!runtimeHooks) {
                    throw refuse("hooks." + kind, "a sandbox runs no host programs on its own; crabcan-oci runs "
                            + String.join(", ", RUNTIME_HOOKS) + " hooks");
                }
                List<Hook> out = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    String f = "hooks." + kind + "[" + i + "]";
                    Map<String, Object> h = object(list.get(i), f);
                    known(h, f + ".", "path", "args", "env", "timeout");
                    String path = string(required(h, "path", f + "."), f + ".path");
                    if (!path.startsWith("/")) {
                        throw invalid(f + ".path", "must be absolute, got " + path);
                    }
                    List<String> args = h.get("args") == null ? List.of() : strings(h.get("args"), f + ".args");
                    List<String> env = h.get("env") == null ? List.of() : strings(h.get("env"), f + ".env");
                    java.util.OptionalInt timeout = h.get("timeout") == null ? java.util.OptionalInt.empty()
                            : java.util.OptionalInt.of((int) integer(h.get("timeout"), f + ".timeout", 1,
                                    Integer.MAX_VALUE));
                    out.add(new Hook(path, args, env, timeout));
                }
                hooks.put(kind, List.copyOf(out));
            }
        }

        private void root(Map<String, Object> root) {
            known(root, "root.", "path", "readonly");
            String path = string(required(root, "path", "root."), "root.path");
            b.rootfs(bundle.resolve(path));
            b.rootfsWritable(!bool(root.getOrDefault("readonly", false), "root.readonly"));
        }

        /** Returns the uid, which the id mappings must agree with. */
        private int process(Map<String, Object> p) {
            known(p, "process.", "terminal", "consoleSize", "user", "args", "commandLine", "env", "cwd", "capabilities",
                    "rlimits", "noNewPrivileges", "apparmorProfile", "oomScoreAdj", "selinuxLabel", "ioPriority",
                    "scheduler", "execCPUAffinity");
            if (bool(p.getOrDefault("terminal", false), "process.terminal")) {
                if (!runtimeHooks) {
                    throw refuse("process.terminal", "its master goes to a console socket, which only an OCI "
                            + "runtime is given (crabcan-oci --console-socket; in Java, Sandbox.Builder.terminal)");
                }
                terminal = true;
            }
            if (p.get("consoleSize") != null) {
                Map<String, Object> size = object(p.get("consoleSize"), "process.consoleSize");
                known(size, "process.consoleSize.", "height", "width");
                rows = (int) integer(required(size, "height", "process.consoleSize."), "process.consoleSize.height", 0,
                        65535);
                columns = (int) integer(required(size, "width", "process.consoleSize."), "process.consoleSize.width", 0,
                        65535);
            }
            if (p.get("oomScoreAdj") != null) {
                b.oomScoreAdj((int) integer(p.get("oomScoreAdj"), "process.oomScoreAdj", -1000, 1000));
            }
            for (String f : List.of("commandLine", "ioPriority", "scheduler", "execCPUAffinity")) {
                if (p.get(f) != null) {
                    throw refuse("process." + f, "Crabcan does not set it");
                }
            }
            securityModule(p.get("apparmorProfile"), "process.apparmorProfile", "AppArmor");
            securityModule(p.get("selinuxLabel"), "process.selinuxLabel", "SELinux");
            Map<String, Object> user = object(required(p, "user", "process."), "process.user");
            known(user, "process.user.", "uid", "gid", "umask", "additionalGids", "username");
            int uid = (int) integer(required(user, "uid", "process.user."), "process.user.uid", 0, Integer.MAX_VALUE);
            long gid = integer(required(user, "gid", "process.user."), "process.user.gid", 0, Integer.MAX_VALUE);
            if (gid != uid) {
                throw refuse("process.user.gid " + gid, "Crabcan runs the command with a gid equal to its uid ("
                        + uid + "): the sandbox's user namespace maps one id");
            }
            b.uid(uid);
            if (user.get("umask") != null) {
                b.umask((int) integer(user.get("umask"), "process.user.umask", 0, 0777));
            }
            // containerd lists the primary gid here always (its fix for CVE-2023-25173): that group the
            // command has. Whether the caller may map the others is checked when the sandbox starts.
            if (user.get("additionalGids") != null) {
                List<Integer> groups = new ArrayList<>();
                List<Object> given = array(user.get("additionalGids"), "process.user.additionalGids");
                for (int i = 0; i < given.size(); i++) {
                    groups.add((int) integer(given.get(i), "process.user.additionalGids[" + i + "]", 0,
                            Integer.MAX_VALUE));
                }
                b.supplementaryGroups(groups);
            }
            if (user.get("username") != null) {
                throw refuse("process.user.username", "it is for Windows");
            }
            List<String> args = strings(required(p, "args", "process."), "process.args");
            b.command(args);
            Map<String, String> env = new LinkedHashMap<>();
            List<String> envList = p.get("env") == null ? List.of() : strings(p.get("env"), "process.env");
            for (int i = 0; i < envList.size(); i++) {
                String e = envList.get(i);
                int eq = e.indexOf('=');
                if (eq <= 0) {
                    throw invalid("process.env[" + i + "]", "\"" + e + "\" is not NAME=VALUE");
                }
                env.put(e.substring(0, eq), e.substring(eq + 1));
            }
            b.environment(env);
            b.workingDirectory(string(required(p, "cwd", "process."), "process.cwd"));
            // With a seccomp filter it is always set: the helper installs the filter after dropping
            // capabilities, and the kernel then requires it (see seccomp()).
            b.noNewPrivileges(bool(p.getOrDefault("noNewPrivileges", false), "process.noNewPrivileges"));
            capabilities(p.get("capabilities"));
            List<Object> rlimits = p.get("rlimits") == null ? List.of() : array(p.get("rlimits"), "process.rlimits");
            for (int i = 0; i < rlimits.size(); i++) {
                String f = "process.rlimits[" + i + "]";
                Map<String, Object> r = object(rlimits.get(i), f);
                known(r, f + ".", "type", "soft", "hard");
                String type = string(required(r, "type", f + "."), f + ".type");
                Rlimit rl = null;
                for (Rlimit candidate : Rlimit.values()) {
                    if (type.equals("RLIMIT_" + candidate.name())) {
                        rl = candidate;
                    }
                }
                if (rl == null) {
                    throw invalid(f + ".type", "unknown resource " + type + " (runtime-spec names the RLIMIT_* of "
                            + "getrlimit(2))");
                }
                long soft = rlimit(required(r, "soft", f + "."), f + ".soft");
                long hard = rlimit(required(r, "hard", f + "."), f + ".hard");
                if (soft > hard) {
                    throw invalid(f, "soft limit " + soft + " is above the hard limit " + hard);
                }
                limits.rlimit(rl, soft, hard);
            }
            return uid;
        }

        /** All five sets, as given; the builder refuses any beyond the bounding set or what the kernel refuses. */
        private void capabilities(Object value) {
            if (value == null) {
                b.capabilities(Set.of());
                return;
            }
            Map<String, Object> caps = object(value, "process.capabilities");
            known(caps, "process.capabilities.", "bounding", "effective", "permitted", "inheritable", "ambient");
            b.capabilities(capSet(caps.get("bounding"), "bounding"));
            b.effectiveCapabilities(capSet(caps.get("effective"), "effective"));
            b.permittedCapabilities(capSet(caps.get("permitted"), "permitted"));
            Set<Capability> inheritable = capSet(caps.get("inheritable"), "inheritable");
            b.inheritableCapabilities(inheritable);
            // The kernel raises an ambient capability only if it is permitted and inheritable; runc
            // and crun skip the others without a word (runc spec lists ambient capabilities with no
            // inheritable set), and so does Crabcan, since no runtime could raise them.
            Set<Capability> ambient = capSet(caps.get("ambient"), "ambient");
            Set<Capability> raisable = EnumSet.noneOf(Capability.class);
            raisable.addAll(ambient);
            raisable.retainAll(inheritable);
            raisable.retainAll(capSet(caps.get("permitted"), "permitted"));
            if (!raisable.equals(ambient)) {
                LOG.debug("process.capabilities.ambient: {} not raised, since the kernel raises only ambient "
                        + "capabilities that are permitted and inheritable", capNames(ambient.stream()
                        .filter(c -> !raisable.contains(c)).collect(java.util.stream.Collectors.toSet())));
            }
            b.ambientCapabilities(raisable);
        }

        private Set<Capability> capSet(Object value, String set) {
            Set<Capability> out = EnumSet.noneOf(Capability.class);
            if (value == null) {
                return out;
            }
            for (String name : strings(value, "process.capabilities." + set)) {
                try {
                    out.add(Capability.byName(name));
                } catch (SandboxSpecException e) {
                    throw refuse("process.capabilities." + set + " " + name, "Crabcan does not know this capability");
                }
            }
            return out;
        }

        private void mount(Map<String, Object> m, String f) {
            known(m, f + ".", "destination", "type", "source", "options", "uidMappings", "gidMappings");
            String dst = string(required(m, "destination", f + "."), f + ".destination");
            String type = m.get("type") == null ? "" : string(m.get("type"), f + ".type");
            String source = m.get("source") == null ? "" : string(m.get("source"), f + ".source");
            List<String> options = m.get("options") == null ? List.of() : strings(m.get("options"), f + ".options");
            String where = f + " (" + (type.isEmpty() ? "bind" : type) + " at " + dst + ")";
            if (m.get("uidMappings") != null || m.get("gidMappings") != null) {
                throw refuse(where + ".uidMappings", "Crabcan idmaps mounts itself");
            }
            boolean bind = type.equals("bind") || options.contains("bind") || options.contains("rbind");
            boolean ro = false;
            boolean noexec = false;
            long size = 0;
            int mode = -1;
            Atime.Mode atime = Atime.Mode.DEFAULT;
            boolean noDirAtime = false;
            Propagation propagation = Propagation.PRIVATE;
            for (String o : options) {
                // Crabcan's binds are recursive, so each option holds for everything below the bind,
                // as the recursive ("r") forms ask.
                String flat = bind && RECURSIVE_FORMS.contains(o) ? o.substring(1) : o;
                if (ATIME_OPTIONS.contains(flat)) {
                    // As mount(8): the last one said wins; "atime", "norelatime" and "nostrictatime"
                    // undo a mode, which leaves the kernel's (relatime) or the bind source's.
                    switch (flat) {
                        case "relatime" -> atime = Atime.Mode.RELATIME;
                        case "noatime" -> atime = Atime.Mode.NOATIME;
                        case "strictatime" -> atime = Atime.Mode.STRICTATIME;
                        case "nodiratime" -> noDirAtime = true;
                        case "diratime" -> noDirAtime = false;
                        default -> atime = Atime.Mode.DEFAULT;
                    }
                } else if (PROPAGATION.containsKey(o)) {
                    propagation = PROPAGATION.get(o);
                } else if (SAME_RESULT.contains(flat) || (bind && (o.equals("bind") || o.equals("rbind")))) {
                    continue;
                } else if (flat.equals("ro")) {
                    ro = true;
                } else if (flat.equals("noexec")) {
                    noexec = true;
                } else if (type.equals("tmpfs") && o.startsWith("size=")) {
                    size = parseSize(o.substring(5), where);
                } else if (type.equals("tmpfs") && o.startsWith("mode=")) {
                    mode = parseOctal(o.substring(5), where);
                } else if (type.equals("devpts") && (o.equals("newinstance") || o.equals("ptmxmode=0666")
                        || o.equals("mode=0620") || o.equals("mode=620"))) {
                    continue;
                } else if (type.equals("devpts") && o.matches("gid=\\d+")) {
                    // The sandbox's user namespace maps one group, its own: new terminals belong to it,
                    // as under runc and podman when the tty group (5) is not mapped, which drop it too.
                    LOG.debug("{} option \"{}\": left out, the sandbox has only its own group", where, o);
                    continue;
                } else if (flat.equals("suid") || flat.equals("dev")) {
                    throw refuse(where + " option \"" + o + "\"", "a sandbox's mounts are always nosuid and nodev: "
                            + "no setuid file or device node of a mount gives privilege inside");
                } else {
                    throw refuse(where + " option \"" + o + "\"", "Crabcan's mounts are always private, nosuid "
                            + "and nodev and take ro, rw, noexec, exec, the atime options and propagation private"
                            + (type.equals("tmpfs") ? ", size= and mode=" : ""));
                }
            }
            Atime times = new Atime(atime, noDirAtime);
            if (bind) {
                b.bind(new Bind(resolveSource(source), dst, ro, noexec, times));
                b.propagation(dst, propagation);
                return;
            }
            if (propagation != Propagation.PRIVATE && (type.equals("proc") || dst.equals("/dev"))) {
                throw refuse(where + " propagation " + propagation.name().toLowerCase(java.util.Locale.ROOT),
                        "Crabcan makes " + dst + " itself, private");
            }
            switch (type) {
                case "proc" -> {
                    if (!dst.equals("/proc")) {
                        throw refuse(where, "Crabcan mounts proc only at /proc");
                    }
                }
                case "tmpfs" -> {
                    if (dst.equals("/dev")) {
                        // Crabcan's own /dev: a tmpfs with null, zero, full, random, urandom, tty and shm.
                        return;
                    }
                    b.tmpfs(new Tmpfs(dst, size, mode < 0 ? Tmpfs.DEFAULT_MODE : mode, ro, noexec, times));
                }
                case "sysfs" -> b.kernelMount(new KernelMount(KernelMount.Type.SYSFS, dst, ro, times));
                case "devpts" -> b.kernelMount(new KernelMount(KernelMount.Type.DEVPTS, dst, ro, times));
                case "mqueue" -> b.kernelMount(new KernelMount(KernelMount.Type.MQUEUE, dst, ro, times));
                // On a host with cgroup v1 hierarchies too, the sandbox sees the unified one only.
                case "cgroup", "cgroup2" -> b.kernelMount(new KernelMount(KernelMount.Type.CGROUP, dst, ro, times));
                default -> throw refuse(where, "Crabcan mounts binds, tmpfs, proc, sysfs, devpts, mqueue and cgroup");
            }
            if (!type.equals("proc")) {
                b.propagation(dst, propagation);
            }
        }

        private Path resolveSource(String source) {
            return bundle.resolve(source);
        }

        private void linux(Map<String, Object> l, int uid) {
            known(l, "linux.", "namespaces", "uidMappings", "gidMappings", "sysctl", "resources", "cgroupsPath",
                    "seccomp", "maskedPaths", "readonlyPaths", "devices", "rootfsPropagation", "mountLabel", "intelRdt",
                    "personality", "timeOffsets");
            namespaces(l.get("namespaces"));
            HostInfo host = HostInfo.get();
            mappings(l.get("uidMappings"), "linux.uidMappings", uid, host.leasesHostIds() ? -1 : host.euid());
            mappings(l.get("gidMappings"), "linux.gidMappings", uid, host.leasesHostIds() ? -1 : host.egid());
            if (l.get("sysctl") != null) {
                object(l.get("sysctl"), "linux.sysctl").forEach((name, value) -> {
                    String field = "linux.sysctl[\"" + name + "\"]";
                    try {
                        b.sysctl(name, string(value, field));
                    } catch (SandboxSpecException e) {
                        throw refuse(field, e.getMessage());
                    }
                });
            }
            List<String> devices = l.get("devices") == null ? List.of() : devices(array(l.get("devices"),
                    "linux.devices"));
            if (l.get("resources") != null) {
                resources(object(l.get("resources"), "linux.resources"), devices);
            }
            // cgroupsPath: where the engine wants the container's cgroup, which crabcan-oci makes there.
            if (l.get("cgroupsPath") != null) {
                cgroupsPath = string(l.get("cgroupsPath"), "linux.cgroupsPath");
            }
            seccomp(l.get("seccomp"));
            if (l.get("maskedPaths") != null) {
                b.maskPaths(strings(l.get("maskedPaths"), "linux.maskedPaths").stream()
                        .filter(p -> !PlanCompiler.PROC_MASKED.contains(p)).toArray(String[]::new));
            }
            if (l.get("readonlyPaths") != null) {
                b.readOnlyPaths(strings(l.get("readonlyPaths"), "linux.readonlyPaths").stream()
                        .filter(p -> !PlanCompiler.PROC_READ_ONLY.contains(p) && !PlanCompiler.PROC_MASKED.contains(p))
                        .toArray(String[]::new));
            }
            if (l.get("rootfsPropagation") != null) {
                String p = string(l.get("rootfsPropagation"), "linux.rootfsPropagation");
                if (!p.isEmpty() && !PROPAGATION.containsKey(p)) {
                    throw invalid("linux.rootfsPropagation", "\"" + p + "\" is none of private, slave, shared and "
                            + "unbindable (nor their r forms)");
                }
                if (!p.isEmpty()) {
                    b.propagation("/", PROPAGATION.get(p));
                }
            }
            securityModule(l.get("mountLabel"), "linux.mountLabel", "SELinux");
            if (l.get("personality") != null) {
                Map<String, Object> p = object(l.get("personality"), "linux.personality");
                known(p, "linux.personality.", "domain", "flags");
                String domain = string(required(p, "domain", "linux.personality."), "linux.personality.domain");
                List<String> flags = p.get("flags") == null ? List.of() : strings(p.get("flags"),
                        "linux.personality.flags");
                // LINUX without flags is what every process has; LINUX32 would only matter to i386
                // programs, whose system calls every Crabcan filter kills.
                if (!domain.equals("LINUX") || !flags.isEmpty()) {
                    throw refuse("linux.personality " + domain + " " + flags, "Crabcan runs x86-64 programs with "
                            + "the LINUX personality and no flags, and kills i386 system calls");
                }
            }
            for (String f : List.of("intelRdt", "timeOffsets")) {
                if (l.get(f) != null) {
                    throw refuse("linux." + f, "Crabcan does not set it");
                }
            }
        }

        /**
         * Device nodes: those every sandbox has are there already; any other is the host's node at
         * the same path, bound in (as runc does in a user namespace, where mknod is refused), once it
         * is checked to be the device the config names. Returns them, for the device rules.
         */
        private List<String> devices(List<Object> devices) {
            List<String> given = new ArrayList<>();
            for (int i = 0; i < devices.size(); i++) {
                String f = "linux.devices[" + i + "]";
                Map<String, Object> d = object(devices.get(i), f);
                known(d, f + ".", "type", "path", "major", "minor", "fileMode", "uid", "gid");
                String path = string(required(d, "path", f + "."), f + ".path");
                String type = string(required(d, "type", f + "."), f + ".type");
                if (!path.startsWith("/")) {
                    throw invalid(f + ".path", "must be absolute, got " + path);
                }
                if (type.equals("p")) {
                    throw refuse(f + " (" + path + ")", "Crabcan binds device nodes from the host; make a FIFO in "
                            + "the root filesystem or a tmpfs instead");
                }
                if (!type.matches("[cub]")) {
                    throw invalid(f + ".type", "must be c, u, b or p, got " + type);
                }
                long major = integer(required(d, "major", f + "."), f + ".major", 0, 0xfff);
                long minor = integer(required(d, "minor", f + "."), f + ".minor", 0, 0xfffff);
                String number = (type.equals("b") ? "b " : "c ") + major + ":" + minor;
                given.add(number);
                if (number.equals(OWN_DEVICES.get(path))) {
                    continue;
                }
                Path node = Path.of(path);
                int mode;
                long rdev;
                try {
                    mode = (Integer) Files.getAttribute(node, "unix:mode");
                    rdev = (Long) Files.getAttribute(node, "unix:rdev");
                } catch (IOException | UnsupportedOperationException e) {
                    throw refuse(f + " (" + path + " " + number + ")", "a sandbox's user namespace cannot make device "
                            + "nodes, so Crabcan binds the host's node at the same path, and " + path + " cannot be "
                            + "read here: " + e.getMessage());
                }
                // The kernel's dev_t: minor bits 0-7 and 20-31, major bits 8-19 and 32-43.
                long hostMajor = ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL);
                long hostMinor = (rdev & 0xff) | ((rdev >>> 12) & ~0xffL);
                String host = ((mode & 0170000) == 0060000 ? "b " : (mode & 0170000) == 0020000 ? "c " : "not a device ")
                        + hostMajor + ":" + hostMinor;
                if (!host.equals(number)) {
                    throw refuse(f + " (" + path + " " + number + ")", "a sandbox's user namespace cannot make device "
                            + "nodes, so Crabcan binds the host's node at the same path, and the host's " + path
                            + " is " + host);
                }
                if (d.get("fileMode") != null && (integer(d.get("fileMode"), f + ".fileMode", 0, 07777) & 07777)
                        != (mode & 07777)) {
                    throw refuse(f + ".fileMode", "the host's node is bound as it is, mode "
                            + Integer.toOctalString(mode & 07777) + "; leave fileMode out or give the host's");
                }
                // uid and gid: the bound node keeps its host owner, which shows as the sandbox's own id
                // or as nobody; its mode decides what the sandbox may do, and a node it could not
                // open at all (a root caller's sandbox runs as a host id of its own) is an error.
                boolean usable = HostInfo.get().leasesHostIds() ? (mode & 06) != 0
                        : Files.isReadable(node) || Files.isWritable(node);
                if (!usable) {
                    throw refuse(f + " (" + path + " " + number + ")", "the host's node is bound as it is, and its "
                            + "mode " + Integer.toOctalString(mode & 07777) + " gives the sandbox's host ids (" + (
                            HostInfo.get().leasesHostIds() ? "an id of its own, not root" : "the caller's")
                            + ") neither read nor write; give the node a mode that lets them (e.g. 0666, as Debian "
                            + "gives /dev/net/tun) or leave it out");
                }
                b.device(node, path);
            }
            return given;
        }

        private void namespaces(Object value) {
            Set<String> seen = new LinkedHashSet<>();
            Path joined = null;
            List<Object> list = value == null ? List.of() : array(value, "linux.namespaces");
            for (int i = 0; i < list.size(); i++) {
                String f = "linux.namespaces[" + i + "]";
                Map<String, Object> ns = object(list.get(i), f);
                known(ns, f + ".", "type", "path");
                String type = string(required(ns, "type", f + "."), f + ".type");
                if (!REQUIRED_NAMESPACES.contains(type) && !ALWAYS_NAMESPACES.contains(type) && !type.equals("network")) {
                    throw refuse(f + " (" + type + ")", "Crabcan creates pid, network, ipc, uts, mount, user and "
                            + "cgroup namespaces only");
                }
                if (ns.get("path") != null && !string(ns.get("path"), f + ".path").isEmpty()) {
                    String path = string(ns.get("path"), f + ".path");
                    if (!JOINABLE_NAMESPACES.contains(type)) {
                        throw refuse(f + ".path", "a sandbox always gets its own " + type + " namespace; it joins "
                                + "network, IPC and UTS namespaces only, as a pod's containers do");
                    }
                    if (!path.startsWith("/")) {
                        throw invalid(f + ".path", "must be absolute, got " + path);
                    }
                    switch (type) {
                        case "network" -> joined = Path.of(path);
                        case "ipc" -> b.ipcNamespace(Path.of(path));
                        default -> b.utsNamespace(Path.of(path));
                    }
                }
                seen.add(type);
            }
            // The spec's way to share the host's network: no network namespace in the list.
            b.network(joined != null ? Network.namespace(joined) : seen.contains("network") ? Network.none()
                    : Network.host());
            for (String required : REQUIRED_NAMESPACES) {
                if (!seen.contains(required)) {
                    throw refuse("linux.namespaces without " + required, "a sandbox never shares the host's "
                            + required + " namespace");
                }
            }
        }

        /**
         * Only a map of the process's own id to the host id Crabcan uses anyway is accepted: the
         * caller's (hostId), or for a root caller (hostId -1) any id but root's, since each of its
         * sandboxes runs as a host id allocated when it starts.
         */
        private static void mappings(Object value, String f, int id, long hostId) {
            if (value == null) {
                return;
            }
            List<Object> list = array(value, f);
            for (int i = 0; i < list.size(); i++) {
                Map<String, Object> m = object(list.get(i), f + "[" + i + "]");
                known(m, f + "[" + i + "].", "containerID", "hostID", "size");
                long c = integer(required(m, "containerID", f), f + ".containerID", 0, 0xffffffffL);
                long h = integer(required(m, "hostID", f), f + ".hostID", 0, 0xffffffffL);
                long size = integer(required(m, "size", f), f + ".size", 0, 0xffffffffL);
                boolean root = hostId == -1;
                if (list.size() != 1 || c != id || size != 1 || (root ? h == 0 : h != hostId)) {
                    throw refuse(f, "a sandbox's user namespace maps just the process's id " + id + " to " + (root
                            ? "a host id of its own, allocated when it starts (a root caller's sandbox never runs as "
                            + "host root); leave the mappings out or give exactly one of size 1 for containerID " + id
                            : "host id " + hostId + " (the caller); leave the mappings out or give exactly {\"containerID\": "
                            + id + ", \"hostID\": " + hostId + ", \"size\": 1}"));
                }
            }
        }

        /**
         * Refuses the fields runtime-spec defines that Crabcan does not carry out, when they say
         * something: an empty list, object or string, false, or 0 are what engines write when
         * they mean nothing (containerd's CRI writes "hugepageLimits": []).
         */
        private static void unsupported(Map<String, Object> m, String prefix, String... fields) {
            for (String f : fields) {
                Object v = m.get(f);
                boolean empty = v == null || v instanceof List<?> l && l.isEmpty() || v instanceof Map<?, ?> o
                        && o.isEmpty() || "".equals(v) || Boolean.FALSE.equals(v) || Long.valueOf(0).equals(v);
                if (!empty) {
                    throw refuse(prefix + f, "of linux.resources Crabcan carries out memory, pids, cpu and the "
                            + "blockIO weight only");
                }
            }
        }

        /**
         * A label of a Linux security module: ignored where the host runs no such module (there is
         * nothing it could mean), refused where it does, since Crabcan does not apply labels and the
         * command would run less confined than the engine asked.
         */
        private static void securityModule(Object value, String field, String module) {
            if (value == null || string(value, field).isEmpty()) {
                return;
            }
            if (HostInfo.get().securityModules().contains(module.toLowerCase(java.util.Locale.ROOT))) {
                throw refuse(field, "this host runs " + module + ", and Crabcan does not apply its labels: the "
                        + "command would run less confined than asked; leave the field out (podman: --security-opt "
                        + "label=disable or apparmor=unconfined)");
            }
            LOG.debug("{} \"{}\": ignored, this host runs no {}", field, value, module);
        }

        /**
         * Device cgroup rules say which nodes may be used, not which exist. A sandbox has only its
         * own six nodes (which runtimes always allow, whatever the rules) and those linux.devices
         * binds in; every other mount is nodev and a user namespace cannot make nodes. So the rules
         * matter only for the bound ones: Crabcan does not enforce rules itself (no devices cgroup
         * here on cgroup v2, where it is a BPF program), and refuses a config whose rules deny read
         * or write of a device it also gives, which the engine meant to be unusable.
         */
        private void deviceRules(List<Object> rules, List<String> given) {
            // Per device and access ("c 10:229 r"): the rule that denies it last, or "" if allowed.
            Map<String, String> denied = new LinkedHashMap<>();
            given.forEach(dev -> List.of(" r", " w").forEach(a -> denied.put(dev + a, "")));
            for (int i = 0; i < rules.size(); i++) {
                String f = "linux.resources.devices[" + i + "]";
                Map<String, Object> d = object(rules.get(i), f);
                known(d, f + ".", "allow", "type", "major", "minor", "access");
                boolean allow = bool(required(d, "allow", f + "."), f + ".allow");
                String type = d.get("type") == null ? "a" : string(d.get("type"), f + ".type");
                if (!type.matches("[abc]")) {
                    throw invalid(f + ".type", "must be a, b or c, got " + type);
                }
                String access = d.get("access") == null ? "rwm" : string(d.get("access"), f + ".access");
                if (!access.matches("[rwm]*")) {
                    throw invalid(f + ".access", "must be letters of rwm, got " + access);
                }
                long major = d.get("major") == null ? -1 : integer(d.get("major"), f + ".major", -1, 0xfff);
                long minor = d.get("minor") == null ? -1 : integer(d.get("minor"), f + ".minor", -1, 0xfffff);
                for (String dev : given) {
                    String[] parts = dev.split("[ :]");
                    boolean matches = (type.equals("a") || type.equals(parts[0]))
                            && (major < 0 || major == Long.parseLong(parts[1]))
                            && (minor < 0 || minor == Long.parseLong(parts[2]));
                    for (String a : List.of("r", "w")) {
                        if (matches && access.contains(a)) {
                            denied.put(dev + " " + a, allow ? "" : f);
                        }
                    }
                }
            }
            denied.forEach((devAccess, rule) -> {
                String dev = devAccess.substring(0, devAccess.length() - 2);
                if (!rule.isEmpty() && !OWN_DEVICES.containsValue(dev)) {
                    throw refuse(rule, "it denies " + (devAccess.endsWith("r") ? "reading" : "writing") + " device "
                            + dev + ", which linux.devices gives the container; "
                            + "Crabcan enforces no device rules (a sandbox has only the nodes it is given), so leave "
                            + "the device out or allow it");
                }
            });
        }

        private void resources(Map<String, Object> r, List<String> devices) {
            known(r, "linux.resources.", "devices", "memory", "pids", "cpu", "blockIO", "hugepageLimits", "network",
                    "rdma", "unified");
            if (r.get("devices") != null) {
                deviceRules(array(r.get("devices"), "linux.resources.devices"), devices);
            }
            if (r.get("memory") != null) {
                Map<String, Object> m = object(r.get("memory"), "linux.resources.memory");
                known(m, "linux.resources.memory.", "limit", "swap", "reservation", "kernel", "kernelTCP",
                        "swappiness", "disableOOMKiller", "useHierarchy", "checkBeforeUpdate");
                tune(m, Knob.MEMORY_RESERVATION, -1, Long.MAX_VALUE, false);
                tune(m, Knob.MEMORY_KERNEL, -1, Long.MAX_VALUE, false);
                tune(m, Knob.MEMORY_KERNEL_TCP, -1, Long.MAX_VALUE, false);
                tune(m, Knob.MEMORY_SWAPPINESS, 0, 100, true);
                if (m.get("disableOOMKiller") != null && bool(m.get("disableOOMKiller"),
                        Knob.MEMORY_DISABLE_OOM_KILLER.field())) {
                    tuning.put(Knob.MEMORY_DISABLE_OOM_KILLER, 1L);
                }
                long limit = m.get("limit") == null ? -1 : integer(m.get("limit"), "linux.resources.memory.limit",
                        -1, Long.MAX_VALUE);
                if (limit > 0) {
                    limits.memory(limit);
                    long swap = m.get("swap") == null ? -1 : integer(m.get("swap"), "linux.resources.memory.swap", -1,
                            Long.MAX_VALUE);
                    if (swap >= 0) {
                        if (swap < limit) {
                            throw invalid("linux.resources.memory.swap", "it counts memory plus swap, so it must be at "
                                    + "least the limit " + limit);
                        }
                        limits.swap(swap - limit);
                    }
                } else if (m.get("swap") != null && integer(m.get("swap"), "linux.resources.memory.swap", -1,
                        Long.MAX_VALUE) >= 0) {
                    throw refuse("linux.resources.memory.swap", "a swap limit needs a memory limit");
                }
            }
            if (r.get("pids") != null) {
                Map<String, Object> p = object(r.get("pids"), "linux.resources.pids");
                known(p, "linux.resources.pids.", "limit");
                long max = integer(required(p, "limit", "linux.resources.pids."), "linux.resources.pids.limit", -1,
                        Integer.MAX_VALUE);
                if (max > 0) {
                    limits.pids((int) max);
                }
            }
            if (r.get("cpu") != null) {
                Map<String, Object> cpu = object(r.get("cpu"), "linux.resources.cpu");
                known(cpu, "linux.resources.cpu.", "shares", "quota", "period", "burst", "realtimeRuntime",
                        "realtimePeriod", "cpus", "mems", "idle");
                tune(cpu, Knob.CPU_BURST, 0, Long.MAX_VALUE, update);
                tune(cpu, Knob.CPU_IDLE, 0, 1, update);
                tune(cpu, Knob.CPU_REALTIME_PERIOD, 0, Long.MAX_VALUE, false);
                tune(cpu, Knob.CPU_REALTIME_RUNTIME, -1, Long.MAX_VALUE, false);
                for (String f : List.of("cpus", "mems")) {
                    String list = cpu.get(f) == null ? "" : string(cpu.get(f), "linux.resources.cpu." + f);
                    try {
                        if (!list.isEmpty() && f.equals("cpus")) {
                            limits.cpusetCpus(list);
                        } else if (!list.isEmpty()) {
                            limits.cpusetMems(list);
                        }
                    } catch (SandboxSpecException e) {
                        throw invalid("linux.resources.cpu." + f, e.getMessage());
                    }
                }
                if (cpu.get("shares") != null) {
                    long shares = integer(cpu.get("shares"), "linux.resources.cpu.shares", 2, 262144);
                    limits.cpuWeight((int) (1 + (shares - 2) * 9999 / 262142));
                }
                long quota = cpu.get("quota") == null ? -1 : integer(cpu.get("quota"), "linux.resources.cpu.quota", -1,
                        Long.MAX_VALUE);
                long period = cpu.get("period") == null ? 100_000 : integer(cpu.get("period"),
                        "linux.resources.cpu.period", 1000, 1_000_000);
                if (quota > 0) {
                    limits.cpus((double) quota / period);
                }
            }
            if (r.get("blockIO") != null) {
                Map<String, Object> io = object(r.get("blockIO"), "linux.resources.blockIO");
                known(io, "linux.resources.blockIO.", "weight", "leafWeight", "weightDevice",
                        "throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice",
                        "throttleWriteIOPSDevice");
                unsupported(io, "linux.resources.blockIO.", "leafWeight", "weightDevice", "throttleReadBpsDevice",
                        "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice");
                if (io.get("weight") != null) {
                    limits.ioWeight((int) integer(io.get("weight"), "linux.resources.blockIO.weight", 10, 1000) * 10);
                }
            }
            unsupported(r, "linux.resources.", "hugepageLimits", "network", "rdma", "unified");
        }

        /**
         * A field the runtime writes into the container's cgroup, from min to max; a 0 is left out
         * (the new cgroup's default, or "unset" as runc reads it) unless zeroSays.
         */
        private void tune(Map<String, Object> m, Knob k, long min, long max, boolean zeroSays) {
            Object v = m.get(k.field().substring(k.field().lastIndexOf('.') + 1));
            if (v != null) {
                long value = integer(v, k.field(), min, max);
                if (value != 0 || zeroSays) {
                    tuning.put(k, value);
                }
            }
        }

        private void seccomp(Object value) {
            if (value == null) {
                b.seccomp(SeccompPolicy.none());
                // A root caller's sandbox still gets the rules against setuid files (see Sandbox).
                if (HostInfo.get().isRoot()) {
                    b.noNewPrivileges(true);
                }
                return;
            }
            b.seccomp(seccompPolicy(object(value, "linux.seccomp"), "linux.seccomp."));
            b.noNewPrivileges(true);
        }

        private static SeccompAction action(String name, Integer errno, String f) {
            return switch (name) {
                case "SCMP_ACT_ALLOW" -> SeccompAction.allow();
                case "SCMP_ACT_ERRNO" -> SeccompAction.errno(errno == null ? 1 : errno);
                case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD" -> SeccompAction.killThread();
                case "SCMP_ACT_KILL_PROCESS" -> SeccompAction.killProcess();
                case "SCMP_ACT_TRAP" -> SeccompAction.trap();
                case "SCMP_ACT_LOG" -> SeccompAction.log();
                default -> throw refuse(f + " " + name, "Crabcan's filters allow, fail with an errno, kill, trap or "
                        + "log (no tracer or notification agent)");
            };
        }

        private static ArgCondition argument(Map<String, Object> a, String f) {
            known(a, f + ".", "index", "value", "valueTwo", "op");
            int index = (int) integer(required(a, "index", f + "."), f + ".index", 0, 5);
            long value = unsigned(required(a, "value", f + "."), f + ".value");
            long two = a.get("valueTwo") == null ? 0 : unsigned(a.get("valueTwo"), f + ".valueTwo");
            ArgCondition.Arg arg = ArgCondition.arg(index);
            String op = string(required(a, "op", f + "."), f + ".op");
            return switch (op) {
                case "SCMP_CMP_EQ" -> arg.eq(value);
                case "SCMP_CMP_NE" -> arg.ne(value);
                case "SCMP_CMP_LT" -> arg.lt(value);
                case "SCMP_CMP_LE" -> arg.le(value);
                case "SCMP_CMP_GT" -> arg.gt(value);
                case "SCMP_CMP_GE" -> arg.ge(value);
                case "SCMP_CMP_MASKED_EQ" -> arg.maskedEq(value, two);
                default -> throw invalid(f + ".op", "unknown comparison " + op);
            };
        }
    }

    /**
     * The policy of a runtime-spec {@code linux.seccomp} object; messages name each field as
     * {@code prefix} + its path (e.g. {@code linux.seccomp.syscalls[2].action}).
     */
    private static SeccompPolicy seccompPolicy(Map<String, Object> s, String prefix) {
        known(s, prefix, "defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath",
                "listenerMetadata", "syscalls");
        for (String f : List.of("listenerPath", "listenerMetadata")) {
            if (s.get(f) != null) {
                throw refuse(prefix + f, "Crabcan has no seccomp notification agent");
            }
        }
        if (s.get("flags") != null && !array(s.get("flags"), prefix + "flags").isEmpty()) {
            throw refuse(prefix + "flags", "Crabcan installs its filters without flags");
        }
        List<String> arches = s.get("architectures") == null ? List.of()
                : strings(s.get("architectures"), prefix + "architectures");
        if (!arches.isEmpty() && !arches.contains("SCMP_ARCH_X86_64")) {
            throw refuse(prefix + "architectures " + arches, "Crabcan runs x86-64 sandboxes");
        }
        // Other ABIs listed (x86, x32) stay killed: Crabcan's filters always refuse them.
        Integer defaultErrno = s.get("defaultErrnoRet") == null ? null
                : (int) integer(s.get("defaultErrnoRet"), prefix + "defaultErrnoRet", 1, 4095);
        SeccompPolicy.Builder policy = SeccompPolicy.builder(Reader.action(string(required(s, "defaultAction",
                prefix), prefix + "defaultAction"), defaultErrno, prefix + "defaultAction"));
        List<Object> rules = s.get("syscalls") == null ? List.of() : array(s.get("syscalls"), prefix + "syscalls");
        for (int i = 0; i < rules.size(); i++) {
            String f = prefix + "syscalls[" + i + "]";
            Map<String, Object> r = object(rules.get(i), f);
            known(r, f + ".", "names", "action", "errnoRet", "args", "comment", "includes", "excludes");
            for (String cond : List.of("includes", "excludes")) {
                if (r.get(cond) != null && !object(r.get(cond), f + "." + cond).isEmpty()) {
                    throw refuse(f + "." + cond, "conditional rules are for engines to resolve before they write "
                            + "config.json");
                }
            }
            Integer errno = r.get("errnoRet") == null ? null : (int) integer(r.get("errnoRet"), f + ".errnoRet",
                    1, 4095);
            SeccompAction action = Reader.action(string(required(r, "action", f + "."), f + ".action"), errno,
                    f + ".action");
            List<ArgCondition> conditions = new ArrayList<>();
            List<Object> args = r.get("args") == null ? List.of() : array(r.get("args"), f + ".args");
            for (int j = 0; j < args.size(); j++) {
                conditions.add(Reader.argument(object(args.get(j), f + ".args[" + j + "]"), f + ".args[" + j + "]"));
            }
            for (String name : strings(required(r, "names", f + "."), f + ".names")) {
                // Like libseccomp, a name that is no x86-64 system call (i386's _llseek, chown32) matches nothing.
                Syscall.byName(name).ifPresent(sc -> policy.rule(sc, action, conditions.toArray(ArgCondition[]::new)));
            }
        }
        return policy.build();
    }

    // ---- JSON access with the field's name in every message ----------------------------

    /**
     * Logs the properties runtime-spec 1.0 to 1.2 does not define here, which the spec requires
     * runtimes to ignore ("MUST NOT generate an error if they encounter an unknown property"):
     * newer engines add fields that older runtimes do not know.
     */
    private static void known(Map<String, Object> m, String prefix, String... fields) {
        Set<String> defined = Set.of(fields);
        for (String k : m.keySet()) {
            if (!defined.contains(k)) {
                LOG.debug("{}{}: ignored, runtime-spec 1.0 to 1.2 does not define it", prefix, k);
            }
        }
    }

    private static Object required(Map<String, Object> m, String key, String prefix) {
        Object v = m.get(key);
        if (v == null) {
            throw invalid(prefix + key, "is required");
        }
        return v;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object v, String f) {
        if (!(v instanceof Map)) {
            throw invalid(f, "must be an object");
        }
        return (Map<String, Object>) v;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> array(Object v, String f) {
        if (!(v instanceof List)) {
            throw invalid(f, "must be an array");
        }
        return (List<Object>) v;
    }

    private static String string(Object v, String f) {
        if (!(v instanceof String s)) {
            throw invalid(f, "must be a string");
        }
        return s;
    }

    private static List<String> strings(Object v, String f) {
        List<Object> a = array(v, f);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < a.size(); i++) {
            out.add(string(a.get(i), f + "[" + i + "]"));
        }
        return out;
    }

    private static boolean bool(Object v, String f) {
        if (!(v instanceof Boolean x)) {
            throw invalid(f, "must be true or false");
        }
        return x;
    }

    private static long integer(Object v, String f, long min, long max) {
        if (!(v instanceof Long x) || x < min || x > max) {
            throw invalid(f, "must be an integer from " + min + " to " + max + ", got " + v);
        }
        return x;
    }

    /** A uint64 such as an rlimit or a seccomp argument; 2^64-1 (RLIM_INFINITY) comes as a BigDecimal. */
    private static long unsigned(Object v, String f) {
        if (v instanceof Long x && x >= 0) {
            return x;
        }
        if (v instanceof BigDecimal d && d.signum() >= 0 && d.scale() <= 0
                && d.compareTo(new BigDecimal("18446744073709551615")) <= 0) {
            return d.toBigInteger().longValue();
        }
        throw invalid(f, "must be an integer from 0 to 2^64-1, got " + v);
    }

    /** An rlimit value: 2^64-1 (RLIM_INFINITY) is Rlimit.UNLIMITED; others from 2^63 on cannot be told from it. */
    private static long rlimit(Object v, String f) {
        long x = unsigned(v, f);
        if (x == -1L) {
            return Rlimit.UNLIMITED;
        }
        if (x < 0 || x == Rlimit.UNLIMITED) {
            throw invalid(f, "must be below 2^63-1 or exactly 2^64-1 (unlimited), got " + Long.toUnsignedString(x));
        }
        return x;
    }

    private static long parseSize(String s, String where) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)([kmgKMG]?)").matcher(s);
        if (!m.matches()) {
            throw invalid(where, "bad size \"" + s + "\"");
        }
        int shift = switch (m.group(2).toLowerCase(java.util.Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            default -> 0;
        };
        return Long.parseLong(m.group(1)) << shift;
    }

    private static int parseOctal(String s, String where) {
        try {
            return Integer.parseInt(s, 8);
        } catch (NumberFormatException e) {
            throw invalid(where, "bad mode \"" + s + "\"");
        }
    }

    private static List<String> capNames(Set<Capability> caps) {
        return caps.stream().map(c -> "CAP_" + c.name()).toList();
    }

    // ---- writing -------------------------------------------------------------------------

    /** The sandbox as config.json; refuses what OCI cannot say (a default root filesystem, time and output limits). */
    public static String write(Sandbox s) {
        if (s.rootfs().isEmpty()) {
            throw new SandboxSpecException("an OCI config needs a root filesystem: set rootfs(dir)");
        }
        Limits l = s.limits();
        if (l.cpuTime().isPresent() || l.wallTime().isPresent() || l.outputBytes().isPresent()) {
            throw new SandboxSpecException("an OCI config cannot say " + l + ": OCI has no CPU time, wall time or "
                    + "output limits (use the rlimit CPU for CPU seconds)");
        }
        HostInfo host = HostInfo.get();
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("ociVersion", OCI_VERSION);
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("terminal", false);
        Map<String, Object> user = new LinkedHashMap<>();
        user.put("uid", s.uid());
        user.put("gid", s.uid());
        s.umask().ifPresent(m -> user.put("umask", m));
        if (!s.supplementaryGroups().isEmpty()) {
            user.put("additionalGids", s.supplementaryGroups());
        }
        p.put("user", user);
        p.put("args", s.command());
        Map<String, String> env = new LinkedHashMap<>(s.environment());
        env.putIfAbsent("PATH", Sandbox.DEFAULT_PATH);
        p.put("env", env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
        p.put("cwd", s.workingDirectory());
        Map<String, Object> capabilities = new LinkedHashMap<>();
        capabilities.put("bounding", capNames(s.capabilities()));
        capabilities.put("effective", capNames(s.effectiveCapabilities()));
        capabilities.put("permitted", capNames(s.permittedCapabilities()));
        capabilities.put("inheritable", capNames(s.inheritableCapabilities()));
        capabilities.put("ambient", capNames(s.ambientCapabilities()));
        p.put("capabilities", capabilities);
        List<Object> rlimits = new ArrayList<>();
        l.rlimits().forEach((r, v) -> rlimits.add(ordered("type", "RLIMIT_" + r.name(), "soft", rlimitValue(v[0]),
                "hard", rlimitValue(v[1]))));
        if (!rlimits.isEmpty()) {
            p.put("rlimits", rlimits);
        }
        s.oomScoreAdj().ifPresent(adj -> p.put("oomScoreAdj", (long) adj));
        p.put("noNewPrivileges", s.noNewPrivileges());
        c.put("process", p);
        c.put("root", ordered("path", s.rootfs().get().toString(), "readonly", !s.rootfsWritable()));
        s.hostname().ifPresent(h -> c.put("hostname", h));
        s.domainname().ifPresent(d -> c.put("domainname", d));
        c.put("mounts", mounts(s));
        Map<String, Object> linux = new LinkedHashMap<>();
        List<Object> namespaces = new ArrayList<>();
        if (s.network().mode() == Network.Mode.PRIVATE) {
            throw new SandboxSpecException("a private network cannot be written as config.json: an OCI runtime "
                    + "leaves the interface to its caller (e.g. podman's netavark); use Network.none() or host()");
        }
        for (String ns : List.of("pid", "network", "ipc", "uts", "mount", "cgroup", "user")) {
            Optional<Path> path = switch (ns) {
                case "network" -> s.network().namespacePath();
                case "ipc" -> s.ipcNamespace();
                case "uts" -> s.utsNamespace();
                default -> Optional.empty();
            };
            if (path.isPresent()) {
                namespaces.add(ordered("type", ns, "path", path.get().toString()));
            } else if (!ns.equals("network") || s.network().mode() == Network.Mode.NONE) {
                namespaces.add(ordered("type", ns));
            }
        }
        linux.put("namespaces", namespaces);
        linux.put("uidMappings", List.of(ordered("containerID", s.uid(), "hostID", writtenHostId(host, host.euid()),
                "size", 1)));
        linux.put("gidMappings", List.of(ordered("containerID", s.uid(), "hostID", writtenHostId(host, host.egid()),
                "size", 1)));
        if (!s.sysctls().isEmpty()) {
            linux.put("sysctl", s.sysctls());
        }
        Map<String, Object> resources = resources(l);
        if (!resources.isEmpty()) {
            linux.put("resources", resources);
        }
        if (!s.seccomp().isNone()) {
            linux.put("seccomp", seccomp(s.seccomp()));
        }
        List<String> masked = new ArrayList<>(PlanCompiler.PROC_MASKED);
        masked.addAll(s.maskedPaths());
        List<String> readOnly = new ArrayList<>(PlanCompiler.PROC_READ_ONLY);
        readOnly.addAll(s.readOnlyPaths());
        linux.put("maskedPaths", masked);
        linux.put("readonlyPaths", readOnly);
        if (s.propagations().containsKey("/")) {
            linux.put("rootfsPropagation", s.propagations().get("/").name().toLowerCase(java.util.Locale.ROOT));
        }
        c.put("linux", linux);
        return Json.writePretty(c);
    }

    /** What Crabcan gives every sandbox (/proc, /dev, /dev/shm, /tmp), then the sandbox's own mounts. */
    private static List<Object> mounts(Sandbox s) {
        List<Object> out = new ArrayList<>();
        out.add(ordered("destination", "/proc", "type", "proc", "source", "proc", "options",
                List.of("nosuid", "noexec", "nodev")));
        out.add(ordered("destination", "/dev", "type", "tmpfs", "source", "tmpfs", "options",
                List.of("nosuid", "noexec", "mode=755")));
        Set<String> targets = new LinkedHashSet<>();
        s.binds().forEach(x -> targets.add(x.target()));
        s.tmpfs().forEach(x -> targets.add(x.target()));
        for (Bind b : s.binds()) {
            List<String> options = new ArrayList<>(List.of("rbind", "nosuid", "nodev"));
            if (b.readOnly()) {
                options.add("ro");
            }
            if (b.noExec()) {
                options.add("noexec");
            }
            options.addAll(atimeOptions(b.atime()));
            options.addAll(propagationOption(s, b.target()));
            out.add(ordered("destination", b.target(), "type", "bind", "source", b.source().toString(), "options",
                    options));
        }
        for (Tmpfs t : s.tmpfs()) {
            Map<String, Object> m = tmpfs(t);
            @SuppressWarnings("unchecked")
            List<String> options = (List<String>) m.get("options");
            options.addAll(propagationOption(s, t.target()));
            out.add(m);
        }
        for (String dir : List.of("/dev/shm", "/tmp")) {
            if (!targets.contains(dir)) {
                out.add(tmpfs(new Tmpfs(dir, 0)));
            }
        }
        for (KernelMount k : s.kernelMounts()) {
            String type = switch (k.type()) {
                case SYSFS -> "sysfs";
                case DEVPTS -> "devpts";
                case MQUEUE -> "mqueue";
                case CGROUP -> "cgroup";
            };
            List<String> options = new ArrayList<>(k.type() == KernelMount.Type.DEVPTS
                    ? List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")
                    : List.of("nosuid", "noexec", "nodev"));
            if (k.readOnly()) {
                options.add("ro");
            }
            options.addAll(atimeOptions(k.atime()));
            options.addAll(propagationOption(s, k.target()));
            out.add(ordered("destination", k.target(), "type", type, "source", type, "options", options));
        }
        return out;
    }

    /** The option that says a mount's propagation, for everything below it (none: private, every mount's). */
    private static List<String> propagationOption(Sandbox s, String target) {
        Propagation p = s.propagations().get(target);
        return p == null ? List.of() : List.of("r" + p.name().toLowerCase(java.util.Locale.ROOT));
    }

    private static Map<String, Object> tmpfs(Tmpfs t) {
        List<String> options = new ArrayList<>(List.of("nosuid", "nodev", "mode=" + Integer.toOctalString(t.mode())));
        if (t.sizeBytes() > 0) {
            options.add("size=" + t.sizeBytes());
        }
        if (t.readOnly()) {
            options.add("ro");
        }
        if (t.noExec()) {
            options.add("noexec");
        }
        options.addAll(atimeOptions(t.atime()));
        return ordered("destination", t.target(), "type", "tmpfs", "source", "tmpfs", "options", options);
    }

    private static List<String> atimeOptions(Atime a) {
        List<String> out = new ArrayList<>();
        if (a.mode() != Atime.Mode.DEFAULT) {
            out.add(a.mode().name().toLowerCase(java.util.Locale.ROOT));
        }
        if (a.noDirAtime()) {
            out.add("nodiratime");
        }
        return out;
    }

    private static Map<String, Object> resources(Limits l) {
        Map<String, Object> r = new LinkedHashMap<>();
        if (l.memoryBytes().isPresent()) {
            Map<String, Object> m = ordered("limit", l.memoryBytes().getAsLong());
            l.swapBytes().ifPresent(swap -> m.put("swap", l.memoryBytes().getAsLong() + swap));
            r.put("memory", m);
        }
        l.pids().ifPresent(p -> r.put("pids", ordered("limit", (long) p)));
        Map<String, Object> cpu = new LinkedHashMap<>();
        // Rounded up, so that reading it back (rounding down) gives the same weight.
        l.cpuWeight().ifPresent(w -> cpu.put("shares", 2 + Math.floorDiv(((long) w - 1) * 262142 + 9998, 9999)));
        l.cpus().ifPresent(x -> {
            cpu.put("quota", Math.round(x * 100_000));
            cpu.put("period", 100_000L);
        });
        l.cpusetCpus().ifPresent(c -> cpu.put("cpus", c));
        l.cpusetMems().ifPresent(m -> cpu.put("mems", m));
        if (!cpu.isEmpty()) {
            r.put("cpu", cpu);
        }
        l.ioWeight().ifPresent(w -> r.put("blockIO", ordered("weight", (long) Math.max(10, Math.min(1000, w / 10)))));
        return r;
    }

    private static Map<String, Object> seccomp(SeccompPolicy policy) {
        Map<String, Object> s = new LinkedHashMap<>();
        SeccompAction d = policy.defaultAction();
        s.put("defaultAction", actionName(d));
        if (actionName(d).equals("SCMP_ACT_ERRNO")) {
            s.put("defaultErrnoRet", (long) (d.returnValue() & 0xffff));
        }
        s.put("architectures", List.of("SCMP_ARCH_X86_64"));
        List<Object> rules = new ArrayList<>();
        for (SeccompPolicy.Rule r : policy.rules()) {
            Map<String, Object> rule = ordered("names", List.of(r.syscall().kernelName()), "action",
                    actionName(r.action()));
            if (actionName(r.action()).equals("SCMP_ACT_ERRNO")) {
                rule.put("errnoRet", (long) (r.action().returnValue() & 0xffff));
            }
            if (!r.conditions().isEmpty()) {
                List<Object> args = new ArrayList<>();
                for (ArgCondition a : r.conditions()) {
                    boolean masked = a.op() == ArgCondition.Op.MASKED_EQ;
                    Map<String, Object> arg = ordered("index", (long) a.index(), "value", uint64(masked ? a.mask()
                            : a.value()));
                    if (masked) {
                        arg.put("valueTwo", uint64(a.value()));
                    }
                    arg.put("op", "SCMP_CMP_" + a.op().name());
                    args.add(arg);
                }
                rule.put("args", args);
            }
            rules.add(rule);
        }
        s.put("syscalls", rules);
        return s;
    }

    private static String actionName(SeccompAction a) {
        String name = a.toString();
        return name.startsWith("ERRNO") ? "SCMP_ACT_ERRNO" : "SCMP_ACT_" + name;
    }

    private static Object rlimitValue(long v) {
        return v == Rlimit.UNLIMITED ? uint64(-1L) : v;
    }

    private static Object uint64(long v) {
        return v >= 0 ? (Object) v : new BigDecimal(Long.toUnsignedString(v));
    }

    private static Map<String, Object> ordered(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }
}
