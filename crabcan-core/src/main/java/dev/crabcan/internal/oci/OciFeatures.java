package dev.crabcan.internal.oci;

import dev.crabcan.Capability;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * runtime-spec's features document ({@code crabcan-oci features}): what a config may ask of this
 * runtime. Each list names only what {@link OciConfig} carries out (OciFeaturesTest reads a config
 * with each entry), so an engine that trusts it gets no refusal for something listed.
 */
public final class OciFeatures {
    /** Hooks crabcan-oci runs (the others are refused). */
    static final List<String> HOOKS = OciConfig.RUNTIME_HOOKS;
    /** Mount options carried out for bind mounts (plus tmpfs' size= and mode=, which take a value). */
    static final List<String> MOUNT_OPTIONS = List.of("async", "atime", "bind", "defaults", "diratime", "exec",
            "noatime", "nodev", "nodiratime", "noexec", "norelatime", "nostrictatime", "nosuid", "private", "ratime",
            "rbind", "rdiratime", "relatime", "rexec", "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnorelatime",
            "rnostrictatime", "rnosuid", "ro", "rprivate", "rrelatime", "rro", "rrw", "rstrictatime", "rw",
            "strictatime");
    /** Namespace types a config may list; user and cgroup are always new, whether listed or not. */
    static final List<String> NAMESPACES = List.of("cgroup", "ipc", "mount", "network", "pid", "user", "uts");
    static final List<String> SECCOMP_ACTIONS = List.of("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
            "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRAP");
    static final List<String> SECCOMP_OPERATORS = List.of("SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
            "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE");

    private OciFeatures() {}

    /** The document, JSON-ready; cgroupV1 and cgroupV2 say which cgroup versions the runtime places cgroups on. */
    public static Map<String, Object> document(String runtimeVersion) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("ociVersionMin", "1.0.0");
        f.put("ociVersionMax", OciConfig.OCI_VERSION);
        f.put("hooks", HOOKS);
        f.put("mountOptions", MOUNT_OPTIONS);
        Map<String, Object> linux = new LinkedHashMap<>();
        linux.put("namespaces", NAMESPACES);
        linux.put("capabilities", Arrays.stream(Capability.values()).map(c -> "CAP_" + c.name()).toList());
        Map<String, Object> cgroup = new LinkedHashMap<>();
        cgroup.put("v1", true);
        cgroup.put("v2", true);
        // --systemd-cgroup asks systemd for a transient scope: host root's system manager, or the caller's user manager.
        cgroup.put("systemd", true);
        cgroup.put("systemdUser", true);
        cgroup.put("rdma", false);
        linux.put("cgroup", cgroup);
        Map<String, Object> seccomp = new LinkedHashMap<>();
        seccomp.put("enabled", true);
        seccomp.put("actions", SECCOMP_ACTIONS);
        seccomp.put("operators", SECCOMP_OPERATORS);
        seccomp.put("archs", List.of("SCMP_ARCH_X86_64"));
        seccomp.put("knownFlags", List.of());
        seccomp.put("supportedFlags", List.of());
        linux.put("seccomp", seccomp);
        linux.put("apparmor", Map.of("enabled", false));
        linux.put("selinux", Map.of("enabled", false));
        linux.put("intelRdt", Map.of("enabled", false));
        linux.put("mountExtensions", Map.of("idmap", Map.of("enabled", false)));
        f.put("linux", linux);
        f.put("annotations", Map.of("dev.crabcan.version", runtimeVersion));
        return f;
    }
}
