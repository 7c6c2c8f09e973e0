package dev.crabcan.internal.seccomp;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.SeccompPolicy;
import org.junit.jupiter.api.Test;

class DefaultFilterTest {

    @Test
    void theBuiltProgramIsTheDefaultPolicyCompiledNow() {
        assertThat(DefaultFilter.class.getResource(DefaultFilter.RESOURCE)).as("written by the build").isNotNull();
        assertThat(DefaultFilter.load()).isEqualTo(BpfCompiler.compile(SeccompPolicy.defaultPolicy()));
    }
}
