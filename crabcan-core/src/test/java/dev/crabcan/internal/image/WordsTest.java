package dev.crabcan.internal.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class WordsTest {
    private static final Map<String, String> VARS = Map.of("A", "1", "EMPTY", "", "SP", "a b");

    private static String expand(String word) {
        return Words.expand(word, '\\', VARS::get);
    }

    @Test
    void splitKeepsQuotesAndEscapes() {
        assertThat(Words.split("  a \"b c\" 'd e'  f\\ g x=\"y z\"", '\\'))
                .containsExactly("a", "\"b c\"", "'d e'", "f\\ g", "x=\"y z\"");
        assertThat(Words.split("a`  b", '`')).containsExactly("a` ", "b");
        assertThatThrownBy(() -> Words.split("a 'b", '\\')).hasMessageContaining("unterminated ' quote");
    }

    @Test
    void substitutesVariables() {
        assertThat(expand("$A-${A}-$UNSET-${UNSET}-x$")).isEqualTo("1-1---x$");
        assertThat(expand("${UNSET:-d}${EMPTY:-e}${EMPTY-f}${A:-g}")).isEqualTo("de1");
        assertThat(expand("${A:+alt}${UNSET:+alt}${EMPTY+set}${EMPTY:+no}")).isEqualTo("altset");
        assertThat(expand("${UNSET:-${A}x}")).isEqualTo("1x");
        assertThat(expand("${UNSET:-\"}\"}")).isEqualTo("}");
    }

    @Test
    void quotesAndEscapes() {
        assertThat(expand("'$A'\"$A\"\\$A")).isEqualTo("$A1$A");
        assertThat(expand("\"a \\\"b\\\" \\n $SP\"")).isEqualTo("a \"b\" \\n a b");
        assertThat(expand("a\\ b")).isEqualTo("a b");
        assertThat(Words.expand("`$A", '`', VARS::get)).isEqualTo("$A");
    }

    @Test
    void badSubstitutionsAreNamed() {
        assertThatThrownBy(() -> expand("${A")).hasMessageContaining("bad substitution");
        assertThatThrownBy(() -> expand("${A:?x}")).hasMessageContaining("bad substitution ${A:?x}");
        assertThatThrownBy(() -> expand("${A:-x")).hasMessageContaining("unterminated ${");
        assertThatThrownBy(() -> expand("\"a")).hasMessageContaining("unterminated \" quote");
    }
}
