package dev.crabcan.internal.image;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class VariablesTest {

    @Test
    void buildArgsOverrideDefaultsAndGlobalsNeedRedeclaring() {
        Variables global = Variables.global('\\', Map.of("VERSION", "2", "UNUSED", "x"));
        global.declareArg("VERSION=1");
        global.declareArg("BASE=img-${VERSION}");
        assertThat(global.expand("$BASE")).isEqualTo("img-2");

        Variables stage = global.stage(Map.of("PATH", "/bin"));
        assertThat(stage.expand("[$BASE]")).isEqualTo("[]");
        stage.declareArg("BASE");
        stage.declareArg("LOCAL=l");
        assertThat(stage.expand("$BASE $LOCAL $PATH")).isEqualTo("img-2 l /bin");
        assertThat(global.unusedBuildArgs()).containsExactly("UNUSED");
    }

    @Test
    void envWinsOverArgAndOnlyEnvStaysInTheImage() {
        Variables stage = Variables.global('\\', Map.of()).stage(Map.of());
        stage.declareArg("X=arg");
        stage.declareArg("NODEFAULT");
        stage.setEnv("Y=\"$X y\"");
        stage.setEnv("X=env");
        assertThat(stage.expand("$X $Y")).isEqualTo("env arg y");
        assertThat(stage.env()).isEqualTo(Map.of("X", "env", "Y", "arg y"));
        assertThat(stage.runEnv()).isEqualTo(Map.of("X", "env", "Y", "arg y"));
    }
}
