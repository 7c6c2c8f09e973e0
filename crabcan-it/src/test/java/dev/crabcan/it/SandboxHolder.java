package dev.crabcan.it;

import dev.crabcan.Limits;
import dev.crabcan.Network;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.Stdio;
import java.util.ArrayList;
import java.util.List;

/**
 * A JVM that starts a sandbox whose command leaves daemons behind, prints the sandbox's init
 * pid, and waits to be killed. Used to prove that sandboxes die with their JVM. With the
 * argument "limits" the sandbox has a cgroup of its own; with "private PORT" a private network
 * publishing 127.0.0.1:PORT.
 */
public final class SandboxHolder {
    private SandboxHolder() {}

    /** The sandboxes it holds: a SandboxProcess nobody references is finished by the cleaner. */
    private static final List<SandboxProcess> HELD = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        Limits limits = args.length > 0 && args[0].equals("limits") ? Limits.builder().pids(64).build() : Limits.none();
        Network network = args.length > 1 && args[0].equals("private")
                ? Network.privateNetwork().publish(Integer.parseInt(args[1]), 80).publishUdp(Integer.parseInt(args[1]), 53)
                : Network.none();
        SandboxProcess p = Sandbox.builder().limits(limits).network(network)
                .command("/bin/sh", "-c", "sleep 1000 & sleep 1000 & setsid sleep 1000 & echo started; wait")
                .stdin(Stdio.discard()).stderr(Stdio.inherit())
                .build().start();
        HELD.add(p);
        String started = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream())).readLine();
        System.out.println(p.pid() + " " + started);
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
