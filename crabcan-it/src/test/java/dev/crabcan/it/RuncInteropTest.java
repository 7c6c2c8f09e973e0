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
        assumeTrue(Env.isHostRoot(), "runc needs root here");
        String runc = Env.tool("runc", "runc").toString();
        // The container's root is host uid 65534 (the user namespace the config asks for): it must reach its rootfs.
        Files.setPosixFilePermissions(bundle, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path rootfs = Files.createDirectory(bundle.resolve("rootfs"));
        OciRuntimeTest.minimalRootfs(rootfs);
        // runc makes missing mount points as the container's (unprivileged) root, which cannot write here.
        for (String dir : List.of("proc", "dev", "tmp")) {
            Files.createDirectories(rootfs.resolve(dir));
        }
        // The command shows its user namespace, then waits while the host reads its cgroup's limits.
        Sandbox s = Sandbox.builder().rootfs(rootfs).hostname("from-java").uid(0)
                .command("/bin/sh", "-c", "echo \"$GREETING from $(cat /proc/sys/kernel/hostname)\"; "
                        + "cat /proc/self/uid_map; echo ready; sleep 60; exit 7")
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
            java.io.BufferedReader out = new java.io.BufferedReader(
                    new java.io.InputStreamReader(run.getInputStream(), StandardCharsets.UTF_8));
            assertThat(out.readLine()).isEqualTo("hello from from-java");
            String[] uidMap = out.readLine().trim().split("\\s+");
            assertThat(uidMap[0]).as("uid 0 inside").isEqualTo("0");
            assertThat(uidMap[1]).as("is not host root").isNotEqualTo("0");
            assertThat(uidMap[2]).as("one id mapped").isEqualTo("1");
            assertThat(out.readLine()).isEqualTo("ready");
            assertThat(cgroupValues(id, "memory.limit_in_bytes", "memory.max")).as("memory limit").contains("67108864");
            assertThat(cgroupValues(id, "pids.max")).as("pids limit").contains("32");
            new ProcessBuilder(runc, "kill", id, "KILL").start().waitFor(20, TimeUnit.SECONDS);
            assertThat(run.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(run.exitValue()).as("killed, not exited").isNotEqualTo(7);
        } finally {
            run.destroyForcibly();
            new ProcessBuilder(runc, "delete", "--force", id).start().waitFor(20, TimeUnit.SECONDS);
        }
    }

    /** The contents of these files in every cgroup directory named name, on whichever hierarchies hold one. */
    private static List<String> cgroupValues(String name, String... files) throws Exception {
        List<String> values = new java.util.ArrayList<>();
        try (java.util.stream.Stream<Path> dirs = Files.find(Path.of("/sys/fs/cgroup"), 8,
                (p, a) -> a.isDirectory() && p.getFileName() != null && p.getFileName().toString().equals(name))) {
            for (Path d : (Iterable<Path>) dirs::iterator) {
                for (String f : files) {
                    if (Files.exists(d.resolve(f))) {
                        values.add(Files.readString(d.resolve(f)).trim());
                    }
                }
            }
        }
        return values;
    }
}
