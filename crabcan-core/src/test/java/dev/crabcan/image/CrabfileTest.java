package dev.crabcan.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.image.Instruction.Keyword;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CrabfileTest {

    private static Crabfile parse(String text) throws CrabfileException {
        return Crabfile.parse("Crabfile", text);
    }

    @Test
    void everyInstructionParses() throws Exception {
        Crabfile f = parse("""
                # syntax=docker/dockerfile:1
                ARG BASE=scratch
                FROM $BASE AS build
                COPY --chown=1:2 --chmod=0755 a.sh "b c" /dst/
                ADD --chown=app rootfs.tar /
                COPY --from=build /out /out
                RUN echo hi && \\
                    echo there
                RUN ["/bin/sh", "-c", "echo exec"]
                ENV A=1 B="two words"
                ENV LEGACY value with spaces
                ARG V
                ARG W=3
                WORKDIR /app
                USER 1000:1000
                LABEL org.example.x="y z" k=v
                EXPOSE 80 443/udp
                ENTRYPOINT ["/bin/app"]
                CMD --help
                SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
                VOLUME /data /cache
                VOLUME ["/json"]
                STOPSIGNAL SIGTERM
                """);

        List<Instruction> in = f.instructions();
        assertThat(in).extracting(Instruction::keyword).containsExactly(Keyword.ARG, Keyword.FROM, Keyword.COPY,
                Keyword.ADD, Keyword.COPY, Keyword.RUN, Keyword.RUN, Keyword.ENV, Keyword.ENV, Keyword.ARG,
                Keyword.ARG, Keyword.WORKDIR, Keyword.USER, Keyword.LABEL, Keyword.EXPOSE, Keyword.ENTRYPOINT,
                Keyword.CMD, Keyword.SHELL, Keyword.VOLUME, Keyword.VOLUME, Keyword.STOPSIGNAL);
        assertThat(in.get(1).arguments()).containsExactly("$BASE", "AS", "build");
        assertThat(in.get(2).flags()).isEqualTo(Map.of("chown", "1:2", "chmod", "0755"));
        assertThat(in.get(2).arguments()).containsExactly("a.sh", "\"b c\"", "/dst/");
        assertThat(in.get(4).flag("from")).isEqualTo("build");
        assertThat(in.get(5).arguments()).containsExactly("echo hi &&     echo there");
        assertThat(in.get(5).line()).isEqualTo(7);
        assertThat(in.get(5).execForm()).isFalse();
        assertThat(in.get(6).arguments()).containsExactly("/bin/sh", "-c", "echo exec");
        assertThat(in.get(6).execForm()).isTrue();
        assertThat(in.get(6).line()).isEqualTo(9);
        assertThat(in.get(7).arguments()).containsExactly("A=1", "B=\"two words\"");
        assertThat(in.get(8).arguments()).containsExactly("LEGACY=value with spaces");
        assertThat(in.get(9).arguments()).containsExactly("V");
        assertThat(in.get(16).arguments()).containsExactly("--help");
        assertThat(in.get(18).arguments()).containsExactly("/data", "/cache");
        assertThat(in.get(19).arguments()).containsExactly("/json");
    }

    @Test
    void keywordsAreCaseInsensitiveAndCommentsAndBlankLinesInsideAContinuationAreDropped() throws Exception {
        Crabfile f = parse("from scratch\nrun a \\\n# a comment\n\n   b\\   \n c\n");

        assertThat(f.instructions()).hasSize(2);
        assertThat(f.instructions().get(1).arguments()).containsExactly("a    b c");
        assertThat(f.instructions().get(1).text()).isEqualTo("run a    b c");
    }

    @Test
    void theEscapeDirectiveChangesTheContinuationCharacter() throws Exception {
        Crabfile f = parse("# escape=`\nFROM scratch\nRUN dir c:\\ `\n  /w\n");

        assertThat(f.escape()).isEqualTo('`');
        assertThat(f.instructions().get(1).arguments()).containsExactly("dir c:\\   /w");
    }

    @Test
    void aDirectiveAfterAnInstructionIsAComment() throws Exception {
        Crabfile f = parse("FROM scratch\n# escape=`\nRUN a \\\n b\n");

        assertThat(f.escape()).isEqualTo('\\');
        assertThat(f.instructions().get(1).arguments()).containsExactly("a  b");
    }

    @Test
    void malformedJsonIsTheShellForm() throws Exception {
        Instruction run = parse("RUN [\"a\", b]").instructions().get(0);

        assertThat(run.execForm()).isFalse();
        assertThat(run.arguments()).containsExactly("[\"a\", b]");
    }

    @Test
    void anUnknownInstructionNamesFileLineAndInstruction() {
        assertThatThrownBy(() -> Crabfile.parse("ctx/Crabfile", "FROM scratch\n\nHEALTHCHECK CMD true\n"))
                .isInstanceOfSatisfying(CrabfileException.class, e -> {
                    assertThat(e.file()).isEqualTo("ctx/Crabfile");
                    assertThat(e.line()).isEqualTo(3);
                    assertThat(e.instruction()).isEqualTo("HEALTHCHECK");
                    assertThat(e.getMessage()).startsWith("ctx/Crabfile:3: HEALTHCHECK: unknown or unsupported")
                            .contains("FROM, COPY");
                });
        assertThatThrownBy(() -> parse("FROM scratch\nONBUILD RUN x")).hasMessageStartingWith("Crabfile:2: ONBUILD");
        assertThatThrownBy(() -> parse("MAINTAINER me")).hasMessageStartingWith("Crabfile:1: MAINTAINER");
    }

    @Test
    void badArgumentsPointAtTheLine() {
        assertThatThrownBy(() -> parse("FROM a b")).hasMessage("Crabfile:1: FROM: expected FROM IMAGE or FROM IMAGE AS NAME");
        assertThatThrownBy(() -> parse("FROM a\nCOPY x")).hasMessageStartingWith("Crabfile:2: COPY: needs at least one source");
        assertThatThrownBy(() -> parse("FROM a\nRUN --mount=type=cache,target=/x make"))
                .hasMessageStartingWith("Crabfile:2: RUN: option --mount is not supported");
        assertThatThrownBy(() -> parse("FROM --platform=linux/amd64 a"))
                .hasMessageStartingWith("Crabfile:1: FROM: option --platform is not supported");
        assertThatThrownBy(() -> parse("FROM a\nADD --from=x a b")).hasMessageContaining("--from is not supported")
                .hasMessageContaining("ADD takes --chmod, --chown");
        assertThatThrownBy(() -> parse("FROM a\nCOPY --chown a b")).hasMessageContaining("--chown needs a value");
        assertThatThrownBy(() -> parse("FROM a\nCOPY --chown=1 --chown=2 a b")).hasMessageContaining("given twice");
        assertThatThrownBy(() -> parse("FROM a\nSHELL /bin/sh -c")).hasMessageStartingWith("Crabfile:2: SHELL: needs a JSON array");
        assertThatThrownBy(() -> parse("FROM a\nENV A=1 B")).hasMessageStartingWith("Crabfile:2: ENV: 'B' is not KEY=VALUE");
        assertThatThrownBy(() -> parse("FROM a\nENV A")).hasMessageContaining("'A' has no value");
        assertThatThrownBy(() -> parse("FROM a\nLABEL a=\"open")).hasMessageContaining("unterminated \" quote");
        assertThatThrownBy(() -> parse("FROM a\nWORKDIR /a b")).hasMessageContaining("exactly one argument");
        assertThatThrownBy(() -> parse("FROM a\nUSER")).hasMessage("Crabfile:2: USER: needs arguments");
        assertThatThrownBy(() -> parse("FROM a\nRUN []")).hasMessageContaining("JSON array is empty");
        assertThatThrownBy(() -> parse("FROM a\nRUN <<EOF\necho\nEOF")).hasMessageContaining("here-documents");
        assertThatThrownBy(() -> parse("FROM a\nARG =x")).hasMessageContaining("has no name");
        assertThatThrownBy(() -> parse("# escape=x\nFROM a")).hasMessageContaining("escape character can only be");
    }

    @Test
    void theLineOfAContinuedInstructionIsItsFirst() {
        assertThatThrownBy(() -> parse("FROM a\n\nRUN echo \\\n  a\nBOGUS \\\n x")).isInstanceOfSatisfying(
                CrabfileException.class, e -> assertThat(e.line()).isEqualTo(5));
    }

    @Test
    void findLooksForCrabfileThenContainerfileThenDockerfile(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> Crabfile.find(dir)).isInstanceOf(ImageException.class)
                .hasMessageContaining("no Crabfile, Containerfile, Dockerfile in the build context")
                .hasMessageContaining("-f FILE");
        Files.writeString(dir.resolve("Dockerfile"), "FROM scratch\n");
        assertThat(Crabfile.find(dir)).isEqualTo(dir.resolve("Dockerfile"));
        Files.writeString(dir.resolve("Containerfile"), "FROM scratch\n");
        assertThat(Crabfile.find(dir)).isEqualTo(dir.resolve("Containerfile"));
        Files.writeString(dir.resolve("Crabfile"), "FROM scratch\n");
        assertThat(Crabfile.find(dir)).isEqualTo(dir.resolve("Crabfile"));
        assertThat(Crabfile.read(Crabfile.find(dir)).instructions()).hasSize(1);
    }

    @Test
    void readRefusesNonUtf8(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("Crabfile");
        Files.write(f, new byte[] {'F', 'R', 'O', 'M', ' ', (byte) 0xff});
        assertThatThrownBy(() -> Crabfile.read(f)).isInstanceOf(ImageException.class).hasMessageContaining("not UTF-8");
    }
}
