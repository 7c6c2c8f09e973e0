package dev.crabcan.internal;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Each method of Text answers as the regular expression it stands for does. */
class TextTest {

    @ParameterizedTest
    @ValueSource(strings = {"", " ", " \t\n", "a", "  a  ", "0 0 4294967295", "\t1\t\t2 \n3\r\n", "a\u000bb\fc",
        "a \u0001 b", "\u0001a b\u0001", "NSpid:\t123\t1", "  x  y  ", "x\u00a0y"})
    void fieldsSplitAsTrimAndWhitespaceRunsDo(String s) {
        assertThat(Text.fields(s)).containsExactly(s.trim().split("\\s+"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "0", "123", "12a", "a12", " 1", "1 ", "-1", "+1", "\u0661", "0123456789012345678901"})
    void digitsAreWhatBackslashDPlusMatches(String s) {
        assertThat(Text.isDigits(s)).isEqualTo(s.matches("\\d+"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "/", "///", "a", "/a", "//a/b/", "a/b", " /a"})
    void leadingSlashesGoAsReplaceAllDoes(String s) {
        assertThat(Text.withoutLeadingSlashes(s)).isEqualTo(s.replaceAll("^/+", ""));
    }
}
