/*
 * heartbeat_floor.c: the least any program can do to serve heartbeat peers, for the scale benchmark's comparison.
 *
 * It makes the system calls the watchdog's link reactor makes per peer and nothing else: one
 * epoll, one recv per readiness into one shared buffer, one send of a ready-made beat frame per
 * peer per interval, beats due within 2 ms sent in one wake-up. It does not decode, time out,
 * check attributes or log. The first bytes a connection sends are taken as its Hello and answered
 * with the Welcome and Attributes frames given on the command line (encoded by cm_bench with this
 * repository's codec), so the benchmark's peers are the same real heartbeat links as against the
 * watchdog. Its CPU is therefore a floor: what one recv and one send per peer-second cost on this
 * kernel, with the peers' TCP work that loopback charges to the sender.
 *
 * Usage: heartbeat_floor PORT INTERVAL_MS REPLY_HEX BEAT_HEX   (prints "listening" when ready)
 * Only for the benchmark: it trusts its peers and stops on SIGTERM.
 * Peers do not reconnect during a run: a closed descriptor is not reused before the run ends.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PEERS 65536
#define SLACK_MS 2

struct peer
{
    int up;
    int64_t next_beat_ms;
    int next;   /* the next descriptor in the same wheel slot, or -1 */
};

static struct peer peers[MAX_PEERS];
static int wheel[1024]; /* one slot per millisecond, modulo: the first descriptor due in it */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t unhex(const char *hex, unsigned char *out, size_t room)
{
    size_t n = strlen(hex) / 2;
    if (n > room)
        exit(2);
    for (size_t i = 0; i < n; i++)
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
    return n;
}

static void enqueue(int fd, int64_t due)
{
    int slot = (int)(due & 1023);
    peers[fd].next_beat_ms = due;
    peers[fd].next = wheel[slot];
    wheel[slot] = fd;
}

int main(int argc, char **argv)
{
    if (argc != 5)
    {
        fprintf(stderr, "usage: heartbeat_floor PORT INTERVAL_MS REPLY_HEX BEAT_HEX\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int64_t interval = atoi(argv[2]);
    static unsigned char reply[4096], beat[256], buffer[65536];
    size_t reply_len = unhex(argv[3], reply, sizeof reply);
    size_t beat_len = unhex(argv[4], beat, sizeof beat);
    for (int i = 0; i < 1024; i++)
        wheel[i] = -1;

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 4096) != 0)
    {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    printf("listening\n");
    fflush(stdout);

    struct epoll_event events[256];
    int64_t done_ms = now_ms(); /* every slot before this was run */
    for (;;)
    {
        int n = epoll_wait(ep, events, 256, 1);
        for (int i = 0; i < n; i++)
        {
            int fd = events[i].data.fd;
            if (fd == listener)
            {
                int c;
                while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
                {
                    if (c >= MAX_PEERS)
                    {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    peers[c].up = 0;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            ssize_t got = recv(fd, buffer, sizeof buffer, 0);
            if (got == 0 || (got < 0 && errno != EAGAIN))
            {
                peers[fd].up = -1; /* dropped from the wheel when its slot comes */
                close(fd);
                continue;
            }
            if (got > 0 && peers[fd].up == 0)
            {
                peers[fd].up = 1;
                send(fd, reply, reply_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                enqueue(fd, now_ms() + interval);
            }
        }

        int64_t until = now_ms() + SLACK_MS;
        for (; done_ms <= until; done_ms++)
        {
            int slot = (int)(done_ms & 1023);
            int fd = wheel[slot];
            wheel[slot] = -1;
            while (fd >= 0)
            {
                int next = peers[fd].next;
                if (peers[fd].up == 1)
                {
                    if (peers[fd].next_beat_ms > until)
                        enqueue(fd, peers[fd].next_beat_ms); /* a later round of the wheel */
                    else
                    {
                        send(fd, beat, beat_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                        enqueue(fd, peers[fd].next_beat_ms + interval);
                    }
                }
                fd = next;
            }
        }
        done_ms = until + 1;
    }
}
