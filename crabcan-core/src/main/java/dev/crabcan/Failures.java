package dev.crabcan;

import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.launch.Session;
import dev.crabcan.internal.plan.Contract;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Turns what the helper reported into an exception that says what failed and how to fix it. */
final class Failures {
    private static final int EPERM = 1, ENOENT = 2, EACCES = 13, EROFS = 30, ENOSPC = 28, EINVAL = 22, EUSERS = 87,
            ENOSYS = 38;

    private Failures() {}

    static SandboxException toException(Session.Start start, Sandbox sandbox) {
        if (start instanceof Session.SetupFailed f) {
            return setup(f, sandbox);
        }
        if (start instanceof Session.ExecFailed f) {
            return exec(f, sandbox);
        }
        return new SandboxException(start instanceof Session.Lost l ? l.why() : "the helper reported " + start
                + " where it should have started the command");
    }

    static String strerror(int errno) {
        jnr.constants.platform.Errno e = jnr.constants.platform.Errno.valueOf(errno);
        return e == null || !e.defined() ? "errno " + errno : e.description();
    }

    private static SandboxException setup(Session.SetupFailed f, Sandbox sandbox) {
        // errno 0: the detail says it all (a failure the helper saw in another program, not a syscall).
        String message = f.step() + " " + f.detail() + (f.errno() == 0 ? "" : ": " + strerror(f.errno()));
        if (f.step().equals(Contract.S_CLONE) && List.of(EPERM, ENOSPC, EINVAL, EUSERS, ENOSYS).contains(f.errno())) {
            List<String> reasons = HostInfo.get().userNamespaceProblems(true);
            if (f.errno() == ENOSPC && reasons.isEmpty()) {
                reasons = List.of("the number of user namespaces allowed (user.max_user_namespaces) is reached, here or "
                        + "in a user namespace this one lies in; raise it there with sysctl -w user.max_user_namespaces=N");
            }
            return new UnsupportedHostException("cannot create the sandbox's namespaces (" + message + "): "
                    + (reasons.isEmpty() ? "the kernel refused a new user namespace" : String.join("; ", reasons)));
        }
        boolean cannotCreate = f.errno() == EACCES || f.errno() == EROFS || f.errno() == EPERM;
        if (f.step().equals(Contract.S_MOUNT_POINT) && cannotCreate) {
            message += "; create that directory (or file) in the root filesystem beforehand, or bind a "
                    + "writable directory above it";
        } else if (f.detail().startsWith(Contract.S_MOUNT_POINT) && cannotCreate) {
            message += "; the mount point does not exist and the directory above it cannot be written (the "
                    + "default root filesystem's /usr and /etc are read-only binds): choose a target elsewhere";
        }
        if (f.step().equals(Contract.S_IDMAP) && f.errno() == EINVAL) {
            message += "; this file system does not support idmapped mounts, which a root caller's binds and root "
                    + "filesystem need (ext4, xfs, btrfs and tmpfs do; an overlayfs mount does not, though a root "
                    + "filesystem that is one's mount point, such as an engine's image root, is remade of its layers); "
                    + "bind a directory on one of those, or the mount point of the overlayfs mount itself";
        }
        HostInfo host = HostInfo.get();
        if ((f.step().equals(Contract.S_BIND) || f.step().equals(Contract.S_ROOTFS)) && f.errno() == EACCES
                && host.leasesHostIds() && !host.isHostRoot()) {
            message += "; this JVM is the host's root without CAP_SYS_ADMIN (a container's root), so its sandboxes run "
                    + "as host ids of their own and binds are not idmapped: the sandbox reaches only what anybody may. "
                    + "Let others search the directories on the way (chmod o+x) and read it (o+r; o+w to write), or "
                    + "give the container a user namespace of its own (see the README, \"Running inside Docker, podman "
                    + "and Kubernetes\")";
        }
        if (f.step().equals(Contract.S_PROC) && f.errno() == EPERM) {
            message += "; the kernel refuses a new /proc when the host's /proc is partly hidden, as in a container";
        }
        if (f.step().equals(Contract.S_HOSTNAME) && f.errno() == EPERM) {
            message += "; a container's seccomp profile refuses sethostname without CAP_SYS_ADMIN (podman's default "
                    + "does): leave the hostname unset, or run the container with the profile " + HostInfo.SECCOMP_PROFILE
                    + " (see the README, \"Running inside Docker, podman and Kubernetes\")";
        }
        return new SandboxSetupException(f.step(), f.errno(), message);
    }

    private static SandboxException exec(Session.ExecFailed f, Sandbox sandbox) {
        String where = sandbox.rootfs().map(r -> "the root filesystem " + r).orElse(sandbox.rootfsLayers().isEmpty()
                ? "the default root filesystem" : "the image's root filesystem");
        String command = sandbox.command().get(0);
        switch (f.kind()) {
            case Contract.EXEC_NOT_FOUND:
                return new CommandNotFoundException(command, "command " + command + " not found in " + where
                        + (command.contains("/") ? "" : " (searched PATH="
                        + sandbox.environment().getOrDefault("PATH", Sandbox.DEFAULT_PATH) + ")"));
            case Contract.EXEC_ELF_INTERPRETER:
            case Contract.EXEC_SCRIPT_INTERPRETER: {
                String what = f.kind().equals(Contract.EXEC_ELF_INTERPRETER) ? "its ELF interpreter" : "its #! interpreter";
                return new CommandNotExecutableException(f.path(), f.errno(), f.interpreter(), "cannot execute "
                        + f.path() + ": " + what + " " + f.interpreter() + " is missing from " + where + "; "
                        + suggestBind(f.interpreter()));
            }
            default: {
                String hint = f.errno() == EACCES ? " (is it executable, on a file system mounted without noexec?)"
                        : f.errno() == ENOENT ? "" : "";
                return new CommandNotExecutableException(f.path(), f.errno(), null,
                        "cannot execute " + f.path() + ": " + strerror(f.errno()) + hint);
            }
        }
    }

    private static String suggestBind(String interpreter) {
        Path dir = Path.of(interpreter).getParent();
        if (dir != null && Files.isDirectory(dir)) {
            return "bind the host's " + dir + " into the sandbox, e.g. .bind(Path.of(\"" + dir + "\"), \"" + dir
                    + "\", true) or on the command line -r " + dir + ":" + dir
                    + " (the libraries it loads must be there too; ldd lists them)";
        }
        return "add " + interpreter + " to the root filesystem";
    }
}
