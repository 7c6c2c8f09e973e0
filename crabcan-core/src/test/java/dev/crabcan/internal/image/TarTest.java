package dev.crabcan.internal.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TarTest {
    private static final String LONG = "d".repeat(120) + "/" + "f".repeat(99);
    private static final String VERY_LONG = "x".repeat(300);

    private static byte[] sample() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Tar.Writer w = new Tar.Writer(bytes);
        w.put(Tar.Entry.directory("dir", 0755, 0, 0, 1000));
        byte[] content = "hello\n".getBytes(StandardCharsets.UTF_8);
        w.put(Tar.Entry.file("dir/file", 04755, 1000, 100, content.length, 2000));
        w.write(new ByteArrayInputStream(content));
        w.put(Tar.Entry.symlink("dir/link", "/etc/" + VERY_LONG, 0, 0, 3000));
        w.put(Tar.Entry.file(LONG, 0600, 0, 0, 0, 0));
        w.put(Tar.Entry.file(VERY_LONG, 0644, 3_000_000_000L, 5, 0, 0));
        w.finish();
        return bytes.toByteArray();
    }

    private static List<Tar.Entry> read(InputStream in) throws IOException {
        List<Tar.Entry> out = new ArrayList<>();
        Tar.Reader r = new Tar.Reader(in, "test");
        for (Tar.Entry e = r.next(); e != null; e = r.next()) {
            out.add(e);
        }
        return out;
    }

    @Test
    void whatIsWrittenReadsBack() throws Exception {
        List<Tar.Entry> entries = read(new ByteArrayInputStream(sample()));

        assertThat(entries).extracting(Tar.Entry::name).containsExactly("dir", "dir/file", "dir/link", LONG, VERY_LONG);
        assertThat(entries.get(1)).isEqualTo(Tar.Entry.file("dir/file", 04755, 1000, 100, 6, 2000));
        assertThat(entries.get(2).linkName()).isEqualTo("/etc/" + VERY_LONG);
        assertThat(entries.get(4).uid()).isEqualTo(3_000_000_000L);
    }

    @Test
    void gnuTarReadsWhatIsWritten(@TempDir Path dir) throws Exception {
        Path archive = dir.resolve("a.tar");
        Files.write(archive, sample());
        Process p = new ProcessBuilder("tar", "--numeric-owner", "-tvf", archive.toString()).redirectErrorStream(true).start();
        String listing = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(listing).isZero();
        assertThat(listing).contains("-rwsr-xr-x 1000/100").contains("dir/file").contains(LONG).contains(VERY_LONG)
                .contains("dir/link -> /etc/" + VERY_LONG).contains("3000000000/5");
    }

    @Test
    void whatGnuTarWritesReads(@TempDir Path dir) throws Exception {
        Path src = Files.createDirectories(dir.resolve("src").resolve("a".repeat(150)));
        Files.writeString(src.resolve("b".repeat(150)), "content");
        Files.createSymbolicLink(dir.resolve("src/l"), Path.of("c".repeat(150)));
        for (String format : List.of("gnu", "pax", "ustar")) {
            Path archive = dir.resolve(format + ".tar");
            Process p = new ProcessBuilder("tar", "--format=" + format, "-C", dir.resolve("src").toString(), "-cf",
                    archive.toString(), ".").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (format.equals("ustar")) {
                continue; // ustar cannot hold these names: GNU tar refuses, as it should
            }
            assertThat(p.waitFor()).as(out).isZero();
            try (InputStream in = Files.newInputStream(archive)) {
                List<Tar.Entry> entries = read(in);
                assertThat(entries).extracting(Tar.Entry::name).contains("./" + "a".repeat(150) + "/" + "b".repeat(150));
                assertThat(entries).filteredOn(e -> e.type() == Tar.Type.SYMLINK).extracting(Tar.Entry::linkName)
                        .containsExactly("c".repeat(150));
            }
        }
    }

    @Test
    void damagedArchivesAreRefused() {
        byte[] bytes = new byte[1024];
        bytes[0] = 'x';
        assertThatThrownBy(() -> read(new ByteArrayInputStream(bytes))).hasMessageContaining("checksum mismatch");
        assertThatThrownBy(() -> {
            byte[] s = sample();
            Tar.Reader r = new Tar.Reader(new ByteArrayInputStream(s, 0, 1100), "cut.tar");
            r.next();
            r.next();
            r.content().readAllBytes();
            r.next();
        }).hasMessageContaining("cut.tar: truncated");
    }

    /** A hostile pax header fails the read as a damaged archive, not with an unchecked exception or a negative size. */
    @Test
    void paxNumbersThatAreNegativeOrNotNumbersAreRefused() throws IOException {
        for (String record : new String[] {"size=-1", "size=x", "uid=-5", "gid=1e3", "mtime=abc", "mtime=1.5.5"}) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            String body = " " + record + "\n";
            body = (body.length() + 2) + body;
            byte[] pax = body.getBytes(StandardCharsets.UTF_8);
            new Tar.Writer(bytes).put(new Tar.Entry("PaxHeader", Tar.Type.FILE, 0644, 0, 0, pax.length, 0, "", 0, 0));
            byte[] header = bytes.toByteArray();
            header[156] = 'x';
            long sum = 0;
            java.util.Arrays.fill(header, 148, 156, (byte) ' ');
            for (byte b : header) {
                sum += b & 0xff;
            }
            System.arraycopy(String.format("%06o\0 ", sum).getBytes(StandardCharsets.US_ASCII), 0, header, 148, 8);
            ByteArrayOutputStream archive = new ByteArrayOutputStream();
            archive.write(header);
            archive.write(java.util.Arrays.copyOf(pax, 512));
            Tar.Writer w = new Tar.Writer(archive);
            w.put(Tar.Entry.file("f", 0644, 0, 0, 1, 0));
            w.write(new byte[] {'x'}, 0, 1);
            w.finish();
            assertThatThrownBy(() -> read(new ByteArrayInputStream(archive.toByteArray()))).as(record)
                    .isInstanceOf(IOException.class).hasMessageContaining(record);
        }
    }
}
