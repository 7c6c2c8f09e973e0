package dev.crabcan.it;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.Stdio;

/**
 * A JVM that starts a sandbox whose command leaves daemons behind, prints the sandbox's init
 * pid, and waits to be killed. Used to prove that sandboxes die with their JVM.
 */
public final class SandboxHolder {
    private SandboxHolder() {}

    public static void main(String[] args) throws Exception {
        SandboxProcess p = Sandbox.builder()
                .command("/bin/sh", "-c", "sleep 1000 & sleep 1000 & setsid sleep 1000 & echo started; wait")
                .stdin(Stdio.discard()).stderr(Stdio.inherit())
                .build().start();
        String started = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream())).readLine();
        System.out.println(p.pid() + " " + started);
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
