package dev.crabcan.internal.image;

import dev.crabcan.image.Digest;
import dev.crabcan.image.ImageConfig;
import dev.crabcan.image.ImageException;
import dev.crabcan.internal.json.Json;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The JSON documents of the OCI image spec (config, manifest, index) and Docker's variants of
 * them that {@code docker save} writes. Written compactly with a fixed key order and no
 * timestamps, so the same build gives the same digests.
 */
public final class OciFormat {
    public static final String MANIFEST = "application/vnd.oci.image.manifest.v1+json";
    public static final String INDEX = "application/vnd.oci.image.index.v1+json";
    public static final String CONFIG = "application/vnd.oci.image.config.v1+json";
    public static final String LAYER = "application/vnd.oci.image.layer.v1.tar";
    public static final String LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
    public static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    public static final String DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
    public static final String DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /** The annotation of an index entry that names the image. */
    public static final String REF_NAME = "org.opencontainers.image.ref.name";

    /** A content descriptor: what a manifest and an index point with. */
    public record Descriptor(String mediaType, Digest digest, long size, Map<String, String> annotations) {
        public Descriptor {
            annotations = Map.copyOf(annotations);
        }

        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("mediaType", mediaType);
            m.put("digest", digest.toString());
            m.put("size", size);
            if (!annotations.isEmpty()) {
                m.put("annotations", new java.util.TreeMap<>(annotations));
            }
            return m;
        }
    }

    public record Config(ImageConfig config, List<Digest> diffIds, List<String> history) {}

    public record Manifest(Descriptor config, List<Descriptor> layers) {}

    private OciFormat() {
    }

    public static byte[] config(ImageConfig c, List<Digest> diffIds, List<String> history) {
        Map<String, Object> inner = new LinkedHashMap<>();
        if (c.user() != null) {
            inner.put("User", c.user());
        }
        if (!c.exposedPorts().isEmpty()) {
            inner.put("ExposedPorts", emptyObjects(c.exposedPorts()));
        }
        if (!c.env().isEmpty()) {
            inner.put("Env", c.env().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
        }
        if (!c.entrypoint().isEmpty()) {
            inner.put("Entrypoint", c.entrypoint());
        }
        if (!c.cmd().isEmpty()) {
            inner.put("Cmd", c.cmd());
        }
        if (!c.volumes().isEmpty()) {
            inner.put("Volumes", emptyObjects(c.volumes()));
        }
        if (c.workingDir() != null) {
            inner.put("WorkingDir", c.workingDir());
        }
        if (!c.labels().isEmpty()) {
            inner.put("Labels", c.labels());
        }
        if (c.stopSignal() != null) {
            inner.put("StopSignal", c.stopSignal());
        }
        if (!c.shell().isEmpty()) {
            inner.put("Shell", c.shell()); // Docker's extension; OCI readers ignore unknown keys
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("architecture", architecture());
        m.put("os", "linux");
        m.put("config", inner);
        Map<String, Object> rootfs = new LinkedHashMap<>();
        rootfs.put("type", "layers");
        rootfs.put("diff_ids", diffIds.stream().map(Digest::toString).toList());
        m.put("rootfs", rootfs);
        if (!history.isEmpty()) {
            m.put("history", history.stream().map(h -> Map.of("created_by", h)).toList());
        }
        return Json.write(m).getBytes(StandardCharsets.UTF_8);
    }

    private static Map<String, Object> emptyObjects(Iterable<String> keys) {
        Map<String, Object> m = new LinkedHashMap<>();
        keys.forEach(k -> m.put(k, Map.of()));
        return m;
    }

    /** OCI's name of this JVM's CPU architecture (GOARCH). */
    public static String architecture() {
        String a = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        return switch (a) {
            case "x86_64", "amd64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            case "x86", "i386", "i686" -> "386";
            default -> a;
        };
    }

    public static Config parseConfig(byte[] json, String where) throws ImageException {
        Map<String, Object> m = object(parse(json, where), where);
        ImageConfig.Builder b = ImageConfig.builder();
        Object innerObj = m.get("config");
        try {
            if (innerObj != null) {
                Map<String, Object> c = object(innerObj, where + " config");
                for (String e : strings(c.get("Env"), where + " Env")) {
                    int eq = e.indexOf('=');
                    b.env(eq < 0 ? e : e.substring(0, eq), eq < 0 ? "" : e.substring(eq + 1));
                }
                b.user(string(c.get("User"), where + " User"));
                String wd = string(c.get("WorkingDir"), where + " WorkingDir");
                b.workingDir(wd == null || wd.isEmpty() ? null : wd);
                b.entrypoint(strings(c.get("Entrypoint"), where + " Entrypoint"));
                b.cmd(strings(c.get("Cmd"), where + " Cmd"));
                b.shell(strings(c.get("Shell"), where + " Shell"));
                if (c.get("Labels") != null) {
                    for (Map.Entry<String, Object> e : object(c.get("Labels"), where + " Labels").entrySet()) {
                        b.label(e.getKey(), string(e.getValue(), where + " label " + e.getKey()));
                    }
                }
                if (c.get("ExposedPorts") != null) {
                    object(c.get("ExposedPorts"), where + " ExposedPorts").keySet().forEach(b::exposedPort);
                }
                if (c.get("Volumes") != null) {
                    object(c.get("Volumes"), where + " Volumes").keySet().forEach(b::volume);
                }
                String sig = string(c.get("StopSignal"), where + " StopSignal");
                b.stopSignal(sig == null || sig.isEmpty() ? null : sig);
            }
        } catch (IllegalArgumentException e) {
            throw new ImageException(where + ": " + e.getMessage(), e);
        }
        List<Digest> diffIds = new ArrayList<>();
        if (m.get("rootfs") != null) {
            for (String d : strings(object(m.get("rootfs"), where + " rootfs").get("diff_ids"), where + " diff_ids")) {
                diffIds.add(digest(d, where));
            }
        }
        List<String> history = new ArrayList<>();
        if (m.get("history") instanceof List<?> h) {
            for (Object o : h) {
                if (o instanceof Map<?, ?> e && !Boolean.TRUE.equals(e.get("empty_layer"))) {
                    history.add(e.get("created_by") instanceof String s ? s : "");
                }
            }
        }
        return new Config(b.build(), diffIds, history);
    }

    public static byte[] manifest(Descriptor config, List<Descriptor> layers) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("schemaVersion", 2L);
        m.put("mediaType", MANIFEST);
        m.put("config", config.toJson());
        m.put("layers", layers.stream().map(Descriptor::toJson).toList());
        return Json.write(m).getBytes(StandardCharsets.UTF_8);
    }

    public static Manifest parseManifest(byte[] json, String where) throws ImageException {
        Map<String, Object> m = object(parse(json, where), where);
        String type = string(m.get("mediaType"), where + " mediaType");
        if (type != null && !type.equals(MANIFEST) && !type.equals(DOCKER_MANIFEST)) {
            throw new ImageException(where + ": media type " + type + " is not an image manifest");
        }
        Descriptor config = descriptor(m.get("config"), where + " config");
        List<Descriptor> layers = new ArrayList<>();
        if (!(m.get("layers") instanceof List<?> list)) {
            throw new ImageException(where + ": no layers array");
        }
        for (Object o : list) {
            layers.add(descriptor(o, where + " layer"));
        }
        return new Manifest(config, layers);
    }

    public static byte[] index(List<Descriptor> manifests) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("schemaVersion", 2L);
        m.put("mediaType", INDEX);
        m.put("manifests", manifests.stream().map(Descriptor::toJson).toList());
        return Json.write(m).getBytes(StandardCharsets.UTF_8);
    }

    public static List<Descriptor> parseIndex(byte[] json, String where) throws ImageException {
        Map<String, Object> m = object(parse(json, where), where);
        List<Descriptor> out = new ArrayList<>();
        if (!(m.get("manifests") instanceof List<?> list)) {
            throw new ImageException(where + ": no manifests array");
        }
        for (Object o : list) {
            out.add(descriptor(o, where + " manifest"));
        }
        return out;
    }

    public static Object parse(byte[] json, String where) throws ImageException {
        try {
            return Json.parse(new String(json, StandardCharsets.UTF_8));
        } catch (Json.ParseException e) {
            throw new ImageException(where + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    private static Descriptor descriptor(Object o, String where) throws ImageException {
        Map<String, Object> m = object(o, where);
        Map<String, String> annotations = new LinkedHashMap<>();
        if (m.get("annotations") != null) {
            for (Map.Entry<String, Object> e : object(m.get("annotations"), where + " annotations").entrySet()) {
                annotations.put(e.getKey(), string(e.getValue(), where + " annotation"));
            }
        }
        if (!(m.get("size") instanceof Long size) || size < 0) {
            throw new ImageException(where + ": size missing or not a non-negative integer");
        }
        return new Descriptor(string(m.get("mediaType"), where + " mediaType"),
                digest(string(m.get("digest"), where + " digest"), where), size, annotations);
    }

    private static Digest digest(String s, String where) throws ImageException {
        try {
            return Digest.parse(s);
        } catch (IllegalArgumentException e) {
            throw new ImageException(where + ": " + e.getMessage() + " (only sha256 digests are supported)", e);
        }
    }

    @SuppressWarnings("unchecked")
    public static Map<String, Object> object(Object o, String where) throws ImageException {
        if (!(o instanceof Map)) {
            throw new ImageException(where + ": expected a JSON object");
        }
        return (Map<String, Object>) o;
    }

    public static String string(Object o, String where) throws ImageException {
        if (o != null && !(o instanceof String)) {
            throw new ImageException(where + ": expected a string");
        }
        return (String) o;
    }

    public static List<String> strings(Object o, String where) throws ImageException {
        if (o == null) {
            return List.of();
        }
        if (!(o instanceof List<?> l) || l.stream().anyMatch(e -> !(e instanceof String))) {
            throw new ImageException(where + ": expected an array of strings");
        }
        return l.stream().map(String.class::cast).toList();
    }
}
