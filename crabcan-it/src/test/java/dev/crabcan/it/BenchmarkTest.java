package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.Limits;
import dev.crabcan.Network;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.Stdio;
import java.io.File;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The performance benchmark: every comparison is measured side by side in one run, interleaved,
 * so that a noisy machine affects each case alike. CI runs it with a few iterations only to
 * prove it still works; for real figures:
 *
 * <pre>
 * mvn -q -pl crabcan-it -am verify -Dtest=BenchmarkTest -Dsurefire.failIfNoSpecifiedTests=false -Dcrabcan.bench.iterations=300
 * </pre>
 *
 * It prints a markdown table and writes it to crabcan-it/target/benchmark.md. No assertion is
 * made on timings.
 */
class BenchmarkTest {
    private static final int N = Integer.getInteger("crabcan.bench.iterations", 3);
    private final List<String> rows = new ArrayList<>();

    interface Case {
        void runOnce() throws Exception;
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.MINUTES)
    void benchmark(@TempDir Path tmp) throws Exception {
        rows.add("| # | case | median | p90 | ratio |");
        rows.add("|---|---|---:|---:|---|");
        startRunReap();
        throughput();
        idleSandboxes();
        overheadInside();
        firstSandbox(tmp);
        ociRuntimes(tmp);
        String table = String.join("\n", rows) + "\n\n" + N + " iterations per case (interleaved after warm-up); "
                + Runtime.version() + ", " + Runtime.getRuntime().availableProcessors() + " cores, uid " + Env.uid()
                + ", kernel " + System.getProperty("os.version") + ".\n";
        System.out.println(table);
        Files.writeString(Path.of("target/benchmark.md"), table);
    }

    private void startRunReap() throws Exception {
        Sandbox plain = Sandbox.builder().command("/bin/true")
                .stdin(Stdio.discard()).stdout(Stdio.discard()).stderr(Stdio.discard()).build();
        Sandbox limited = plain.toBuilder().limits(Limits.builder().memory(256L << 20).pids(64).build()).build();
        Map<String, Case> cases = new LinkedHashMap<>();
        cases.put("1 ProcessBuilder /bin/true (no sandbox)", () -> waitOk(new ProcessBuilder("/bin/true")
                .redirectInput(new File("/dev/null")).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start()));
        String bwrapTool = Env.tool("bwrap", "bubblewrap").toString();
        cases.put("2 ProcessBuilder bwrap --unshare-all ... /bin/true", () -> waitOk(new ProcessBuilder(
                bwrapTool, "--unshare-all", "--die-with-parent", "--new-session",
                "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin", "--ro-bind", "/etc", "/etc",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/bin/true")
                .redirectInput(new File("/dev/null")).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start()));
        cases.put("3 Sandbox.run /bin/true (default isolation)", () -> assertThat(plain.run().status().code()).isZero());
        cases.put("4 Sandbox.run /bin/true with memory and pids limits",
                () -> assertThat(limited.run().status().code()).isZero());
        Sandbox privateNet = plain.toBuilder().network(Network.privateNetwork()).build();
        cases.put("9 Sandbox.run /bin/true with a private network",
                () -> assertThat(privateNet.run().status().code()).isZero());
        Map<String, long[]> nanos = new LinkedHashMap<>();
        cases.keySet().forEach(k -> nanos.put(k, new long[N]));
        for (int warm = 0; warm < Math.min(N, 20); warm++) {
            for (Case c : cases.values()) {
                c.runOnce();
            }
        }
        for (int i = 0; i < N; i++) {
            for (Map.Entry<String, Case> e : cases.entrySet()) {
                long t0 = System.nanoTime();
                e.getValue().runOnce();
                nanos.get(e.getKey())[i] = System.nanoTime() - t0;
            }
        }
        double pb = median(nanos.get("1 ProcessBuilder /bin/true (no sandbox)"));
        double bwrap = median(nanos.get("2 ProcessBuilder bwrap --unshare-all ... /bin/true"));
        double sandbox = median(nanos.get("3 Sandbox.run /bin/true (default isolation)"));
        nanos.forEach((name, t) -> {
            String ratio = name.startsWith("3") ? String.format("%.2f x (1), %.2f x (2)", sandbox / pb, sandbox / bwrap)
                    : name.startsWith("4") ? String.format("%.2f x (3)", median(t) / sandbox)
                    : name.startsWith("9") ? String.format("+%.2f ms over (3)", (median(t) - sandbox) / 1e6) : "";
            rows.add(String.format("| %s | %s | %.2f ms | %.2f ms | %s |", name.substring(0, 1), name.substring(2),
                    median(t) / 1e6, p90(t) / 1e6, ratio));
        });
    }

    /**
     * Runs per second with 1, 2 and 8 callers, for Sandbox.run and, as the floor, ProcessBuilder:
     * how far process creation itself scales on this host bounds how far a sandbox can. The
     * cases take turns in rounds; each figure is the median of its rounds.
     */
    private void throughput() throws Exception {
        Sandbox s = Sandbox.builder().command("/bin/true")
                .stdin(Stdio.discard()).stdout(Stdio.discard()).stderr(Stdio.discard()).build();
        List<Case> kinds = List.of(() -> assertThat(s.run().status().code()).isZero(),
                () -> waitOk(new ProcessBuilder("/bin/true").redirectInput(new File("/dev/null"))
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(ProcessBuilder.Redirect.DISCARD).start()));
        int[] callers = {1, 2, 8};
        int runs = Math.max(8, N);
        int rounds = 3;
        long[][][] rates = new long[kinds.size()][callers.length][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < kinds.size(); k++) {
                for (int c = 0; c < callers.length; c++) {
                    rates[k][c][r] = Math.round(rate(kinds.get(k), callers[c], runs));
                }
            }
        }
        for (int c = 0; c < callers.length; c++) {
            double sandbox = median(rates[0][c]);
            double pb = median(rates[1][c]);
            rows.add(String.format("| 5 | throughput, %d concurrent caller%s: Sandbox.run / ProcessBuilder /bin/true"
                    + " | %.0f / %.0f runs/s | | %s |", callers[c], callers[c] == 1 ? "" : "s", sandbox, pb,
                    c == 0 ? "" : String.format("%.2f x / %.2f x 1 caller", sandbox / median(rates[0][0]),
                            pb / median(rates[1][0]))));
        }
    }

    private static double rate(Case kind, int callers, int runs) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(callers);
        try {
            long t0 = System.nanoTime();
            List<Future<?>> done = new ArrayList<>();
            for (int c = 0; c < callers; c++) {
                done.add(pool.submit(() -> {
                    for (int i = 0; i < runs; i++) {
                        kind.runOnce();
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
            return callers * runs / ((System.nanoTime() - t0) / 1e9);
        } finally {
            pool.shutdownNow();
        }
    }

    private void idleSandboxes() throws Exception {
        int count = Math.min(200, Math.max(20, N * 4));
        System.gc();
        int threadsBefore = Thread.activeCount();
        long heapBefore = usedHeap();
        List<SandboxProcess> running = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                running.add(Sandbox.builder().command("/bin/sleep", "2").build().start());
            }
            int threads = Thread.activeCount();
            long heap = usedHeap();
            long rss = 0;
            long pss = 0;
            for (SandboxProcess p : running) {
                // The sandbox helper (the init's parent) and the init: the helper's memory per sandbox.
                // RSS counts the binary's shared pages in every process; PSS shares them out.
                long helper = ProcessHandle.of(p.pid()).flatMap(ProcessHandle::parent).map(ProcessHandle::pid).orElse(0L);
                rss += memoryKb(p.pid(), "status", "VmRSS:") + memoryKb(helper, "status", "VmRSS:");
                pss += memoryKb(p.pid(), "smaps_rollup", "Pss:") + memoryKb(helper, "smaps_rollup", "Pss:");
            }
            rows.add(String.format("| 6 | %d idle sandboxes (sleep 2) | %d JVM threads (%d before) | %.1f KiB heap/sandbox"
                    + " | helper+init %.0f KiB PSS (%.0f KiB RSS) per sandbox |", count, threads, threadsBefore,
                    (heap - heapBefore) / 1024.0 / count, pss / (double) count, rss / (double) count));
        } finally {
            running.forEach(SandboxProcess::destroy);
            for (SandboxProcess p : running) {
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private void overheadInside() throws Exception {
        Path loops = Env.staticBinary("loops");
        Sandbox.Builder inside = Sandbox.builder().bind(loops.getParent(), "/t", true);
        for (String[] loop : new String[][] {{"getppid", "10000000"}, {"cpu", "300000000"}}) {
            // System calls cost about 1 us on this VM, so each getppid run takes about 10 s.
            int reps = Math.max(1, Math.min(N, 5));
            long[] in = new long[reps];
            long[] out = new long[reps];
            for (int i = 0; i < reps; i++) {
                in[i] = Long.parseLong(inside.command("/t/loops", loop[0], loop[1]).build().run().stdoutText().trim());
                Process p = new ProcessBuilder(loops.toString(), loop[0], loop[1]).start();
                out[i] = Long.parseLong(new String(p.getInputStream().readAllBytes()).trim());
                waitOk(p);
            }
            rows.add(String.format("| 7 | %s loop (%s iterations): inside / outside | %.1f / %.1f ms | | %.3f x outside |",
                    loop[0], loop[1], median(in) / 1e6, median(out) / 1e6, median(in) / median(out)));
        }
    }

    private void firstSandbox(Path tmp) throws Exception {
        int reps = Math.max(3, Math.min(N, 10));
        long[] sandbox = new long[reps];
        long[] pb = new long[reps];
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        for (int i = 0; i < reps; i++) {
            Path cache = Files.createDirectory(tmp.resolve("cache" + i));
            sandbox[i] = time(new ProcessBuilder(java, "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"),
                    "-Djava.io.tmpdir=" + tmp, "-Dcrabcan.cache.dir=" + cache, FirstSandbox.class.getName()));
            pb[i] = time(new ProcessBuilder(java, "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"),
                    "-Djava.io.tmpdir=" + tmp, FirstSandbox.class.getName(), "pb"));
        }
        rows.add(String.format("| 8 | fresh JVM: first sandbox (new cache: extraction) / one ProcessBuilder | %.0f / %.0f ms"
                + " | | +%.0f ms |", median(sandbox) / 1e6, median(pb) / 1e6, (median(sandbox) - median(pb)) / 1e6));
    }

    /**
     * OCI runtimes side by side, interleaved, on one hello bundle: `run` (create, start, wait,
     * delete) with crun, runc, crabcan-oci (its service warm) and crabcan-oci with a JVM per call;
     * and a `podman run --rm` lifecycle with crun and with crabcan-oci. This host binds a
     * controller (hugetlb) to the cgroup v2 hierarchy of its hybrid layout, which crun refuses
     * ("cgroups in hybrid mode not supported"); so every case runs in one private mount
     * namespace where an empty tmpfs hides /sys/fs/cgroup/unified (the host's mounts are
     * untouched), and crun runs with --cgroup-manager=disabled. Root only (crun, runc and podman
     * as root; the mount namespace).
     */
    private void ociRuntimes(Path tmp) throws Exception {
        if (!Env.isHostRoot()) {
            rows.add("| 10 | OCI runtimes (crun, runc, crabcan-oci, podman) | root only | | |");
            return;
        }
        Path crun = Env.tool("crun", "crun");
        Path runc = Env.tool("runc", "runc");
        Path podman = Env.tool("podman", "podman");
        Path front = OciServiceTest.FRONT_END;
        Path bundle = Files.createDirectories(tmp.resolve("oci-hello"));
        OciRuntimeTest.minimalRootfs(bundle.resolve("rootfs"));
        for (String point : List.of("dev", "proc", "sys", "tmp")) {
            Files.createDirectories(bundle.resolve("rootfs").resolve(point)); // crun and runc mount there, and make none
        }
        String config = """
                {"ociVersion": "1.0.2",
                 "process": {"user": {"uid": 0, "gid": 0}, "args": ["/bin/echo", "hi"], "cwd": "/", "env": ["PATH=/bin"]},
                 "root": {"path": "rootfs"},
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
                 "linux": {%s"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                                          {"type": "mount"}]}}
                """;
        Files.writeString(bundle.resolve("config.json"), config.formatted(""));
        // runc has no way to make no cgroup: a relative path puts it below runc's own, and run removes it.
        Path runcBundle = Files.createDirectories(tmp.resolve("oci-hello-runc"));
        // runc refuses a root that is a link: the same root file system, by its absolute path.
        Files.writeString(runcBundle.resolve("config.json"), config.formatted("\"cgroupsPath\": \"crabcan-bench-runc\", ")
                .replace("\"path\": \"rootfs\"", "\"path\": \"" + bundle.resolve("rootfs") + "\""));
        Path ociRoot = tmp.resolve("oci-state");
        Path podmanRuntime = tmp.resolve("crabcan-oci-for-podman");
        // podman calls its runtime by path: this one names the state root (no wrapper costs crun's calls anything).
        Files.writeString(podmanRuntime, "#!/bin/sh\nexec " + front + " --root " + ociRoot + " \"$@\"\n");
        Files.setPosixFilePermissions(podmanRuntime, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        String podmanRun = String.join(" ", List.of("run", "--rm", "--network", "none", "--pids-limit", "-1",
                "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--rootfs", bundle.resolve("rootfs").toString(),
                "/bin/echo", "hi"));
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("crun run (hello bundle)", crun + " --cgroup-manager=disabled --root " + tmp.resolve("crun-state")
                + " run --bundle " + bundle + " crun-ID");
        cases.put("runc run (hello bundle)", runc + " --root " + tmp.resolve("runc-state") + " run --bundle " + runcBundle
                + " runc-ID");
        cases.put("crabcan-oci run (hello bundle; native front end, warm service)", front + " --root " + ociRoot
                + " run --bundle " + bundle + " oci-ID");
        cases.put("crabcan-oci run, JVM per call (CRABCAN_OCI_SERVICE=0)", "env CRABCAN_OCI_SERVICE=0 " + front
                + " --root " + ociRoot + " run --bundle " + bundle + " jvm-ID");
        cases.put("podman run --rm, runtime crun", podman + " --runtime " + crun + " " + podmanRun);
        cases.put("podman run --rm, runtime crabcan-oci", podman + " --runtime " + podmanRuntime + " " + podmanRun);
        Path driver = Files.writeString(tmp.resolve("oci-bench.py"), """
                import json, subprocess, sys, time
                subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "crabcan-bench", "/sys/fs/cgroup/unified"], check=True)
                n, warm, cases = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
                times = {name: [] for name in cases}
                for i in range(warm + n):
                    for name, cmd in cases.items():
                        t0 = time.perf_counter_ns()
                        r = subprocess.run(cmd.replace("ID", str(i)).split(" "), stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                        t = time.perf_counter_ns() - t0
                        if r.returncode != 0 or r.stdout != b"hi\\n":
                            sys.exit("%s: status %d, stdout %r, stderr %r" % (cmd, r.returncode, r.stdout, r.stderr))
                        if i >= warm:
                            times[name].append(t)
                print(json.dumps(times))
                """);
        String exact = "unshare --mount --propagation private /usr/bin/python3 " + driver + " " + N + " " + Math.min(N, 5) + " CASES";
        ProcessBuilder pb = new ProcessBuilder("unshare", "--mount", "--propagation", "private", "/usr/bin/python3",
                driver.toString(), Integer.toString(N), Integer.toString(Math.min(N, 5)),
                dev.crabcan.internal.json.Json.write(cases)).redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().put("JAVA", Path.of(System.getProperty("java.home"), "bin", "java").toString());
        if (System.getProperty("crabcan.cache.dir") != null) {
            pb.environment().put("CRABCAN_CACHE_DIR", System.getProperty("crabcan.cache.dir"));
        }
        Process p = pb.start();
        String out;
        try {
            out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertThat(p.waitFor()).as("the OCI benchmark (%s)", exact).isZero();
        } finally {
            // The service (started in that mount namespace) goes with the benchmark.
            Path link = ociRoot.resolve(".service");
            if (Files.isSymbolicLink(link)) {
                long pid = Long.parseLong(Files.readSymbolicLink(link).getParent().getFileName().toString());
                ProcessHandle.of(pid).ifPresent(h -> {
                    h.destroy();
                    h.onExit().join();
                });
            }
        }
        Map<?, ?> times = (Map<?, ?>) dev.crabcan.internal.json.Json.parse(out.trim());
        Map<String, long[]> nanos = new LinkedHashMap<>();
        times.forEach((name, list) -> nanos.put((String) name,
                ((List<?>) list).stream().mapToLong(x -> ((Number) x).longValue()).toArray()));
        double crunRun = median(nanos.get("crun run (hello bundle)"));
        double crunPodman = median(nanos.get("podman run --rm, runtime crun"));
        nanos.forEach((name, t) -> rows.add(String.format("| 10 | %s | %.2f ms | %.2f ms | %.2f x %s |", name,
                median(t) / 1e6, p90(t) / 1e6, median(t) / (name.startsWith("podman") ? crunPodman : crunRun),
                name.startsWith("podman") ? "podman with crun" : "crun run")));
    }

    private static long time(ProcessBuilder pb) throws Exception {
        long t0 = System.nanoTime();
        waitOk(pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
        return System.nanoTime() - t0;
    }

    private static void waitOk(Process p) throws InterruptedException {
        assertThat(p.waitFor()).isZero();
    }

    private static long memoryKb(long pid, String file, String key) {
        try {
            return Files.readAllLines(Path.of("/proc/" + pid + "/" + file)).stream().filter(l -> l.startsWith(key))
                    .mapToLong(l -> Long.parseLong(l.replaceAll("\\D", ""))).findFirst().orElse(0);
        } catch (Exception e) {
            return 0;
        }
    }

    private static long usedHeap() {
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static double median(long[] t) {
        long[] s = t.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static double p90(long[] t) {
        long[] s = t.clone();
        Arrays.sort(s);
        return s[Math.min(s.length - 1, (int) Math.ceil(s.length * 0.9) - 1)];
    }
}
