package dev.crabcan.it;

import dev.crabcan.image.ImageConfig;
import dev.crabcan.internal.image.Store;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A JVM that writes to an image store, for the tests of several JVMs sharing one.
 * {@code commit DIR PREFIX N}: N images named PREFIX-i, each with a layer shared by all writers
 * and one of its own, then prints "done". {@code stall DIR}: starts writing a large layer,
 * prints "writing" halfway and waits to be killed. {@code prune DIR}: prunes, and prints how many
 * entries it removed.
 */
public final class StoreWriter {
    private StoreWriter() {}

    public static void main(String[] args) throws Exception {
        Store store = Store.open(Path.of(args[1]));
        if (args[0].equals("prune")) {
            System.out.println(store.prune().files());
        } else if (args[0].equals("commit")) {
            for (int i = 0; i < Integer.parseInt(args[3]); i++) {
                try (var held = store.use()) {
                    var shared = store.putBlob("shared by every writer".getBytes(StandardCharsets.UTF_8)).asLayer();
                    var own = store.putBlob((args[2] + " " + i).getBytes(StandardCharsets.UTF_8)).asLayer();
                    store.commit(ImageConfig.builder().env("I", Integer.toString(i)).build(), List.of(shared, own),
                            List.of(), Optional.of(args[2] + "-" + i));
                }
            }
            System.out.println("done");
        } else {
            store.putBlob(new InputStream() {
                private long sent;

                @Override
                public int read() {
                    throw new UnsupportedOperationException();
                }

                @Override
                public int read(byte[] b, int off, int len) {
                    if (sent >= 8 << 20) {
                        System.out.println("writing");
                        System.out.flush();
                        try {
                            Thread.sleep(Long.MAX_VALUE);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        return -1;
                    }
                    java.util.Arrays.fill(b, off, off + len, (byte) 'x');
                    sent += len;
                    return len;
                }
            });
        }
        System.out.flush();
    }
}
