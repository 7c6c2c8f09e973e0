package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.Limits;
import dev.crabcan.Network;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.Stdio;
import dev.crabcan.Verdict;
import dev.crabcan.image.Image;
import dev.crabcan.image.ImageBuild;
import dev.crabcan.image.ImageStore;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The performance benchmark: every comparison is measured side by side in one run, interleaved,
 * so that a noisy machine affects each case alike, and in an order that changes every round (see
 * {@link #order}), so that what one case leaves behind falls on every other case alike. CI runs
 * it with a few iterations only to prove it still works; the README's table takes at least 100:
 *
 * <pre>
 * mvn -q -pl crabcan-it -am verify -Dtest=BenchmarkTest -Dsurefire.failIfNoSpecifiedTests=false -Dcrabcan.bench.iterations=100
 * </pre>
 *
 * It prints a markdown table (every row with its count, min, median and p90) and the targets
 * table (each target's measured ratio, met or missed), and writes both to
 * crabcan-it/target/benchmark.md. No assertion is made on timings.
 */
class BenchmarkTest {
    private static final int N = Integer.getInteger("crabcan.bench.iterations", 3);
    /**
     * The rows to run (-Dcrabcan.bench.cases=20,21), or all when unset; rows measured together
     * (such as 20 and 21, or 17 to 19) run together when any one of them is named.
     */
    private static final Set<Integer> CASES = Arrays.stream(System.getProperty("crabcan.bench.cases", "").split(","))
            .map(String::strip).filter(c -> !c.isEmpty()).map(Integer::valueOf).collect(Collectors.toSet());
    /** A judge round: this many runs of one submission, each with its own input. */
    private static final int JUDGE_RUNS = 20;
    private final List<String> rows = new ArrayList<>();
    private final List<String> targets = new ArrayList<>();

    /** One run of a case; returns its duration in nanoseconds. */
    interface Case {
        long nanos() throws Exception;
    }

    interface Action {
        void run() throws Exception;
    }

    /** A case timed from the outside, around the whole action. */
    private static Case timed(Action a) {
        return () -> {
            long t0 = System.nanoTime();
            a.run();
            return System.nanoTime() - t0;
        };
    }

    /** Whether {@link #CASES} names any of these rows, or is empty. */
    private static boolean wanted(int... rows) {
        return CASES.isEmpty() || Arrays.stream(rows).anyMatch(CASES::contains);
    }

    /** Count, min, median and p90 of durations in nanoseconds. */
    record Stats(int n, double min, double median, double p90) {
        static Stats of(long[] t) {
            long[] s = t.clone();
            Arrays.sort(s);
            return new Stats(s.length, s[0], s[s.length / 2], s[Math.min(s.length - 1, (int) Math.ceil(s.length * 0.9) - 1)]);
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.MINUTES)
    void benchmark(@TempDir Path tmp) throws Exception {
        rows.add("| # | case | n | min | median | p90 | ratio |");
        rows.add("|---|---|---:|---:|---:|---:|---|");
        if (wanted(1, 2, 3, 4, 9, 11, 12, 14, 15, 16)) {
            startRunReap(tmp);
        }
        if (wanted(13)) {
            jvmCpu();
        }
        if (wanted(5)) {
            throughput();
        }
        if (wanted(6)) {
            idleSandboxes();
        }
        if (wanted(7)) {
            overheadInside();
        }
        if (wanted(8)) {
            firstSandbox(tmp);
        }
        if (wanted(10)) {
            ociRuntimes(tmp);
        }
        if (wanted(17, 18, 19)) {
            images(tmp);
        }
        if (wanted(20, 21)) {
            copyIntoALayer(tmp);
        }
        String table = String.join("\n", rows) + "\n\n" + N + " iterations per case (interleaved after warm-up, the order"
                + " changing every round); " + Runtime.version() + ", " + Runtime.getRuntime().availableProcessors()
                + " cores, uid " + Env.uid() + ", kernel " + System.getProperty("os.version") + ".\n\n"
                + "| target | measured | target | |\n|---|---:|---:|---|\n" + String.join("\n", targets) + "\n"
                + (N < 100 ? "\nFewer than 100 iterations: a smoke run, whose figures and verdicts say nothing.\n" : "");
        System.out.println(table);
        Files.writeString(Path.of("target/benchmark.md"), table);
    }

    /**
     * The order of n cases in round r: a balanced Latin square (Williams design). Over n rounds
     * (2n for an odd n) every case comes at every place equally often and follows every other
     * case equally often, so what a case leaves behind it (bwrap's and a private network's
     * teardown) slows all the others alike instead of always the same one.
     */
    static int[] order(int n, int round) {
        int r = round % (n % 2 == 0 ? n : 2 * n);
        int[] o = new int[n];
        for (int j = 0; j < n; j++) {
            int first = j == 0 ? 0 : j % 2 == 1 ? (j + 1) / 2 : n - j / 2;
            o[r < n ? j : n - 1 - j] = (first + r) % n;
        }
        return o;
    }

    @Test
    void ordersAreBalanced() {
        for (int n = 1; n <= 9; n++) {
            int period = n % 2 == 0 ? n : 2 * n;
            int[][] places = new int[n][n];
            int[][] follows = new int[n][n];
            for (int r = 0; r < period; r++) {
                int[] o = order(n, r);
                assertThat(Arrays.stream(o).sorted().toArray()).as("round %d of %d", r, n)
                        .containsExactly(IntStream.range(0, n).toArray());
                for (int j = 0; j < n; j++) {
                    places[o[j]][j]++;
                    if (j > 0) {
                        follows[o[j]][o[j - 1]]++;
                    }
                }
            }
            Set<Integer> placeCounts = new HashSet<>();
            Set<Integer> followCounts = new HashSet<>();
            for (int a = 0; a < n; a++) {
                for (int b = 0; b < n; b++) {
                    placeCounts.add(places[a][b]);
                    if (a != b) {
                        followCounts.add(follows[a][b]);
                    }
                }
            }
            assertThat(placeCounts).as("places of %d cases", n).hasSize(1);
            assertThat(followCounts).as("neighbours of %d cases", n).hasSizeLessThanOrEqualTo(1);
        }
    }

    /** Runs the cases for warm-up and then n measured rounds, each round in its own order. */
    private static Map<String, long[]> interleave(Map<String, Case> cases, int warm, int n) throws Exception {
        List<String> names = new ArrayList<>(cases.keySet());
        Map<String, long[]> nanos = new LinkedHashMap<>();
        names.forEach(k -> nanos.put(k, new long[n]));
        for (int round = 0; round < warm + n; round++) {
            for (int c : order(names.size(), round)) {
                long t = cases.get(names.get(c)).nanos();
                if (round >= warm) {
                    nanos.get(names.get(c))[round - warm] = t;
                }
            }
        }
        return nanos;
    }

    private void row(String number, String name, String count, Stats s, String ratio) {
        rows.add(String.format("| %s | %s | %s | %.2f ms | %.2f ms | %.2f ms | %s |", number, name, count,
                s.min() / 1e6, s.median() / 1e6, s.p90() / 1e6, ratio));
    }

    private void row(String number, String name, Stats s, String ratio) {
        row(number, name, Integer.toString(s.n()), s, ratio);
    }

    /** A target row: met when the measured value is at most (or, with atLeast, at least) the target. */
    private void target(String name, double measured, double target, boolean atLeast, String format) {
        boolean met = atLeast ? measured >= target : measured <= target;
        targets.add(String.format("| %s | " + format + " | %s " + format + " | %s |", name, measured,
                atLeast ? "≥" : "≤", target, met ? "met" : "missed"));
    }

    private void startRunReap(Path tmp) throws Exception {
        Sandbox plain = Sandbox.builder().command("/bin/true")
                .stdin(Stdio.discard()).stdout(Stdio.discard()).stderr(Stdio.discard()).build();
        Sandbox limited = plain.toBuilder().limits(Limits.builder().memory(256L << 20).pids(64).build()).build();
        Map<String, Case> cases = new LinkedHashMap<>();
        cases.put("1 ProcessBuilder /bin/true (no sandbox)", timed(() -> waitOk(new ProcessBuilder("/bin/true")
                .redirectInput(new File("/dev/null")).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start())));
        List<String> bwrap = List.of(Env.tool("bwrap", "bubblewrap").toString(), "--unshare-all", "--die-with-parent",
                "--new-session", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin", "--ro-bind", "/etc", "/etc",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "/bin/true");
        cases.put("2 ProcessBuilder bwrap --unshare-all ... /bin/true", timed(() -> waitOk(new ProcessBuilder(bwrap)
                .redirectInput(new File("/dev/null")).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start())));
        cases.put("3 Sandbox.run /bin/true (default isolation)",
                timed(() -> assertThat(plain.run().status().code()).isZero()));
        cases.put("4 Sandbox.run /bin/true with memory and pids limits",
                timed(() -> assertThat(limited.run().status().code()).isZero()));
        Sandbox privateNet = plain.toBuilder().network(Network.privateNetwork()).build();
        cases.put("9 Sandbox.run /bin/true with a private network",
                timed(() -> assertThat(privateNet.run().status().code()).isZero()));
        // The path most callers' code takes: start() with pipes, stdout read to the end, waitFor().
        Sandbox onDirectory = Sandbox.builder().rootfs(minimalRoot(tmp.resolve("piped-root")))
                .bindReadOnly(Path.of("/usr"), "/usr").command("/bin/true").build();
        cases.put("14 Sandbox.start /bin/true, piped stdio, on a root directory with /usr read-only",
                timed(() -> readToEndAndWait(onDirectory.start())));
        cases.put("15 ProcessBuilder /bin/true, piped stdio (no sandbox)",
                timed(() -> readToEndAndWait(new ProcessBuilder("/bin/true").start())));
        cases.put("16 ProcessBuilder bwrap --unshare-all ... /bin/true, piped stdio",
                timed(() -> readToEndAndWait(new ProcessBuilder(bwrap).start())));
        Process floor = startFloor(minimalRoot(tmp.resolve("floor-root")));
        try {
            OutputStream go = floor.getOutputStream();
            BufferedReader times = new BufferedReader(new InputStreamReader(floor.getInputStream(), StandardCharsets.UTF_8));
            cases.put("11 floor: the same isolation in one warm native process (src/test/c/floor.c)", () -> {
                go.write('g');
                go.flush();
                String line = times.readLine();
                if (line == null) {
                    throw new AssertionError("the floor program ended with status " + floor.waitFor() + " (stderr above)");
                }
                return Long.parseLong(line);
            });
            Path submission = Env.staticBinary("sum");
            Sandbox judge = Sandbox.builder().limits(Limits.judge()).bind(submission.getParent(), "/t", true)
                    .command("/t/sum").build();
            cases.put("12 judge round: " + JUDGE_RUNS + " Sandbox.run of one C program (stdin to stdout), Limits.judge()",
                    timed(() -> {
                        for (int k = 0; k < JUDGE_RUNS; k++) {
                            SandboxResult r = judge.run(("1 2 3 " + k + "\n").getBytes(StandardCharsets.UTF_8));
                            assertThat(r.verdict()).as("judge run %d: %s", k, r.stderrText()).isEqualTo(Verdict.OK);
                            assertThat(r.stdoutText()).isEqualTo((6 + k) + "\n");
                        }
                    }));
            Map<String, long[]> nanos = interleave(cases, Math.min(N, 20), N);
            go.close();
            assertThat(floor.waitFor(Env.CLEANUP_CEILING_MS, TimeUnit.MILLISECONDS)).as("the floor program exits").isTrue();
            assertThat(floor.exitValue()).as("the floor program's status (stderr above)").isZero();
            report(nanos);
        } finally {
            floor.destroyForcibly();
        }
    }

    /**
     * Rows 17 to 19: a sandbox on a built image (an overlayfs of its layers) beside one on a plain
     * directory holding the same files, and a fully cached rebuild of the image's 10-step
     * Crabfile inside this running JVM, interleaved.
     */
    private void images(Path tmp) throws Exception {
        Path ctx = Files.createDirectories(tmp.resolve("image-context"));
        BuildTest.busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve("a"), "a\n");
        Files.writeString(ctx.resolve("b"), "b\n");
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                ARG WHO=bench
                ENV GREETING=hello
                WORKDIR /app
                COPY a /etc/
                COPY b /etc/
                RUN echo "$GREETING $WHO" > /app/x
                RUN rm /data/old
                USER 1000
                CMD ["/bin/true"]
                """);
        ImageStore store = ImageStore.open(tmp.resolve("image-store"));
        ImageBuild build = ImageBuild.builder(store, ctx).tag("bench").build();
        Image image = build.run();
        Path plainRoot = tmp.resolve("image-as-directory");
        BuildTest.busyboxRootfs(plainRoot);
        Files.delete(plainRoot.resolve("data/old"));
        Files.createDirectories(plainRoot.resolve("app"));
        Files.writeString(plainRoot.resolve("app/x"), "hello bench\n");
        Files.writeString(plainRoot.resolve("etc/a"), "a\n");
        Files.writeString(plainRoot.resolve("etc/b"), "b\n");
        Sandbox onImage = Sandbox.builder().image(image).build();
        Sandbox onDirectory = Sandbox.builder().rootfs(plainRoot).uid(1000).workingDirectory("/app")
                .command("/bin/true").build();
        Map<String, Case> cases = new LinkedHashMap<>();
        cases.put("17 Sandbox.run /bin/true on a built image (overlay of " + image.layers().size() + " layers)",
                timed(() -> assertThat(onImage.run().status().code()).isZero()));
        cases.put("18 Sandbox.run /bin/true on a plain directory root filesystem of the same files",
                timed(() -> assertThat(onDirectory.run().status().code()).isZero()));
        cases.put("19 fully cached rebuild of a 10-step Crabfile, in a running JVM",
                timed(() -> assertThat(build.run().digest()).isEqualTo(image.digest())));
        Map<String, long[]> nanos = interleave(cases, Math.min(N, 20), N);
        Map<String, Stats> stats = new TreeMap<>();
        nanos.forEach((name, t) -> stats.put(name, Stats.of(t)));
        List<String> names = new ArrayList<>(nanos.keySet());
        double image17 = stats.get(names.get(0)).median();
        double directory18 = stats.get(names.get(1)).median();
        double rebuild19 = stats.get(names.get(2)).median();
        for (String name : names) {
            String number = name.substring(0, name.indexOf(' '));
            row(number, name.substring(number.length() + 1), stats.get(name),
                    number.equals("17") ? String.format("%.2f x (18)", image17 / directory18) : "");
        }
        target("a sandbox on an image ÷ on a plain directory (17 ÷ 18)", image17 / directory18, 1.2, false, "%.2f x");
        target("fully cached rebuild of a 10-step Crabfile (19)", rebuild19 / 1e6, 100, false, "%.2f ms");
    }

    /** Rows 20 and 21: the size of the tree they copy (see {@link #tree}). */
    private static final long TREE_BYTES = 100L << 20;

    /**
     * Rows 20 and 21: COPY of a 100 MiB tree into a layer (an uncached build of {@code FROM
     * scratch} and {@code COPY tree /tree}, each round into a store of its own) beside {@code cp -a}
     * of the same tree into a new directory, interleaved; each round's copies are removed untimed.
     * The ratio is COPY's throughput over cp's, from the medians.
     */
    private void copyIntoALayer(Path tmp) throws Exception {
        Path ctx = Files.createDirectories(tmp.resolve("copy-context"));
        int files = tree(ctx.resolve("tree"));
        Files.writeString(ctx.resolve("Crabfile"), "FROM scratch\nCOPY tree /tree\n");
        Path out = Files.createDirectories(tmp.resolve("copy-out"));
        Map<String, Case> cases = new LinkedHashMap<>();
        cases.put("20 COPY of a 100 MiB tree (" + files + " files) into a layer: uncached build, FROM scratch", () -> {
            Path dir = out.resolve("store");
            ImageStore store = ImageStore.open(dir);
            long t0 = System.nanoTime();
            Image image = ImageBuild.builder(store, ctx).build().run();
            long t = System.nanoTime() - t0;
            assertThat(image.layers()).hasSize(1);
            assertThat(image.layers().get(0).size()).isGreaterThan(TREE_BYTES);
            deleteTree(dir);
            return t;
        });
        cases.put("21 cp -a of the same tree into a new directory", () -> {
            Path dir = out.resolve("cp");
            long t0 = System.nanoTime();
            waitOk(new ProcessBuilder("cp", "-a", ctx.resolve("tree").toString(), dir.toString())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.INHERIT).start());
            long t = System.nanoTime() - t0;
            deleteTree(dir);
            return t;
        });
        Map<String, long[]> nanos = interleave(cases, Math.min(N, 3), N);
        List<String> names = new ArrayList<>(nanos.keySet());
        Stats copy = Stats.of(nanos.get(names.get(0)));
        Stats cp = Stats.of(nanos.get(names.get(1)));
        double mib = TREE_BYTES / (double) (1 << 20);
        row("20", names.get(0).substring(3), copy, String.format("%.0f MiB/s, %.2f x (21)'s throughput",
                mib / (copy.median() / 1e9), cp.median() / copy.median()));
        row("21", names.get(1).substring(3), cp, String.format("%.0f MiB/s", mib / (cp.median() / 1e9)));
        target("COPY of a 100 MiB tree into a layer ÷ cp -a, throughput (20 ÷ 21)", cp.median() / copy.median(), 0.8,
                true, "%.2f x");
        deleteTree(ctx);
    }

    /**
     * A tree like a program's: directories of a few dozen files each, most of them small, some
     * of a few hundred KiB, a few of megabytes, of random bytes (slices of one random 8 MiB),
     * {@link #TREE_BYTES} in all.
     *
     * @return how many files it has
     */
    private static int tree(Path root) throws Exception {
        java.util.Random random = new java.util.Random(16);
        long left = TREE_BYTES;
        int n = 0;
        byte[] bytes = new byte[8 << 20];
        random.nextBytes(bytes);
        while (left > 0) {
            int kind = random.nextInt(1000);
            int size = kind < 940 ? 1 + random.nextInt(16 << 10) : kind < 996 ? (64 << 10) + random.nextInt(448 << 10)
                    : (2 << 20) + random.nextInt(6 << 20);
            size = (int) Math.min(size, left);
            Path dir = Files.createDirectories(root.resolve("d" + n / 40).resolve(n % 40 < 20 ? "a" : "b"));
            int from = random.nextInt(bytes.length - size + 1);
            Files.write(dir.resolve("f" + n), Arrays.copyOfRange(bytes, from, from + size));
            left -= size;
            n++;
        }
        return n;
    }

    private static void deleteTree(Path dir) throws Exception {
        try (var all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    /** The floor program (src/test/c/floor.c) in that root, warm and waiting for its first run. */
    private static Process startFloor(Path root) throws Exception {
        return new ProcessBuilder(Env.staticBinary("floor").toString(), root.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    /** A root directory with what /bin/true needs once the host's /usr is bound in: usr, proc and links to usr. */
    private static Path minimalRoot(Path root) throws Exception {
        Files.createDirectories(root.resolve("usr"));
        Files.createDirectories(root.resolve("proc"));
        for (String dir : List.of("bin", "lib", "lib64")) {
            Files.createSymbolicLink(root.resolve(dir), Path.of("usr", dir));
        }
        return root;
    }

    /** What a caller does with a process whose stdio are pipes: closes stdin, reads stdout to the end, waits. */
    private static void readToEndAndWait(Process p) throws Exception {
        p.getOutputStream().close();
        p.getInputStream().readAllBytes();
        waitOk(p);
        p.getInputStream().close();
        p.getErrorStream().close();
    }

    private void report(Map<String, long[]> nanos) {
        Map<String, Stats> stats = new LinkedHashMap<>();
        Map<String, String> names = new TreeMap<>(Comparator.comparingInt(Integer::parseInt));
        nanos.forEach((name, t) -> {
            String number = name.substring(0, name.indexOf(' '));
            stats.put(number, Stats.of(t));
            names.put(number, name.substring(number.length() + 1));
        });
        double pb = stats.get("1").median();
        double bwrap = stats.get("2").median();
        double sandbox = stats.get("3").median();
        double floor = stats.get("11").median();
        double piped = stats.get("14").median();
        double pbPiped = stats.get("15").median();
        double bwrapPiped = stats.get("16").median();
        Map<String, String> ratios = Map.of(
                "3", String.format("%.2f x (1), %.2f x (2), %.2f x (11)", sandbox / pb, sandbox / bwrap, sandbox / floor),
                "4", String.format("%.2f x (3)", stats.get("4").median() / sandbox),
                "9", String.format("+%.2f ms over (3)", (stats.get("9").median() - sandbox) / 1e6),
                "11", String.format("%.2f x (1)", floor / pb),
                "12", String.format("%.2f ms per run, %.2f x (4)", stats.get("12").median() / JUDGE_RUNS / 1e6,
                        stats.get("12").median() / JUDGE_RUNS / stats.get("4").median()),
                "14", String.format("%.2f x (15), %.2f x (16)", piped / pbPiped, piped / bwrapPiped));
        names.forEach((number, name) -> row(number, name, stats.get(number), ratios.getOrDefault(number, "")));
        target("Sandbox.run ÷ ProcessBuilder (3 ÷ 1)", sandbox / pb, 1.0, false, "%.2f x");
        target("Sandbox.run ÷ ProcessBuilder→bwrap (3 ÷ 2)", sandbox / bwrap, 0.35, false, "%.2f x");
        target("Sandbox.run ÷ the floor (3 ÷ 11)", sandbox / floor, 1.5, false, "%.2f x");
        target("Sandbox.start with pipes on a directory ÷ ProcessBuilder with pipes (14 ÷ 15)", piped / pbPiped, 1.0, false,
                "%.2f x");
        target("Sandbox.start with pipes on a directory ÷ ProcessBuilder→bwrap with pipes (14 ÷ 16)", piped / bwrapPiped,
                0.35, false, "%.2f x");
        target("with memory and pids limits ÷ without (4 ÷ 3)", stats.get("4").median() / sandbox, 1.10, false, "%.2f x");
        target("private network − none (9 − 3)", (stats.get("9").median() - sandbox) / 1e6, 10, false, "%+.2f ms");
    }

    /**
     * Row 13: the JVM's CPU time (all its threads) per run, after warm-up, for Sandbox.run and
     * ProcessBuilder. The JDK reads it in clock ticks (10 ms here), so each figure is a block of
     * runs in a row: at 100 runs a block it is good to 0.1 ms a run. The blocks take turns.
     */
    private void jvmCpu() throws Exception {
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        List<Action> kinds = sandboxAndProcessBuilder();
        int runs = Math.max(20, N);
        int blocks = 3;
        long[][] perRun = new long[kinds.size()][blocks];
        for (int b = 0; b < blocks; b++) {
            for (int k : order(kinds.size(), b)) {
                long cpu0 = os.getProcessCpuTime();
                for (int i = 0; i < runs; i++) {
                    kinds.get(k).run();
                }
                perRun[k][b] = (os.getProcessCpuTime() - cpu0) / runs;
            }
        }
        Stats sandbox = Stats.of(perRun[0]);
        Stats pb = Stats.of(perRun[1]);
        String count = blocks + " x " + runs;
        row("13", "JVM CPU per Sandbox.run /bin/true (all threads; blocks of runs)", count, sandbox,
                String.format("%.2f x (13, ProcessBuilder)", sandbox.median() / pb.median()));
        row("13", "JVM CPU per ProcessBuilder /bin/true (all threads; blocks of runs)", count, pb, "");
        target("JVM CPU per Sandbox.run (13)", sandbox.median() / 1e6, 0.5, false, "%.2f ms");
    }

    /** /bin/true with stdio discarded: by Sandbox.run, then by ProcessBuilder. */
    private static List<Action> sandboxAndProcessBuilder() {
        Sandbox s = Sandbox.builder().command("/bin/true")
                .stdin(Stdio.discard()).stdout(Stdio.discard()).stderr(Stdio.discard()).build();
        return List.of(() -> assertThat(s.run().status().code()).isZero(),
                () -> waitOk(new ProcessBuilder("/bin/true").redirectInput(new File("/dev/null"))
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(ProcessBuilder.Redirect.DISCARD).start()));
    }

    /**
     * Row 5: wall time per run with 1, 2 and 8 callers, for Sandbox.run and, for reference,
     * ProcessBuilder: how far process creation itself scales on this host bounds how far a
     * sandbox can. Each round measures every kind and number of callers, in its own order; the
     * ratio is the throughput (runs per second) over one caller's, from the medians.
     */
    private void throughput() throws Exception {
        List<Action> kinds = sandboxAndProcessBuilder();
        List<String> kindNames = List.of("Sandbox.run", "ProcessBuilder");
        int[] callers = {1, 2, 8};
        int runs = Math.max(8, N / 4);
        int rounds = Math.max(3, Math.min(N, 20));
        long[][][] perRun = new long[kinds.size()][callers.length][rounds];
        for (int r = 0; r < rounds; r++) {
            for (int cell : order(kinds.size() * callers.length, r)) {
                int k = cell / callers.length;
                int c = cell % callers.length;
                perRun[k][c][r] = wallPerRun(kinds.get(k), callers[c], runs);
            }
        }
        double[] scaling2 = new double[kinds.size()];
        for (int k = 0; k < kinds.size(); k++) {
            double one = Stats.of(perRun[k][0]).median();
            for (int c = 0; c < callers.length; c++) {
                Stats st = Stats.of(perRun[k][c]);
                if (callers[c] == 2) {
                    scaling2[k] = one / st.median();
                }
                row("5", String.format("throughput, %d concurrent caller%s: %s /bin/true (wall time per run)", callers[c],
                        callers[c] == 1 ? "" : "s", kindNames.get(k)), rounds + " x " + callers[c] * runs, st,
                        String.format("%.0f runs/s", 1e9 / st.median())
                                + (c == 0 ? "" : String.format(", %.2f x 1 caller's", one / st.median())));
            }
        }
        target("throughput, 2 callers ÷ 1: Sandbox.run, against ProcessBuilder's (5)", scaling2[0], scaling2[1], true,
                "%.2f x");
    }

    /** Wall time per run, in nanoseconds, of that many callers making that many runs each at once. */
    private static long wallPerRun(Action kind, int callers, int runs) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(callers);
        try {
            long t0 = System.nanoTime();
            List<Future<?>> done = new ArrayList<>();
            for (int c = 0; c < callers; c++) {
                done.add(pool.submit(() -> {
                    for (int i = 0; i < runs; i++) {
                        kind.run();
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
            return (System.nanoTime() - t0) / ((long) callers * runs);
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
            rows.add(String.format("| 6 | idle sandboxes (sleep 2), all at once | %d | | | | %d JVM threads (%d before),"
                    + " %.1f KiB heap and helper+init %.0f KiB PSS (%.0f KiB RSS) per sandbox |", count, threads,
                    threadsBefore, (heap - heapBefore) / 1024.0 / count, pss / (double) count, rss / (double) count));
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
            long[][] times = new long[2][reps];
            for (int i = 0; i < reps; i++) {
                for (int where : order(2, i)) {
                    if (where == 0) {
                        times[0][i] = Long.parseLong(inside.command("/t/loops", loop[0], loop[1]).build().run()
                                .stdoutText().trim());
                    } else {
                        Process p = new ProcessBuilder(loops.toString(), loop[0], loop[1]).start();
                        times[1][i] = Long.parseLong(new String(p.getInputStream().readAllBytes()).trim());
                        waitOk(p);
                    }
                }
            }
            Stats in = Stats.of(times[0]);
            Stats out = Stats.of(times[1]);
            row("7", String.format("%s loop (%s iterations) inside a sandbox", loop[0], loop[1]), in,
                    String.format("%.3f x outside", in.median() / out.median()));
            row("7", String.format("%s loop (%s iterations) outside", loop[0], loop[1]), out, "");
        }
    }

    private void firstSandbox(Path tmp) throws Exception {
        int reps = Math.max(3, Math.min(N, 10));
        long[][] times = new long[2][reps];
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        for (int i = 0; i < reps; i++) {
            Path cache = Files.createDirectory(tmp.resolve("cache" + i));
            for (int kind : order(2, i)) {
                times[kind][i] = kind == 0
                        ? time(new ProcessBuilder(java, "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"),
                                "-Djava.io.tmpdir=" + tmp, "-Dcrabcan.cache.dir=" + cache, FirstSandbox.class.getName()))
                        : time(new ProcessBuilder(java, "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"),
                                "-Djava.io.tmpdir=" + tmp, FirstSandbox.class.getName(), "pb"));
            }
        }
        Stats sandbox = Stats.of(times[0]);
        Stats pb = Stats.of(times[1]);
        double extra = (sandbox.median() - pb.median()) / 1e6;
        row("8", "fresh JVM: first sandbox (new cache: extraction)", sandbox,
                String.format("+%.0f ms over one ProcessBuilder", extra));
        row("8", "fresh JVM: one ProcessBuilder", pb, "");
        target("fresh JVM: first sandbox − one ProcessBuilder (8)", extra, 150, false, "%+.0f ms");
    }

    /**
     * OCI runtimes side by side, interleaved, on one hello bundle: `run` (create, start, wait,
     * delete) with crun, runc, crabcan-oci (its service warm) and crabcan-oci with a JVM per call;
     * and a `podman run --rm` lifecycle with crun and with crabcan-oci, of the bundle's root
     * (--rootfs) and of the same files as an image on podman's overlay storage. This host binds a
     * controller (hugetlb) to the cgroup v2 hierarchy of its hybrid layout, which crun refuses
     * ("cgroups in hybrid mode not supported"); so every case runs in one private mount
     * namespace where an empty tmpfs hides /sys/fs/cgroup/unified (the host's mounts are
     * untouched), and crun runs with --cgroup-manager=disabled. Root only (crun, runc and podman
     * as root; the mount namespace).
     */
    private static final String IMAGE_CRUN = "podman run --rm IMAGE (overlay storage), runtime crun";

    private void ociRuntimes(Path tmp) throws Exception {
        if (!Env.isHostRoot()) {
            rows.add("| 10 | OCI runtimes (crun, runc, crabcan-oci, podman) | root only | | | | |");
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
        // The same files as an image on podman's overlay storage, whose root crabcan-oci makes again, idmapped.
        String image = "localhost/crabcan-bench:" + ProcessHandle.current().pid();
        Path imageTar = tmp.resolve("oci-hello.tar");
        Env.host("tar", "-C", bundle.resolve("rootfs").toString(), "-cf", imageTar.toString(), ".");
        Env.host(podman.toString(), "import", "--quiet", imageTar.toString(), image);
        String podmanImageRun = podmanRun.replace("--rootfs " + bundle.resolve("rootfs"), image);
        cases.put(IMAGE_CRUN, podman + " --runtime " + crun + " " + podmanImageRun);
        cases.put("podman run --rm IMAGE (overlay storage), runtime crabcan-oci", podman + " --runtime " + podmanRuntime
                + " " + podmanImageRun);
        Path driver = Files.writeString(tmp.resolve("oci-bench.py"), """
                import json, subprocess, sys, time
                subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "crabcan-bench", "/sys/fs/cgroup/unified"], check=True)
                warm, cases, orders = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
                names = list(cases)
                times = {name: [] for name in cases}
                for i, order in enumerate(orders):
                    for name in (names[c] for c in order):
                        cmd = cases[name]
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
        int warm = Math.min(N, 5);
        // Every round's order of the cases (indices into CASES), as the other rows take them.
        List<List<Integer>> orders = IntStream.range(0, warm + N)
                .mapToObj(r -> Arrays.stream(order(cases.size(), r)).boxed().collect(Collectors.toList())).toList();
        String exact = "unshare --mount --propagation private /usr/bin/python3 " + driver + " " + warm + " CASES ORDERS";
        ProcessBuilder pb = new ProcessBuilder("unshare", "--mount", "--propagation", "private", "/usr/bin/python3",
                driver.toString(), Integer.toString(warm), dev.crabcan.internal.json.Json.write(cases),
                dev.crabcan.internal.json.Json.write(orders)).redirectError(ProcessBuilder.Redirect.INHERIT);
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
            Env.host(podman.toString(), "rmi", "--force", image);
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
        double crunRun = Stats.of(nanos.get("crun run (hello bundle)")).median();
        double crunPodman = Stats.of(nanos.get("podman run --rm, runtime crun")).median();
        double crunPodmanImage = Stats.of(nanos.get(IMAGE_CRUN)).median();
        nanos.forEach((name, t) -> {
            Stats s = Stats.of(t);
            boolean ofImage = name.startsWith("podman run --rm IMAGE");
            double base = ofImage ? crunPodmanImage : name.startsWith("podman") ? crunPodman : crunRun;
            row("10", name, s, String.format("%.2f x %s", s.median() / base, ofImage ? "podman with crun, image"
                    : name.startsWith("podman") ? "podman with crun" : "crun run"));
        });
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
}
