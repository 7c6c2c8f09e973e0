package dev.crabcan.examples;

import dev.crabcan.Limits;
import dev.crabcan.SandboxException;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.internal.cgroup.CgroupTuning;
import dev.crabcan.internal.cgroup.RuntimeCgroup;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A container's cgroup under {@code --systemd-cgroup}, as runc and crun make it: a transient scope
 * unit that systemd starts (StartTransientUnit) in the slice of cgroupsPath's
 * {@code slice:prefix:name}, with Delegate=yes and the container's limits as its properties (so
 * that systemd, which owns the scope's own cgroup files, keeps them on a daemon-reload), and that
 * delete stops. The calls go through busctl (systemd's own D-Bus client): no D-Bus library, and
 * no process of ours stays. systemd starts a scope only around a process that exists, so a
 * placeholder ({@code sleep}) is started into it and killed once the container's init is in it;
 * a scope without processes is stopped by systemd. Host root talks to the system manager, any
 * other caller to its user manager (--user), as rootless runc does.
 */
final class OciScope {
    private static final long CALL_TIMEOUT_MS = 30_000;
    private static final long MOVE_TIMEOUT_MS = 10_000;

    /** The unit and where it goes: its manager's bus is the user's unless userBus is false. */
    record Unit(String name, String slice, boolean userBus) {}

    private OciScope() {}

    /** Whether systemd is this host's init: sd_booted(3)'s test. */
    static boolean systemdRuns() {
        return Files.isDirectory(Path.of("/run/systemd/system"));
    }

    /** cgroupsPath's {@code slice:prefix:name} (default {@code system.slice:crabcan:ID}) as a scope unit. */
    static Unit unit(String cgroupsPath, String id, boolean hostRoot) {
        String path = cgroupsPath == null || cgroupsPath.isEmpty() ? "system.slice:crabcan:" + id : cgroupsPath;
        RuntimeCgroup.systemdPath(path); // refuses a malformed one, naming it
        String[] f = path.split(":", -1);
        if (f[2].endsWith(".slice")) {
            throw new SandboxSpecException("linux.cgroupsPath '" + path + "': a slice as the container's own unit is "
                    + "not supported; name a scope, slice:prefix:name");
        }
        return new Unit((f[1].isEmpty() ? "" : f[1] + "-") + f[2] + ".scope", f[0].isEmpty() ? "-.slice" : f[0],
                !hostRoot);
    }

    /** A placeholder process for the scope to be started around; the caller kills it once init is in the scope. */
    static Process placeholder() throws SandboxException {
        try {
            return new ProcessBuilder("sleep", "3600").redirectInput(ProcessBuilder.Redirect.from(new java.io.File(
                    "/dev/null"))).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new SandboxException("--systemd-cgroup: cannot start the placeholder process (sleep) the scope is "
                    + "made around: " + e.getMessage(), e);
        }
    }

    /**
     * Starts the scope around process pid with the limits, and returns its cgroups once systemd
     * has moved pid there.
     */
    static RuntimeCgroup.Placement start(Unit unit, long pid, Limits limits, CgroupTuning tuning)
            throws SandboxException, InterruptedException {
        List<String> limitProps = properties(limits, tuning);
        // Four properties of our own (PIDs, an array, is "au 1 PID"), then the limits' triples; no auxiliary units.
        List<String> args = new ArrayList<>(List.of("StartTransientUnit", "ssa(sv)a(sa(sv))", unit.name(), "fail",
                Integer.toString(4 + limitProps.size() / 3), "Description", "s", "crabcan-oci container " + unit.name(),
                "Slice", "s", unit.slice(), "Delegate", "b", "true", "PIDs", "au", "1", Long.toString(pid)));
        args.addAll(limitProps);
        args.add("0");
        call(unit, args);
        String suffix = "/" + unit.name();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MOVE_TIMEOUT_MS);
        while (true) {
            RuntimeCgroup.Placement p = RuntimeCgroup.placeOf(pid);
            if (!p.dirs().isEmpty() && p.dirs().values().stream().allMatch(d -> d.toString().endsWith(suffix))) {
                return p;
            }
            if (System.nanoTime() > deadline) {
                throw new SandboxException("--systemd-cgroup: systemd started " + unit.name() + " but did not move "
                        + "process " + pid + " into it within " + MOVE_TIMEOUT_MS + " ms (it is in " + p.dirs().values()
                        + ")");
            }
            Thread.sleep(10);
        }
    }

    /** Changes the scope's limit properties (OCI update), so that systemd keeps the new ones. */
    static void update(Unit unit, Limits limits, CgroupTuning tuning) throws SandboxException, InterruptedException {
        List<String> props = properties(limits, tuning);
        if (props.isEmpty()) {
            return;
        }
        List<String> args = new ArrayList<>(List.of("SetUnitProperties", "sba(sv)", unit.name(), "true",
                Integer.toString(props.size() / 3)));
        args.addAll(props);
        call(unit, args);
    }

    /** Stops the scope; one that is gone already (systemd stops an empty scope) is no error. */
    static void stop(Unit unit) throws SandboxException, InterruptedException {
        try {
            call(unit, List.of("StopUnit", "ss", unit.name(), "replace"));
        } catch (SandboxException e) {
            if (!e.getMessage().contains("not loaded")) {
                throw e;
            }
        }
    }

    /**
     * systemd's resource properties for the limits: (name, signature, value) triples. Of the
     * tuning, the reservation is systemd's MemoryLow (which it would otherwise reset memory.low
     * to); the rest has no property systemd rewrites.
     */
    private static List<String> properties(Limits limits, CgroupTuning tuning) {
        List<String> p = new ArrayList<>();
        limits.memoryBytes().ifPresent(v -> p.addAll(List.of("MemoryMax", "t", Long.toString(v))));
        limits.swapBytes().ifPresent(v -> p.addAll(List.of("MemorySwapMax", "t", Long.toString(v))));
        limits.pids().ifPresent(v -> p.addAll(List.of("TasksMax", "t", Integer.toString(v))));
        limits.cpuWeight().ifPresent(v -> p.addAll(List.of("CPUWeight", "t", Integer.toString(v))));
        limits.cpus().ifPresent(v -> p.addAll(List.of("CPUQuotaPerSecUSec", "t", Long.toString(Math.round(v * 1e6)))));
        limits.ioWeight().ifPresent(v -> p.addAll(List.of("IOWeight", "t", Integer.toString(v))));
        Long low = tuning.values().get(CgroupTuning.Knob.MEMORY_RESERVATION);
        if (low != null) {
            p.addAll(List.of("MemoryLow", "t", Long.toUnsignedString(low))); // -1: infinity, as systemd's
        }
        return p;
    }

    /** One method of systemd's Manager through busctl; a failure says what busctl said. */
    private static void call(Unit unit, List<String> methodAndArgs) throws SandboxException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("busctl"));
        if (unit.userBus()) {
            cmd.add("--user");
        }
        cmd.addAll(List.of("call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager"));
        cmd.addAll(methodAndArgs);
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new SandboxException("--systemd-cgroup: cannot run busctl (systemd's D-Bus client, in the systemd "
                    + "package) to ask systemd for " + unit.name() + ": " + e.getMessage(), e);
        }
        String said;
        try (var out = p.getInputStream()) {
            said = new String(out.readNBytes(4096), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            said = e.toString();
        }
        if (!p.waitFor(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
            p.destroyForcibly().waitFor();
            throw new SandboxException("--systemd-cgroup: systemd did not answer " + methodAndArgs.get(0) + " for "
                    + unit.name() + " within " + CALL_TIMEOUT_MS + " ms");
        }
        if (p.exitValue() != 0) {
            throw new SandboxException("--systemd-cgroup: " + methodAndArgs.get(0) + " of " + unit.name() + " on the "
                    + (unit.userBus() ? "user's" : "system's") + " systemd failed: " + said
                    + (unit.userBus() ? " (a caller that is not host root talks to its user manager: is "
                            + "DBUS_SESSION_BUS_ADDRESS or XDG_RUNTIME_DIR set?)" : ""));
        }
    }
}
