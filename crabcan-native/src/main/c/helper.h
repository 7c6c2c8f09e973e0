/*
 * What the helper's files call in one another, by the file that defines it. Each file's own
 * helpers stay static there.
 */
#ifndef CRABCAN_HELPER_H
#define CRABCAN_HELPER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "plan.h"

/* report.c */
extern int report_fd;
extern int report_is_socket;
void write_all(int fd, const char *buf, size_t len);
const char *esc(const char *s, char *out, size_t n);
__attribute__((format(printf, 1, 2))) void emit(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void logd(const char *fmt, ...);
__attribute__((noreturn, format(printf, 3, 4))) void fail(const char *step, int err, const char *fmt, ...);

/* paths.c */
int open_without_links(const char *path, int flags, mode_t mode);
int open_in_root(int rootfd, const char *path, int flags);
int make_mount_point(int rootfd, const char *path, int is_file);

/* mounts.c */
void write_id_maps(pid_t pid, const char *uid_map, const char *gid_map);
pid_t clone_raw(unsigned long flags);
void prepare_in_parent(void);
void enter_root(void);

/* net.c */
void loopback_up(void);
void interface_up(void);
void await_network(int sock, pid_t init);
pid_t start_net_helper(int sock, pid_t init);
void join_netns(void);

/* init.c */
__attribute__((noreturn)) void sandbox_init(int sync_rd);

/* exec.c */
__attribute__((noreturn)) void run_command(int exec_rd, int exec_wr);

/* main.c */
void set_title(const char *title);

#endif
