// SPDX-License-Identifier: MIT
/*
 * floor-server: the no-op floor for agent-port benchmarks (bench/README.md).
 *
 * One thread, one epoll set, non-blocking sockets. It speaks the agent framing (a 4-byte
 * big-endian length, then that many bytes) and answers every complete frame with one fixed
 * answer in Prism's compact form, without looking at the payload. It keeps no state beyond
 * each connection's partial frame, so what agent-load measures against it is what the kernel's
 * TCP path and the load generator cost on this machine: the ceiling any agent server here can
 * reach, measured in the same run as prismd.
 *
 *   floor-server [--listen HOST:PORT] [--ready-file F]
 *
 * Prints "listening HOST:PORT" on stdout when it accepts (port 0 picks a free one; the
 * port alone goes to --ready-file). Runs until SIGINT or SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FRAME  65536
#define READ_CHUNK 65536
#define MAX_EVENTS 256

static const char answer_body[] =
	"{\"version\":\"1.0\",\"type\":\"response\",\"status\":\"success\","
	"\"message\":\"Heartbeat updated\",\"timestamp\":\"2026-01-01T00:00:00Z\"}";

struct conn {
	int fd;
	size_t have; /* bytes of the current frame seen so far (header included) */
	size_t need; /* the current frame's total length once its header is known, else 0 */
	char *out;   /* answers not yet written */
	size_t out_len, out_cap;
	uint8_t hdr[4]; /* the current frame's length prefix; the payload is not kept */
};

static volatile sig_atomic_t stop;
static uint8_t answer[4 + sizeof(answer_body) - 1];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	free(c);
}

static int queue_answers(struct conn *c, size_t n)
{
	size_t add = n * sizeof(answer);
	if (c->out_len + add > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + add)
			cap *= 2;
		char *p = realloc(c->out, cap);
		if (p == NULL)
			return -1;
		c->out = p;
		c->out_cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(c->out + c->out_len, answer, sizeof(answer));
		c->out_len += sizeof(answer);
	}
	return 0;
}

/* Writes what is queued; 1 if something is left (wait for EPOLLOUT), 0 if done, -1 on error. */
static int flush_out(struct conn *c)
{
	size_t off = 0;
	while (off < c->out_len) {
		ssize_t w = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		off += (size_t)w;
	}
	memmove(c->out, c->out + off, c->out_len - off);
	c->out_len -= off;
	return c->out_len > 0;
}

/* Counts the complete frames in @p p (consumed into the connection's partial frame). */
static int consume(struct conn *c, const uint8_t *p, size_t len, size_t *frames)
{
	while (len > 0) {
		if (c->need == 0) {
			size_t take = 4 - c->have;
			if (take > len)
				take = len;
			memcpy(c->hdr + c->have, p, take);
			c->have += take;
			p += take;
			len -= take;
			if (c->have < 4)
				return 0;
			uint32_t n = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
				     (uint32_t)c->hdr[2] << 8 | c->hdr[3];
			if (n > MAX_FRAME)
				return -1;
			c->need = 4 + (size_t)n;
		}
		size_t take = c->need - c->have;
		if (take > len)
			take = len;
		/* The payload is not looked at: only its length counts. */
		c->have += take;
		p += take;
		len -= take;
		if (c->have == c->need) {
			(*frames)++;
			c->have = 0;
			c->need = 0;
		}
	}
	return 0;
}

static void on_readable(int ep, struct conn *c, uint8_t *rbuf)
{
	size_t frames = 0;
	bool eof = false;
	for (;;) {
		ssize_t r = recv(c->fd, rbuf, READ_CHUNK, 0);
		if (r > 0) {
			if (consume(c, rbuf, (size_t)r, &frames) < 0) {
				conn_close(ep, c);
				return;
			}
			if ((size_t)r < READ_CHUNK)
				break;
			continue;
		}
		if (r == 0) {
			eof = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		conn_close(ep, c);
		return;
	}
	if (frames > 0 && queue_answers(c, frames) < 0) {
		conn_close(ep, c);
		return;
	}
	int left = c->out_len > 0 ? flush_out(c) : 0;
	if (left < 0 || (eof && left == 0)) {
		conn_close(ep, c);
		return;
	}
	if (left > 0) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	int port = atoi(colon + 1);
	memset(ss, 0, sizeof(*ss));
	char *h = host;
	if (h[0] == '[') {
		h++;
		h[strlen(h) - 1] = '\0';
	}
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*sl = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*v6);
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *listen_at = "127.0.0.1:0";
	const char *ready_file = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen_at = argv[++i];
		} else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc) {
			ready_file = argv[++i];
		} else {
			fprintf(stderr,
				"usage: floor-server [--listen HOST:PORT] [--ready-file F]\n");
			return 2;
		}
	}
	size_t blen = sizeof(answer_body) - 1;
	answer[0] = (uint8_t)(blen >> 24);
	answer[1] = (uint8_t)(blen >> 16);
	answer[2] = (uint8_t)(blen >> 8);
	answer[3] = (uint8_t)blen;
	memcpy(answer + 4, answer_body, blen);

	struct sockaddr_storage ss;
	socklen_t sl;
	if (parse_listen(listen_at, &ss, &sl) < 0) {
		fprintf(stderr, "floor-server: bad --listen %s\n", listen_at);
		return 2;
	}
	int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, 4096) < 0) {
		perror("floor-server: listen");
		return 1;
	}
	getsockname(lfd, (struct sockaddr *)&ss, &sl);
	char addr[INET6_ADDRSTRLEN];
	int port;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &v4->sin_addr, addr, sizeof(addr));
		port = ntohs(v4->sin_port);
	} else {
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &v6->sin6_addr, addr, sizeof(addr));
		port = ntohs(v6->sin6_port);
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	printf("listening %s:%d\n", addr, port);
	fflush(stdout);
	if (ready_file != NULL) {
		FILE *f = fopen(ready_file, "w");
		if (f != NULL) {
			fprintf(f, "%d\n", port);
			fclose(f);
		}
	}

	static uint8_t rbuf[READ_CHUNK];
	struct epoll_event evs[MAX_EVENTS];
	while (!stop) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, 200);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL) {
				for (;;) {
					int fd = accept4(lfd, NULL, NULL,
							 SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (fd < 0)
						break;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
						   sizeof(one));
					struct conn *nc = calloc(1, sizeof(*nc));
					if (nc == NULL) {
						close(fd);
						continue;
					}
					nc->fd = fd;
					struct epoll_event ev = {.events = EPOLLIN,
								 .data.ptr = nc};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				int left = flush_out(c);
				if (left < 0) {
					conn_close(ep, c);
					continue;
				}
				if (left == 0) {
					struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(ep, c, rbuf);
		}
	}
	close(ep);
	close(lfd);
	return 0;
}
