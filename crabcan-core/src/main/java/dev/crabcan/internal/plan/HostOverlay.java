package dev.crabcan.internal.plan;

import dev.crabcan.SandboxSpecException;
import dev.crabcan.internal.host.MountInfo;
import dev.crabcan.internal.host.MountInfo.Mount;
import dev.crabcan.internal.launch.PrivateDirs;
import java.io.IOException;
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
 * @param lowers  its lower layers, top-most first, links resolved, each only root can change
 * @param upper   its upper directory, the same; empty for a read-only overlay
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
     * mount namespace's mountinfo, for host root; empty if none is.
     */
    static Optional<HostOverlay> at(Path dir) {
        Path real;
        try {
            real = dir.toRealPath();
        } catch (IOException e) {
            return Optional.empty(); // gone since it was given: the helper, opening it, says so
        }
        try {
            return mountedAt(real, MountInfo.read(), 0);
        } catch (IOException e) {
            throw new SandboxSpecException("rootfs " + dir + ": cannot read the overlayfs mount there, or its layers, "
                    + "from /proc/self/mountinfo (" + e + "); a host root caller's root filesystem is remade from them");
        }
    }

    /**
     * mountinfo names each layer as it was named when the overlay was mounted, and the overlay
     * keeps the directories it found then: a layer is taken only where nobody but root and euid can
     * have renamed anything on the way since (else a user who owns a directory of a layer's path
     * swaps in a link to one of root's, which the sandbox's root, idmapped, then owns).
     */
    static Optional<HostOverlay> mountedAt(Path dir, List<Mount> mounts, int euid) throws IOException {
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
        for (String escaped : top.options().split(",")) {
            String option = MountInfo.unescape(escaped);
            int eq = option.indexOf('=');
            String key = eq < 0 ? option : option.substring(0, eq);
            String value = eq < 0 ? "" : option.substring(eq + 1);
            switch (key) {
                case "lowerdir" -> {
                    for (String layer : MountInfo.overlayDirs(key, value)) {
                        if (layer.isEmpty()) {
                            throw refused(dir, "has data-only layers (lowerdir a::b), which Crabcan cannot remake");
                        }
                        lowers.add(layer(dir, layer, euid, false));
                    }
                }
                case "lowerdir+" -> lowers.add(layer(dir, MountInfo.overlayDirs(key, value).get(0), euid, false));
                case "datadir+" -> throw refused(dir, "has data-only layers (datadir+), which Crabcan cannot remake");
                case "upperdir" -> upper = layer(dir, MountInfo.overlayDirs(key, value).get(0), euid, false);
                // The new work directory is made in it: it must be private too.
                case "workdir" -> work = layer(dir, MountInfo.overlayDirs(key, value).get(0), euid, true);
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

    /**
     * A layer's real path, where nobody but root and euid can change what its name leads to (a
     * layer itself may be writable by others: its root's mode is the image's, or the container's);
     * private, a directory nobody else can write either.
     */
    private static Path layer(Path dir, String path, int euid, boolean mustBePrivate) throws IOException {
        if (!path.startsWith("/")) {
            throw refused(dir, "names its layer " + path + " relative to where it was mounted");
        }
        try {
            return mustBePrivate ? PrivateDirs.existing(Path.of(path), euid) : PrivateDirs.reachable(Path.of(path), euid);
        } catch (PrivateDirs.Untrusted e) {
            throw refused(dir, "names the layer " + path + ", which others can change: " + e.getMessage());
        }
    }

    private static SandboxSpecException refused(Path dir, String why) {
        return new SandboxSpecException("rootfs " + dir + " is an overlayfs mount, which a host root caller's "
                + "root filesystem is remade from, idmapped, but it " + why + "; give a directory that is no overlayfs "
                + "mount (podman --rootfs, containerd's native snapshotter), or run rootless");
    }

    /**
     * Makes the work directory where missing: root's, 0700, in the engine's, which only root can
     * change (checked with the layers); one that is there must be root's and private.
     */
    void makeWork() {
        if (work.isEmpty()) {
            return;
        }
        Path w = work.get();
        try {
            PrivateDirs.child(w.getParent(), WORK, 0);
        } catch (IOException e) {
            throw new SandboxSpecException("rootfs: cannot make the overlay's work directory " + w + ": " + e.getMessage()
                    + "; the engine's work directory " + w.getParent() + " must be root's to write");
        }
    }
}
