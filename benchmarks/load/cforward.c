/*
 * cforward: the smallest batched UDP relay that turnload can drive, as a yardstick for TurnServer's Linux engine.
 * It answers just enough TURN for the load (Allocate: 401 then success without checking MESSAGE-INTEGRITY;
 * ChannelBind and Refresh: success) and relays ChannelData with the same system calls as the engine: epoll,
 * recvmmsg 32 at a time, one sendmmsg per destination socket, UDP segmentation offload for runs to one address.
 * One thread. Not a TURN server: no authentication, permissions, lifetimes or Data indications.
 *
 *   gcc -O2 -o cforward cforward.c && ./cforward 127.0.0.1 PORT RELAY_IP
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define BATCH 32
#define SLOT 2048
#define HEAD 48
#define MAXFD 65536
#define TABLE 65536

struct alloc { struct sockaddr_in client; int relay; uint16_t channel; struct sockaddr_in peer; int used; };
struct out { int fd; struct sockaddr_in to; size_t len; unsigned char data[SLOT]; };

static struct alloc table[TABLE];
static struct alloc *by_fd[MAXFD];
static struct out outq[2 * BATCH];
static int nout;
static int listener;
static struct in_addr relay_ip;
static volatile sig_atomic_t stop;

static void on_term(int s) { (void)s; stop = 1; }

static unsigned hash(const struct sockaddr_in *a) { return (a->sin_addr.s_addr * 2654435761u ^ a->sin_port * 40503u) % TABLE; }

static struct alloc *find(const struct sockaddr_in *a, int create) {
    for (unsigned i = hash(a), n = 0; n < TABLE; i = (i + 1) % TABLE, n++) {
        if (!table[i].used) {
            if (!create) return NULL;
            table[i].used = 1; table[i].client = *a; table[i].relay = -1;
            return &table[i];
        }
        if (table[i].client.sin_addr.s_addr == a->sin_addr.s_addr && table[i].client.sin_port == a->sin_port) return &table[i];
    }
    return NULL;
}

static void flush(void) {
    struct mmsghdr msgs[2 * BATCH]; struct iovec iov[2 * BATCH]; char ctl[2 * BATCH][CMSG_SPACE(sizeof(uint16_t))];
    int done[2 * BATCH] = {0};
    for (int i = 0; i < nout; i++) {
        if (done[i]) continue;
        int fd = outq[i].fd, k = 0, iv = 0, prev = -1;
        memset(msgs, 0, sizeof(msgs));
        for (int j = i; j < nout; j++) {
            if (done[j] || outq[j].fd != fd) continue;
            done[j] = 1;
            /* merge a run to one address of one size into the previous message on this socket (segmentation offload) */
            int last = prev;
            prev = j;
            if (k > 0) {
                struct mmsghdr *m = &msgs[k - 1];
                if (!memcmp(&outq[last].to, &outq[j].to, sizeof(struct sockaddr_in))
                    && m->msg_hdr.msg_iov[0].iov_len == outq[j].len && m->msg_hdr.msg_iovlen < 64) {
                    iov[iv].iov_base = outq[j].data; iov[iv].iov_len = outq[j].len; iv++;
                    m->msg_hdr.msg_iovlen++;
                    struct cmsghdr *c = (struct cmsghdr *)ctl[k - 1];
                    c->cmsg_level = SOL_UDP; c->cmsg_type = UDP_SEGMENT; c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
                    *(uint16_t *)CMSG_DATA(c) = (uint16_t)outq[j].len;
                    m->msg_hdr.msg_control = ctl[k - 1]; m->msg_hdr.msg_controllen = sizeof(ctl[0]);
                    continue;
                }
            }
            iov[iv].iov_base = outq[j].data; iov[iv].iov_len = outq[j].len;
            msgs[k].msg_hdr.msg_iov = &iov[iv]; msgs[k].msg_hdr.msg_iovlen = 1; iv++;
            msgs[k].msg_hdr.msg_name = &outq[j].to; msgs[k].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
            k++;
        }
        for (int sent = 0; sent < k;) {
            int r = sendmmsg(fd, msgs + sent, k - sent, MSG_DONTWAIT);
            sent += r > 0 ? r : 1;
        }
    }
    nout = 0;
}

static unsigned char *queue(int fd, const struct sockaddr_in *to, size_t len) {
    if (nout == 2 * BATCH) flush();
    outq[nout].fd = fd; outq[nout].to = *to; outq[nout].len = len;
    return outq[nout++].data;
}

static size_t put_attr(unsigned char *m, size_t at, uint16_t type, const void *v, uint16_t len) {
    m[at] = type >> 8; m[at + 1] = type; m[at + 2] = len >> 8; m[at + 3] = len;
    memcpy(m + at + 4, v, len);
    return at + 4 + ((len + 3) & ~3u);
}

static size_t put_xor(unsigned char *m, size_t at, uint16_t type, const struct sockaddr_in *a) {
    unsigned char v[8] = {0, 1};
    uint16_t port = ntohs(a->sin_port) ^ 0x2112; uint32_t ip = ntohl(a->sin_addr.s_addr) ^ 0x2112A442;
    v[2] = port >> 8; v[3] = port; v[4] = ip >> 24; v[5] = ip >> 16; v[6] = ip >> 8; v[7] = ip;
    return put_attr(m, at, type, v, 8);
}

static int get_xor(const unsigned char *m, size_t len, uint16_t want, struct sockaddr_in *a) {
    for (size_t at = 20; at + 4 <= len;) {
        uint16_t type = m[at] << 8 | m[at + 1], alen = m[at + 2] << 8 | m[at + 3];
        if (at + 4 + alen > len) return 0;
        if (type == want && alen == 8) {
            memset(a, 0, sizeof(*a)); a->sin_family = AF_INET;
            a->sin_port = htons((m[at + 6] << 8 | m[at + 7]) ^ 0x2112);
            a->sin_addr.s_addr = htonl((uint32_t)(m[at + 8] << 24 | m[at + 9] << 16 | m[at + 10] << 8 | m[at + 11]) ^ 0x2112A442);
            return 1;
        }
        at += 4 + ((alen + 3u) & ~3u);
    }
    return 0;
}

static int has_attr(const unsigned char *m, size_t len, uint16_t want, uint16_t *first16) {
    for (size_t at = 20; at + 4 <= len;) {
        uint16_t type = m[at] << 8 | m[at + 1], alen = m[at + 2] << 8 | m[at + 3];
        if (type == want) { if (first16 && alen >= 2) *first16 = m[at + 4] << 8 | m[at + 5]; return 1; }
        at += 4 + ((alen + 3u) & ~3u);
    }
    return 0;
}

static void stun(int epfd, const unsigned char *m, size_t len, const struct sockaddr_in *from) {
    if (len < 20 || (m[2] << 8 | m[3]) + 20 > (int)len) return;
    uint16_t type = m[0] << 8 | m[1], method = type & 0x3EEF;
    unsigned char *r = queue(listener, from, 0);
    memcpy(r + 4, m + 4, 16);
    size_t at = 20;
    uint16_t success = 0x0100 | method, error = 0x0110 | method;
    if (method == 0x003 && !has_attr(m, len, 0x0008, NULL)) { /* Allocate without MESSAGE-INTEGRITY: 401 */
        unsigned char code[4 + 12] = {0, 0, 4, 1}; memcpy(code + 4, "Unauthorized", 12);
        at = put_attr(r, at, 0x0009, code, 16);
        at = put_attr(r, at, 0x0014, "example.org", 11);
        at = put_attr(r, at, 0x0015, "0123456789abcdef0123456789abcdef", 32);
        type = error;
    } else if (method == 0x003) {
        struct alloc *a = find(from, 1);
        if (a && a->relay < 0) {
            a->relay = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            int size = 1 << 20; setsockopt(a->relay, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
            struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr = relay_ip};
            bind(a->relay, (struct sockaddr *)&b, sizeof(b));
            if (a->relay < MAXFD) by_fd[a->relay] = a;
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = a->relay};
            epoll_ctl(epfd, EPOLL_CTL_ADD, a->relay, &ev);
        }
        struct sockaddr_in local; socklen_t sl = sizeof(local);
        getsockname(a->relay, (struct sockaddr *)&local, &sl);
        at = put_xor(r, at, 0x0016, &local);
        uint32_t life = htonl(600); at = put_attr(r, at, 0x000D, &life, 4);
        at = put_xor(r, at, 0x0020, from);
        type = success;
    } else if (method == 0x009) { /* ChannelBind */
        struct alloc *a = find(from, 0); uint16_t channel = 0;
        if (a && has_attr(m, len, 0x000C, &channel) && get_xor(m, len, 0x0012, &a->peer)) { a->channel = channel; type = success; }
        else type = error;
    } else if (method == 0x004) { /* Refresh: LIFETIME 0 deletes */
        struct alloc *a = find(from, 0);
        if (a && a->relay >= 0) { epoll_ctl(epfd, EPOLL_CTL_DEL, a->relay, NULL); by_fd[a->relay] = NULL; close(a->relay); a->relay = -1; }
        type = success;
    } else {
        type = success;
    }
    r[0] = type >> 8; r[1] = type; r[2] = (at - 20) >> 8; r[3] = at - 20;
    outq[nout - 1].len = at;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: cforward LISTEN_IP PORT RELAY_IP\n"); return 2; }
    signal(SIGTERM, on_term); signal(SIGINT, on_term);
    inet_pton(AF_INET, argv[3], &relay_ip);
    listener = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int size = 4 << 20; setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)); setsockopt(listener, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr))) { perror("bind"); return 69; }
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev);

    static unsigned char in[BATCH][HEAD + SLOT];
    struct mmsghdr msgs[BATCH]; struct iovec iov[BATCH]; struct sockaddr_in names[BATCH];
    struct epoll_event events[256];
    while (!stop) {
        int n = epoll_wait(epfd, events, 256, 500);
        for (int e = 0; e < n; e++) {
            int fd = events[e].data.fd;
            for (int i = 0; i < BATCH; i++) {
                iov[i].iov_base = in[i] + HEAD; iov[i].iov_len = SLOT;
                msgs[i].msg_hdr = (struct msghdr){.msg_name = &names[i], .msg_namelen = sizeof(names[i]), .msg_iov = &iov[i], .msg_iovlen = 1};
            }
            int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
            for (int i = 0; i < got; i++) {
                unsigned char *p = in[i] + HEAD; size_t len = msgs[i].msg_len;
                if (fd == listener) {
                    if (len >= 4 && (p[0] & 0xC0) == 0x40) { /* ChannelData to the peer */
                        struct alloc *a = find(&names[i], 0);
                        size_t plen = p[2] << 8 | p[3];
                        if (a && a->relay >= 0 && plen + 4 <= len) memcpy(queue(a->relay, &a->peer, plen), p + 4, plen);
                    } else if (len >= 20 && p[0] < 4) {
                        stun(epfd, p, len, &names[i]);
                    }
                } else if (fd < MAXFD && by_fd[fd]) { /* peer data back to the client as ChannelData */
                    struct alloc *a = by_fd[fd];
                    unsigned char *o = queue(listener, &a->client, len + 4);
                    o[0] = a->channel >> 8; o[1] = a->channel; o[2] = len >> 8; o[3] = len;
                    memcpy(o + 4, p, len);
                }
            }
        }
        flush();
    }
    return 0;
}
