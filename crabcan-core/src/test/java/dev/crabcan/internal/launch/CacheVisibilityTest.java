package dev.crabcan.internal.launch;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The layouts the attack reviews used, as mountinfo describes them; a path is taken to the mount
 * with the longest mount point above it (the kernel's answer, which the real locator reads, is the
 * same in these layouts).
 */
class CacheVisibilityTest {
    private static final Path CACHE = Path.of("/srv/home/u/.cache/crabcan");

    /** A data disk at /srv/disk, its home/ bind-mounted at /srv/home, and an alias of the cache's run/. */
    private static final List<CacheVisibility.Mount> MOUNTS = List.of(
            new CacheVisibility.Mount(1, "8:1", Path.of("/"), Path.of("/"), "ext4", "rw"),
            new CacheVisibility.Mount(2, "8:17", Path.of("/"), Path.of("/srv/disk"), "ext4", "rw"),
            new CacheVisibility.Mount(3, "8:17", Path.of("/home"), Path.of("/srv/home"), "ext4", "rw"),
            new CacheVisibility.Mount(4, "8:17", Path.of("/home/u/.cache/crabcan/run"), Path.of("/srv/alias"), "ext4",
                    "rw"),
            new CacheVisibility.Mount(5, "0:42", Path.of("/"), Path.of("/srv/other/tmpfs"), "tmpfs", "rw"),
            new CacheVisibility.Mount(6, "8:17", Path.of("/home/u"), Path.of("/srv/other/mounted/u"), "ext4", "rw"),
            new CacheVisibility.Mount(7, "0:50", Path.of("/"), Path.of("/srv/merged"), "overlay",
                    "rw,lowerdir=/srv/lower1:/srv/lower2,upperdir=/srv/disk/home,workdir=/srv/disk/work"));

    private static final CacheVisibility.Locator BY_MOUNT_POINT = path -> {
        CacheVisibility.Mount best = CacheVisibility.topmostAbove(path, MOUNTS);
        Path below = best.point().relativize(path);
        return new CacheVisibility.Place(best.device(), below.toString().isEmpty() ? best.root()
                : best.root().resolve(below.toString()));
    };

    private static String exposure(String source) {
        try {
            return CacheVisibility.exposure(Path.of(source), List.of(CACHE), MOUNTS, BY_MOUNT_POINT);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void theCacheAndWhatHoldsItAreRefusedUnderEveryName() {
        assertThat(exposure("/srv/home/u")).isEqualTo("/srv/home/u contains the Crabcan cache directory " + CACHE);
        assertThat(exposure("/srv/disk")).isEqualTo("/srv/disk contains the Crabcan cache directory " + CACHE);
        assertThat(exposure("/srv/disk/home/u/.cache")).contains("contains the Crabcan cache directory");
        assertThat(exposure("/")).contains("contains the Crabcan cache directory");
    }

    @Test
    void whatLiesInTheCacheIsRefusedUnderEveryName() {
        assertThat(exposure("/srv/home/u/.cache/crabcan/run")).contains("lies in the Crabcan cache directory");
        assertThat(exposure("/srv/alias")).isEqualTo("/srv/alias lies in the Crabcan cache directory " + CACHE);
        assertThat(exposure("/srv/disk/home/u/.cache/crabcan/run/1")).contains("lies in");
    }

    @Test
    void aMountBelowTheSourceCounts() {
        assertThat(exposure("/srv/other")).isEqualTo("/srv/other has /srv/other/mounted/u mounted below it, which "
                + "contains the Crabcan cache directory " + CACHE);
        assertThat(exposure("/srv/other/tmpfs")).isNull();
        assertThat(exposure("/srv/disk/elsewhere")).isNull();
        assertThat(exposure("/srv/home/v")).isNull();
    }

    /** The third review's: an overlay whose upper layer holds the cache shows it under its own device. */
    @Test
    void anOverlayShowsItsLayers() {
        assertThat(exposure("/srv/merged")).isEqualTo("/srv/merged shows the overlay layer /srv/disk/home, which "
                + "contains the Crabcan cache directory " + CACHE);
        assertThat(exposure("/srv/merged/u/.cache")).contains("shows the overlay layer /srv/disk/home/u/.cache, which "
                + "contains");
        assertThat(exposure("/srv/merged/v")).isNull();
    }

    @Test
    void mountinfoEscapesAreRead() {
        assertThat(CacheVisibility.unescape("/a\\040b\\134c\\011d")).isEqualTo("/a b\\c\td");
    }
}
