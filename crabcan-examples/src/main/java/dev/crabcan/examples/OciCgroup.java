package dev.crabcan.examples;

import dev.crabcan.Limits;
import dev.crabcan.SandboxException;
import dev.crabcan.internal.cgroup.CgroupTuning;
import dev.crabcan.internal.cgroup.RuntimeCgroup;
import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.json.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A container's cgroup as crabcan-oci keeps it: made at create where the config's cgroupsPath
 * says (with --systemd-cgroup, a scope unit systemd makes: {@link OciScope}), recorded in the
 * container's state directory before any directory or unit is made (so that a runtime killed
 * halfway leaves nothing delete cannot find), and found again by ps, kill --all, pause, resume,
 * update and delete.
 */
final class OciCgroup {
    private static final String RECORD = "cgroup.json";
    private static final long SCOPE_GONE_TIMEOUT_MS = 10_000;

    private OciCgroup() {}

    /**
     * What {@link #make} made: the cgroup (null for none) and, for a systemd scope, the placeholder
     * process it was started around, which close kills: call it once the container's init is in
     * the scope.
     */
    record Made(RuntimeCgroup cgroup, Process placeholder) implements AutoCloseable {
        List<Path> procsFiles() {
            return cgroup == null ? List.of() : cgroup.procsFiles();
        }

        @Override
        public void close() {
            if (placeholder != null) {
                placeholder.destroyForcibly();
                placeholder.onExit().join();
            }
        }
    }

    /**
     * The container's cgroup with the config's limits and tuning applied; none when none could be
     * made and the config asks for no limit (a rootless engine without a delegated cgroup): the container
     * then runs in the engine's cgroup, as runc's rootless containers do. With systemd, a scope
     * unit, or an error saying why systemd could not make it.
     */
    static Made make(Path dir, String cgroupsPath, boolean systemd, String id, Limits limits, CgroupTuning tuning,
            OciLog log) throws SandboxException, IOException, InterruptedException {
        if (systemd) {
            return scope(dir, cgroupsPath, id, limits, tuning, log);
        }
        RuntimeCgroup.Placement placement;
        try {
            // Without cgroupsPath: by id and state root, as ids are unique only within one root.
            placement = RuntimeCgroup.place(cgroupsPath, systemd, id, "crabcan-oci-" + id + "-"
                    + Integer.toHexString(dir.getParent().toString().hashCode()));
        } catch (SandboxException e) {
            return without(e, limits, tuning, log);
        }
        OciRuntime.writeAtomically(dir.resolve(RECORD), Json.write(RuntimeCgroup.record(placement)));
        try {
            RuntimeCgroup cgroup = RuntimeCgroup.create(placement, limits, tuning);
            log.debug("container " + id + ": " + cgroup.describe());
            return new Made(cgroup, null);
        } catch (SandboxException e) {
            Files.deleteIfExists(dir.resolve(RECORD));
            return without(e, limits, tuning, log);
        }
    }

    private static Made without(SandboxException e, Limits limits, CgroupTuning tuning, OciLog log)
            throws SandboxException {
        if (limits.needsCgroup() || !tuning.isEmpty()) {
            throw new SandboxException("linux.resources (" + limits + (tuning.isEmpty() ? "" : " " + tuning)
                    + ") needs a cgroup: " + e.getMessage(), e);
        }
        log.debug("no cgroup for the container, which asks for no limit: " + e.getMessage());
        return new Made(null, null);
    }

    /** The scope systemd makes for the container, recorded before it asks (delete stops what the record names). */
    private static Made scope(Path dir, String cgroupsPath, String id, Limits limits, CgroupTuning tuning, OciLog log)
            throws SandboxException, IOException, InterruptedException {
        OciScope.Unit unit = OciScope.unit(cgroupsPath, id, HostInfo.get().isHostRoot());
        if (!OciScope.systemdRuns()) {
            throw new SandboxException("--systemd-cgroup: systemd is not this host's init (no /run/systemd/system), so "
                    + "no systemd can make the container's scope " + unit.name() + "; leave --systemd-cgroup out, and "
                    + "linux.cgroupsPath is then a path in the cgroup hierarchies");
        }
        writeRecord(dir, new RuntimeCgroup.Placement(false, Map.of(), List.of()), unit);
        Process placeholder = OciScope.placeholder();
        try {
            RuntimeCgroup.Placement placement = OciScope.start(unit, placeholder.pid(), limits, tuning);
            writeRecord(dir, placement, unit);
            RuntimeCgroup cgroup = RuntimeCgroup.create(placement, limits, tuning);
            log.debug("container " + id + ": systemd scope " + unit.name() + ", " + cgroup.describe());
            return new Made(cgroup, placeholder);
        } catch (SandboxException | InterruptedException | RuntimeException e) {
            new Made(null, placeholder).close();
            throw e;
        }
    }

    private static void writeRecord(Path dir, RuntimeCgroup.Placement placement, OciScope.Unit unit) throws IOException {
        Map<String, Object> record = new java.util.LinkedHashMap<>(RuntimeCgroup.record(placement));
        record.put("unit", unit.name());
        record.put("slice", unit.slice());
        record.put("userBus", unit.userBus());
        OciRuntime.writeAtomically(dir.resolve(RECORD), Json.write(record));
    }

    /** The systemd scope create recorded in dir, if the container has one. */
    private static Optional<OciScope.Unit> unit(Path dir) throws OciRuntime.Failure, IOException {
        Map<String, Object> m = record(dir);
        if (m == null || !(m.get("unit") instanceof String name)) {
            return Optional.empty();
        }
        return Optional.of(new OciScope.Unit(name, (String) m.get("slice"), Boolean.TRUE.equals(m.get("userBus"))));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> record(Path dir) throws OciRuntime.Failure, IOException {
        Path record = dir.resolve(RECORD);
        if (!Files.exists(record)) {
            return null;
        }
        try {
            return (Map<String, Object>) Json.parse(Files.readString(record));
        } catch (Json.ParseException | ClassCastException e) {
            throw new OciRuntime.Failure("the cgroup record " + record + " is damaged: " + e);
        }
    }

    /** Changes the container's limits: in its cgroup, and for a scope also in systemd's properties, which it keeps. */
    static void update(Path dir, RuntimeCgroup cgroup, Limits limits, CgroupTuning tuning) throws OciRuntime.Failure,
            IOException, InterruptedException {
        Optional<OciScope.Unit> unit = unit(dir);
        if (unit.isPresent()) {
            OciScope.update(unit.get(), limits, tuning);
        }
        cgroup.update(limits, tuning);
    }

    /** The cgroup create recorded in dir, if it made one. */
    static Optional<RuntimeCgroup> read(Path dir) throws OciRuntime.Failure, IOException {
        Map<String, Object> m = record(dir);
        if (m == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(RuntimeCgroup.of(m));
        } catch (ClassCastException | NullPointerException e) {
            throw new OciRuntime.Failure("the cgroup record " + dir.resolve(RECORD) + " is damaged: " + e);
        }
    }

    /**
     * Kills what is left in the container's cgroup and removes what create made; a systemd scope
     * is stopped, and gone once this returns.
     */
    static void remove(Path dir) throws OciRuntime.Failure, IOException, InterruptedException {
        Optional<RuntimeCgroup> cgroup = read(dir);
        if (cgroup.isEmpty()) {
            return;
        }
        cgroup.get().remove();
        Optional<OciScope.Unit> unit = unit(dir);
        if (unit.isPresent()) {
            // systemd owns the scope's directory: its processes are killed here, the unit stopped there.
            cgroup.get().pids().forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
            try {
                OciScope.stop(unit.get());
            } catch (SandboxException e) {
                throw new OciRuntime.Failure(e.getMessage());
            }
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(SCOPE_GONE_TIMEOUT_MS);
            for (Path d : cgroup.get().procsFiles()) {
                while (Files.exists(d.getParent())) {
                    if (System.nanoTime() > deadline) {
                        throw new OciRuntime.Failure("systemd stopped " + unit.get().name() + " but its cgroup "
                                + d.getParent() + " is still there after " + SCOPE_GONE_TIMEOUT_MS + " ms");
                    }
                    Thread.sleep(10);
                }
            }
        }
        Files.deleteIfExists(dir.resolve(RECORD));
    }

    /** The limits a detached sandbox keeps itself (rlimits); the others are the cgroup's. */
    static Limits rlimitsOnly(Limits limits) {
        Limits.Builder b = Limits.builder();
        limits.rlimits().forEach((r, v) -> b.rlimit(r, v[0], v[1]));
        return b.build();
    }

    /**
     * Every process of the container: its cgroup's, or without one, those in init's PID
     * namespace. Empty once init is gone.
     */
    static List<Long> pids(Path dir, long init) throws OciRuntime.Failure, IOException {
        Optional<RuntimeCgroup> cgroup = read(dir);
        if (cgroup.isPresent()) {
            return cgroup.get().pids();
        }
        String ns;
        try {
            ns = Files.readSymbolicLink(Path.of("/proc/" + init + "/ns/pid")).toString();
        } catch (IOException e) {
            return List.of();
        }
        List<Long> pids = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) procs::iterator) {
                String name = p.getFileName().toString();
                if (name.matches("\\d+")) {
                    try {
                        if (Files.readSymbolicLink(p.resolve("ns/pid")).toString().equals(ns)) {
                            pids.add(Long.parseLong(name));
                        }
                    } catch (IOException e) {
                        // Gone, or not ours to look at.
                    }
                }
            }
        }
        pids.sort(null);
        return pids;
    }
}
