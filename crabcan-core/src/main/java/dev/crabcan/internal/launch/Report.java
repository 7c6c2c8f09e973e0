package dev.crabcan.internal.launch;

import java.util.ArrayList;
import java.util.List;

/**
 * One line the helper reported: a kind and its tab-separated, unescaped fields. Public for the
 * tests that read {@code crabcan-helper --check-plan}, which prints the same lines.
 */
public record Report(String kind, List<String> fields) {

    public static Report parse(String line) {
        List<String> parts = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '\t') {
                parts.add(field.toString());
                field.setLength(0);
            } else if (c == '\\' && i + 1 < line.length()) {
                char n = line.charAt(++i);
                field.append(n == 't' ? '\t' : n == 'n' ? '\n' : n);
            } else {
                field.append(c);
            }
        }
        parts.add(field.toString());
        return new Report(parts.get(0), List.copyOf(parts.subList(1, parts.size())));
    }

    public String field(int i) {
        return i < fields.size() ? fields.get(i) : "";
    }

    int intField(int i) {
        return Integer.parseInt(field(i));
    }

    long longField(int i) {
        return Long.parseLong(field(i));
    }
}
