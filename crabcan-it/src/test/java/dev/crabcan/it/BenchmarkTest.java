package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.Sandbox;
import dev.crabcan.Stdio;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Start-run-reap cost, measured side by side and interleaved so that a noisy machine affects
 * every case alike. CI runs it with a handful of iterations only to prove it still works; for
 * real figures:
 *
 * <pre>
 * mvn -q -pl crabcan-it -am verify -Dtest=BenchmarkTest -Dsurefire.failIfNoSpecifiedTests=false -Dcrabcan.bench.iterations=500
 * </pre>
 *
 * It prints a table and writes it to crabcan-it/target/benchmark.md. No assertion is made on
 * timings: this machine is shared and noisy.
 */
class BenchmarkTest {

    interface Case {
        void runOnce() throws Exception;
    }

    @Test
    void startRunReap() throws Exception {
        int iterations = Integer.getInteger("crabcan.bench.iterations", 5);
        Sandbox trueSandbox = Sandbox.builder().command("/bin/true")
                .stdin(Stdio.discard()).stdout(Stdio.discard()).stderr(Stdio.discard()).build();
        Map<String, Case> cases = new LinkedHashMap<>();
        cases.put("ProcessBuilder /bin/true (no sandbox)", () -> {
            Process p = new ProcessBuilder("/bin/true").redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            assertThat(p.waitFor()).isZero();
        });
        cases.put("Sandbox.run /bin/true (all namespaces, pivot_root, seccomp, caps dropped)",
                () -> assertThat(trueSandbox.run().status().code()).isZero());

        Map<String, long[]> nanos = new LinkedHashMap<>();
        cases.keySet().forEach(k -> nanos.put(k, new long[iterations]));
        for (int warm = 0; warm < Math.min(iterations, 20); warm++) {
            for (Case c : cases.values()) {
                c.runOnce();
            }
        }
        for (int i = 0; i < iterations; i++) {
            for (Map.Entry<String, Case> e : cases.entrySet()) {
                long t0 = System.nanoTime();
                e.getValue().runOnce();
                nanos.get(e.getKey())[i] = System.nanoTime() - t0;
            }
        }

        List<String> lines = new ArrayList<>();
        lines.add("| case | median ms | p90 ms |");
        lines.add("|---|---:|---:|");
        nanos.forEach((name, t) -> {
            long[] sorted = t.clone();
            Arrays.sort(sorted);
            lines.add(String.format("| %s | %.2f | %.2f |", name, sorted[sorted.length / 2] / 1e6,
                    sorted[Math.min(sorted.length - 1, (int) Math.ceil(sorted.length * 0.9) - 1)] / 1e6));
        });
        lines.add("");
        lines.add(iterations + " iterations each, interleaved, after warm-up; " + Runtime.version() + ", "
                + Runtime.getRuntime().availableProcessors() + " cores, uid " + Env.uid() + ".");
        String table = String.join("\n", lines) + "\n";
        System.out.println(table);
        Files.writeString(Path.of("target/benchmark.md"), table);
    }
}
