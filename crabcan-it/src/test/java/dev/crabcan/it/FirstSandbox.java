package dev.crabcan.it;

import dev.crabcan.Sandbox;
import dev.crabcan.Stdio;

/** A fresh JVM that runs one sandboxed /bin/true (or, with "pb", one ProcessBuilder /bin/true) and exits. */
public final class FirstSandbox {
    private FirstSandbox() {}

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("pb")) {
            new ProcessBuilder("/bin/true").start().waitFor();
        } else {
            Sandbox.builder().command("/bin/true").stdin(Stdio.discard()).stdout(Stdio.discard())
                    .stderr(Stdio.discard()).build().run();
        }
    }
}
