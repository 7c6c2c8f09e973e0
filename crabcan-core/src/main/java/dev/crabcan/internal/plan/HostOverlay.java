package dev.crabcan.internal.plan;

import dev.crabcan.SandboxSpecException;
import dev.crabcan.internal.host.MountInfo;
import dev.crabcan.internal.host.MountInfo.Mount;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * An overlayfs mount of the host that a host root caller's root filesystem is: an OCI engine's
 * image root (podman's overlay storage driver, containerd's overlayfs snapshotter). The kernel
 * cannot idmap an overlayfs mount, so the helper makes a new one of the same layers, each
 * idmapped, over the same upper directory (ROOT_HOST_OVERLAY).
 *
 * @param lowers  its lower layers, top-most first, links resolved
 * @param upper   its upper directory, links resolved; empty for a read-only overlay
 * @param work    the work directory for the new mount, below the engine's (see {@link #WORK})
 * @param options the engine's options that say how its layers are read, and index=off
 */
record HostOverlay(List<Path> lowers, Optional<Path> upper, Optional<Path> work, String options) {
    /**
     * Options that say how overlayfs reads and writes its layers: a mount without the engine's
     * metacopy or redirect_dir would misread the files that its mount copied up or renamed.
     */
    private static final Set<String> KEPT = Set.of("redirect_dir", "metacopy", "xino", "uuid", "volatile",
            "userxattr", "verity");

    /**
     * The new mount's work directory, in the engine's. Not the engine's own: overlayfs empties its
     * work directory's work/ when it mounts, and the engine's mount, which stays, works in that one.
     * It goes with the engine's, when the engine removes the container's layer.
     */
    static final String WORK = "crabcan";

    /**
     * The overlayfs mounted at {@code dir} (the top-most mount there, at its root), read from this
     * mount namespace's mountinfo; empty if none is.
     */
    static Optional<HostOverlay> at(Path dir) {
        try {
            return mountedAt(dir.toRealPath(), MountInfo.read());
        } catch (IOException e) {
            throw new SandboxSpecException("rootfs " + dir + ": cannot read the overlayfs mount there, or its layers, "
                    + "from /proc/self/mountinfo (" + e + "); a host root caller's root filesystem is remade from them");
        }
    }

    static Optional<HostOverlay> mountedAt(Path dir, List<Mount> mounts) throws IOException {
        Mount top = null;
        for (Mount m : mounts) {
            if (m.point().equals(dir)) {
                top = m;
            }
        }
        if (top == null || !top.type().equals("overlay") || !top.root().equals(Path.of("/"))) {
            return Optional.empty();
        }
        List<Path> lowers = new ArrayList<>();
        Path upper = null;
        Path work = null;
        List<String> kept = new ArrayList<>();
        for (String option : MountInfo.splitUnescaped(top.options(), ',')) {
            int eq = option.indexOf('=');
            String key = eq < 0 ? option : option.substring(0, eq);
            String value = eq < 0 ? "" : option.substring(eq + 1);
            switch (key) {
                case "lowerdir", "lowerdir+" -> {
                    for (String layer : MountInfo.splitUnescaped(value, ':')) {
                        if (layer.isEmpty()) {
                            throw refused(dir, "has data-only layers (lowerdir a::b), which Crabcan cannot remake");
                        }
                        lowers.add(layer(dir, layer));
                    }
                }
                case "datadir+" -> throw refused(dir, "has data-only layers (datadir+), which Crabcan cannot remake");
                case "upperdir" -> upper = layer(dir, value);
                case "workdir" -> work = layer(dir, value);
                default -> {
                    if (KEPT.contains(key)) {
                        kept.add(option);
                    }
                }
            }
        }
        if (lowers.isEmpty() || (upper == null) != (work == null)) {
            throw refused(dir, "shows no lower layers, or an upper directory without a work directory, in mountinfo ("
                    + top.options() + ")");
        }
        // The engine's mount keeps the upper directory's in-use lock: index=on would refuse a second one.
        kept.add("index=off");
        return Optional.of(new HostOverlay(List.copyOf(lowers), Optional.ofNullable(upper),
                Optional.ofNullable(work).map(w -> w.resolve(WORK)), String.join(",", kept)));
    }

    /** A layer as mountinfo names it (overlayfs escapes ':', ',' and '\' with '\'), links resolved. */
    private static Path layer(Path dir, String named) throws IOException {
        String path = named.replaceAll("\\\\(.)", "$1");
        if (!path.startsWith("/")) {
            throw refused(dir, "names its layer " + path + " relative to where it was mounted");
        }
        return Path.of(path).toRealPath();
    }

    private static SandboxSpecException refused(Path dir, String why) {
        return new SandboxSpecException("rootfs " + dir + " is an overlayfs mount, which a host root caller's "
                + "root filesystem is remade from, idmapped, but it " + why + "; give a directory that is no overlayfs "
                + "mount (podman --rootfs, containerd's native snapshotter), or run rootless");
    }

    /** Makes the work directory where missing: the engine's root's, 0700. */
    void makeWork() {
        if (work.isEmpty()) {
            return;
        }
        Path w = work.get();
        try {
            if (!Files.isDirectory(w, LinkOption.NOFOLLOW_LINKS)) {
                Files.createDirectory(w);
                Files.setAttribute(w, "unix:mode", 0700);
            }
        } catch (IOException e) {
            throw new SandboxSpecException("rootfs: cannot make the overlay's work directory " + w + ": " + e
                    + "; the engine's work directory " + w.getParent() + " must be root's to write");
        }
    }
}
