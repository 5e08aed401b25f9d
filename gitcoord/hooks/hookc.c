/* gitcoord's hook client in C: an installed hook's call handed to the hooks' warm server without
 * starting Python (`gitcoord.hooks.native`, DESIGN §9).
 *
 *     hookc LINK -- PYTHON [FLAGS...] -c BOOT HOOK SCRIPT MODE [ARGS...]
 *
 * LINK names the socket that the hooks' server of this install and interpreter links in the
 * runtime directory (`hook-LINK.sock`). Everything after `--` is the hook as it runs without this
 * client. The request is the one `warm/client.py` sends (marshal; argv and the environment as
 * bytes), so the server runs the same `gitcoord.hooks.run.entry` in a forked child with this
 * process's streams, directory, umask and environment, and this process exits as that child did.
 * Whenever the call cannot be handed over (GITCOORD_WARM=0, the C locale, a terminal, no server, a
 * refusal, no answer within the handshake time) nothing has run, and this process becomes the
 * Python command (execv): the hook then runs exactly as if this client were not there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define PROTOCOL 1 /* native.PROTOCOL */
static const int FORWARDED[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT}; /* client.FORWARDED */
#define NFORWARDED 4
static volatile sig_atomic_t pending[NFORWARDED]; /* signals that came before the child's pid */
static volatile pid_t child = 0;
static char **fallback;

/* The hook as it runs without this client. Never returns. */
static void run_in_python(void) {
    execv(fallback[0], fallback);
    fprintf(stderr, "gitcoord: cannot run %s: %s\n", fallback[0], strerror(errno));
    _exit(127);
}

static void on_signal(int sig) {
    if (child > 0) {
        if (kill(-child, sig) != 0) kill(child, sig); /* its group; the child alone before it has one */
        return;
    }
    for (int i = 0; i < NFORWARDED; i++)
        if (FORWARDED[i] == sig) pending[i] = 1;
}

static void catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int i = 0; i < NFORWARDED; i++) sigaction(FORWARDED[i], &sa, NULL);
}

/* Nothing ran: the default handlers again, a signal that came meanwhile acted on, then Python. */
static void give_up(void) {
    for (int i = 0; i < NFORWARDED; i++) signal(FORWARDED[i], SIG_DFL);
    for (int i = 0; i < NFORWARDED; i++)
        if (pending[i]) raise(FORWARDED[i]);
    run_in_python();
}

/* -- the request, in marshal's format (counts little-endian), as `marshal.loads` reads it ----- */

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static void put(Buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 8192;
        while (cap < b->len + n) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) run_in_python(); /* nothing sent yet */
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_u32(Buf *b, uint32_t v) {
    unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff};
    put(b, le, 4);
}

/* One marshal string of `n` bytes: `type` 'u' a str (ASCII here), 's' bytes. */
static void put_sized(Buf *b, char type, const char *s, size_t n) {
    put(b, &type, 1);
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

static void put_text(Buf *b, const char *s) { put_sized(b, 'u', s, strlen(s)); }

static void put_bytes(Buf *b, const char *s) { put_sized(b, 's', s, strlen(s)); }

static void put_int(Buf *b, int32_t v) {
    put(b, "i", 1);
    put_u32(b, (uint32_t)v);
}

/* {"key": "", "native": 1, "link": LINK, "entry": "hook", "argv": [b"-c", HOOK...],
 *  "env": {b"NAME": b"value"...}, "umask": N, "pid": N, "ppid": N}: Python's sys.argv of
 * `python -c BOOT HOOK ...` is "-c" followed by what comes after BOOT. */
static void build_request(Buf *body, const char *link, char **after_boot) {
    put(body, "{", 1);
    put_text(body, "key");
    put_text(body, "");
    put_text(body, "native");
    put_int(body, PROTOCOL);
    put_text(body, "link");
    put_text(body, link);
    put_text(body, "entry");
    put_text(body, "hook");
    put_text(body, "argv");
    uint32_t count = 1;
    for (char **a = after_boot; *a; a++) count++;
    put(body, "[", 1);
    put_u32(body, count);
    put_bytes(body, "-c");
    for (char **a = after_boot; *a; a++) put_bytes(body, *a);
    put_text(body, "env");
    put(body, "{", 1);
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        put_sized(body, 's', *e, (size_t)(eq - *e));
        put_bytes(body, eq + 1);
    }
    put(body, "0", 1); /* the end of a dict */
    mode_t mask = umask(022);
    umask(mask);
    put_text(body, "umask");
    put_int(body, (int32_t)mask);
    put_text(body, "pid");
    put_int(body, (int32_t)getpid());
    put_text(body, "ppid");
    put_int(body, (int32_t)getppid()); /* the git process that runs this hook */
    put(body, "0", 1);
}

/* -- talking to the server ------------------------------------------------------------------- */

static int private_dir(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() && !(st.st_mode & 077);
}

/* The 4-byte size with this process's stdin, stdout, stderr and directory, then the body. */
static int send_request(int sock, const Buf *body) {
    int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cwd < 0) return -1;
    int fds[4] = {0, 1, 2, cwd};
    unsigned char size[4] = {body->len >> 24, body->len >> 16, body->len >> 8, body->len};
    struct iovec iov = {size, 4};
    union {
        char buf[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    ssize_t sent;
    do
        sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    close(cwd);
    if (sent != 4) return -1;
    for (size_t done = 0; done < body->len;) {
        ssize_t n = send(sock, body->data + done, body->len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        done += (size_t)n;
    }
    return 0;
}

static char line[256];
static size_t have = 0;

/* The next line of the server's answer into `line` (its newline dropped), waiting at most `ms`
 * milliseconds (-1: no limit). 0, or -1 when the server closed, failed or said nothing in time. */
static int read_line(int sock, int ms) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        char *nl = memchr(line, '\n', have);
        if (nl) {
            *nl = '\0';
            return 0;
        }
        if (have == sizeof line - 1) return -1;
        int wait = ms;
        if (ms >= 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
            wait = spent >= ms ? 0 : ms - (int)spent;
        }
        struct pollfd p = {sock, POLLIN, 0};
        int ready = poll(&p, 1, wait);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return -1;
        ssize_t n = recv(sock, line + have, sizeof line - 1 - have, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        have += (size_t)n;
    }
}

static void consume_line(void) {
    size_t used = strlen(line) + 1;
    memmove(line, line + used, have - used);
    have -= used;
}

/* GITCOORD_WARM_HANDSHAKE_SECONDS when it is a number of seconds up to an hour, else 30
 * (`keys.handshake_seconds`). */
static int handshake_ms(void) {
    const char *value = getenv("GITCOORD_WARM_HANDSHAKE_SECONDS");
    char *end = NULL;
    double seconds = value && *value ? strtod(value, &end) : 30.0;
    if ((end && *end) || !(seconds > 0 && seconds <= 3600)) seconds = 30.0;
    return (int)(seconds * 1000);
}

/* Exit as the child did: its code, or death by the same signal. */
static void exit_like(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
        raise(sig);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: hookc LINK -- PYTHON [FLAGS...] -c BOOT HOOK SCRIPT MODE [ARGS...]\n");
        return 2;
    }
    fallback = argv + 3;
    int boot = 0; /* where `-c BOOT` is in the Python command */
    for (int i = 1; fallback[i] && !boot; i++)
        if (strcmp(fallback[i], "-c") == 0 && fallback[i + 1]) boot = i + 1;
    const char *warm = getenv("GITCOORD_WARM");
    if (!boot || (warm && strcmp(warm, "0") == 0)) run_in_python();
    /* In the C locale the interpreter coerces it to a UTF-8 one, exports LC_CTYPE and runs in UTF-8
     * mode (PEP 538, 540): its environment and flags are not this process's, nor maybe the server's. */
    const char *ctype = setlocale(LC_CTYPE, "");
    if (!ctype || strcmp(ctype, "C") == 0 || strcmp(ctype, "POSIX") == 0) run_in_python();
    int tty = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (tty >= 0) { /* a commit from a terminal runs its hooks in-process (`client.hook_entry`) */
        close(tty);
        run_in_python();
    }

    char dir[4096], path[4096];
    const char *base = getenv("XDG_RUNTIME_DIR"); /* `keys.runtime_dir` */
    int n = base && base[0] == '/' ? snprintf(dir, sizeof dir, "%s/gitcoord", base)
                                   : snprintf(dir, sizeof dir, "/tmp/gitcoord-%u", (unsigned)getuid());
    if (n <= 0 || (size_t)n >= sizeof dir || !private_dir(dir)) run_in_python();
    n = snprintf(path, sizeof path, "%s/hook-%s.sock", dir, argv[1]);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct stat st;
    if (n <= 0 || (size_t)n >= sizeof addr.sun_path) run_in_python();
    if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != getuid()) run_in_python();
    memcpy(addr.sun_path, path, (size_t)n + 1);
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) run_in_python();
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != getuid()) run_in_python();

    Buf body = {0};
    build_request(&body, argv[1], fallback + boot + 1);
    catch_signals(); /* from here on a call may be running: no signal may be lost */
    if (send_request(sock, &body) != 0 || read_line(sock, handshake_ms()) != 0 || strncmp(line, "pid ", 4) != 0)
        give_up();
    pid_t pid = (pid_t)atoi(line + 4);
    if (pid <= 0) give_up();
    consume_line();
    child = pid;
    for (int i = 0; i < NFORWARDED; i++) /* sent while the call was being set up: it is the call's */
        if (pending[i]) on_signal(FORWARDED[i]);
    if (read_line(sock, -1) != 0 || strncmp(line, "exit ", 5) != 0) {
        /* The server went away mid-call: the child may have done its work; never run it again. */
        fputs("gitcoord: internal error: the warm server stopped before the call ended.\n", stderr);
        _exit(1);
    }
    exit_like(atoi(line + 5));
}
