package dev.crabcan.internal.plan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.SandboxSpecException;
import dev.crabcan.internal.host.MountInfo.Mount;
import java.nio.file.Files;
import java.nio.file.Path;
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
        Optional<HostOverlay> o = HostOverlay.mountedAt(merged, List.of(
                new Mount(1, "8:1", Path.of("/"), Path.of("/"), "ext4", "rw"), overlayAt(merged, options)));
        assertThat(o).isPresent();
        assertThat(o.get().lowers()).containsExactly(mid, base);
        assertThat(o.get().upper()).contains(upper);
        assertThat(o.get().work()).contains(work.resolve(HostOverlay.WORK));
        assertThat(o.get().options()).isEqualTo("uuid=on,metacopy=on,redirect_dir=on,index=off");
    }

    /** overlayfs escapes ':', ',' and '\' in its layers' names; mountinfo's own octal escapes are gone by now. */
    @Test
    void escapedLayerNamesAreRead() throws Exception {
        Path odd = Files.createDirectories(store.resolve("a:b,c"));
        Path merged = Files.createDirectories(store.resolve("m"));
        String escaped = odd.toString().replace(":", "\\:").replace(",", "\\,");
        Optional<HostOverlay> o = HostOverlay.mountedAt(merged, List.of(overlayAt(merged, "ro,lowerdir=" + escaped)));
        assertThat(o.get().lowers()).containsExactly(odd);
        assertThat(o.get().upper()).isEmpty();
        assertThat(o.get().work()).isEmpty();
    }

    @Test
    void onlyTheTopMostMountAtTheDirectoryAndOnlyAnOverlaysRootCount() throws Exception {
        Path lower = Files.createDirectories(store.resolve("lower"));
        Path merged = Files.createDirectories(store.resolve("m"));
        Mount overlay = overlayAt(merged, "rw,lowerdir=" + lower);
        assertThat(HostOverlay.mountedAt(merged, List.of(overlay))).isPresent();
        assertThat(HostOverlay.mountedAt(merged, List.of(overlay,
                new Mount(51, "8:1", Path.of("/srv"), merged, "ext4", "rw")))).as("a bind over it").isEmpty();
        assertThat(HostOverlay.mountedAt(merged.getParent(), List.of(overlay))).as("above it").isEmpty();
        assertThat(HostOverlay.mountedAt(merged, List.of(new Mount(52, "0:50", Path.of("/sub"), merged, "overlay",
                "rw,lowerdir=" + lower)))).as("a bind of a directory of an overlay").isEmpty();
    }

    @Test
    void whatCannotBeRemadeIsRefusedSayingWhatWorks() throws Exception {
        Path a = Files.createDirectories(store.resolve("a"));
        Path b = Files.createDirectories(store.resolve("b"));
        Path merged = Files.createDirectories(store.resolve("m"));
        assertThatThrownBy(() -> HostOverlay.mountedAt(merged, List.of(overlayAt(merged, "rw,lowerdir=" + a + "::" + b))))
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("data-only layers")
                .hasMessageContaining("podman --rootfs");
        assertThatThrownBy(() -> HostOverlay.mountedAt(merged, List.of(overlayAt(merged, "rw,lowerdir=l/AAA"))))
                .isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("names its layer l/AAA relative to where it was mounted");
        assertThatThrownBy(() -> HostOverlay.mountedAt(merged, List.of(overlayAt(merged,
                "rw,lowerdir=" + a + ",upperdir=" + b)))).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("an upper directory without a work directory");
    }
}
