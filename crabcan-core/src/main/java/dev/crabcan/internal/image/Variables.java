package dev.crabcan.internal.image;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The ARG and ENV values of one build stage, as Docker scopes them: an ARG is visible from its
 * declaration to the end of its stage, a {@code --build-arg} overrides its default, an ARG before
 * the first FROM is global (usable in FROM, and in a stage that declares it again without a
 * default), and ENV wins over an ARG of the same name.
 *
 * <p>Not thread-safe: one build step at a time.
 */
public final class Variables {
    private final char escape;
    private final Map<String, String> buildArgs;
    private final Map<String, String> globals;
    private final Set<String> used;
    private final boolean global;
    private final Map<String, String> args = new LinkedHashMap<>();
    private final Map<String, String> env = new LinkedHashMap<>();

    private Variables(char escape, Map<String, String> buildArgs, Map<String, String> globals, Set<String> used,
            boolean global) {
        this.escape = escape;
        this.global = global;
        this.buildArgs = buildArgs;
        this.globals = globals;
        this.used = used;
    }

    /** The scope before the first FROM, whose ARGs become the globals of every stage. */
    public static Variables global(char escape, Map<String, String> buildArgs) {
        return new Variables(escape, Map.copyOf(buildArgs), new LinkedHashMap<>(), new HashSet<>(), true);
    }

    /** A new stage's scope: the globals are only visible once the stage declares them again. */
    public Variables stage(Map<String, String> baseEnv) {
        Variables v = new Variables(escape, buildArgs, globals, used, false);
        v.env.putAll(baseEnv);
        return v;
    }

    /** {@code ARG name} or {@code ARG name=default} (default not yet expanded). */
    public void declareArg(String entry) {
        int eq = entry.indexOf('=');
        String name = eq < 0 ? entry : entry.substring(0, eq);
        String value;
        if (buildArgs.containsKey(name)) {
            value = buildArgs.get(name);
            used.add(name);
        } else if (eq >= 0) {
            value = expand(entry.substring(eq + 1));
        } else {
            value = globals.get(name);
        }
        args.put(name, value);
        if (global) {
            globals.put(name, value);
        }
    }

    /** {@code ENV name=value} (value not yet expanded). */
    public void setEnv(String entry) {
        int eq = entry.indexOf('=');
        env.put(entry.substring(0, eq), expand(entry.substring(eq + 1)));
    }

    /** Substitutes this scope's variables in a word and removes its quotes. */
    public String expand(String word) {
        return Words.expand(word, escape, this::lookup);
    }

    private String lookup(String name) {
        String v = env.get(name);
        return v != null ? v : args.get(name);
    }

    /** The environment ENV set (what the image keeps). */
    public Map<String, String> env() {
        return Map.copyOf(env);
    }

    /** The environment of a RUN step: the declared ARGs, then ENV over them. */
    public Map<String, String> runEnv() {
        Map<String, String> all = new LinkedHashMap<>();
        args.forEach((k, v) -> {
            if (v != null) {
                all.put(k, v);
            }
        });
        all.putAll(env);
        return all;
    }

    /** The {@code --build-arg}s no ARG declared, for a warning. */
    public Set<String> unusedBuildArgs() {
        Set<String> unused = new HashSet<>(buildArgs.keySet());
        unused.removeAll(used);
        return unused;
    }
}
