package dev.crabcan.internal.image;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tar format of OCI layers: POSIX ustar, with pax extended headers for what does not fit
 * (long names, large sizes and ids) and GNU long names when reading. Not thread-safe.
 */
public final class Tar {
    /** An entry's kind, by its typeflag. */
    public enum Type {
        FILE('0'), HARDLINK('1'), SYMLINK('2'), CHAR('3'), BLOCK('4'), DIRECTORY('5'), FIFO('6');

        final char flag;

        Type(char flag) {
            this.flag = flag;
        }
    }

    /**
     * One entry's header. {@code name} is as stored (relative, {@code /} separated, no trailing
     * slash); {@code mode} holds the permission and set-id bits only.
     */
    public record Entry(String name, Type type, int mode, long uid, long gid, long size, long mtime, String linkName,
            int devMajor, int devMinor) {
        public static Entry directory(String name, int mode, long uid, long gid, long mtime) {
            return new Entry(name, Type.DIRECTORY, mode, uid, gid, 0, mtime, "", 0, 0);
        }

        public static Entry file(String name, int mode, long uid, long gid, long size, long mtime) {
            return new Entry(name, Type.FILE, mode, uid, gid, size, mtime, "", 0, 0);
        }

        public static Entry symlink(String name, String target, long uid, long gid, long mtime) {
            return new Entry(name, Type.SYMLINK, 0777, uid, gid, 0, mtime, target, 0, 0);
        }
    }

    private Tar() {
    }

    /** Writes entries; {@link #finish} writes the end marker. */
    public static final class Writer {
        private final OutputStream out;
        /** One for every file {@link #write(InputStream)} copies: a layer can have thousands. */
        private final byte[] buf = new byte[65536];
        private long remaining;
        private long written;

        public Writer(OutputStream out) {
            this.out = out;
        }

        /** Writes a header; for a file, exactly {@code size} bytes must follow via {@link #write}. */
        public void put(Entry e) throws IOException {
            if (remaining != 0) {
                throw new IllegalStateException(remaining + " bytes of the previous entry are missing");
            }
            String name = e.type == Type.DIRECTORY ? e.name + "/" : e.name;
            Map<String, String> pax = new LinkedHashMap<>();
            byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
            String prefix = "";
            String shortName = name;
            if (nameBytes.length > 100) {
                int split = ustarSplit(name);
                if (split < 0) {
                    pax.put("path", name);
                    shortName = ascii(name, 100);
                } else {
                    prefix = name.substring(0, split);
                    shortName = name.substring(split + 1);
                }
            }
            if (e.linkName.getBytes(StandardCharsets.UTF_8).length > 100) {
                pax.put("linkpath", e.linkName);
            }
            if (e.size > 077777777777L) {
                pax.put("size", Long.toString(e.size));
            }
            if (e.uid > 07777777) {
                pax.put("uid", Long.toString(e.uid));
            }
            if (e.gid > 07777777) {
                pax.put("gid", Long.toString(e.gid));
            }
            if (!pax.isEmpty()) {
                byte[] body = paxBody(pax);
                header("PaxHeader/" + ascii(shortName, 80), "", 'x', 0644, 0, 0, body.length, e.mtime, "", 0, 0);
                out.write(body);
                pad(body.length);
            }
            header(shortName, prefix, e.type.flag, e.mode, Math.min(e.uid, 07777777), Math.min(e.gid, 07777777),
                    e.type == Type.FILE ? Math.min(e.size, 077777777777L) : 0, e.mtime, ascii(e.linkName, 100),
                    e.devMajor, e.devMinor);
            remaining = e.type == Type.FILE ? e.size : 0;
            written = 0;
        }

        public void write(byte[] b, int off, int len) throws IOException {
            if (len > remaining) {
                throw new IllegalStateException("entry is longer than its header's size");
            }
            out.write(b, off, len);
            remaining -= len;
            written += len;
            if (remaining == 0) {
                pad(written);
            }
        }

        /** Copies a file's content; fails if it does not have the size the header said. */
        public void write(InputStream in) throws IOException {
            long expected = remaining;
            int n;
            while (remaining > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, remaining))) > 0) {
                write(buf, 0, n);
            }
            if (remaining != 0 || in.read() >= 0) {
                throw new IOException("a file changed size while it was copied (" + expected + " bytes expected)");
            }
        }

        public void finish() throws IOException {
            if (remaining != 0) {
                throw new IllegalStateException(remaining + " bytes of the last entry are missing");
            }
            out.write(new byte[1024]);
            out.flush();
        }

        private void pad(long length) throws IOException {
            int pad = (int) ((512 - length % 512) % 512);
            out.write(new byte[pad]);
        }

        private void header(String name, String prefix, char type, int mode, long uid, long gid, long size, long mtime,
                String link, int major, int minor) throws IOException {
            byte[] h = new byte[512];
            put(h, 0, 100, name.getBytes(StandardCharsets.UTF_8));
            octal(h, 100, 8, mode & 07777);
            octal(h, 108, 8, uid);
            octal(h, 116, 8, gid);
            octal(h, 124, 12, size);
            octal(h, 136, 12, Math.max(0, Math.min(mtime, 077777777777L)));
            Arrays.fill(h, 148, 156, (byte) ' ');
            h[156] = (byte) type;
            put(h, 157, 100, link.getBytes(StandardCharsets.UTF_8));
            put(h, 257, 8, "ustar\u000000".getBytes(StandardCharsets.US_ASCII));
            octal(h, 329, 8, major);
            octal(h, 337, 8, minor);
            put(h, 345, 155, prefix.getBytes(StandardCharsets.UTF_8));
            long sum = 0;
            for (byte b : h) {
                sum += b & 0xff;
            }
            byte[] chk = String.format("%06o\0 ", sum).getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(chk, 0, h, 148, 8);
            out.write(h);
        }

        private static int ustarSplit(String name) {
            for (int i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
                int prefixLen = name.substring(0, i).getBytes(StandardCharsets.UTF_8).length;
                int rest = name.substring(i + 1).getBytes(StandardCharsets.UTF_8).length;
                if (prefixLen <= 155 && rest <= 100 && rest > 0) {
                    return i;
                }
            }
            return -1;
        }

        private static String ascii(String s, int max) {
            StringBuilder b = new StringBuilder();
            for (char c : s.toCharArray()) {
                if (b.length() == max) {
                    break;
                }
                b.append(c < 0x80 ? c : '_');
            }
            return b.toString();
        }

        private static byte[] paxBody(Map<String, String> pax) {
            StringBuilder out = new StringBuilder();
            for (Map.Entry<String, String> e : pax.entrySet()) {
                String rec = " " + e.getKey() + "=" + e.getValue() + "\n";
                int len = rec.getBytes(StandardCharsets.UTF_8).length;
                int total = len + Integer.toString(len).length();
                if (Integer.toString(total).length() != Integer.toString(len).length()) {
                    total++;
                }
                out.append(total).append(rec);
            }
            return out.toString().getBytes(StandardCharsets.UTF_8);
        }

        private static void put(byte[] h, int off, int len, byte[] value) {
            System.arraycopy(value, 0, h, off, Math.min(len, value.length));
        }

        private static void octal(byte[] h, int off, int len, long value) {
            String s = Long.toOctalString(value);
            String padded = "0".repeat(Math.max(0, len - 1 - s.length())) + s;
            put(h, off, len - 1, padded.getBytes(StandardCharsets.US_ASCII));
        }
    }

    /** Reads entries in order; after {@link #next}, {@link #content} reads the entry's bytes. */
    public static final class Reader {
        private final InputStream in;
        private final String where;
        private long remaining;
        private long padding;
        private Map<String, String> globalPax = new LinkedHashMap<>();

        /** @param where names the archive in errors */
        public Reader(InputStream in, String where) {
            this.in = in;
            this.where = where;
        }

        /** The next entry, or null at the end. Entries of types this reader does not know are errors. */
        public Entry next() throws IOException {
            skip(remaining + padding);
            remaining = 0;
            padding = 0;
            Map<String, String> pax = new LinkedHashMap<>(globalPax);
            String gnuName = null;
            String gnuLink = null;
            while (true) {
                byte[] h = in.readNBytes(512);
                if (h.length == 0) {
                    return null; // no end marker: tolerated, as GNU tar does
                }
                if (h.length < 512) {
                    throw new IOException(where + ": truncated tar header");
                }
                if (isZero(h)) {
                    return null;
                }
                checkSum(h);
                char flag = (char) h[156];
                long size = number(h, 124, 12);
                if (flag == 'x' || flag == 'g') {
                    Map<String, String> records = paxRecords(readBody(size));
                    if (flag == 'g') {
                        globalPax.putAll(records);
                    }
                    pax.putAll(records);
                    continue;
                }
                if (flag == 'L' || flag == 'K') {
                    String value = cString(readBody(size));
                    if (flag == 'L') {
                        gnuName = value;
                    } else {
                        gnuLink = value;
                    }
                    continue;
                }
                Type type = switch (flag) {
                    case '0', '\0', '7' -> Type.FILE;
                    case '1' -> Type.HARDLINK;
                    case '2' -> Type.SYMLINK;
                    case '3' -> Type.CHAR;
                    case '4' -> Type.BLOCK;
                    case '5' -> Type.DIRECTORY;
                    case '6' -> Type.FIFO;
                    default -> throw new IOException(where + ": entry " + cString(Arrays.copyOfRange(h, 0, 100))
                            + " has tar type '" + flag + "', which is not supported");
                };
                String name = cString(Arrays.copyOfRange(h, 0, 100));
                String magic = new String(h, 257, 5, StandardCharsets.US_ASCII);
                if (magic.equals("ustar")) {
                    String prefix = cString(Arrays.copyOfRange(h, 345, 500));
                    if (!prefix.isEmpty()) {
                        name = prefix + "/" + name;
                    }
                }
                name = pax.getOrDefault("path", gnuName != null ? gnuName : name);
                String link = pax.getOrDefault("linkpath", gnuLink != null ? gnuLink
                        : cString(Arrays.copyOfRange(h, 157, 257)));
                size = paxNumber(pax, "size", size);
                long uid = paxNumber(pax, "uid", number(h, 108, 8));
                long gid = paxNumber(pax, "gid", number(h, 116, 8));
                long mtime = paxNumber(pax, "mtime", number(h, 136, 12));
                if (type == Type.FILE && name.endsWith("/") && flag == '\0') {
                    type = Type.DIRECTORY; // old tars mark directories only by the slash
                }
                while (name.endsWith("/") && name.length() > 1) {
                    name = name.substring(0, name.length() - 1);
                }
                long dataSize = type == Type.FILE ? size : 0;
                remaining = dataSize;
                padding = (512 - dataSize % 512) % 512;
                return new Entry(name, type, (int) (number(h, 100, 8) & 07777), uid, gid,
                        type == Type.FILE ? size : 0, mtime, link, (int) number(h, 329, 8), (int) number(h, 337, 8));
            }
        }

        /**
         * A pax record's number (mtime's fraction dropped; only mtime may be negative), or
         * {@code fallback} without one: a negative size would make the entry's content read backwards.
         */
        private long paxNumber(Map<String, String> pax, String key, long fallback) throws IOException {
            String v = pax.get(key);
            if (v == null) {
                return fallback;
            }
            try {
                long n = Long.parseLong(key.equals("mtime") ? v.replaceFirst("\\.\\d*$", "") : v);
                if (n >= 0 || key.equals("mtime")) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IOException(where + ": pax header " + key + "=" + v + " is not a number this reader accepts");
        }

        /** The current entry's bytes (a file's content); valid until the next {@link #next}. */
        public InputStream content() {
            return new InputStream() {
                @Override
                public int read() throws IOException {
                    byte[] one = new byte[1];
                    return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
                }

                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    if (remaining == 0) {
                        return -1;
                    }
                    int n = in.read(b, off, (int) Math.min(len, remaining));
                    if (n < 0) {
                        throw new EOFException(where + ": truncated tar: an entry's content ends early");
                    }
                    remaining -= n;
                    return n;
                }
            };
        }

        private byte[] readBody(long size) throws IOException {
            if (size > (1 << 20)) {
                throw new IOException(where + ": an extended header of " + size + " bytes is too large");
            }
            byte[] body = in.readNBytes((int) size);
            if (body.length < size) {
                throw new EOFException(where + ": truncated tar header");
            }
            skip((512 - size % 512) % 512);
            return body;
        }

        private void skip(long n) throws IOException {
            while (n > 0) {
                long s = in.skip(n);
                if (s <= 0) {
                    if (in.read() < 0) {
                        throw new EOFException(where + ": truncated tar: an entry's content ends early");
                    }
                    s = 1;
                }
                n -= s;
            }
        }

        private void checkSum(byte[] h) throws IOException {
            long sum = 0;
            for (int i = 0; i < 512; i++) {
                sum += (i >= 148 && i < 156) ? ' ' : h[i] & 0xff;
            }
            if (sum != number(h, 148, 8)) {
                throw new IOException(where + ": not a tar archive, or a damaged one (header checksum mismatch)");
            }
        }

        private Map<String, String> paxRecords(byte[] body) throws IOException {
            Map<String, String> out = new LinkedHashMap<>();
            int pos = 0;
            while (pos < body.length) {
                int space = pos;
                while (space < body.length && body[space] != ' ') {
                    space++;
                }
                int len;
                try {
                    len = Integer.parseInt(new String(body, pos, space - pos, StandardCharsets.US_ASCII));
                } catch (NumberFormatException e) {
                    throw new IOException(where + ": malformed pax header", e);
                }
                if (len <= space - pos || pos + len > body.length) {
                    throw new IOException(where + ": malformed pax header");
                }
                String rec = new String(body, space + 1, pos + len - space - 2, StandardCharsets.UTF_8);
                int eq = rec.indexOf('=');
                if (eq > 0) {
                    out.put(rec.substring(0, eq), rec.substring(eq + 1));
                }
                pos += len;
            }
            return out;
        }

        private long number(byte[] h, int off, int len) throws IOException {
            if ((h[off] & 0x80) != 0) { // GNU base-256
                long v = h[off] & 0x3f;
                for (int i = 1; i < len; i++) {
                    v = (v << 8) | (h[off + i] & 0xff);
                }
                return v;
            }
            String s = new String(h, off, len, StandardCharsets.US_ASCII).replace("\0", " ").strip();
            if (s.isEmpty()) {
                return 0;
            }
            try {
                return Long.parseLong(s, 8);
            } catch (NumberFormatException e) {
                throw new IOException(where + ": not a tar archive, or a damaged one (bad number '" + s + "')", e);
            }
        }

        private static boolean isZero(byte[] h) {
            for (byte b : h) {
                if (b != 0) {
                    return false;
                }
            }
            return true;
        }

        private static String cString(byte[] b) {
            int end = 0;
            while (end < b.length && b[end] != 0) {
                end++;
            }
            return new String(b, 0, end, StandardCharsets.UTF_8);
        }
    }
}
