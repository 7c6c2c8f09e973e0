package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * crabcan-oci as an engine runs it, a new JVM per command (the JVM-per-call path), with the state
 * root {@code <dir>/state} and what each command prints in files of dir: the runner the OCI tests
 * share.
 */
final class OciCli {
    record Run(int status, String stdout, String stderr) {}

    private final Path dir;
    private final long timeoutSeconds;

    /** A command still running after timeoutSeconds is killed (its lock would hold up the cleanup) and fails the test. */
    OciCli(Path dir, long timeoutSeconds) {
        this.dir = dir;
        this.timeoutSeconds = timeoutSeconds;
    }

    /** The command line of crabcan-oci with these arguments after its --root. */
    List<String> command(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:-UsePerfData", "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"),
                "-cp", Env.CLI_JAR.toString(), "dev.crabcan.examples.OciRuntime", "--root", dir.resolve("state").toString()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** crabcan-oci with these arguments, its stdout into that file (null: a new one), stdin empty. */
    Run oci(File stdout, String... args) throws Exception {
        return run(command(args), stdout);
    }

    Run run(List<String> cmd, File stdout) throws Exception {
        File out = stdout != null ? stdout : dir.resolve("out-" + System.nanoTime()).toFile();
        File err = dir.resolve("err-" + System.nanoTime()).toFile();
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out).redirectError(err).start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            org.assertj.core.api.Assertions.fail("%s still runs after %d s", cmd, timeoutSeconds);
        }
        return new Run(p.exitValue(), Files.readString(out.toPath()), Files.readString(err.toPath()));
    }

    /** The container's status as state prints it. */
    String status(String id) throws Exception {
        Run r = oci(null, "state", id);
        assertThat(r.status()).as(r.stderr()).isZero();
        Matcher m = Pattern.compile("\"status\": \"(\\w+)\"").matcher(r.stdout());
        assertThat(m.find()).as(r.stdout()).isTrue();
        return m.group(1);
    }

    /** The status once it is the one wanted, or the last seen after 20 s. */
    String awaitStatus(String id, String wanted) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        String s;
        while (!(s = status(id)).equals(wanted) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        return s;
    }

    /** create that must fail, with status 1, and leave no container; its words for the caller's checks. */
    Run refusedCreate(Path bundle, String id) throws Exception {
        Run r = oci(null, "create", "--bundle", bundle.toString(), id);
        assertThat(r.status()).as(r.stderr()).isEqualTo(1);
        assertThat(oci(null, "state", id).stderr()).contains("does not exist");
        return r;
    }

    /** start that must fail, with status 1: the container stops then (runtime-spec), and is deleted. */
    Run refusedStart(String id) throws Exception {
        Run r = oci(null, "start", id);
        assertThat(r.status()).as(r.stderr()).isEqualTo(1);
        awaitStoppedAndDelete(id);
        return r;
    }

    /** Waits for the container to stop, then deletes it without force. */
    void awaitStoppedAndDelete(String id) throws Exception {
        assertThat(awaitStatus(id, "stopped")).isEqualTo("stopped");
        Run deleted = oci(null, "delete", id);
        assertThat(deleted.status()).as(deleted.stderr()).isZero();
    }
}
