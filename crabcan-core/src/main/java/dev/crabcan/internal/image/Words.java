package dev.crabcan.internal.image;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The shell-like word rules of Crabfile arguments, as Docker applies them: splitting on blanks
 * outside quotes (the parser, quotes kept) and substituting {@code $VAR}, {@code ${VAR}},
 * {@code ${VAR:-word}}, {@code ${VAR-word}}, {@code ${VAR:+word}}, {@code ${VAR+word}} with quote
 * and escape removal (the build, once ARG and ENV values are known).
 */
public final class Words {
    private final String s;
    private final char escape;
    private final Function<String, String> lookup;
    private int pos;

    private Words(String s, char escape, Function<String, String> lookup) {
        this.s = s;
        this.escape = escape;
        this.lookup = lookup;
    }

    /**
     * Splits on blanks outside quotes and escapes, keeping quotes and escapes in the words.
     *
     * @throws IllegalArgumentException for an unterminated quote, naming it
     */
    public static List<String> split(String text, char escape) {
        List<String> words = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean inWord = false;
        char quote = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (quote == 0 && Character.isWhitespace(c)) {
                if (inWord) {
                    words.add(cur.toString());
                    cur.setLength(0);
                    inWord = false;
                }
                continue;
            }
            inWord = true;
            cur.append(c);
            if (c == escape && quote != '\'' && i + 1 < text.length()) {
                cur.append(text.charAt(++i));
            } else if (quote == 0 && (c == '"' || c == '\'')) {
                quote = c;
            } else if (c == quote) {
                quote = 0;
            }
        }
        if (quote != 0) {
            throw new IllegalArgumentException("unterminated " + quote + " quote in: " + text);
        }
        if (inWord) {
            words.add(cur.toString());
        }
        return words;
    }

    /**
     * Substitutes variables and removes quotes and escapes.
     *
     * @param lookup a variable's value, or null when it is not set
     * @throws IllegalArgumentException for an unterminated quote or {@code ${}, naming it
     */
    public static String expand(String word, char escape, Function<String, String> lookup) {
        return new Words(word, escape, lookup).until((char) 0);
    }

    /** Reads up to {@code stop} (outside quotes) or the end; leaves pos at {@code stop}. */
    private String until(char stop) {
        StringBuilder out = new StringBuilder();
        while (pos < s.length()) {
            char c = s.charAt(pos);
            if (stop != 0 && c == stop) {
                return out.toString();
            }
            pos++;
            if (c == escape) {
                if (pos < s.length()) {
                    out.append(s.charAt(pos++));
                } else {
                    out.append(c);
                }
            } else if (c == '\'') {
                int end = s.indexOf('\'', pos);
                if (end < 0) {
                    throw new IllegalArgumentException("unterminated ' quote in: " + s);
                }
                out.append(s, pos, end);
                pos = end + 1;
            } else if (c == '"') {
                doubleQuoted(out);
            } else if (c == '$') {
                variable(out);
            } else {
                out.append(c);
            }
        }
        if (stop != 0) {
            throw new IllegalArgumentException("unterminated ${ in: " + s);
        }
        return out.toString();
    }

    private void doubleQuoted(StringBuilder out) {
        while (pos < s.length()) {
            char c = s.charAt(pos++);
            if (c == '"') {
                return;
            }
            if (c == escape && pos < s.length()) {
                char next = s.charAt(pos);
                if (next == '"' || next == '$' || next == escape) {
                    out.append(next);
                    pos++;
                } else {
                    out.append(c);
                }
            } else if (c == '$') {
                variable(out);
            } else {
                out.append(c);
            }
        }
        throw new IllegalArgumentException("unterminated \" quote in: " + s);
    }

    /** After a {@code $}. */
    private void variable(StringBuilder out) {
        if (pos < s.length() && s.charAt(pos) == '{') {
            pos++;
            int start = pos;
            while (pos < s.length() && isNameChar(s.charAt(pos))) {
                pos++;
            }
            String name = s.substring(start, pos);
            if (name.isEmpty() || pos >= s.length()) {
                throw new IllegalArgumentException("bad substitution ${" + s.substring(start) + " in: " + s);
            }
            String value = lookup.apply(name);
            char c = s.charAt(pos);
            if (c == '}') {
                pos++;
                out.append(value == null ? "" : value);
                return;
            }
            boolean colon = c == ':';
            if (colon) {
                pos++;
            }
            char op = pos < s.length() ? s.charAt(pos) : 0;
            if (op != '-' && op != '+') {
                throw new IllegalArgumentException("bad substitution ${" + name + s.substring(colon ? pos - 1 : pos)
                        + " (use ${NAME}, ${NAME:-default} or ${NAME:+alternative}) in: " + s);
            }
            pos++;
            String word = until('}');
            pos++;
            boolean set = colon ? value != null && !value.isEmpty() : value != null;
            if (op == '-') {
                out.append(set ? value : word);
            } else {
                out.append(set ? word : "");
            }
            return;
        }
        int start = pos;
        while (pos < s.length() && isNameChar(s.charAt(pos))) {
            pos++;
        }
        if (start == pos) {
            out.append('$');
            return;
        }
        String value = lookup.apply(s.substring(start, pos));
        out.append(value == null ? "" : value);
    }

    private static boolean isNameChar(char c) {
        return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    }
}
