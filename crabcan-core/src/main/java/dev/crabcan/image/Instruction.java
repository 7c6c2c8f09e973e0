package dev.crabcan.image;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One instruction of a {@link Crabfile}, as written: variables are not yet substituted (that needs
 * the build's ARG and ENV values) and quotes are still in the words.
 *
 * <p>{@code arguments} depends on the keyword and form: the JSON array's strings for the exec
 * (JSON) form; for the shell form of RUN, CMD and ENTRYPOINT the command as one string; for ENV,
 * LABEL and ARG one {@code key=value} entry per pair ({@code name} alone for an ARG without a
 * default); otherwise the whitespace-separated words.
 *
 * <p>Immutable and thread-safe.
 *
 * @param keyword the instruction
 * @param line the line, counted from 1, where it starts
 * @param text the instruction after joining continuation lines, keyword included
 * @param flags the {@code --name=value} options before the arguments
 * @param arguments see above
 * @param execForm whether the arguments were written as a JSON array
 */
public record Instruction(Keyword keyword, int line, String text, Map<String, String> flags,
        List<String> arguments, boolean execForm) {

    /** The instructions a Crabfile may use. Immutable and thread-safe. */
    public enum Keyword {
        FROM, COPY, ADD, RUN, ENV, ARG, WORKDIR, USER, LABEL, EXPOSE, ENTRYPOINT, CMD, SHELL, VOLUME,
        STOPSIGNAL
    }

    public Instruction {
        Objects.requireNonNull(keyword, "keyword");
        Objects.requireNonNull(text, "text");
        flags = Map.copyOf(flags);
        arguments = List.copyOf(arguments);
        if (line < 1) {
            throw new IllegalArgumentException("line " + line + " is not a line number (counted from 1)");
        }
    }

    /** The value of option {@code --name}, or null when it is not given. */
    public String flag(String name) {
        return flags.get(name);
    }
}
