package dev.crabcan.examples;

import dev.crabcan.internal.json.Json;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * crabcan-oci's {@code --log FILE}, {@code --log-format text|json} and {@code --debug}, written as
 * runc writes them (logrus): in json one object per line, {@code {"level":"error","msg":"...","time":"..."}},
 * which containerd's shim reads a failure's reason from; in text
 * {@code time="..." level=error msg="..."}. Errors and warnings also go to stderr, as runc's do.
 */
final class OciLog {
    private final Path file;
    private final boolean json;
    private final boolean debug;
    private final PrintStream err;

    OciLog(Path file, String format, boolean debug, PrintStream err) throws OciRuntime.Failure {
        if (!format.equals("text") && !format.equals("json")) {
            throw new OciRuntime.Failure("--log-format " + format + ": must be text or json");
        }
        this.file = file;
        this.json = format.equals("json");
        this.debug = debug;
        this.err = err;
    }

    void error(String message) {
        err.println("crabcan-oci: " + printable(message));
        write("error", message);
    }

    void warn(String message) {
        err.println("crabcan-oci: warning: " + printable(message));
        write("warning", message);
    }

    /**
     * A message for a terminal: what hooks and containers wrote may carry escape sequences, which
     * must not act on the engine's terminal. The log file's JSON escapes them itself.
     */
    static String printable(String message) {
        StringBuilder b = new StringBuilder(message.length());
        message.codePoints().forEach(c -> b.appendCodePoint(Character.isISOControl(c) ? '?' : c));
        return b.toString();
    }

    /** Only with --debug, and only to the log file. */
    void debug(String message) {
        if (debug) {
            write("debug", message);
        }
    }

    private void write(String level, String message) {
        if (file == null) {
            return;
        }
        String time = Instant.now().toString();
        String line;
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("level", level);
            m.put("msg", message);
            m.put("time", time);
            line = Json.write(m);
        } else {
            line = "time=\"" + time + "\" level=" + level + " msg=" + Json.write(message);
        }
        try {
            Files.writeString(file, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        } catch (IOException e) {
            err.println("crabcan-oci: cannot write the log " + file + ": " + e.getMessage());
        }
    }
}
