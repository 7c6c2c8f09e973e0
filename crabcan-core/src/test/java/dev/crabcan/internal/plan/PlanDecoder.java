package dev.crabcan.internal.plan;

import static dev.crabcan.internal.plan.Contract.*;

import dev.crabcan.internal.launch.HelperRuntime;
import dev.crabcan.internal.launch.Report;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * Test-side reader of the helper's plan: it runs the built helper's {@code --check-plan}, which
 * parses the bytes with the helper's own {@code parse_plan} (in {@code
 * crabcan-native/src/main/c/plan.c}) and prints what it parsed, and reads that back. Where a
 * sandbox would report {@code FAIL plan ...}, this throws {@link BadPlanException} with the
 * helper's detail, so every test that decodes a plan checks it against the parser that carries it
 * out.
 */
final class PlanDecoder {
    /** What the helper reports as {@code FAIL plan <errno> <detail>}; the message is the detail. */
    static final class BadPlanException extends RuntimeException {
        BadPlanException(String message) {
            super(message);
        }
    }

    /**
     * The root filesystem, the layers of an overlay root (T_LAYER), top-most first, and a host
     * overlay's mount point, work directory and options (T_HOST_OVERLAY; empty: none).
     */
    record Root(int kind, int flags, String path, List<String> layers, List<String> hostOverlay) {
        Root(int kind, int flags, String path) {
            this(kind, flags, path, List.of());
        }

        Root(int kind, int flags, String path, List<String> layers) {
            this(kind, flags, path, layers, List.of());
        }

        boolean has(int flag) {
            return (flags & flag) == flag;
        }
    }

    record Mount(int kind, int flags, int mode, long size, String source, String target) {
        boolean has(int flag) {
            return (flags & flag) == flag;
        }

        @Override
        public String toString() {
            return "Mount[" + kindName(kind) + " " + source + " -> " + target + " flags=" + flagNames(flags)
                    + " mode=0" + Integer.toOctalString(mode) + " size=" + size + "]";
        }
    }

    record Rlimit(int resource, long soft, long hard) {}

    /** Where a sandbox fd comes from (T_STDIO; T_PIPE: a pipe to the JVM, path null), by fd. */
    record Stdio(int fd, int flags, int mode, String path) {}

    /** A file copied in (T_COPY_IN) or, with max set and mode and flags 0, out (T_COPY_OUT). */
    record Copy(int mode, int flags, long max, String path) {}

    /** The running sandbox an exec joins (T_JOIN). */
    record Join(long pid, long commandPid, long startTime, long commandStartTime) {}

    /** The terminal's console socket and size (T_CONSOLE). */
    record Console(int rows, int columns, String socket) {}

    /** The interface init configures (T_NET); addresses as big-endian ints. */
    record Net(int address, int netmask, int gateway, String ifname) {}

    /** That interface's IPv6 address, prefix length and default gateway (T_NET6). */
    record Net6(int prefix, String address, String gateway) {}

    /** The veth pair the helper makes: its host end (T_VETH). */
    record Veth(int flags, String name) {}

    /** The filter the helper loads into the sandbox's network namespace (T_NET_FILTER, T_NET_FILTER_HOSTS). */
    record Filter(String tool, String rules, String hostSets, boolean watchHosts) {}

    record Plan(int cloneFlags, int options, String uidMap, String gidMap, String idmapUidMap, String idmapGidMap,
            String idmapRootGidMap, String hostname, String staging, Root root, List<Mount> mounts, int uid, int gid, long capBounding,
            long capEffective, long capPermitted, long capInheritable, long capAmbient, byte[] seccomp,
            List<Rlimit> rlimits, List<String> cgroupProcs, List<Stdio> stdio, List<String> argv, List<String> env, String cwd,
            String searchPath, Net net, Net6 net6, Veth veth, List<String> refused, List<String> netHelper, Filter netFilter, String detach, Integer umask,
            Integer oomScoreAdj, Join join, Console console, List<Mount> cgroupfs, List<Integer> passedFds,
            List<Copy> copies, String sessionKeyring, String domainname, List<String> joinedNamespaces,
            List<String> joinedSysctls) {

        /** The mounts whose target is {@code target}, in plan order. */
        List<Mount> mountsAt(String target) {
            return mounts.stream().filter(m -> m.target().equals(target)).toList();
        }

        /** The one mount at {@code target}; fails unless there is exactly one. */
        Mount mountAt(String target) {
            List<Mount> at = mountsAt(target);
            if (at.size() != 1) {
                throw new AssertionError("expected exactly one mount at " + target + ", found " + at + " in " + mounts);
            }
            return at.get(0);
        }

        /** The plan index of the one mount at {@code target}. */
        int indexOf(String target) {
            return mounts.indexOf(mountAt(target));
        }

        /** The plan index of the one mount of this kind at {@code target}. */
        int indexOf(int kind, String target) {
            List<Mount> at = mountsAt(target).stream().filter(m -> m.kind() == kind).toList();
            if (at.size() != 1) {
                throw new AssertionError("expected exactly one " + kindName(kind) + " at " + target + " in " + mounts);
            }
            return mounts.indexOf(at.get(0));
        }
    }

    private PlanDecoder() {}

    /** The helper, copied out of crabcan-native's jar (or classes) once per test JVM. */
    private static final class Helper {
        static final Path PATH = extract();

        private static Path extract() {
            try (InputStream in = HelperRuntime.resource(HelperRuntime.RESOURCE)) {
                Path helper = Files.createTempFile("crabcan-check-plan", "");
                helper.toFile().deleteOnExit();
                Files.copy(in, helper, StandardCopyOption.REPLACE_EXISTING);
                if (!helper.toFile().setExecutable(true, true)) {
                    throw new IllegalStateException("cannot make " + helper + " executable");
                }
                return helper;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    static Plan decode(byte[] bytes) {
        List<Report> lines = checkPlan(bytes);
        if (!lines.isEmpty() && lines.get(0).kind().equals("FAIL")) {
            throw new BadPlanException(lines.get(0).field(2));
        }
        return new Dump(lines).plan();
    }

    /** The helper's lines for the plan; its exit status must agree with them. */
    private static List<Report> checkPlan(byte[] bytes) {
        try {
            Process p = new ProcessBuilder(Helper.PATH.toString(), "--check-plan")
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            try (OutputStream in = p.getOutputStream()) {
                in.write(bytes);
            } catch (IOException e) {
                // The helper stops reading at a bad header; what it says about it follows.
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int status = p.waitFor();
            List<Report> lines = out.lines().map(Report::parse).toList();
            boolean failed = !lines.isEmpty() && lines.get(0).kind().equals("FAIL");
            if (status != (failed ? 1 : 0) || (failed && lines.size() != 1)) {
                throw new AssertionError("crabcan-helper --check-plan exited with " + status + ", printing:\n" + out);
            }
            return lines;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** A plan from dump_plan's lines (see plan.c). */
    private static final class Dump {
        int cloneFlags, options, uid, gid;
        String uidMap, gidMap, idmapUidMap, idmapGidMap, idmapRootGidMap, hostname, staging, cwd, searchPath, detach,
                sessionKeyring, domainname;
        Integer umask, oomScoreAdj;
        Join join;
        Console console;
        Root root;
        Net net;
        Net6 net6;
        Veth veth;
        long capBounding, capEffective, capPermitted, capInheritable, capAmbient;
        byte[] seccomp;
        final List<Mount> mounts = new ArrayList<>();
        final List<Mount> cgroupfs = new ArrayList<>();
        final List<Rlimit> rlimits = new ArrayList<>();
        final List<String> cgroupProcs = new ArrayList<>();
        final List<Stdio> stdio = new ArrayList<>();
        final List<String> argv = new ArrayList<>();
        final List<String> refused = new ArrayList<>();
        final List<String> env = new ArrayList<>();
        final List<String> netHelper = new ArrayList<>();
        final List<Integer> passedFds = new ArrayList<>();
        final List<Copy> copies = new ArrayList<>();
        final List<String> layers = new ArrayList<>();
        List<String> hostOverlay = List.of();
        /** T_JOIN_NS as "0xTYPE path" (a process's: "0xTYPE pid@start path"), T_JOINED_SYSCTL as "name=value". */
        final List<String> joinedNamespaces = new ArrayList<>();
        final List<String> joinedSysctls = new ArrayList<>();
        Filter netFilter;

        Dump(List<Report> lines) {
            for (Report r : lines) {
                line(r);
            }
        }

        private void line(Report r) {
            switch (r.kind()) {
                case "config" -> {
                    cloneFlags = integer(r, 0);
                    options = integer(r, 1);
                }
                case "uid_map" -> uidMap = r.field(0);
                case "gid_map" -> gidMap = r.field(0);
                case "idmap_uid_map" -> idmapUidMap = r.field(0);
                case "idmap_gid_map" -> idmapGidMap = r.field(0);
                case "idmap_root_gid_map" -> idmapRootGidMap = r.field(0);
                case "hostname" -> hostname = r.field(0);
                case "staging" -> staging = r.field(0);
                case "root" -> root = new Root(integer(r, 0), integer(r, 1), r.field(2));
                case "layer" -> layers.add(r.field(0));
                case "host_overlay" -> hostOverlay = List.of(r.field(0), r.field(1), r.field(2));
                case "mount" -> mounts.add(new Mount(integer(r, 0), integer(r, 1), integer(r, 2), number(r, 3),
                        r.field(4), r.field(5)));
                case "cgroupfs" -> cgroupfs.add(new Mount(integer(r, 0), integer(r, 1), integer(r, 2), number(r, 3),
                        r.field(4), r.field(5)));
                case "creds" -> {
                    uid = integer(r, 0);
                    gid = integer(r, 1);
                }
                case "caps" -> {
                    capBounding = number(r, 0);
                    capEffective = number(r, 1);
                    capPermitted = number(r, 2);
                    capInheritable = number(r, 3);
                    capAmbient = number(r, 4);
                }
                case "seccomp" -> {
                    seccomp = HexFormat.of().parseHex(r.field(1));
                    if (seccomp.length != integer(r, 0)) {
                        throw new AssertionError("seccomp length " + r.field(0) + " for " + seccomp.length + " bytes");
                    }
                }
                case "rlimit" -> rlimits.add(new Rlimit(integer(r, 0), number(r, 1), number(r, 2)));
                case "cgroup" -> cgroupProcs.add(r.field(0));
                case "pipe" -> stdio.add(new Stdio(integer(r, 0), 0, 0, null));
                case "stdio" -> stdio.add(new Stdio(integer(r, 0), integer(r, 1), integer(r, 2), r.field(3)));
                case "net" -> net = new Net(address(r.field(0)), address(r.field(1)), address(r.field(2)), r.field(3));
                case "net6" -> net6 = new Net6(integer(r, 0), r.field(1), r.field(2));
                case "veth" -> veth = new Veth(integer(r, 0), r.field(1));
                case "refuse" -> refused.add(r.field(0));
                case "net_helper" -> netHelper.add(r.field(0));
                case "net_filter" -> netFilter = new Filter(r.field(0), r.field(1), null, false);
                case "net_filter_hosts" -> netFilter = new Filter(netFilter.tool(), netFilter.rules(), r.field(1),
                        integer(r, 0) == 1);
                case "arg" -> argv.add(r.field(0));
                case "env" -> env.add(r.field(0));
                case "cwd" -> cwd = r.field(0);
                case "search_path" -> searchPath = r.field(0);
                case "detach" -> detach = r.field(0);
                case "umask" -> umask = integer(r, 0);
                case "oom_score_adj" -> oomScoreAdj = Integer.parseInt(r.field(0));
                case "join" -> join = new Join(number(r, 0), number(r, 1), number(r, 2), number(r, 3));
                case "console" -> console = new Console(integer(r, 0), integer(r, 1), r.field(2));
                case "pass_fd" -> passedFds.add(integer(r, 0));
                case "copy_in" -> copies.add(new Copy(integer(r, 0), integer(r, 1), 0, r.field(2)));
                case "copy_out" -> copies.add(new Copy(0, 0, number(r, 0), r.field(1)));
                case "session_keyring" -> sessionKeyring = r.field(0);
                case "domainname" -> domainname = r.field(0);
                case "join_ns" -> joinedNamespaces.add(r.field(0) + (r.field(1).equals("0") ? "" : " " + r.field(1) + "@"
                        + r.field(2)) + " " + r.field(3));
                case "joined_sysctl" -> joinedSysctls.add(r.field(0));
                case "joined_sysctl_value" -> joinedSysctls.add(joinedSysctls.remove(joinedSysctls.size() - 1) + "="
                        + r.field(0));
                default -> throw new AssertionError("unknown line from crabcan-helper --check-plan: " + r);
            }
        }

        Plan plan() {
            return new Plan(cloneFlags, options, uidMap, gidMap, idmapUidMap, idmapGidMap, idmapRootGidMap, hostname,
                    staging,
                    root == null ? null : new Root(root.kind(), root.flags(), root.path(), List.copyOf(layers), hostOverlay),
                    List.copyOf(mounts), uid, gid, capBounding, capEffective, capPermitted, capInheritable,
                    capAmbient, seccomp, List.copyOf(rlimits), List.copyOf(cgroupProcs), List.copyOf(stdio),
                    List.copyOf(argv), List.copyOf(env), cwd, searchPath, net, net6, veth, List.copyOf(refused), List.copyOf(netHelper), netFilter, detach,
                    umask, oomScoreAdj, join, console, List.copyOf(cgroupfs), List.copyOf(passedFds), List.copyOf(copies),
                    sessionKeyring, domainname, List.copyOf(joinedNamespaces), List.copyOf(joinedSysctls));
        }

        /** dump_plan's numbers: 0x... for flag sets, 0... (octal) for modes, else decimal; all unsigned. */
        private static long number(Report r, int field) {
            String s = r.field(field);
            if (s.startsWith("0x")) {
                return Long.parseUnsignedLong(s.substring(2), 16);
            }
            return s.length() > 1 && s.startsWith("0") ? Long.parseUnsignedLong(s.substring(1), 8)
                    : Long.parseUnsignedLong(s);
        }

        private static int integer(Report r, int field) {
            return (int) number(r, field);
        }

        /** A dotted IPv4 address as a big-endian int, as {@link PlanWriter#net} takes it. */
        private static int address(String dotted) {
            int a = 0;
            for (String octet : dotted.split("\\.")) {
                a = a << 8 | Integer.parseInt(octet);
            }
            return a;
        }
    }

    static String kindName(int kind) {
        return switch (kind) {
            case M_BIND -> "BIND";
            case M_TMPFS -> "TMPFS";
            case M_PROC -> "PROC";
            case M_SYMLINK -> "SYMLINK";
            case M_INNER_BIND -> "INNER_BIND";
            case M_CONTENT -> "CONTENT";
            default -> "KIND" + kind;
        };
    }

    static String flagNames(int flags) {
        String[] names = {"RDONLY", "FILE", "IDMAP", "PRECREATE", "OPEN_IN_PARENT", "NOSUID", "NODEV", "NOEXEC",
                "OPTIONAL"};
        List<String> out = new ArrayList<>();
        for (int i = 0; i < names.length; i++) {
            if ((flags & (1 << i)) != 0) {
                out.add(names[i]);
            }
        }
        int unknown = flags & ~((1 << names.length) - 1);
        if (unknown != 0) {
            out.add("0x" + Integer.toHexString(unknown));
        }
        return out.isEmpty() ? "0" : String.join("|", out);
    }
}
