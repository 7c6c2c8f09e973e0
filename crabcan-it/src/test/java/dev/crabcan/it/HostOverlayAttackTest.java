package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.Capability;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.SeccompPolicy;
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

    /**
     * A sandbox on a remade overlay, asking for every capability and no filter: it makes no setuid
     * or set-capability file, and what it changes of the image's files is copied up into the upper
     * directory, as host root's (what an engine expects of its container), never written into the
     * image's layer, which other containers share.
     */
    @Test
    @Timeout(120)
    void aSandboxOnARemadeOverlayMakesNoPrivilegedFileAndLeavesItsLayerAlone() throws Exception {
        assumeTrue(Env.isHostRoot(), "mounting an overlay takes root");
        EscapeTest.compile();
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path lower = Files.createDirectory(dir.resolve("lower"));
        Files.writeString(lower.resolve("victim"), "image\n");
        Path upper = Files.createDirectories(dir.resolve("c/upper"));
        Path work = Files.createDirectory(dir.resolve("c/work"));
        Path merged = Files.createDirectory(dir.resolve("merged"));
        Env.host("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lower + ",upperdir=" + upper + ",workdir="
                + work, merged.toString());
        try {
            Sandbox.Builder b = Sandbox.builder().rootfs(merged).rootfsWritable(true).seccomp(SeccompPolicy.none())
                    .addCapabilities(Capability.SETFCAP, Capability.FSETID);
            assertThat(EscapeTest.attack(b.toBuilder(), "create-setuid", "open", "/")).isEqualTo("BLOCKED EPERM");
            assertThat(EscapeTest.attack(b.toBuilder(), "chmod-setuid", "chmod", "/")).isEqualTo("BLOCKED EPERM");
            assertThat(EscapeTest.attack(b.toBuilder(), "setxattr-cap", "fsetxattr", "/")).startsWith("BLOCKED");
            assertThat(EscapeTest.attack(b.toBuilder(), "write", "/victim")).as("a copy-up").startsWith("ESCAPED");
            assertThat(lower.resolve("victim")).hasContent("image");
            assertThat(upper.resolve("victim")).hasContent("pwned");
            assertThat(Files.getAttribute(upper.resolve("victim"), "unix:uid")).isEqualTo(0);
            EscapeTest.assertNothingPrivileged(upper);
        } finally {
            Env.host("umount", merged.toString());
        }
    }
}
