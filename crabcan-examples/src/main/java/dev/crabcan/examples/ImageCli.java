package dev.crabcan.examples;

import dev.crabcan.ExitStatus;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import dev.crabcan.SandboxProcess;
import dev.crabcan.Stdio;
import dev.crabcan.image.BuildListener;
import dev.crabcan.image.BuildStep;
import dev.crabcan.image.Image;
import dev.crabcan.image.ImageBuild;
import dev.crabcan.image.ImageException;
import dev.crabcan.image.ImageStore;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The image commands of the CLI: {@code build}, {@code run NAME}, {@code images}, {@code rmi},
 * {@code save}, {@code load}, {@code prune}. Each takes {@code --store DIR} (default: the user's
 * data directory, see {@link ImageStore#defaultDirectory()}).
 */
final class ImageCli {
    static final Set<String> COMMANDS = Set.of("build", "images", "rmi", "save", "load", "prune");
    static final String USAGE = String.join("\n",
            "Images: java -jar crabcan.jar COMMAND [--store DIR] ...",
            "  build [-f FILE] [-t NAME] [--build-arg K=V]... [--network none|host|private] DIR",
            "  run NAME [CMD ...]       run an image (read-only root filesystem)",
            "  images | rmi NAME | prune",
            "  save NAME -o FILE        an OCI image archive (podman load -i FILE reads it)",
            "  load -i FILE             an OCI image layout or archive, or a docker save archive");

    private ImageCli() {}

    /** Whether {@code crabcan run ARGS} names an image rather than an OCI bundle (run --bundle DIR). */
    static boolean runsImage(String[] args) {
        return args.length > 1 && !List.of(args).contains("--bundle") && !List.of(args).contains("-b");
    }

    static int run(String[] argv, PrintStream out, PrintStream err) {
        List<String> args = new ArrayList<>(List.of(argv));
        String command = args.remove(0);
        try {
            Path storeDir = null;
            int s = args.indexOf("--store");
            if (s >= 0 && !command.equals("run") || (s == 0 && command.equals("run"))) {
                storeDir = Path.of(value(args, s));
                args.remove(s);
                args.remove(s);
            }
            ImageStore store = storeDir == null ? ImageStore.openDefault() : ImageStore.open(storeDir);
            return switch (command) {
                case "build" -> build(store, args, out, err);
                case "run" -> runImage(store, args, err);
                case "images" -> {
                    out.printf("%-30s %-14s %-6s %s%n", "NAME", "ID", "LAYERS", "SIZE");
                    for (Image i : store.images()) {
                        out.printf("%-30s %-14s %-6d %s%n", i.name().orElse("<none>"), i.configDigest().shortHex(),
                                i.layers().size(), size(i.size()));
                    }
                    yield 0;
                }
                case "rmi" -> {
                    for (String name : args) {
                        store.remove(name);
                        out.println("removed " + name);
                    }
                    yield 0;
                }
                case "prune" -> {
                    ImageStore.Pruned p = store.prune();
                    out.println("pruned " + p.entries() + " entries, " + size(p.bytes()));
                    yield 0;
                }
                case "save" -> {
                    int o = args.indexOf("-o");
                    Path file = Path.of(value(args, o));
                    args.remove(o);
                    args.remove(o);
                    if (args.size() != 1) {
                        throw new IllegalArgumentException("save takes one image: save NAME -o FILE");
                    }
                    store.save(store.get(args.get(0)), file);
                    out.println("saved " + args.get(0) + " to " + file);
                    yield 0;
                }
                case "load" -> {
                    Path file = Path.of(value(args, args.indexOf("-i")));
                    for (Image i : store.load(file)) {
                        out.println("loaded " + i.name().orElse(i.digest().toString()));
                    }
                    yield 0;
                }
                default -> throw new IllegalArgumentException("unknown command " + command + "\n" + USAGE);
            };
        } catch (IllegalArgumentException e) {
            err.println("crabcan " + command + ": " + e.getMessage());
            return 2;
        } catch (ImageException e) {
            err.println("crabcan " + command + ": " + e.getMessage());
            return 1;
        }
    }

    private static String value(List<String> args, int i) {
        if (i < 0 || i + 1 >= args.size()) {
            throw new IllegalArgumentException("an option is missing its value\n" + USAGE);
        }
        return args.get(i + 1);
    }

    private static int build(ImageStore store, List<String> args, PrintStream out, PrintStream err)
            throws ImageException {
        Path file = null;
        String tag = null;
        List<String[]> buildArgs = new ArrayList<>();
        dev.crabcan.Network network = dev.crabcan.Network.none();
        Path dir = null;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            switch (a) {
                case "-f", "--file" -> file = Path.of(value(args, i++));
                case "-t", "--tag" -> tag = value(args, i++);
                case "--build-arg" -> {
                    String kv = value(args, i++);
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        throw new IllegalArgumentException("--build-arg " + kv + ": write NAME=VALUE");
                    }
                    buildArgs.add(new String[] {kv.substring(0, eq), kv.substring(eq + 1)});
                }
                case "--network" -> network = switch (value(args, i++).toLowerCase(Locale.ROOT)) {
                    case "none" -> dev.crabcan.Network.none();
                    case "host" -> dev.crabcan.Network.host();
                    case "private" -> dev.crabcan.Network.privateNetwork();
                    default -> throw new IllegalArgumentException("--network takes none, host or private");
                };
                default -> {
                    if (a.startsWith("-") || dir != null) {
                        throw new IllegalArgumentException("unexpected " + a + "\n" + USAGE);
                    }
                    dir = Path.of(a);
                }
            }
        }
        if (dir == null) {
            throw new IllegalArgumentException("name the build context directory\n" + USAGE);
        }
        ImageBuild.Builder b = ImageBuild.builder(store, dir).network(network).listener(new Progress(out, err));
        if (file != null) {
            b.file(file);
        }
        if (tag != null) {
            b.tag(tag);
        }
        buildArgs.forEach(kv -> b.buildArg(kv[0], kv[1]));
        long start = System.nanoTime();
        Image image = b.build().run();
        out.printf("Built %s (%s) in %.2f s%n", image.name().orElse("<none>"), image.configDigest().shortHex(),
                (System.nanoTime() - start) / 1e9);
        return 0;
    }

    /** Prints each step, whether it came from the cache, and a RUN step's output as it comes. */
    private static final class Progress implements BuildListener {
        private final PrintStream out;
        private final PrintStream err;

        Progress(PrintStream out, PrintStream err) {
            this.out = out;
            this.err = err;
        }

        @Override
        public void stepStarted(BuildStep step) {
            out.println(step);
        }

        @Override
        public void output(BuildStep step, String line) {
            out.println("  | " + line);
        }

        @Override
        public void stepFinished(BuildStep step, boolean cached, long nanos) {
            out.printf("  --> %s%.3f s%n", cached ? "cached, " : "", nanos / 1e9);
        }

        @Override
        public void warning(String message) {
            err.println("crabcan build: warning: " + message);
        }
    }

    private static int runImage(ImageStore store, List<String> args, PrintStream err) throws ImageException {
        Image image = store.get(args.get(0));
        Sandbox.Builder b = Sandbox.builder().image(image).stdin(Stdio.inherit()).stdout(Stdio.inherit())
                .stderr(Stdio.inherit());
        if (args.size() > 1) {
            b.command(args.subList(1, args.size()));
        } else if (image.config().command().isEmpty()) {
            throw new IllegalArgumentException("image " + args.get(0) + " has no CMD or ENTRYPOINT: give the command"
                    + " (crabcan run " + args.get(0) + " /bin/sh -c '...')");
        }
        try (SandboxProcess p = b.build().start()) {
            ExitStatus s = p.waitForStatus();
            return s.shellCode();
        } catch (SandboxException e) {
            err.println("crabcan run: " + e.getMessage());
            return 125;
        } catch (java.io.IOException e) {
            err.println("crabcan run: " + e);
            return 125;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 130;
        }
    }

    private static String size(long bytes) {
        return bytes < 1 << 20 ? String.format("%.1f kB", bytes / 1e3) : String.format("%.1f MB", bytes / 1e6);
    }
}
