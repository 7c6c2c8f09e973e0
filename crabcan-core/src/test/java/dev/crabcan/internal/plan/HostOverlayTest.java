package dev.crabcan.internal.plan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.SandboxSpecException;
import dev.crabcan.internal.host.MountInfo.Mount;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An engine's overlay root as mountinfo shows it, read into what the helper remakes it of. */
class HostOverlayTest {
    @TempDir
    Path store;

    private Mount overlayAt(Path point, String options) {
        return new Mount(50, "0:50", Path.of("/"), point, "overlay", options);
    }

    /** As host root's are: the layers of this test's user, who owns the temporary directory. */
    private Optional<HostOverlay> mountedAt(Path dir, List<Mount> mounts) throws Exception {
        return HostOverlay.mountedAt(dir, mounts, (Integer) Files.getAttribute(store, "unix:uid"));
    }

    /** A name as mountinfo's options show it: the kernel writes '\', ',' and space as octal escapes. */
    private static String mountinfo(String name) {
        return name.replace("\\", "\\134").replace(",", "\\054").replace(" ", "\\040");
    }

    /** podman's layout: lower layers through l/ links, upper diff/ and work/ of the container's layer. */
    @Test
    void podmansLayersAreFollowedAndItsReadingOptionsKept() throws Exception {
        Path base = Files.createDirectories(store.resolve("base/diff"));
        Path mid = Files.createDirectories(store.resolve("mid, a:b/diff"));
        Files.createDirectories(store.resolve("l"));
        Files.createSymbolicLink(store.resolve("l/AAA"), Path.of("../base/diff"));
        Files.createSymbolicLink(store.resolve("l/BBB"), Path.of("../mid, a:b/diff"));
        Path upper = Files.createDirectories(store.resolve("c1/diff"));
        Path work = Files.createDirectories(store.resolve("c1/work"));
        Path merged = Files.createDirectories(store.resolve("c1/merged"));
        String options = "rw,lowerdir=" + store.resolve("l/BBB") + ":" + store.resolve("l/AAA") + ",upperdir=" + upper
                + ",workdir=" + work + ",uuid=on,metacopy=on,redirect_dir=on,index=on,nfs_export=on";
        Optional<HostOverlay> o = mountedAt(merged, List.of(
                new Mount(1, "8:1", Path.of("/"), Path.of("/"), "ext4", "rw"), overlayAt(merged, options)));
        assertThat(o).isPresent();
        assertThat(o.get().lowers()).containsExactly(mid, base);
        assertThat(o.get().upper()).contains(upper);
        assertThat(o.get().work()).contains(work.resolve(HostOverlay.WORK));
        assertThat(o.get().options()).isEqualTo("uuid=on,metacopy=on,redirect_dir=on,index=off");
    }

    /** overlayfs escapes ':', ',' and '\' in a lowerdir's names with '\', and mountinfo those in octal. */
    @Test
    void escapedLayerNamesAreRead() throws Exception {
        Path odd = Files.createDirectories(store.resolve("a:b,c"));
        Path merged = Files.createDirectories(store.resolve("m"));
        String escaped = mountinfo(odd.toString().replace(":", "\\:").replace(",", "\\,"));
        Optional<HostOverlay> o = mountedAt(merged, List.of(overlayAt(merged, "ro,lowerdir=" + escaped)));
        assertThat(o.get().lowers()).containsExactly(odd);
        assertThat(o.get().upper()).isEmpty();
        assertThat(o.get().work()).isEmpty();
    }

    /**
     * A lowerdir+ layer (the new mount API's, one an fsconfig call) is named as given: a ':' in it
     * separates nothing, and a ',' in it (octal in mountinfo) starts no option. Read as a lowerdir
     * list, a name chosen as "l,upperdir=/root/x,workdir=/root" gave the remade overlay an upper
     * layer the engine's has not.
     */
    @Test
    void aLowerdirPlusLayerIsOneWhateverItsName() throws Exception {
        Path merged = Files.createDirectories(store.resolve("m"));
        Files.createDirectories(store.resolve("l"));
        Files.createDirectories(store.resolve("up"));
        Files.createDirectories(store.resolve("w"));
        Path colon = Files.createDirectories(Path.of(store + "/l:" + store + "/up"));
        Path comma = Files.createDirectories(Path.of(store + "/l,upperdir=" + store + "/up,workdir=" + store + "/w"));
        Optional<HostOverlay> o = mountedAt(merged, List.of(overlayAt(merged,
                "ro,lowerdir+=" + mountinfo(colon.toString()) + ",lowerdir+=" + mountinfo(comma.toString())
                        + ",redirect_dir=on")));
        assertThat(o.get().lowers()).containsExactly(colon, comma);
        assertThat(o.get().upper()).isEmpty();
        assertThat(o.get().work()).isEmpty();
    }

    /**
     * mountinfo names a layer as it was named when the overlay was mounted: whoever can rename a
     * directory on the way (here anyone: a directory writable by all) can make the same name lead to
     * another directory since, such as one of root's through a link.
     */
    @Test
    void aLayerOthersCouldHaveSwappedIsRefused() throws Exception {
        Path merged = Files.createDirectories(store.resolve("m"));
        Path l = Files.createDirectories(store.resolve("l"));
        Path open = Files.createDirectories(store.resolve("open"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path lower = Files.createDirectories(open.resolve("lower"));
        assertThatThrownBy(() -> mountedAt(merged, List.of(overlayAt(merged, "ro,lowerdir=" + lower))))
                .isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("names the layer " + lower + ", which others can change: " + open)
                .hasMessageContaining("is writable by other users");
        Path own = Files.createDirectories(store.resolve("own"));
        Path upper = Files.createDirectories(own.resolve("upper"));
        Path work = Files.createDirectories(own.resolve("work"));
        Files.createSymbolicLink(open.resolve("link"), own);
        assertThatThrownBy(() -> mountedAt(merged, List.of(overlayAt(merged, "rw,lowerdir=" + l + ",upperdir="
                + open.resolve("link/upper") + ",workdir=" + work)))).as("through a link in such a directory")
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("which others can change");
        assertThat(mountedAt(merged, List.of(overlayAt(merged, "rw,lowerdir=" + l + ",upperdir=" + upper
                + ",workdir=" + work))).get().upper()).contains(upper);
    }

    /**
     * A layer's own mode is the image's root's (or, for the upper one, what the container made of
     * its /): writable by all, it is still taken. The work directory, in which the new one is made,
     * is not.
     */
    @Test
    void aLayerWritableByAllIsTakenButNotSuchAWorkDirectory() throws Exception {
        Path merged = Files.createDirectories(store.resolve("m"));
        Path lower = Files.createDirectories(store.resolve("lower"));
        Path upper = Files.createDirectories(store.resolve("c/upper"));
        Path work = Files.createDirectories(store.resolve("c/work"));
        for (Path p : List.of(lower, upper, work)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxrwxrwx"));
        }
        String options = "rw,lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
        assertThatThrownBy(() -> mountedAt(merged, List.of(overlayAt(merged, options))))
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("names the layer " + work)
                .hasMessageContaining("is writable by other users");
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwx------"));
        HostOverlay o = mountedAt(merged, List.of(overlayAt(merged, options))).get();
        assertThat(o.lowers()).containsExactly(lower);
        assertThat(o.upper()).contains(upper);
    }

    @Test
    void onlyTheTopMostMountAtTheDirectoryAndOnlyAnOverlaysRootCount() throws Exception {
        Path lower = Files.createDirectories(store.resolve("lower"));
        Path merged = Files.createDirectories(store.resolve("m"));
        Mount overlay = overlayAt(merged, "rw,lowerdir=" + lower);
        assertThat(mountedAt(merged, List.of(overlay))).isPresent();
        assertThat(mountedAt(merged, List.of(overlay,
                new Mount(51, "8:1", Path.of("/srv"), merged, "ext4", "rw")))).as("a bind over it").isEmpty();
        assertThat(mountedAt(merged.getParent(), List.of(overlay))).as("above it").isEmpty();
        assertThat(mountedAt(merged, List.of(new Mount(52, "0:50", Path.of("/sub"), merged, "overlay",
                "rw,lowerdir=" + lower)))).as("a bind of a directory of an overlay").isEmpty();
    }

    @Test
    void whatCannotBeRemadeIsRefusedSayingWhatWorks() throws Exception {
        Path a = Files.createDirectories(store.resolve("a"));
        Path b = Files.createDirectories(store.resolve("b"));
        Path merged = Files.createDirectories(store.resolve("m"));
        assertThatThrownBy(() -> mountedAt(merged, List.of(overlayAt(merged, "rw,lowerdir=" + a + "::" + b))))
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("data-only layers")
                .hasMessageContaining("podman --rootfs");
        assertThatThrownBy(() -> mountedAt(merged, List.of(overlayAt(merged, "rw,lowerdir=l/AAA"))))
                .isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("names its layer l/AAA relative to where it was mounted");
        assertThatThrownBy(() -> mountedAt(merged, List.of(overlayAt(merged,
                "rw,lowerdir=" + a + ",upperdir=" + b)))).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("an upper directory without a work directory");
    }
}
