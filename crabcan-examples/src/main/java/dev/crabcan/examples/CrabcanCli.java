package dev.crabcan.examples;

import dev.crabcan.CommandNotExecutableException;
import dev.crabcan.CommandNotFoundException;
import dev.crabcan.Limits;
import dev.crabcan.Network;
import dev.crabcan.Rlimit;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.Stdio;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The crabcan command line, flag-compatible with the crabcan tutorial. Exit status: the
 * command's own code, 128+N when signal N killed it, 125 when the sandbox could not be set up,
 * 126 when the command cannot be executed, 127 when it is not found.
 */
public final class CrabcanCli {
    static final int SETUP_FAILED = 125, NOT_EXECUTABLE = 126, NOT_FOUND = 127;

    static final String USAGE = String.join("\n",
            "Usage: java -jar crabcan.jar [OPTIONS] CMD ARGS...",
            "       java -jar crabcan.jar [OPTIONS] -- CMD ARGS...     (when CMD starts with '-')",
            "       java -jar crabcan.jar [OPTIONS] -c \"CMD ARGS...\"",
            "  -c is the tutorial's form: it splits its one string on white space, with no quoting;",
            "  for arguments with spaces give the command after the options, each argument as the",
            "  shell quotes it (e.g. crabcan /bin/sh -c 'echo \"a b\"'). Long options also take",
            "  --option=value.",
            "  -m, --mount DIR        root filesystem (default: the host's /usr, /bin, /lib, /lib64,",
            "                         /etc and /sbin bound read-only on an empty read-only root)",
            "  -u, --uid UID          uid and gid inside the container (default 0)",
            "  -a, --add FROM:TO[:ro] bind host FROM at TO, read-write (read-only with :ro)",
            "  -r, --add-ro FROM:TO   bind host FROM at TO, read-only",
            "  -t, --tmpfs DIR        an empty tmpfs at DIR",
            "  -e, --env NAME=VALUE   set an environment variable (the environment is otherwise empty",
            "                         but for PATH); -e NAME passes this shell's value, if it has one",
            "  -w, --workdir DIR      working directory inside (default /)",
            "      --hostname NAME    hostname inside (default: random adjective-noun-number)",
            "      --cap-add CAP      let a uid-0 command keep CAP (e.g. NET_RAW, CAP_SYS_PTRACE, ALL)",
            "      --cap-drop CAP     drop CAP from what it keeps (ALL: keep none)",
            "      --stop-signal SIG  when crabcan gets SIGTERM, SIGINT or SIGHUP, send SIG (a number or",
            "                         a name such as TERM) to the command and give it --stop-timeout",
            "                         (default 10s) to end before the sandbox is killed; without it,",
            "                         the sandbox is killed at once",
            "      --stop-timeout DUR",
            "      --seccomp FILE     the seccomp filter in FILE, an OCI seccomp object (runtime-spec's",
            "                         linux.seccomp: defaultAction, syscalls, ...) instead of the default",
            "      --writable-rootfs  let the command write to the -m root filesystem",
            "      --net MODE         none (default: loopback only), host (the host's network, no",
            "                         isolation) or private (own interface, outbound through the host;",
            "                         IPv6 too where the host has it, and then IPv6 name servers too)",
            "  -p, --publish [ADDR:]HOSTPORT:CONTAINERPORT[/tcp|/udp]",
            "                         publish a port of a private network (ADDR default 127.0.0.1;",
            "                         0.0.0.0 for every IPv4 address, [::1] the IPv6 loopback, [::]",
            "                         every address; TCP unless /udp)",
            "      --net-allow-host   let a private network open connections to the host's addresses",
            "                         (refused by default, also those it gains later; as are",
            "                         link-local 169.254.0.0/16 and fe80::/10",
            "                         and the other sandboxes; never the host's loopback)",
            "      --net-allow CIDR   let a private network reach a range it is refused by default,",
            "                         e.g. 169.254.169.254/32 or fd00:ec2::254/128 (repeatable)",
            "Limits (sizes take k, m, g; durations ms, s, m, seconds without a unit):",
            "      --memory SIZE      memory limit (cgroup)       --swap SIZE   swap on top (0: none)",
            "      --pids N           process limit (cgroup)      --cpus X      CPU quota in cores",
            "      --cpu-weight N     1..10000                    --io-weight N 1..10000",
            "      --cpuset-cpus LIST the CPUs it may run on, e.g. 0-3,6   --cpuset-mems LIST  its memory nodes",
            "      --cpu-time DUR     CPU time of all processes   --wall-time DUR",
            "      --output-limit SIZE  per output stream (output is then printed when the command ends)",
            "      --rlimit NAME=SOFT[:HARD]  NOFILE, FSIZE, STACK, CORE, CPU, AS, NPROC or MEMLOCK",
            "      --judge            the judge preset (see dev.crabcan.Limits.judge()); flags after it adjust it",
            "Result:",
            "      --json             print the result as one JSON object on stderr at exit",
            "      --result FILE      write that JSON object to FILE",
            "  -d, --debug            log every setup step",
            "  -h, --help             show this help",
            "      --version          show the version",
            "Exit status: the command's own; 128+N if killed by signal N; 125 if the sandbox could not",
            "be set up; 126 if the command cannot be executed; 127 if it is not found.",
            "OCI bundle: java -jar crabcan.jar run --bundle DIR [ID]   (exit status: the container's;",
            "1 with a one-line reason if the bundle is refused)");

    private CrabcanCli() {}

    public static void main(String[] args) {
        boolean debug = Options.wantsDebug(args);
        // slf4j-simple reads its levels once, when the first logger is made: set them before that.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
        System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss'Z'");
        if (debug) {
            System.setProperty("org.slf4j.simpleLogger.log.dev.crabcan", "debug");
        }
        // "crabcan run --bundle DIR [ID]": an OCI bundle, run in the foreground (no option starts with a letter).
        if (args.length > 0 && args[0].equals("run") && !ImageCli.runsImage(args)) {
            System.exit(OciRuntime.run(args, System.out, System.err));
        }
        if (args.length > 0 && args[0].equals("judge")) {
            System.exit(Judge.run(args, System.out, System.err));
        }
        if (args.length > 0 && (ImageCli.COMMANDS.contains(args[0]) || args[0].equals("run"))) {
            System.exit(ImageCli.run(args, System.out, System.err));
        }
        System.exit(run(args, System.err));
    }

    static int run(String[] args, PrintStream err) {
        return run(args, System.out, err);
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        Options options;
        Sandbox sandbox;
        try {
            options = Options.parse(args);
            if (options.help) {
                err.println(USAGE);
                err.println(ImageCli.USAGE);
                err.println(Judge.USAGE);
                return 0;
            }
            if (options.version) {
                out.println("crabcan " + version());
                return 0;
            }
            sandbox = options.toSandbox();
            if (callerIsRoot()) {
                for (String source : options.writableSystemBinds()) {
                    err.println("crabcan: warning: -a " + source + " gives the sandbox's root write access to the "
                            + "host's " + source + " as host root; bind system directories read-only with -r");
                }
            }
        } catch (IllegalArgumentException e) {
            err.println("crabcan: " + e.getMessage());
            err.println("Try 'java -jar crabcan.jar --help'.");
            return SETUP_FAILED;
        }
        try {
            SandboxResult result;
            if (options.limits.outputBytes().isPresent()) {
                result = sandbox.run();
                System.out.write(result.stdout());
                System.out.flush();
                err.write(result.stderr());
            } else {
                // The hook is in place before the command runs: a stop may come as soon as it does.
                var started = new java.util.concurrent.CompletableFuture<SandboxProcess>();
                Thread stop = options.stopSignal == null ? null : new Thread(() -> stop(started, options), "crabcan-stop");
                if (stop != null) {
                    Runtime.getRuntime().addShutdownHook(stop);
                }
                SandboxProcess p;
                try {
                    p = sandbox.start();
                } catch (SandboxException | RuntimeException e) {
                    started.completeExceptionally(e);
                    throw e;
                }
                started.complete(p);
                result = p.result();
                if (stop != null) {
                    try {
                        Runtime.getRuntime().removeShutdownHook(stop);
                    } catch (IllegalStateException shuttingDown) {
                        // The hook runs already and ends with the sandbox.
                    }
                }
            }
            report(options, result.toJson(), err);
            return result.status().shellCode();
        } catch (CommandNotFoundException e) {
            return fail(options, e, NOT_FOUND, err);
        } catch (CommandNotExecutableException e) {
            return fail(options, e, NOT_EXECUTABLE, err);
        } catch (SandboxException | SandboxSpecException e) {
            return fail(options, e, SETUP_FAILED, err);
        } catch (java.io.IOException e) {
            return fail(options, e, SETUP_FAILED, err);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println("crabcan: interrupted");
            return SETUP_FAILED;
        }
    }

    /** On SIGTERM, SIGINT or SIGHUP to this JVM: the command gets --stop-signal and --stop-timeout to end. */
    private static void stop(java.util.concurrent.CompletableFuture<SandboxProcess> started, Options options) {
        long timeout = options.stopTimeout.toMillis();
        SandboxProcess p;
        try {
            p = started.get(timeout, java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return; // it never started, or is still starting: the JVM's exit ends it
        } catch (InterruptedException e) {
            return;
        }
        p.signal(options.stopSignal);
        try {
            if (!p.waitFor(timeout, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
        }
    }

    static String version() {
        try (var in = CrabcanCli.class.getResourceAsStream("version.txt")) {
            return in == null ? "(unknown version)" : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
        } catch (java.io.IOException e) {
            return "(unknown version)";
        }
    }

    /** Whether this JVM runs as root: its sandboxes' read-write binds then write as host root. */
    static boolean callerIsRoot() {
        try {
            for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return line.split("\\s+")[2].equals("0");
                }
            }
        } catch (java.io.IOException e) {
            return false; // no /proc: start() will say what is missing
        }
        return false;
    }

    private static int fail(Options options, Exception e, int status, PrintStream err) {
        err.println("crabcan: " + e.getMessage());
        report(options, SandboxResult.setupErrorJson(e.getMessage()), err);
        return status;
    }

    /** --json and --result: the result object scripts parse. */
    private static void report(Options options, String json, PrintStream err) {
        if (options.json) {
            err.println(json);
        }
        if (options.resultFile != null) {
            try {
                java.nio.file.Files.writeString(options.resultFile, json + "\n");
            } catch (java.io.IOException e) {
                err.println("crabcan: cannot write the result to " + options.resultFile + ": " + e.getMessage());
            }
        }
    }

    /** The parsed command line. */
    static final class Options {
        Path rootfs;
        boolean writableRootfs;
        int uid;
        final List<String[]> binds = new ArrayList<>();
        final List<String> tmpfs = new ArrayList<>();
        final List<String> env = new ArrayList<>();
        String workdir;
        String hostname;
        List<String> command;
        boolean help;
        boolean version;
        boolean debug;
        final List<String> capAdd = new ArrayList<>();
        final List<String> capDrop = new ArrayList<>();
        Integer stopSignal;
        Path seccomp;
        java.time.Duration stopTimeout = java.time.Duration.ofSeconds(10);
        boolean json;
        Path resultFile;
        Limits limits = Limits.none();
        Network.Mode net = Network.Mode.NONE;
        final List<String> publish = new ArrayList<>();
        boolean netAllowHost;
        final List<String> netAllow = new ArrayList<>();

        /** Whether -d is among the options (not among the command's arguments); false if they do not parse. */
        static boolean wantsDebug(String[] args) {
            try {
                return parse(args).debug;
            } catch (IllegalArgumentException e) {
                return false;
            }
        }

        static Options parse(String[] args) {
            Options o = new Options();
            Cursor c = new Cursor(args);
            while (c.hasNext()) {
                String a = c.next();
                if (!a.startsWith("-") || a.equals("-")) {
                    // The command follows the options; "--" is needed only when it starts with '-'.
                    o.setCommand(c.restFromCurrent());
                    break;
                }
                switch (a) {
                    case "-h", "--help" -> o.help = true;
                    case "--version" -> o.version = true;
                    case "-d", "--debug" -> o.debug = true;
                    case "--writable-rootfs" -> o.writableRootfs = true;
                    case "-m", "--mount" -> o.rootfs = Path.of(c.value(a));
                    case "-u", "--uid" -> o.uid = parseUid(c.value(a));
                    case "-a", "--add" -> o.binds.add(bind(c.value(a), a));
                    case "-r", "--add-ro" -> o.binds.add(pair(c.value(a), a, "ro"));
                    case "-t", "--tmpfs" -> o.tmpfs.add(c.value(a));
                    case "-e", "--env" -> o.env.add(c.value(a));
                    case "-w", "--workdir" -> o.workdir = c.value(a);
                    case "--hostname" -> o.hostname = c.value(a);
                    case "--cap-add" -> o.capAdd.add(c.value(a));
                    case "--cap-drop" -> o.capDrop.add(c.value(a));
                    case "--stop-signal" -> o.stopSignal = signal(c.value(a));
                    case "--stop-timeout" -> o.stopTimeout = duration(c.value(a), a);
                    case "--seccomp" -> o.seccomp = Path.of(c.value(a));
                    case "--net" -> o.net = netMode(c.value(a));
                    case "-p", "--publish" -> o.publish.add(c.value(a));
                    case "--net-allow-host" -> o.netAllowHost = true;
                    case "--net-allow" -> o.netAllow.add(c.value(a));
                    case "--json" -> o.json = true;
                    case "--result" -> o.resultFile = Path.of(c.value(a));
                    case "--judge" -> o.limits = Limits.judge();
                    case "--memory" -> o.limits = o.limits.toBuilder().memory(size(c.value(a), a)).build();
                    case "--swap" -> o.limits = o.limits.toBuilder().swap(size(c.value(a), a)).build();
                    case "--pids" -> o.limits = o.limits.toBuilder().pids(integer(c.value(a), a)).build();
                    case "--cpus" -> o.limits = o.limits.toBuilder().cpus(decimal(c.value(a), a)).build();
                    case "--cpu-weight" -> o.limits = o.limits.toBuilder().cpuWeight(integer(c.value(a), a)).build();
                    case "--cpuset-cpus" -> o.limits = o.limits.toBuilder().cpusetCpus(c.value(a)).build();
                    case "--cpuset-mems" -> o.limits = o.limits.toBuilder().cpusetMems(c.value(a)).build();
                    case "--io-weight" -> o.limits = o.limits.toBuilder().ioWeight(integer(c.value(a), a)).build();
                    case "--cpu-time" -> o.limits = o.limits.toBuilder().cpuTime(duration(c.value(a), a)).build();
                    case "--wall-time" -> o.limits = o.limits.toBuilder().wallTime(duration(c.value(a), a)).build();
                    case "--output-limit" -> o.limits = o.limits.toBuilder().outputBytes(size(c.value(a), a)).build();
                    case "--rlimit" -> o.limits = rlimit(o.limits, c.value(a));
                    case "-c", "--command" -> o.setCommand(splitCommand(c.value(a)));
                    case "--" -> o.setCommand(c.rest());
                    default -> throw new IllegalArgumentException("unknown option '" + a + "'");
                }
                c.requireNoAttachedValue(a);
            }
            if (o.command == null && !o.help && !o.version) {
                throw new IllegalArgumentException("no command given: give it after the options, after --, or as -c "
                        + "\"CMD ARGS\"");
            }
            return o;
        }

        /** The arguments, one at a time; "--option=value" gives its value to {@link #value}. */
        private static final class Cursor {
            private final String[] args;
            private int next;
            private String attached;

            Cursor(String[] args) {
                this.args = args;
            }

            boolean hasNext() {
                return next < args.length;
            }

            String next() {
                String a = args[next++];
                int eq = a.indexOf('=');
                attached = null;
                if (a.startsWith("--") && eq > 2) {
                    attached = a.substring(eq + 1);
                    return a.substring(0, eq);
                }
                return a;
            }

            String value(String flag) {
                if (attached != null) {
                    String v = attached;
                    attached = null;
                    return v;
                }
                if (next >= args.length) {
                    throw new IllegalArgumentException("option " + flag + " needs a value");
                }
                return args[next++];
            }

            void requireNoAttachedValue(String flag) {
                if (attached != null) {
                    throw new IllegalArgumentException("option " + flag + " takes no value, got '" + flag + "="
                            + attached + "'");
                }
            }

            /** Everything after the current argument. */
            List<String> rest() {
                List<String> r = Arrays.asList(args).subList(next, args.length);
                next = args.length;
                return r;
            }

            /** The current argument and everything after it. */
            List<String> restFromCurrent() {
                List<String> r = Arrays.asList(args).subList(next - 1, args.length);
                next = args.length;
                return r;
            }
        }

        private void setCommand(List<String> argv) {
            if (command != null) {
                throw new IllegalArgumentException("the command is given twice: use either -c or --");
            }
            if (argv.isEmpty()) {
                throw new IllegalArgumentException("the command is empty");
            }
            command = List.copyOf(argv);
        }

        /** System directories, or directories in them, whose read-write bind would let a root caller's sandbox rewrite the host. */
        private static final List<String> SYSTEM_TREES = List.of("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin",
                "/sbin", "/etc", "/boot");

        /** The sources of read-write binds that are system directories (as given or after resolving links). */
        List<String> writableSystemBinds() {
            List<String> found = new ArrayList<>();
            for (String[] bind : binds) {
                if (bind[2].equals("rw") && isSystemDirectory(Path.of(bind[0]).toAbsolutePath().normalize())) {
                    found.add(bind[0]);
                }
            }
            return found;
        }

        private static boolean isSystemDirectory(Path source) {
            List<Path> names = new ArrayList<>(List.of(source));
            try {
                names.add(source.toRealPath());
            } catch (java.io.IOException e) {
                // Missing: start() reports it.
            }
            for (Path p : names) {
                if (p.equals(Path.of("/")) || p.equals(Path.of("/var"))
                        || SYSTEM_TREES.stream().anyMatch(t -> p.startsWith(Path.of(t)))) {
                    return true;
                }
            }
            return false;
        }

        Sandbox toSandbox() {
            // With an output limit the output is captured, to be cut at the limit.
            Stdio out = limits.outputBytes().isPresent() ? Stdio.pipe() : Stdio.inherit();
            Sandbox.Builder b = Sandbox.builder().uid(uid).command(command).limits(limits)
                    .stdin(Stdio.inherit()).stdout(out).stderr(out);
            if (rootfs != null) {
                b.rootfs(rootfs).rootfsWritable(writableRootfs);
            } else if (writableRootfs) {
                throw new IllegalArgumentException("--writable-rootfs needs -m DIR");
            }
            for (String[] bind : binds) {
                b.bind(Path.of(bind[0]), bind[1], bind[2].equals("ro"));
            }
            tmpfs.forEach(b::tmpfs);
            for (String e : env) {
                int eq = e.indexOf('=');
                if (eq == 0 || e.isEmpty()) {
                    throw new IllegalArgumentException("-e wants NAME=VALUE or NAME, got '" + e + "'");
                }
                if (eq < 0) {
                    // Docker's -e NAME: this shell's value; nothing if it has none.
                    String host = System.getenv(e);
                    if (host != null) {
                        b.env(e, host);
                    }
                } else {
                    b.env(e.substring(0, eq), e.substring(eq + 1));
                }
            }
            if (capDrop.stream().anyMatch(x -> x.equalsIgnoreCase("ALL"))) {
                b.capabilities(java.util.Set.of());
            }
            for (String cap : capDrop) {
                if (!cap.equalsIgnoreCase("ALL")) {
                    b.dropCapabilities(capability(cap, "--cap-drop"));
                }
            }
            for (String cap : capAdd) {
                if (cap.equalsIgnoreCase("ALL")) {
                    b.addCapabilities(dev.crabcan.Capability.values());
                } else {
                    b.addCapabilities(capability(cap, "--cap-add"));
                }
            }
            if (workdir != null) {
                b.workingDirectory(workdir);
            }
            if (hostname != null) {
                b.hostname(hostname);
            }
            if (seccomp != null) {
                // The same reader as a bundle's config.json: one parser of runtime-spec seccomp.
                b.seccomp(dev.crabcan.internal.oci.OciConfig.readSeccomp(seccomp));
            }
            return b.network(network()).build();
        }

        static Network.Mode netMode(String s) {
            return switch (s) {
                case "none" -> Network.Mode.NONE;
                case "host" -> Network.Mode.HOST;
                case "private" -> Network.Mode.PRIVATE;
                default -> throw new IllegalArgumentException("--net wants none, host or private, got '" + s + "'");
            };
        }

        Network network() {
            if (!publish.isEmpty() && net != Network.Mode.PRIVATE) {
                throw new IllegalArgumentException("--publish needs --net private");
            }
            if ((netAllowHost || !netAllow.isEmpty()) && net != Network.Mode.PRIVATE) {
                throw new IllegalArgumentException("--net-allow-host and --net-allow need --net private");
            }
            Network n = switch (net) {
                case NONE -> Network.none();
                case HOST -> Network.host();
                case PRIVATE -> Network.privateNetwork();
                // netMode() never gives it: the CLI makes its own namespaces (OCI configs name theirs).
                case NAMESPACE -> throw new IllegalArgumentException("--net takes none, host or private");
            };
            for (String spec : publish) {
                n = publish(n, spec);
            }
            if (netAllowHost) {
                n = n.allowHost();
            }
            for (String cidr : netAllow) {
                n = n.allow(cidr);
            }
            return n;
        }

        /** Docker's spelling: [ADDR:]HOSTPORT:CONTAINERPORT[/tcp|/udp], an IPv6 ADDR in brackets ([::1]:8080:80). */
        static Network publish(Network n, String spec) {
            String rest = spec;
            String address6 = null;
            if (spec.startsWith("[")) {
                int end = spec.indexOf("]:");
                if (end < 0) {
                    throw new IllegalArgumentException("--publish wants [IPV6]:HOSTPORT:CONTAINERPORT, got '" + spec + "'");
                }
                address6 = spec.substring(1, end);
                rest = spec.substring(end + 2);
            }
            String ports = rest;
            boolean udp = rest.endsWith("/udp");
            if (rest.endsWith("/tcp") || udp) {
                ports = rest.substring(0, rest.length() - 4);
            } else if (rest.contains("/")) {
                throw new IllegalArgumentException("--publish '" + spec + "': the protocol must be tcp or udp");
            }
            String[] parts = ports.split(":", -1);
            if (parts.length < 2 || parts.length > (address6 == null ? 3 : 2)) {
                throw new IllegalArgumentException("--publish wants [ADDR:]HOSTPORT:CONTAINERPORT, got '" + spec + "'");
            }
            int host = integer(parts[parts.length - 2], "--publish " + spec);
            int container = integer(parts[parts.length - 1], "--publish " + spec);
            String address = address6 != null ? address6 : parts.length == 3 ? parts[0] : "127.0.0.1";
            return udp ? n.publishUdp(address, host, container) : n.publish(address, host, container);
        }

        private static String value(String[] args, int i, String flag) {
            if (i >= args.length) {
                throw new IllegalArgumentException("option " + flag + " needs a value");
            }
            return args[i];
        }

        private static final java.util.regex.Pattern SIZE = java.util.regex.Pattern.compile("(\\d+)([kKmMgG]?)[bB]?");
        private static final java.util.regex.Pattern DURATION = java.util.regex.Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|s|m)?");

        /** "512", "64k", "256m", "2g" (binary units). */
        static long size(String s, String flag) {
            java.util.regex.Matcher m = SIZE.matcher(s);
            if (!m.matches()) {
                throw new IllegalArgumentException(flag + " wants a size such as 256m or 1g, got '" + s + "'");
            }
            int shift = switch (m.group(2).toLowerCase(java.util.Locale.ROOT)) {
                case "k" -> 10;
                case "m" -> 20;
                case "g" -> 30;
                default -> 0;
            };
            try {
                return Math.multiplyExact(Long.parseLong(m.group(1)), 1L << shift);
            } catch (ArithmeticException | NumberFormatException e) {
                throw new IllegalArgumentException(flag + " size '" + s + "' is too large");
            }
        }

        /** "500ms", "2s", "1.5s", "1m"; without a unit, seconds ("10", "0.5"), as isolate and nsjail read them. */
        static java.time.Duration duration(String s, String flag) {
            java.util.regex.Matcher m = DURATION.matcher(s);
            if (!m.matches()) {
                throw new IllegalArgumentException(flag + " wants a duration such as 500ms, 2s, 1m or 10 (seconds), got '"
                        + s + "'");
            }
            double n = Double.parseDouble(m.group(1));
            double millis = switch (m.group(2) == null ? "s" : m.group(2)) {
                case "ms" -> n;
                case "s" -> n * 1000;
                default -> n * 60_000;
            };
            return java.time.Duration.ofNanos(Math.round(millis * 1_000_000));
        }

        static int integer(String s, String flag) {
            try {
                return Integer.parseInt(s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(flag + " wants a whole number, got '" + s + "'");
            }
        }

        static double decimal(String s, String flag) {
            try {
                return Double.parseDouble(s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(flag + " wants a number such as 0.5 or 2, got '" + s + "'");
            }
        }

        /** NAME=SOFT or NAME=SOFT:HARD, e.g. NOFILE=64 or CORE=0. */
        static Limits rlimit(Limits limits, String spec) {
            int eq = spec.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("--rlimit wants NAME=SOFT[:HARD], got '" + spec + "'");
            }
            Rlimit r;
            try {
                r = Rlimit.valueOf(spec.substring(0, eq).toUpperCase(java.util.Locale.ROOT).replaceFirst("^RLIMIT_", ""));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--rlimit: unknown resource '" + spec.substring(0, eq)
                        + "'; use one of " + java.util.Arrays.toString(Rlimit.values()));
            }
            String[] v = spec.substring(eq + 1).split(":", 2);
            long soft = size(v[0], "--rlimit " + r);
            return limits.toBuilder().rlimit(r, soft, v.length > 1 ? size(v[1], "--rlimit " + r) : soft).build();
        }

        private static int parseUid(String s) {
            try {
                int uid = Integer.parseInt(s);
                if (uid >= 0) {
                    return uid;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IllegalArgumentException("-u wants a uid between 0 and " + Integer.MAX_VALUE + ", got '" + s + "'");
        }

        private static dev.crabcan.Capability capability(String name, String flag) {
            try {
                return dev.crabcan.Capability.byName(name);
            } catch (SandboxSpecException e) {
                throw new IllegalArgumentException(flag + ": " + e.getMessage());
            }
        }

        /** A signal number, or a name with or without SIG: TERM, SIGINT, 15. */
        static int signal(String s) {
            String name = s.toUpperCase(java.util.Locale.ROOT).replaceFirst("^SIG", "");
            try {
                int n = Integer.parseInt(name);
                if (n >= 1 && n <= 31 && n != 9 && n != 19) {
                    return n;
                }
            } catch (NumberFormatException e) {
                for (jnr.constants.platform.Signal sig : jnr.constants.platform.Signal.values()) {
                    if (sig.defined() && sig.name().equals("SIG" + name) && sig.intValue() != 9 && sig.intValue() != 19) {
                        return sig.intValue();
                    }
                }
            }
            throw new IllegalArgumentException("--stop-signal wants a signal the command can handle, such as TERM, INT, "
                    + "HUP or 15, got '" + s + "'");
        }

        /** -a FROM:TO, and Docker's FROM:TO:ro and FROM:TO:rw. */
        private static String[] bind(String s, String flag) {
            if (s.endsWith(":ro") || s.endsWith(":rw")) {
                return pair(s.substring(0, s.length() - 3), flag, s.substring(s.length() - 2));
            }
            return pair(s, flag, "rw");
        }

        private static String[] pair(String s, String flag, String mode) {
            int colon = s.lastIndexOf(':');
            if (colon <= 0 || colon == s.length() - 1) {
                throw new IllegalArgumentException(flag + " wants FROM:TO, got '" + s + "'");
            }
            return new String[] {s.substring(0, colon), s.substring(colon + 1), mode};
        }

        /** The tutorial's -c takes one string, split on white space. */
        static List<String> splitCommand(String s) {
            List<String> argv = Arrays.stream(s.trim().split("\\s+")).filter(x -> !x.isEmpty()).toList();
            if (argv.isEmpty()) {
                throw new IllegalArgumentException("-c wants a command, got an empty string");
            }
            return argv;
        }
    }
}
