package dev.crabcan.internal.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;

/** User and group ids as COPY --chown and USER name them, looked up in the image's own files. */
record Owner(long uid, long gid) {
    static final Owner ROOT = new Owner(0, 0);

    /** Finds files of the image's root filesystem, made on demand (only names need it). */
    interface Rootfs {
        /**
         * The regular file at a relative path of the image, or null when it has none there.
         *
         * @throws IllegalArgumentException when the path lies through a symbolic link
         */
        Path file(String relative) throws IOException;

        /** A root filesystem unpacked in one directory, which {@code dir} makes. */
        static Rootfs directory(DirectorySupplier dir) {
            return relative -> {
                Path p = dir.get();
                for (String part : relative.split("/")) {
                    p = p.resolve(part);
                    if (Files.isSymbolicLink(p)) {
                        throw new IllegalArgumentException("/" + relative + " of the image lies through a symbolic link");
                    }
                }
                return Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) ? p : null;
            };
        }

        /** A root filesystem that is an overlay of layer directories, top-most first (see {@link Unpacker.Policy#LAYER_DIR}). */
        static Rootfs layers(List<Path> layers) {
            return relative -> {
                Path p = LayerDirs.find(layers, relative);
                return p != null && Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) ? p : null;
            };
        }
    }

    /** Gives a directory, made on demand. */
    interface DirectorySupplier {
        Path get() throws IOException;
    }

    /** {@code user[:group]}, numeric or names of the image's /etc/passwd and /etc/group. */
    static Owner parse(String spec, Rootfs rootfs) throws IOException {
        int colon = spec.indexOf(':');
        String user = colon < 0 ? spec : spec.substring(0, colon);
        String group = colon < 0 ? null : spec.substring(colon + 1);
        long uid;
        long defaultGid;
        if (user.matches("[0-9]+")) {
            uid = Long.parseLong(user);
            defaultGid = uid;
        } else {
            String[] entry = lookup(rootfs, "etc/passwd", user);
            uid = Long.parseLong(entry[2]);
            defaultGid = Long.parseLong(entry[3]);
        }
        long gid = group == null ? defaultGid
                : group.matches("[0-9]+") ? Long.parseLong(group) : Long.parseLong(lookup(rootfs, "etc/group", group)[2]);
        return new Owner(uid, gid);
    }

    /** The sandbox uid and gid of a USER value (null or empty: root). */
    static int[] user(String user, Rootfs rootfs) throws IOException {
        if (user == null || user.isEmpty()) {
            return new int[] {0, 0};
        }
        Owner o = parse(user, rootfs);
        return new int[] {(int) o.uid, (int) o.gid};
    }

    private static String[] lookup(Rootfs rootfs, String file, String name) throws IOException {
        Path p;
        try {
            p = rootfs.file(file);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage() + ": cannot look up '" + name + "'; use numeric ids", e);
        }
        if (p == null) {
            throw new IllegalArgumentException("the image has no /" + file + " to look up '" + name + "' in; use"
                    + " numeric ids");
        }
        for (String line : Files.readAllLines(p, StandardCharsets.UTF_8)) {
            String[] f = line.split(":", -1);
            if (f.length >= 3 && f[0].equals(name) && f[2].matches("[0-9]+")
                    && (!file.endsWith("passwd") || (f.length >= 4 && f[3].matches("[0-9]+")))) {
                return f;
            }
        }
        throw new IllegalArgumentException("no '" + name + "' in the image's /" + file + "; create it first (RUN"
                + " adduser ...) or use numeric ids");
    }
}
