package dev.crabcan.it;

import dev.crabcan.Limits;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import java.time.Duration;

/**
 * Runs in a JVM started with -Dcrabcan.cgroup.version=2, to exercise the cgroup v2 driver on a
 * hybrid host whose unified hierarchy has no controllers: CPU accounting and the CPU time limit
 * still work there (cpu.stat needs no controller); a memory limit must fail clearly.
 */
public final class CgroupV2Probe {
    private CgroupV2Probe() {}

    public static void main(String[] args) throws Exception {
        System.out.println(Sandbox.builder().limits(Limits.builder().cpuTime(Duration.ofMillis(300)).build())
                .command("/bin/sh", "-c", "while :; do :; done").build().run().toJson());
        try {
            Sandbox.builder().limits(Limits.builder().memory(64L << 20).build()).command("/bin/true").build().run();
            System.out.println("no error");
        } catch (SandboxException e) {
            System.out.println(e.getMessage());
        }
    }
}
