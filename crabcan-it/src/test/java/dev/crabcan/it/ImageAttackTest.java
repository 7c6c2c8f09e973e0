package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxResult;
import dev.crabcan.image.Image;
import dev.crabcan.image.ImageConfig;
import dev.crabcan.internal.image.Store;
import dev.crabcan.internal.image.Tar;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Attacks through images on the host's other users. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ImageAttackTest {
    @TempDir
    Path tmp;

    /**
     * Found by an attack review: an image's setuid files are unpacked with their modes, owned by the
     * builder; a root caller's store in a directory others may enter (a --store under /srv, /var/lib)
     * gave every local user a setuid-root program of the image's choice, ready once the image ran.
     */
    @Test
    void anImagesSetuidFilesUnpackedByRootGiveOtherUsersNothing() throws Exception {
        assumeTrue(Env.isHostRoot(), "acting as another host user takes root");
        Path shared = Files.createDirectory(tmp.resolve("srv"));
        for (Path p : List.of(tmp, shared)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Store store = Store.open(shared.resolve("images"));
        byte[] id = Files.readAllBytes(Path.of("/usr/bin/id"));
        ByteArrayOutputStream layer = new ByteArrayOutputStream();
        Tar.Writer w = new Tar.Writer(layer);
        w.put(Tar.Entry.directory("bin", 0755, 0, 0, 0));
        w.put(Tar.Entry.file("bin/id", 06755, 0, 0, id.length, 0));
        w.write(id, 0, id.length);
        w.finish();
        Image image;
        try (var held = store.use()) {
            Image.Layer l = store.putBlob(layer.toByteArray()).asLayer();
            image = store.commit(ImageConfig.builder().build(), List.of(l), List.of(), Optional.of("suid:1"));
        }
        Path rootfs = store.layerDirs(image).get(0);

        // Through a shell: setpriv itself still holds root's capabilities at its execve.
        Process p = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c",
                "exec \"$0\" -u", rootfs.resolve("bin/id").toString()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
        }
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(out).as("the image's setuid id run by host uid 65534").isNotEqualTo("0")
                .contains("Permission denied");
    }

    /**
     * Found by an attack review: a store directory another user made (a --store under /tmp) was
     * used as it was, so that user could swap what the caller runs: here the unpacked image, for a
     * root caller's sandbox, by renaming the store's layers/ away and planting its own.
     */
    @Test
    void aStoreDirectoryOfAnotherUserIsRefused() throws Exception {
        assumeTrue(Env.isHostRoot(), "acting as another host user takes root");
        Path shared = Files.createDirectory(tmp.resolve("shared"));
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setAttribute(shared, "unix:mode", 01777); // as /tmp
        Path dir = shared.resolve("store");
        asNobody("mkdir " + dir);
        Store store;
        try {
            store = Store.open(dir);
        } catch (dev.crabcan.image.ImageException refused) {
            assertThat(refused).hasMessageContaining(dir.toString()).hasMessageContaining("belongs to another user");
            return;
        }
        ByteArrayOutputStream layer = new ByteArrayOutputStream();
        Tar.Writer w = new Tar.Writer(layer);
        w.put(Tar.Entry.file("id", 0644, 0, 0, 6, 0));
        w.write("image\n".getBytes(StandardCharsets.UTF_8), 0, 6);
        w.finish();
        Image image;
        try (var held = store.use()) {
            image = store.commit(ImageConfig.builder().build(), List.of(store.putBlob(layer.toByteArray()).asLayer()),
                    List.of(), Optional.of("swapped:1"));
        }
        String hex = image.layers().get(0).digest().hex();
        asNobody("mv " + dir + "/layers " + dir + "/old && mkdir -p " + dir + "/layers/" + hex
                + " && echo planted > " + dir + "/layers/" + hex + "/id");
        assertThat(store.layerDirs(image).get(0).resolve("id")).as("what the caller's sandbox would run")
                .hasContent("image");
    }

    /**
     * A layer is unpacked into a directory of its own, a lower layer of an overlayfs, where a
     * character device 0/0 is a whiteout: a layer that carries one must not hide what lower layers
     * have (device nodes are skipped), and its OCI whiteouts hide only what they name.
     */
    @Test
    void aLayerHidesNothingButWhatItsOciWhiteoutsName() throws Exception {
        Path rootfs = tmp.resolve("rootfs");
        BuildTest.busyboxRootfs(rootfs);
        Files.writeString(rootfs.resolve("data/gone"), "gone");
        Store store = Store.open(tmp.resolve("store"));
        Process tar = new ProcessBuilder("tar", "-C", rootfs.toString(), "-cf", "-", ".").start();
        byte[] base = tar.getInputStream().readAllBytes();
        assertThat(tar.waitFor(30, TimeUnit.SECONDS)).isTrue();
        ByteArrayOutputStream attack = new ByteArrayOutputStream();
        Tar.Writer w = new Tar.Writer(attack);
        w.put(new Tar.Entry("data/old", Tar.Type.CHAR, 0644, 0, 0, 0, 0, "", 0, 0));
        w.put(Tar.Entry.file("data/.wh.gone", 0644, 0, 0, 0, 0));
        w.put(Tar.Entry.file("data/new", 0644, 0, 0, 0, 0));
        w.finish();
        Image image;
        try (var held = store.use()) {
            image = store.commit(ImageConfig.builder().build(), List.of(store.putBlob(base).asLayer(),
                    store.putBlob(attack.toByteArray()).asLayer()), List.of(), Optional.of("whiteouts:1"));
        }

        SandboxResult r = Sandbox.builder().image(image).command("/bin/sh", "-c", "ls -a /data; cat /data/old")
                .build().run();

        assertThat(r.stdoutText()).as(r.stderrText()).isEqualTo(".\n..\nnew\nold\nold");
    }

    private static void asNobody(String script) throws Exception {
        Process p = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c",
                script).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
    }
}
