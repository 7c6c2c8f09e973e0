package dev.crabcan.it;

import dev.crabcan.CommandNotFoundException;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.Stdio;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;

/**
 * A JVM for {@link HostIdsTest}, run with -Dcrabcan.idRange. "hold N": starts N sandboxes,
 * prints "INIT HOSTID" for each and waits to be killed. "detach FIFO": creates a detached
 * sandbox, prints its init's pid and exits. "cycle": with a range of one id, runs sandboxes
 * that end every way one after the other, each needing the id the one before let go; prints
 * "cycled".
 */
public final class IdHolder {
    private IdHolder() {}

    /** The sandboxes it holds: a SandboxProcess nobody references is finished by the cleaner. */
    private static final java.util.List<SandboxProcess> HELD = new java.util.ArrayList<>();

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "hold" -> {
                for (int i = 0; i < Integer.parseInt(args[1]); i++) {
                    SandboxProcess p = Sandbox.builder()
                            .command("/bin/sh", "-c", "read inside host count < /proc/self/uid_map; echo $host; "
                                    + "exec sleep 1000")
                            .stdin(Stdio.discard()).stderr(Stdio.inherit()).build().start();
                    HELD.add(p);
                    String host = new BufferedReader(new InputStreamReader(p.getInputStream())).readLine();
                    System.out.println(p.pid() + " " + host);
                }
                System.out.flush();
                Thread.sleep(Long.MAX_VALUE);
            }
            case "detach" -> {
                long init = Sandbox.builder().command("/bin/sleep", "1000")
                        .stdin(Stdio.discard()).stdout(Stdio.discard()).stderr(Stdio.discard()).build()
                        .createDetached(Path.of(args[1]));
                System.out.println(init);
            }
            case "cycle" -> {
                Sandbox ok = Sandbox.builder().command("/bin/true").build();
                require(ok.run());
                SandboxProcess killed = Sandbox.builder().command("/bin/sleep", "1000").build().start();
                killed.destroy();
                killed.waitFor();
                require(ok.run());
                try {
                    Sandbox.builder().command("/no/such/command").build().run();
                    throw new AssertionError("a missing command ran");
                } catch (CommandNotFoundException expected) {
                    // A failed start lets its id go once the sandbox's processes are gone, just after.
                }
                long deadline = System.nanoTime()
                        + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(Env.CLEANUP_CEILING_MS);
                while (true) {
                    try {
                        require(ok.run());
                        break;
                    } catch (SandboxSetupException e) {
                        if (System.nanoTime() > deadline) {
                            throw e;
                        }
                        Thread.sleep(10);
                    }
                }
                System.out.println("cycled");
            }
            default -> throw new IllegalArgumentException(args[0]);
        }
    }

    private static void require(SandboxResult r) {
        if (r.status().isSignaled() || r.status().code() != 0) {
            throw new AssertionError("a sandbox failed: " + r + " " + r.stderrText());
        }
    }
}
