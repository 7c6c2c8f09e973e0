/*
 * A hostile member of a pod (SharedNamespaceTest): it shares the pod's IPC and UTS namespaces and
 * tries everything its root could do to them or to the pod's private IPC objects. Prints one line
 * per attempt, "NAME refused ERRNO" or "NAME DONE", and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

static void verdict(const char *name, int ok)
{
    if (ok)
        printf("%s DONE\n", name);
    else
        printf("%s refused %d\n", name, errno);
    fflush(stdout);
}

static void write_file(const char *name, const char *path, const char *value)
{
    int fd = open(path, O_WRONLY);
    int ok = fd >= 0 && write(fd, value, strlen(value)) == (ssize_t)strlen(value);
    verdict(name, ok);
    if (fd >= 0)
        close(fd);
}

int main(void)
{
    verdict("sethostname", sethostname("stolen", 6) == 0);
    verdict("setdomainname", setdomainname("stolen", 6) == 0);
    write_file("proc-hostname", "/proc/sys/kernel/hostname", "stolen");
    write_file("proc-domainname", "/proc/sys/kernel/domainname", "stolen");
    write_file("shmmax", "/proc/sys/kernel/shmmax", "4096");
    write_file("msgmnb", "/proc/sys/kernel/msgmnb", "1");
    write_file("shm_rmid_forced", "/proc/sys/kernel/shm_rmid_forced", "1");
    write_file("shm_next_id", "/proc/sys/kernel/shm_next_id", "7");
    write_file("queues_max", "/proc/sys/fs/mqueue/queues_max", "0");
    /* Every System V object of the namespace, by index: read, attach, change, remove. */
    for (int i = 0; i < 64; i++) {
        struct shmid_ds ds;
        int id = shmctl(i, SHM_STAT_ANY, &ds);
        if (id < 0)
            continue;
        printf("shm %d uid %u mode %o\n", id, ds.shm_perm.uid, ds.shm_perm.mode & 0777);
        void *p = shmat(id, NULL, 0);
        verdict("shmat", p != (void *)-1);
        if (p != (void *)-1)
            printf("secret %.16s\n", (char *)p);
        ds.shm_perm.mode = 0666;
        verdict("shm-ipc-set", shmctl(id, IPC_SET, &ds) == 0);
        verdict("shm-lock", shmctl(id, SHM_LOCK, NULL) == 0);
        verdict("shm-rmid", shmctl(id, IPC_RMID, NULL) == 0);
    }
    for (int i = 0; i < 64; i++) {
        struct msqid_ds ds;
        int id = msgctl(i, MSG_STAT_ANY, &ds);
        if (id < 0)
            continue;
        printf("msg %d uid %u mode %o\n", id, ds.msg_perm.uid, ds.msg_perm.mode & 0777);
        struct { long type; char text[64]; } m;
        verdict("msgrcv", msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT | MSG_NOERROR) >= 0);
        verdict("msg-rmid", msgctl(id, IPC_RMID, NULL) == 0);
    }
    for (int i = 0; i < 64; i++) {
        struct semid_ds ds;
        union { int val; struct semid_ds *buf; } arg = {.buf = &ds};
        int id = semctl(i, 0, SEM_STAT_ANY, arg);
        if (id < 0)
            continue;
        printf("sem %d uid %u mode %o\n", id, ds.sem_perm.uid, ds.sem_perm.mode & 0777);
        verdict("sem-rmid", semctl(id, 0, IPC_RMID) == 0);
    }
    mqd_t q = mq_open("/pod-secret", O_RDONLY | O_NONBLOCK);
    verdict("mq_open", q != (mqd_t)-1);
    verdict("mq_unlink", mq_unlink("/pod-secret") == 0);
    /* The pod's mqueue instance, mounted by the helper: remount it, make it shared, mount it anew. */
    verdict("remount-mqueue", mount(NULL, "/dev/mqueue", NULL, MS_REMOUNT | MS_BIND, NULL) == 0);
    verdict("reconfigure-mqueue", mount(NULL, "/dev/mqueue", NULL, MS_REMOUNT, NULL) == 0);
    verdict("new-mqueue", mount("mqueue", "/tmp", "mqueue", 0, NULL) == 0);
    verdict("umount-mqueue", umount2("/dev/mqueue", MNT_DETACH) == 0);
    verdict("unshare-ipc-uts", unshare(CLONE_NEWIPC | CLONE_NEWUTS) == 0);
    return 0;
}
