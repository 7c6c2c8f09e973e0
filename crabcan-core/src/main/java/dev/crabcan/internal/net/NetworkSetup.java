package dev.crabcan.internal.net;

import dev.crabcan.Network;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.plan.NetPlan;

/**
 * The host side of one sandbox's network: what goes into the plan, and what the JVM removes when
 * the sandbox ends.
 */
public interface NetworkSetup {
    NetPlan plan();

    /** Removes everything made for the sandbox; idempotent, safe after a failed start. */
    void release();

    /** Reserves what the sandbox's network needs before it starts (addresses, host ports). */
    static NetworkSetup create(Network network, HostInfo host) throws SandboxSetupException {
        return switch (network.mode()) {
            case NONE -> fixed(NetPlan.NONE);
            // Joined by the helper (see PlanCompiler): no namespace of its own.
            case HOST, NAMESPACE -> fixed(NetPlan.HOST);
            case PRIVATE -> host.isHostRoot() ? Veth.allocate(network) : Pasta.prepare(network);
        };
    }

    /** A network whose plan says it all: nothing for the JVM to remove. */
    static NetworkSetup fixed(NetPlan plan) {
        return new NetworkSetup() {
            @Override
            public NetPlan plan() {
                return plan;
            }

            @Override
            public void release() {}
        };
    }
}
