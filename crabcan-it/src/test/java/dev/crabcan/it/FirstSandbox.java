package dev.crabcan.it;

import dev.crabcan.Limits;
import dev.crabcan.Sandbox;
import dev.crabcan.Stdio;

/**
 * A fresh JVM that runs one sandboxed /bin/true (or, with "pb", one ProcessBuilder /bin/true;
 * with "limits", a sandbox that has a cgroup) and exits.
 */
public final class FirstSandbox {
    private FirstSandbox() {}

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("pb")) {
            new ProcessBuilder("/bin/true").start().waitFor();
        } else {
            Limits limits = args.length > 0 && args[0].equals("limits") ? Limits.builder().pids(64).build()
                    : Limits.none();
            Sandbox.builder().limits(limits).command("/bin/true").stdin(Stdio.discard()).stdout(Stdio.discard())
                    .stderr(Stdio.discard()).build().run();
        }
    }
}
