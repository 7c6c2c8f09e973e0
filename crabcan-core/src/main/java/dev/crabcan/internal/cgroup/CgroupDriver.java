package dev.crabcan.internal.cgroup;

import dev.crabcan.Limits;
import dev.crabcan.SandboxException;

/** Creates sandbox cgroups on one cgroup version, below one parent. */
public interface CgroupDriver {

    /** A new cgroup with these limits, which no process is in yet. */
    SandboxCgroup create(Limits limits) throws SandboxException;

    /** Which version and where, for messages and logs. */
    String describe();
}
