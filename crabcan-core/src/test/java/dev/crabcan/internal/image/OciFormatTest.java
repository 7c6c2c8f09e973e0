package dev.crabcan.internal.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.image.Digest;
import dev.crabcan.image.ImageConfig;
import dev.crabcan.image.ImageException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class OciFormatTest {

    @Test
    void aConfigIsWrittenAsOciSaysAndReadBack() throws Exception {
        ImageConfig c = ImageConfig.builder().env("PATH", "/usr/bin:/bin").workingDir("/w").cmd(List.of("sh"))
                .exposedPort("8080").build();
        Digest d = new Digest("0".repeat(64));
        byte[] json = OciFormat.config(c, List.of(d), List.of("RUN x"));

        assertThat(new String(json, StandardCharsets.UTF_8)).isEqualTo("{\"architecture\":\""
                + OciFormat.architecture() + "\",\"os\":\"linux\",\"config\":{\"ExposedPorts\":{\"8080/tcp\":{}},"
                + "\"Env\":[\"PATH=/usr/bin:/bin\"],\"Cmd\":[\"sh\"],\"WorkingDir\":\"/w\"},"
                + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:" + "0".repeat(64) + "\"]},"
                + "\"history\":[{\"created_by\":\"RUN x\"}]}");
        OciFormat.Config back = OciFormat.parseConfig(json, "test");
        assertThat(back.config()).isEqualTo(c);
        assertThat(back.diffIds()).containsExactly(d);
        assertThat(back.history()).containsExactly("RUN x");
    }

    @Test
    void badDocumentsNameWhereTheyAreWrong() {
        assertThatThrownBy(() -> OciFormat.parseManifest("{\"schemaVersion\":2}".getBytes(StandardCharsets.UTF_8), "m.json"))
                .isInstanceOf(ImageException.class).hasMessageContaining("m.json config: expected a JSON object");
        assertThatThrownBy(() -> OciFormat.parseIndex(("{\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"md5:1\","
                + "\"size\":1}]}").getBytes(StandardCharsets.UTF_8), "index.json")).hasMessageContaining("only sha256");
        assertThatThrownBy(() -> OciFormat.parseConfig("{\"config\":{\"Env\":\"x\"}}".getBytes(StandardCharsets.UTF_8), "c"))
                .hasMessageContaining("c Env: expected an array of strings");
        assertThatThrownBy(() -> OciFormat.parseConfig("{".getBytes(StandardCharsets.UTF_8), "c")).hasMessageContaining("not valid JSON");
    }
}
