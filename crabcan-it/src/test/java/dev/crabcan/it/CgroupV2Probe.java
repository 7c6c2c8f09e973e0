package dev.crabcan.it;

import dev.crabcan.Limits;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import java.time.Duration;

/**
 * Runs in a JVM started with -Dcrabcan.cgroup.version=2, to exercise the cgroup v2 driver on a
 * hybrid host whose unified hierarchy has no controllers: CPU accounting and the CPU time limit
 * still work there (cpu.stat needs no controller); a memory limit must fail clearly. Prints the
 * result of a busy loop under a 300 ms CPU time limit (and a 60 s wall time limit), then that of
 * a command that uses 200 ms of CPU time by its own clock and exits, then the memory limit's error.
 */
public final class CgroupV2Probe {
    private CgroupV2Probe() {}

    public static void main(String[] args) throws Exception {
        System.out.println(Sandbox.builder().limits(Limits.builder().cpuTime(Duration.ofMillis(300))
                .wallTime(Duration.ofSeconds(60)).build())
                .command("/bin/sh", "-c", "while :; do :; done").build().run().toJson());
        System.out.println(Sandbox.builder().limits(Limits.builder().cpuTime(Duration.ofSeconds(60)).build())
                .command("/usr/bin/python3", "-c", "import time\nwhile time.process_time() < 0.2: pass")
                .build().run().toJson());
        try {
            Sandbox.builder().limits(Limits.builder().memory(64L << 20).build()).command("/bin/true").build().run();
            System.out.println("no error");
        } catch (SandboxException e) {
            System.out.println(e.getMessage());
        }
    }
}
