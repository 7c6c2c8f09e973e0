package dev.crabcan.examples;

import dev.crabcan.Limits;
import dev.crabcan.SandboxException;
import dev.crabcan.internal.cgroup.RuntimeCgroup;
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
 * says, recorded in the container's state directory before any directory is made (so that a
 * runtime killed halfway leaves nothing delete cannot find), and found again by ps, kill --all,
 * pause, resume, update and delete.
 */
final class OciCgroup {
    private static final String RECORD = "cgroup.json";

    private OciCgroup() {}

    /**
     * The container's cgroup with the config's limits applied; null when none could be made and
     * the config asks for no limit (a rootless engine without a delegated cgroup): the container
     * then runs in the engine's cgroup, as runc's rootless containers do.
     */
    static RuntimeCgroup make(Path dir, String cgroupsPath, boolean systemd, String id, Limits limits, OciLog log)
            throws SandboxException, IOException {
        RuntimeCgroup.Placement placement;
        try {
            // Without cgroupsPath: by id and state root, as ids are unique only within one root.
            placement = RuntimeCgroup.place(cgroupsPath, systemd, id, "crabcan-oci-" + id + "-"
                    + Integer.toHexString(dir.getParent().toString().hashCode()));
        } catch (SandboxException e) {
            return without(e, limits, log);
        }
        OciRuntime.writeAtomically(dir.resolve(RECORD), Json.write(RuntimeCgroup.record(placement)));
        try {
            RuntimeCgroup cgroup = RuntimeCgroup.create(placement, limits);
            log.debug("container " + id + ": " + cgroup.describe());
            return cgroup;
        } catch (SandboxException e) {
            Files.deleteIfExists(dir.resolve(RECORD));
            return without(e, limits, log);
        }
    }

    private static RuntimeCgroup without(SandboxException e, Limits limits, OciLog log) throws SandboxException {
        if (limits.needsCgroup()) {
            throw new SandboxException("linux.resources (" + limits + ") needs a cgroup: " + e.getMessage(), e);
        }
        log.debug("no cgroup for the container, which asks for no limit: " + e.getMessage());
        return null;
    }

    /** The cgroup create recorded in dir, if it made one. */
    static Optional<RuntimeCgroup> read(Path dir) throws OciRuntime.Failure, IOException {
        Path record = dir.resolve(RECORD);
        if (!Files.exists(record)) {
            return Optional.empty();
        }
        try {
            @SuppressWarnings("unchecked")
            Map<String, Object> m = (Map<String, Object>) Json.parse(Files.readString(record));
            return Optional.of(RuntimeCgroup.of(m));
        } catch (Json.ParseException | ClassCastException | NullPointerException e) {
            throw new OciRuntime.Failure("the cgroup record " + record + " is damaged: " + e);
        }
    }

    /** Kills what is left in the container's cgroup and removes what create made. */
    static void remove(Path dir) throws OciRuntime.Failure, IOException {
        Optional<RuntimeCgroup> cgroup = read(dir);
        if (cgroup.isPresent()) {
            cgroup.get().remove();
            Files.deleteIfExists(dir.resolve(RECORD));
        }
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
