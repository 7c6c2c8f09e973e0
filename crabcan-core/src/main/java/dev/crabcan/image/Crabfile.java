package dev.crabcan.image;

import dev.crabcan.image.Instruction.Keyword;
import dev.crabcan.internal.image.Words;
import dev.crabcan.internal.json.Json;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A parsed Crabfile: the Dockerfile / Containerfile instruction syntax, so existing files work.
 * Comments, line continuations and the {@code escape} parser directive are understood (other
 * directives, such as {@code syntax}, are ignored); an instruction outside {@link Keyword}, an
 * option not supported or a malformed argument is a {@link CrabfileException} naming the file and
 * line.
 *
 * <p>Immutable and thread-safe.
 */
public final class Crabfile {
    /** The names looked for in a build context, in this order. */
    public static final List<String> DEFAULT_NAMES = List.of("Crabfile", "Containerfile", "Dockerfile");

    private static final Pattern DIRECTIVE = Pattern.compile("#\\s*([a-zA-Z][a-zA-Z0-9]*)\\s*=\\s*(.*?)\\s*");
    private static final Map<Keyword, Set<String>> FLAGS = Map.of(
            Keyword.COPY, Set.of("chown", "chmod", "from"),
            Keyword.ADD, Set.of("chown", "chmod"));
    private static final Set<Keyword> JSON_FORM = Set.of(Keyword.RUN, Keyword.CMD, Keyword.ENTRYPOINT,
            Keyword.SHELL, Keyword.COPY, Keyword.ADD, Keyword.VOLUME);

    private final String file;
    private final char escape;
    private final List<Instruction> instructions;

    private Crabfile(String file, char escape, List<Instruction> instructions) {
        this.file = file;
        this.escape = escape;
        this.instructions = List.copyOf(instructions);
    }

    /** The name errors use for this file. */
    public String file() {
        return file;
    }

    /** The escape character: {@code \} unless the {@code escape} directive chose {@code `}. */
    public char escape() {
        return escape;
    }

    public List<Instruction> instructions() {
        return instructions;
    }

    /**
     * The Crabfile of a build context: the first of {@link #DEFAULT_NAMES} that is a regular file
     * in {@code contextDir}.
     */
    public static Path find(Path contextDir) throws ImageException {
        for (String name : DEFAULT_NAMES) {
            Path p = contextDir.resolve(name);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        throw new ImageException("no " + String.join(", ", DEFAULT_NAMES) + " in the build context " + contextDir
                + ": create one there or name the file (crabcan build -f FILE)");
    }

    /** Reads and parses a Crabfile (UTF-8). */
    public static Crabfile read(Path file) throws ImageException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file)))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new ImageException(file + ": not UTF-8 text; save the Crabfile as UTF-8", e);
        } catch (IOException e) {
            throw new ImageException("cannot read the Crabfile " + file + ": " + e.getMessage(), e);
        }
        return parse(file.toString(), text);
    }

    /**
     * Parses Crabfile text.
     *
     * @param file the name to use in error messages
     */
    public static Crabfile parse(String file, String text) throws CrabfileException {
        if (text.startsWith("\uFEFF")) {
            text = text.substring(1);
        }
        String[] lines = text.split("\r?\n", -1);
        char escape = '\\';
        int i = 0;
        // Directives come first; the first line that is not one ends them.
        for (; i < lines.length; i++) {
            Matcher m = DIRECTIVE.matcher(lines[i]);
            if (!m.matches()) {
                break;
            }
            if (m.group(1).equalsIgnoreCase("escape")) {
                if (!m.group(2).equals("\\") && !m.group(2).equals("`")) {
                    throw new CrabfileException(file, i + 1, "", "escape directive '" + m.group(2)
                            + "': the escape character can only be \\ or `");
                }
                escape = m.group(2).charAt(0);
            }
        }
        List<Instruction> out = new ArrayList<>();
        while (i < lines.length) {
            String first = lines[i].strip();
            if (first.isEmpty() || first.startsWith("#")) {
                i++;
                continue;
            }
            int start = i + 1;
            StringBuilder joined = new StringBuilder();
            String line = lines[i].stripLeading();
            while (true) {
                String body = stripTrailingBlanks(line);
                boolean continues = !body.isEmpty() && body.charAt(body.length() - 1) == escape;
                if (!continues) {
                    joined.append(line);
                    i++;
                    break;
                }
                joined.append(body, 0, body.length() - 1);
                i++;
                // Comment and empty lines inside a continued instruction are dropped, as Docker does.
                while (i < lines.length && (lines[i].isBlank() || lines[i].strip().startsWith("#"))) {
                    i++;
                }
                if (i == lines.length) {
                    break;
                }
                line = lines[i];
            }
            out.add(instruction(file, start, joined.toString().strip(), escape));
        }
        return new Crabfile(file, escape, out);
    }

    private static String stripTrailingBlanks(String s) {
        int end = s.length();
        while (end > 0 && (s.charAt(end - 1) == ' ' || s.charAt(end - 1) == '\t')) {
            end--;
        }
        return s.substring(0, end);
    }

    private static Instruction instruction(String file, int line, String text, char escape)
            throws CrabfileException {
        int space = 0;
        while (space < text.length() && !Character.isWhitespace(text.charAt(space))) {
            space++;
        }
        String word = text.substring(0, space);
        Keyword keyword = keyword(word);
        if (keyword == null) {
            throw new CrabfileException(file, line, word, "unknown or unsupported instruction; a Crabfile can use "
                    + Arrays.toString(Keyword.values()).replaceAll("[\\[\\]]", ""));
        }
        String rest = text.substring(space).strip();
        Map<String, String> flags = new LinkedHashMap<>();
        // Options exist on these only; elsewhere "--x" is an argument (CMD --help).
        boolean options = keyword == Keyword.FROM || keyword == Keyword.RUN || FLAGS.containsKey(keyword);
        while (options && rest.startsWith("--")) {
            int end = 0;
            while (end < rest.length() && !Character.isWhitespace(rest.charAt(end))) {
                end++;
            }
            String option = rest.substring(2, end);
            int eq = option.indexOf('=');
            String name = eq < 0 ? option : option.substring(0, eq);
            if (!FLAGS.getOrDefault(keyword, Set.of()).contains(name)) {
                throw new CrabfileException(file, line, word, "option --" + name + " is not supported"
                        + (FLAGS.containsKey(keyword) ? "; " + word + " takes --" + String.join(", --",
                                FLAGS.get(keyword).stream().sorted().toList()) : "")
                        + "; remove it");
            }
            if (eq < 0 || eq == option.length() - 1) {
                throw new CrabfileException(file, line, word, "option --" + name + " needs a value (--" + name
                        + "=VALUE)");
            }
            if (flags.put(name, option.substring(eq + 1)) != null) {
                throw new CrabfileException(file, line, word, "option --" + name + " is given twice");
            }
            rest = rest.substring(end).strip();
        }
        if (rest.isEmpty()) {
            throw new CrabfileException(file, line, word, "needs arguments");
        }
        List<String> json = JSON_FORM.contains(keyword) ? jsonArray(rest) : null;
        if (json != null) {
            if (json.isEmpty() && (keyword == Keyword.RUN || keyword == Keyword.SHELL || keyword == Keyword.VOLUME)) {
                throw new CrabfileException(file, line, word, "the JSON array is empty");
            }
            check(file, line, word, keyword, json);
            return new Instruction(keyword, line, text, flags, json, true);
        }
        if (rest.startsWith("<<") && (keyword == Keyword.RUN || keyword == Keyword.COPY || keyword == Keyword.ADD)) {
            throw new CrabfileException(file, line, word, "here-documents (<<) are not supported; put the"
                    + " script in a file of the build context and COPY it, or use one line per command");
        }
        List<String> args = switch (keyword) {
            case RUN, CMD, ENTRYPOINT -> List.of(rest);
            case SHELL -> throw new CrabfileException(file, line, word, "needs a JSON array, such as"
                    + " SHELL [\"/bin/sh\", \"-c\"]");
            case ENV, LABEL -> pairs(file, line, word, rest, escape);
            default -> words(file, line, word, rest, escape);
        };
        check(file, line, word, keyword, args);
        return new Instruction(keyword, line, text, flags, args, false);
    }

    private static Keyword keyword(String word) {
        for (Keyword k : Keyword.values()) {
            if (k.name().equalsIgnoreCase(word)) {
                return k;
            }
        }
        return null;
    }

    /** The strings of a JSON array of strings, or null when {@code s} is not one (then it is the shell form). */
    private static List<String> jsonArray(String s) {
        if (!s.startsWith("[")) {
            return null;
        }
        Object v;
        try {
            v = Json.parse(s);
        } catch (Json.ParseException e) {
            return null;
        }
        if (!(v instanceof List<?> list) || list.stream().anyMatch(e -> !(e instanceof String))) {
            return null;
        }
        return list.stream().map(String.class::cast).toList();
    }

    private static List<String> words(String file, int line, String word, String rest, char escape)
            throws CrabfileException {
        try {
            return Words.split(rest, escape);
        } catch (IllegalArgumentException e) {
            throw new CrabfileException(file, line, word, e.getMessage());
        }
    }

    /** ENV and LABEL: {@code k=v k2="v 2"}, or the old {@code k value with spaces}. */
    private static List<String> pairs(String file, int line, String word, String rest, char escape)
            throws CrabfileException {
        List<String> words = words(file, line, word, rest, escape);
        if (!words.get(0).contains("=")) {
            String value = rest.substring(words.get(0).length()).strip();
            if (value.isEmpty()) {
                throw new CrabfileException(file, line, word, "'" + words.get(0) + "' has no value; write "
                        + words.get(0) + "=VALUE");
            }
            return List.of(words.get(0) + "=" + value);
        }
        for (String w : words) {
            if (w.indexOf('=') <= 0) {
                throw new CrabfileException(file, line, word, "'" + w + "' is not KEY=VALUE; quote values with"
                        + " spaces (KEY=\"a b\")");
            }
        }
        return words;
    }

    private static void check(String file, int line, String word, Keyword keyword, List<String> args)
            throws CrabfileException {
        switch (keyword) {
            case FROM -> {
                if (!(args.size() == 1 || (args.size() == 3 && args.get(1).equalsIgnoreCase("AS")))) {
                    throw new CrabfileException(file, line, word, "expected FROM IMAGE or FROM IMAGE AS NAME");
                }
            }
            case COPY, ADD -> {
                if (args.size() < 2) {
                    throw new CrabfileException(file, line, word, "needs at least one source and a destination");
                }
            }
            case WORKDIR, USER, STOPSIGNAL -> {
                if (args.size() != 1) {
                    throw new CrabfileException(file, line, word, "takes exactly one argument, got "
                            + args.size() + (keyword == Keyword.WORKDIR ? "; quote a path with spaces" : ""));
                }
            }
            case ARG -> {
                for (String a : args) {
                    if (a.startsWith("=")) {
                        throw new CrabfileException(file, line, word, "'" + a + "' has no name; write NAME or"
                                + " NAME=DEFAULT");
                    }
                }
            }
            default -> { }
        }
    }
}
