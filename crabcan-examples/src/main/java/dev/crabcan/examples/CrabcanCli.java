package dev.crabcan.examples;

import dev.crabcan.CommandNotExecutableException;
import dev.crabcan.CommandNotFoundException;
import dev.crabcan.ExitStatus;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.Stdio;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The crabcan command line, flag-compatible with the crabcan tutorial. Exit status: the
 * command's own code, 128+N when signal N killed it, 125 when the sandbox could not be set up,
 * 126 when the command cannot be executed, 127 when it is not found.
 */
public final class CrabcanCli {
    static final int SETUP_FAILED = 125, NOT_EXECUTABLE = 126, NOT_FOUND = 127;

    static final String USAGE = String.join("\n",
            "Usage: java -jar crabcan.jar [OPTIONS] -c \"CMD ARGS...\"",
            "       java -jar crabcan.jar [OPTIONS] -- CMD ARGS...",
            "  -m, --mount DIR        root filesystem (default: the host's /usr, /bin, /lib, /lib64,",
            "                         /etc and /sbin bound read-only on an empty read-only root)",
            "  -u, --uid UID          uid and gid inside the container (default 0)",
            "  -a, --add FROM:TO      bind host FROM at TO, read-write",
            "  -r, --add-ro FROM:TO   bind host FROM at TO, read-only",
            "  -t, --tmpfs DIR        an empty tmpfs at DIR",
            "  -e, --env NAME=VALUE   set an environment variable (the environment is otherwise empty",
            "                         but for PATH)",
            "  -w, --workdir DIR      working directory inside (default /)",
            "      --hostname NAME    hostname inside (default: random adjective-noun-number)",
            "      --writable-rootfs  let the command write to the -m root filesystem",
            "  -d, --debug            log every setup step",
            "  -h, --help             show this help",
            "Exit status: the command's own; 128+N if killed by signal N; 125 if the sandbox could not",
            "be set up; 126 if the command cannot be executed; 127 if it is not found.");

    private CrabcanCli() {}

    public static void main(String[] args) {
        boolean debug = Options.wantsDebug(args);
        // slf4j-simple reads its levels once, when the first logger is made: set them before that.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
        System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss'Z'");
        if (debug) {
            System.setProperty("org.slf4j.simpleLogger.log.dev.crabcan", "debug");
        }
        System.exit(run(args, System.err));
    }

    static int run(String[] args, PrintStream err) {
        Sandbox sandbox;
        try {
            Options options = Options.parse(args);
            if (options.help) {
                err.println(USAGE);
                return 0;
            }
            sandbox = options.toSandbox();
        } catch (IllegalArgumentException e) {
            err.println("crabcan: " + e.getMessage());
            err.println("Try 'java -jar crabcan.jar --help'.");
            return SETUP_FAILED;
        }
        try {
            SandboxProcess p = sandbox.start();
            ExitStatus status = p.waitForStatus();
            return status.shellCode();
        } catch (CommandNotFoundException e) {
            err.println("crabcan: " + e.getMessage());
            return NOT_FOUND;
        } catch (CommandNotExecutableException e) {
            err.println("crabcan: " + e.getMessage());
            return NOT_EXECUTABLE;
        } catch (SandboxException | SandboxSpecException e) {
            err.println("crabcan: " + e.getMessage());
            return SETUP_FAILED;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println("crabcan: interrupted");
            return SETUP_FAILED;
        }
    }

    /** The parsed command line. */
    static final class Options {
        Path rootfs;
        boolean writableRootfs;
        int uid;
        final List<String[]> binds = new ArrayList<>();
        final List<String> tmpfs = new ArrayList<>();
        final List<String> env = new ArrayList<>();
        String workdir;
        String hostname;
        List<String> command;
        boolean help;
        boolean debug;

        /** Whether -d is among the options (not among the command's arguments); false if they do not parse. */
        static boolean wantsDebug(String[] args) {
            try {
                return parse(args).debug;
            } catch (IllegalArgumentException e) {
                return false;
            }
        }

        static Options parse(String[] args) {
            Options o = new Options();
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "-h", "--help" -> o.help = true;
                    case "-d", "--debug" -> o.debug = true;
                    case "--writable-rootfs" -> o.writableRootfs = true;
                    case "-m", "--mount" -> o.rootfs = Path.of(value(args, ++i, a));
                    case "-u", "--uid" -> o.uid = parseUid(value(args, ++i, a));
                    case "-a", "--add" -> o.binds.add(pair(value(args, ++i, a), a, "rw"));
                    case "-r", "--add-ro" -> o.binds.add(pair(value(args, ++i, a), a, "ro"));
                    case "-t", "--tmpfs" -> o.tmpfs.add(value(args, ++i, a));
                    case "-e", "--env" -> o.env.add(value(args, ++i, a));
                    case "-w", "--workdir" -> o.workdir = value(args, ++i, a);
                    case "--hostname" -> o.hostname = value(args, ++i, a);
                    case "-c", "--command" -> o.setCommand(splitCommand(value(args, ++i, a)));
                    case "--" -> {
                        o.setCommand(Arrays.asList(args).subList(i + 1, args.length));
                        i = args.length;
                    }
                    default -> throw new IllegalArgumentException("unknown option '" + a + "'");
                }
            }
            if (o.command == null && !o.help) {
                throw new IllegalArgumentException("no command given: use -c \"CMD ARGS\" or -- CMD ARGS");
            }
            return o;
        }

        private void setCommand(List<String> argv) {
            if (command != null) {
                throw new IllegalArgumentException("the command is given twice: use either -c or --");
            }
            if (argv.isEmpty()) {
                throw new IllegalArgumentException("the command is empty");
            }
            command = List.copyOf(argv);
        }

        Sandbox toSandbox() {
            Sandbox.Builder b = Sandbox.builder().uid(uid).command(command)
                    .stdin(Stdio.inherit()).stdout(Stdio.inherit()).stderr(Stdio.inherit());
            if (rootfs != null) {
                b.rootfs(rootfs).rootfsWritable(writableRootfs);
            } else if (writableRootfs) {
                throw new IllegalArgumentException("--writable-rootfs needs -m DIR");
            }
            for (String[] bind : binds) {
                b.bind(Path.of(bind[0]), bind[1], bind[2].equals("ro"));
            }
            tmpfs.forEach(b::tmpfs);
            for (String e : env) {
                int eq = e.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("-e wants NAME=VALUE, got '" + e + "'");
                }
                b.env(e.substring(0, eq), e.substring(eq + 1));
            }
            if (workdir != null) {
                b.workingDirectory(workdir);
            }
            if (hostname != null) {
                b.hostname(hostname);
            }
            return b.build();
        }

        private static String value(String[] args, int i, String flag) {
            if (i >= args.length) {
                throw new IllegalArgumentException("option " + flag + " needs a value");
            }
            return args[i];
        }

        private static int parseUid(String s) {
            try {
                int uid = Integer.parseInt(s);
                if (uid >= 0) {
                    return uid;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IllegalArgumentException("-u wants a uid between 0 and " + Integer.MAX_VALUE + ", got '" + s + "'");
        }

        private static String[] pair(String s, String flag, String mode) {
            int colon = s.lastIndexOf(':');
            if (colon <= 0 || colon == s.length() - 1) {
                throw new IllegalArgumentException(flag + " wants FROM:TO, got '" + s + "'");
            }
            return new String[] {s.substring(0, colon), s.substring(colon + 1), mode};
        }

        /** The tutorial's -c takes one string, split on white space. */
        static List<String> splitCommand(String s) {
            List<String> argv = Arrays.stream(s.trim().split("\\s+")).filter(x -> !x.isEmpty()).toList();
            if (argv.isEmpty()) {
                throw new IllegalArgumentException("-c wants a command, got an empty string");
            }
            return argv;
        }
    }
}
