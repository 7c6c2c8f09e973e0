package dev.crabcan.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The service runs a caller's command line as the caller's own directory would have it read. */
class OciServiceArgsTest {
    private static final Path CWD = Path.of("/home/u/b");

    private static List<String> resolved(String... args) {
        return List.of(OciService.withCallerPaths(List.of(args), CWD));
    }

    @Test
    void relativePathsAreTheCallersAndAbsoluteOnesStay() {
        assertThat(resolved("--root", "state", "--log=log.json", "--log-format", "json", "create", "--bundle", "x",
                "--pid-file=/run/p", "id"))
                .containsExactly("--root", "/home/u/b/state", "--log=/home/u/b/log.json", "--log-format", "json",
                        "create", "--bundle", "/home/u/b/x", "--pid-file=/run/p", "id");
    }

    @Test
    void createAndRunWithoutABundleTakeTheCallersDirectory() {
        assertThat(resolved("--root", "/s", "run", "id")).containsExactly("--root", "/s", "run", "--bundle=/home/u/b", "id");
        assertThat(resolved("create", "-b", "/b", "id")).containsExactly("create", "-b", "/b", "id");
        assertThat(resolved("state", "id")).containsExactly("state", "id");
    }

    @Test
    void theCommandsOwnArgumentsAreLeftAlone() {
        assertThat(resolved("kill", "id", "KILL")).containsExactly("kill", "id", "KILL");
        assertThat(resolved("exec", "--pid-file", "p", "id", "mkdir", "-p", "a/b"))
                .containsExactly("exec", "--pid-file", "/home/u/b/p", "id", "mkdir", "-p", "a/b");
    }

    /** exec's options with a value that is no path are passed over, not taken for the container id. */
    @Test
    void execsValueOptionsAreNotTheContainerId() {
        assertThat(resolved("exec", "--preserve-fds", "2", "--cwd", "/w", "--env", "A=b", "--pid-file", "p", "id", "sh"))
                .containsExactly("exec", "--preserve-fds", "2", "--cwd", "/w", "--env", "A=b", "--pid-file",
                        "/home/u/b/p", "id", "sh");
    }
}
