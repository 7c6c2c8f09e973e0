package dev.crabcan.internal.launch;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The layouts the attack reviews used, as mountinfo describes them. */
class CacheVisibilityTest {
    private static final Path CACHE = Path.of("/srv/home/u/.cache/crabcan");

    /** A data disk at /srv/disk, its home/ bind-mounted at /srv/home, and an alias of the cache's run/. */
    private static final List<CacheVisibility.Mount> MOUNTS = List.of(
            new CacheVisibility.Mount("8:1", Path.of("/"), Path.of("/")),
            new CacheVisibility.Mount("8:17", Path.of("/"), Path.of("/srv/disk")),
            new CacheVisibility.Mount("8:17", Path.of("/home"), Path.of("/srv/home")),
            new CacheVisibility.Mount("8:17", Path.of("/home/u/.cache/crabcan/run"), Path.of("/srv/alias")),
            new CacheVisibility.Mount("0:42", Path.of("/"), Path.of("/srv/other/tmpfs")),
            new CacheVisibility.Mount("8:17", Path.of("/home/u"), Path.of("/srv/other/mounted/u")));

    private static String exposure(String source) {
        return CacheVisibility.exposure(Path.of(source), List.of(CACHE), MOUNTS);
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

    @Test
    void mountinfoEscapesAreRead() {
        assertThat(CacheVisibility.unescape("/a\\040b\\134c\\011d")).isEqualTo("/a b\\c\td");
    }
}
