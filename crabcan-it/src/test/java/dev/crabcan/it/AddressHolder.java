package dev.crabcan.it;

import dev.crabcan.Network;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.Stdio;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;

/**
 * A JVM for {@link NetworkTest} that holds private-network sandboxes (a root caller's: veth
 * pairs) with addresses from one subnet. Arguments: SUBNET COUNT PORT. The first sandbox serves
 * TCP on port 8000, published on 127.0.0.1:PORT, and answers each connection with its own
 * address; the others sleep. Prints "INIT ADDRESS" for each as it starts, then "holding", and
 * waits to be killed.
 */
public final class AddressHolder {
    private static final String SERVER = String.join("\n",
            "import socket",
            "probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
            "probe.connect(('198.18.0.9', 9))", // no packet: only picks the source address
            "s = socket.socket(); s.bind(('0.0.0.0', 8000)); s.listen()",
            "while True:",
            "    c, _ = s.accept(); c.sendall((probe.getsockname()[0] + '\\n').encode()); c.close()");

    private AddressHolder() {}

    /** The sandboxes it holds: a SandboxProcess nobody references is finished by the cleaner. */
    private static final List<SandboxProcess> HELD = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        String subnet = args[0];
        int count = Integer.parseInt(args[1]);
        int port = Integer.parseInt(args[2]);
        for (int i = 0; i < count; i++) {
            Network net = Network.privateNetwork().subnet(subnet);
            List<String> command = new ArrayList<>(List.of("/bin/sh", "-c", "cat /proc/net/route; echo; exec \"$@\"",
                    "sh"));
            if (i == 0) {
                net = net.publish(port, 8000);
                command.addAll(List.of("/usr/bin/python3", "-c", SERVER));
            } else {
                command.addAll(List.of("/bin/sleep", "1000"));
            }
            SandboxProcess p = Sandbox.builder().network(net).command(command)
                    .stdin(Stdio.discard()).stderr(Stdio.inherit()).build().start();
            HELD.add(p);
            System.out.println(p.pid() + " " + address(new BufferedReader(new InputStreamReader(p.getInputStream()))));
        }
        System.out.println("holding");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }

    /** eth0's address: the second of the /30 its route names (/proc/net/route, little-endian hex). */
    private static String address(BufferedReader routes) throws IOException {
        String address = null;
        for (String line = routes.readLine(); line != null && !line.isEmpty(); line = routes.readLine()) {
            String[] f = line.trim().split("\\s+");
            if (f[0].equals("eth0") && f[7].equals("FCFFFFFF")) {
                int net = Integer.reverseBytes(Integer.parseUnsignedInt(f[1], 16));
                address = ((net + 2) >>> 24) + "." + ((net + 2) >>> 16 & 255) + "." + ((net + 2) >>> 8 & 255) + "."
                        + ((net + 2) & 255);
            }
        }
        if (address == null) {
            throw new IllegalStateException("no /30 route on eth0 in the sandbox");
        }
        return address;
    }
}
