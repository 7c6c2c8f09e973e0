/*
 * crabcan-oci's service as its front end sees it: the state root it serves, whether the process
 * behind its socket can be trusted, and starting it (once, under a lock) when none answers.
 *
 * The service is a JVM of the caller's user (dev.crabcan.examples.OciService), one per state
 * root. It binds its socket in its Crabcan run directory, which no sandbox may be shown, and
 * links it from <root>/.service (a name no container id can have). The link is only a hint: a
 * peer is trusted because SO_PEERCRED says it runs as our euid in our user and mount namespaces,
 * where no sandbox runs (each has a mount namespace of its own). Anything else, and a root that
 * is not the caller's own, sends the front end to the JVM-per-call path, which reports why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include "helper.h"

#define SERVICE_LINK ".service"
#define SERVICE_CLASS "dev.crabcan.examples.OciService"
#define SERVICE_READY "READY\n"
/* A JVM's start on a loaded machine; past this the call runs on the JVM-per-call path instead. */
#define SERVICE_START_MS 30000
/* /proc/self/ns/user of the initial user namespace (PROC_USER_INIT_INO). */
#define INITIAL_USER_NS_INO 0xEFFFFFFDu

/* What OciRuntime calls host root: uid 0 in the initial user namespace with CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN. */
static int host_root(void)
{
    struct stat ns;
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    if (geteuid() != 0 || stat("/proc/self/ns/user", &ns) < 0 || ns.st_ino != INITIAL_USER_NS_INO
        || syscall(SYS_capget, &header, data) < 0)
        return 0;
    uint32_t need = 1u << CAP_SETGID | 1u << CAP_SETUID | 1u << CAP_SYS_ADMIN;
    return (data[0].effective & need) == need;
}

/* Whether a global option of OciRuntime's, given alone, takes the next argument as its value. */
int oci_global_takes_value(const char *arg)
{
    static const char *const options[] = {"--root", "--log", "--log-format", "--rootless", "--hook-timeout", NULL};
    for (size_t i = 0; options[i]; i++)
        if (strcmp(arg, options[i]) == 0)
            return 1;
    return 0;
}

int oci_root(int argc, char **argv, char *root, size_t size, int *given)
{
    const char *value = NULL;
    for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
            value = argv[++i];
        else if (strncmp(argv[i], "--root=", 7) == 0)
            value = argv[i] + 7;
        else if (oci_global_takes_value(argv[i]) && i + 1 < argc)
            i++;
    }
    *given = value != NULL;
    char xdg[PATH_MAX];
    if (!value) {
        /* OciRuntime's default; its last choice (java.io.tmpdir and user.name) is left to the JVM path. */
        const char *runtime_dir = getenv("XDG_RUNTIME_DIR");
        if (host_root())
            value = "/run/crabcan";
        else if (runtime_dir && *runtime_dir && (size_t)snprintf(xdg, sizeof xdg, "%s/crabcan", runtime_dir) < sizeof xdg)
            value = xdg;
        else
            return -1;
    }
    char cwd[PATH_MAX] = "";
    if (value[0] != '/' && !getcwd(cwd, sizeof cwd))
        return -1;
    int n = snprintf(root, size, "%s%s%s", cwd, *cwd ? "/" : "", value);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

int oci_open_root(const char *root)
{
    if (mkdir(root, 0700) < 0 && errno != EEXIST)
        return -1;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -1;
    /* OciRuntime trusts the root only as the caller's own, writable by nobody else (PrivateDirs). */
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether pid is in our namespace of this kind ("mnt", "user"). */
static int same_namespace(pid_t pid, const char *kind)
{
    char path[64], own[64];
    struct stat theirs, ours;
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, kind);
    snprintf(own, sizeof own, "/proc/self/ns/%s", kind);
    return stat(path, &theirs) == 0 && stat(own, &ours) == 0 && theirs.st_dev == ours.st_dev
           && theirs.st_ino == ours.st_ino;
}

int service_connect_path(const char *path, pid_t *service)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return -1;
    strcpy(addr.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ucred peer;
    socklen_t len = sizeof peer;
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0
        || getsockopt(s, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || peer.uid != geteuid()
        || (*service > 0 && peer.pid != *service) || !same_namespace(peer.pid, "user")
        || !same_namespace(peer.pid, "mnt")) {
        close(s);
        return -1;
    }
    *service = peer.pid;
    return s;
}

int service_connect(int rootfd, pid_t *service)
{
    struct stat st;
    char path[64];
    /* Our own link (a link's owner is who made it); where it leads is checked by the peer's credentials. */
    if (fstatat(rootfd, SERVICE_LINK, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode) || st.st_uid != geteuid())
        return -1;
    snprintf(path, sizeof path, "/proc/self/fd/%d/" SERVICE_LINK, rootfd);
    *service = 0;
    return service_connect_path(path, service);
}

/* Whether "READY\n" arrives on fd before the deadline (the service bound its socket and linked it). */
static int await_ready(int fd)
{
    char line[sizeof SERVICE_READY] = "";
    size_t got = 0;
    struct timespec now, end;
    if (clock_gettime(CLOCK_MONOTONIC, &end) < 0)
        return 0;
    end.tv_sec += SERVICE_START_MS / 1000;
    while (got < sizeof SERVICE_READY - 1) {
        if (clock_gettime(CLOCK_MONOTONIC, &now) < 0)
            return 0;
        long left = (long)(end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ready = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return 0;
        ssize_t n = read(fd, line + got, sizeof SERVICE_READY - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0; /* it exited: its root or cache was refused, or java is missing */
        got += (size_t)n;
    }
    return memcmp(line, SERVICE_READY, got) == 0;
}

/*
 * Starts the service detached: a session of its own (no terminal's signals), "/" as its directory
 * (it must not hold the caller's busy), /dev/null as stdin and stderr (an engine waits for the end
 * of the pipes it gave us), stdout a pipe on which it says READY. Its code runs once or a few times
 * per request, so C2 would compile it only after thousands of requests, and until then its
 * compiler threads take a core from the containers being started (a quarter of the service's CPU
 * in a profile of 200 runs after 300 of warm-up): C1 alone compiles it within the first few
 * hundred.
 */
static int spawn(int rootfd, const char *root, pid_t *service)
{
    char jar[PATH_MAX];
    const char *java = oci_java();
    int ready[2];
    if (oci_jar(jar, sizeof jar) < 0 || pipe2(ready, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || setsid() < 0 || chdir("/") < 0 || dup2(null, 0) < 0 || dup2(ready[1], 1) < 0
            || dup2(null, 2) < 0)
            _exit(127);
        char *args[] = {(char *)java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Xshare:auto",
                        "-cp", jar, SERVICE_CLASS, (char *)root, NULL};
        execvp(java, args);
        _exit(127);
    }
    close(ready[1]);
    int ok = pid > 0 && await_ready(ready[0]);
    close(ready[0]);
    if (!ok) {
        if (pid > 0 && kill(pid, SIGKILL) == 0)
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return -1;
    }
    int s = service_connect(rootfd, service);
    if (s >= 0 && *service != pid) {
        close(s); /* the link names another process than the one we started */
        return -1;
    }
    return s;
}

int service_start(int rootfd, const char *root, pid_t *service)
{
    /* Two front ends that found no service must not start two: the second finds the first's. */
    if (flock(rootfd, LOCK_EX) < 0)
        return -1;
    int s = service_connect(rootfd, service);
    if (s < 0)
        s = spawn(rootfd, root, service);
    if (flock(rootfd, LOCK_UN) < 0 && s >= 0) {
        close(s);
        return -1;
    }
    return s;
}

const char *oci_java(void)
{
    const char *java = getenv("JAVA");
    return java && *java ? java : "java";
}

int oci_jar(char *jar, size_t size)
{
    const char *env = getenv("CRABCAN_JAR");
    if (env && *env)
        return (size_t)snprintf(jar, size, "%s", env) < size ? 0 : -1;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return (size_t)snprintf(jar, size, "%s/crabcan.jar", self) < size ? 0 : -1;
}
