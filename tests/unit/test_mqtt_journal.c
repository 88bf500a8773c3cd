/*
 * test_mqtt_journal.c - the MQTT consumer's local journal (transports/
 * mqtt_journal.c) on its own, without a broker: what is appended and not
 * committed comes back after a reopen, commit moves the offset (in order,
 * held back by a record never committed), a torn tail is cut off safely.
 */
#include "error.h"
#include "mqtt_journal.h"
#include "record.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char dir[256], path[320];

/* fdatasync() of this test binary (it takes precedence over libc's): fails
 * with EIO while fail_fdatasync is set, for the journal's sync mode. */
static bool fail_fdatasync;

int fdatasync(int fd)
{
	if (fail_fdatasync) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sc_jnl_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/dir/c1.journal", dir);
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(mqtt_journal, .init = setup, .fini = teardown, .timeout = 30);

struct seen {
	int n;
	char payload[16][32];
	char key[16][32];
	bool has_key[16];
	enum sc_stream stream[16];
	unsigned int flags[16];
	uint64_t ticket[16];
};

static int collect(void *ctx, const struct mqtt_jrec *r, uint64_t ticket)
{
	struct seen *s = ctx;

	cr_assert_lt(s->n, 16);
	snprintf(s->payload[s->n], 32, "%.*s", (int)r->len, (const char *)r->payload);
	s->has_key[s->n] = r->key != NULL;
	if (r->key)
		snprintf(s->key[s->n], 32, "%.*s", (int)r->klen, r->key);
	s->stream[s->n] = r->stream;
	s->flags[s->n] = r->flags;
	s->ticket[s->n] = ticket;
	s->n++;
	return 0;
}

static struct mqtt_journal *open_ok(void)
{
	struct sc_error err = {0};
	struct mqtt_journal *j = NULL;

	cr_assert_eq(mqtt_journal_open(path, false, &j, &err), 0, "%s", err.msg);
	cr_assert_not_null(j);
	return j;
}

static uint64_t append(struct mqtt_journal *j, const char *key, const char *payload)
{
	struct mqtt_jrec r = {.stream = SC_STREAM_RAW_CPU,
			      .key = key,
			      .klen = key ? strlen(key) : 0,
			      .payload = payload,
			      .len = strlen(payload)};
	struct sc_error err = {0};
	uint64_t ticket = 0;

	cr_assert_eq(mqtt_journal_append(j, &r, &ticket, &err), 0, "%s", err.msg);
	cr_assert_gt(ticket, 0);
	return ticket;
}

static void commit(struct mqtt_journal *j, uint64_t ticket)
{
	struct sc_error err = {0};

	cr_assert_eq(mqtt_journal_commit(j, ticket, &err), 0, "%s", err.msg);
}

static struct seen replay(struct mqtt_journal *j, uint64_t *discarded)
{
	struct sc_error err = {0};
	struct seen s = {0};

	cr_assert_eq(mqtt_journal_replay(j, collect, &s, discarded, &err), 0, "%s", err.msg);
	return s;
}

Test(mqtt_journal, replays_what_was_not_committed_after_a_reopen)
{
	struct mqtt_journal *j = open_ok();
	struct seen s;
	uint64_t t1, discarded = 1;
	struct mqtt_jrec r = {.stream = SC_STREAM_PROC_SENSOR,
			      .flags = MQTT_JF_MALFORMED,
			      .payload = "bin\0ary",
			      .len = 7};
	struct sc_error err = {0};
	uint64_t t3;

	cr_assert_eq(replay(j, NULL).n, 0, "a new journal has nothing to replay");
	t1 = append(j, "host1", "one");
	append(j, NULL, "two");
	cr_assert_eq(mqtt_journal_append(j, &r, &t3, &err), 0, "%s", err.msg);
	commit(j, t1);
	cr_assert_eq(mqtt_journal_pending(j), 2);
	mqtt_journal_close(j); /* as after a SIGKILL: the file stays */

	j = open_ok();
	s = replay(j, &discarded);
	cr_assert_eq(discarded, 0);
	cr_assert_eq(s.n, 2, "replayed %d records, expected the 2 not committed", s.n);
	cr_assert_str_eq(s.payload[0], "two");
	cr_assert_not(s.has_key[0], "a NULL key comes back NULL");
	cr_assert_eq(s.stream[0], SC_STREAM_RAW_CPU);
	cr_assert_eq(s.stream[1], SC_STREAM_PROC_SENSOR);
	cr_assert_eq(s.flags[1], MQTT_JF_MALFORMED);
	cr_assert_eq(mqtt_journal_pending(j), 2);
	mqtt_journal_close(j);
}

Test(mqtt_journal, keeps_keys_and_binary_payloads_intact)
{
	struct mqtt_journal *j = open_ok();
	struct mqtt_jrec r = {.stream = SC_STREAM_RAW_SENSOR,
			      .key = "a/b+#",
			      .klen = 5,
			      .payload = "x\0y",
			      .len = 3};
	struct sc_error err = {0};
	struct seen s;
	uint64_t t;

	cr_assert_eq(mqtt_journal_append(j, &r, &t, &err), 0, "%s", err.msg);
	mqtt_journal_close(j);
	j = open_ok();
	s = replay(j, NULL);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.key[0], "a/b+#");
	cr_assert_eq(s.stream[0], SC_STREAM_RAW_SENSOR);
	cr_assert_eq(s.ticket[0], t, "the replayed ticket is the appended one");
	mqtt_journal_close(j);
}

Test(mqtt_journal, commit_advances_only_over_leading_committed_records)
{
	struct mqtt_journal *j = open_ok();
	uint64_t t1 = append(j, "k", "one"), t2 = append(j, "k", "two"),
		 t3 = append(j, "k", "three");
	struct seen s;

	/* out of order: two and three done, one not yet - nothing may be skipped */
	commit(j, t2);
	commit(j, t3);
	cr_assert_eq(mqtt_journal_pending(j), 3);
	mqtt_journal_close(j);
	j = open_ok();
	s = replay(j, NULL);
	cr_assert_eq(s.n, 3, "a record never committed holds the offset back");
	cr_assert_str_eq(s.payload[0], "one");
	/* now commit all three: nothing is pending, the file is removed on close */
	commit(j, t1);
	commit(j, t2);
	commit(j, t3);
	commit(j, t3); /* twice is harmless */
	cr_assert_eq(mqtt_journal_pending(j), 0);
	mqtt_journal_close(j);
	cr_assert_neq(access(path, F_OK), 0, "a journal with nothing pending is removed");
	j = open_ok();
	cr_assert_eq(replay(j, NULL).n, 0);
	mqtt_journal_close(j);
}

Test(mqtt_journal, truncates_a_torn_tail_and_keeps_the_records_before_it)
{
	struct mqtt_journal *j = open_ok();
	struct stat st;
	uint64_t discarded = 0;
	struct seen s;
	int fd;

	append(j, "k", "whole");
	append(j, "k", "cut short by a crash");
	mqtt_journal_close(j);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(truncate(path, st.st_size - 5), 0);

	j = open_ok();
	s = replay(j, &discarded);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.payload[0], "whole");
	cr_assert_eq(discarded, 8 + 4 + 1 + strlen("cut short by a crash") - 5,
		     "discarded %llu bytes", (unsigned long long)discarded);
	append(j, "k", "after");
	mqtt_journal_close(j);

	/* a flipped byte in the last record: its CRC fails, it is dropped too */
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(pwrite(fd, "X", 1, st.st_size - 1), 1);
	close(fd);
	j = open_ok();
	s = replay(j, &discarded);
	cr_assert_eq(s.n, 1, "the records before the damage still come back");
	cr_assert_str_eq(s.payload[0], "whole");
	cr_assert_gt(discarded, 0);
	mqtt_journal_close(j);
}

Test(mqtt_journal, refuses_a_file_that_is_not_a_journal_and_a_second_opener)
{
	struct mqtt_journal *j = open_ok(), *j2 = NULL;
	struct sc_error err = {0};
	FILE *f;

	append(j, NULL, "held");
	cr_assert_eq(mqtt_journal_open(path, false, &j2, &err), -SC_EAGAIN);
	cr_assert_null(j2);
	cr_assert(strstr(err.msg, "in use") != NULL, "%s", err.msg);
	cr_assert(strstr(err.msg, path) != NULL, "%s", err.msg);
	mqtt_journal_close(j);

	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("something else entirely, longer than a header\n", f);
	fclose(f);
	cr_assert_eq(mqtt_journal_open(path, false, &j2, &err), -SC_EIO);
	cr_assert_null(j2);
	cr_assert(strstr(err.msg, "not a streamctl mqtt journal") != NULL, "%s", err.msg);

	snprintf(path, sizeof(path), "/proc/no/such/c.journal");
	cr_assert_eq(mqtt_journal_open(path, false, &j2, &err), -SC_EIO);
	cr_assert(strstr(err.msg, "mqtt: journal '/proc/no/such/c.journal'") != NULL, "%s",
		  err.msg);
}

Test(mqtt_journal, shrinks_when_everything_is_committed)
{
	struct mqtt_journal *j = open_ok();
	static char big[4096];
	uint64_t last = 0;
	struct stat st;

	memset(big, 'b', sizeof(big) - 1);
	for (int i = 0; i < 80; i++) /* 80 x 4 KiB: past the compaction threshold */
		commit(j, append(j, "k", big));
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_lt(st.st_size, MQTT_JOURNAL_COMPACT, "the file is %lld bytes (no compaction)",
		     (long long)st.st_size);
	last = append(j, "k", "tail");
	mqtt_journal_close(j);
	j = open_ok();
	{
		struct seen s = replay(j, NULL);
		cr_assert_eq(s.n, 1);
		cr_assert_str_eq(s.payload[0], "tail");
		cr_assert_eq(s.ticket[0], last);
	}
	mqtt_journal_close(j);
}

/* issue 19: a failed disk flush left its pending entry behind for good */
Test(mqtt_journal, a_failed_flush_takes_the_record_back_and_compaction_goes_on)
{
	struct sc_error err = {0};
	struct mqtt_journal *j = NULL;
	struct mqtt_jrec r = {.stream = SC_STREAM_RAW_CPU, .payload = "lost", .len = 4};
	static char big[4096];
	uint64_t ticket = 0;
	struct stat st;

	cr_assert_eq(mqtt_journal_open(path, true, &j, &err), 0, "%s", err.msg);
	commit(j, append(j, "k", "first"));
	fail_fdatasync = true;
	cr_assert_neq(mqtt_journal_append(j, &r, &ticket, &err), 0);
	fail_fdatasync = false;
	cr_assert_eq(ticket, 0);
	cr_assert_eq(mqtt_journal_pending(j), 0, "%zu record(s) pending after a failed append",
		     mqtt_journal_pending(j));
	memset(big, 'b', sizeof(big) - 1);
	for (int i = 0; i < 80; i++) /* 80 x 4 KiB: past the compaction threshold */
		commit(j, append(j, "k", big));
	cr_assert_eq(mqtt_journal_pending(j), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_lt(st.st_size, MQTT_JOURNAL_COMPACT, "the file is %lld bytes (no compaction)",
		     (long long)st.st_size);
	append(j, "k", "tail");
	mqtt_journal_close(j);
	j = open_ok();
	{
		struct seen s = replay(j, NULL);
		cr_assert_eq(s.n, 1);
		cr_assert_str_eq(s.payload[0], "tail");
	}
	mqtt_journal_close(j);
}
