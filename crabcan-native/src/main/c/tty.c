/*
 * The command's terminal (T_CONSOLE), as OCI runtimes give it: a new pty of the sandbox's own
 * devpts, opened inside once its root is in place, whose master goes to the engine's console
 * socket and whose other end becomes the command's stdio and controlling terminal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "helper.h"

/* The terminal the command takes in take_terminal(); -1: none. */
static int console_slave = -1;

/*
 * Connects to the console socket, on the host and with the caller's ids, before anything enters
 * the sandbox: the path is the engine's and lies outside the sandbox's root.
 */
void connect_console(void)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(plan.console_socket) >= sizeof addr.sun_path)
        fail(S_CONSOLE, ENAMETOOLONG, "console socket %s", plan.console_socket);
    strcpy(addr.sun_path, plan.console_socket);
    plan.console_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (plan.console_fd < 0 || connect(plan.console_fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        fail(S_CONSOLE, errno, "connect to the console socket %s", plan.console_socket);
}

/*
 * Opens a new pty through the current root's /dev/ptmx, sends its master to the console socket
 * and keeps the other end for take_terminal(). The root is the sandbox's, which the sandbox may
 * have changed: /dev/ptmx is looked up inside it without magic links, opened without blocking (a
 * FIFO there must not hang us) and must be the pty multiplexer; the other end is reached through
 * the master (TIOCGPTPEER), never by a path.
 */
void open_terminal(void)
{
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        fail(S_CONSOLE, errno, "open the sandbox's root");
    int master = open_in_root(root, "/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (master < 0)
        fail(S_CONSOLE, errno, "open /dev/ptmx of the sandbox (a terminal needs a devpts mounted at /dev/pts)");
    close(root);
    struct stat st;
    if (fstat(master, &st) < 0)
        fail(S_CONSOLE, errno, "stat /dev/ptmx");
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
        fail(S_CONSOLE, EINVAL, "/dev/ptmx of the sandbox is not the pty multiplexer (5:2)");
    int unlock = 0;
    unsigned int n;
    if (fcntl(master, F_SETFL, 0) < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
        fail(S_CONSOLE, errno, "set up the new pty");
    if (plan.console_rows || plan.console_cols) {
        struct winsize ws = {.ws_row = (unsigned short)plan.console_rows, .ws_col = (unsigned short)plan.console_cols};
        if (ioctl(master, TIOCSWINSZ, &ws) < 0)
            fail(S_CONSOLE, errno, "set the terminal's size to %u rows, %u columns", plan.console_rows,
                 plan.console_cols);
    }
    console_slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (console_slave < 0)
        fail(S_CONSOLE, errno, "open the pty's terminal end");

    /* As runc sends it: one byte of data at least (the terminal's name) carries the fd. */
    char name[32];
    snprintf(name, sizeof name, "/dev/pts/%u", n);
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = name, .iov_len = strlen(name)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &master, sizeof master);
    ssize_t sent;
    while ((sent = sendmsg(plan.console_fd, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (sent < 0)
        fail(S_CONSOLE, errno, "send the terminal to the console socket %s", plan.console_socket);
    close(master);
    close(plan.console_fd);
    plan.console_fd = -1;
}

/*
 * The command's side: a session of its own with the terminal as controlling terminal and stdio.
 * It may share init's memory (vfork), so it leaves console_slave alone; the fd is close-on-exec.
 * -1 with errno on failure.
 */
int take_terminal(void)
{
    if (console_slave < 0)
        return 0;
    if (setsid() < 0 || ioctl(console_slave, TIOCSCTTY, 0) < 0)
        return -1;
    for (int fd = 0; fd <= 2; fd++)
        if (dup2(console_slave, fd) < 0)
            return -1;
    return 0;
}

/* Init, once the command has its own copy: the terminal must end with the command. */
void drop_terminal(void)
{
    if (console_slave >= 0)
        close(console_slave);
    console_slave = -1;
}
