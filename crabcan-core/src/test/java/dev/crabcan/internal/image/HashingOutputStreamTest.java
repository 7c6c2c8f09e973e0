package dev.crabcan.internal.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HashingOutputStreamTest {
    private static final int MIB = 1 << 20;

    /** Whatever the sizes of the writes, around and across its 1 MiB blocks: the bytes and their SHA-256. */
    @Test
    void writesAndHashesEveryByteInOrder() throws IOException {
        Random random = new Random(7);
        for (int total : new int[] {0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB + MIB / 2, 7 * MIB + 3}) {
            byte[] data = new byte[total];
            random.nextBytes(data);
            ByteArrayOutputStream sink = new ByteArrayOutputStream();
            HashingOutputStream out = new HashingOutputStream(sink);
            int at = 0;
            while (at < total) {
                int n = Math.min(total - at, random.nextBoolean() ? random.nextInt(100) : random.nextInt(2 * MIB));
                if (n == 1) {
                    out.write(data[at]);
                } else {
                    out.write(data, at, n);
                }
                at += n;
                if (random.nextInt(8) == 0) {
                    out.flush();
                }
            }
            out.close();
            assertThat(sink.toByteArray()).as("%d bytes", total).isEqualTo(data);
            assertThat(out.digest()).as("%d bytes", total).isEqualTo(Store.sha256().digest(data));
        }
    }

    /** A stream below that fails: the failure, no hash, and the hasher thread gone. */
    @Test
    void aFailingStreamGivesNoHashAndStopsItsHasher() throws Exception {
        OutputStream failing = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("disk full");
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                throw new IOException("disk full");
            }
        };
        HashingOutputStream out = new HashingOutputStream(failing);
        assertThatThrownBy(() -> out.write(new byte[2 * MIB])).hasMessage("disk full");
        assertThatThrownBy(out::close).hasMessage("disk full");
        assertThatThrownBy(out::digest).isInstanceOf(IllegalStateException.class);
        for (int i = 0; i < 100 && Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.getName().equals("crabcan-blob-hash")); i++) {
            Thread.sleep(20);
        }
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().equals("crabcan-blob-hash"));
    }
}
