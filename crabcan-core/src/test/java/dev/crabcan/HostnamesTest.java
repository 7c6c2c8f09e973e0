package dev.crabcan;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

class HostnamesTest {

    @RepeatedTest(50)
    void randomIsAdjectiveNounNumber() {
        assertThat(Hostnames.random()).matches("[a-z]+-[a-z]+-(0|[1-9][0-9]{0,2})");
    }

    @RepeatedTest(50)
    void randomIsAcceptedByTheBuilder() {
        String name = Hostnames.random();

        assertThat(Sandbox.builder().command("/bin/true").hostname(name).build().hostname()).contains(name);
    }

    @Test
    void randomVaries() {
        Set<String> names = new HashSet<>();
        for (int i = 0; i < 100; i++) {
            names.add(Hostnames.random());
        }
        assertThat(names).hasSizeGreaterThan(50);
    }
}
