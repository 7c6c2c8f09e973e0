package dev.crabcan.internal.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class KernelVersionTest {

    @ParameterizedTest
    @CsvSource({
        "6.1.0-18-amd64,         6,  1,  0",
        "5.15.0-1051-azure,      5, 15,  0",
        "5.4,                    5,  4,  0",
        "4.18.0-513.el8.x86_64,  4, 18,  0",
        "6.18.44-fc-v782,        6, 18, 44",
        "10.0.1,                10,  0,  1",
        "6.10.0-rc1,             6, 10,  0",
        "'  6.8.12 ',            6,  8, 12",
    })
    void parsesTheLeadingNumbers(String release, int major, int minor, int patch) {
        assertThat(KernelVersion.parse(release)).isEqualTo(new KernelVersion(major, minor, patch));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "   ", "linux", "6", "6.", ".1.0", "v6.1.0", "six.one", "-6.1", "6-1-0"})
    void garbageIsRefused(String release) {
        assertThatThrownBy(() -> KernelVersion.parse(release))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'" + release + "'");
    }

    @Test
    void minorVersionsCompareNumericallyNotLexically() {
        assertThat(KernelVersion.parse("5.9")).isLessThan(KernelVersion.parse("5.12"));
    }

    @Test
    void patchVersionsCompareNumerically() {
        assertThat(KernelVersion.parse("6.1.9")).isLessThan(KernelVersion.parse("6.1.10"));
    }

    @Test
    void majorVersionsCompareNumerically() {
        assertThat(KernelVersion.parse("9.99.99")).isLessThan(KernelVersion.parse("10.0.0"));
    }

    @Test
    void missingPatchEqualsPatchZero() {
        assertThat(KernelVersion.parse("5.4")).isEqualByComparingTo(KernelVersion.parse("5.4.0-100-generic"));
    }

    @Test
    void sortingOrdersReleasesNumerically() {
        List<String> sorted = Stream.of("10.0", "5.12", "6.1", "4.19", "5.9", "5.12.3")
                .map(KernelVersion::parse)
                .sorted()
                .map(KernelVersion::toString)
                .toList();

        assertThat(sorted).containsExactly("4.19.0", "5.9.0", "5.12.0", "5.12.3", "6.1.0", "10.0.0");
    }

    @ParameterizedTest
    @CsvSource({
        "5.12.0, 5, 12, true",
        "5.12.7, 5, 12, true",
        "5.11.99, 5, 12, false",
        "5.9, 5, 12, false",
        "6.0, 5, 12, true",
        "4.99, 5, 0, false",
        "10.0, 9, 99, true",
    })
    void atLeastComparesMajorThenMinor(String release, int major, int minor, boolean expected) {
        assertThat(KernelVersion.parse(release).atLeast(major, minor)).isEqualTo(expected);
    }

    @Test
    void toStringHasAllThreeNumbers() {
        assertThat(KernelVersion.parse("5.4")).hasToString("5.4.0");
    }
}
