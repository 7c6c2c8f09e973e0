package dev.crabcan.internal.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.image.ImageException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile layers and archives: each test unpacks one into a root beside a directory of the
 * host's and fails if anything outside the root changed.
 */
class UnpackerAttackTest {
    @TempDir
    Path tmp;
    Path root;
    Path outside;
    Path victim;

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createDirectory(tmp.resolve("root"));
        outside = Files.createDirectory(tmp.resolve("outside"));
        victim = Files.createDirectory(outside.resolve("victim"));
        Files.setPosixFilePermissions(victim, PosixFilePermissions.fromString("rwx------"));
        Files.setLastModifiedTime(victim, FileTime.fromMillis(1_000_000_000_000L));
        Files.writeString(outside.resolve("keep"), "host file\n");
    }

    private interface Entries {
        void write(Tar.Writer w) throws IOException;
    }

    private void unpack(Unpacker.Policy policy, Entries entries) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Tar.Writer w = new Tar.Writer(bytes);
        entries.write(w);
        w.finish();
        new Unpacker(root, new Unpacker.Owners()).apply(new ByteArrayInputStream(bytes.toByteArray()), "", policy,
                "hostile layer");
    }

    private void assertOutsideUntouched() throws IOException {
        assertThat(Files.readString(outside.resolve("keep"))).isEqualTo("host file\n");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(victim, LinkOption.NOFOLLOW_LINKS)))
                .isEqualTo("rwx------");
        assertThat(Files.getLastModifiedTime(victim, LinkOption.NOFOLLOW_LINKS).toMillis()).isEqualTo(1_000_000_000_000L);
    }

    /** Found by an attack review: a directory's mode was set at the end by its path, through the later link (0777 outside). */
    @Test
    void aDirectoryReplacedByALinkLaterInTheArchiveDoesNotTakeItsModeOutside() throws IOException {
        for (Unpacker.Policy policy : Unpacker.Policy.values()) {
            for (String link : new String[] {outside.toString(), "../outside"}) {
                try {
                    unpack(policy, w -> {
                        w.put(Tar.Entry.directory("a", 0755, 0, 0, 0));
                        w.put(Tar.Entry.directory("a/victim", 07777, 0, 0, 5));
                        w.put(Tar.Entry.symlink("a", link, 0, 0, 0));
                    });
                } catch (IOException refused) {
                    // refusing the archive is as good as ignoring the stale entry, if nothing outside changed
                }
                assertOutsideUntouched();
                Unpacker.removeTree(root.resolve("a"));
            }
        }
    }

    /** Found by an attack review: '.wh...' emptied and removed the root's parent directory (the store's tmp/). */
    @Test
    void whiteoutsNamingTheParentOrTheDirectoryItselfRemoveNothingOutside() throws IOException {
        Path inRoot = Files.writeString(root.resolve("lower"), "lower layer\n");
        for (String name : new String[] {".wh...", ".wh..", ".wh.", "d/.wh...", "d/.wh.", "d/.wh.."}) {
            Files.createDirectories(root.resolve("d"));
            assertThatThrownBy(() -> unpack(Unpacker.Policy.LAYER, w -> w.put(Tar.Entry.file(name, 0644, 0, 0, 0, 0))))
                    .as(name).isInstanceOf(ImageException.class).hasMessageContaining(name);
            assertThat(root).as(name).isDirectory();
            assertThat(inRoot).hasContent("lower layer\n");
            assertOutsideUntouched();
        }
    }

    @Test
    void namesAndHardLinksCannotLeaveTheRoot() throws IOException {
        Files.createSymbolicLink(root.resolve("l"), outside);
        for (String name : new String[] {"../outside/keep", "/outside/keep", "./../outside/keep", "a/../../outside/keep",
                "l/keep", "l/new"}) {
            assertThatThrownBy(() -> unpack(Unpacker.Policy.LAYER, w -> {
                w.put(Tar.Entry.file(name, 0644, 0, 0, 0, 0));
            })).as(name).isInstanceOf(ImageException.class);
            assertThatThrownBy(() -> unpack(Unpacker.Policy.LAYER, w -> {
                w.put(new Tar.Entry("h", Tar.Type.HARDLINK, 0644, 0, 0, 0, 0, name, 0, 0));
            })).as("hard link to " + name).isInstanceOf(ImageException.class);
        }
        unpack(Unpacker.Policy.LAYER, w -> {
            w.put(Tar.Entry.symlink("s", outside.resolve("keep").toString(), 0, 0, 0));
            w.put(new Tar.Entry("h", Tar.Type.HARDLINK, 0644, 0, 0, 0, 0, "s", 0, 0));
            w.put(Tar.Entry.file("s", 0644, 0, 0, 0, 0));
            w.put(Tar.Entry.file("l", 0644, 0, 0, 0, 0));
        });
        assertThat(Files.isSymbolicLink(root.resolve("h"))).isTrue();
        assertOutsideUntouched();
    }
}
