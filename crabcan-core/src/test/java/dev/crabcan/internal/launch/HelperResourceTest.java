package dev.crabcan.internal.launch;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class HelperResourceTest {

    /** A copy this JVM extracts is trusted without hashing it, so the build's hash must be the binary's. */
    @Test
    void theHashShippedBesideTheHelperIsItsSha256() throws Exception {
        byte[] binary;
        String shipped;
        try (InputStream bin = HelperRuntime.resource(HelperRuntime.RESOURCE);
                InputStream sha = HelperRuntime.resource(HelperRuntime.RESOURCE + ".sha256")) {
            binary = bin.readAllBytes();
            shipped = new String(sha.readAllBytes(), StandardCharsets.US_ASCII).trim();
        }
        assertThat(shipped).isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(binary)));
    }
}
