package dev.crabcan.internal.cgroup;

import dev.crabcan.internal.Text;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Reading and writing cgroup control files, and the kill-then-rmdir that removes a cgroup. */
final class CgroupFiles {
    private static final Logger log = LoggerFactory.getLogger(CgroupFiles.class);

    private CgroupFiles() {}

    static void write(Path file, String value) throws IOException {
        Files.writeString(file, value);
    }

    /** The file's content, or null when the kernel does not provide it. */
    static String readOrNull(Path file) {
        try {
            return Files.readString(file).trim();
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            log.debug("reading {}: {}", file, e.toString());
            return null;
        }
    }

    static long readLong(Path file, long fallback) {
        String s = readOrNull(file);
        try {
            return s == null ? fallback : Long.parseLong(s);
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

    /** A value from a flat-keyed file such as "usage_usec 123". */
    static long keyed(Path file, String key, long fallback) {
        return keyed(readOrNull(file), key, fallback);
    }

    /** A value from the content of a flat-keyed file (null: no file). */
    static long keyed(String s, String key, long fallback) {
        if (s != null) {
            for (String line : s.split("\n")) {
                String[] kv = Text.fields(line);
                if (kv.length == 2 && kv[0].equals(key)) {
                    return Long.parseLong(kv[1]);
                }
            }
        }
        return fallback;
    }

    /**
     * Removes the cgroup, killing what is left in it. The sandbox's PID namespace is normally gone
     * already, so the first rmdir succeeds; the kill only matters after a helper crash.
     */
    static void killAndRemove(Path dir) {
        for (int attempt = 0; attempt < 50; attempt++) {
            try {
                Files.delete(dir);
                return;
            } catch (NoSuchFileException e) {
                return;
            } catch (IOException e) {
                // EBUSY: processes are still in it.
            }
            String procs = readOrNull(dir.resolve("cgroup.procs"));
            if (procs != null && !procs.isEmpty()) {
                if (Files.exists(dir.resolve("cgroup.kill"))) {
                    try {
                        write(dir.resolve("cgroup.kill"), "1");
                    } catch (IOException e) {
                        log.debug("cgroup.kill in {}: {}", dir, e.toString());
                    }
                } else {
                    procs.lines().map(String::trim).filter(p -> !p.isEmpty())
                            .forEach(p -> ProcessHandle.of(Long.parseLong(p)).ifPresent(ProcessHandle::destroyForcibly));
                }
            }
            try {
                Thread.sleep(attempt < 10 ? 1 : 10); // while the last processes exit
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (Files.isDirectory(dir)) {
            log.warn("could not remove the cgroup {}: processes are still in it", dir);
        }
    }
}
