package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.Limits;
import dev.crabcan.Sandbox;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A spec built in Java, written out with {@link Sandbox#toOciConfig()}, runs under another OCI
 * runtime: Debian's runc. (crun refuses this host's hybrid cgroup layout.) Root only: runc's
 * rootless mode needs subordinate id ranges this machine does not give.
 */
class RuncInteropTest {

    @Test
    void aConfigWrittenFromJavaRunsUnderRunc(@TempDir Path bundle) throws Exception {
        assumeTrue(Env.isRoot(), "runc needs root here");
        String runc = Env.tool("runc", "runc").toString();
        // The container's root is host uid 65534 (the user namespace the config asks for): it must reach its rootfs.
        Files.setPosixFilePermissions(bundle, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path rootfs = Files.createDirectory(bundle.resolve("rootfs"));
        OciRuntimeTest.minimalRootfs(rootfs);
        // runc makes missing mount points as the container's (unprivileged) root, which cannot write here.
        for (String dir : List.of("proc", "dev", "tmp")) {
            Files.createDirectories(rootfs.resolve(dir));
        }
        Sandbox s = Sandbox.builder().rootfs(rootfs).hostname("from-java").uid(0)
                .command("/bin/sh", "-c", "echo \"$GREETING from $(cat /proc/sys/kernel/hostname)\"; exit 7")
                .env("GREETING", "hello")
                .limits(Limits.builder().memory(64L << 20).pids(32).build())
                .build();
        String id = "crabcan-interop-" + ProcessHandle.current().pid();
        // runc's cgroup goes below the one it runs in (this JVM's), not at the hierarchy's root.
        String config = s.toOciConfig().replaceFirst("\"linux\": \\{", "\"linux\": {\n    \"cgroupsPath\": \"" + id + "\",");
        assertThat(config).contains("\"cgroupsPath\": \"" + id + "\"");
        Files.writeString(bundle.resolve("config.json"), config);
        Process run = new ProcessBuilder(runc, "run", "--bundle", bundle.toString(), id)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true).start();
        try {
            String out = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(run.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(out.trim()).isEqualTo("hello from from-java");
            assertThat(run.exitValue()).isEqualTo(7);
        } finally {
            run.destroyForcibly();
            new ProcessBuilder(runc, "delete", "--force", id).start().waitFor(20, TimeUnit.SECONDS);
        }
    }
}
