package dev.crabcan;

import java.nio.file.Path;

/**
 * A terminal for the command, as OCI runtimes give one ({@code process.terminal}): a new pty of
 * the sandbox's own devpts (so the sandbox needs a devpts at {@code /dev/pts}) becomes the
 * command's stdin, stdout, stderr and controlling terminal, in a session of its own, and its
 * master is sent to the Unix stream socket at {@code consoleSocket} (SCM_RIGHTS, with the
 * terminal's name, such as {@code /dev/pts/0}, as the message), which the caller listens on, as
 * an OCI engine does with {@code --console-socket}. The sandbox's own stdio settings then do not
 * reach the command. Immutable and thread-safe; compares by value.
 *
 * @param consoleSocket an absolute path, connected to with the caller's ids before the sandbox exists
 * @param rows the terminal's rows, 0 for the kernel's default
 * @param columns its columns, 0 for the kernel's default
 */
public record Terminal(Path consoleSocket, int rows, int columns) {
    public Terminal {
        Validation.notNull(consoleSocket, "console socket");
        if (!consoleSocket.isAbsolute() || consoleSocket.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)
                .length > 107) {
            throw new SandboxSpecException("console socket " + consoleSocket + " must be an absolute path of at most "
                    + "107 bytes (a Unix socket's limit)");
        }
        if (rows < 0 || rows > 65535 || columns < 0 || columns > 65535) {
            throw new SandboxSpecException("terminal size " + rows + "x" + columns + " must be 0 to 65535 rows and "
                    + "columns");
        }
    }

    /** A terminal of the kernel's default size whose master goes to {@code consoleSocket}. */
    public static Terminal sentTo(Path consoleSocket) {
        return new Terminal(consoleSocket, 0, 0);
    }

    /** This terminal with the given size. */
    public Terminal withSize(int rows, int columns) {
        return new Terminal(consoleSocket, rows, columns);
    }
}
