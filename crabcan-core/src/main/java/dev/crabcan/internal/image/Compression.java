package dev.crabcan.internal.image;

import dev.crabcan.image.ImageException;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/** Archives as found on disk: plain or gzip-compressed tar. */
final class Compression {
    private Compression() {
    }

    /** The file's bytes, decompressed if gzip; other compressions are refused, naming them. */
    static InputStream open(Path file) throws IOException {
        InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
        in.mark(8);
        byte[] magic = in.readNBytes(6);
        in.reset();
        if (magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b) {
            return new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
        }
        String other = magic.length >= 3 && magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h' ? "bzip2"
                : magic.length >= 6 && (magic[0] & 0xff) == 0xfd && magic[1] == '7' && magic[2] == 'z' ? "xz"
                : magic.length >= 4 && (magic[0] & 0xff) == 0x28 && (magic[1] & 0xff) == 0xb5 ? "zstd" : null;
        if (other != null) {
            in.close();
            throw new ImageException(file + " is compressed with " + other + ", which is not supported;"
                    + " use a plain or gzip-compressed tar");
        }
        return in;
    }

    /** Whether the file is a tar archive, plain or gzip-compressed (ADD extracts those). */
    static boolean isTar(Path file) {
        try (InputStream in = open(file)) {
            byte[] header = in.readNBytes(512);
            return header.length == 512 && new String(header, 257, 5, StandardCharsets.US_ASCII).equals("ustar");
        } catch (IOException e) {
            return false;
        }
    }
}
