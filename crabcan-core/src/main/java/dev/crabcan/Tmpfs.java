package dev.crabcan;

/**
 * An empty in-memory file system mounted inside the sandbox, gone when it ends.
 *
 * @param target the absolute path inside the sandbox
 * @param sizeBytes the most it may hold; 0 means the kernel's default (half of RAM)
 */
public record Tmpfs(String target, long sizeBytes) {
    public Tmpfs {
        Validation.containerPath(target, "tmpfs target");
        if (sizeBytes < 0) {
            throw new SandboxSpecException("tmpfs size must not be negative, got " + sizeBytes + " for " + target);
        }
    }
}
