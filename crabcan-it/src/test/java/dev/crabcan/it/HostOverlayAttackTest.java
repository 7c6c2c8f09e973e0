package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxSpecException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Attacks on a host root caller's root filesystem that is an overlayfs mount, which Crabcan
 * remakes of the layers mountinfo names (an OCI engine's image root).
 */
class HostOverlayAttackTest {
    @TempDir
    Path dir;

    /**
     * Root mounted an overlay of directories of another user's (uid 65534 here), who then renames
     * the upper and work directories away and puts links to a private directory of root's in their
     * place: the overlay keeps the directories it found, but mountinfo still names the links. Taken
     * from mountinfo, the sandbox's root (idmapped) owned root's directory and wrote a file there.
     */
    @Test
    @Timeout(120)
    void anOverlayWhoseLayersAnotherUserCanSwapIsRefused() throws Exception {
        assumeTrue(Env.isHostRoot(), "mounting an overlay and acting as another user take root");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path theirs = Files.createDirectory(dir.resolve("theirs"));
        Path lower = Files.createDirectory(theirs.resolve("lower"));
        Files.copy(Env.staticBinary("escape"), lower.resolve("escape"));
        Path upper = Files.createDirectory(theirs.resolve("upper"));
        Path work = Files.createDirectory(theirs.resolve("work"));
        Env.host("chown", "-R", "65534:65534", theirs.toString());
        Path roots = Files.createDirectory(dir.resolve("roots"));
        Path secret = Files.createDirectory(roots.resolve("secret"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Path merged = Files.createDirectory(dir.resolve("merged"));
        Env.host("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lower + ",upperdir=" + upper + ",workdir="
                + work, merged.toString());
        try {
            // What uid 65534 may do in its own directory, done as it.
            Env.host("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", "cd " + theirs
                    + " && mv upper upper.old && mv work work.old && ln -s " + secret + " upper && ln -s " + roots + " work");
            assertThatThrownBy(() -> Sandbox.builder().rootfs(merged).rootfsWritable(true)
                    .command("/escape", "write", "/planted").build().run())
                    .isInstanceOf(SandboxSpecException.class)
                    .hasMessageContaining("names the layer " + lower + ", which others can change: " + theirs)
                    .hasMessageContaining("belongs to another user");
            assertThat(secret.resolve("planted")).doesNotExist();
            assertThat(roots.resolve("crabcan")).doesNotExist();
        } finally {
            Env.host("umount", merged.toString());
        }
    }
}
