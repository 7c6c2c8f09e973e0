package dev.crabcan.internal.launch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.internal.host.MountInfo;
import dev.crabcan.internal.host.MountInfo.Mount;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The layouts the attack reviews used, as mountinfo describes them (the paths do not exist here). */
class CacheVisibilityTest {
    private static final Path CACHE = Path.of("/srv/home/u/.cache/crabcan");

    /** A data disk at /srv/disk, its home/ bind-mounted at /srv/home, and an alias of the cache's run/. */
    private static final List<Mount> MOUNTS = List.of(
            new Mount(1, "8:1", Path.of("/"), Path.of("/"), "ext4", "rw"),
            new Mount(2, "8:17", Path.of("/"), Path.of("/srv/disk"), "ext4", "rw"),
            new Mount(3, "8:17", Path.of("/home"), Path.of("/srv/home"), "ext4", "rw"),
            new Mount(4, "8:17", Path.of("/home/u/.cache/crabcan/run"), Path.of("/srv/alias"), "ext4",
                    "rw"),
            new Mount(5, "0:42", Path.of("/"), Path.of("/srv/other/tmpfs"), "tmpfs", "rw"),
            new Mount(6, "8:17", Path.of("/home/u"), Path.of("/srv/other/mounted/u"), "ext4", "rw"),
            new Mount(7, "0:50", Path.of("/"), Path.of("/srv/merged"), "overlay",
                    "rw,lowerdir=/srv/lower1:/srv/lower2,upperdir=/srv/disk/home,workdir=/srv/disk/work"));

    private static final CacheVisibility.Locator BY_MOUNT_POINT = onPaper(MOUNTS);

    /** The real locator, with every directory the mounts name there but /nonexistent's. */
    private static CacheVisibility.Locator onPaper(List<Mount> mounts) {
        CacheVisibility.Locator real = CacheVisibility.locator(mounts);
        return new CacheVisibility.Locator() {
            @Override
            public CacheVisibility.Place locate(Path path) throws java.io.IOException {
                return real.locate(path);
            }

            @Override
            public boolean isDirectory(Path dir) {
                return !dir.startsWith("/nonexistent");
            }
        };
    }

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

    /** The fourth review's: the cache on an overlay lies in its layers, whose directories could be bound. */
    @Test
    void aCacheOnAnOverlayLiesInItsLayers() throws Exception {
        List<Mount> mounts = List.of(new Mount(1, "8:1", Path.of("/"), Path.of("/"),
                "ext4", "rw"), new Mount(2, "0:60", Path.of("/"), Path.of("/live/merged"), "overlay",
                "rw,lowerdir=/live/ro,upperdir=/live/rw/upper,workdir=/live/rw/work"));
        List<Path> caches = List.of(Path.of("/live/merged/root/.cache/crabcan"));
        CacheVisibility.Locator locator = onPaper(mounts);
        assertThat(CacheVisibility.exposure(Path.of("/live/rw"), caches, mounts, locator))
                .isEqualTo("/live/rw contains the Crabcan cache directory /live/merged/root/.cache/crabcan");
        assertThat(CacheVisibility.exposure(Path.of("/live/ro/root"), caches, mounts, locator)).contains("contains");
        assertThat(CacheVisibility.exposure(Path.of("/live/other"), caches, mounts, locator)).isNull();
    }

    /** A layer named with a space, a comma or a colon, as mountinfo and overlayfs escape them. */
    @Test
    void escapedLayerNamesAreFollowed() throws Exception {
        List<Mount> mounts = List.of(new Mount(1, "8:1", Path.of("/"), Path.of("/"), "ext4", "rw"),
                new Mount(2, "0:63", Path.of("/"), Path.of("/live/merged"), "overlay",
                        "rw,lowerdir=/live/a\\134:b:/live/c\\054d,upperdir=/live/r\\040w/upper,workdir=/live/r\\040w/work"));
        List<Path> caches = List.of(Path.of("/live/merged/root/.cache/crabcan"));
        CacheVisibility.Locator locator = onPaper(mounts);
        assertThat(CacheVisibility.exposure(Path.of("/live/r w"), caches, mounts, locator)).contains("contains");
        assertThat(CacheVisibility.exposure(Path.of("/live/a:b"), caches, mounts, locator)).contains("contains");
        assertThat(CacheVisibility.exposure(Path.of("/live/c,d"), caches, mounts, locator)).contains("contains");
    }

    /**
     * The seventeenth review's: a lowerdir+ layer (the new mount API) is one, its name as given, a
     * ':' or a '\' in it too. Split and stripped as lowerdir's, neither was found.
     */
    @Test
    void aLowerdirPlusLayerIsOneWhateverItsName() throws Exception {
        List<Mount> mounts = List.of(new Mount(1, "8:1", Path.of("/"), Path.of("/"), "ext4", "rw"),
                new Mount(2, "0:63", Path.of("/"), Path.of("/live/merged"), "overlay",
                        "ro,lowerdir+=/live/a\\134b,lowerdir+=/live/c:/d"));
        List<Path> caches = List.of(Path.of("/live/merged/root/.cache/crabcan"));
        CacheVisibility.Locator locator = onPaper(mounts);
        assertThat(CacheVisibility.exposure(Path.of("/live/a\\b"), caches, mounts, locator)).contains("contains");
        assertThat(CacheVisibility.exposure(Path.of("/live/c:/d"), caches, mounts, locator)).contains("contains");
    }

    /**
     * The fourth review's: layers named relative to where they were mounted cannot be followed.
     * Layers not there are another namespace's (a container's own overlay root names the host's):
     * nothing here can bind them, and binds of the overlay itself stay possible.
     */
    @Test
    void anOverlayWithRelativeLayersIsRefusedAndOneWithLayersElsewhereIsNot() throws Exception {
        List<Mount> relative = List.of(new Mount(1, "8:1", Path.of("/"), Path.of("/"),
                "ext4", "rw"), new Mount(2, "0:61", Path.of("/"), Path.of("/m"), "overlay",
                "rw,lowerdir=low,upperdir=/nonexistent/up,workdir=/nonexistent/work"));
        assertThat(CacheVisibility.exposure(Path.of("/m"), List.of(CACHE), relative, onPaper(relative)))
                .startsWith("/m shows an overlay whose layer low was named relative to where it was mounted");
        List<Mount> container = List.of(new Mount(1, "0:62", Path.of("/"), Path.of("/"),
                "overlay", "rw,lowerdir=/nonexistent/l1:/nonexistent/l2,upperdir=/nonexistent/u,workdir=/nonexistent/w"));
        List<Path> caches = List.of(Path.of("/root/.cache/crabcan"));
        assertThat(CacheVisibility.exposure(Path.of("/tmp/t"), caches, container, onPaper(container))).isNull();
        assertThat(CacheVisibility.exposure(Path.of("/root"), caches, container, onPaper(container)))
                .contains("contains the Crabcan cache directory");
    }

    /** The fifth review's: an overlay on an overlay shows the lower one's layers too. */
    @Test
    void anOverlayOnAnOverlayShowsTheLowerOnesLayers() throws Exception {
        List<Mount> mounts = List.of(new Mount(1, "8:1", Path.of("/"), Path.of("/"),
                "ext4", "rw"), new Mount(2, "0:70", Path.of("/"), Path.of("/c/m1"), "overlay",
                "rw,lowerdir=/c/l1,upperdir=/c/upper,workdir=/c/w1"), new Mount(3, "0:71",
                Path.of("/"), Path.of("/c/m2"), "overlay", "ro,lowerdir=/c/m1:/c/l2"));
        List<Path> caches = List.of(Path.of("/c/upper/cc"));
        assertThat(CacheVisibility.exposure(Path.of("/c/m2"), caches, mounts, onPaper(mounts)))
                .isEqualTo("/c/m2 shows the overlay layer /c/m1, which shows the overlay layer /c/upper, which contains "
                        + "the Crabcan cache directory /c/upper/cc");
    }

    /** The fourth review's: a dangling link on the way to a cache not made yet is followed, as the cache walk does. */
    @Test
    void linksOnTheWayAreFollowedEvenWhereTheyDangle(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        java.nio.file.Files.createSymbolicLink(dir.resolve("xdg"), dir.resolve("data/cache"));
        assertThat(CacheVisibility.followLinks(dir.resolve("xdg/crabcan"))).isEqualTo(dir.resolve("data/cache/crabcan"));
        java.nio.file.Files.createSymbolicLink(dir.resolve("rel"), Path.of("xdg/../other"));
        assertThat(CacheVisibility.followLinks(dir.resolve("rel/x"))).isEqualTo(dir.resolve("data/other/x"));
    }

    @Test
    void mountinfoEscapesAreRead() {
        assertThat(MountInfo.unescape("/a\\040b\\134c\\011d")).isEqualTo("/a b\\c\td");
    }
}
