package dev.crabcan.internal.net;

import dev.crabcan.SandboxSetupException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Runs the host's network tools (ip, nft, pasta) for the JVM: they set up what the helper cannot. */
final class HostCommand {
    private static final List<String> DIRS = List.of("/usr/sbin", "/usr/bin", "/sbin", "/bin");
    private static final long TIMEOUT_SECONDS = 20;

    /** What the command printed and how it ended. */
    record Result(int exitCode, String stdout, String stderr) {
        boolean ok() {
            return exitCode == 0;
        }

        /** The first line of stderr, for messages. */
        String reason() {
            String text = stderr.isBlank() ? stdout : stderr;
            return text.lines().filter(l -> !l.isBlank()).findFirst().orElse("exit code " + exitCode).trim();
        }
    }

    private HostCommand() {}

    /** The tool's path in the system directories (never the caller's PATH), if installed. */
    static Optional<Path> find(String tool) {
        return DIRS.stream().map(d -> Path.of(d, tool)).filter(Files::isExecutable).findFirst();
    }

    static Path require(String tool, String packageName, String why) throws SandboxSetupException {
        return find(tool).orElseThrow(() -> new SandboxSetupException("network", 0, why + " needs " + tool
                + ", which is not installed in " + DIRS + "; install the Debian package " + packageName));
    }

    /** Runs argv with input on stdin; the environment is empty but for a fixed PATH. */
    static Result run(Path tool, List<String> args, String input) throws SandboxSetupException {
        List<String> argv = new ArrayList<>();
        argv.add(tool.toString());
        argv.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.environment().clear();
        pb.environment().put("PATH", String.join(":", DIRS));
        try {
            Process p = pb.start();
            try (var in = p.getOutputStream()) {
                in.write(input.getBytes(StandardCharsets.UTF_8));
            }
            // Small outputs: read stderr after stdout; the tools print little.
            String out = read(p.getInputStream());
            String err = read(p.getErrorStream());
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new SandboxSetupException("network", 0, String.join(" ", argv) + " did not finish within "
                        + TIMEOUT_SECONDS + " s");
            }
            return new Result(p.exitValue(), out, err);
        } catch (IOException e) {
            throw new SandboxSetupException("network", 0, "cannot run " + String.join(" ", argv) + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SandboxSetupException("network", 0, "interrupted while running " + String.join(" ", argv));
        }
    }

    private static String read(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        for (int n; (n = in.read(buf)) > 0; ) {
            out.write(buf, 0, n);
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
