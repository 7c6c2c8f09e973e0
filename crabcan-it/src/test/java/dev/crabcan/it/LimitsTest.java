package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.Limits;
import dev.crabcan.Rlimit;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import dev.crabcan.SandboxResult;
import dev.crabcan.Verdict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Limits and verdicts on the real kernel: cgroups (as root here; also as a user with systemd's
 * delegation in the VM lane), timers, output, rlimits.
 */
class LimitsTest {

    static SandboxResult run(Limits limits, String script) throws Exception {
        return Sandbox.builder().limits(limits).command("/bin/sh", "-c", script).build().run();
    }

    /** Every sandbox cgroup this JVM made, on any hierarchy; empty between runs. */
    static List<Path> sandboxCgroups() throws Exception {
        String jvmDir = "crabcan-" + ProcessHandle.current().pid();
        return Env.cgroupDirs(p -> p.getParent() != null && p.getParent().getFileName() != null
                && p.getParent().getFileName().toString().equals(jvmDir));
    }

    @AfterEach
    void noCgroupLeftBehind() throws Exception {
        assertThat(sandboxCgroups()).isEmpty();
    }

    @Test
    void wallTimeLimitKillsTheWholeSandbox() throws Exception {
        SandboxResult r = run(Limits.builder().wallTime(Duration.ofMillis(300)).build(), "sleep 5 & sleep 10");
        assertThat(r.verdict()).isEqualTo(Verdict.WALL_TIME_LIMIT);
        assertThat(r.status().signal()).isEqualTo(9);
        // Killed at the limit, not when the first sleep ends: how soon after depends on the machine's load.
        assertThat(r.wallTime()).isGreaterThanOrEqualTo(Duration.ofMillis(300)).isLessThan(Duration.ofSeconds(5));
    }

    @Test
    void outputLimitTruncatesAndKills() throws Exception {
        SandboxResult r = run(Limits.builder().outputBytes(1000).build(), "yes; echo never >&2");
        assertThat(r.verdict()).isEqualTo(Verdict.OUTPUT_LIMIT);
        assertThat(r.stdout()).hasSize(1000);
        assertThat(r.stdoutTruncated()).isTrue();
        assertThat(r.stderrTruncated()).isFalse();
    }

    @Test
    void outputExactlyAtTheLimitIsNotTruncated() throws Exception {
        SandboxResult r = run(Limits.builder().outputBytes(6).build(), "printf 'abcdef'");
        assertThat(r.verdict()).isEqualTo(Verdict.OK);
        assertThat(r.stdoutText()).isEqualTo("abcdef");
        assertThat(r.stdoutTruncated()).isFalse();
    }

    @Test
    void rlimitsAreSetBeforeExecve() throws Exception {
        SandboxResult r = run(Limits.builder().rlimit(Rlimit.NOFILE, 17).rlimit(Rlimit.CORE, 0)
                .rlimit(Rlimit.FSIZE, 1024).build(), "ulimit -n; ulimit -c; exec head -c 5000 /dev/zero > /tmp/big");
        assertThat(r.stdoutText()).startsWith("17\n0\n");
        assertThat(r.status().signal()).as("SIGXFSZ").isEqualTo(25);
        assertThat(r.verdict()).as("the file-size limit the caller set").isEqualTo(Verdict.OUTPUT_LIMIT);
    }

    @Test
    void verdictsWithoutLimits() throws Exception {
        assertThat(run(Limits.none(), "exit 0").verdict()).isEqualTo(Verdict.OK);
        assertThat(run(Limits.none(), "exit 2").verdict()).isEqualTo(Verdict.NONZERO_EXIT);
        assertThat(run(Limits.none(), "kill -TERM $$").verdict()).isEqualTo(Verdict.SIGNALED);
        assertThat(run(Limits.none(), "kill -SYS $$").verdict()).isEqualTo(Verdict.SECCOMP_VIOLATION);
    }

    @Test
    void cpuTimeLimitCountsEveryProcessAndIsPrecise() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        SandboxResult r = run(Limits.builder().cpuTime(Duration.ofMillis(500)).build(),
                "while :; do :; done & while :; do :; done");
        assertThat(r.verdict()).isEqualTo(Verdict.CPU_TIME_LIMIT);
        assertThat(r.cpuTimeSource()).hasValue(SandboxResult.Source.CGROUP);
        assertThat(r.cpuTime().orElseThrow()).as("two busy processes, counted together")
                .isBetween(Duration.ofMillis(500), Duration.ofMillis(560));
    }

    @Test
    void memoryLimitIsAMemoryVerdictNotASignal() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        SandboxResult r = run(Limits.builder().memory(64L << 20).swap(0).build(),
                "python3 -c 'a = bytearray(256 * 1024 * 1024); print(len(a))'");
        assertThat(r.verdict()).isEqualTo(Verdict.MEMORY_LIMIT);
        assertThat(r.oomKilled()).isTrue();
        assertThat(r.peakMemorySource()).hasValue(SandboxResult.Source.CGROUP);
        assertThat(r.peakMemoryBytes().getAsLong()).isBetween(32L << 20, 65L << 20);

        SandboxResult fits = run(Limits.builder().memory(64L << 20).swap(0).build(),
                "python3 -c 'a = bytearray(16 * 1024 * 1024); print(len(a))'");
        assertThat(fits.verdict()).isEqualTo(Verdict.OK);
        assertThat(fits.oomKilled()).as("no stale OOM flag from the earlier run").isFalse();
    }

    @Test
    void pidsLimit() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        String forkBomb = "import os, time\n"
                + "n = 0\n"
                + "for i in range(50):\n"
                + "    try:\n"
                + "        if os.fork() == 0:\n"
                + "            time.sleep(5)\n"
                + "            os._exit(0)\n"
                + "        n += 1\n"
                + "    except OSError:\n"
                + "        break\n"
                + "print(n)\n";
        SandboxResult r = Sandbox.builder().limits(Limits.builder().pids(8).build())
                .command("/usr/bin/python3", "-c", forkBomb).build().run();
        assertThat(Integer.parseInt(r.stdoutText().trim())).as("children next to init and python")
                .isEqualTo(6);
    }

    @Test
    void cgroupNamespaceIsRootedAtTheSandboxCgroup() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        SandboxResult r = run(Limits.builder().pids(100).build(), "cat /proc/self/cgroup");
        // v1: the sandbox's pids and memory hierarchies; pure v2: the one unified line.
        assertThat(r.stdoutText().lines().filter(l -> Env.pureCgroupV2() || l.contains("pids") || l.contains("memory")))
                .isNotEmpty().allMatch(l -> l.endsWith(":/"));
    }

    /**
     * Every value of the judge preset reaches the kernel: the rlimits as the command sees them,
     * the cgroup's limits as the host sees them while the command runs.
     */
    @Test
    void judgePreset() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        if (cpuRefusedWithTheFix(Limits.judge())) {
            return;
        }
        dev.crabcan.SandboxProcess p = Sandbox.builder().limits(Limits.judge())
                .command("/bin/sh", "-c", "echo fine; ulimit -n; ulimit -c; ulimit -f; read go").build().start();
        java.io.BufferedReader out = new java.io.BufferedReader(
                new java.io.InputStreamReader(p.getInputStream(), java.nio.charset.StandardCharsets.UTF_8));
        assertThat(List.of(out.readLine(), out.readLine(), out.readLine(), out.readLine()))
                .as("echo, then open files, core size and file size (dash counts 512-byte blocks)")
                .containsExactly("fine", "64", "0", String.valueOf((64L << 20) / 512));
        List<Path> cgroups = sandboxCgroups();
        assertThat(cgroupValue(cgroups, "memory.limit_in_bytes", "memory.max")).isEqualTo(256L << 20);
        // No swap: memory and swap together are the memory limit (v1), or the swap limit is 0 (v2).
        String swapFile = cgroupHas(cgroups, "memory.memsw.limit_in_bytes") ? "memory.memsw.limit_in_bytes"
                : "memory.swap.max";
        assertThat(cgroupValue(cgroups, swapFile)).isEqualTo(swapFile.startsWith("memory.memsw") ? 256L << 20 : 0);
        assertThat(cgroupValue(cgroups, "pids.max")).isEqualTo(64);
        if (cgroupHas(cgroups, "cpu.cfs_quota_us")) {
            assertThat(cgroupValue(cgroups, "cpu.cfs_quota_us")).as("one CPU")
                    .isEqualTo(cgroupValue(cgroups, "cpu.cfs_period_us"));
        } else {
            String[] max = cgroupText(cgroups, "cpu.max").split(" ");
            assertThat(max[0]).as("one CPU").isEqualTo(max[1]);
        }
        p.getOutputStream().write("go\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        p.getOutputStream().close();
        SandboxResult r = p.result();
        assertThat(r.verdict()).isEqualTo(Verdict.OK);
        assertThat(r.toJson()).startsWith("{\"exitCode\":0,\"signal\":null,\"verdict\":\"OK\",\"cpuTimeMs\":")
                .contains("\"peakMemorySource\":\"cgroup\"");
        Limits judge = Limits.judge();
        assertThat(judge.cpuTime()).hasValue(Duration.ofSeconds(2));
        assertThat(judge.wallTime()).hasValue(Duration.ofSeconds(5));
        assertThat(judge.outputBytes()).hasValue(16L << 20);
    }

    /**
     * A sandbox given one CPU and memory node runs there alone (the kernel's own view, from
     * inside); one given a CPU its parent cgroup lacks is refused, naming what the parent has.
     * Where a v2 parent offers no cpuset controller (a systemd service without Delegate=), the
     * error names the setting that gives one.
     */
    @Test
    void cpusetPinsTheSandboxToItsCpusAndRefusesOthersByName() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        Limits pinned = Limits.builder().cpusetCpus(lastCpu()).cpusetMems("0").build();
        if (Env.pureCgroupV2() && !Env.cgroupV2Controllers().contains("cpuset")) {
            assertThatThrownBy(() -> Sandbox.builder().limits(pinned).command("/bin/true").build().run())
                    .isInstanceOf(dev.crabcan.UnsupportedHostException.class)
                    .hasMessageContaining("controllers [cpuset] are not available")
                    .hasMessageContaining("-Dcrabcan.cgroup.parent");
            return;
        }
        SandboxResult r = Sandbox.builder().limits(pinned)
                .command("/bin/grep", "-E", "^(Cpus|Mems)_allowed_list", "/proc/self/status").build().run();
        assertThat(r.verdict()).as(r.stderrText()).isEqualTo(Verdict.OK);
        assertThat(r.stdoutText()).isEqualTo("Cpus_allowed_list:\t" + lastCpu() + "\nMems_allowed_list:\t0\n");
        assertThatThrownBy(() -> Sandbox.builder().limits(Limits.builder().cpusetCpus("4095").build())
                .command("/bin/true").build().run()).isInstanceOf(dev.crabcan.SandboxSpecException.class)
                .hasMessageContaining("Limits.cpusetCpus(\"4095\") is not within what the sandbox's parent cgroup has")
                .hasMessageContaining("cpuset.cpus");
    }

    /** The last CPU this JVM may run on, as the kernel lists it. */
    static String lastCpu() throws Exception {
        String list = Files.readAllLines(Path.of("/proc/self/status")).stream()
                .filter(l -> l.startsWith("Cpus_allowed_list:")).findFirst().orElseThrow().split("\t")[1].trim();
        String last = list.substring(list.lastIndexOf(',') + 1);
        return last.substring(last.lastIndexOf('-') + 1);
    }

    @Test
    void cpuWeightCpuQuotaAndIoWeightReachTheCgroup() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        if (cpuRefusedWithTheFix(Limits.builder().cpus(0.5).build())) {
            return;
        }
        dev.crabcan.SandboxProcess p = Sandbox.builder()
                .limits(Limits.builder().cpuWeight(50).cpus(0.5).ioWeight(500).build())
                .command("/bin/sh", "-c", "echo ready; read go").build().start();
        assertThat(new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream())).readLine())
                .isEqualTo("ready");
        List<Path> cgroups = sandboxCgroups();
        if (cgroupHas(cgroups, "cpu.shares")) {
            assertThat(cgroupValue(cgroups, "cpu.shares")).as("weight 50 of 100 is 512 of 1024").isEqualTo(512);
            assertThat(cgroupValue(cgroups, "cpu.cfs_quota_us") * 2).as("half a CPU")
                    .isEqualTo(cgroupValue(cgroups, "cpu.cfs_period_us"));
        } else {
            assertThat(cgroupValue(cgroups, "cpu.weight")).isEqualTo(50);
            String[] max = cgroupText(cgroups, "cpu.max").split(" ");
            assertThat(Long.parseLong(max[0]) * 2).as("half a CPU").isEqualTo(Long.parseLong(max[1]));
        }
        // Only where the host's I/O scheduler offers a weight (BFQ); this one's (mq-deadline) does not.
        if (cgroupHas(cgroups, "blkio.bfq.weight")) {
            assertThat(cgroupValue(cgroups, "blkio.bfq.weight")).as("500 of 10000 is 50 of 1000").isEqualTo(50);
        } else if (cgroupHas(cgroups, "io.weight") || Env.cgroupV2Controllers().contains("io")) {
            assertThat(cgroupText(cgroups, "io.weight")).startsWith("default 500");
        }
        p.getOutputStream().write("go\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        p.getOutputStream().close();
        assertThat(p.result().verdict()).isEqualTo(Verdict.OK);
    }

    @Test
    void everyRlimitReachesTheKernel() throws Exception {
        Limits limits = Limits.builder().rlimit(Rlimit.STACK, 4L << 20).rlimit(Rlimit.CPU, 7)
                .rlimit(Rlimit.AS, 1L << 30).rlimit(Rlimit.NPROC, 77).rlimit(Rlimit.MEMLOCK, 32L << 10)
                .rlimit(Rlimit.NOFILE, 99).rlimit(Rlimit.FSIZE, 1L << 20).rlimit(Rlimit.CORE, 0).build();
        String out = run(limits, "cat /proc/self/limits").stdoutText();
        assertThat(out).containsPattern("Max stack size\\s+4194304\\s+4194304")
                .containsPattern("Max cpu time\\s+7\\s+7")
                .containsPattern("Max address space\\s+1073741824\\s+1073741824")
                .containsPattern("Max processes\\s+77\\s+77")
                .containsPattern("Max locked memory\\s+32768\\s+32768")
                .containsPattern("Max open files\\s+99\\s+99")
                .containsPattern("Max file size\\s+1048576\\s+1048576")
                .containsPattern("Max core file size\\s+0\\s+0");
    }

    /**
     * Whether this is a pure cgroup v2 host whose JVM's cgroup has no cpu controller (systemd
     * gives a service without Delegate= only memory and pids), and so a CPU limit was refused,
     * with an exception that names the fix.
     */
    private static boolean cpuRefusedWithTheFix(Limits limits) throws Exception {
        if (!Env.pureCgroupV2() || Env.cgroupV2Controllers().contains("cpu")) {
            return false;
        }
        assertThatThrownBy(() -> Sandbox.builder().limits(limits).command("/bin/true").build().run())
                .isInstanceOf(dev.crabcan.UnsupportedHostException.class)
                .hasMessageContaining("controllers [cpu] are not available").hasMessageContaining("Delegate=")
                .hasMessageContaining("-Dcrabcan.cgroup.parent");
        return true;
    }

    private static boolean cgroupHas(List<Path> cgroups, String file) {
        return cgroups.stream().anyMatch(c -> Files.exists(c.resolve(file)));
    }

    private static String cgroupText(List<Path> cgroups, String... files) throws Exception {
        for (Path c : cgroups) {
            for (String f : files) {
                if (Files.exists(c.resolve(f))) {
                    return Files.readString(c.resolve(f)).trim();
                }
            }
        }
        throw new AssertionError("no " + List.of(files) + " in the sandbox's cgroups " + cgroups);
    }

    private static long cgroupValue(List<Path> cgroups, String... files) throws Exception {
        return Long.parseLong(cgroupText(cgroups, files));
    }

    @Test
    void cgroupLimitsRootlessFailClearlyOnThisHost() throws Exception {
        assumeTrue(!Env.mayLimit(), "this caller may have cgroups");
        assertThatThrownBy(() -> run(Limits.builder().memory(64L << 20).build(), "true"))
                .isInstanceOf(dev.crabcan.CgroupUnavailableException.class).hasMessageContaining("permission denied for uid")
                .hasMessageContaining("crabcan.cgroup.parent")
                .satisfies(e -> assertThat(((dev.crabcan.CgroupUnavailableException) e).limits()).containsExactly("memory"));
    }

    @Test
    void cgroupV2DriverOnTheUnifiedHierarchy(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        assumeTrue(Env.isHostRoot() && Files.isDirectory(Path.of("/sys/fs/cgroup/unified")),
                "needs root and this host's hybrid layout");
        Process jvm = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "-XX:-UsePerfData", "-Djava.io.tmpdir=" + tmp,
                "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"), "-Dcrabcan.cgroup.version=2",
                CgroupV2Probe.class.getName()).redirectErrorStream(true).start();
        List<String> lines = new String(jvm.getInputStream().readAllBytes()).lines().toList();
        assertThat(jvm.waitFor()).as("%s", lines).isZero();
        // Killed for its CPU time, not before the limit; how soon after depends on when the watchdog
        // thread gets a CPU, which on a loaded machine is anyone's guess (LimitsTest measures it).
        assertThat(lines.get(0)).contains("\"verdict\":\"CPU_TIME_LIMIT\"");
        assertThat(cpuTimeMs(lines.get(0))).isGreaterThanOrEqualTo(300);
        // CPU time is the machine's speed-independent measure: what the command used by its own
        // clock, plus init's and the exec's share.
        assertThat(lines.get(1)).as("%s", lines).contains("\"verdict\":\"OK\"");
        assertThat(cpuTimeMs(lines.get(1))).as("a command that used 200 ms of CPU time").isBetween(200L, 260L);
        assertThat(lines.get(2)).contains("the cgroup v2 controllers [memory] are not available");
        try (Stream<Path> s = Files.list(Path.of("/sys/fs/cgroup/unified"))) {
            assertThat(s.map(p -> p.getFileName().toString()))
                    .noneMatch(n -> n.equals("crabcan-" + jvm.pid()));
        }
    }

    private static long cpuTimeMs(String json) {
        return Long.parseLong(json.replaceAll(".*\"cpuTimeMs\":(\\d+).*", "$1"));
    }

    @Test
    void cgroupIsRemovedOnFailedStartsAndOnDestroy() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        Limits limits = Limits.builder().memory(64L << 20).pids(10).build();
        assertThatThrownBy(() -> Sandbox.builder().limits(limits).command("/no/such/command").build().start())
                .isInstanceOf(dev.crabcan.CommandNotFoundException.class);
        assertThat(sandboxCgroups()).isEmpty();
        assertThatThrownBy(() -> Sandbox.builder().limits(limits).workingDirectory("/nope").command("/bin/true")
                .build().start()).isInstanceOf(dev.crabcan.SandboxSetupException.class);
        assertThat(sandboxCgroups()).isEmpty();
        var p = Sandbox.builder().limits(limits).command("/bin/sleep", "30").build().start();
        assertThat(sandboxCgroups()).hasSizeGreaterThanOrEqualTo(1);
        p.destroyForcibly();
        assertThat(p.waitForStatus().signal()).isEqualTo(9);
        assertThat(p.verdict()).isEqualTo(Verdict.SIGNALED);
    }

    @Test
    void outputWrittenBeforeAKillIsNotLost() throws Exception {
        SandboxResult wall = run(Limits.builder().wallTime(Duration.ofMillis(300)).build(),
                "head -c 200000 /dev/zero | tr '\\0' x; echo; echo done >&2; sleep 10");
        assertThat(wall.verdict()).isEqualTo(Verdict.WALL_TIME_LIMIT);
        assertThat(wall.stdout()).hasSize(200_001);
        assertThat(wall.stderrText()).isEqualTo("done\n");
        for (int i = 0; i < 20; i++) {
            SandboxResult quick = run(Limits.none(), "head -c 1000000 /dev/urandom | od -An -v | head -c 777777; exit 0");
            assertThat(quick.stdout()).as("everything written right before exiting").hasSize(777_777);
        }
    }
}
