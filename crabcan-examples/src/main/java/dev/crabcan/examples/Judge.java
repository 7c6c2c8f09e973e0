package dev.crabcan.examples;

import dev.crabcan.CopiedFile;
import dev.crabcan.CopyIn;
import dev.crabcan.Crabcan;
import dev.crabcan.Limits;
import dev.crabcan.Rlimit;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import dev.crabcan.SandboxPipe;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.Stdio;
import dev.crabcan.Verdict;
import dev.crabcan.image.BuildListener;
import dev.crabcan.image.BuildStep;
import dev.crabcan.image.Image;
import dev.crabcan.image.ImageBuild;
import dev.crabcan.image.ImageException;
import dev.crabcan.image.ImageStore;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A small code judge on Crabcan: compiles a submission in a sandbox, runs it on every test of a
 * directory with the judge preset, and prints one verdict per test. No host directory is made per
 * run: sources go in and binaries come out by copy-in and copy-out through the run's tmpfs, and an
 * interactive problem's two sandboxes talk through pipes the JVM never relays.
 */
final class Judge {
    static final String USAGE = String.join("\n",
            "Judge: java -jar crabcan.jar judge SOURCE TESTS [--interactor SOURCE] [--time DUR] [--memory SIZE] [--json]",
            "                                  [--env DIR [--build-arg NAME=VALUE]... [--store DIR]]",
            "  SOURCE      the submission: .c (gcc -O2), .py (python3) or .java (javac; its class is Main)",
            "  TESTS       a directory of tests: NAME.in, and NAME.ans (the expected output, compared",
            "              by white-space separated tokens) unless the problem is interactive",
            "  --interactor SOURCE  an interactive problem: the interactor gets NAME.in at /box/input,",
            "              its stdout is the submission's stdin and the other way round (pipes below the",
            "              JVM), and its exit status is the verdict (0: accepted; its stderr says why not)",
            "  --time DUR  CPU time per test (default 2s; wall time is 2.5 times that)",
            "  --memory SIZE  memory per test (default 256m; a Java submission's heap is sized from it)",
            "  --json      one JSON object per test instead of a table",
            "  --env DIR   language environments declared as Crabfiles: DIR/c, DIR/py and DIR/java, each",
            "              a build context with its Crabfile; the one of a source's language is built into",
            "              the image store (once: a cache hit afterwards) and the source compiles and runs",
            "              in that image instead of the host's files (see the README, \"Images\")",
            "  --build-arg NAME=VALUE  an ARG of those Crabfiles, such as the base image's path",
            "  --store DIR the image store (default: the user's, ~/.local/share/crabcan/images)",
            "Exit status: 0 if every test is accepted, 1 if one is not, 2 if the source does not",
            "compile, 125 if the judge itself failed.");

    /** What a test ends as, isolate's and Codeforces' words. */
    enum Outcome { ACCEPTED, WRONG_ANSWER, TIME_LIMIT, MEMORY_LIMIT, OUTPUT_LIMIT, RUNTIME_ERROR }

    /**
     * A compiled program: its environment (an image, or null for the host's files), the files
     * copied into /box, by name, and the command that runs it there.
     */
    record Program(Image image, Map<String, byte[]> files, List<String> command) {
        Program with(String name, byte[] content) {
            Map<String, byte[]> more = new LinkedHashMap<>(files);
            more.put(name, content);
            return new Program(image, more, command);
        }
    }

    private Judge() {}

    static int run(String[] args, PrintStream out, PrintStream err) {
        Path source = null, tests = null, interactor = null;
        Duration time = Duration.ofSeconds(2);
        long memory = 256L << 20;
        boolean json = false;
        Path envs = null, store = null;
        Map<String, String> buildArgs = new LinkedHashMap<>();
        try {
            for (int i = 1; i < args.length; i++) {
                switch (args[i]) {
                    case "--interactor" -> interactor = Path.of(value(args, ++i));
                    case "--time" -> time = CrabcanCli.Options.duration(value(args, ++i), "--time");
                    case "--memory" -> memory = CrabcanCli.Options.size(value(args, ++i), "--memory");
                    case "--json" -> json = true;
                    case "--env" -> envs = Path.of(value(args, ++i));
                    case "--store" -> store = Path.of(value(args, ++i));
                    case "--build-arg" -> {
                        String a = value(args, ++i);
                        if (a.indexOf('=') <= 0) {
                            throw new IllegalArgumentException("--build-arg " + a + ": give NAME=VALUE");
                        }
                        buildArgs.put(a.substring(0, a.indexOf('=')), a.substring(a.indexOf('=') + 1));
                    }
                    case "-h", "--help" -> {
                        err.println(USAGE);
                        return 0;
                    }
                    default -> {
                        if (args[i].startsWith("-") || tests != null) {
                            throw new IllegalArgumentException("unknown argument " + args[i] + "\n" + USAGE);
                        }
                        if (source == null) {
                            source = Path.of(args[i]);
                        } else {
                            tests = Path.of(args[i]);
                        }
                    }
                }
            }
            if (tests == null || !Files.isDirectory(tests)) {
                throw new IllegalArgumentException("give a source and a directory of tests\n" + USAGE);
            }
            Limits limits = limits(time, memory, err);
            Environments environments = new Environments(envs, store, buildArgs, err);
            Program program = compile(source, environments.of(source), err);
            Program checker = interactor == null ? null : compile(interactor, environments.of(interactor), err);
            if (program == null || checker == null && interactor != null) {
                return 2;
            }
            List<Path> inputs;
            try (Stream<Path> s = Files.list(tests)) {
                inputs = s.filter(p -> p.toString().endsWith(".in")).sorted().toList();
            }
            boolean all = true;
            for (Path input : inputs) {
                String name = input.getFileName().toString().replaceFirst("\\.in$", "");
                Result r = checker == null ? test(program, input, tests.resolve(name + ".ans"), limits)
                        : interact(program, checker, input, limits);
                all &= r.outcome == Outcome.ACCEPTED;
                out.println(json ? r.json(name) : String.format("%-12s %-14s %6s ms %8s KiB  %s", name, r.outcome,
                        r.cpuMs, r.memoryKib, r.why));
            }
            return all ? 0 : 1;
        } catch (IllegalArgumentException | IOException e) {
            err.println("crabcan judge: " + e.getMessage());
            return 125;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 125;
        }
    }

    private static String value(String[] args, int i) {
        if (i >= args.length) {
            throw new IllegalArgumentException(args[i - 1] + " needs a value");
        }
        return args[i];
    }

    /** The judge preset with the time and memory given; without a cgroup, what rlimits can do. */
    static Limits limits(Duration time, long memory, PrintStream err) {
        Limits wanted = Limits.judge().toBuilder().cpuTime(time).wallTime(time.multipliedBy(5).dividedBy(2))
                .memory(memory).build();
        if (Crabcan.defaultClient().capabilities().cgroupLimits()) {
            return wanted;
        }
        long seconds = Math.max(1, (time.toMillis() + 999) / 1000);
        err.println("crabcan judge: no cgroup here (" + Crabcan.defaultClient().capabilities().cgroupProblem().orElse("")
                + "): CPU time by RLIMIT_CPU in whole seconds, memory and processes not limited");
        return Limits.builder().wallTime(wanted.wallTime().orElseThrow()).outputBytes(16L << 20)
                .rlimit(Rlimit.CPU, seconds, seconds + 1).rlimit(Rlimit.NOFILE, 64).rlimit(Rlimit.FSIZE, 64L << 20)
                .rlimit(Rlimit.CORE, 0).build();
    }

    /**
     * Where a language's programs compile and run: the host's files read-only, or with --env the
     * image built from that language's Crabfile, built once per judge run (and a cache hit in the
     * store on the next one).
     */
    static final class Environments {
        private final Path dir;
        private final Path storeDir;
        private final Map<String, String> buildArgs;
        private final PrintStream err;
        private final Map<String, Image> built = new LinkedHashMap<>();

        Environments(Path dir, Path storeDir, Map<String, String> buildArgs, PrintStream err) {
            if (dir != null && !Files.isDirectory(dir)) {
                throw new IllegalArgumentException("--env " + dir + ": not a directory");
            }
            if (dir == null && (storeDir != null || !buildArgs.isEmpty())) {
                throw new IllegalArgumentException("--store and --build-arg go with --env DIR");
            }
            this.dir = dir;
            this.storeDir = storeDir;
            this.buildArgs = Map.copyOf(buildArgs);
            this.err = err;
        }

        /** The image of the source's language, or null for the host's files. */
        Image of(Path source) throws ImageException {
            if (dir == null) {
                return null;
            }
            String file = source.getFileName().toString();
            String language = file.substring(file.lastIndexOf('.') + 1);
            Path context = dir.resolve(language);
            if (!Files.isDirectory(context)) {
                throw new IllegalArgumentException(source + ": no environment for ." + language + " (no directory "
                        + context + " with its Crabfile)");
            }
            Image image = built.get(language);
            if (image == null) {
                ImageStore store = storeDir == null ? ImageStore.openDefault() : ImageStore.open(storeDir);
                ImageBuild.Builder b = ImageBuild.builder(store, context).tag("crabcan-judge-" + language);
                buildArgs.forEach(b::buildArg);
                int[] steps = new int[2];
                image = b.listener(new BuildListener() {
                    @Override
                    public void stepFinished(BuildStep step, boolean cached, long nanos) {
                        steps[0]++;
                        steps[1] += cached ? 1 : 0;
                    }
                }).build().run();
                err.println("crabcan judge: environment " + language + " is image " + image.digest().shortHex() + " (" + steps[0] + " steps, " + steps[1] + " from the cache)");
                built.put(language, image);
            }
            return image;
        }
    }

    /** The sandbox's files: the image's, or the host's read-only (Crabcan's default root). */
    private static Sandbox.Builder in(Image image) {
        Sandbox.Builder b = Sandbox.builder();
        return image == null ? b : b.image(image);
    }

    /** Compiles in a sandbox of its own (no network, its environment read-only); null if it does not compile. */
    static Program compile(Path source, Image image, PrintStream err)
            throws IOException, SandboxException, InterruptedException {
        String file = source.getFileName().toString();
        byte[] code = Files.readAllBytes(source);
        if (file.endsWith(".py")) {
            return new Program(image, Map.of(), List.of("python3", "/box/main.py")).with("main.py", code);
        }
        List<String> command;
        String output;
        if (file.endsWith(".c")) {
            command = List.of("gcc", "-O2", "-o", "/box/prog", "/box/main.c", "-lm");
            output = "prog";
            file = "main.c";
        } else if (file.endsWith(".java")) {
            command = List.of("javac", "-d", "/box", "/box/Main.java");
            output = "Main.class";
            file = "Main.java";
        } else {
            throw new IllegalArgumentException(source + ": not .c, .py or .java");
        }
        SandboxResult r = in(image).tmpfs("/box", 256L << 20).copyIn("/box/" + file, code)
                .copyOut("/box/" + output, 64L << 20).workingDirectory("/box").env("HOME", "/box")
                .limits(Limits.builder().wallTime(Duration.ofSeconds(60)).outputBytes(1 << 20).build())
                .command(command).build().run();
        CopiedFile built = r.copiedFiles().get("/box/" + output);
        if (r.verdict() != Verdict.OK || built == null) {
            err.println("crabcan judge: " + source + " does not compile (" + r.verdict() + "):\n" + r.stderrText());
            return null;
        }
        List<String> run = output.equals("prog") ? List.of("/box/prog") : List.of("java", "-cp", "/box", "Main");
        return new Program(image, Map.of(), run).with(output, built.content());
    }

    /** One test: its input on stdin, its output compared with the answer. */
    static Result test(Program p, Path input, Path answer, Limits limits)
            throws IOException, SandboxException, InterruptedException {
        SandboxResult r = sandbox(p, limits).build().run(Files.readAllBytes(input));
        if (r.verdict() != Verdict.OK) {
            return Result.of(r, outcome(r.verdict()), r.stderrText());
        }
        boolean same = Arrays.equals(tokens(r.stdoutText()), tokens(Files.readString(answer)));
        return Result.of(r, same ? Outcome.ACCEPTED : Outcome.WRONG_ANSWER, same ? "" : "output differs");
    }

    /** An interactive test: two sandboxes, each one's stdout the other's stdin, the interactor's verdict. */
    static Result interact(Program p, Program checker, Path input, Limits limits)
            throws IOException, SandboxException, InterruptedException {
        try (SandboxPipe toSolution = SandboxPipe.create(); SandboxPipe toInteractor = SandboxPipe.create()) {
            Program judged = checker.with("input", Files.readAllBytes(input));
            SandboxProcess interactor = sandbox(judged, limits).stdin(Stdio.from(toInteractor))
                    .stdout(Stdio.to(toSolution)).build().start();
            SandboxProcess solution = sandbox(p, limits).stdin(Stdio.from(toSolution)).stdout(Stdio.to(toInteractor))
                    .stderr(Stdio.discard()).build().start();
            // Its stderr ends when it does: read before waiting, so that a full pipe cannot stall it.
            String why = new String(interactor.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            SandboxResult s = solution.result();
            SandboxResult i = interactor.result();
            // The solution's limits first, then the interactor's word, then the solution's own failure.
            Outcome own = outcome(s.verdict());
            if (own != Outcome.ACCEPTED && own != Outcome.RUNTIME_ERROR) {
                return Result.of(s, own, "");
            }
            if (i.verdict() != Verdict.OK) {
                return Result.of(s, Outcome.WRONG_ANSWER, "interactor: " + why.strip());
            }
            return Result.of(s, own, "");
        }
    }

    private static Sandbox.Builder sandbox(Program p, Limits limits) {
        Sandbox.Builder b = in(p.image).tmpfs("/box", 128L << 20).workingDirectory("/box").uid(1000)
                .limits(limits).command(p.command);
        p.files.forEach((name, content) -> b.copyIn(CopyIn.bytes("/box/" + name, content).mode(0755).readOnly()));
        return b;
    }

    /** A sandbox's verdict as a test's outcome, before its output is compared. */
    private static Outcome outcome(Verdict v) {
        return switch (v) {
            case OK -> Outcome.ACCEPTED;
            case WALL_TIME_LIMIT, CPU_TIME_LIMIT -> Outcome.TIME_LIMIT;
            case MEMORY_LIMIT -> Outcome.MEMORY_LIMIT;
            case OUTPUT_LIMIT -> Outcome.OUTPUT_LIMIT;
            default -> Outcome.RUNTIME_ERROR;
        };
    }

    private static String[] tokens(String s) {
        String t = s.strip();
        return t.isEmpty() ? new String[0] : t.split("\\s+");
    }

    record Result(Outcome outcome, String cpuMs, String memoryKib, String why) {
        static Result of(SandboxResult r, Outcome o, String why) {
            String cpu = r.cpuTime().map(d -> String.valueOf(d.toMillis())).orElse("?");
            String kib = r.peakMemoryBytes().isPresent() ? String.valueOf(r.peakMemoryBytes().getAsLong() / 1024) : "?";
            String first = why.lines().findFirst().orElse("");
            return new Result(o, cpu, kib, first);
        }

        String json(String name) {
            return "{\"test\":" + dev.crabcan.internal.json.Json.write(name) + ",\"outcome\":\"" + outcome + "\",\"cpuTimeMs\":"
                    + (cpuMs.equals("?") ? "null" : cpuMs) + ",\"peakMemoryKib\":" + (memoryKib.equals("?") ? "null" : memoryKib)
                    + ",\"why\":" + dev.crabcan.internal.json.Json.write(why) + "}";
        }
    }
}
