package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.image.BuildFailedException;
import dev.crabcan.image.BuildListener;
import dev.crabcan.image.BuildStep;
import dev.crabcan.image.CrabfileException;
import dev.crabcan.image.Image;
import dev.crabcan.image.ImageBuild;
import dev.crabcan.image.ImageConfig;
import dev.crabcan.image.ImageException;
import dev.crabcan.image.ImageStore;
import dev.crabcan.internal.image.Store;
import dev.crabcan.internal.image.Tar;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Builds from Crabfiles on the real kernel: RUN steps in sandboxes, layers, the cache, and attacks on both. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class BuildTest {
    private static final List<String> APPLETS = List.of("sh", "echo", "cat", "ls", "rm", "mkdir", "touch", "id",
            "true", "false", "test", "chmod", "stat", "ln", "mkfifo");

    @TempDir
    Path tmp;
    Path ctx;
    ImageStore store;

    @BeforeEach
    void setUp() throws Exception {
        ctx = Files.createDirectories(tmp.resolve("ctx"));
        store = ImageStore.open(tmp.resolve("store"));
    }

    /** A root filesystem of Debian's static busybox, made here. */
    static void busyboxRootfs(Path dir) throws Exception {
        Path busybox = Env.tool("busybox", "busybox-static");
        Files.createDirectories(dir.resolve("bin"));
        Files.copy(busybox, dir.resolve("bin/busybox"));
        for (String a : APPLETS) {
            Files.createSymbolicLink(dir.resolve("bin").resolve(a), Path.of("busybox"));
        }
        Files.createDirectories(dir.resolve("etc"));
        Files.writeString(dir.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n");
        Files.writeString(dir.resolve("etc/group"), "root:x:0:\napp:x:1000:\n");
        Files.createDirectories(dir.resolve("data"));
        Files.writeString(dir.resolve("data/old"), "old");
    }

    /** Every entry of a layer, by name. */
    private Map<String, Tar.Entry> entries(Image.Layer layer) throws IOException {
        Map<String, Tar.Entry> out = new LinkedHashMap<>();
        try (InputStream in = Files.newInputStream(store.directory().resolve("blobs/sha256").resolve(layer.digest().hex()))) {
            Tar.Reader r = new Tar.Reader(in, "layer");
            for (Tar.Entry e = r.next(); e != null; e = r.next()) {
                out.put(e.name(), e);
            }
        }
        return out;
    }

    private static final class Recorder implements BuildListener {
        final List<String> lines = new ArrayList<>();
        final List<Boolean> cached = new ArrayList<>();

        @Override
        public void output(BuildStep step, String line) {
            lines.add(line);
        }

        @Override
        public void stepFinished(BuildStep step, boolean wasCached, long nanos) {
            cached.add(wasCached);
        }
    }

    private Image build(BuildListener l) throws Exception {
        return ImageBuild.builder(store, ctx).tag("t").listener(l).build().run();
    }

    @Test
    void aBuildRunsItsStepsInSandboxesAndARebuildIsCached() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve("hello.txt"), "hello from the context\n");
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                ARG WHO=world
                ENV GREETING="hello"
                COPY hello.txt /app/
                WORKDIR /app
                RUN echo "$GREETING $WHO" > out.txt && cat hello.txt && rm /bin/ls && \\
                    rm -r /data && mkdir /data && touch /data/new && id -u
                COPY --chown=app:app hello.txt owned.txt
                USER 1000
                CMD ["cat", "/app/out.txt"]
                """);
        Recorder first = new Recorder();

        Image image = ImageBuild.builder(store, ctx).tag("t").buildArg("WHO", "crab").listener(first).build().run();

        assertThat(first.lines).containsExactly("hello from the context", "0");
        assertThat(first.cached).containsExactly(false, true, true, false, true, false, false, true, true);
        assertThat(image.layers()).hasSize(4);
        assertThat(image.config().env()).containsEntry("GREETING", "hello");
        assertThat(image.config().workingDir()).isEqualTo("/app");
        assertThat(image.config().user()).isEqualTo("1000");
        assertThat(image.config().cmd()).containsExactly("cat", "/app/out.txt");
        Map<String, Tar.Entry> copy = entries(image.layers().get(1));
        assertThat(copy.get("app/hello.txt").uid()).isZero();
        Map<String, Tar.Entry> run = entries(image.layers().get(2));
        assertThat(run).containsKeys("app/out.txt", "bin/.wh.ls", "data/new");
        // A replaced directory is opaque; if the new one got the old one's inode number back, its
        // removed entries are whited out one by one instead: the same result.
        assertThat(run.containsKey("data/.wh..wh..opq") || run.containsKey("data/.wh.old")).as("data/old hidden: %s",
                run.keySet()).isTrue();
        assertThat(run.get("app/out.txt").uid()).as("made by the sandbox's root: root's in the image, also rootless")
                .isZero();
        assertThat(run.get("app/out.txt").size()).isEqualTo("hello crab\n".length());
        assertThat(run).doesNotContainKeys("proc", "dev", "tmp", "bin/busybox", "app/hello.txt");
        Map<String, Tar.Entry> owned = entries(image.layers().get(3));
        assertThat(owned.get("app/owned.txt").uid()).isEqualTo(1000);
        assertThat(owned.get("app/owned.txt").gid()).isEqualTo(1000);

        SandboxResult ran = Sandbox.builder().image(image).build().run();
        assertThat(ran.stdoutText()).as(ran.stderrText()).isEqualTo("hello crab\n");
        SandboxResult overridden = Sandbox.builder().env("GREETING", "over").image(image)
                .command("/bin/sh", "-c", "echo $GREETING $(id -u) $PWD; cat owned.txt; touch /x").build().run();
        assertThat(overridden.stdoutText()).isEqualTo("over 1000 /app\nhello from the context\n");
        assertThat(overridden.stderrText()).contains("Read-only file system");
        // A writable layer on top: the sandbox writes where the image's root owns the files, and the image keeps none of it.
        SandboxResult wrote = Sandbox.builder().image(image).rootfsWritable(true).command("/bin/sh", "-c",
                "echo new > /x && echo changed > /app/hello.txt && rm /app/out.txt && cat /x /app/hello.txt"
                        + " && ls /app").build().run();
        assertThat(wrote.stdoutText()).as(wrote.stderrText()).isEqualTo("new\nchanged\nhello.txt\nowned.txt\n");
        // The RUN layer's whiteouts hide what lower layers had: /bin/ls removed, /data replaced.
        SandboxResult after = Sandbox.builder().image(image).command("/bin/sh", "-c",
                "ls /x; cat /app/out.txt; ls /data; ls /bin/ls").build().run();
        assertThat(after.stdoutText()).isEqualTo("hello crab\nnew\n");
        assertThat(after.stderrText()).contains("/x: No such file").contains("/bin/ls: No such file");

        Recorder second = new Recorder();
        long start = System.nanoTime();
        Image again = ImageBuild.builder(store, ctx).tag("t").buildArg("WHO", "crab").listener(second).build().run();
        long cachedMs = (System.nanoTime() - start) / 1_000_000;
        assertThat(second.cached).as("every step from the cache").doesNotContain(false);
        assertThat(second.lines).isEmpty();
        assertThat(again.digest()).isEqualTo(image.digest());
        System.out.println("BuildTest: fully cached rebuild of 9 steps took " + cachedMs + " ms");

        Files.writeString(ctx.resolve("hello.txt"), "changed\n");
        Recorder third = new Recorder();
        build(third);
        assertThat(third.cached).as("a changed input misses from its COPY on")
                .containsExactly(true, true, true, false, true, false, false, true, true);
        assertThat(third.lines).containsExactly("changed", "0");
    }

    @Test
    void aRunStepsLayerIsTheUpperDirectoryOfTheOverlayItRanOn() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                RUN mkdir /keep && echo a > /keep/a && echo b > /keep/b
                USER 1000
                RUN echo more >> /data/old && rm /keep/a && rm -r /etc && mkdir /etc && echo x > /etc/new \\
                    && echo mine > /data/mine && id -u
                """);
        Recorder r = new Recorder();

        Image image = build(r);

        assertThat(r.lines).containsExactly("1000");
        Map<String, Tar.Entry> run = entries(image.layers().get(2));
        assertThat(run.get("data/old").uid()).as("root-owned in the image, though USER 1000 wrote it").isZero();
        assertThat(run.get("data").uid()).isZero();
        assertThat(run.get("data/mine").uid()).as("new: the step's user's").isEqualTo(1000);
        assertThat(run.get("etc/new").uid()).isEqualTo(1000);
        assertThat(run).containsKeys("keep/.wh.a", "etc/.wh..wh..opq").doesNotContainKeys("keep/b", "proc", "dev",
                "bin/busybox");
        assertThat(run.values()).as("overlayfs's whiteouts are OCI's").noneMatch(e -> e.type() == Tar.Type.CHAR);
        try (var left = Files.list(store.directory().resolve("tmp"))) {
            assertThat(left).as("the step's upper directory is gone").isEmpty();
        }

        SandboxResult ran = Sandbox.builder().image(image).command("/bin/sh", "-c",
                "ls /keep; ls /etc; cat /data/old /data/mine; test -e /keep/a || echo a gone").build().run();
        assertThat(ran.stdoutText()).as(ran.stderrText()).isEqualTo("b\nnew\noldmore\nmine\na gone\n");
    }

    /**
     * A host root caller's sandbox of an image with supplementary groups: its root is an overlay of
     * idmapped layers under a writable layer, where a file it gives a group keeps it (README, groups).
     */
    @Test
    void aRootCallersImageSandboxHasItsGroups() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Env.isHostRoot(), "a rootless caller's groups are HostIdsTest's");
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.createSymbolicLink(ctx.resolve("rootfs/bin/chgrp"), Path.of("busybox"));
        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\n");
        Image image = build(BuildListener.NONE);
        SandboxResult r = Sandbox.builder().image(image).rootfsWritable(true).uid(1000)
                .supplementaryGroups(List.of(10)).command("/bin/sh", "-c", "id -G; touch /made && chgrp 10 /made && "
                        + "stat -c %g /made; cat /data/old")
                .build().run();
        assertThat(r.status()).as(r.stderrText()).isEqualTo(dev.crabcan.ExitStatus.exited(0));
        assertThat(r.stdoutText()).isEqualTo("1000 10\n10\nold");
    }

    /**
     * A RUN step's files the layers had: changed (appended to, truncated, touched) they keep their
     * owner, removed and made anew they are the step's user's, as where ids are real (a copy-up
     * keeps the file's owner mark, a new file or a directory made where one was removed has none).
     * A file the lower layer has hard links to keeps its owner. A fifo made where a file was is left
     * out (layers have none), and not opened (which would block).
     */
    @Test
    void aFileARunStepMakesAnewIsItsUsersAndAChangedOneKeepsItsOwner() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                USER 1000
                RUN mkdir /w /w/sub /w/sub2 && for f in mod re trunc hl fifo; do echo $f > /w/$f; done \
                    && ln /w/hl /w/hl2 && ln -s mod /w/link && echo s > /w/sub2/s
                USER 0
                RUN echo more >> /w/mod && rm /w/re && echo new > /w/re && echo t > /w/trunc && echo more >> /w/hl \
                    && ln -sf re /w/link && rm -r /w/sub && mkdir /w/sub && touch /w/sub2/s && echo n > /w/new \
                    && rm /w/fifo && mkfifo /w/fifo
                """);

        Image image = build(BuildListener.NONE);

        Map<String, Tar.Entry> made = entries(image.layers().get(1));
        assertThat(made.get("w/mod").uid()).isEqualTo(1000);
        Map<String, Tar.Entry> run = entries(image.layers().get(2));
        Map<String, Long> owners = new java.util.TreeMap<>();
        run.forEach((name, e) -> owners.put(name, e.uid()));
        assertThat(owners).as("uids of the second step's layer").containsAllEntriesOf(Map.of("w", 1000L, "w/mod", 1000L,
                "w/trunc", 1000L, "w/sub2", 1000L, "w/sub2/s", 1000L, "w/hl", 1000L, "w/re", 0L, "w/link", 0L,
                "w/sub", 0L, "w/new", 0L));
        assertThat(run.get("w/re").gid()).isZero();
        SandboxResult r = Sandbox.builder().image(image).command("/bin/sh", "-c",
                "cat /w/mod /w/re /w/trunc /w/hl /w/hl2; ls /w/sub; ls -l /w/link").build().run();
        assertThat(r.stdoutText()).as(r.stderrText()).startsWith("mod\nmore\nnew\nt\nhl\nmore\nhl\n").endsWith("-> re\n");
    }

    /**
     * A RUN step that moves files keeps their owners wherever they go, also onto a path another
     * owner's file had: the owner travels with the file (overlayfs copies up the mark each layer
     * file carries), so a user's setuid file moved onto a root-owned path stays the user's. The
     * step cannot write or remove a mark: every xattr call that would fails (ENOTSUP).
     */
    @Test
    void aFileARunStepMovesKeepsItsOwnerAndTheStepCannotForgeIt() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.copy(Env.staticBinary("xattrs"), ctx.resolve("xattrs"));
        Files.writeString(ctx.resolve("tool"), "#!/bin/sh\necho tool\n");
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                COPY xattrs /bin/
                COPY --chown=1000:1000 --chmod=4755 tool /app/tool
                COPY --chown=1000:1000 tool /app/data
                RUN mkdir /w && echo r > /w/root-owned && echo r > /w/root-too && echo r > /w/forged
                USER 1000
                RUN xattrs /w/forged user.crabcan.owner "1000 1000 4755" && xattrs /app/data user.crabcan.owner "0 0 644"
                USER 0
                RUN mv /app/tool /w/root-owned && mv /app/data /w/moved && mv /w/root-too /w/still-root
                """);
        Recorder r = new Recorder();

        Image image = build(r);

        assertThat(r.lines).as("what the step's xattr calls got").hasSize(16).allMatch(l -> l.endsWith(" errno 95"));
        Map<String, Tar.Entry> tried = entries(image.layers().get(5));
        assertThat(tried.get("w/forged").uid()).isZero();
        assertThat(tried.get("app/data").uid()).isEqualTo(1000);
        Map<String, Tar.Entry> moved = entries(image.layers().get(6));
        Map<String, Long> owners = new java.util.TreeMap<>();
        moved.forEach((name, e) -> owners.put(name, e.uid()));
        assertThat(owners).as("uids of the moving step's layer").containsAllEntriesOf(Map.of("w/root-owned", 1000L,
                "w/moved", 1000L, "w/still-root", 0L));
        assertThat(moved.get("w/root-owned").mode()).isEqualTo(04755);
        assertThat(moved.get("w/root-owned").gid()).isEqualTo(1000);
        assertThat(moved).containsKeys("app/.wh.tool", "app/.wh.data", "w/.wh.root-too");

        // Layer directories unpacked without marks (by an earlier version) are unpacked again, not trusted by path.
        Path layers = store.directory().resolve("layers");
        try (var dirs = Files.list(layers)) {
            for (Path d : dirs.filter(Files::isDirectory).toList()) {
                Files.getFileAttributeView(d, java.nio.file.attribute.UserDefinedFileAttributeView.class)
                        .delete("crabcan.owners");
            }
        }
        Files.writeString(ctx.resolve("Crabfile"), Files.readString(ctx.resolve("Crabfile")).replace("still-root",
                "still-root && true"));
        Image again = build(BuildListener.NONE);
        Map<String, Tar.Entry> removed = entries(again.layers().get(6));
        assertThat(removed.get("w/root-owned").uid()).isEqualTo(1000);
        assertThat(removed.get("w/root-owned").mode()).isEqualTo(04755);
        assertThat(removed.get("w/moved").uid()).isEqualTo(1000);
        try (var dirs = Files.list(layers)) {
            for (Path d : dirs.filter(Files::isDirectory).toList()) {
                assertThat(Files.getFileAttributeView(d, java.nio.file.attribute.UserDefinedFileAttributeView.class)
                        .list()).as("marks of %s", d).contains("crabcan.owners");
            }
        }
    }

    /**
     * A step whose user is not root, changing root's setuid program through a shared mapping (which
     * keeps the setuid bit, where write(2) clears it), leaves it in its layer without the bit, also
     * when it moved it onto a file of the same bytes; one it only touched keeps it.
     */
    @Test
    void aNonRootStepCannotLeaveRootsSetuidProgramChanged() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.copy(Env.staticBinary("mapwrite"), ctx.resolve("mapwrite"));
        Files.writeString(ctx.resolve("tool"), "##/bin/sh\necho tool\n");
        Files.writeString(ctx.resolve("changed"), "#!/bin/sh\necho tool\n");
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                COPY mapwrite /bin/
                COPY --chmod=4755 tool /bin/tool
                COPY --chmod=4755 tool /bin/tool2
                COPY --chmod=4755 tool /bin/tool3
                COPY --chown=1000:1000 changed /app/copy
                USER 1000
                RUN mapwrite /bin/tool && touch /bin/tool2 && mapwrite /bin/tool3 && mv /bin/tool3 /app/copy
                """);
        Recorder r = new Recorder();

        Image image = build(r);

        assertThat(r.lines).as("the bit stayed during the step").containsExactly("mode 4755", "mode 4755");
        Map<String, Tar.Entry> layer = entries(image.layers().get(6));
        assertThat(layer.get("bin/tool").uid()).isZero();
        assertThat(layer.get("bin/tool").mode()).isEqualTo(0755);
        assertThat(layer.get("bin/tool2").mode()).isEqualTo(04755);
        assertThat(layer.get("app/copy").uid()).as("root's program, moved onto a copy of its new bytes").isZero();
        assertThat(layer.get("app/copy").mode()).isEqualTo(0755);
    }

    /**
     * A step's file whose name is not UTF-8 fails the step, named: its name read back as a String
     * would be another file's (byte 0x80 becomes U+FFFD), whose owner, mode or bytes the layer
     * would take.
     */
    @Test
    void aFileNameThatIsNotUtf8FailsTheStepThatMadeIt() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                RUN touch "$(printf 'bad\\200')" "$(printf 'bad\\357\\277\\275')"
                """);

        assertThatThrownBy(() -> build(BuildListener.NONE)).isInstanceOf(CrabfileException.class)
                .hasMessageContaining("Crabfile:2: RUN").hasMessageContaining("is not valid")
                .hasMessageContaining("rename it");
    }

    /** A layer's file of mode 000 (RHEL's /etc/shadow) is unpacked, also by a rootless builder. */
    @Test
    void aLayersFileOfMode000IsUnpacked() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        writeTar(ctx.resolve("shadow.tar"), w -> {
            w.put(Tar.Entry.file("etc/shadow", 0, 0, 42, 2, 0));
            w.write("s\n".getBytes(StandardCharsets.UTF_8), 0, 2);
        });
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                ADD shadow.tar /
                RUN stat -c '%a %s' /etc/shadow
                """);
        Recorder r = new Recorder();

        build(r);

        assertThat(r.lines).containsExactly("0 2");
    }

    /**
     * What a sandbox of an image wrote in its writable layer directory becomes one more layer of a
     * new image once it has ended: its new files its uid's, a changed or moved file of the image its
     * owner's, a removed one whited out; the image's config stays. It cannot write the marks that
     * say whose a file is (every xattr write fails), and a sandbox that still runs is refused.
     */
    @Test
    void whatASandboxOfAnImageWroteIsCommittedAsANewImage() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.copy(Env.staticBinary("xattrs"), ctx.resolve("xattrs"));
        Files.writeString(ctx.resolve("f"), "f\n");
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                COPY xattrs /bin/
                COPY --chown=1000:1000 f /app/f
                CMD ["cat", "/app/g", "/new"]
                """);
        Image image = build(BuildListener.NONE);
        Path dir = Files.createDirectory(tmp.resolve("writable"));
        Sandbox wrote = Sandbox.builder().image(image).writableLayerDirectory(dir).uid(1000).command("/bin/sh", "-c",
                "echo more >> /app/f && mv /app/f /app/g && echo new > /new && rm /data/old"
                        + " && xattrs /new user.crabcan.owner '0 0 644' | grep -vc 'errno 95'").build();
        SandboxProcess ended = wrote.start();
        assertThat(new String(ended.getInputStream().readAllBytes(), StandardCharsets.UTF_8))
                .as("xattr calls that did not fail with ENOTSUP").isEqualTo("0\n");
        assertThat(ended.waitFor()).isEqualTo(1); // grep -c found none
        ended.close();
        Image committed = store.commit(image, ended, "committed");

        assertThat(committed.layers()).hasSize(4).startsWith(image.layers().toArray(new Image.Layer[0]));
        assertThat(committed.config()).isEqualTo(image.config());
        assertThat(store.get("committed").digest()).isEqualTo(committed.digest());
        Map<String, Tar.Entry> layer = entries(committed.layers().get(3));
        assertThat(layer.get("app/g").uid()).isEqualTo(1000);
        assertThat(layer.get("new").uid()).isEqualTo(1000);
        assertThat(layer).containsKeys("app/.wh.f", "data/.wh.old").doesNotContainKeys("proc", "dev", "tmp");
        SandboxResult ran = Sandbox.builder().image(committed).command("/bin/sh", "-c", "cat /app/g /new; ls /data")
                .build().run();
        assertThat(ran.stdoutText()).as(ran.stderrText()).isEqualTo("f\nmore\nnew\n");
        assertThat(Sandbox.builder().image(committed).build().run().stdoutText()).isEqualTo("f\nmore\nnew\n");

        assertThatThrownBy(() -> store.commit(committed, ended, null)).isInstanceOf(ImageException.class)
                .hasMessageContaining("did not run image");
        try (SandboxProcess running = Sandbox.builder().image(image).writableLayerDirectory(dir)
                .command("/bin/sh", "-c", "sleep 60").build().start()) {
            assertThatThrownBy(() -> store.commit(image, running, null)).isInstanceOf(ImageException.class)
                    .hasMessageContaining("still runs");
            running.destroyForcibly().waitFor();
        }
        try (SandboxProcess kept = Sandbox.builder().image(image).command("/bin/true").build().start()) {
            kept.waitFor();
            assertThatThrownBy(() -> store.commit(image, kept, null)).isInstanceOf(ImageException.class)
                    .hasMessageContaining("writableLayerDirectory");
        }
    }

    @Test
    void anImagesWritableLayerIsBounded() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\n");
        Image image = build(BuildListener.NONE);
        assertThat(Sandbox.builder().image(image).command("true").build().writableLayerSize()).isEqualTo(256L << 20);
        assertThatThrownBy(() -> Sandbox.builder().writableLayerSize(100)).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("100");

        // 64 KiB lines, at most 4 MiB in all should the bound not hold.
        SandboxResult r = Sandbox.builder().image(image).rootfsWritable(true).writableLayerSize(1 << 20)
                .command("/bin/sh", "-c", "s=0123456789abcdef; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do s=$s$s; done;"
                        + " i=0; while test $i -lt 64 && echo $s >> /big; do i=$((i+1)); done; stat -c %s /big")
                .build().run();

        assertThat(r.stderrText()).contains("No space left on device");
        assertThat(Long.parseLong(r.stdoutText().trim())).isPositive().isLessThanOrEqualTo(1 << 20);
    }

    @Test
    void aFailingStepNamesItsLineAndShowsItsOutput() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\n\nRUN echo about to fail && exit 3\n");

        assertThatThrownBy(() -> build(BuildListener.NONE)).isInstanceOfSatisfying(BuildFailedException.class, e -> {
            assertThat(e.line()).isEqualTo(3);
            assertThat(e.getMessage()).contains("Crabfile:3: RUN: the command exited with status 3")
                    .contains("about to fail");
        });
        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\nRUN true\nFROBNICATE x\n");
        assertThatThrownBy(() -> build(BuildListener.NONE)).isInstanceOf(CrabfileException.class)
                .hasMessageContaining("Crabfile:3: FROBNICATE: unknown or unsupported instruction");
    }

    @Test
    void copySourcesOutsideTheContextAreRefused() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Path secret = Files.writeString(tmp.resolve("secret"), "host secret");
        Files.createSymbolicLink(ctx.resolve("link"), secret);
        Files.createSymbolicLink(ctx.resolve("dirlink"), tmp);
        Files.writeString(ctx.resolve("ignored"), "x");
        Files.writeString(ctx.resolve(".dockerignore"), "ignored\n");
        for (String source : List.of("../secret", "link", "dirlink/secret", "/../secret", "ignored", "http://example.com/x")) {
            Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\nCOPY " + source + " /x\n");
            assertThatThrownBy(() -> build(BuildListener.NONE)).as(source).isInstanceOf(CrabfileException.class)
                    .hasMessageStartingWith(ctx.resolve("Crabfile") + ":2: COPY: ");
        }
        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\nCOPY link /x\n");
        assertThatThrownBy(() -> build(BuildListener.NONE)).hasMessageContaining("leads outside the build context");
    }

    @Test
    void addExtractsLocalTarballsAndMultiStageCopyTakesFromAStage() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        writeTar(ctx.resolve("files.tar"), w -> {
            w.put(Tar.Entry.directory("d", 0750, 0, 0, 0));
            file(w, "d/f", "from the tarball\n", 1234);
        });
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs AS build
                RUN mkdir /out && echo built > /out/result
                FROM ./rootfs
                ADD files.tar /opt/
                COPY --from=build /out/result /result
                RUN cat /opt/d/f /result
                """);
        Recorder r = new Recorder();
        Image image = build(r);

        assertThat(r.lines).containsExactly("from the tarball", "built");
        Map<String, Tar.Entry> add = entries(image.layers().get(1));
        assertThat(add.get("opt/d/f").uid()).isEqualTo(1234);
        assertThat(add.get("opt/d").mode()).isEqualTo(0750);
    }

    /**
     * COPY to a path that is a symbolic link of the image follows it, inside the image, as BuildKit
     * does: into the directory it names (a link chain too, relative or absolute, climbing above
     * the root or not), or to the path a link to nothing names; the links stay, and a directory
     * copied into keeps its owner and mode.
     */
    @Test
    void copyToALinkFollowsItInsideTheImage() throws Exception {
        Path rootfs = ctx.resolve("rootfs");
        busyboxRootfs(rootfs);
        Files.setPosixFilePermissions(rootfs.resolve("data"), java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-x---"));
        Files.createSymbolicLink(rootfs.resolve("linkdir"), Path.of("/data"));
        Files.createSymbolicLink(rootfs.resolve("chain1"), Path.of("chain2"));
        Files.createSymbolicLink(rootfs.resolve("chain2"), Path.of("../../../linkdir"));
        Files.createSymbolicLink(rootfs.resolve("missing"), Path.of("/made/here"));
        Files.createSymbolicLink(rootfs.resolve("up"), Path.of("/../.."));
        Files.createSymbolicLink(rootfs.resolve("loop"), Path.of("loop"));
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        for (String f : List.of("f1", "f2", "f3", "f4", "f5")) {
            Files.writeString(ctx.resolve(f), f + "\n");
        }
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                COPY f1 /linkdir
                COPY f2 /chain1
                COPY --chown=1000:1000 f3 /linkdir/
                COPY f4 /missing
                COPY f5 /up
                """);

        Image image = build(BuildListener.NONE);

        Map<String, Tar.Entry> first = entries(image.layers().get(1));
        assertThat(first.keySet()).containsExactly("data", "data/f1");
        assertThat(first.get("data").mode()).as("the directory copied into keeps its mode").isEqualTo(0750);
        assertThat(entries(image.layers().get(2)).keySet()).containsExactly("data", "data/f2");
        Map<String, Tar.Entry> chowned = entries(image.layers().get(3));
        assertThat(chowned.get("data").uid()).as("and its owner, whatever --chown says").isZero();
        assertThat(chowned.get("data/f3").uid()).isEqualTo(1000);
        assertThat(entries(image.layers().get(4)).keySet()).containsExactly("made", "made/here");
        assertThat(entries(image.layers().get(5)).keySet()).containsExactly("f5");
        SandboxResult r = Sandbox.builder().image(image).command("/bin/sh", "-c", "cat /data/f1 /data/f2 /data/f3"
                + " /made/here /f5 && test -L /linkdir && test -L /missing && stat -c %a /data").build().run();
        assertThat(r.stdoutText()).as(r.stderrText()).isEqualTo("f1\nf2\nf3\nf4\nf5\n750\n");

        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\nCOPY f1 /loop\n");
        assertThatThrownBy(() -> build(BuildListener.NONE)).isInstanceOf(CrabfileException.class)
                .hasMessageContaining("Crabfile:2: COPY: ").hasMessageContaining("symbolic links");
        for (String dest : List.of("/etc/passwd/x", "/etc/passwd/")) {
            Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\nCOPY f1 " + dest + "\n");
            assertThatThrownBy(() -> build(BuildListener.NONE)).as(dest).isInstanceOf(CrabfileException.class)
                    .hasMessageContaining("/etc/passwd of the image is not a directory");
        }
    }

    /**
     * WORKDIR under a symbolic link of the image follows it, inside the image, as BuildKit does:
     * the directory is made where the link leads (a link climbing above the root stays in the
     * image), RUN works in it and the image's config keeps the path as written.
     */
    @Test
    void workdirUnderALinkFollowsItInsideTheImage() throws Exception {
        Path rootfs = ctx.resolve("rootfs");
        busyboxRootfs(rootfs);
        Files.createDirectories(rootfs.resolve("opt/app"));
        Files.createSymbolicLink(rootfs.resolve("app"), Path.of("/opt/app"));
        Files.createSymbolicLink(rootfs.resolve("up"), Path.of("../../.."));
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                WORKDIR /app/sub
                RUN pwd -P && touch here
                WORKDIR /up/w
                RUN pwd -P
                """);
        Recorder r = new Recorder();

        Image image = build(r);

        assertThat(r.lines).containsExactly("/opt/app/sub", "/w");
        assertThat(entries(image.layers().get(1)).keySet()).containsExactly("opt", "opt/app", "opt/app/sub",
                "opt/app/sub/here");
        assertThat(entries(image.layers().get(2)).keySet()).containsExactly("w");
        assertThat(image.config().workingDir()).isEqualTo("/up/w");
        SandboxResult ran = Sandbox.builder().image(image).command("/bin/sh", "-c", "pwd -P; test -L /app && ls /app/sub")
                .build().run();
        assertThat(ran.stdoutText()).as(ran.stderrText()).isEqualTo("/w\nhere\n");

        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\nWORKDIR /etc/passwd/x\nRUN true\n");
        assertThatThrownBy(() -> build(BuildListener.NONE)).isInstanceOf(CrabfileException.class)
                .hasMessageContaining("WORKDIR /etc/passwd/x: ").hasMessageContaining("/etc/passwd of the image is not a"
                        + " directory");
    }

    /** Two steps that write the same bytes make one layer twice; the image runs (overlayfs takes a directory once). */
    @Test
    void anImageWithALayerTwiceRuns() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Files.writeString(ctx.resolve("a"), "a\n");
        Files.writeString(ctx.resolve("b"), "b\n");
        Files.writeString(ctx.resolve("Crabfile"), """
                FROM ./rootfs
                COPY a /x
                COPY b /x
                COPY a /x
                RUN cat /x
                """);
        Recorder r = new Recorder();
        Image image = build(r);
        assertThat(image.layers().get(3)).isEqualTo(image.layers().get(1));
        assertThat(r.lines).containsExactly("a");
        assertThat(Sandbox.builder().image(image).command("cat", "/x").build().run().stdoutText()).isEqualTo("a\n");
    }

    interface TarBody {
        void write(Tar.Writer w) throws IOException;
    }

    static void writeTar(Path file, TarBody body) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Tar.Writer w = new Tar.Writer(bytes);
        body.write(w);
        w.finish();
        Files.write(file, bytes.toByteArray());
    }

    static void file(Tar.Writer w, String name, String content, long uid) throws IOException {
        byte[] b = content.getBytes(StandardCharsets.UTF_8);
        w.put(Tar.Entry.file(name, 0644, uid, uid, b.length, 0));
        w.write(b, 0, b.length);
    }

    // ---- attacks: each tries for real to write outside the image, and fails the test if it did

    /** A base image whose first layer makes etc a link to a host directory and whose second writes through it. */
    @Test
    void aLayerCannotWriteThroughALinkAnEarlierLayerMade() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Path victim = Files.createDirectories(tmp.resolve("victim"));
        String name = "crabcan-attack-" + UUID.randomUUID();
        List<Path> targets = new ArrayList<>(List.of(victim));
        if (Env.isRoot()) {
            targets.add(Path.of("/etc")); // the host's own /etc, where root could write
        }
        for (Path target : targets) {
            Store s = Store.open(store.directory());
            Image.Layer base;
            try (InputStream in = Files.newInputStream(packed(ctx.resolve("rootfs")))) {
                base = s.putBlob(in).asLayer();
            }
            Image.Layer link = layer(s, w -> w.put(Tar.Entry.symlink("evil", target.toString(), 0, 0, 0)));
            Image.Layer through = layer(s, w -> file(w, "evil/" + name, "pwned", 0));
            s.commit(ImageConfig.empty(), List.of(base, link, through), List.of(), Optional.of("evil"));
            Files.writeString(ctx.resolve("Crabfile"), "FROM evil\nRUN true\n");
            try {
                // Each layer is unpacked in a directory of its own: the later one's evil/ is a directory
                // there, which hides the earlier one's link in the overlay the RUN step runs on.
                build(BuildListener.NONE);
            } finally {
                boolean written = Files.deleteIfExists(target.resolve(name));
                assertThat(written).as("a file written through the link into " + target).isFalse();
            }
        }
    }

    /**
     * COPY to links of the image that point outside it (climbing with {@code ..}, absolute, through
     * {@code /proc/self/root}) writes inside the image, at the path the link names there (which
     * the layers' entries show); the test fails if the file appears on the host.
     */
    @Test
    void copyThroughALinkOutOfTheImageWritesInsideIt() throws Exception {
        Path rootfs = ctx.resolve("rootfs");
        busyboxRootfs(rootfs);
        Path victim = Files.createDirectories(tmp.resolve("victim"));
        List<Path> targets = new ArrayList<>(List.of(victim));
        if (Env.isRoot()) {
            targets.add(Path.of("/etc")); // the host's own /etc, where root could write
        }
        String name = "crabcan-attack-" + UUID.randomUUID();
        Files.writeString(ctx.resolve(name), "pwned\n");
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        StringBuilder crabfile = new StringBuilder("FROM ./rootfs\n");
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < targets.size(); i++) {
            String hostDir = targets.get(i).toString().substring(1);
            Files.createSymbolicLink(rootfs.resolve("climb" + i), Path.of("../".repeat(20) + hostDir));
            Files.createSymbolicLink(rootfs.resolve("abs" + i), targets.get(i));
            Files.createSymbolicLink(rootfs.resolve("proc" + i), Path.of("/proc/self/root/" + hostDir));
            Files.createSymbolicLink(rootfs.resolve("data/deep" + i), Path.of("../../../../" + hostDir + "/" + name));
            crabfile.append("COPY ").append(name).append(" /climb").append(i).append("/\n");
            crabfile.append("COPY ").append(name).append(" /abs").append(i).append("\n");
            crabfile.append("COPY ").append(name).append(" /proc").append(i).append("/\n");
            crabfile.append("COPY ").append(name).append(" /data/deep").append(i).append("\n");
            expected.addAll(List.of(hostDir + "/" + name, hostDir + "/" + name, "proc/self/root/" + hostDir + "/" + name,
                    hostDir + "/" + name));
        }
        crabfile.append("RUN true\n"); // the layers unpacked and mounted, too
        Files.writeString(ctx.resolve("Crabfile"), crabfile.toString());
        Image image;
        try {
            image = build(BuildListener.NONE);
        } finally {
            for (Path target : targets) {
                boolean written = Files.deleteIfExists(target.resolve(name));
                assertThat(written).as("a file written through a link of the image into the host's " + target).isFalse();
            }
            try (var s = Files.list(victim)) {
                assertThat(s.toList()).as("written outside the image").isEmpty();
            }
        }
        for (int i = 0; i < expected.size(); i++) {
            assertThat(entries(image.layers().get(1 + i)).keySet()).as("COPY %d", i).contains(expected.get(i));
        }
    }

    @Test
    void tarballsWithTraversalLinksOrDevicesAreRefused() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Path victim = Files.createDirectories(tmp.resolve("victim"));
        Map<String, TarBody> evil = new LinkedHashMap<>();
        evil.put("dotdot", w -> file(w, "../../victim/x", "pwned", 0));
        evil.put("absolute", w -> file(w, victim + "/x", "pwned", 0));
        evil.put("link", w -> {
            w.put(Tar.Entry.symlink("l", victim.toString(), 0, 0, 0));
            file(w, "l/x", "pwned", 0);
        });
        evil.put("hardlink", w -> w.put(new Tar.Entry("h", Tar.Type.HARDLINK, 0644, 0, 0, 0, 0, "../victim/x", 0, 0)));
        evil.put("device", w -> w.put(new Tar.Entry("null", Tar.Type.CHAR, 0666, 0, 0, 0, 0, "", 1, 3)));
        for (var e : evil.entrySet()) {
            writeTar(ctx.resolve(e.getKey() + ".tar"), e.getValue());
            Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\nADD " + e.getKey() + ".tar /x/\nRUN true\n");
            assertThatThrownBy(() -> build(BuildListener.NONE)).as("ADD " + e.getKey())
                    .isInstanceOf(CrabfileException.class).hasMessageContaining(e.getKey() + ".tar");
            if (!e.getKey().equals("device")) {
                Files.writeString(ctx.resolve("Crabfile"), "FROM ./" + e.getKey() + ".tar\nRUN true\n");
                assertThatThrownBy(() -> build(BuildListener.NONE)).as("FROM " + e.getKey())
                        .isInstanceOf(CrabfileException.class);
            }
            try (var s = Files.list(victim)) {
                assertThat(s.toList()).as("written outside by " + e.getKey()).isEmpty();
            }
        }
    }

    /**
     * A tarball base is read and checked once, then a cache hit until it changes: rewritten in
     * place with the same size, it is read again (its ctime moved) and the build sees the change.
     */
    @Test
    void aTarballBaseIsReadAgainOnlyWhenItChanges() throws Exception {
        busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve(".crabignore"), "rootfs\n");
        Path base = Files.copy(packed(ctx.resolve("rootfs")), ctx.resolve("base.tar"));
        Files.writeString(ctx.resolve("Crabfile"), "FROM ./base.tar\nRUN cat /data/old\n");
        Recorder first = new Recorder();
        build(first);
        Recorder second = new Recorder();
        build(second);
        assertThat(first.cached).containsExactly(false, false);
        assertThat(second.cached).containsExactly(true, true);

        Files.writeString(ctx.resolve("rootfs/data/old"), "new");
        Files.write(base, Files.readAllBytes(packed(ctx.resolve("rootfs"))));
        Recorder third = new Recorder();
        build(third);
        assertThat(third.cached).containsExactly(false, false);
        assertThat(third.lines).containsExactly("new");
    }

    /**
     * A COPY hits the cache exactly when the bytes, names and modes of its sources are unchanged,
     * whether its sources were hashed as its layer was first written or read before a rebuild,
     * also in a store whose entries do not say the step was built before (of an older version).
     */
    @Test
    void aCopyIsACacheHitExactlyWhenItsSourcesBytesAreUnchanged() throws Exception {
        byte[] big = new byte[(3 << 20) + 5];
        new java.util.Random(16).nextBytes(big);
        Path file = Files.write(Files.createDirectories(ctx.resolve("tree/sub")).resolve("big"), big);
        Files.writeString(ctx.resolve("tree/small"), "small\n");
        Files.writeString(ctx.resolve("Crabfile"), "FROM scratch\nCOPY tree /tree\n");
        Recorder first = new Recorder();
        Image image = build(first);
        assertThat(first.cached).containsExactly(true, false);
        assertThat(entries(image.layers().get(0)).get("tree/sub/big").size()).isEqualTo(big.length);

        Recorder again = new Recorder();
        assertThat(build(again).digest()).isEqualTo(image.digest());
        assertThat(again.cached).containsExactly(true, true);
        Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(1_000_000_000_000L));
        Recorder touched = new Recorder();
        assertThat(build(touched).digest()).as("a new mtime alone").isEqualTo(image.digest());
        assertThat(touched.cached).containsExactly(true, true);

        big[big.length / 2] ^= 1;
        Files.write(file, big);
        Recorder changed = new Recorder();
        Image other = build(changed);
        assertThat(changed.cached).as("one byte changed, the size the same").containsExactly(true, false);
        assertThat(other.layers().get(0)).isNotEqualTo(image.layers().get(0));

        big[big.length / 2] ^= 1;
        Files.write(file, big);
        Path cache = store.directory().resolve("cache");
        List<Path> built;
        try (var entries = Files.list(cache)) {
            built = entries.filter(e -> readString(e).contains("\"built\"")).toList();
        }
        assertThat(built).as("one entry per parent and COPY").hasSize(1);
        Files.delete(built.get(0));
        Recorder old = new Recorder();
        assertThat(build(old).digest()).as("the bytes back as they were").isEqualTo(image.digest());
        assertThat(old.cached).containsExactly(true, true);
        assertThat(built.get(0)).as("written again").exists();
    }

    private static String readString(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private Path packed(Path rootfs) throws Exception {
        Path out = tmp.resolve("rootfs.tar");
        Process p = new ProcessBuilder("tar", "--numeric-owner", "-C", rootfs.toString(), "-cf", out.toString(), ".")
                .redirectErrorStream(true).start();
        assertThat(p.waitFor()).isZero();
        return out;
    }

    private static Image.Layer layer(Store s, TarBody body) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Tar.Writer w = new Tar.Writer(bytes);
        body.write(w);
        w.finish();
        return s.putBlob(bytes.toByteArray()).asLayer();
    }
}
