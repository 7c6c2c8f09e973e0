package dev.crabcan.internal.launch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.internal.host.HostInfo;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The rules for directories on the way to the helper; the attacks themselves are in crabcan-it's CacheTrustTest. */
class PrivateDirsTest {
    private final int euid = HostInfo.get().euid();

    @TempDir
    Path tmp;

    private int mode(Path p) throws Exception {
        return (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
    }

    @Test
    void missingDirectoriesAreMadePrivate() throws Exception {
        Path dir = PrivateDirs.create(tmp.resolve("a/b"), euid);
        assertThat(dir).isEqualTo(tmp.toRealPath().resolve("a/b"));
        assertThat(mode(tmp.resolve("a"))).isEqualTo(0700);
        assertThat(mode(dir)).isEqualTo(0700);
    }

    @Test
    void aStickyDirectoryOnTheWayIsTrusted() throws Exception {
        Path sticky = Files.createDirectory(tmp.resolve("sticky"));
        Files.setAttribute(sticky, "unix:mode", 01777);
        assertThat(PrivateDirs.create(sticky.resolve("cache"), euid)).isDirectory();
    }

    @Test
    void aDirectoryOthersCanWriteIsRefusedBeforeAnythingIsMadeInIt() throws Exception {
        Path open = Files.createDirectory(tmp.resolve("open"));
        Files.setAttribute(open, "unix:mode", 0777);
        assertThatThrownBy(() -> PrivateDirs.create(open.resolve("cache"), euid))
                .isInstanceOf(PrivateDirs.Untrusted.class)
                .hasMessageStartingWith(open + " (owner uid " + euid + ", mode 0777) is writable by other users");
        assertThat(open.resolve("cache")).doesNotExist();
        assertThatThrownBy(() -> PrivateDirs.create(open, euid)).isInstanceOf(PrivateDirs.Untrusted.class)
                .hasMessageContaining("make it private (chmod 700)");
    }

    @Test
    void aLinkOnTheWayIsResolvedOnceAndItsTargetChecked() throws Exception {
        Path real = Files.createDirectory(tmp.resolve("real"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), real);
        assertThat(PrivateDirs.create(link.resolve("cache"), euid)).isEqualTo(real.toRealPath().resolve("cache"));
    }

    @Test
    void anOwnDirectoryOthersCanOnlyReadIsUsedAsItIs() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("dir"));
        Files.setAttribute(dir, "unix:mode", 0755);
        PrivateDirs.create(dir, euid);
        // Never chmod'ed: a path that led elsewhere must not make Crabcan change a directory it did not make.
        assertThat(mode(dir)).isEqualTo(0755);
        assertThat(mode(PrivateDirs.create(dir.resolve("made"), euid))).isEqualTo(0700);
    }

    /**
     * The attack review's case: another user's link in a sticky directory, pointing at a directory
     * of the caller's. It is not followed, so nothing there is chmod'ed, made or deleted.
     */
    @Test
    void anotherUsersLinkIsNotFollowed() throws Exception {
        assumeTrue(euid == 0, "making a link of another user takes root");
        Path target = Files.createDirectory(tmp.resolve("target"));
        Files.setAttribute(target, "unix:mode", 0755);
        Path sticky = Files.createDirectory(tmp.resolve("sticky"));
        Files.setAttribute(sticky, "unix:mode", 01777);
        Path link = Files.createSymbolicLink(sticky.resolve("crabcan-0"), target);
        Files.setAttribute(link, "unix:uid", 65534, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        assertThatThrownBy(() -> PrivateDirs.create(link, euid)).isInstanceOf(PrivateDirs.Untrusted.class)
                .hasMessageContaining("is a symbolic link of another user");
        assertThatThrownBy(() -> PrivateDirs.create(link.resolve("cache"), euid))
                .isInstanceOf(PrivateDirs.Untrusted.class);
        assertThat(mode(target)).isEqualTo(0755);
        try (var s = Files.list(target)) {
            assertThat(s).isEmpty();
        }
    }

    /**
     * In a user namespace that does not map host root, root's directories show as the overflow uid,
     * as do other users' there: trusted on the way to the cache, never as the cache itself nor as a link.
     */
    @Test
    void theUnmappedOwnerIsTrustedOnTheWayOnly() throws Exception {
        assumeTrue(euid == 0, "giving a directory to another user takes root");
        Path outside = Files.createDirectory(tmp.resolve("outside"));
        Files.setAttribute(outside, "unix:uid", 65534);
        Path mine = Files.createDirectory(outside.resolve("mine"));
        assertThatThrownBy(() -> PrivateDirs.create(mine.resolve("cache"), euid, -1))
                .isInstanceOf(PrivateDirs.Untrusted.class).hasMessageContaining("belongs to another user");
        assertThat(PrivateDirs.create(mine.resolve("cache"), euid, 65534)).isDirectory();
        assertThatThrownBy(() -> PrivateDirs.create(outside, euid, 65534)).isInstanceOf(PrivateDirs.Untrusted.class)
                .hasMessageContaining("belongs to another user");
        Path link = Files.createSymbolicLink(mine.resolve("link"), mine);
        Files.setAttribute(link, "unix:uid", 65534, LinkOption.NOFOLLOW_LINKS);
        assertThatThrownBy(() -> PrivateDirs.create(link.resolve("cache"), euid, 65534))
                .isInstanceOf(PrivateDirs.Untrusted.class).hasMessageContaining("symbolic link of another user");
    }

    @Test
    void dotsInALinkAreWalkedAsTheKernelWould() throws Exception {
        Path a = Files.createDirectory(tmp.resolve("a"));
        Files.createDirectory(tmp.resolve("b"));
        Path link = Files.createSymbolicLink(tmp.resolve("dots"), a.resolve(".").resolve("..").resolve("b"));
        assertThat(PrivateDirs.create(link, euid)).isEqualTo(tmp.toRealPath().resolve("b"));
        // Below a missing directory nothing is walked, so ".." there cannot be made one by one.
        Path up = Files.createSymbolicLink(tmp.resolve("up"), Path.of("nx/../../etc"));
        assertThatThrownBy(() -> PrivateDirs.create(up, euid)).isInstanceOf(java.nio.file.NoSuchFileException.class);
        assertThat(tmp.resolve("nx")).doesNotExist();
    }

    @Test
    void deletingATreeFollowsNoLink() throws Exception {
        Path outside = Files.createDirectory(tmp.resolve("outside"));
        Files.writeString(outside.resolve("keep"), "x");
        Path tree = PrivateDirs.create(tmp.resolve("tree"), euid);
        Files.createDirectories(tree.resolve("a/b"));
        Files.writeString(tree.resolve("a/b/f"), "y");
        Files.createSymbolicLink(tree.resolve("a/link"), outside);
        PrivateDirs.deleteTree(tree);
        assertThat(tree).doesNotExist();
        assertThat(outside.resolve("keep")).hasContent("x");
    }

    @Test
    void aSubdirectoryThatIsALinkIsRefused() throws Exception {
        Path cache = PrivateDirs.create(tmp.resolve("cache"), euid);
        Files.createSymbolicLink(cache.resolve("run"), Files.createDirectory(tmp.resolve("elsewhere")));
        assertThatThrownBy(() -> PrivateDirs.child(cache, "run", euid)).isInstanceOf(PrivateDirs.Untrusted.class)
                .hasMessageContaining("is a symbolic link");
    }
}
