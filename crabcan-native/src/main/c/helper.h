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
extern int exec_status_fd;
void write_all(int fd, const char *buf, size_t len);
const char *esc(const char *s, char *out, size_t n);
__attribute__((format(printf, 1, 2))) void emit(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void logd(const char *fmt, ...);
__attribute__((noreturn, format(printf, 3, 4))) void fail(const char *step, int err, const char *fmt, ...);
long monotonic_us(void);

/* paths.c */
int open_without_links(const char *path, int flags, mode_t mode);
int open_beneath(int dirfd, const char *path, int flags);
int open_in_root(int rootfd, const char *path, int flags);
int make_mount_point(int rootfd, const char *path, int is_file);

/* mounts.c */
void write_id_maps(pid_t pid, const char *uid_map, const char *gid_map, int allow_setgroups);
pid_t clone_raw(unsigned long flags);
void prepare_in_parent(void);
void enter_root(void);
const char *root_attach_point(void);

/* net.c */
struct nlmsghdr;
struct rtattr;
struct rtattr *add_attr(struct nlmsghdr *n, size_t room, unsigned short type, const void *data, size_t len);
void end_nest(struct nlmsghdr *n, struct rtattr *nest);
void loopback_up(void);
void interface_up(void);
void connect_veth(pid_t init);
pid_t start_net_helper(int sock, pid_t init);
int run_nft(int ns_user, int ns_net, const char *rules, char *why, size_t size);
int load_net_filter(pid_t init);

/* namespaces.c */
void join_namespaces(void);

/* hosts.c */
int watch_host_addresses(int ns_user, int ns_net, const char *rules, char *why, size_t size);
int refuse_new_host_addresses(int s, pid_t init);

/* conntrack.c */
void forget_previous_flows(void);

/* init.c */
__attribute__((noreturn)) void sandbox_init(int sync_rd);
void set_capabilities(void);
void set_groups(void);

/* exec.c */
extern volatile long exec_started_us;
int default_signals(void);
__attribute__((noreturn)) void run_command(int exec_rd, int exec_wr);

/* fds.c */
void receive_passed_fds(int sock);
int above_passed_targets(int fd);
int give_passed_fds(char *listen_pid, size_t size);
void close_passed_fds(void);
void close_copy_fds(void);

/* copies.c */
void copy_in_files(void);
void copy_out_files(void);

/* join.c */
int read_start_time(uint32_t pid, uint64_t *start);
int open_process(uint32_t pid, uint64_t start_time);
int join_sandbox(int sock);

/* hooks.c */
void note_hook_facts(void);
int run_hooks(uint32_t phase, const char *status, char *why, size_t size);
int host_hook(int argc, char **argv);

/* keyring.c */
void join_session_keyring(void);

/* tty.c */
void connect_console(void);
void open_terminal(void);
int take_terminal(void);
void drop_terminal(void);

/* init.c: the signal by which the helper tells init to kill the sandbox and report (C_LIMIT_KILL). */
#define SIG_LIMIT_KILL (SIGRTMIN + 2)

/* main.c */
void enter_cgroups(pid_t pid);
void set_title(const char *title);
int read_exact(int fd, void *buf, size_t len);
int sandbox_helper(int sock, uint32_t plan_len);

/* oci_front.c */
int oci_front(int argc, char **argv);

/* oci_service.c */
int oci_global_takes_value(const char *arg);
int oci_root(int argc, char **argv, char *root, size_t size, int *given);
int oci_open_root(const char *root);
int service_connect(int rootfd, pid_t *service);
int service_connect_path(const char *path, pid_t *service);
int service_start(int rootfd, const char *root, pid_t *service);
const char *oci_java(void);
int oci_jar(char *jar, size_t size);

#endif
