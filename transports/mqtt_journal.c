/*
 * mqtt_journal.c - the MQTT consumer's local journal: see mqtt_journal.h
 * for the format and the guarantee, mqtt.c for why it exists.
 *
 * Map:  crc - open/close - replay - append - commit
 */
#include "mqtt_journal.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define JNL_MAGIC   "SCMQJNL1"
#define JNL_REC_HDR 8
#define JNL_BODY    4 /* stream, flags, key length */
#define JNL_NOKEY   0xffff
#define JNL_MAX_LEN (512u * 1024 * 1024) /* larger than any MQTT payload */

/* A record appended or replayed and not yet past the committed offset. */
struct jnl_pending {
	uint64_t end; /* offset just after the record: its ticket */
	bool done;
};

struct mqtt_journal {
	int fd;
	bool sync;
	char *path;
	uint64_t committed;	  /* offset of the first record not committed */
	uint64_t end;		  /* where the next record goes */
	struct jnl_pending *pend; /* ring */
	size_t pcap, phead, pn;
};

/* ---- crc ----------------------------------------------------------------- */

static uint32_t jnl_crc_table[256];
static pthread_once_t jnl_crc_once = PTHREAD_ONCE_INIT;

static void jnl_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		jnl_crc_table[i] = c;
	}
}

static uint32_t jnl_crc(uint32_t crc, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	pthread_once(&jnl_crc_once, jnl_crc_init);
	crc = ~crc;
	while (n--)
		crc = jnl_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- helpers ------------------------------------------------------------- */

static int jnl_fail(struct mqtt_journal *j, const char *path, const char *what,
		    struct sc_error *err)
{
	int e = errno;

	return sc_error_set(err, SC_EIO, "mqtt: journal '%s': %s: %s", j ? j->path : path, what,
			    strerror(e));
}

static int jnl_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int jnl_write_committed(struct mqtt_journal *j, struct sc_error *err)
{
	if (jnl_pwrite_all(j->fd, &j->committed, sizeof(j->committed), 8) != 0)
		return jnl_fail(j, NULL, "cannot write the committed offset", err);
	if (j->sync && fdatasync(j->fd) != 0)
		return jnl_fail(j, NULL, "fdatasync", err);
	return 0;
}

/* mkdir -p of path's directory */
static int jnl_mkdirs(const char *path)
{
	char *d = strdup(path), *s;

	if (!d)
		return -1;
	for (s = d + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(d, 0700) != 0 && errno != EEXIST) {
			free(d);
			return -1;
		}
		*s = '/';
	}
	free(d);
	return 0;
}

static int jnl_push(struct mqtt_journal *j, uint64_t end)
{
	if (j->pn == j->pcap) {
		size_t cap = j->pcap ? j->pcap * 2 : 256;
		struct jnl_pending *n = malloc(cap * sizeof(*n));
		if (!n)
			return -1;
		for (size_t i = 0; i < j->pn; i++)
			n[i] = j->pend[(j->phead + i) % j->pcap];
		free(j->pend);
		j->pend = n;
		j->pcap = cap;
		j->phead = 0;
	}
	j->pend[(j->phead + j->pn) % j->pcap] = (struct jnl_pending){.end = end, .done = false};
	j->pn++;
	return 0;
}

/* ---- open / close -------------------------------------------------------- */

int mqtt_journal_open(const char *path, bool sync, struct mqtt_journal **out, struct sc_error *err)
{
	struct mqtt_journal *j = NULL;
	unsigned char hdr[MQTT_JOURNAL_HDR];
	struct stat st;
	ssize_t r;
	int rc;

	*out = NULL;
	if (jnl_mkdirs(path) != 0)
		return jnl_fail(NULL, path, "cannot create its directory", err);
	j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(path))) {
		free(j);
		return sc_error_set(err, SC_ENOMEM, "mqtt: journal: out of memory");
	}
	j->sync = sync;
	j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		rc = jnl_fail(j, NULL, "cannot open", err);
		goto fail;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK
			     ? sc_error_set(err, SC_EAGAIN,
					    "mqtt: journal '%s': in use by another process with "
					    "the same client id",
					    path)
			     : jnl_fail(j, NULL, "cannot lock", err);
		goto fail;
	}
	if (fstat(j->fd, &st) != 0) {
		rc = jnl_fail(j, NULL, "fstat", err);
		goto fail;
	}
	if (st.st_size == 0) {
		memset(hdr, 0, sizeof(hdr));
		memcpy(hdr, JNL_MAGIC, 8);
		j->committed = MQTT_JOURNAL_HDR;
		memcpy(hdr + 8, &j->committed, 8);
		if (jnl_pwrite_all(j->fd, hdr, sizeof(hdr), 0) != 0) {
			rc = jnl_fail(j, NULL, "cannot write the header", err);
			goto fail;
		}
		j->end = MQTT_JOURNAL_HDR;
		*out = j;
		return 0;
	}
	r = pread(j->fd, hdr, sizeof(hdr), 0);
	if (r != (ssize_t)sizeof(hdr) || memcmp(hdr, JNL_MAGIC, 8) != 0) {
		rc = sc_error_set(err, SC_EIO,
				  "mqtt: journal '%s': not a streamctl mqtt journal (bad header); "
				  "move it away or give another -X journal",
				  path);
		goto fail;
	}
	memcpy(&j->committed, hdr + 8, 8);
	j->end = (uint64_t)st.st_size;
	if (j->committed < MQTT_JOURNAL_HDR || j->committed >= j->end) {
		/* everything committed (or cut while compacting): start empty */
		j->committed = j->end = MQTT_JOURNAL_HDR;
		if (ftruncate(j->fd, MQTT_JOURNAL_HDR) != 0) {
			rc = jnl_fail(j, NULL, "cannot truncate", err);
			goto fail;
		}
		rc = jnl_write_committed(j, err);
		if (rc)
			goto fail;
	}
	*out = j;
	return 0;
fail:
	mqtt_journal_close(j);
	return rc;
}

void mqtt_journal_close(struct mqtt_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0) {
		/* nothing pending: the file has nothing to give back */
		if (j->committed >= j->end && j->end >= MQTT_JOURNAL_HDR)
			unlink(j->path);
		close(j->fd);
	}
	free(j->pend);
	free(j->path);
	free(j);
}

size_t mqtt_journal_pending(const struct mqtt_journal *j)
{
	return j->pn;
}

/* ---- replay -------------------------------------------------------------- */

/* Parse the record at buf (n bytes available); its total size, or 0 if bad. */
static size_t jnl_parse(const unsigned char *buf, size_t n, struct mqtt_jrec *r)
{
	uint32_t len, crc;
	uint16_t klen;

	if (n < JNL_REC_HDR)
		return 0;
	memcpy(&len, buf, 4);
	memcpy(&crc, buf + 4, 4);
	if (len < JNL_BODY || len > JNL_MAX_LEN || (size_t)len > n - JNL_REC_HDR)
		return 0;
	if (jnl_crc(0, buf + JNL_REC_HDR, len) != crc)
		return 0;
	buf += JNL_REC_HDR;
	memcpy(&klen, buf + 2, 2);
	if (buf[0] >= SC_STREAM__COUNT || (klen != JNL_NOKEY && (size_t)klen > len - JNL_BODY))
		return 0;
	r->stream = (enum sc_stream)buf[0];
	r->flags = buf[1];
	r->key = klen == JNL_NOKEY ? NULL : (const char *)buf + JNL_BODY;
	r->klen = klen == JNL_NOKEY ? 0 : klen;
	r->payload = buf + JNL_BODY + r->klen;
	r->len = len - JNL_BODY - r->klen;
	return JNL_REC_HDR + (size_t)len;
}

int mqtt_journal_replay(struct mqtt_journal *j,
			int (*fn)(void *ctx, const struct mqtt_jrec *r, uint64_t ticket), void *ctx,
			uint64_t *discarded, struct sc_error *err)
{
	size_t n = (size_t)(j->end - j->committed), off = 0;
	unsigned char *buf;
	int rc = 0;

	if (discarded)
		*discarded = 0;
	if (n == 0)
		return 0;
	buf = malloc(n);
	if (!buf)
		return sc_error_set(err, SC_ENOMEM, "mqtt: journal '%s': out of memory (%zu bytes)",
				    j->path, n);
	for (size_t got = 0; got < n;) {
		ssize_t r = pread(j->fd, buf + got, n - got, (off_t)(j->committed + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = jnl_fail(j, NULL, "cannot read", err);
			goto out;
		}
		got += (size_t)r;
	}
	while (off < n) {
		struct mqtt_jrec rec;
		size_t sz = jnl_parse(buf + off, n - off, &rec);
		uint64_t end = j->committed + off + sz;
		if (!sz)
			break;
		if (jnl_push(j, end) != 0) {
			rc = sc_error_set(err, SC_ENOMEM, "mqtt: journal: out of memory");
			goto out;
		}
		off += sz;
		rc = fn(ctx, &rec, end);
		if (rc)
			goto out;
	}
	if (off < n) {
		/* a torn write (or damage): the journal ends at the last good record */
		if (discarded)
			*discarded = n - off;
		j->end = j->committed + off;
		if (ftruncate(j->fd, (off_t)j->end) != 0)
			rc = jnl_fail(j, NULL, "cannot truncate a torn record", err);
	}
out:
	free(buf);
	return rc;
}

/* ---- append -------------------------------------------------------------- */

int mqtt_journal_append(struct mqtt_journal *j, const struct mqtt_jrec *r, uint64_t *ticket,
			struct sc_error *err)
{
	size_t klen = r->key ? r->klen : 0, body = JNL_BODY + klen + r->len;
	unsigned char h[JNL_REC_HDR + JNL_BODY];
	uint16_t k16 = r->key ? (uint16_t)klen : JNL_NOKEY;
	uint32_t len = (uint32_t)body, crc;
	struct jnl_part {
		const void *p;
		size_t n;
	} v[3];
	unsigned char *rec;
	size_t at = 0;
	int rc;

	if (body > JNL_MAX_LEN || klen >= JNL_NOKEY)
		return sc_error_set(err, SC_ETOOBIG, "mqtt: journal: record of %zu bytes too large",
				    body);
	h[JNL_REC_HDR] = (unsigned char)r->stream;
	h[JNL_REC_HDR + 1] = (unsigned char)r->flags;
	memcpy(h + JNL_REC_HDR + 2, &k16, 2);
	crc = jnl_crc(0, h + JNL_REC_HDR, JNL_BODY);
	crc = jnl_crc(crc, r->key ? r->key : "", klen);
	crc = jnl_crc(crc, r->payload, r->len);
	memcpy(h, &len, 4);
	memcpy(h + 4, &crc, 4);
	/* one write(): a record is never half written by a killed process */
	rec = malloc(JNL_REC_HDR + body);
	if (!rec)
		return sc_error_set(err, SC_ENOMEM, "mqtt: journal: out of memory");
	v[0] = (struct jnl_part){h, sizeof(h)};
	v[1] = (struct jnl_part){r->key, klen};
	v[2] = (struct jnl_part){r->payload, r->len};
	for (int i = 0; i < 3; i++) {
		if (v[i].n)
			memcpy(rec + at, v[i].p, v[i].n);
		at += v[i].n;
	}
	if (jnl_push(j, j->end + at) != 0) {
		free(rec);
		return sc_error_set(err, SC_ENOMEM, "mqtt: journal: out of memory");
	}
	if (jnl_pwrite_all(j->fd, rec, at, j->end) != 0) {
		free(rec);
		j->pn--;
		return jnl_fail(j, NULL, "cannot append", err);
	}
	free(rec);
	if (j->sync && fdatasync(j->fd) != 0) {
		/* not known to be on disk: take the record back, as if never
		 * appended (its pending entry would hold the committed offset
		 * back for good, and the file would never be compacted) */
		rc = jnl_fail(j, NULL, "fdatasync", err);
		j->pn--;
		(void)!ftruncate(j->fd, (off_t)j->end);
		return rc;
	}
	j->end += at;
	*ticket = j->end;
	return 0;
}

/* ---- commit -------------------------------------------------------------- */

int mqtt_journal_commit(struct mqtt_journal *j, uint64_t ticket, struct sc_error *err)
{
	uint64_t committed = j->committed;
	size_t i;

	for (i = 0; i < j->pn; i++) {
		struct jnl_pending *p = &j->pend[(j->phead + i) % j->pcap];
		if (p->end == ticket) {
			p->done = true;
			break;
		}
	}
	if (i == j->pn)
		return 0; /* not pending (already committed): nothing to do */
	while (j->pn && j->pend[j->phead].done) {
		committed = j->pend[j->phead].end;
		j->phead = (j->phead + 1) % j->pcap;
		j->pn--;
	}
	if (committed == j->committed)
		return 0;
	j->committed = committed;
	if (j->committed == j->end && j->end - MQTT_JOURNAL_HDR >= MQTT_JOURNAL_COMPACT) {
		/* truncate first: a crash before the header write finds committed >= size */
		if (ftruncate(j->fd, MQTT_JOURNAL_HDR) != 0)
			return jnl_fail(j, NULL, "cannot truncate", err);
		j->committed = j->end = MQTT_JOURNAL_HDR;
	}
	return jnl_write_committed(j, err);
}
