package dev.crabcan;

import java.util.List;
import java.util.OptionalInt;

/**
 * Programs an OCI runtime has a detached sandbox run inside itself ({@link
 * Sandbox#createDetached(java.nio.file.Path, List, ContainerHooks)}): runtime-spec's
 * createContainer and startContainer hooks. They come from the engine, which the spec trusts, and
 * run with the sandbox's ids: createContainer with every capability of its user namespace (as its
 * init has them before it drops them), startContainer with the command's.
 *
 * <ul>
 *   <li>{@link Phase#CREATE_CONTAINER}: in the sandbox's namespaces once its mounts are made and
 *       before pivot_root, the path resolved in the host's view of the files; a hook that fails
 *       fails the create ({@link SandboxSetupException}, step {@code hook}).
 *   <li>{@link Phase#START_CONTAINER}: in the command's process once the release FIFO was opened,
 *       after seccomp (as runc does) and before execve, the path resolved in the sandbox. The
 *       FIFO's reader then reads {@code '0'}, or {@code 'H'} and why a hook failed, and the
 *       command does not run.
 * </ul>
 *
 * <p>A hook's file is opened once and executed through that descriptor, so the file checked is the
 * file run; it fails as a hook that cannot be executed if it is the helper's own binary (a link to
 * {@code /proc/self/exe} planted in the sandbox would run it there), a file of a proc file system,
 * or a file that a {@code /proc} link leads to outside the root it was looked up in.
 *
 * <p>A createContainer hook runs with the new root as its working directory. Each hook runs in a
 * process group of its own, killed when it exits; whatever the createContainer hooks leave
 * running elsewhere is killed once they are done, since it would hold every capability of the
 * sandbox's user namespace beside the command.
 *
 * <p>Each hook reads the container's state on stdin: {@code state} (a JSON object, runtime-spec's
 * state without its {@code status} and {@code pid}) with {@code "status"} ("creating" or
 * "created") and {@code "pid"} (the sandbox's init on the host, what createDetached returns) put
 * first. Its argv is exactly {@code args} (as runc passes them; its path alone when empty), its
 * environment exactly {@code env}, its signals unblocked and at their defaults; it gets no other
 * fds (a script but a path-only one of its own file, which its interpreter reads it by), and its stdout and stderr are kept (their first KiB, control characters replaced by
 * {@code ?}) for the failure's message. The first hook that fails, or outlives its timeout (it is
 * killed), ends the sandbox.
 *
 * <p>{@link RuntimeHooks}, the caller's own part, run before those: runtime-spec's prestart and
 * createRuntime hooks.
 *
 * <p>Immutable and thread-safe.
 *
 * @param hooks in the order they run in each phase
 * @param state a JSON object without "status" and "pid", such as {@code {"ociVersion":"1.0.2","id":"c1","bundle":"/b"}}
 * @param runtime what the caller runs while the sandbox waits before pivot_root; {@link RuntimeHooks#NONE}: nothing
 */
public record ContainerHooks(List<Hook> hooks, String state, RuntimeHooks runtime) {
    /** When a hook runs. Immutable and thread-safe. */
    public enum Phase { CREATE_CONTAINER, START_CONTAINER }

    /**
     * One hook; see {@link ContainerHooks}. Immutable and thread-safe.
     *
     * @param path absolute
     * @param args runtime-spec's args, the hook's argv as they are (by convention the first is its name)
     * @param env NAME=value entries, exactly the hook's environment
     * @param timeoutSeconds positive, or empty for none
     */
    public record Hook(Phase phase, String path, List<String> args, List<String> env, OptionalInt timeoutSeconds) {
        public Hook {
            Validation.notNull(phase, "hook phase");
            Validation.notNull(path, "hook path");
            if (!path.startsWith("/")) {
                throw new IllegalArgumentException("hook path must be absolute, got: " + path);
            }
            args = List.copyOf(args);
            env = List.copyOf(env);
            Validation.notNull(timeoutSeconds, "hook timeout");
            if (timeoutSeconds.isPresent() && timeoutSeconds.getAsInt() <= 0) {
                throw new IllegalArgumentException("hook timeout must be positive, got: " + timeoutSeconds.getAsInt());
            }
            for (String s : concat(List.of(path), args, env)) {
                if (s.indexOf('\0') >= 0) {
                    throw new IllegalArgumentException("hook " + path + ": a string with a NUL byte: " + s.replace('\0', '?'));
                }
            }
        }
    }

    /**
     * What an OCI runtime runs itself, in its own namespaces and view of the files, while the
     * sandbox waits with its mounts made, before the createContainer hooks and pivot_root:
     * runtime-spec's prestart and createRuntime hooks, in the order runc and crun run them. A
     * sandbox given one attaches a root of {@link Sandbox.Builder#rootfs(java.nio.file.Path)} over
     * that path, as runc binds it onto itself, so that a hook that enters the sandbox's mount
     * namespace (through the pid it is given) and mounts below the root's path mounts into the
     * sandbox's root: what the NVIDIA container toolkit's prestart hook does.
     *
     * <p>Called once, on the thread that calls createDetached: an implementation need not be
     * thread-safe. If the sandbox ends while they run (killed: an OCI runtime's delete --force),
     * that thread is interrupted, so that hooks that wait end at once: an implementation should then
     * end what it started and throw; createDetached fails, saying the sandbox ended, with the
     * interrupt cleared.
     */
    public interface RuntimeHooks {
        /** Nothing to run: the sandbox does not wait. */
        RuntimeHooks NONE = initPid -> { };

        /**
         * Runs them; the sandbox goes on when this returns. Anything thrown fails the create with
         * its message, and the sandbox is killed.
         *
         * @param initPid the sandbox's init on the host, what createDetached returns: the state's pid
         */
        void run(long initPid) throws Exception;
    }

    /** Hooks the sandbox runs inside itself, none of the caller's. */
    public ContainerHooks(List<Hook> hooks, String state) {
        this(hooks, state, RuntimeHooks.NONE);
    }

    public ContainerHooks {
        hooks = List.copyOf(hooks);
        Validation.notNull(runtime, "runtime hooks");
        Validation.notNull(state, "hook state");
        String s = state.strip();
        if (!s.startsWith("{") || !s.endsWith("}") || s.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("hook state must be a JSON object, got: " + state);
        }
        state = s;
    }

    /** No hooks. */
    public static ContainerHooks none() {
        return new ContainerHooks(List.of(), "{}");
    }

    /** These hooks with {@code runtime} run before them. */
    public ContainerHooks withRuntime(RuntimeHooks runtime) {
        return new ContainerHooks(hooks, state, runtime);
    }

    private static List<String> concat(List<String> a, List<String> b, List<String> c) {
        return java.util.stream.Stream.of(a, b, c).flatMap(List::stream).toList();
    }
}
