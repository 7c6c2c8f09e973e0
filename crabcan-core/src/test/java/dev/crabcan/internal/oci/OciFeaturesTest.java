package dev.crabcan.internal.oci;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.internal.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Everything the features document lists is carried out: a config asking for it is read without refusal. */
class OciFeaturesTest {
    private static final String MINIMAL = """
            {"ociVersion": "1.2.0", "process": {"user": {"uid": 0, "gid": 0}, "args": ["/bin/sh"], "cwd": "/"},
             "root": {"path": "rootfs"},
             "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                                      {"type": "mount"}]}}""";

    @TempDir
    Path bundle;

    @SuppressWarnings("unchecked")
    private static Map<String, Object> config() throws Exception {
        return (Map<String, Object>) Json.parse(MINIMAL);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> at(Map<String, Object> m, String key) {
        return (Map<String, Object>) m.get(key);
    }

    @Test
    void everyListedMountOptionIsCarriedOutOnABind() throws Exception {
        Files.createDirectories(bundle.resolve("rootfs"));
        Files.createDirectories(bundle.resolve("src"));
        for (String option : OciFeatures.MOUNT_OPTIONS) {
            Map<String, Object> c = config();
            c.put("mounts", List.of(Map.of("destination", "/mnt", "type", "bind", "source", "src",
                    "options", List.of("rbind", option))));
            assertThat(OciConfig.read(bundle, c).binds()).as(option).hasSize(1);
        }
    }

    @Test
    void everyListedNamespaceCapabilityAndSeccompActionAndOperatorIsAccepted() throws Exception {
        Files.createDirectories(bundle.resolve("rootfs"));
        for (String ns : OciFeatures.NAMESPACES) {
            Map<String, Object> c = config();
            List<Object> list = new ArrayList<>((List<?>) at(c, "linux").get("namespaces"));
            list.add(Map.of("type", ns));
            at(c, "linux").put("namespaces", list);
            OciConfig.read(bundle, c);
        }
        for (Object cap : (List<?>) at(OciFeatures.document("test"), "linux").get("capabilities")) {
            Map<String, Object> c = config();
            at(c, "process").put("capabilities", Map.of("bounding", List.of(cap), "effective", List.of(cap),
                    "permitted", List.of(cap), "inheritable", List.of(cap), "ambient", List.of(cap)));
            OciConfig.read(bundle, c);
        }
        for (String action : OciFeatures.SECCOMP_ACTIONS) {
            Map<String, Object> c = config();
            at(c, "linux").put("seccomp", Map.of("defaultAction", "SCMP_ACT_ALLOW", "architectures",
                    List.of("SCMP_ARCH_X86_64"), "syscalls", List.of(Map.of("names", List.of("personality"),
                            "action", action))));
            OciConfig.read(bundle, c);
        }
        for (String op : OciFeatures.SECCOMP_OPERATORS) {
            Map<String, Object> c = config();
            at(c, "linux").put("seccomp", Map.of("defaultAction", "SCMP_ACT_ALLOW", "syscalls", List.of(Map.of(
                    "names", List.of("personality"), "action", "SCMP_ACT_ERRNO",
                    "args", List.of(Map.of("index", 0L, "value", 8L, "valueTwo", 8L, "op", op))))));
            OciConfig.read(bundle, c);
        }
    }

    @Test
    void everyListedHookRuns() throws Exception {
        Files.createDirectories(bundle.resolve("rootfs"));
        for (String kind : OciFeatures.HOOKS) {
            Map<String, Object> c = config();
            c.put("hooks", Map.of(kind, List.of(Map.of("path", "/bin/true"))));
            Files.writeString(bundle.resolve("config.json"), Json.write(c));
            assertThat(OciConfig.readForRuntime(bundle).hooks()).containsKey(kind);
        }
    }
}
