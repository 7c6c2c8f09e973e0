package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxResult;
import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void echo() throws Exception {
        SandboxResult r = Sandbox.builder().command("/bin/sh", "-c", "echo hi; id; hostname; echo err >&2; exit 3").build().run();
        System.out.println(r + "\n" + r.stdoutText() + r.stderrText());
        assertThat(r.stdoutText()).startsWith("hi\n");
        assertThat(r.status().code()).isEqualTo(3);
    }
}
