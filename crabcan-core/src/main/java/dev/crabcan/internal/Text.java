package dev.crabcan.internal;

/**
 * What the first sandbox's path would otherwise ask of regular expressions: a fresh JVM pays
 * several milliseconds for its first patterns (compiled by the interpreter, with their lambdas).
 * Each method does exactly what the expression it names does.
 */
public final class Text {
    private Text() {}

    /** {@code s.trim().split("\\s+")}: the whitespace-separated fields ({@code [""]} for a blank string). */
    public static String[] fields(String s) {
        String t = s.trim(); // which leaves no whitespace at either end
        if (t.isEmpty()) {
            return new String[] {""};
        }
        java.util.List<String> fields = new java.util.ArrayList<>();
        int start = 0;
        for (int i = 0; i < t.length(); i++) {
            if (isSpace(t.charAt(i))) {
                if (i > start) {
                    fields.add(t.substring(start, i));
                }
                start = i + 1;
            }
        }
        fields.add(t.substring(start));
        return fields.toArray(new String[0]);
    }

    /** {@code s.matches("\\d+")}: one ASCII digit or more and nothing else. */
    public static boolean isDigits(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }

    /** {@code s.replaceAll("^/+", "")}. */
    public static String withoutLeadingSlashes(String s) {
        int i = 0;
        while (i < s.length() && s.charAt(i) == '/') {
            i++;
        }
        return s.substring(i);
    }

    /** The regex {@code \s}: space, tab, newline, vertical tab, form feed, carriage return. */
    private static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r';
    }
}
