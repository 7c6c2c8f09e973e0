package dev.crabcan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ExitStatusTest {

    @Test
    void exitedCarriesItsCode() {
        ExitStatus status = ExitStatus.exited(3);

        assertThat(status.isSignaled()).isFalse();
        assertThat(status.code()).isEqualTo(3);
    }

    @Test
    void signaledCarriesItsSignal() {
        ExitStatus status = ExitStatus.signaled(9);

        assertThat(status.isSignaled()).isTrue();
        assertThat(status.signal()).isEqualTo(9);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 125, 126, 127, 128, 255})
    void shellCodeOfAnExitIsTheCode(int code) {
        assertThat(ExitStatus.exited(code).shellCode()).isEqualTo(code);
    }

    @ParameterizedTest
    @CsvSource({"1, 129", "9, 137", "15, 143", "64, 192"})
    void shellCodeOfASignalIs128PlusTheSignal(int signal, int shellCode) {
        assertThat(ExitStatus.signaled(signal).shellCode()).isEqualTo(shellCode);
    }

    @Test
    void codeOfASignaledStatusThrows() {
        assertThatThrownBy(() -> ExitStatus.signaled(9).code())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("signal 9");
    }

    @Test
    void signalOfAnExitedStatusThrows() {
        assertThatThrownBy(() -> ExitStatus.exited(1).signal())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("code 1");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 255})
    void exitCodeBoundsAreAccepted(int code) {
        assertThat(ExitStatus.exited(code).code()).isEqualTo(code);
    }

    @ParameterizedTest
    @ValueSource(ints = {-1, 256, Integer.MIN_VALUE, Integer.MAX_VALUE})
    void exitCodeOutsideZeroTo255IsRefused(int code) {
        assertThatThrownBy(() -> ExitStatus.exited(code))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(String.valueOf(code));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 64})
    void signalBoundsAreAccepted(int signal) {
        assertThat(ExitStatus.signaled(signal).signal()).isEqualTo(signal);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1, 65, Integer.MAX_VALUE})
    void signalOutside1To64IsRefused(int signal) {
        assertThatThrownBy(() -> ExitStatus.signaled(signal))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(String.valueOf(signal));
    }

    @Test
    void equalStatusesAreEqualWithEqualHashCodes() {
        assertThat(ExitStatus.exited(2)).isEqualTo(ExitStatus.exited(2)).hasSameHashCodeAs(ExitStatus.exited(2));
        assertThat(ExitStatus.signaled(2)).isEqualTo(ExitStatus.signaled(2)).hasSameHashCodeAs(ExitStatus.signaled(2));
    }

    @Test
    void exitAndSignalWithTheSameNumberDiffer() {
        assertThat(ExitStatus.exited(9)).isNotEqualTo(ExitStatus.signaled(9));
        assertThat(ExitStatus.exited(9).hashCode()).isNotEqualTo(ExitStatus.signaled(9).hashCode());
    }

    @Test
    void differentCodesDiffer() {
        assertThat(ExitStatus.exited(0)).isNotEqualTo(ExitStatus.exited(1));
        assertThat(ExitStatus.signaled(9)).isNotEqualTo(ExitStatus.signaled(15));
    }

    @Test
    void statusIsNotEqualToOtherTypes() {
        assertThat(ExitStatus.exited(0)).isNotEqualTo(null).isNotEqualTo(0);
    }

    @Test
    void toStringOfAnExitNamesTheCode() {
        assertThat(ExitStatus.exited(42)).hasToString("exit code 42");
    }

    @ParameterizedTest
    @CsvSource({"9, SIGKILL", "15, SIGTERM", "11, SIGSEGV", "2, SIGINT"})
    void toStringOfASignalNamesIt(int signal, String name) {
        assertThat(ExitStatus.signaled(signal).toString()).contains(String.valueOf(signal)).contains(name);
    }
}
