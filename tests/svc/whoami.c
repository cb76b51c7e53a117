/* whoami: the test service the runtime's tests run as a replica.
 *
 * It listens on $STARLING_HOST (default 127.0.0.1) port $STARLING_PORT and
 * answers every connection with one line, then closes it:
 *
 *   service=S replica=R node=N port=P pid=PID\n
 *
 * When $WHOAMI_ECHO holds a comma-separated list of variable names, the line
 * also carries " NAME=value" for each of them (the empty string when unset),
 * so that tests can see the environment a replica got. It exits 0 on SIGTERM,
 * and 1 with one line on stderr when a variable is missing or it cannot
 * listen. With $WHOAMI_CRASH_AFTER_MS it exits 3 on purpose after that many
 * milliseconds, to play a crashing service.
 *
 * With $WHOAMI_HTTP=1 it speaks HTTP/1.1 instead, to play a service with an
 * HTTP health check: it reads the request's head (at most 4 KB, 1 s), and
 * answers `GET /healthz` with 200 "ok", or with 503 "unhealthy" while the
 * file $WHOAMI_UNHEALTHY_FILE exists or once $WHOAMI_UNHEALTHY_AFTER_MS
 * milliseconds have passed since it started; any other path gets 200 and
 * the line above as the body. Every answer closes the connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void on_term(int sig)
{
    (void)sig;
    _exit(0);
}

static const char *need(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "whoami: %s is not set\n", name);
        exit(1);
    }
    return v;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int listen_on(const char *host, const char *port_s)
{
    char *end;
    long port = strtol(port_s, &end, 10);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (*end || port <= 0 || port > 65535 || inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "whoami: bad address %s:%s\n", host, port_s);
        exit(1);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0) {
        fprintf(stderr, "whoami: cannot listen on %s:%s: %s\n", host, port_s, strerror(errno));
        exit(1);
    }
    return fd;
}

/* Formats the answer line into buf. */
static void answer(char *buf, size_t cap, const char *service, const char *replica,
                   const char *node, const char *port)
{
    size_t n = (size_t)snprintf(buf, cap, "service=%s replica=%s node=%s port=%s pid=%ld", service,
                                replica, node, port, (long)getpid());
    const char *echo = getenv("WHOAMI_ECHO");
    char names[1024];
    snprintf(names, sizeof names, "%s", echo ? echo : "");
    for (char *save = NULL, *name = strtok_r(names, ",", &save); name && n < cap;
         name = strtok_r(NULL, ",", &save)) {
        const char *v = getenv(name);
        n += (size_t)snprintf(buf + n, cap - n, " %s=%s", name, v ? v : "");
    }
    if (n < cap - 1) {
        buf[n++] = '\n';
        buf[n] = '\0';
    }
}

static long long started_ms;

/* Whether /healthz should fail now. */
static int unhealthy(void)
{
    const char *file = getenv("WHOAMI_UNHEALTHY_FILE"),
               *after = getenv("WHOAMI_UNHEALTHY_AFTER_MS");
    struct stat st;
    if (file && *file && stat(file, &st) == 0)
        return 1;
    return after && *after && now_ms() - started_ms >= atoll(after);
}

/* Answers one HTTP request on c. */
static void serve_http(int c, const char *line)
{
    char req[4096] = "";
    size_t got = 0;
    while (got < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0)
            return;
        ssize_t n = read(c, req + got, sizeof req - 1 - got);
        if (n <= 0)
            return;
        got += (size_t)n;
        req[got] = 0;
    }
    const char *status = "200 OK", *body = line;
    if (!strncmp(req, "GET /healthz ", 13)) {
        int bad = unhealthy();
        status = bad ? "503 Service Unavailable" : "200 OK";
        body = bad ? "unhealthy\n" : "ok\n";
    }
    char out[4096];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     status, strlen(body), body);
    ssize_t w = write(c, out, n > 0 && (size_t)n < sizeof out ? (size_t)n : 0);
    (void)w;
}

int main(void)
{
    started_ms = now_ms();
    const char *service = need("STARLING_SERVICE"), *replica = need("STARLING_REPLICA"),
               *node = need("STARLING_NODE"), *port = need("STARLING_PORT");
    const char *host = getenv("STARLING_HOST");
    if (!host || !*host)
        host = "127.0.0.1";
    const char *crash = getenv("WHOAMI_CRASH_AFTER_MS"), *http = getenv("WHOAMI_HTTP");
    int http_mode = http && !strcmp(http, "1");
    long long crash_at = crash ? now_ms() + atoll(crash) : -1;

    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int lfd = listen_on(host, port);
    fprintf(stderr, "whoami: %s.%s listening on %s:%s\n", service, replica, host, port);

    char line[2048];
    answer(line, sizeof line, service, replica, node, port);
    for (;;) {
        int timeout = -1;
        if (crash_at >= 0) {
            long long left = crash_at - now_ms();
            if (left <= 0) {
                fprintf(stderr, "whoami: crashing on purpose (WHOAMI_CRASH_AFTER_MS=%s)\n", crash);
                exit(3);
            }
            timeout = (int)left;
        }
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, timeout) <= 0)
            continue;
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            continue;
        if (http_mode) {
            serve_http(c, line);
        } else {
            ssize_t w = write(c, line, strlen(line));
            (void)w;
        }
        close(c);
    }
}
