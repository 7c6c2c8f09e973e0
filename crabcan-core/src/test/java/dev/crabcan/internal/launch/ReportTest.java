package dev.crabcan.internal.launch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The helper's report lines: a kind, then tab-separated fields with '\\', tab and newline escaped. */
class ReportTest {

    @Test
    void firstFieldIsTheKindTheRestAreFields() {
        Report r = Report.parse("FAIL\tmount\t2\tno such file");

        assertThat(r.kind()).isEqualTo("FAIL");
        assertThat(r.fields()).containsExactly("mount", "2", "no such file");
    }

    @Test
    void lineWithoutTabsIsAKindWithoutFields() {
        Report r = Report.parse("EXECUTED");

        assertThat(r.kind()).isEqualTo("EXECUTED");
        assertThat(r.fields()).isEmpty();
    }

    @Test
    void emptyLineIsAnEmptyKind() {
        Report r = Report.parse("");

        assertThat(r.kind()).isEmpty();
        assertThat(r.fields()).isEmpty();
    }

    @Test
    void escapedTabStaysInsideItsField() {
        assertThat(Report.parse("LOG\ta\\tb").fields()).containsExactly("a\tb");
    }

    @Test
    void escapedNewlineBecomesANewline() {
        assertThat(Report.parse("LOG\tline 1\\nline 2").fields()).containsExactly("line 1\nline 2");
    }

    @Test
    void escapedBackslashBecomesOneBackslash() {
        assertThat(Report.parse("LOG\tC:\\\\temp").fields()).containsExactly("C:\\temp");
    }

    @Test
    void escapedBackslashBeforeTIsNotATab() {
        assertThat(Report.parse("LOG\t\\\\t").fields()).containsExactly("\\t");
    }

    @Test
    void escapesWorkInEveryField() {
        assertThat(Report.parse("EXECFAIL\t2\tnot\\tfound\t/bin/a\\\\b\t/lib/ld\\n").fields())
                .containsExactly("2", "not\tfound", "/bin/a\\b", "/lib/ld\n");
    }

    @Test
    void unknownEscapeKeepsTheCharacter() {
        assertThat(Report.parse("LOG\ta\\xb").fields()).containsExactly("axb");
    }

    @Test
    void trailingLoneBackslashIsKept() {
        assertThat(Report.parse("LOG\tend\\").fields()).containsExactly("end\\");
    }

    @Test
    void trailingTabMakesAnEmptyLastField() {
        assertThat(Report.parse("EXECFAIL\t2\tnotfound\t/bin/x\t").fields())
                .containsExactly("2", "notfound", "/bin/x", "");
    }

    @Test
    void consecutiveTabsMakeEmptyFields() {
        assertThat(Report.parse("X\t\t\t").fields()).containsExactly("", "", "");
    }

    @Test
    void fieldPastTheEndIsEmpty() {
        assertThat(Report.parse("PID\t42").field(5)).isEmpty();
    }

    @Test
    void fieldsAreUnmodifiable() {
        Report r = Report.parse("PID\t42");

        assertThatThrownBy(() -> r.fields().add("x")).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void intFieldParsesDecimal() {
        assertThat(Report.parse("EXIT\t0\t-1\t2147483647").intField(2)).isEqualTo(Integer.MAX_VALUE);
        assertThat(Report.parse("EXIT\t0\t-1").intField(1)).isEqualTo(-1);
    }

    @Test
    void longFieldParsesValuesBeyondInt() {
        assertThat(Report.parse("EXIT\t0\t9999999999").longField(1)).isEqualTo(9_999_999_999L);
    }

    @Test
    void intFieldOfAMissingFieldThrows() {
        assertThatThrownBy(() -> Report.parse("END").intField(0)).isInstanceOf(NumberFormatException.class);
    }

    @Test
    void intFieldOfTextThrows() {
        assertThatThrownBy(() -> Report.parse("END\tabc").intField(0)).isInstanceOf(NumberFormatException.class);
    }

    @Test
    void longFieldOfAnEmptyFieldThrows() {
        assertThatThrownBy(() -> Report.parse("PID\t").longField(0)).isInstanceOf(NumberFormatException.class);
    }
}
