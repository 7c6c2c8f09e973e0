package dev.crabcan.internal.image;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/** Finds files in the merged view of layer directories (see {@link Unpacker.Policy#LAYER_DIR}), as overlayfs would. */
final class LayerDirs {
    /** The most symbolic links one path may go through, as Linux's and BuildKit's lookups allow. */
    static final int MAX_LINKS = 255;

    private LayerDirs() {
    }

    /**
     * The entry an overlay of {@code layers} (top-most first) shows at a relative path, or null
     * when it shows none.
     *
     * @throws IllegalArgumentException when the path, or a directory on the way, is a symbolic link
     */
    static Path find(List<Path> layers, String relative) throws IOException {
        Path p = entry(layers, relative);
        if (p != null && Files.isSymbolicLink(p)) {
            throw new IllegalArgumentException("/" + relative + " of the image lies through a symbolic link");
        }
        return p;
    }

    /**
     * A relative path of the image with every symbolic link on it followed, the last component's
     * too, as the image's own root would resolve it: an absolute target starts again at the image's
     * root and {@code ..} stops there, so the result is always inside the image (a link to
     * {@code /../..} or a host path names a path of the image, never of the host). A missing
     * component ends nothing: the rest is taken as written (BuildKit's dest resolution, continuity's
     * {@code fs.RootPath}). Only the layers' entries are read (lstat, readlink), nothing is followed
     * on the host.
     *
     * @return the resolved path, relative ("" for the root), reached through no link
     * @throws IllegalArgumentException past {@link #MAX_LINKS} links, or when a component on the way is
     *     not a directory
     */
    static String resolve(List<Path> layers, String relative) throws IOException {
        Deque<String> todo = new ArrayDeque<>(List.of(relative.split("/")));
        List<String> done = new ArrayList<>();
        int links = 0;
        while (!todo.isEmpty()) {
            String part = todo.removeFirst();
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (!done.isEmpty()) {
                    done.remove(done.size() - 1);
                }
                continue;
            }
            String at = done.isEmpty() ? part : String.join("/", done) + "/" + part;
            Path p = entry(layers, at);
            if (p != null && Files.isSymbolicLink(p)) {
                if (++links > MAX_LINKS) {
                    throw new IllegalArgumentException("/" + relative + " of the image goes through more than "
                            + MAX_LINKS + " symbolic links (a loop?)");
                }
                String target = Files.readSymbolicLink(p).toString();
                if (target.startsWith("/")) {
                    done.clear();
                }
                String[] parts = target.split("/");
                for (int i = parts.length - 1; i >= 0; i--) {
                    todo.addFirst(parts[i]);
                }
                continue;
            }
            if (p != null && !todo.isEmpty() && !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)
                    && todo.stream().anyMatch(t -> !t.isEmpty() && !t.equals("."))) {
                throw new IllegalArgumentException("/" + at + " of the image is not a directory (on the way to /"
                        + relative + ")");
            }
            done.add(part);
        }
        return String.join("/", done);
    }

    /** As {@link #find}, but the last component may be a symbolic link, which is returned. */
    private static Path entry(List<Path> layers, String relative) throws IOException {
        String[] parts = relative.split("/");
        for (Path layer : layers) {
            Path p = layer;
            for (int i = 0; i < parts.length; i++) {
                boolean opaque = Unpacker.isOpaque(p);
                p = p.resolve(parts[i]);
                boolean last = i == parts.length - 1;
                if (!last && Files.isSymbolicLink(p)) {
                    throw new IllegalArgumentException("/" + relative + " of the image lies through a symbolic link");
                }
                boolean exists = Files.exists(p, LinkOption.NOFOLLOW_LINKS);
                if (Unpacker.isWhiteout(p) || (!exists && opaque)
                        || (!last && exists && !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))) {
                    return null; // hidden from every lower layer
                }
                if (!exists) {
                    break;
                }
                if (last) {
                    return p;
                }
            }
        }
        return null;
    }
}
