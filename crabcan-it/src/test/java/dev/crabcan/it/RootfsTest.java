package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.CommandNotExecutableException;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A root filesystem from a host directory: the tutorial's session and its traps. */
class RootfsTest {

    @TempDir
    Path mountdir;

    @Test
    void staticBinaryInAnOtherwiseEmptyRootfs() throws Exception {
        Files.copy(Env.staticBinary("hello"), mountdir.resolve("testbin"));
        SandboxResult r = Sandbox.builder().rootfs(mountdir).command("/testbin").build().run();
        assertThat(r.stdoutText()).isEqualTo("Hello, world!\n");
        assertThat(r.status().code()).isZero();
    }

    @Test
    void dynamicBinaryWithoutItsInterpreterSaysWhichBindFixesIt() throws Exception {
        Files.copy(Path.of("/bin/bash"), mountdir.resolve("bash"));
        assertThatThrownBy(() -> Sandbox.builder().rootfs(mountdir).command("/bash").build().start())
                .isInstanceOf(CommandNotExecutableException.class)
                .hasMessageContaining("cannot execute /bash: its ELF interpreter /lib64/ld-linux-x86-64.so.2 is "
                        + "missing from the root filesystem " + mountdir.toRealPath())
                .hasMessageContaining("-r /lib64:/lib64")
                .satisfies(e -> assertThat(((CommandNotExecutableException) e).interpreter())
                        .isEqualTo("/lib64/ld-linux-x86-64.so.2"));
    }

    @Test
    void theTutorialsSessionWithSymlinkedLibraryDirectories() throws Exception {
        Files.copy(Path.of("/bin/bash"), mountdir.resolve("bash"));
        Files.copy(Path.of("/bin/ls"), mountdir.resolve("ls"));
        SandboxResult r = Sandbox.builder().rootfs(mountdir).uid(0)
                .bind(Path.of("/lib64"), "/lib64", true).bind(Path.of("/lib"), "/lib", true)
                .command("/bash", "-c", "./ls /").build().run();
        assertThat(r.status().code()).as(r.stderrText()).isZero();
        assertThat(r.stdoutText().split("\n")).contains("bash", "lib", "lib64", "ls");
        // The mount points are plain directories in the rootfs, not links to the host's.
        assertThat(mountdir.resolve("lib")).isDirectory().matches(p -> !Files.isSymbolicLink(p));
    }

    @Test
    void missingScriptInterpreter() throws Exception {
        Path script = Files.writeString(mountdir.resolve("run.py"), "#!/usr/bin/python9 -u\nprint(1)\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        assertThatThrownBy(() -> Sandbox.builder().rootfs(mountdir).command("/run.py").build().start())
                .isInstanceOf(CommandNotExecutableException.class)
                .hasMessageContaining("its #! interpreter /usr/bin/python9 is missing");
    }

    @Test
    void rootfsIsReadOnlyUnlessAskedOtherwise() throws Exception {
        Files.copy(Path.of("/bin/busybox").toFile().exists() ? Path.of("/bin/busybox") : Env.staticBinary("hello"),
                mountdir.resolve("unused"), StandardCopyOption.REPLACE_EXISTING);
        Path sh = Files.copy(Path.of("/bin/bash"), mountdir.resolve("bash"));
        Sandbox.Builder b = Sandbox.builder().rootfs(mountdir)
                .bind(Path.of("/lib64"), "/lib64", true).bind(Path.of("/lib"), "/lib", true)
                .command("/bash", "-c", "echo x > /written");
        SandboxResult readOnly = b.build().run();
        assertThat(readOnly.stderrText()).contains("Read-only file system");
        assertThat(mountdir.resolve("written")).doesNotExist();

        SandboxResult writable = b.rootfsWritable(true).build().run();
        assertThat(writable.status().code()).as(writable.stderrText()).isZero();
        assertThat(Files.getAttribute(mountdir.resolve("written"), "unix:uid")).isEqualTo(Env.uid());
        assertThat(sh).exists();
    }

    @Test
    void mountTargetsFollowSymlinksOnlyInsideTheRootfs(@TempDir Path outside, @TempDir Path data) throws Exception {
        Files.copy(Env.staticBinary("hello"), mountdir.resolve("testbin"));
        Files.createDirectory(mountdir.resolve("real"));
        Files.createSymbolicLink(mountdir.resolve("abs"), Path.of("/real"));
        Files.createSymbolicLink(mountdir.resolve("rel"), Path.of("../../../../../../../real"));
        SandboxResult r = Sandbox.builder().rootfs(mountdir).bind(data, "/abs/x", true).bind(data, "/rel/y", true)
                .command("/testbin").build().run();
        assertThat(r.status().code()).isZero();
        assertThat(mountdir.resolve("real/x")).as("an absolute link resolves inside the rootfs").isDirectory();
        assertThat(mountdir.resolve("real/y")).as("'..' stops at the rootfs' root").isDirectory();
        for (String made : new String[] {"real/x", "real/y", "proc", "dev", "tmp"}) {
            assertThat(Files.getAttribute(mountdir.resolve(made), "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS))
                    .as("mount point %s is made with the caller's host ids", made).isEqualTo(Env.uid());
        }

        // A hostile rootfs whose links name a host directory: nothing may be created there.
        Files.createSymbolicLink(mountdir.resolve("escape"), outside);
        Files.createSymbolicLink(mountdir.resolve("up"), Path.of("../../../../../../.." + outside));
        for (String target : new String[] {"/escape/x", "/up/x"}) {
            assertThatThrownBy(() -> Sandbox.builder().rootfs(mountdir).bind(data, target, true)
                    .command("/testbin").build().run())
                    .isInstanceOf(dev.crabcan.SandboxSetupException.class)
                    .hasMessageContaining("No such file or directory");
        }
        try (var s = Files.list(outside)) {
            assertThat(s).as("nothing created outside the rootfs").isEmpty();
        }
    }

    @Test
    void readOnlyRootfsIsReadOnlyAllTheWayDown() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Env.isHostRoot(), "mounting on the host needs root");
        Files.copy(Env.staticBinary("escape"), mountdir.resolve("escape"));
        Path sub = Files.createDirectory(mountdir.resolve("sub"));
        Env.host("mount", "-t", "tmpfs", "none", sub.toString());
        try {
            SandboxResult r = Sandbox.builder().rootfs(mountdir).command("/escape", "write", "/sub/x").build().run();
            assertThat(r.stdoutText().trim()).isEqualTo("BLOCKED EROFS");
        } finally {
            Env.host("umount", sub.toString());
        }
    }
}
