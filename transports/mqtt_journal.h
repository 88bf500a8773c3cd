/*
 * mqtt_journal.h - the MQTT consumer's local journal (mqtt_journal.c).
 *
 * paho.mqtt.c 1.3 acknowledges a PUBLISH as soon as it reads it, so the
 * consumer keeps its own copy: each message paho hands over is appended to an
 * append-only file with write() at once, and commit() moves a
 * committed offset (in the file's header) past it once the output is safe.
 * After a crash, open + replay hand back every record not committed.  Only
 * for transports/mqtt*.c and its unit test; no paho types here.
 *
 * File: a 32-byte header ("SCMQJNL1", committed offset, reserved) and
 * records: u32 body length, u32 CRC-32 of the body, then the body: u8
 * stream, u8 flags (MQTT_JF_*), u16 key length (0xffff: no key), key,
 * payload.  Native byte order: the file never leaves the machine.
 *
 * Durability.  write() puts the record in the page cache: it survives the
 * process being SIGKILLed, not a machine crash, unless the journal is opened
 * with sync (then fdatasync after every append and every commit).
 *
 * Not thread-safe: the caller serialises (the mqtt backend holds mqtt_lock).
 */
#ifndef SC_MQTT_JOURNAL_H
#define SC_MQTT_JOURNAL_H

#include "record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sc_error;

#define MQTT_JOURNAL_HDR     32
#define MQTT_JOURNAL_COMPACT (256 * 1024) /* truncate when all is committed past this */

enum mqtt_jflags {
	MQTT_JF_DUP = 1u << 0,	     /* the broker flagged it as a redelivery */
	MQTT_JF_MALFORMED = 1u << 1, /* on an unexpected topic */
};

/* One record; strings and payload borrowed. */
struct mqtt_jrec {
	enum sc_stream stream;
	unsigned int flags; /* MQTT_JF_* */
	const char *key;    /* NULL: none */
	size_t klen;
	const void *payload;
	size_t len;
};

struct mqtt_journal;

/*
 * Open (create) the journal at path, creating missing directories, and lock
 * it (one process per journal).  -SC_EIO / -SC_EAGAIN (in use) with
 * "mqtt: journal 'PATH': why".  *out owned by the caller: mqtt_journal_close.
 */
int mqtt_journal_open(const char *path, bool sync, struct mqtt_journal **out, struct sc_error *err);

/*
 * Call fn for every record after the committed offset, in order; ticket is
 * what mqtt_journal_commit() takes for it.  A torn or corrupt record ends
 * the journal: the file is truncated there and *discarded (may be NULL)
 * says how many bytes were dropped.  fn returning non-zero stops and is
 * returned.  Call once, right after open, before any append.
 */
int mqtt_journal_replay(struct mqtt_journal *j,
			int (*fn)(void *ctx, const struct mqtt_jrec *r, uint64_t ticket), void *ctx,
			uint64_t *discarded, struct sc_error *err);

/* Append one record; *ticket identifies it for commit. */
int mqtt_journal_append(struct mqtt_journal *j, const struct mqtt_jrec *r, uint64_t *ticket,
			struct sc_error *err);

/*
 * The record is done.  The committed offset advances over every leading
 * record that is done (records may be committed out of order; one never
 * committed holds the offset back, so it and what follows are replayed).
 * When nothing is pending and the file is large, it is truncated.
 */
int mqtt_journal_commit(struct mqtt_journal *j, uint64_t ticket, struct sc_error *err);

/* Records appended or replayed and not committed. */
size_t mqtt_journal_pending(const struct mqtt_journal *j);

/* Accepts NULL.  Removes the file when nothing is pending. */
void mqtt_journal_close(struct mqtt_journal *j);

#endif /* SC_MQTT_JOURNAL_H */
