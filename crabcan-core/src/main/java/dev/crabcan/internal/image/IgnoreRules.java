package dev.crabcan.internal.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A build context's {@code .crabignore} (or {@code .containerignore}, {@code .dockerignore}):
 * Docker's rules. One pattern a line ({@code #} comments), {@code *} and {@code ?} within a path
 * element, {@code **} across elements, {@code !} re-includes; a pattern that matches a directory
 * matches everything below it, and the last matching line decides.
 *
 * <p>Immutable and thread-safe.
 */
public final class IgnoreRules {
    /** The files looked for in a build context, in this order; the first one found is used. */
    public static final List<String> FILE_NAMES = List.of(".crabignore", ".containerignore", ".dockerignore");

    private record Rule(Pattern pattern, boolean include) {}

    private final List<Rule> rules;

    private IgnoreRules(List<Rule> rules) {
        this.rules = List.copyOf(rules);
    }

    public static final IgnoreRules NONE = new IgnoreRules(List.of());

    /** The rules of the first of {@link #FILE_NAMES} in {@code contextDir}, or {@link #NONE}. */
    public static IgnoreRules of(Path contextDir) throws IOException {
        for (String name : FILE_NAMES) {
            Path p = contextDir.resolve(name);
            if (Files.isRegularFile(p)) {
                return parse(Files.readString(p, StandardCharsets.UTF_8));
            }
        }
        return NONE;
    }

    public static IgnoreRules parse(String text) {
        List<Rule> rules = new ArrayList<>();
        for (String raw : text.split("\r?\n")) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            boolean include = line.startsWith("!");
            if (include) {
                line = line.substring(1).strip();
            }
            String clean = clean(line);
            if (!clean.isEmpty()) {
                rules.add(new Rule(Pattern.compile(regex(clean)), include));
            }
        }
        return new IgnoreRules(rules);
    }

    /**
     * Whether a path of the context is left out.
     *
     * @param relative relative to the context, elements separated by {@code /}
     */
    public boolean ignored(String relative) {
        boolean ignored = false;
        for (Rule r : rules) {
            if (matchesOrParentMatches(r.pattern, relative)) {
                ignored = !r.include;
            }
        }
        return ignored;
    }

    public boolean isEmpty() {
        return rules.isEmpty();
    }

    private static boolean matchesOrParentMatches(Pattern p, String path) {
        if (p.matcher(path).matches()) {
            return true;
        }
        for (int i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
            if (p.matcher(path.substring(0, i)).matches()) {
                return true;
            }
        }
        return false;
    }

    /** Go's filepath.Clean, then without leading slashes, as Docker reads the patterns. */
    private static String clean(String pattern) {
        List<String> parts = new ArrayList<>();
        for (String e : pattern.split("/+")) {
            if (e.isEmpty() || e.equals(".")) {
                continue;
            }
            if (e.equals("..")) {
                if (!parts.isEmpty() && !parts.get(parts.size() - 1).equals("..")) {
                    parts.remove(parts.size() - 1);
                }
                continue; // a context has no parent: ".." at the top stays at the top
            }
            parts.add(e);
        }
        return String.join("/", parts);
    }

    private static String regex(String p) {
        StringBuilder re = new StringBuilder();
        for (int i = 0; i < p.length(); i++) {
            char c = p.charAt(i);
            if (c == '*') {
                if (i + 1 < p.length() && p.charAt(i + 1) == '*') {
                    i++;
                    boolean slashAfter = i + 1 < p.length() && p.charAt(i + 1) == '/';
                    if (slashAfter) {
                        i++;
                        re.append("(?:.*/)?");
                    } else {
                        re.append(".*");
                    }
                } else {
                    re.append("[^/]*");
                }
            } else if (c == '?') {
                re.append("[^/]");
            } else if (c == '[') {
                int end = p.indexOf(']', i + 2);
                if (end < 0) {
                    re.append("\\[");
                    continue;
                }
                String body = p.substring(i + 1, end);
                if (body.startsWith("!") || body.startsWith("^")) {
                    body = "^" + body.substring(1);
                }
                re.append('[').append(body.replace("\\", "\\\\").replace("[", "\\[")).append(']');
                i = end;
            } else if (c == '\\' && i + 1 < p.length()) {
                re.append(Pattern.quote(String.valueOf(p.charAt(++i))));
            } else {
                re.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return re.toString();
    }
}
