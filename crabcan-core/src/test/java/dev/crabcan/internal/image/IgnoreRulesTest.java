package dev.crabcan.internal.image;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IgnoreRulesTest {

    @Test
    void dockerRules() {
        IgnoreRules r = IgnoreRules.parse("""
                # comment
                *.log
                /build
                **/cache
                docs/**/*.tmp
                secret?.txt
                target
                !target/keep.jar
                [ab].c
                """);

        assertThat(r.ignored("x.log")).isTrue();
        assertThat(r.ignored("sub/x.log")).isFalse();
        assertThat(r.ignored("build")).isTrue();
        assertThat(r.ignored("build/a/b")).isTrue();
        assertThat(r.ignored("cache")).isTrue();
        assertThat(r.ignored("a/b/cache/file")).isTrue();
        assertThat(r.ignored("docs/x.tmp")).isTrue();
        assertThat(r.ignored("docs/a/b/x.tmp")).isTrue();
        assertThat(r.ignored("docs/a/b/x.md")).isFalse();
        assertThat(r.ignored("secret1.txt")).isTrue();
        assertThat(r.ignored("secret12.txt")).isFalse();
        assertThat(r.ignored("target/classes/A.class")).isTrue();
        assertThat(r.ignored("target/keep.jar")).isFalse();
        assertThat(r.ignored("a.c")).isTrue();
        assertThat(r.ignored("c.c")).isFalse();
        assertThat(r.ignored("src/Main.java")).isFalse();
    }

    @Test
    void theFirstIgnoreFileFoundIsUsed(@TempDir Path dir) throws Exception {
        assertThat(IgnoreRules.of(dir).isEmpty()).isTrue();
        Files.writeString(dir.resolve(".dockerignore"), "a\n");
        Files.writeString(dir.resolve(".crabignore"), "b\n");
        IgnoreRules r = IgnoreRules.of(dir);
        assertThat(r.ignored("b")).isTrue();
        assertThat(r.ignored("a")).isFalse();
    }

    @Test
    void dotDotCannotLeaveTheContext() {
        assertThat(IgnoreRules.parse("../x\n./y/../z").ignored("x")).isTrue();
        assertThat(IgnoreRules.parse("./y/../z").ignored("z")).isTrue();
    }
}
