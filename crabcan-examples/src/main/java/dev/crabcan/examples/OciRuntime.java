package dev.crabcan.examples;

import dev.crabcan.ContainerHooks;
import dev.crabcan.ExitStatus;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.Stdio;
import dev.crabcan.internal.json.Json;
import dev.crabcan.internal.oci.OciConfig;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

/**
 * An OCI runtime command line with runc's commands, flags and output formats (the ones engines
 * such as podman and containerd's shim call) on top of Crabcan, with the state of each container
 * in {@code <root>/<id>/} so that every command can be a new process; {@code exec} is {@link OciExec}. A container's cgroup is
 * made at create and removed at delete ({@link OciCgroup}); no Java process stays between
 * commands. Exit status 0 on success, 1 with a one-line reason on stderr (and in the --log file)
 * otherwise; {@code run} exits with the container's status.
 */
public final class OciRuntime {
    static final String OCI_VERSION = "1.2.0";
    /** In a container's directory while its create runs the prestart and createRuntime hooks: its status is "creating". */
    private static final String CREATING = "creating";
    static final String VERSION = "0.1.0";
    /**
     * The timeout of a hook whose config gives none. runtime-spec sets no default, and runc and crun
     * wait for such a hook forever; a hook that never ends (or a startContainer hook's file, which
     * the image chooses) would then hold create, start or delete, and the container's lock, for good.
     * Two minutes leave room for slow device setup (GPU and CDI hooks take seconds).
     */
    static final int DEFAULT_HOOK_TIMEOUT_S = 120;
    static final String USAGE = String.join("\n",
            "Usage: crabcan-oci [GLOBAL OPTIONS] COMMAND [OPTIONS] ID",
            "  create [--bundle DIR] [--pid-file FILE] ID   set up the container; its command waits for start",
            "  start ID                                     let the command run",
            "  state ID                                     print the OCI state as JSON",
            "  kill [--all] ID [SIGNAL]                     signal init (--all: every process; default SIGTERM)",
            "  delete [--force] ID                          remove a stopped container (--force: kill it first)",
            "  ps [--format table|json] ID [PS ARGS]        the container's processes (json: their host pids)",
            "  pause ID / resume ID                         freeze / thaw every process of the container",
            "  update [--resources FILE|-] [--memory N] [--memory-swap N] [--pids-limit N] [--cpu-quota N]",
            "         [--cpu-period N] [--cpu-shares N] [--blkio-weight N] [--cpuset-cpus LIST]",
            "         [--cpuset-mems LIST] [--memory-reservation N] [--kernel-memory N] [--kernel-memory-tcp N]",
            "         [--cpu-burst N] [--cpu-idle 0|1] [--cpu-rt-period N] [--cpu-rt-runtime N]",
            "         ID                                   change the limits of the container's cgroup",
            "  features                                     print runtime-spec's features document",
            "  run [--bundle DIR] [--pid-file FILE] [ID]    create, start and wait; exit with its status",
            OciExec.USAGE,
            "  create and run also take --console-socket PATH (process.terminal: the terminal's master goes there)",
            "  and --no-new-keyring (keep the caller's session keyring; default: a new one, _ses.ID, which exec joins);",
            "  run --no-subreaper (accepted: run is no subreaper)",
            "  create, run and exec take --preserve-fds N (the caller's fds 3 to 3+N-1 go to the process as they are)",
            "Global options:",
            "  --root DIR            state directory (default /run/crabcan as host root, else $XDG_RUNTIME_DIR/crabcan)",
            "  --log FILE            also write errors (and with --debug, what happens) to FILE",
            "  --log-format text|json  as runc writes it (json: one {\"level\",\"msg\",\"time\"} object a line)",
            "  --debug               log debug messages to the --log file",
            "  --systemd-cgroup      linux.cgroupsPath is systemd's slice:prefix:name",
            "  --rootless auto       what crabcan-oci always does (true and false are refused)",
            "  --hook-timeout SECONDS  the timeout of a hook whose config gives none (default "
                    + DEFAULT_HOOK_TIMEOUT_S + "; create fixes it for the container's hooks)");
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}");
    private static final long START_TIMEOUT_MS = 10_000;

    /** A command line the user got wrong, or a container in the wrong state: one line on stderr, status 1. */
    static final class Failure extends Exception {
        Failure(String message) {
            super(message);
        }
    }

    private final Path root;
    private final PrintStream out;
    private final PrintStream err;
    private final java.io.InputStream in;
    private final OciLog log;
    private final boolean systemdCgroup;
    private final int hookTimeoutSeconds;

    OciRuntime(Path root, java.io.InputStream in, PrintStream out, PrintStream err, OciLog log, boolean systemdCgroup,
            int hookTimeoutSeconds) {
        this.in = in;
        this.root = root;
        this.out = out;
        this.err = err;
        this.log = log;
        this.systemdCgroup = systemdCgroup;
        this.hookTimeoutSeconds = hookTimeoutSeconds;
    }

    public static void main(String[] args) {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, System.in, out, err);
    }

    /**
     * One command line, with the caller's stdin (update --resources -); holds no state between
     * calls, so a long-lived service may call it for each.
     */
    static int run(String[] args, java.io.InputStream in, PrintStream out, PrintStream err) {
        List<String> rest = new ArrayList<>(List.of(args));
        OciLog log;
        OciRuntime runtime;
        try {
            Path root = null;
            Path logFile = null;
            String logFormat = "text";
            boolean debug = false;
            boolean systemd = false;
            int hookTimeout = DEFAULT_HOOK_TIMEOUT_S;
            while (!rest.isEmpty() && rest.get(0).startsWith("-")) {
                String flag = rest.remove(0);
                String name = flag.contains("=") ? flag.substring(0, flag.indexOf('=')) : flag;
                switch (name) {
                    case "--root" -> root = Path.of(value(flag, rest));
                    case "--log" -> logFile = Path.of(value(flag, rest)).toAbsolutePath();
                    case "--log-format" -> logFormat = value(flag, rest);
                    case "--debug" -> debug = bool(flag);
                    case "--systemd-cgroup" -> systemd = bool(flag);
                    case "--rootless" -> rootless(flag, value(flag, rest));
                    case "--hook-timeout" -> hookTimeout = hookTimeout(value(flag, rest));
                    case "--version", "-v" -> {
                        out.println("crabcan-oci version " + VERSION + "\nspec: " + OCI_VERSION);
                        return 0;
                    }
                    case "--help", "-h" -> {
                        out.println(USAGE);
                        return 0;
                    }
                    case "--criu" -> throw new Failure(flag + ": not supported: crabcan-oci has no checkpoint and "
                            + "restore, which is what runc's criu is for");
                    default -> throw new Failure("unknown option " + flag + ": crabcan-oci takes runc's global options "
                            + "--root, --log, --log-format, --debug, --systemd-cgroup and --rootless, and --hook-timeout");
                }
            }
            log = new OciLog(logFile, logFormat, debug, err);
            if (rest.isEmpty()) {
                log.error("no command given\n" + USAGE);
                return 1;
            }
            runtime = new OciRuntime(root != null ? root : defaultRoot(), in, out, err, log, systemd, hookTimeout);
        } catch (Failure e) {
            err.println("crabcan-oci: " + e.getMessage());
            return 1;
        }
        try {
            log.debug("crabcan-oci " + String.join(" ", args));
            return runtime.command(rest.remove(0), rest);
        } catch (Failure | SandboxSpecException | IOException e) {
            log.error(e.getMessage() + (e instanceof dev.crabcan.SandboxSetupException s
                    && s.step().equals(dev.crabcan.internal.plan.Contract.S_KEYRING)
                    ? " (where keyctl is denied, --no-new-keyring keeps the caller's session keyring, as in runc)" : ""));
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            log.error("interrupted");
            return 1;
        }
    }

    /** runc's boolean flags: alone, or with "=" and a value Go's strconv.ParseBool takes. */
    private static boolean bool(String flag) throws Failure {
        if (!flag.contains("=")) {
            return true;
        }
        return switch (flag.substring(flag.indexOf('=') + 1)) {
            case "1", "t", "T", "true", "TRUE", "True" -> true;
            case "0", "f", "F", "false", "FALSE", "False" -> false;
            default -> throw new Failure(flag + ": true or false");
        };
    }

    /**
     * runc's --rootless (true, false or auto: whether cgroup permission errors are ignored). crabcan-oci
     * always does what auto does: a cgroup it cannot make is an error only for a config that sets
     * limits (see OciCgroup#make). true would drop such limits silently, false would fail containers
     * that need no cgroup, so both are refused.
     */
    private static void rootless(String flag, String value) throws Failure {
        if (!value.equals("auto")) {
            throw new Failure((flag.contains("=") ? flag : flag + " " + value) + ": not supported: crabcan-oci always acts as with --rootless "
                    + "auto (a cgroup it cannot make is an error only for a config that sets limits)");
        }
    }

    private static int hookTimeout(String value) throws Failure {
        try {
            int seconds = Integer.parseInt(value);
            if (seconds > 0) {
                return seconds;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new Failure("--hook-timeout " + value + ": a number of seconds above 0");
    }

    private static Path defaultRoot() {
        if (dev.crabcan.internal.host.HostInfo.get().isHostRoot()) {
            return Path.of("/run/crabcan");
        }
        String xdg = System.getenv("XDG_RUNTIME_DIR");
        return xdg != null && !xdg.isBlank() ? Path.of(xdg, "crabcan")
                : Path.of(System.getProperty("java.io.tmpdir"), "crabcan-oci-" + System.getProperty("user.name"));
    }

    static String value(String flag, List<String> rest) throws Failure {
        if (flag.contains("=")) {
            return flag.substring(flag.indexOf('=') + 1);
        }
        if (rest.isEmpty()) {
            throw new Failure(flag + " needs a value");
        }
        return rest.remove(0);
    }

    int command(String command, List<String> args) throws Failure, SandboxException, IOException, InterruptedException {
        if (command.equals("exec")) {
            return OciExec.exec(this, args);
        }
        Map<String, String> options = new LinkedHashMap<>();
        List<String> positional = new ArrayList<>();
        while (!args.isEmpty()) {
            String a = args.remove(0);
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (command.equals("ps") && !positional.isEmpty()) {
                positional.add(a); // after the id: ps's own arguments
                continue;
            }
            switch (name) {
                case "--bundle", "-b", "--pid-file", "--console-socket" -> options.put(name.equals("-b") ? "--bundle" : name,
                        value(a, args));
                case "-f" -> options.put(command.equals("ps") ? "--format" : "--force",
                        command.equals("ps") ? value(a, args) : "");
                case "--force" -> options.put("--force", "");
                case "--all", "-a" -> options.put("--all", "");
                case "--format" -> options.put("--format", value(a, args));
                case "--resources", "-r" -> options.put("--resources", value(a, args));
                case "--preserve-fds" -> options.put(name, value(a, args));
                case "--memory", "--memory-swap", "--pids-limit", "--cpu-quota", "--cpu-period", "--cpu-shares",
                        "--blkio-weight", "--cpuset-cpus", "--cpuset-mems", "--memory-reservation", "--kernel-memory",
                        "--kernel-memory-tcp", "--cpu-burst", "--cpu-idle", "--cpu-rt-period", "--cpu-rt-runtime" ->
                        options.put(name, value(a, args));
                case "--no-new-keyring" -> {
                    requireOneOf(command, name, "create", "run");
                    options.put(name, Boolean.toString(bool(a)));
                }
                // run is no subreaper: the container's init reaps what the command leaves.
                case "--no-subreaper" -> requireOneOf(command, name, "run");
                case "--pidfd-socket", "--config", "--keep", "--detach", "-d" -> throw new Failure(name + ": not "
                        + "supported by crabcan-oci " + command + " (" + (name.equals("--pidfd-socket") ? "--pid-file "
                        + "names the container's init" : name.equals("--config") ? "the config is the bundle's config.json"
                        : "run waits for the container and deletes it; use create and start") + ")");
                case "--no-pivot" -> throw new Failure("--no-pivot: not supported: Crabcan always enters the container's "
                        + "root with pivot_root, which is what keeps the host's root out of reach; engines use it only "
                        + "for a root on ramfs, which pivot_root cannot leave");
                default -> {
                    if (a.startsWith("-") && !a.matches("-\\d+")) {
                        throw new Failure("unknown option " + a + " for " + command);
                    }
                    positional.add(a);
                }
            }
        }
        if (command.equals("features")) {
            out.println(Json.writePretty(dev.crabcan.internal.oci.OciFeatures.document(VERSION)).strip());
            return 0;
        }
        if (positional.isEmpty() && command.equals("run")) {
            positional.add("crabcan-" + ProcessHandle.current().pid());
        }
        if (positional.isEmpty()) {
            throw new Failure(command + " needs a container id");
        }
        String id = checkedId(positional.get(0));
        Path bundle = Path.of(options.getOrDefault("--bundle", ".")).toAbsolutePath().normalize();
        Path pidFile = options.containsKey("--pid-file") ? Path.of(options.get("--pid-file")).toAbsolutePath() : null;
        String consoleSocket = options.get("--console-socket");
        int preserveFds = preserveFds(options.getOrDefault("--preserve-fds", "0"));
        boolean newKeyring = !Boolean.parseBoolean(options.getOrDefault("--no-new-keyring", "false"));
        return switch (command) {
            case "create" -> {
                create(id, bundle, pidFile, consoleSocket, preserveFds, newKeyring);
                yield 0;
            }
            case "start" -> {
                start(id);
                yield 0;
            }
            case "state" -> {
                out.println(stateJson(id));
                yield 0;
            }
            case "kill" -> {
                kill(id, positional.size() > 1 ? positional.get(1) : "SIGTERM", options.containsKey("--all"));
                yield 0;
            }
            case "ps" -> {
                ps(id, options.getOrDefault("--format", "table"), positional.subList(1, positional.size()));
                yield 0;
            }
            case "pause", "resume" -> {
                freeze(id, command.equals("pause"));
                yield 0;
            }
            case "update" -> {
                update(id, options);
                yield 0;
            }
            case "delete" -> {
                delete(id, options.containsKey("--force"));
                yield 0;
            }
            case "run" -> run(id, bundle, pidFile, consoleSocket, preserveFds, newKeyring);
            default -> throw new Failure("unknown command " + command + "\n" + USAGE);
        };
    }

    private static void requireOneOf(String command, String option, String... commands) throws Failure {
        if (!List.of(commands).contains(command)) {
            throw new Failure("unknown option " + option + " for " + command);
        }
    }

    static String checkedId(String id) throws Failure {
        if (!ID.matcher(id).matches()) {
            throw new Failure("invalid container id '" + id + "': letters, digits, '_', '.', '+', '-'");
        }
        return id;
    }

    // ---- the commands ---------------------------------------------------------------------

    /**
     * Sets the container up in its cgroup (made here, with the config's limits). Its prestart and
     * createRuntime hooks run here, on the host with the state on stdin ("creating", init's pid),
     * while the sandbox waits with its mounts made, before its createContainer hooks and
     * pivot_root, as runc and crun run them (see {@link ContainerHooks.RuntimeHooks}). A hook that
     * fails kills the container, as the spec asks; a create that fails once the container was being
     * made then runs its poststop hooks (runtime-spec's lifecycle, steps 12 and 13; a failing one
     * is a warning). A runtime killed halfway leaves a state directory that delete removes with what
     * it recorded.
     */
    void create(String id, Path bundle, Path pidFile, String consoleSocket, int preserveFds, boolean newKeyring)
            throws Failure, SandboxException, IOException, InterruptedException {
        OciConfig.Bundle config = OciConfig.readForRuntime(bundle);
        Map<String, List<OciConfig.Hook>> hooks = withTimeouts(config.hooks());
        Sandbox sandbox = withKeyring(OciExec.withTerminal(inheritStdio(config.sandbox(), preserveFds), config,
                consoleSocket), id, newKeyring);
        Path dir = newContainerDir(id);
        long pid = -1;
        boolean began = false;
        // Held while creating, and while a failed create cleans up: a delete finding no state yet tells a
        // create in progress from a killed one, and one that waited for the lock finds it all gone.
        FileLock held = null;
        try {
            held = lock(dir);
            OciExec.keepConfig(bundle, dir);
            try (var cgroup = OciCgroup.make(dir, config.cgroupsPath(), systemdCgroup, id, sandbox.limits(),
                    config.tuning(), log)) {
                ContainerHooks inside = containerHooks(hooks, id, bundle);
                if (!hooks.getOrDefault("prestart", List.of()).isEmpty()
                        || !hooks.getOrDefault("createRuntime", List.of()).isEmpty()) {
                    inside = inside.withRuntime(initPid -> {
                        // Recorded first: kill and delete --force reach the container while its hooks run.
                        Files.writeString(dir.resolve(CREATING), "");
                        writeState(dir, containerState(id, initPid, bundle, sandbox, hooks));
                        String state = Json.write(stateOf(id, bundle, initPid, "creating"));
                        for (String kind : List.of("prestart", "createRuntime")) {
                            runHooks(kind, hooks, state, dir);
                        }
                    });
                }
                began = true;
                pid = sandbox.toBuilder().limits(OciCgroup.rlimitsOnly(sandbox.limits())).build()
                        .createDetached(dir.resolve("exec.fifo"), cgroup.procsFiles(), inside);
            }
            writeState(dir, containerState(id, pid, bundle, sandbox, hooks));
            Files.deleteIfExists(dir.resolve(CREATING));
            if (pidFile != null) {
                writeAtomically(pidFile, Long.toString(pid));
            }
        } catch (IOException | RuntimeException e) { // a SandboxException too: a prestart or createRuntime hook failed
            // Interrupted (the service's caller went away): what was made is removed all the same, but
            // no more hooks run for a caller that is gone. The interrupt is the service's again after.
            boolean callerGone = Thread.interrupted();
            try {
                if (pid > 0) {
                    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                }
                OciCgroup.remove(dir);
                if (began && !callerGone && !hooks.getOrDefault("poststop", List.of()).isEmpty()) {
                    try {
                        runHooks("poststop", hooks, Json.write(stateOf(id, bundle, 0, "stopped")), dir);
                    } catch (Failure | IOException f) {
                        log.warn(f.getMessage()); // printable: its words may quote the container's
                    } catch (InterruptedException i) {
                        Thread.currentThread().interrupt();
                    }
                }
                deleteDir(dir);
            } finally {
                if (callerGone) {
                    Thread.currentThread().interrupt();
                }
            }
            throw e;
        } finally {
            if (held != null) {
                held.close();
            }
        }
    }

    /**
     * The hooks with this runtime's default timeout where their config gives none, kept in the
     * state: start and delete bound them as create did.
     */
    private Map<String, List<OciConfig.Hook>> withTimeouts(Map<String, List<OciConfig.Hook>> hooks) {
        Map<String, List<OciConfig.Hook>> bounded = new LinkedHashMap<>();
        hooks.forEach((kind, list) -> bounded.put(kind, list.stream().map(h -> h.timeoutSeconds().isPresent() ? h
                : new OciConfig.Hook(h.path(), h.args(), h.env(), java.util.OptionalInt.of(hookTimeoutSeconds))).toList()));
        return bounded;
    }

    /** The createContainer and startContainer hooks, which the sandbox runs inside itself. */
    private static ContainerHooks containerHooks(Map<String, List<OciConfig.Hook>> hooks, String id, Path bundle) {
        List<ContainerHooks.Hook> inside = new ArrayList<>();
        for (var phase : Map.of("createContainer", ContainerHooks.Phase.CREATE_CONTAINER, "startContainer",
                ContainerHooks.Phase.START_CONTAINER).entrySet()) {
            for (OciConfig.Hook h : hooks.getOrDefault(phase.getKey(), List.of())) {
                inside.add(new ContainerHooks.Hook(phase.getValue(), h.path(), h.args(), h.env(), h.timeoutSeconds()));
            }
        }
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("ociVersion", OCI_VERSION);
        state.put("id", id);
        state.put("bundle", bundle.toString());
        return new ContainerHooks(inside, Json.write(state));
    }

    /** Runs the hooks of one kind in order; the first that fails ends it with a Failure naming it. */
    private void runHooks(String kind, Map<String, List<OciConfig.Hook>> hooks, String state, Path dir)
            throws Failure, IOException, InterruptedException {
        List<OciConfig.Hook> list = hooks.getOrDefault(kind, List.of());
        for (int i = 0; i < list.size(); i++) {
            runHook("hooks." + kind + "[" + i + "] (" + list.get(i).path() + ")", list.get(i), state, dir);
        }
    }

    /**
     * One hook: runtime-spec's args as they are (its path alone if none), exactly its env, the state
     * JSON on stdin, its output kept for the message if it fails. Hooks come from the engine, which
     * the spec trusts: they run as this process, below the helper ({@code --hook}), which kills
     * whatever the hook started if it outlives its timeout, however it detached itself.
     */
    private void runHook(String name, OciConfig.Hook hook, String state, Path dir)
            throws Failure, IOException, InterruptedException {
        int timeout = hook.timeoutSeconds().orElse(hookTimeoutSeconds);
        List<String> args = new ArrayList<>(List.of("--hook", Integer.toString(timeout), hook.path()));
        args.addAll(hook.args().isEmpty() ? List.of(hook.path()) : hook.args());
        // A file, not a pipe: a hook need not read its stdin, and a large state cannot block us.
        Path input = dir.resolve("hook.in");
        Files.writeString(input, state);
        Path output = dir.resolve("hook.out");
        ProcessBuilder pb = new ProcessBuilder().redirectInput(input.toFile()).redirectOutput(output.toFile());
        pb.environment().clear();
        for (String e : hook.env()) {
            int eq = e.indexOf('=');
            if (eq > 0) {
                pb.environment().put(e.substring(0, eq), e.substring(eq + 1));
            }
        }
        Process p;
        try {
            p = dev.crabcan.internal.launch.HelperRuntime.get().startHelper(pb, args);
        } catch (IOException e) { // a SandboxException too: the helper cannot be written or executed
            Files.deleteIfExists(input);
            throw new Failure(name + " cannot be started: " + e.getMessage());
        }
        String verdict;
        try {
            // The helper ends at the hook's timeout, or once it has killed what outlived it.
            if (!p.waitFor(timeout + START_TIMEOUT_MS / 1000, TimeUnit.SECONDS)) {
                killWithWhatItRuns(p);
                throw new Failure(name + ": the helper running it did not end within its timeout of " + timeout + " s");
            }
            verdict = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        } catch (InterruptedException e) {
            endAtOnce(p);
            throw e;
        } finally {
            Files.delete(input);
        }
        if (p.exitValue() == 0) {
            Files.delete(output);
            return;
        }
        // Its first KiB, however much it wrote and whatever the bytes are.
        byte[] start;
        try (var in = Files.newInputStream(output)) {
            start = in.readNBytes(1024);
        }
        Files.delete(output);
        String said = new String(start, StandardCharsets.UTF_8).strip().replace('\n', ' ');
        said = said.isEmpty() ? "" : ": " + said;
        if (verdict.equals("timeout")) {
            throw new Failure(name + " did not finish within its timeout of " + timeout + " s");
        } else if (verdict.startsWith("exit ")) {
            throw new Failure(name + " failed with status " + verdict.substring(5) + said);
        } else if (verdict.startsWith("signal ")) {
            throw new Failure(name + " was killed by signal " + verdict.substring(7) + said);
        }
        throw new Failure(name + " cannot be run: " + verdict);
    }

    /**
     * Interrupted: this runtime's caller went away (the service's front end was killed) or, at
     * create, the container died (a delete --force). The hook must not run on to its timeout: the
     * helper's stderr is its lifeline, whose read end only this JVM holds (a JVM per call killed
     * closes it too), so closing it makes the helper kill the hook and everything it started, and
     * exit. Waited for, so that none of it outlives the command; one that does not end in time is
     * killed with all it runs. The thread's interrupt is kept for the caller.
     */
    private static void endAtOnce(Process helper) {
        boolean interrupted = Thread.interrupted();
        try {
            helper.getErrorStream().close();
        } catch (IOException e) {
            // closed all the same: the fd is released either way
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_TIMEOUT_MS);
        while (helper.isAlive() && System.nanoTime() < deadline) {
            try {
                helper.waitFor(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            } catch (InterruptedException again) {
                interrupted = true;
            }
        }
        try {
            if (helper.isAlive()) {
                killWithWhatItRuns(helper);
            }
        } catch (InterruptedException again) {
            interrupted = true;
            helper.destroyForcibly();
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * A helper that hangs (stopped, or stuck) ends neither its hook nor what the hook started, and
     * killing it alone would leave them all to our own subreaper or init. While it lives, it is a
     * subreaper: everything the hook started stays below it, however it detached itself. So they
     * are killed first, pass after pass until none runs (each killed one stays a zombie below the
     * hung helper, and its children come up to the helper), then the helper.
     */
    private static void killWithWhatItRuns(Process helper) throws InterruptedException {
        for (int pass = 0; pass < 1000; pass++) {
            List<ProcessHandle> running = helper.descendants().filter(h -> running(h.pid())).toList();
            if (running.isEmpty()) {
                break;
            }
            running.forEach(ProcessHandle::destroyForcibly);
            Thread.sleep(1);
        }
        helper.destroyForcibly().waitFor();
    }

    /** poststart and poststop hooks that fail are warned about, and the operation goes on (runtime-spec). */
    private void runHooksWarning(String kind, State state, String stateJson, Path dir)
            throws IOException, InterruptedException {
        try {
            runHooks(kind, state.hooks(), stateJson, dir);
        } catch (Failure e) {
            log.warn(e.getMessage()); // printable: its words may quote the container's
        }
    }

    void start(String id) throws Failure, IOException, InterruptedException {
        Path dir = existing(id);
        try (FileLock lock = lock(dir)) {
            State state = readState(dir);
            String status = status(dir, state);
            if (!status.equals("created")) {
                throw new Failure("container " + id + " is " + status + ", not created: it can be started once");
            }
            Path fifo = dir.resolve("exec.fifo");
            // Opening the FIFO releases the command, which is blocked opening its other end; it runs
            // its startContainer hooks, then writes '0', or 'H' and why they failed.
            CompletableFuture<String> released = CompletableFuture.supplyAsync(() -> {
                try (FileInputStream in = new FileInputStream(fifo.toFile())) {
                    int first = in.read();
                    if (first != 'H') {
                        return String.valueOf(first);
                    }
                    // Not readNBytes: FileInputStream's seeks, which a FIFO refuses.
                    java.io.ByteArrayOutputStream why = new java.io.ByteArrayOutputStream();
                    byte[] buf = new byte[4096];
                    for (int n; (n = in.read(buf)) > 0; ) {
                        why.write(buf, 0, n);
                    }
                    return why.toString(java.nio.charset.StandardCharsets.UTF_8);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            /*
             * A hook's file lies in the container, whose processes may stop the process that waits
             * for the hooks (it runs as their user) or keep a killed hook from being reaped: start
             * waits as long as their timeouts (each has one since create) allow and no longer.
             */
            List<OciConfig.Hook> inside = state.hooks().getOrDefault("startContainer", List.of());
            long hooksMs = inside.stream().mapToLong(h -> h.timeoutSeconds().orElse(hookTimeoutSeconds) * 1000L).sum();
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_TIMEOUT_MS + hooksMs);
            while (true) {
                try {
                    String verdict = released.get(50, TimeUnit.MILLISECONDS);
                    if (verdict.equals("-1")) {
                        throw new Failure("container " + id + " stopped before it could be started");
                    }
                    if (!verdict.equals(String.valueOf((int) '0'))) {
                        throw new Failure("container " + id + ": hooks.startContainer failed, and it stopped: " + verdict);
                    }
                    break;
                } catch (TimeoutException e) {
                    if (!alive(state) || (inside.isEmpty() && System.nanoTime() > deadline)) {
                        throw new Failure("container " + id + " did not take the start signal: it has stopped");
                    }
                    if (System.nanoTime() > deadline) {
                        // runtime-spec: a startContainer hook that fails stops the container.
                        sendSignal(state, signalNumber("KILL"));
                        throw new Failure("container " + id + ": hooks.startContainer gave no verdict within their "
                                + "timeouts (" + hooksMs / 1000 + " s) and " + START_TIMEOUT_MS / 1000
                                + " s more, and it was stopped");
                    }
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new Failure("cannot release container " + id + ": " + e.getCause().getMessage());
                }
            }
            Files.delete(fifo);
            runHooksWarning("poststart", state, hookState(id), dir);
        }
    }

    /** The state as runc's state command prints it: runtime-spec's fields and runc's rootfs, created and owner. */
    String stateJson(String id) throws Failure, IOException {
        return Json.writePretty(state(id, true)).strip();
    }

    /** runtime-spec's state, which a hook reads on stdin: compact, its fields only. */
    private String hookState(String id) throws Failure, IOException {
        return Json.write(state(id, false));
    }

    private static State containerState(String id, long pid, Path bundle, Sandbox sandbox,
            Map<String, List<OciConfig.Hook>> hooks) throws IOException {
        return new State(id, pid, startTime(pid), bundle.toString(), sandbox.rootfs().map(Path::toString).orElse(""),
                java.time.Instant.now().toString(), hooks, sandbox.sessionKeyring().isPresent());
    }

    /**
     * The state the prestart and createRuntime hooks read, "creating" (init waits), and poststop
     * after a failed create, "stopped".
     */
    private static Map<String, Object> stateOf(String id, Path bundle, long initPid, String status) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ociVersion", OCI_VERSION);
        m.put("id", id);
        m.put("pid", initPid);
        m.put("status", status);
        m.put("bundle", bundle.toString());
        return m;
    }

    private Map<String, Object> state(String id, boolean runc) throws Failure, IOException {
        Path dir = existing(id);
        State state = readState(dir);
        String status = status(dir, state);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ociVersion", OCI_VERSION);
        m.put("id", id);
        m.put("pid", status.equals("stopped") ? 0 : state.pid());
        m.put("status", status);
        m.put("bundle", state.bundle());
        if (runc) {
            m.put("rootfs", state.rootfs());
            m.put("created", state.created());
            m.put("owner", "");
        }
        return m;
    }

    /** Signals init, or with all every process of the container (its cgroup's, else its PID namespace's). */
    void kill(String id, String signal, boolean all) throws Failure, IOException {
        int sig = signalNumber(signal);
        Path dir = existing(id);
        State state = readState(dir);
        if (status(dir, state).equals("stopped")) {
            throw new Failure("container " + id + " is not running");
        }
        if (all) {
            for (long pid : OciCgroup.pids(dir, state.pid())) {
                // Each still the container's when its pidfd is open: a pid reused since is left alone.
                dev.crabcan.internal.sys.LibC.signal(pid, sig, () -> pidsOf(dir, state).contains(pid));
            }
        } else if (!sendSignal(state, sig)) {
            throw new Failure("cannot send signal " + signal + " to container " + id + " (init pid " + state.pid() + ")");
        }
    }

    /**
     * runc's ps: json, the host pids of the container's processes as a JSON array; table, the
     * lines of {@code ps} (its arguments, default -ef) whose PID is one of them, under ps's header.
     */
    void ps(String id, String format, List<String> psArgs) throws Failure, IOException, InterruptedException {
        Path dir = existing(id);
        State state = readState(dir);
        List<Long> pids = status(dir, state).equals("stopped") ? List.of() : OciCgroup.pids(dir, state.pid());
        if (format.equals("json")) {
            out.println(Json.write(pids));
            return;
        }
        if (!format.equals("table")) {
            throw new Failure("ps --format " + format + ": must be table or json");
        }
        List<String> command = new ArrayList<>(List.of("ps"));
        command.addAll(psArgs.isEmpty() ? List.of("-ef") : psArgs);
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        List<String> lines = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        if (p.waitFor() != 0 || lines.isEmpty()) {
            throw new Failure(String.join(" ", command) + " failed: " + String.join(" ", lines));
        }
        int column = java.util.Arrays.asList(lines.get(0).trim().split("\\s+")).indexOf("PID");
        if (column < 0) {
            throw new Failure(String.join(" ", command) + " printed no PID column");
        }
        out.println(lines.get(0));
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.trim().split("\\s+");
            if (f.length > column && f[column].matches("\\d+") && pids.contains(Long.parseLong(f[column]))) {
                out.println(line);
            }
        }
    }

    /** pause (frozen) or resume: the cgroup freezer, v1 or v2. */
    void freeze(String id, boolean frozen) throws Failure, IOException {
        Path dir = existing(id);
        try (FileLock lock = lock(dir)) {
            State state = readState(dir);
            String status = status(dir, state);
            if (frozen ? !status.equals("running") && !status.equals("created") : !status.equals("paused")) {
                throw new Failure("container " + id + " is " + status + ": " + (frozen ? "only a running container "
                        + "can be paused" : "only a paused container can be resumed"));
            }
            var cgroup = OciCgroup.read(dir).orElseThrow(() -> new Failure("container " + id + " has no cgroup (the "
                    + "runtime could not make one, and it asks for no limit), and pausing needs one"));
            try {
                cgroup.freeze(frozen);
            } catch (SandboxException e) {
                throw new Failure(e.getMessage());
            }
        }
    }

    /**
     * runc's update: the limits of a runtime-spec linux.resources object (--resources FILE, or -
     * for stdin) and of the flags, applied to the container's cgroup; limits not named stay.
     */
    void update(String id, Map<String, String> options) throws Failure, IOException, InterruptedException {
        Map<String, Object> resources = new LinkedHashMap<>();
        if (options.containsKey("--resources")) {
            String file = options.get("--resources");
            String text = file.equals("-") ? new String(in.readAllBytes(), StandardCharsets.UTF_8)
                    : Files.readString(Path.of(file));
            try {
                Object parsed = Json.parse(text);
                if (!(parsed instanceof Map<?, ?> map)) {
                    throw new Failure("--resources " + file + ": not a JSON object");
                }
                map.forEach((k, v) -> resources.put((String) k, v));
            } catch (Json.ParseException e) {
                throw new Failure("--resources " + file + ": " + e.getMessage());
            }
        }
        flag(options, "--memory", resources, "memory", "limit");
        flag(options, "--memory-swap", resources, "memory", "swap");
        flag(options, "--pids-limit", resources, "pids", "limit");
        flag(options, "--cpu-quota", resources, "cpu", "quota");
        flag(options, "--cpu-period", resources, "cpu", "period");
        flag(options, "--cpu-shares", resources, "cpu", "shares");
        flag(options, "--blkio-weight", resources, "blockIO", "weight");
        listFlag(options, "--cpuset-cpus", resources, "cpus");
        listFlag(options, "--cpuset-mems", resources, "mems");
        flag(options, "--memory-reservation", resources, "memory", "reservation");
        flag(options, "--kernel-memory", resources, "memory", "kernel");
        flag(options, "--kernel-memory-tcp", resources, "memory", "kernelTCP");
        flag(options, "--cpu-burst", resources, "cpu", "burst");
        flag(options, "--cpu-idle", resources, "cpu", "idle");
        flag(options, "--cpu-rt-period", resources, "cpu", "realtimePeriod");
        flag(options, "--cpu-rt-runtime", resources, "cpu", "realtimeRuntime");
        OciConfig.Resources read = OciConfig.readResources(resources);
        Path dir = existing(id);
        State state = readState(dir);
        if (status(dir, state).equals("stopped")) {
            throw new Failure("container " + id + " is stopped: there is nothing to update");
        }
        var cgroup = OciCgroup.read(dir).orElseThrow(() -> new Failure("container " + id + " has no cgroup (the "
                + "runtime could not make one at create), so its limits cannot change"));
        try {
            OciCgroup.update(dir, cgroup, read.limits(), read.tuning());
        } catch (SandboxException e) {
            throw new Failure(e.getMessage());
        }
    }

    /** One of update's flags as the resources field it sets; runc's values are numbers. */
    @SuppressWarnings("unchecked")
    private static void flag(Map<String, String> options, String name, Map<String, Object> resources, String group,
            String field) throws Failure {
        if (!options.containsKey(name)) {
            return;
        }
        long value;
        try {
            value = Long.parseLong(options.get(name));
        } catch (NumberFormatException e) {
            throw new Failure(name + " " + options.get(name) + ": not a number");
        }
        ((Map<String, Object>) resources.computeIfAbsent(group, g -> new LinkedHashMap<>())).put(field, value);
    }

    /** --cpuset-cpus or --cpuset-mems as the cpu field it sets: a list such as 0-3,6, which the config checks. */
    @SuppressWarnings("unchecked")
    private static void listFlag(Map<String, String> options, String name, Map<String, Object> resources, String field) {
        if (options.containsKey(name)) {
            ((Map<String, Object>) resources.computeIfAbsent("cpu", g -> new LinkedHashMap<>())).put(field,
                    options.get(name));
        }
    }

    /**
     * Removes a stopped container (with force, kills it first), its cgroup and its state; also
     * what a create killed halfway left: a state directory with no state, and the cgroup it
     * recorded. With force, a container that does not exist is no error (runc's, which engines
     * rely on when they clean up twice).
     */
    void delete(String id, boolean force) throws Failure, IOException, InterruptedException {
        Path dir = trustedRoot().resolve(id);
        if (force && !Files.exists(dir)) {
            return;
        }
        if (Files.isDirectory(dir) && !Files.exists(dir.resolve("state.json"))) {
            Optional<FileLock> lock = tryLock(dir);
            if (lock.isEmpty()) {
                throw new Failure("container " + id + " is being created by another crabcan-oci process");
            }
            try (FileLock held = lock.get()) {
                OciCgroup.remove(dir); // kills what the interrupted create started in it
            }
            deleteDir(dir);
            return;
        }
        dir = existing(id);
        if (force) {
            Optional<FileLock> free = tryLock(dir);
            if (free.isEmpty()) {
                // Held: by a create whose prestart or createRuntime hooks run, say. Its container dies now;
                // the create then fails once they are done, and this goes on when it lets go.
                State state = readState(dir);
                if (alive(state)) {
                    ProcessHandle.of(state.pid()).ifPresent(ProcessHandle::destroyForcibly);
                }
            } else {
                free.get().close();
            }
        }
        FileLock held;
        try {
            held = lock(dir);
        } catch (java.nio.file.NoSuchFileException e) {
            if (force) {
                return; // its create failed meanwhile and removed it
            }
            throw e;
        }
        try (FileLock lock = held) {
            if (force && !Files.exists(dir.resolve("state.json"))) {
                return; // its create failed meanwhile (the hooks' container was killed above) and removed it
            }
            State state = readState(dir);
            String status = status(dir, state);
            if (!status.equals("stopped")) {
                if (!force) {
                    throw new Failure("container " + id + " is " + status + ": stop it first, or use delete --force");
                }
                OciCgroup.remove(dir); // thaws a paused container and kills every process in its cgroup
                ProcessHandle.of(state.pid()).ifPresent(ProcessHandle::destroyForcibly);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (alive(state)) {
                    if (System.nanoTime() > deadline) {
                        throw new Failure("container " + id + " (init pid " + state.pid() + ") survived SIGKILL for 10 s");
                    }
                    Thread.sleep(10);
                }
            }
            runHooksWarning("poststop", state, hookState(id), dir);
            OciCgroup.remove(dir);
        }
        deleteDir(dir);
    }

    /** create, start and wait in one, in this process: the exit status is the container's. */
    int run(String id, Path bundle, Path pidFile, String consoleSocket, int preserveFds, boolean newKeyring)
            throws Failure, SandboxException, IOException, InterruptedException {
        OciConfig.Bundle config = OciConfig.readForRuntime(bundle);
        if (!config.hooks().isEmpty()) {
            throw new Failure("hooks: run starts the command at once; use create and start, which run "
                    + String.join(", ", OciConfig.RUNTIME_HOOKS) + " hooks");
        }
        if (!config.tuning().isEmpty()) {
            throw new Failure(config.tuning().values().keySet().iterator().next().field() + ": not supported by run, "
                    + "whose container gets a sandbox's cgroup; use create and start, which write it into the "
                    + "container's cgroup");
        }
        Sandbox sandbox = withKeyring(OciExec.withTerminal(inheritStdio(config.sandbox(), preserveFds), config,
                consoleSocket), id, newKeyring);
        Path dir = newContainerDir(id);
        try {
            OciExec.keepConfig(bundle, dir);
            var process = sandbox.start();
            long pid = process.pid();
            long started;
            try {
                started = startTime(pid);
            } catch (IOException e) {
                started = -1; // already gone: its state says stopped
            }
            writeState(dir, new State(id, pid, started, bundle.toString(), sandbox.rootfs().map(Path::toString).orElse(""),
                    java.time.Instant.now().toString(), Map.of(), sandbox.sessionKeyring().isPresent()));
            if (pidFile != null) {
                writeAtomically(pidFile, Long.toString(pid));
            }
            ExitStatus status = process.waitForStatus();
            return status.shellCode();
        } finally {
            deleteDir(dir);
        }
    }

    /** "9", "KILL" or "SIGKILL". */
    static int signalNumber(String signal) throws Failure {
        if (signal.matches("\\d{1,2}")) {
            return Integer.parseInt(signal);
        }
        String name = signal.toUpperCase(java.util.Locale.ROOT);
        name = name.startsWith("SIG") ? name : "SIG" + name;
        for (jnr.constants.platform.Signal s : jnr.constants.platform.Signal.values()) {
            if (s.defined() && s.name().equals(name)) {
                return s.intValue();
            }
        }
        throw new Failure("unknown signal " + signal);
    }

    /**
     * Any signal (the JDK offers only SIGTERM and SIGKILL) to the container's init through a
     * pidfd: opened first, then init checked to still be the container's (its start time), so a
     * pid reused by another process since the state was read is never signalled.
     */
    private static boolean sendSignal(State state, int signal) throws IOException {
        return dev.crabcan.internal.sys.LibC.signal(state.pid(), signal, () -> alive(state));
    }

    /** The container's processes now, none if they cannot be read. */
    private static List<Long> pidsOf(Path dir, State state) {
        try {
            return OciCgroup.pids(dir, state.pid());
        } catch (Failure | IOException e) {
            return List.of();
        }
    }

    // ---- state ----------------------------------------------------------------------------

    /**
     * What create records; the start time tells init from a later process that got its pid. The
     * hooks are kept from create: the bundle may be gone by delete (an engine unmounts it).
     * ownKeyring: the container joined a session keyring of its own, which exec joins too (a state
     * written before there were any says false: its container kept the caller's).
     */
    record State(String id, long pid, long startTime, String bundle, String rootfs, String created,
            Map<String, List<OciConfig.Hook>> hooks, boolean ownKeyring) {}

    /**
     * runc's session keyring: a new one named after the container, which its processes hold instead
     * of the caller's (the engine's), unless --no-new-keyring, which keeps the caller's.
     */
    static Sandbox withKeyring(Sandbox s, String id, boolean newKeyring) {
        return newKeyring ? s.toBuilder().sessionKeyring("_ses." + id).build()
                : s.toBuilder().keepCallersSessionKeyring().build();
    }

    /** The caller's stdio, and its fds 3 to 3+preserveFds-1 at the same numbers (runc's --preserve-fds). */
    static Sandbox inheritStdio(Sandbox s, int preserveFds) {
        Sandbox.Builder b = s.toBuilder().stdin(Stdio.inherit()).stdout(Stdio.inherit()).stderr(Stdio.inherit());
        for (int fd = 3; fd < 3 + preserveFds; fd++) {
            b.inheritFd(fd);
        }
        return b.build();
    }

    /**
     * runc's --preserve-fds N. The caller's fds reach the container only through the native front
     * end, which keeps them for the sandbox helpers it forks; a JVM started for the call has none
     * of them (the front end marks them close-on-exec), and its launcher refuses the sandbox.
     */
    static int preserveFds(String value) throws Failure {
        int most = dev.crabcan.internal.plan.Contract.MAX_PASSED_FDS;
        if (!value.matches("\\d{1,9}") || Integer.parseInt(value) > most) {
            throw new Failure("--preserve-fds " + value + ": a number of fds from 0 to " + most);
        }
        return Integer.parseInt(value);
    }

    /**
     * The state root, made if missing, once it is shown to be this user's alone: its state files
     * name the processes that kill signals and the FIFO a container waits on, so another user who
     * could plant or change them (a predictable name in /tmp) could make us signal our own
     * processes or release a container.
     */
    private Path trustedRoot() throws Failure {
        try {
            return dev.crabcan.internal.launch.PrivateDirs.create(root, dev.crabcan.internal.host.HostInfo.get().euid());
        } catch (IOException e) {
            throw new Failure("the state directory " + root + " cannot be trusted: " + e.getMessage()
                    + "; choose another with --root DIR");
        }
    }

    private Path newContainerDir(String id) throws Failure, IOException {
        Path dir = trustedRoot().resolve(id);
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (FileAlreadyExistsException e) {
            throw new Failure("container " + id + " already exists in " + root);
        }
        return dir;
    }

    Path existing(String id) throws Failure {
        Path dir = trustedRoot().resolve(id);
        if (!Files.exists(dir.resolve("state.json"))) {
            throw new Failure("container " + id + " does not exist in " + root);
        }
        return dir;
    }

    /** Serializes start and delete of one container; other containers are not held up. */
    /**
     * The container's lock, waited for. In the service another request of this JVM may hold it,
     * and the JVM refuses a second lock of a file it holds (OverlappingFileLockException) rather
     * than wait: this waits for that too.
     */
    private static FileLock lock(Path dir) throws IOException {
        for (;;) {
            Optional<FileLock> lock = tryLock(dir);
            if (lock.isPresent()) {
                return lock.get();
            }
            FileChannel ch = FileChannel.open(dir.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            try {
                return ch.lock();
            } catch (java.nio.channels.OverlappingFileLockException e) {
                ch.close();
                try {
                    Thread.sleep(10);
                } catch (InterruptedException i) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted while waiting for the lock of " + dir);
                }
            }
        }
    }

    /** The container's lock if nobody holds it, this JVM's other requests included; else empty. */
    private static Optional<FileLock> tryLock(Path dir) throws IOException {
        FileChannel ch = FileChannel.open(dir.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            FileLock lock = ch.tryLock();
            if (lock == null) {
                ch.close();
            }
            return Optional.ofNullable(lock);
        } catch (java.nio.channels.OverlappingFileLockException e) {
            ch.close();
            return Optional.empty();
        }
    }

    private static void writeState(Path dir, State s) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", s.id());
        m.put("pid", s.pid());
        m.put("startTime", s.startTime());
        m.put("bundle", s.bundle());
        m.put("rootfs", s.rootfs());
        m.put("created", s.created());
        Map<String, Object> hooks = new LinkedHashMap<>();
        s.hooks().forEach((kind, list) -> hooks.put(kind, list.stream().map(h -> {
            Map<String, Object> hook = new LinkedHashMap<>();
            hook.put("path", h.path());
            hook.put("args", h.args());
            hook.put("env", h.env());
            h.timeoutSeconds().ifPresent(t -> hook.put("timeout", (long) t));
            return hook;
        }).toList()));
        m.put("hooks", hooks);
        m.put("ownKeyring", s.ownKeyring());
        writeAtomically(dir.resolve("state.json"), Json.write(m));
    }

    static State readState(Path dir) throws Failure, IOException {
        Map<?, ?> m;
        try {
            m = (Map<?, ?>) Json.parse(Files.readString(dir.resolve("state.json")));
        } catch (Json.ParseException | ClassCastException e) {
            throw new Failure("the state file " + dir.resolve("state.json") + " is damaged: " + e.getMessage());
        }
        Map<String, List<OciConfig.Hook>> hooks = new LinkedHashMap<>();
        ((Map<?, ?>) m.get("hooks")).forEach((kind, list) -> hooks.put((String) kind, ((List<?>) list).stream()
                .map(x -> (Map<?, ?>) x).map(h -> new OciConfig.Hook((String) h.get("path"), strings(h.get("args")),
                        strings(h.get("env")), h.get("timeout") == null ? java.util.OptionalInt.empty()
                        : java.util.OptionalInt.of(((Long) h.get("timeout")).intValue()))).toList()));
        return new State((String) m.get("id"), (Long) m.get("pid"), (Long) m.get("startTime"), (String) m.get("bundle"),
                (String) m.get("rootfs"), (String) m.get("created"), hooks, Boolean.TRUE.equals(m.get("ownKeyring")));
    }

    private static List<String> strings(Object list) {
        return ((List<?>) list).stream().map(x -> (String) x).toList();
    }

    static String status(Path dir, State s) throws Failure, IOException {
        if (!alive(s)) {
            return "stopped";
        }
        if (Files.exists(dir.resolve(CREATING))) {
            return "creating";
        }
        if (OciCgroup.read(dir).map(c -> c.frozen()).orElse(false)) {
            return "paused";
        }
        return Files.exists(dir.resolve("exec.fifo")) ? "created" : "running";
    }

    /** Whether init still runs: the same pid with the same start time, and not a zombie. */
    private static boolean alive(State s) {
        String[] f = statFields(s.pid());
        return f != null && !f[0].equals("Z") && !f[0].equals("X") && Long.parseLong(f[19]) == s.startTime();
    }

    /** Whether the process exists and is no zombie. */
    private static boolean running(long pid) {
        String[] f = statFields(pid);
        return f != null && !f[0].equals("Z") && !f[0].equals("X");
    }

    /** The fields of /proc/PID/stat after the command name (state first), or null if it is gone. */
    private static String[] statFields(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        } catch (IOException e) {
            return null;
        }
    }

    static long startTime(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[19]);
    }

    static void writeAtomically(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void deleteDir(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) {
                Files.deleteIfExists(p);
            }
        } catch (NoSuchFileException e) {
            return;
        }
        Files.deleteIfExists(dir);
    }
}
