/* A fast frame sender for the decapsulation bench (bench/decap.py compiles it at run time into a
 * temporary directory: a harness, not shipped).
 *
 *   sender INTERFACE FRAMES COUNT RATE
 *
 * Replays the Ethernet frames of the file FRAMES (each a 4-byte little-endian length, then the
 * frame) in turn, COUNT frames in all, out of INTERFACE through an AF_PACKET socket that skips
 * the qdisc layer (PACKET_QDISC_BYPASS), in batches of sendmmsg(2). RATE frames per second
 * (0: as fast as it can). Prints one JSON line: {"sent": N, "started": T0, "ended": T1,
 * "cpu_seconds": C}: T0 and T1 on CLOCK_MONOTONIC (so that several senders' span can be
 * measured), C its own user + system time. Why C: one Python process writing a raw socket tops out at
 * about 150k packets/s here, far below the 1 Mpps the BPF path is to be measured at. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#define BATCH 64
#define MAX_FRAMES 65536

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int fail(const char *what) {
    fprintf(stderr, "sender: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: sender INTERFACE FRAMES COUNT RATE\n");
        return 2;
    }
    unsigned ifindex = if_nametoindex(argv[1]);
    if (ifindex == 0) return fail(argv[1]);
    char *end = NULL;
    long long count = strtoll(argv[3], &end, 10);
    if (*end != '\0' || count <= 0) {
        fprintf(stderr, "sender: COUNT: got %s, expected a positive integer\n", argv[3]);
        return 2;
    }
    double rate = strtod(argv[4], &end);
    if (*end != '\0' || rate < 0) {
        fprintf(stderr, "sender: RATE: got %s, expected packets per second (0: flat out)\n",
                argv[4]);
        return 2;
    }

    FILE *file = fopen(argv[2], "rb");
    if (file == NULL) return fail(argv[2]);
    static struct iovec frames[MAX_FRAMES];
    size_t nframes = 0;
    uint8_t header[4];
    while (fread(header, 1, 4, file) == 4) {
        size_t length = header[0] | header[1] << 8 | header[2] << 16 | (size_t)header[3] << 24;
        if (nframes == MAX_FRAMES || length < ETH_HLEN || length > 65535) {
            fprintf(stderr, "sender: %s: frame %zu: bad length %zu or too many\n", argv[2],
                    nframes, length);
            return 2;
        }
        void *data = malloc(length);
        if (data == NULL || fread(data, 1, length, file) != length) return fail(argv[2]);
        frames[nframes].iov_base = data;
        frames[nframes].iov_len = length;
        nframes++;
    }
    fclose(file);
    if (nframes == 0) {
        fprintf(stderr, "sender: %s holds no frame\n", argv[2]);
        return 2;
    }

    /* Protocol 0: this socket only sends, so the kernel hands it no received frame. */
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) return fail("socket(AF_PACKET)");
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0)
        return fail("PACKET_QDISC_BYPASS");
    struct sockaddr_ll address = {
        .sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = (int)ifindex};
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) return fail("bind");

    struct mmsghdr messages[BATCH];
    memset(messages, 0, sizeof messages);
    long long sent = 0;
    size_t next = 0;
    double started = now();
    while (sent < count) {
        int batch = count - sent < BATCH ? (int)(count - sent) : BATCH;
        for (int i = 0; i < batch; i++) {
            messages[i].msg_hdr.msg_iov = &frames[(next + i) % nframes];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        int done = sendmmsg(fd, messages, (unsigned)batch, 0);
        if (done < 0) {
            /* The device's queue is full: wait for room rather than count a loss here. */
            if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) continue;
            return fail("sendmmsg");
        }
        sent += done;
        next = (next + (size_t)done) % nframes;
        if (rate > 0) {
            /* Ahead of schedule: sleep the difference (spinning under 50 us, where a sleep's
             * own latency would make the rate fall short). */
            for (;;) {
                double ahead = (double)sent / rate - (now() - started);
                if (ahead <= 0) break;
                if (ahead > 50e-6) {
                    struct timespec pause = {0, (long)((ahead - 20e-6) * 1e9)};
                    nanosleep(&pause, NULL);
                }
            }
        }
    }
    double ended = now();
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 +
                 (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6;
    printf("{\"sent\": %lld, \"started\": %.6f, \"ended\": %.6f, \"cpu_seconds\": %.6f}\n",
           sent, started, ended, cpu);
    return 0;
}
