package dev.crabcan.internal.image;

import dev.crabcan.ExitStatus;
import dev.crabcan.Network;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.Stdio;
import dev.crabcan.image.BuildFailedException;
import dev.crabcan.image.BuildListener;
import dev.crabcan.image.BuildStep;
import dev.crabcan.image.Crabfile;
import dev.crabcan.image.CrabfileException;
import dev.crabcan.image.Digest;
import dev.crabcan.image.Image;
import dev.crabcan.image.ImageConfig;
import dev.crabcan.image.ImageException;
import dev.crabcan.image.Instruction;
import dev.crabcan.image.Instruction.Keyword;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one build: the Crabfile's stages in order, each step either from the cache or done (COPY
 * and ADD write a layer from the context, RUN runs a sandbox on an overlayfs of the stage's layers
 * and keeps its upper directory as a layer, the others change the config). Not thread-safe: one build.
 */
public final class ImageBuilder {
    private static final Logger LOG = LoggerFactory.getLogger(ImageBuilder.class);
    static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /** What a stage has built so far; {@code key} names it in the cache. */
    record State(List<Image.Layer> layers, ImageConfig config, List<String> history, String key) {
        State with(ImageConfig c, String step) {
            return new State(layers, c, history, chain(key, step));
        }
    }

    private final Store store;
    private final Path context;
    private final Crabfile file;
    private final Map<String, String> buildArgs;
    private final Network network;
    private final BuildListener listener;
    private final IgnoreRules ignore;
    private final Map<String, State> stages = new LinkedHashMap<>();
    private final Map<String, Workspace> workspaces = new LinkedHashMap<>();
    /** The owners {@link #owners} last read, and the layers they are of. */
    private Unpacker.Owners owners = new Unpacker.Owners();
    private List<Image.Layer> ownersLayers = List.of();
    /** Whether the last FROM found its base without storing anything new (for progress reports). */
    private boolean fromCached;

    public ImageBuilder(Store store, Path context, Crabfile file, Map<String, String> buildArgs, Network network,
            BuildListener listener) throws ImageException {
        this.store = store;
        this.context = context;
        this.file = file;
        this.buildArgs = buildArgs;
        this.network = network;
        this.listener = listener;
        try {
            this.ignore = IgnoreRules.of(context);
        } catch (IOException e) {
            throw new ImageException("cannot read the ignore file of build context " + context + ": " + e, e);
        }
    }

    public Image build(Optional<String> tag) throws ImageException {
        List<Instruction> all = file.instructions();
        if (all.stream().noneMatch(i -> i.keyword() == Keyword.FROM)) {
            throw new CrabfileException(file.file(), all.isEmpty() ? 1 : all.get(0).line(), "",
                    "no FROM: a Crabfile starts with FROM (FROM scratch for an empty image)");
        }
        Variables global = Variables.global(file.escape(), buildArgs);
        try (StoreLock.Held held = store.use()) {
            State state = null;
            Variables vars = global;
            String stageName = null;
            int n = 0;
            for (Instruction in : all) {
                n++;
                BuildStep step = new BuildStep(n, all.size(), in);
                listener.stepStarted(step);
                long start = System.nanoTime();
                boolean cached;
                try {
                    if (in.keyword() == Keyword.FROM) {
                        if (state != null) {
                            stages.put(stageName, state);
                        }
                        String base = global.expand(in.arguments().get(0));
                        stageName = in.arguments().size() == 3 ? in.arguments().get(2).toLowerCase(Locale.ROOT)
                                : Integer.toString(stages.size());
                        fromCached = true;
                        state = from(base, in);
                        vars = global.stage(state.config().env());
                        cached = fromCached;
                    } else if (state == null) {
                        if (in.keyword() != Keyword.ARG) {
                            throw fail(in, "comes before the first FROM; only ARG may");
                        }
                        in.arguments().forEach(global::declareArg);
                        cached = true;
                    } else {
                        Step done = step(in, step, state, vars);
                        state = done.state;
                        cached = done.cached;
                    }
                } catch (IllegalArgumentException e) {
                    throw fail(in, e.getMessage());
                } catch (CrabfileException e) {
                    throw e;
                } catch (IOException e) {
                    CrabfileException named = fail(in, e instanceof ImageException ? e.getMessage() : e.toString());
                    named.initCause(e);
                    throw named;
                }
                listener.stepFinished(step, cached, System.nanoTime() - start);
            }
            for (String unused : global.unusedBuildArgs()) {
                listener.warning("build argument " + unused + " was not used: no ARG " + unused + " in " + file.file());
            }
            List<String> history = new ArrayList<>(state.history());
            while (history.size() < state.layers().size()) {
                history.add(0, "");
            }
            return store.commit(state.config(), state.layers(), history, tag);
        } finally {
            for (Workspace w : workspaces.values()) {
                try {
                    w.delete();
                } catch (IOException e) {
                    // Left in the store's tmp/, which prune empties.
                    LOG.warn("cannot delete build workspace {}: {}", w.dir, e.toString());
                }
            }
        }
    }

    private record Step(State state, boolean cached) {}

    private CrabfileException fail(Instruction in, String problem) {
        return new CrabfileException(file.file(), in.line(), keywordAsWritten(in), problem);
    }

    private static String keywordAsWritten(Instruction in) {
        return in.text().split("\\s", 2)[0];
    }

    private Step step(Instruction in, BuildStep step, State state, Variables vars) throws IOException {
        ImageConfig.Builder c = state.config().toBuilder();
        List<String> args = in.arguments();
        switch (in.keyword()) {
            case ARG -> {
                args.forEach(vars::declareArg);
                return new Step(state, true);
            }
            case ENV -> {
                for (String pair : args) {
                    vars.setEnv(pair);
                    String name = pair.substring(0, pair.indexOf('='));
                    c.env(name, vars.env().get(name));
                }
            }
            case LABEL -> {
                for (String pair : args) {
                    int eq = pair.indexOf('=');
                    c.label(vars.expand(pair.substring(0, eq)), vars.expand(pair.substring(eq + 1)));
                }
            }
            case WORKDIR -> c.workingDir(absolute(vars.expand(args.get(0)), state.config()));
            case USER -> c.user(vars.expand(args.get(0)));
            case EXPOSE -> args.forEach(a -> c.exposedPort(vars.expand(a)));
            case VOLUME -> args.forEach(a -> c.volume(vars.expand(a)));
            case STOPSIGNAL -> c.stopSignal(vars.expand(args.get(0)));
            case SHELL -> c.shell(args);
            case ENTRYPOINT -> c.entrypoint(command(in, state.config())).cmd(List.of());
            case CMD -> c.cmd(command(in, state.config()));
            case COPY, ADD -> {
                return copy(in, step, state, vars);
            }
            case RUN -> {
                return run(in, step, state, vars);
            }
            default -> throw fail(in, "cannot come here");
        }
        ImageConfig next = c.build();
        return new Step(state.with(next, in.keyword() + " " + next), true);
    }

    private static List<String> command(Instruction in, ImageConfig config) {
        if (in.execForm()) {
            return in.arguments();
        }
        List<String> argv = new ArrayList<>(config.shell().isEmpty() ? ImageConfig.DEFAULT_SHELL : config.shell());
        argv.add(in.arguments().get(0));
        return argv;
    }

    private static String absolute(String path, ImageConfig config) {
        String base = config.workingDir() == null ? "/" : config.workingDir();
        String joined = path.startsWith("/") ? path : base + "/" + path;
        return "/" + String.join("/", Path.of(joined).normalize().toString().split("/")).replaceAll("^/+", "");
    }

    static String chain(String parent, String step) {
        MessageDigest sha = Store.sha256();
        sha.update(parent.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
        sha.update(step.getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(sha.digest());
    }

    // ---- FROM

    private State from(String base, Instruction in) throws IOException {
        if (base.equalsIgnoreCase("scratch")) {
            return new State(List.of(), ImageConfig.empty(), List.of(), chain("", "scratch"));
        }
        State stage = stages.get(base.toLowerCase(Locale.ROOT));
        if (stage != null) {
            return stage;
        }
        if (base.startsWith("/") || base.startsWith("./") || base.startsWith("../")) {
            Path p = context.resolve(base).normalize();
            // A tarball seen before and unchanged since is a root filesystem: no need to read it all to tell.
            Optional<Image.Layer> seen = Files.isRegularFile(p) ? cached(tarballKey(p)) : Optional.empty();
            if (seen.isPresent()) {
                return rootfsState(seen.get(), base);
            }
            if (Files.exists(p) && OciArchive.isImage(p)) {
                fromCached = false;
                Image image = OciArchive.load(store, p, false).get(0);
                return new State(image.layers(), image.config(), List.of(), chain("", "image " + image.digest()));
            }
            if (Files.isDirectory(p)) {
                return rootfsState(packDirectory(p), base);
            }
            if (Files.isRegularFile(p)) {
                return rootfsState(storeTarball(p), base);
            }
            throw fail(in, "base " + base + " (" + p + ") does not exist; give a root filesystem directory or"
                    + " tarball, an OCI layout or image archive, an image name, a stage name or scratch");
        }
        Image image;
        try {
            image = store.get(base);
        } catch (ImageException e) {
            throw fail(in, e.getMessage());
        }
        return new State(image.layers(), image.config(), List.of(), chain("", "image " + image.digest()));
    }

    /**
     * A root filesystem directory as one layer: the builder's own files become root's. Packed
     * again only when the lstat of some entry changed (the ctime changes with every write).
     */
    private Image.Layer packDirectory(Path dir) throws IOException {
        int self = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        StringBuilder listing = new StringBuilder(dir.toRealPath().toString());
        for (Scan.Node n : Scan.of(dir).nodes()) {
            listing.append('\n').append(n);
        }
        String key = chain("FROM directory", listing.toString());
        Optional<Image.Layer> hit = cached(key);
        if (hit.isPresent()) {
            return hit.get();
        }
        fromCached = false;
        Image.Layer layer = store.writeBlob(out -> {
            Tar.Writer w = new Tar.Writer(out);
            for (Scan.Node node : Scan.of(dir).nodes()) {
                long uid = node.uid() == self ? 0 : node.uid();
                long gid = node.uid() == self ? 0 : node.gid();
                LayerWriter.put(w, dir, node, node.path(), uid, gid, node.mode() & 07777);
            }
            w.finish();
        }).asLayer();
        store.cachePut(key, cacheEntry(layer));
        return layer;
    }

    /** A stage on a root filesystem directory or tarball: one layer, and the default PATH. */
    private static State rootfsState(Image.Layer l, String base) {
        return new State(List.of(l), ImageConfig.builder().env("PATH", DEFAULT_PATH).build(), List.of("FROM " + base),
                chain("", "layer " + l.digest()));
    }

    /**
     * The cache key of a root filesystem tarball: its stat, which changes with every write (the
     * ctime), as a directory is packed again only when an entry's changed. Reading a base of
     * hundreds of MB again would cost seconds per rebuild.
     */
    private static String tarballKey(Path tarball) throws IOException {
        Map<String, Object> a = Files.readAttributes(tarball, "unix:dev,ino,size,lastModifiedTime,ctime");
        return chain("FROM tarball", tarball.toRealPath() + "\n" + a.get("dev") + " " + a.get("ino") + " "
                + a.get("size") + " " + a.get("lastModifiedTime") + " " + a.get("ctime"));
    }

    /** A root filesystem tarball (plain or gzip) as one layer, its names checked before it is used. */
    private Image.Layer storeTarball(Path tarball) throws IOException {
        String key = tarballKey(tarball);
        fromCached = false;
        Image.Layer l;
        try (InputStream in = Compression.open(tarball)) {
            l = store.putBlob(in).asLayer();
        }
        try (InputStream in = Files.newInputStream(store.blobPath(l.digest()))) {
            Tar.Reader r = new Tar.Reader(in, tarball.toString());
            for (Tar.Entry e = r.next(); e != null; e = r.next()) {
                Unpacker.check(e.name(), tarball.toString());
            }
        }
        store.cachePut(key, cacheEntry(l));
        return l;
    }

    // ---- COPY and ADD

    private Step copy(Instruction in, BuildStep step, State state, Variables vars) throws IOException {
        List<String> words = in.arguments().stream().map(vars::expand).toList();
        List<String> sources = words.subList(0, words.size() - 1);
        String dest = words.get(words.size() - 1);
        String destAbs = absolute(dest, state.config());
        boolean add = in.keyword() == Keyword.ADD;
        String from = in.flag("from");
        CopySource src;
        if (from != null) {
            State other = stages.get(vars.expand(from).toLowerCase(Locale.ROOT));
            if (other == null) {
                throw fail(in, "--from=" + from + " names no earlier stage; name one with FROM ... AS " + from);
            }
            Workspace ws = workspace("stage " + from, other);
            src = CopySource.fromRootfs(ws.dir, sources, "stage " + from);
        } else {
            src = CopySource.fromContext(context, ignore, sources, add);
        }
        String spec = in.keyword() + " " + in.flags() + " " + words;
        // A step built before on this parent is hashed first, so that a hit reads its sources once;
        // one never built is sure to miss (short of a lost entry), so its sources are hashed as the
        // layer is written, each file read once. Either way the key is of the sources' bytes.
        String builtKey = chain(state.key(), "built " + spec);
        String key = null;
        if (store.cacheGet(builtKey).isPresent()) {
            key = chain(state.key(), spec + " " + src.digest());
            Optional<Image.Layer> hit = cached(key);
            if (hit.isPresent()) {
                return new Step(withLayer(state, hit.get(), key, in), true);
            }
        }
        List<Path> lower = store.layerDirs(state.layers());
        Owner owner = in.flag("chown") == null ? null
                : Owner.parse(vars.expand(in.flag("chown")), Owner.Rootfs.layers(lower));
        Integer chmod = in.flag("chmod") == null ? null : parseMode(vars.expand(in.flag("chmod")), in);
        // As BuildKit does: the image's links on the destination are followed, inside the image.
        String target = LayerDirs.resolve(lower, destAbs.substring(1));
        boolean destIsDir = dest.endsWith("/") || src.count() > 1 || src.anyDirectory() || isDirectory(lower, target);
        if (destIsDir && !isDirectory(lower, target) && LayerDirs.find(lower, target) != null) {
            throw fail(in, "/" + target + " of the image is not a directory, which a COPY of a directory or of several"
                    + " sources, or to a path ending in /, copies into");
        }
        Unpacker.Owners known = owners(state.layers());
        Owner made = owner == null ? Owner.ROOT : owner;
        boolean hashing = key == null;
        String[] digest = new String[1];
        Image.Layer layer = store.writeBlob(out -> {
            Tar.Writer w = new Tar.Writer(out);
            directories(w, lower, known, target, destIsDir, made);
            if (hashing) {
                digest[0] = src.writeAndDigest(w, target, destIsDir, owner, chmod);
            } else {
                src.write(w, target, destIsDir, owner, chmod);
            }
            w.finish();
        }).asLayer();
        if (hashing) {
            key = chain(state.key(), spec + " " + digest[0]);
            Optional<Image.Layer> hit = cached(key);
            if (hit.isPresent()) {
                // The layer just written stays unnamed until a prune removes it.
                store.cachePut(builtKey, builtEntry(hit.get()));
                return new Step(withLayer(state, hit.get(), key, in), true);
            }
        }
        store.cachePut(key, cacheEntry(layer));
        store.cachePut(builtKey, builtEntry(layer));
        return new Step(withLayer(state, layer, key, in), false);
    }

    /** Whether the image shows a directory at a relative path reached through none of its symbolic links. */
    private static boolean isDirectory(List<Path> lower, String rel) throws IOException {
        if (rel.isEmpty()) {
            return true;
        }
        Path p = LayerDirs.find(lower, rel);
        return p != null && Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * The entries of the directories on the way to a COPY's destination (and of the destination
     * when it is one): a directory the image has keeps the owner and mode its layers gave it (a
     * layer's directory decides what the overlay shows), a new one is {@code made}'s, 0755.
     */
    private static void directories(Tar.Writer w, List<Path> lower, Unpacker.Owners known, String dest,
            boolean destIsDir, Owner made) throws IOException {
        if (dest.isEmpty()) {
            return;
        }
        String[] parts = dest.split("/");
        String rel = "";
        for (int i = 0; i < (destIsDir ? parts.length : parts.length - 1); i++) {
            rel = rel.isEmpty() ? parts[i] : rel + "/" + parts[i];
            if (isDirectory(lower, rel)) {
                long[] o = known.get(rel);
                // One the layers made on the way to their entries, which no header names, is root's.
                w.put(o == null ? Tar.Entry.directory(rel, 0755, 0, 0, 0)
                        : Tar.Entry.directory(rel, (int) o[2], o[0], o[1], 0));
            } else {
                w.put(Tar.Entry.directory(rel, 0755, made.uid(), made.gid(), 0));
            }
        }
    }

    private int parseMode(String mode, Instruction in) throws CrabfileException {
        if (!mode.matches("[0-7]{3,4}")) {
            throw fail(in, "--chmod=" + mode + " is not an octal mode such as 0755");
        }
        return Integer.parseInt(mode, 8);
    }

    // ---- RUN

    private Step run(Instruction in, BuildStep step, State state, Variables vars) throws IOException {
        ImageConfig config = state.config();
        List<String> argv = command(in, config);
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", DEFAULT_PATH);
        env.putAll(vars.runEnv());
        String workdir = config.workingDir() == null ? "/" : config.workingDir();
        String key = chain(state.key(), "RUN " + argv + " env " + new java.util.TreeMap<>(env) + " user "
                + config.user() + " workdir " + workdir);
        Optional<Image.Layer> hit = cached(key);
        if (hit.isPresent()) {
            return new Step(withLayer(state, hit.get(), key, in), true);
        }
        if (state.layers().isEmpty()) {
            throw fail(in, "has no root filesystem to run on: the stage starts FROM scratch and has no layer yet;"
                    + " COPY or ADD one first");
        }
        List<Path> lower = store.layerDirs(state.layers());
        int[] ids = Owner.user(config.user(), Owner.Rootfs.layers(lower));
        Path dir = store.newTempDir();
        try {
            Path upper = Files.createDirectory(dir.resolve("upper"));
            UpperLayer.makeWorkdir(upper, lower, workdir);
            // The stage as an image of its own; a digest names it in errors only.
            Image image = new Image(Optional.empty(), new Digest(state.key()), new Digest(state.key()), config,
                    state.layers(), store.root());
            Sandbox sandbox = Sandbox.builder().image(image).writableLayerDirectory(dir).uid(ids[0]).command(argv)
                    .environment(env).workingDirectory(workdir).network(network)
                    .stdin(Stdio.discard()).redirectErrorStream(true).build();
            ArrayDeque<String> tail = new ArrayDeque<>();
            ExitStatus status;
            try (SandboxProcess p = sandbox.start()) {
                BufferedReader lines = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                    listener.output(step, line);
                    tail.addLast(line);
                    if (tail.size() > 20) {
                        tail.removeFirst();
                    }
                }
                status = p.waitForStatus();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ImageException("build interrupted at " + file.file() + ":" + in.line(), e);
            }
            if (status.isSignaled() || status.code() != 0) {
                throw new BuildFailedException(file.file(), in.line(), keywordAsWritten(in), "the command "
                        + (status.isSignaled() ? "was killed by signal " + status.signal() : "exited with status "
                        + status.code()), String.join("\n", tail));
            }
            Image.Layer layer = UpperLayer.write(store, upper, lower, ids);
            store.cachePut(key, cacheEntry(layer));
            return new Step(withLayer(state, layer, key, in), false);
        } finally {
            Unpacker.removeTree(dir);
        }
    }

    // ---- cache and workspaces

    private static String cacheEntry(Image.Layer l) {
        return "{\"layers\":[\"" + l.digest() + "\"],\"size\":" + l.size() + "}";
    }

    /**
     * The entry saying a COPY or ADD was built on its parent before (see {@link #copy}): its
     * layer keeps it from a prune as long as the layer is kept, and no key of a step names it.
     */
    private static String builtEntry(Image.Layer l) {
        return "{\"built\":true,\"layers\":[\"" + l.digest() + "\"],\"size\":" + l.size() + "}";
    }

    private Optional<Image.Layer> cached(String key) throws ImageException {
        Optional<String> entry = store.cacheGet(key);
        if (entry.isEmpty()) {
            return Optional.empty();
        }
        try {
            Map<String, Object> m = OciFormat.object(OciFormat.parse(entry.get().getBytes(StandardCharsets.UTF_8),
                    "cache entry " + key), "cache entry " + key);
            Digest d = Digest.parse(OciFormat.strings(m.get("layers"), "cache entry").get(0));
            if (!store.hasBlob(d) || !(m.get("size") instanceof Long size)) {
                return Optional.empty();
            }
            return Optional.of(new Image.Layer(d, size));
        } catch (ImageException | IllegalArgumentException | IndexOutOfBoundsException e) {
            LOG.debug("ignoring damaged build cache entry {}: {}", key, e.toString());
            return Optional.empty();
        }
    }

    private static State withLayer(State s, Image.Layer l, String key, Instruction in) {
        List<Image.Layer> layers = new ArrayList<>(s.layers());
        layers.add(l);
        List<String> history = new ArrayList<>(s.history());
        history.add(in.text());
        return new State(layers, s.config(), history, key);
    }

    /** What the image says about owners after {@code layers}, read from their headers as far as not read before. */
    private Unpacker.Owners owners(List<Image.Layer> layers) throws IOException {
        if (ownersLayers.size() > layers.size() || !layers.subList(0, ownersLayers.size()).equals(ownersLayers)) {
            owners = new Unpacker.Owners();
            ownersLayers = List.of();
        }
        for (Image.Layer l : layers.subList(ownersLayers.size(), layers.size())) {
            owners.applyLayer(store, l);
        }
        ownersLayers = List.copyOf(layers);
        return owners;
    }

    /** A stage's root filesystem on disk (for COPY --from), brought up to {@code state}'s layers. */
    private Workspace workspace(String stage, State state) throws IOException {
        Workspace ws = workspaces.get(stage);
        if (ws == null || !ws.isPrefixOf(state.layers())) {
            if (ws != null) {
                ws.delete();
            }
            ws = new Workspace(store, store.newTempDir());
            workspaces.put(stage, ws);
        }
        ws.bringUpTo(state.layers());
        return ws;
    }
}
