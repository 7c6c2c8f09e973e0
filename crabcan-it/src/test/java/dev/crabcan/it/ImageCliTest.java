package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The image commands of the CLI jar, and images exchanged with podman both ways. */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ImageCliTest {
    @TempDir
    Path tmp;
    Path ctx;
    String store;

    @BeforeEach
    void setUp() throws Exception {
        ctx = Files.createDirectories(tmp.resolve("ctx"));
        BuildTest.busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("hello.sh"), "echo \"Hello from $(cat /etc/os)\"\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                RUN echo crabcan > /etc/os
                COPY hello.sh /hello.sh
                CMD ["/bin/sh", "/hello.sh"]
                """);
        store = tmp.resolve("store").toString();
    }

    private CliTest.Run cli(String... args) throws Exception {
        return CliTest.cli("", tmp, args);
    }

    @Test
    void buildRunImagesSaveLoadRmiAndPrune() throws Exception {
        CliTest.Run first = cli("build", "--store", store, "-t", "hello", ctx.toString());
        assertThat(first.status()).as(first.stderr()).isZero();
        assertThat(first.stdout()).contains("STEP 1/4: FROM ./rootfs", "STEP 2/4: RUN echo crabcan > /etc/os",
                "Built hello:latest");
        CliTest.Run again = cli("build", "--store", store, "-t", "hello", ctx.toString());
        assertThat(again.stdout().lines().filter(l -> l.startsWith("  --> ")).toList()).hasSize(4)
                .allMatch(l -> l.startsWith("  --> cached"));

        CliTest.Run run = cli("run", "--store", store, "hello");
        assertThat(run.stdout()).as(run.stderr()).isEqualTo("Hello from crabcan\n");
        assertThat(run.status()).isZero();
        CliTest.Run cmd = cli("run", "--store", store, "hello", "/bin/sh", "-c", "exit 7");
        assertThat(cmd.status()).isEqualTo(7);

        Path archive = tmp.resolve("hello.tar");
        assertThat(cli("save", "--store", store, "hello", "-o", archive.toString()).status()).isZero();
        String other = tmp.resolve("other").toString();
        CliTest.Run load = cli("load", "--store", other, "-i", archive.toString());
        assertThat(load.stdout()).as(load.stderr()).isEqualTo("loaded hello:latest\n");
        assertThat(cli("run", "--store", other, "hello").stdout()).isEqualTo("Hello from crabcan\n");
        assertThat(cli("images", "--store", other).stdout()).contains("hello:latest");

        assertThat(cli("rmi", "--store", store, "hello").status()).isZero();
        CliTest.Run gone = cli("run", "--store", store, "hello");
        assertThat(gone.status()).isEqualTo(1);
        assertThat(gone.stderr()).contains("no image 'hello'").contains("crabcan build -t hello");
        assertThat(cli("prune", "--store", store).stdout()).startsWith("pruned ");
        try (var blobs = Files.list(Path.of(store, "blobs/sha256"))) {
            assertThat(blobs.toList()).isEmpty();
        }
    }

    @Test
    void aFailingStepSaysWhichLineFailed() throws Exception {
        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\nRUN echo output of the step; exit 4\n");
        CliTest.Run r = cli("build", "--store", store, ctx.toString());
        assertThat(r.status()).isEqualTo(1);
        assertThat(r.stdout()).contains("  | output of the step");
        assertThat(r.stderr()).contains("Crabfile:2: RUN: the command exited with status 4");
    }

    /** podman loads and runs what crabcan saves; crabcan loads and runs what podman saves. */
    @Test
    void podmanRunsWhatCrabcanSavesAndCrabcanRunsWhatPodmanSaves() throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        Path podman = Env.tool("podman", "podman");
        Env.tool("runc", "runc");
        assertThat(cli("build", "--store", store, "-t", "hello", ctx.toString()).status()).isZero();
        Path archive = tmp.resolve("hello.tar");
        assertThat(cli("save", "--store", store, "hello", "-o", archive.toString()).status()).isZero();

        // Storage of its own (vfs: no mounts to leave behind), runc (crun refuses this host's hybrid cgroups),
        // and the limits this host lets a runtime set (see PodmanTest).
        List<String> p = List.of(podman.toString(), "--root", tmp.resolve("proot").toString(), "--runroot",
                tmp.resolve("prun").toString(), "--storage-driver", "vfs");
        CliTest.Run loaded = podman(p, "load", "-i", archive.toString());
        assertThat(loaded.stdout() + loaded.stderr()).contains("Loaded image: localhost/hello:latest");
        CliTest.Run ran = podman(p, "run", "--rm", "--runtime", "runc", "--network", "none", "--pids-limit", "-1",
                "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "localhost/hello:latest");
        assertThat(ran.stdout()).as(ran.stderr()).isEqualTo("Hello from crabcan\n");

        Path rootfsTar = tmp.resolve("rootfs.tar");
        assertThat(new ProcessBuilder("tar", "-C", ctx.resolve("rootfs").toString(), "-cf", rootfsTar.toString(), ".")
                .start().waitFor()).isZero();
        assertThat(podman(p, "import", rootfsTar.toString(), "localhost/made-by-podman:1").status()).isZero();
        Path podmanArchive = tmp.resolve("podman.tar");
        assertThat(podman(p, "save", "--format", "oci-archive", "-o", podmanArchive.toString(),
                "localhost/made-by-podman:1").status()).isZero();
        CliTest.Run load = cli("load", "--store", store, "-i", podmanArchive.toString());
        assertThat(load.stdout()).as(load.stderr()).isEqualTo("loaded localhost/made-by-podman:1\n");
        CliTest.Run run = cli("run", "--store", store, "localhost/made-by-podman:1", "/bin/echo", "made by podman");
        assertThat(run.stdout()).as(run.stderr()).isEqualTo("made by podman\n");
        podman(p, "rmi", "-a", "-f");
    }

    private CliTest.Run podman(List<String> base, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(base);
        cmd.addAll(List.of(args));
        return CliTest.run(new ProcessBuilder(cmd), "");
    }
}
