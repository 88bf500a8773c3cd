/* net.c - see net.h */
#include "net.h"
#include "error.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int net_split_addr(const char *addr, char *host, size_t hsize, char *port, size_t psize,
		   const char *what, struct sc_error *err)
{
	const char *colon, *h0 = addr, *h1;

	if (addr[0] == '[') {
		h0 = addr + 1;
		h1 = strchr(h0, ']');
		if (!h1 || h1[1] != ':')
			goto bad;
		colon = h1 + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			goto bad;
		h1 = colon;
	}
	if (h1 == h0 || (size_t)(h1 - h0) >= hsize || !colon[1] || strlen(colon + 1) >= psize)
		goto bad;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			goto bad;
	if (atol(colon + 1) > 65535)
		goto bad;
	memcpy(host, h0, (size_t)(h1 - h0));
	host[h1 - h0] = '\0';
	strcpy(port, colon + 1);
	return 0;
bad:
	return sc_error_set(err, SC_EINVAL,
			    "%s: invalid listen address '%s': expected ADDR:PORT or [ADDR6]:PORT",
			    what, addr);
}

static const char *bind_reason(int e)
{
	switch (e) {
	case EADDRINUSE: return "address in use";
	case EADDRNOTAVAIL: return "address not available on this host";
	case EACCES: return "permission denied";
	default: return strerror(e);
	}
}

int net_listen(const char *addr, const char *what, int *family, struct sc_error *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], port[8];
	int fd = -1, rc, one = 1, saved = 0;

	rc = net_split_addr(addr, host, sizeof(host), port, sizeof(port), what, err);
	if (rc)
		return rc;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return sc_error_set(err, SC_EINVAL, "%s: cannot listen on %s: %s", what, addr,
				    gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
			*family = ai->ai_family;
			break;
		}
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return sc_error_set(err, SC_EIO, "%s: cannot listen on %s: %s", what, addr,
				    bind_reason(saved));
	return fd;
}
