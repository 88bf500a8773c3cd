/*
 * net.h - listening sockets for the HTTP endpoints (Sensor Logger ingest,
 * metrics).  Addresses are "host:port" or "[v6]:port"; port 0 picks a free
 * one.  Error messages start with `what` ("http", "metrics").
 */
#ifndef SC_NET_H
#define SC_NET_H

#include <stddef.h>

struct sc_error;

/* Split addr into host and port (copied into the buffers); 0 or -SC_EINVAL. */
int net_split_addr(const char *addr, char *host, size_t hsize, char *port, size_t psize,
		   const char *what, struct sc_error *err);

/* A listening TCP socket on addr (close-on-exec); its fd, or a negative SC_E*. */
int net_listen(const char *addr, const char *what, int *family, struct sc_error *err);

#endif /* SC_NET_H */
