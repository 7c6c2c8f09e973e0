package dev.crabcan.examples;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.Terminal;
import dev.crabcan.internal.cgroup.JoinedCgroups;
import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.json.Json;
import dev.crabcan.internal.launch.HelperRuntime;
import dev.crabcan.internal.launch.Launcher;
import dev.crabcan.internal.launch.Session;
import dev.crabcan.internal.oci.OciConfig;
import dev.crabcan.internal.plan.Contract;
import dev.crabcan.internal.plan.PlanCompiler;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;

/**
 * {@code crabcan-oci exec}, with runc's flags: runs a process in a running container, joining its
 * namespaces and cgroups, with the container's seccomp filter and, unless the process says
 * otherwise, its user, capabilities, rlimits and environment. The process is read from
 * {@code --process FILE} (runtime-spec's {@code process} object, which engines send), or is the
 * container's own with the command line's changes, as runc makes it.
 */
final class OciExec {
    static final String USAGE = "  exec [--process FILE | ID ARGS...] [--detach] [--pid-file FILE] [--tty] "
            + "[--console-socket PATH] [--env K=V]... [--cwd DIR] [--user UID[:GID]] [--cap CAP]... [--no-new-privs] "
            + "[--preserve-fds N] ID";
    /** The container's config.json as it was at create, kept in its state directory. */
    static final String CONFIG = "config.json";

    private OciExec() {}

    /** Keeps the config create read: exec applies the container's settings, not what the bundle says later. */
    static void keepConfig(Path bundle, Path stateDir) throws IOException {
        Files.copy(bundle.resolve(CONFIG), stateDir.resolve(CONFIG), StandardCopyOption.COPY_ATTRIBUTES);
    }

    /**
     * A sandbox's terminal from the config's process.terminal and the engine's console socket;
     * one without the other is refused, as runc does.
     */
    static Sandbox withTerminal(Sandbox s, OciConfig.Bundle config, String consoleSocket) throws OciRuntime.Failure {
        if (config.terminal() && consoleSocket == null) {
            throw new OciRuntime.Failure("process.terminal is true: the terminal's master goes to a console socket, "
                    + "so --console-socket PATH is needed");
        }
        if (!config.terminal() && consoleSocket != null) {
            throw new OciRuntime.Failure("--console-socket is given, but process.terminal is false (no terminal to send)");
        }
        return consoleSocket == null ? s : s.toBuilder().terminal(Terminal.sentTo(Path.of(consoleSocket).toAbsolutePath())
                .withSize(config.rows(), config.columns())).build();
    }

    /** The command line after "exec". */
    static int exec(OciRuntime runtime, List<String> args) throws OciRuntime.Failure, SandboxException, IOException,
            InterruptedException {
        String processFile = null, pidFile = null, consoleSocket = null, cwd = null, user = null;
        boolean detach = false, tty = false, noNewPrivs = false;
        int preserveFds = 0;
        List<String> env = new ArrayList<>(), caps = new ArrayList<>(), additionalGids = new ArrayList<>();
        while (!args.isEmpty() && args.get(0).startsWith("-")) {
            String a = args.remove(0);
            if (a.equals("--")) {
                break;
            }
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            switch (name) {
                case "--process", "-p" -> processFile = OciRuntime.value(a, args);
                case "--pid-file" -> pidFile = OciRuntime.value(a, args);
                case "--console-socket" -> consoleSocket = OciRuntime.value(a, args);
                case "--cwd" -> cwd = OciRuntime.value(a, args);
                case "--preserve-fds" -> preserveFds = OciRuntime.preserveFds(OciRuntime.value(a, args));
                case "--user", "-u" -> user = OciRuntime.value(a, args);
                case "--env", "-e" -> env.add(OciRuntime.value(a, args));
                case "--cap", "-c" -> caps.add(OciRuntime.value(a, args));
                case "--additional-gids", "-g" -> additionalGids.add(OciRuntime.value(a, args));
                // Crabcan uses no Linux security module: there is no profile or label to apply.
                case "--apparmor", "--process-label" -> OciRuntime.value(a, args);
                case "--detach", "-d" -> detach = true;
                case "--tty", "-t" -> tty = true;
                case "--no-new-privs" -> noNewPrivs = true;
                default -> throw new OciRuntime.Failure("unknown option " + a + " for exec");
            }
        }
        if (args.isEmpty()) {
            throw new OciRuntime.Failure("exec needs a container id\n" + USAGE);
        }
        String id = OciRuntime.checkedId(args.remove(0));
        if (processFile == null && args.isEmpty()) {
            throw new OciRuntime.Failure("exec needs a command, or --process FILE");
        }
        Path dir = runtime.existing(id);
        OciRuntime.State state = OciRuntime.readState(dir);
        String status = OciRuntime.status(dir, state);
        if (status.equals("stopped")) {
            throw new OciRuntime.Failure("container " + id + " is stopped: exec needs a running container");
        }
        Map<String, Object> config = object(parse(dir.resolve(CONFIG)), "the container's config");
        Map<String, Object> process;
        if (processFile != null) {
            // As runc: the process file is the whole process; the other process flags do not apply.
            process = object(parse(Path.of(processFile)), "--process " + processFile);
        } else {
            process = new LinkedHashMap<>(object(config.get("process"), "the container's process"));
            process.put("args", List.copyOf(args));
            List<Object> allEnv = new ArrayList<>(process.get("env") == null ? List.of() : (List<?>) process.get("env"));
            allEnv.addAll(env);
            process.put("env", allEnv);
            if (cwd != null) {
                process.put("cwd", cwd);
            }
            process.put("terminal", tty);
            if (noNewPrivs) {
                process.put("noNewPrivileges", true);
            }
            if (user != null || !additionalGids.isEmpty()) {
                Map<String, Object> u = new LinkedHashMap<>(object(process.get("user"), "process.user"));
                if (user != null) {
                    String[] ids = user.split(":", 2);
                    u.put("uid", number(ids[0], "--user"));
                    if (ids.length > 1) {
                        u.put("gid", number(ids[1], "--user"));
                    }
                }
                List<Object> gids = new ArrayList<>();
                for (String g : additionalGids) {
                    gids.add(number(g, "--additional-gids"));
                }
                if (!gids.isEmpty()) {
                    u.put("additionalGids", gids);
                }
                process.put("user", u);
            }
            if (!caps.isEmpty()) {
                process.put("capabilities", withCaps(process.get("capabilities"), caps));
            }
        }
        config = new LinkedHashMap<>(config);
        config.put("process", process);
        OciConfig.Bundle read = OciConfig.readForRuntime(Path.of(state.bundle()), config, "exec in container " + id);
        // runc's exec joins the container's session keyring by name (made searchable for it by init).
        Sandbox sandbox = OciRuntime.withKeyring(withTerminal(OciRuntime.inheritStdio(read.sandbox(), preserveFds), read,
                consoleSocket), id, state.ownKeyring());
        return run(sandbox, state, detach, pidFile == null ? null : Path.of(pidFile).toAbsolutePath(), runtime);
    }

    /** runc's --cap: added to the bounding, effective and permitted sets, and to ambient where inheritable is set. */
    private static Map<String, Object> withCaps(Object current, List<String> caps) throws OciRuntime.Failure {
        Map<String, Object> c = current == null ? new LinkedHashMap<>()
                : new LinkedHashMap<>(object(current, "process.capabilities"));
        List<String> sets = new ArrayList<>(List.of("bounding", "effective", "permitted"));
        if (c.get("inheritable") != null) {
            sets.add("ambient");
        }
        for (String set : sets) {
            List<Object> names = new ArrayList<>(c.get(set) == null ? List.of() : (List<?>) c.get(set));
            for (String cap : caps) {
                String name = cap.toUpperCase(java.util.Locale.ROOT);
                name = name.startsWith("CAP_") ? name : "CAP_" + name;
                if (!names.contains(name)) {
                    names.add(name);
                }
            }
            c.put(set, names);
        }
        return c;
    }

    private static int run(Sandbox sandbox, OciRuntime.State state, boolean detach, Path pidFile, OciRuntime runtime)
            throws OciRuntime.Failure, SandboxException, IOException, InterruptedException {
        HostInfo host = HostInfo.get();
        host.requireSupported();
        long commandPid = commandOf(state.pid());
        PlanCompiler.JoinTarget target = new PlanCompiler.JoinTarget(state.pid(), state.startTime(), commandPid,
                commandPid == 0 ? 0 : OciRuntime.startTime(commandPid));
        List<Path> cgroups = JoinedCgroups.procsFiles(state.pid(), host.isHostRoot());
        Launcher.Launched launched = HelperRuntime.get().launcher().launch(io -> PlanCompiler.compileJoin(sandbox, host,
                target, cgroups, io, detach), sandbox.stdin(), sandbox.stdout(), sandbox.stderr(), sandbox.passedFds());
        Session session = launched.session();
        Session.Start started;
        try {
            started = session.started().get();
        } catch (ExecutionException e) {
            session.kill();
            throw new SandboxException("the exec failed to start: " + e.getCause(), e.getCause());
        }
        if (!(started instanceof Session.Executed)) {
            session.kill();
            throw new OciRuntime.Failure(why(started));
        }
        if (pidFile != null) {
            OciRuntime.writeAtomically(pidFile, Long.toString(session.pid()));
        }
        if (detach) {
            session.leftRunning();
            return 0;
        }
        try {
            return session.ended().get().status().shellCode();
        } catch (ExecutionException e) {
            throw new SandboxException("lost the exec'd process: " + e.getCause(), e.getCause());
        }
    }

    /**
     * The container's command: init's first child (init forks nothing else; orphans it adopts come
     * later), or 0 when it has none. Joined instead of init by a caller that may not enter init.
     */
    private static long commandOf(long init) {
        try {
            String children = Files.readString(Path.of("/proc/" + init + "/task/" + init + "/children")).strip();
            return children.isEmpty() ? 0 : Long.parseLong(children.split(" ")[0]);
        } catch (IOException e) {
            return 0;
        }
    }

    /** runc's wording where engines look for it ("executable file not found in $PATH": podman's 127). */
    private static String why(Session.Start started) {
        if (started instanceof Session.ExecFailed f) {
            return "exec failed: " + f.path() + ": " + (f.kind().equals(Contract.EXEC_NOT_FOUND)
                    ? "executable file not found in $PATH" : f.kind().equals(Contract.EXEC_OTHER) ? strerror(f.errno())
                    : "its interpreter " + f.interpreter() + " is not in the container");
        }
        if (started instanceof Session.SetupFailed f) {
            return "exec failed: " + f.step() + " " + f.detail() + (f.errno() == 0 ? "" : ": " + strerror(f.errno()));
        }
        return "exec failed: " + ((Session.Lost) started).why();
    }

    private static String strerror(int errno) {
        jnr.constants.platform.Errno e = jnr.constants.platform.Errno.valueOf(errno);
        return e == null || !e.defined() ? "errno " + errno : e.description();
    }

    private static Object parse(Path file) throws OciRuntime.Failure, IOException {
        try {
            return Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        } catch (Json.ParseException e) {
            throw new OciRuntime.Failure(file + " is not valid JSON: " + e.getMessage());
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object v, String what) throws OciRuntime.Failure {
        if (!(v instanceof Map)) {
            throw new OciRuntime.Failure(what + " is not a JSON object");
        }
        return (Map<String, Object>) v;
    }

    private static long number(String s, String flag) throws OciRuntime.Failure {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new OciRuntime.Failure(flag + " " + s + ": not a number");
        }
    }
}
