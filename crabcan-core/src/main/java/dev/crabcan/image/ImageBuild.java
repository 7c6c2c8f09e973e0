package dev.crabcan.image;

import dev.crabcan.Network;
import dev.crabcan.internal.image.ImageBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A build of a Crabfile into an {@link ImageStore}: each RUN step runs in a Crabcan sandbox on
 * the image built so far, and what it changes becomes a layer; steps whose instruction, parent
 * and inputs are unchanged come from the build cache.
 *
 * <pre>{@code
 * Image image = ImageBuild.builder(store, Path.of("ctx")).tag("hello").build().run();
 * }</pre>
 *
 * <p>Immutable and thread-safe; {@link #run()} may be called again (then every step is cached).
 */
public final class ImageBuild {
    private final ImageStore store;
    private final Path context;
    private final Optional<Path> file;
    private final Optional<String> tag;
    private final Map<String, String> buildArgs;
    private final Network network;
    private final BuildListener listener;

    private ImageBuild(Builder b) {
        this.store = b.store;
        this.context = b.context;
        this.file = b.file;
        this.tag = b.tag;
        this.buildArgs = Map.copyOf(b.buildArgs);
        this.network = b.network;
        this.listener = b.listener;
    }

    /** @param context the build context: the directory COPY and ADD read from */
    public static Builder builder(ImageStore store, Path context) {
        return new Builder(store, context);
    }

    public Path context() {
        return context;
    }

    /** The Crabfile; empty for the first of {@link Crabfile#DEFAULT_NAMES} in the context. */
    public Optional<Path> file() {
        return file;
    }

    public Optional<String> tag() {
        return tag;
    }

    public Map<String, String> buildArgs() {
        return buildArgs;
    }

    public Network network() {
        return network;
    }

    /**
     * Builds, stores the image (under {@link #tag()} if set) and returns it.
     *
     * @throws CrabfileException for a Crabfile that cannot be parsed or used
     * @throws BuildFailedException when a step fails
     */
    public Image run() throws ImageException {
        Path crabfile = file.isPresent() ? file.get() : Crabfile.find(context);
        return new ImageBuilder(store.store(), context, Crabfile.read(crabfile), buildArgs, network, listener).build(tag);
    }

    /** Builds an {@link ImageBuild}; validates each value as it is set. Not thread-safe. */
    public static final class Builder {
        private final ImageStore store;
        private final Path context;
        private Optional<Path> file = Optional.empty();
        private Optional<String> tag = Optional.empty();
        private final Map<String, String> buildArgs = new LinkedHashMap<>();
        private Network network = Network.none();
        private BuildListener listener = BuildListener.NONE;

        private Builder(ImageStore store, Path context) {
            this.store = Objects.requireNonNull(store, "store");
            Objects.requireNonNull(context, "context");
            if (!Files.isDirectory(context)) {
                throw new IllegalArgumentException("build context " + context + " is not a directory");
            }
            this.context = context.toAbsolutePath().normalize();
        }

        /** The Crabfile, when it is not the context's Crabfile, Containerfile or Dockerfile. */
        public Builder file(Path crabfile) {
            if (!Files.isRegularFile(crabfile)) {
                throw new IllegalArgumentException("Crabfile " + crabfile + " is not a file");
            }
            this.file = Optional.of(crabfile);
            return this;
        }

        /** The name to give the image ({@code name[:tag]}, {@code :latest} by default). */
        public Builder tag(String name) {
            dev.crabcan.internal.image.Store.normalizeName(name);
            this.tag = Optional.of(name);
            return this;
        }

        /** A value for an ARG, as {@code --build-arg NAME=VALUE}. */
        public Builder buildArg(String name, String value) {
            if (name == null || name.isEmpty() || name.contains("=")) {
                throw new IllegalArgumentException("build argument name '" + name + "' must be non-empty without '='");
            }
            buildArgs.put(name, Objects.requireNonNull(value, "value of build argument " + name));
            return this;
        }

        /** The network of RUN steps: {@link Network#none()} unless set. */
        public Builder network(Network n) {
            this.network = Objects.requireNonNull(n, "network");
            return this;
        }

        public Builder listener(BuildListener l) {
            this.listener = Objects.requireNonNull(l, "listener");
            return this;
        }

        public ImageBuild build() {
            return new ImageBuild(this);
        }
    }
}
