package dev.crabcan.internal.host;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.Charset;
import java.nio.charset.CodingErrorAction;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** This mount namespace's mounts, as /proc/self/mountinfo lists them. */
public final class MountInfo {
    private MountInfo() {}

    /**
     * One line of /proc/self/mountinfo. options are the super block's as the line has them, octal
     * escapes kept: the kernel escapes a ',' within a value (a layer's name) so, and only there do
     * the options split.
     */
    public record Mount(int id, String device, Path root, Path point, String type, String options) {}

    /**
     * This mount namespace's mounts. Read as bytes and decoded as file names are, replacing what
     * does not decode (a mount point named in another encoding must not hide the others); failing
     * to read it at all fails the start, since the check would be blind.
     */
    public static List<Mount> read() throws IOException {
        byte[] bytes = Files.readAllBytes(Path.of("/proc/self/mountinfo"));
        Charset names = Charset.forName(System.getProperty("sun.jnu.encoding", "UTF-8"));
        String text = names.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(ByteBuffer.wrap(bytes)).toString();
        List<Mount> mounts = new ArrayList<>();
        for (String line : text.split("\n")) {
            String[] f = line.split(" ");
            int dash = List.of(f).indexOf("-");
            if (f.length > 4 && dash > 4 && dash + 3 < f.length) {
                mounts.add(new Mount(Integer.parseInt(f[0]), f[2], Path.of(unescape(f[3])), Path.of(unescape(f[4])),
                        f[dash + 1], f[dash + 3]));
            }
        }
        return mounts;
    }

    /** mountinfo writes space, tab, newline and backslash in paths as octal escapes. */
    public static String unescape(String s) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /**
     * The directories an overlayfs option (unescaped from mountinfo) names, as the kernel took them:
     * lowerdir's split where a ':' is not escaped, and upperdir's and workdir's, each with overlayfs's
     * '\' escapes undone ("" for the gap of data-only layers, lowerdir a::b); lowerdir+'s and
     * datadir+'s one each, its name as given, which overlayfs neither splits nor unescapes. Empty for
     * any other option.
     */
    public static List<String> overlayDirs(String key, String value) {
        return switch (key) {
            case "lowerdir" -> splitUnescaped(value, ':').stream().map(MountInfo::unescapeLayer).toList();
            case "upperdir", "workdir" -> List.of(unescapeLayer(value));
            case "lowerdir+", "datadir+" -> List.of(value);
            default -> List.of();
        };
    }

    private static String unescapeLayer(String named) {
        return named.replaceAll("\\\\(.)", "$1");
    }

    /** Splits where the separator is not escaped with a backslash, as overlay options escape it. */
    public static List<String> splitUnescaped(String s, char separator) {
        List<String> parts = new ArrayList<>();
        StringBuilder part = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                part.append(c).append(s.charAt(++i));
            } else if (c == separator) {
                parts.add(part.toString());
                part.setLength(0);
            } else {
                part.append(c);
            }
        }
        parts.add(part.toString());
        return parts;
    }
}
