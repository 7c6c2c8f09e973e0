package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A modular application, compiled and run on the module path with the library's jars as a
 * consumer gets them: it requires dev.crabcan, runs a sandbox, and cannot see the internals.
 */
class ModularConsumerTest {
    private record Run(int status, String output) {}

    /**
     * The library's modules and what they need, picked from this test's class path by what they
     * hold (the rootless rerun copies the entries under other names).
     */
    private static String modulePath() throws Exception {
        List<String> picked = new ArrayList<>();
        List<String> wanted = List.of("dev/crabcan/Sandbox.class", "dev/crabcan/native/linux-x86_64/crabcan-helper",
                "org/slf4j/Logger.class", "org/slf4j/simple/SimpleLogger.class", "jnr/constants/platform/Errno.class",
                "com/kenai/jffi/Invoker.class", "jni/x86_64-Linux/libjffi-1.2.so");
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(entry);
            for (String resource : wanted) {
                if (Files.isDirectory(p) ? Files.exists(p.resolve(resource)) : jarHolds(p, resource)) {
                    picked.add(entry);
                    break;
                }
            }
        }
        assertThat(picked).as("class path entries holding %s", wanted).hasSize(wanted.size());
        return String.join(File.pathSeparator, picked);
    }

    private static boolean jarHolds(Path jar, String resource) throws Exception {
        if (!Files.isRegularFile(jar)) {
            return false;
        }
        try (java.util.zip.ZipFile z = new java.util.zip.ZipFile(jar.toFile())) {
            return z.getEntry(resource) != null;
        }
    }

    private static Run exec(Path dir, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out);
    }

    private static String jdkTool(String name) {
        return Path.of(System.getProperty("java.home"), "bin", name).toString();
    }

    @Test
    void aModularApplicationRunsASandboxAndCannotReachTheInternals(@TempDir Path dir) throws Exception {
        Path src = Files.createDirectories(dir.resolve("src/app/app"));
        Files.writeString(dir.resolve("src/app/module-info.java"), "module app { requires dev.crabcan; }\n");
        Files.writeString(src.resolve("Main.java"), """
                package app;

                public class Main {
                    public static void main(String[] args) throws Exception {
                        var r = dev.crabcan.Sandbox.builder().command("/bin/echo", "hello from a module").build().run();
                        System.out.print(r.stdoutText());
                        // Passing an fd loads the native bindings, which must work from the module path too.
                        try (var server = java.nio.channels.ServerSocketChannel.open()) {
                            server.bind(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0));
                            var p = dev.crabcan.Sandbox.builder().passFd(3, server)
                                    .command("/bin/sh", "-c", "readlink /proc/self/fd/3 | cut -c1-7").build().run();
                            System.out.print(p.stdoutText() + p.stderrText());
                            System.exit(r.status().code() + p.status().code());
                        }
                    }
                }
                """);
        String mp = modulePath();
        Run javac = exec(dir, jdkTool("javac"), "-J-XX:-UsePerfData", "--module-path", mp, "-d", "out", "--module-source-path", "src",
                "-m", "app");
        assertThat(javac.status()).as(javac.output()).isZero();
        Run run = exec(dir, jdkTool("java"), "-XX:-UsePerfData",
                "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"),
                "--module-path", "out" + File.pathSeparator + mp, "-m", "app/app.Main");
        assertThat(run.status()).as(run.output()).isZero();
        assertThat(run.output()).contains("hello from a module").contains("socket:");

        Files.writeString(src.resolve("Main.java"), """
                package app;

                public class Main {
                    public static void main(String[] args) {
                        System.out.println(dev.crabcan.internal.plan.Contract.PLAN_MAX);
                    }
                }
                """);
        Run internal = exec(dir, jdkTool("javac"), "-J-XX:-UsePerfData", "--module-path", mp, "-d", "out2", "--module-source-path", "src",
                "-m", "app");
        assertThat(internal.status()).isNotZero();
        assertThat(internal.output()).contains("package dev.crabcan.internal.plan is not visible");
    }
}
