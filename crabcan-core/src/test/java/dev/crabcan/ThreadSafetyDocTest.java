package dev.crabcan;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Every public type of the API says in its class comment whether and how it may be shared between threads. */
class ThreadSafetyDocTest {
    private static final Pattern PUBLIC_TYPE = Pattern.compile(
            "/\\*\\*((?:(?!\\*/).)*)\\*/\\s*(?:@\\w+\\s*)*public (?:static )?(?:final )?(?:class|enum|record|interface) (\\w+)",
            Pattern.DOTALL);
    private static final Pattern UNDOCUMENTED = Pattern.compile(
            "(?<!\\*/)\\n\\s*public (?:static )?(?:final )?(?:class|enum|record|interface) (\\w+)");

    @Test
    void everyPublicTypeStatesItsThreadSafety() throws Exception {
        List<String> missing = new ArrayList<>();
        int checked = 0;
        try (Stream<Path> files = Stream.concat(Files.list(Path.of("src/main/java/dev/crabcan")),
                Files.list(Path.of("src/main/java/dev/crabcan/image")))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                String source = Files.readString(f);
                Matcher m = PUBLIC_TYPE.matcher(source);
                while (m.find()) {
                    checked++;
                    if (!m.group(1).toLowerCase(java.util.Locale.ROOT).contains("thread-safe")) {
                        missing.add(m.group(2));
                    }
                }
                Matcher bare = UNDOCUMENTED.matcher(source);
                while (bare.find()) {
                    missing.add(bare.group(1) + " (no class comment)");
                }
            }
        }
        assertThat(checked).as("public types found").isGreaterThan(30);
        assertThat(missing).isEmpty();
    }
}
