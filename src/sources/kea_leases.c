/* SPDX-License-Identifier: MIT */
/*
 * Following Kea's memfile lease file.
 *
 * One file request at a time (stat, open, read, fstat), chained through callbacks. A check
 * (an inotify event on the file's directory, or the poll timer) stats the file: a new
 * inode or a shorter file means LFC rotated it, and everything is read again into a fresh
 * table — FILE.2, FILE.1, FILE, oldest first, so the last line of an address wins across
 * them — followed by a consistency sync; a longer file means Kea appended, and only the new
 * complete lines are read (a half-written last line waits for the next check). Each line
 * that changes whether an address gives a name, or which, queues a change of that
 * address's host; changes go to the store writer in order, one job at a time, never while a
 * sync job runs. The poll timer also retires leases whose expiry passed without a line.
 *
 * Lifetime: references for the two handles, the request in flight, the job in flight, and
 * one until stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "core/dname.h"
#include "core/error.h"
#include "core/kea_lease.h"
#include "sources/kea_leases.h"

#define TAG	  "kea-leases"
#define CHUNK	  (256u << 10)
#define JOB_MAX	  512u
#define LOG_BURST 5u
#define QUEUE_MAX 1000000u

struct item {
	char key[46]; /* the address */
	char *fqdn;   /* NULL: remove the key */
	const char *zone;
	bool ipv6;
	int64_t expire;
	struct prism_source_result res;
};

struct job {
	struct prism_store_job job;
	struct prism_kea_leases_src *k;
	struct prism_source_ctx ctx;
	struct item *items;
	struct prism_source_entry *entries; /* a sync's; NULL for changes */
	size_t n;
	struct prism_source_sync_result sync;
};

struct prism_kea_leases_src {
	uv_loop_t *loop;
	struct prism_kea_leases_opts opts;
	char *path, *dir, *base;
	uv_fs_event_t ev;
	uv_timer_t tick;
	uv_fs_t req;
	bool busy; /* a file request chain runs */
	bool check_again;
	bool ev_started;
	bool waiting_logged;
	/* the file followed */
	uv_file fd;
	uint64_t ino;
	int64_t off; /* after its last complete line */
	/* the read in progress */
	uv_file rfd;
	int64_t roff;
	char *buf;
	char *carry; /* an incomplete line from the previous chunk */
	size_t ncarry;
	struct prism_kea_csv csv;
	bool have_csv;
	/* a whole read (start, rotation) */
	bool reloading;
	int reload_idx;
	struct prism_kea_leases *fresh;
	struct prism_kea_leases *table;
	int64_t last_expiry;
	/* changes for the writer */
	struct item *queue;
	size_t nqueue, capqueue;
	bool job_inflight;
	bool syncing;
	bool stopping;
	unsigned refs;
	struct prism_ratelimit bad_log, name_log;
	struct prism_kea_leases_stats stats;
};

static void check(struct prism_kea_leases_src *k);
static void flush(struct prism_kea_leases_src *k);
static void read_more(struct prism_kea_leases_src *k);

static void items_free(struct item *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].fqdn);
	free(v);
}

static void unref(struct prism_kea_leases_src *k)
{
	if (--k->refs > 0)
		return;
	if (k->fd >= 0) {
		uv_fs_t r;
		uv_fs_close(k->loop, &r, k->fd, NULL);
		uv_fs_req_cleanup(&r);
	}
	prism_kea_leases_free(k->table);
	prism_kea_leases_free(k->fresh);
	items_free(k->queue, k->nqueue);
	free(k->carry);
	free(k->buf);
	free(k->path);
	free(k->dir);
	free(k->base);
	free(k);
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* ---- changes ---- */

/* The host an address's lease asks for: its FQDN, or NULL (filtered out, not a name). */
static char *lease_fqdn(struct prism_kea_leases_src *k, const struct prism_kea_lease *l,
			const char **zone)
{
	char fqdn[PRISM_DNAME_MAX + 1], name[PRISM_DNAME_MAX + 1], why[96];
	unsigned long long skipped;
	size_t hl = strlen(l->hostname);
	if (hl > 1 && l->hostname[hl - 1] == '.')
		hl--;
	snprintf(name, sizeof(name), "%.*s", (int)hl, l->hostname);
	if (!prism_name_filter_match(k->opts.filter, name))
		return NULL;
	if (prism_srcname_fqdn(l->hostname, strlen(l->hostname), k->opts.zone, k->opts.dns.zones,
			       k->opts.dns.reserved, fqdn, sizeof(fqdn), zone, why,
			       sizeof(why)) != 0) {
		k->stats.src.rejected++;
		if (prism_ratelimit_ok(&k->name_log, uv_now(k->loop), LOG_BURST, &skipped))
			prism_log(PRISM_LOG_WARNING, TAG,
				  "lease %s: hostname '%.64s' ignored: %s "
				  "(%llu more not logged)",
				  l->address, l->hostname, why, skipped);
		return NULL;
	}
	return strdup(fqdn);
}

static void queue_change(struct prism_kea_leases_src *k, const struct prism_kea_lease *l,
			 bool active)
{
	if (k->nqueue >= QUEUE_MAX)
		return; /* far behind: the table is right, a later reload syncs it */
	if (k->nqueue == k->capqueue) {
		size_t cap = k->capqueue ? k->capqueue * 2 : 64;
		struct item *v = realloc(k->queue, cap * sizeof(*v));
		if (v == NULL)
			return;
		k->queue = v;
		k->capqueue = cap;
	}
	struct item *it = &k->queue[k->nqueue++];
	memset(it, 0, sizeof(*it));
	snprintf(it->key, sizeof(it->key), "%s", l->address);
	it->ipv6 = l->ipv6;
	it->expire = l->expire;
	if (active)
		it->fqdn = lease_fqdn(k, l, &it->zone);
}

static struct prism_source_entry entry_of(const struct prism_kea_leases_src *k,
					  const struct item *it)
{
	return (struct prism_source_entry){
		.source = PRISM_SOURCE_KEA_LEASE,
		.key = it->key,
		.fqdn = it->fqdn,
		.zone = it->zone,
		.families = PRISM_FAM_V4 | PRISM_FAM_V6,
		.ipv4 = it->ipv6 ? NULL : it->key,
		.ipv6 = it->ipv6 ? it->key : NULL,
		.ttl = k->opts.ttl,
		.forward = true,
		.reverse = k->opts.dns.auto_ptr,
		.takeover = true, /* a newer lease of a client takes its name over */
	};
}

static int changes_run(struct prism_store *s, const struct prism_store_api *api,
		       struct prism_store_job *job)
{
	struct job *j = (struct job *)job;
	for (size_t i = 0; i < j->n; i++) {
		struct item *it = &j->items[i];
		int rc;
		if (it->fqdn == NULL) {
			rc = api->source_remove(s, PRISM_SOURCE_KEA_LEASE, it->key, &j->ctx,
						&it->res);
		} else {
			struct prism_source_entry e = entry_of(j->k, it);
			rc = api->source_put(s, &e, &j->ctx, &it->res);
		}
		if (rc == 0 && api->job_mark_every > 0 &&
		    i % api->job_mark_every == api->job_mark_every - 1)
			rc = api->job_mark(s);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int sync_run(struct prism_store *s, const struct prism_store_api *api,
		    struct prism_store_job *job)
{
	struct job *j = (struct job *)job;
	return api->source_sync(s, PRISM_SOURCE_KEA_LEASE, j->entries, j->n, &j->ctx, &j->sync);
}

static void log_change(struct prism_kea_leases_src *k, const struct item *it)
{
	char why[96];
	unsigned long long skipped;
	if (it->res.outcome == PRISM_SOURCE_CONFLICT) {
		if (prism_ratelimit_ok(&k->name_log, uv_now(k->loop), LOG_BURST, &skipped))
			prism_log(PRISM_LOG_WARNING, TAG,
				  "lease %s: %s refused: the name is %s "
				  "(%llu more not logged)",
				  it->key, it->fqdn,
				  prism_source_conflict_text(&it->res, why, sizeof(why)), skipped);
	} else if (it->res.outcome != PRISM_SOURCE_UNCHANGED) {
		prism_log(PRISM_LOG_INFO, TAG, "lease %s: %s %s", it->key,
			  it->fqdn ? it->fqdn : "(gone)",
			  it->res.outcome == PRISM_SOURCE_ADDED	    ? "added"
			  : it->res.outcome == PRISM_SOURCE_UPDATED ? "updated"
								    : "removed");
	}
}

static void job_done(struct prism_store_job *job, int err)
{
	struct job *j = (struct job *)job;
	struct prism_kea_leases_src *k = j->k;
	bool changed = false;
	if (j->entries != NULL) {
		k->syncing = false;
		if (err == 0) {
			prism_source_stats_sync(&k->stats.src, &j->sync);
			changed = j->sync.dns_changed;
			prism_log(PRISM_LOG_INFO, TAG,
				  "consistency sync of %zu lease(s): %zu added, "
				  "%zu updated, %zu removed, %zu unchanged, %zu conflict(s)",
				  j->n, j->sync.added, j->sync.updated, j->sync.removed,
				  j->sync.unchanged, j->sync.conflicts);
			for (size_t i = 0; i < j->sync.conflicts && i < PRISM_SOURCE_SYNC_SHOWN;
			     i++)
				prism_log(PRISM_LOG_WARNING, TAG,
					  "%s refused: the name is held by a "
					  "host of source %s",
					  j->sync.shown[i].name,
					  prism_source_name(j->sync.shown[i].holder));
		}
	} else {
		k->job_inflight = false;
		for (size_t i = 0; err == 0 && i < j->n; i++) {
			prism_source_stats_add(&k->stats.src, &j->items[i].res);
			changed |= j->items[i].res.dns_changed;
			log_change(k, &j->items[i]);
		}
	}
	if (err != 0) {
		k->stats.src.failed += j->n;
		if (err != -ECANCELED)
			prism_log(PRISM_LOG_ERROR, TAG,
				  "cannot store %zu lease change(s) (%s); the "
				  "file is read again",
				  j->n, prism_strerror(err));
		if (!k->stopping)
			k->ino = 0; /* the next check reloads and syncs */
	}
	if (changed && k->opts.changed_cb != NULL && !k->stopping)
		k->opts.changed_cb(k->opts.arg);
	items_free(j->items, j->n);
	free(j->entries);
	free(j);
	flush(k);
	unref(k);
}

static void submit(struct prism_kea_leases_src *k, struct job *j)
{
	j->k = k;
	j->ctx = prism_source_ctx(&k->opts.dns, now_s());
	j->job.run = j->entries ? sync_run : changes_run;
	j->job.done = job_done;
	k->refs++;
	prism_store_writer_submit(k->opts.writer, &j->job);
}

static void flush(struct prism_kea_leases_src *k)
{
	if (k->nqueue == 0 || k->job_inflight || k->syncing || k->stopping)
		return;
	size_t n = k->nqueue < JOB_MAX ? k->nqueue : JOB_MAX;
	struct job *j = calloc(1, sizeof(*j));
	struct item *v = j ? malloc(n * sizeof(*v)) : NULL;
	if (v == NULL) {
		free(j);
		return;
	}
	memcpy(v, k->queue, n * sizeof(*v));
	memmove(k->queue, k->queue + n, (k->nqueue - n) * sizeof(*v));
	k->nqueue -= n;
	j->items = v;
	j->n = n;
	k->job_inflight = true;
	submit(k, j);
}

/* ---- the consistency sync after a whole read ---- */

struct collect {
	struct prism_kea_leases_src *k;
	struct item *v;
	size_t n, cap;
	int64_t now;
};

static bool collect_cb(void *arg, const struct prism_kea_lease *l)
{
	struct collect *c = arg;
	if (!prism_kea_lease_active(l, c->now))
		return true;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct item *v = realloc(c->v, cap * sizeof(*v));
		if (v == NULL)
			return false;
		c->v = v;
		c->cap = cap;
	}
	struct item *it = &c->v[c->n];
	memset(it, 0, sizeof(*it));
	it->fqdn = lease_fqdn(c->k, l, &it->zone);
	if (it->fqdn == NULL)
		return true;
	snprintf(it->key, sizeof(it->key), "%s", l->address);
	it->ipv6 = l->ipv6;
	it->expire = l->expire;
	c->n++;
	return true;
}

/* By name, the newest lease last: of leases sharing a name, the newest keeps it. */
static int by_name(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = strcmp(x->fqdn, y->fqdn);
	return c ? c : (x->expire > y->expire) - (x->expire < y->expire);
}

static void start_sync(struct prism_kea_leases_src *k)
{
	struct collect c = {.k = k, .now = now_s()};
	prism_kea_leases_each(k->table, collect_cb, &c);
	if (c.n > 1)
		qsort(c.v, c.n, sizeof(*c.v), by_name);
	size_t w = 0;
	for (size_t i = 0; i < c.n; i++) {
		if (i + 1 < c.n && strcmp(c.v[i].fqdn, c.v[i + 1].fqdn) == 0) {
			free(c.v[i].fqdn); /* an older lease of the same name */
			continue;
		}
		c.v[w++] = c.v[i];
	}
	struct job *j = calloc(1, sizeof(*j));
	struct prism_source_entry *e = calloc(w ? w : 1, sizeof(*e));
	if (j == NULL || e == NULL) {
		free(j);
		free(e);
		items_free(c.v, w);
		prism_log(PRISM_LOG_ERROR, TAG, "consistency sync: out of memory");
		return;
	}
	for (size_t i = 0; i < w; i++)
		e[i] = entry_of(k, &c.v[i]);
	j->items = c.v;
	j->entries = e;
	j->n = w;
	/* the changes queued before are part of what the sync makes true */
	items_free(k->queue, k->nqueue);
	k->queue = NULL;
	k->nqueue = k->capqueue = 0;
	k->syncing = true;
	submit(k, j);
}

/* ---- reading lines ---- */

static void apply_line(struct prism_kea_leases_src *k, const char *line, size_t len)
{
	char why[96];
	unsigned long long skipped;
	struct prism_kea_lease l;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	if (len >= 8 && memcmp(line, "address,", 8) == 0) {
		k->have_csv = prism_kea_csv_header(line, len, &k->csv, NULL, 0) == 0;
		return;
	}
	k->stats.lines++;
	int rc = k->have_csv ? prism_kea_csv_line(&k->csv, line, len, &l, why, sizeof(why))
			     : PRISM_EMSG;
	if (rc != 0) {
		k->stats.bad_lines++;
		if (!k->have_csv)
			snprintf(why, sizeof(why), "no header line before it");
		if (prism_ratelimit_ok(&k->bad_log, uv_now(k->loop), LOG_BURST, &skipped))
			prism_log(PRISM_LOG_WARNING, TAG,
				  "%s: line ignored: %s (%llu more not "
				  "logged)",
				  k->path, why, skipped);
		return;
	}
	bool was, is, renamed;
	int64_t now = now_s();
	struct prism_kea_leases *t = k->reloading ? k->fresh : k->table;
	if (prism_kea_leases_put(t, &l, now, &was, &is, &renamed) != 0)
		return;
	if (k->reloading)
		return; /* the sync that ends the read decides */
	if (is && (!was || renamed))
		queue_change(k, &l, true);
	else if (was && !is)
		queue_change(k, &l, false);
}

/* The complete lines of buf[0..n) (after what was carried); the rest is carried. */
static int take_lines(struct prism_kea_leases_src *k, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		if (nl == NULL) {
			if (k->ncarry + n > PRISM_KEA_LINE_MAX)
				return PRISM_ETOOBIG;
			memcpy(k->carry + k->ncarry, p, n);
			k->ncarry += n;
			return 0;
		}
		size_t len = (size_t)(nl - p);
		if (k->ncarry > 0) {
			if (k->ncarry + len > PRISM_KEA_LINE_MAX)
				return PRISM_ETOOBIG;
			memcpy(k->carry + k->ncarry, p, len);
			apply_line(k, k->carry, k->ncarry + len);
			k->ncarry = 0;
		} else {
			apply_line(k, p, len);
		}
		n -= len + 1;
		p = nl + 1;
	}
	return 0;
}

/* ---- the file request chain ---- */

static void chain_end(struct prism_kea_leases_src *k)
{
	k->busy = false;
	flush(k);
	if (k->check_again && !k->stopping) {
		k->check_again = false;
		check(k);
	}
}

static void close_rfd(struct prism_kea_leases_src *k)
{
	uv_fs_t r;
	uv_fs_close(k->loop, &r, k->rfd, NULL); /* close(2) of a regular file: no waiting */
	uv_fs_req_cleanup(&r);
	k->rfd = -1;
}

static void reload_next(struct prism_kea_leases_src *k);

static void finish_reload(struct prism_kea_leases_src *k, uint64_t ino)
{
	if (k->fd >= 0 && k->fd != k->rfd) {
		uv_fs_t r;
		uv_fs_close(k->loop, &r, k->fd, NULL);
		uv_fs_req_cleanup(&r);
	}
	k->fd = k->rfd;
	k->rfd = -1;
	k->ino = ino;
	k->off = k->roff - (int64_t)k->ncarry;
	k->ncarry = 0;
	prism_kea_leases_free(k->table);
	k->table = k->fresh;
	k->fresh = NULL;
	k->reloading = false;
	k->stats.reloads++;
	k->last_expiry = now_s();
	prism_log(PRISM_LOG_INFO, TAG, "read %s: %zu lease(s)", k->path,
		  prism_kea_leases_count(k->table));
	start_sync(k);
}

static void fstat_cb(uv_fs_t *req)
{
	struct prism_kea_leases_src *k = req->data;
	uint64_t ino = req->result == 0 ? req->statbuf.st_ino : 0;
	uv_fs_req_cleanup(req);
	if (!k->stopping)
		finish_reload(k, ino);
	else
		close_rfd(k);
	chain_end(k);
	unref(k);
}

/* The end of one file of a read. */
static void read_eof(struct prism_kea_leases_src *k)
{
	if (!k->reloading) {
		/* following: a half-written last line is read again next time */
		k->off = k->roff - (int64_t)k->ncarry;
		k->ncarry = 0;
		chain_end(k);
		return;
	}
	if (k->reload_idx < 2) {
		if (k->ncarry > 0) {
			apply_line(k, k->carry, k->ncarry); /* a finished file's last line */
			k->ncarry = 0;
		}
		close_rfd(k);
		k->reload_idx++;
		reload_next(k);
		return;
	}
	k->refs++;
	k->req.data = k;
	if (uv_fs_fstat(k->loop, &k->req, k->rfd, fstat_cb) != 0) {
		k->refs--;
		finish_reload(k, 0);
		chain_end(k);
	}
}

static void read_cb(uv_fs_t *req)
{
	struct prism_kea_leases_src *k = req->data;
	ssize_t n = req->result;
	uv_fs_req_cleanup(req);
	if (k->stopping) {
		if (k->rfd >= 0 && k->rfd != k->fd)
			close_rfd(k);
		k->busy = false;
		unref(k);
		return;
	}
	if (n < 0) {
		prism_log(PRISM_LOG_ERROR, TAG, "cannot read %s (%s)", k->path,
			  uv_strerror((int)n));
		if (k->reloading) {
			close_rfd(k);
			prism_kea_leases_free(k->fresh);
			k->fresh = NULL;
			k->reloading = false;
		}
		k->ino = 0; /* start over at the next check */
		chain_end(k);
		unref(k);
		return;
	}
	if (n == 0) {
		read_eof(k);
		unref(k);
		return;
	}
	k->roff += n;
	if (take_lines(k, k->buf, (size_t)n) != 0) {
		k->stats.bad_lines++;
		k->ncarry = 0;
		prism_log(PRISM_LOG_WARNING, TAG, "%s: a line over %u bytes ignored", k->path,
			  PRISM_KEA_LINE_MAX);
	}
	read_more(k);
	unref(k);
}

static void read_more(struct prism_kea_leases_src *k)
{
	uv_buf_t b = uv_buf_init(k->buf, CHUNK);
	k->refs++;
	k->req.data = k;
	int rc = uv_fs_read(k->loop, &k->req, k->rfd, &b, 1, k->roff, read_cb);
	if (rc != 0) {
		k->refs--;
		k->ino = 0;
		chain_end(k);
	}
}

static void open_cb(uv_fs_t *req)
{
	struct prism_kea_leases_src *k = req->data;
	ssize_t fd = req->result;
	uv_fs_req_cleanup(req);
	if (k->stopping) {
		if (fd >= 0) {
			k->rfd = (uv_file)fd;
			close_rfd(k);
		}
		k->busy = false;
		unref(k);
		return;
	}
	if (fd < 0) {
		if (k->reload_idx < 2) {
			k->reload_idx++; /* FILE.2 and FILE.1 exist only around LFC */
			reload_next(k);
		} else {
			/* FILE vanished between the stat and the open: try again later */
			prism_kea_leases_free(k->fresh);
			k->fresh = NULL;
			k->reloading = false;
			chain_end(k);
		}
		unref(k);
		return;
	}
	k->rfd = (uv_file)fd;
	k->roff = 0;
	k->ncarry = 0;
	k->have_csv = false;
	read_more(k);
	unref(k);
}

static void reload_next(struct prism_kea_leases_src *k)
{
	char name[4096];
	static const char *const suffix[] = {".2", ".1", ""};
	snprintf(name, sizeof(name), "%s%s", k->path, suffix[k->reload_idx]);
	k->refs++;
	k->req.data = k;
	if (uv_fs_open(k->loop, &k->req, name, O_RDONLY | O_CLOEXEC, 0, open_cb) != 0) {
		k->refs--;
		chain_end(k);
	}
}

static void stat_cb(uv_fs_t *req)
{
	struct prism_kea_leases_src *k = req->data;
	int64_t rc = req->result;
	uint64_t ino = req->statbuf.st_ino;
	int64_t size = (int64_t)req->statbuf.st_size;
	uv_fs_req_cleanup(req);
	if (k->stopping) {
		k->busy = false;
		unref(k);
		return;
	}
	if (rc < 0) {
		if (!k->waiting_logged)
			prism_log(PRISM_LOG_WARNING, TAG, "%s: %s; waiting for it", k->path,
				  uv_strerror((int)rc));
		k->waiting_logged = true;
		chain_end(k);
	} else if (k->fd < 0 || ino != k->ino || size < k->off) {
		/* first read, or LFC rotated the file: read the whole state again */
		k->waiting_logged = false;
		k->reloading = true;
		k->reload_idx = 0;
		prism_kea_leases_free(k->fresh);
		k->fresh = prism_kea_leases_new();
		if (k->fresh == NULL) {
			k->reloading = false;
			chain_end(k);
		} else {
			reload_next(k);
		}
	} else if (size > k->off) {
		k->rfd = k->fd;
		k->roff = k->off;
		k->ncarry = 0;
		read_more(k);
	} else {
		chain_end(k);
	}
	unref(k);
}

static void check(struct prism_kea_leases_src *k)
{
	if (k->stopping)
		return;
	if (k->busy) {
		k->check_again = true;
		return;
	}
	k->busy = true;
	k->refs++;
	k->req.data = k;
	if (uv_fs_stat(k->loop, &k->req, k->path, stat_cb) != 0) {
		k->refs--;
		k->busy = false;
	}
}

/* ---- events and the poll timer ---- */

static void expired_cb(void *arg, const struct prism_kea_lease *l)
{
	queue_change(arg, l, false);
}

static void tick_cb(uv_timer_t *t)
{
	struct prism_kea_leases_src *k = t->data;
	int64_t now = now_s();
	if (k->table != NULL && !k->reloading && now > k->last_expiry) {
		prism_kea_leases_expired(k->table, k->last_expiry, now, expired_cb, k);
		k->last_expiry = now;
		flush(k);
	}
	check(k);
}

static void event_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct prism_kea_leases_src *k = h->data;
	size_t bl = strlen(k->base);
	/* FILE, FILE.1, FILE.2 (LFC's files), or an event without a name: look */
	if (status == 0 && (filename == NULL || (strncmp(filename, k->base, bl) == 0 &&
						 (filename[bl] == '\0' || filename[bl] == '.'))))
		check(k);
}

static void handle_closed_cb(uv_handle_t *h)
{
	unref(h->data);
}

int prism_kea_leases_start(uv_loop_t *loop, const struct prism_kea_leases_opts *opts,
			   struct prism_kea_leases_src **out)
{
	if (loop == NULL || opts == NULL || opts->path == NULL || opts->zone == NULL ||
	    opts->writer == NULL || out == NULL)
		return PRISM_EINVAL;
	struct prism_kea_leases_src *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return PRISM_ENOMEM;
	k->loop = loop;
	k->opts = *opts;
	k->fd = k->rfd = -1;
	k->refs = 3; /* stop, timer, event handle */
	k->path = strdup(opts->path);
	char *d = strdup(opts->path), *b = strdup(opts->path);
	k->dir = d ? strdup(dirname(d)) : NULL;
	k->base = b ? strdup(basename(b)) : NULL;
	free(d);
	free(b);
	k->buf = malloc(CHUNK);
	k->carry = malloc(PRISM_KEA_LINE_MAX);
	k->opts.path = k->path;
	uv_timer_init(loop, &k->tick);
	k->tick.data = k;
	uv_fs_event_init(loop, &k->ev);
	k->ev.data = k;
	if (k->path == NULL || k->dir == NULL || k->base == NULL || k->buf == NULL ||
	    k->carry == NULL) {
		prism_kea_leases_stop(k);
		return PRISM_ENOMEM;
	}
	int rc = uv_fs_event_start(&k->ev, event_cb, k->dir, 0);
	if (rc != 0)
		prism_log(PRISM_LOG_WARNING, TAG,
			  "cannot watch %s (%s): checking every %u ms only", k->dir,
			  uv_strerror(rc), opts->poll_interval);
	uv_timer_start(&k->tick, tick_cb, opts->poll_interval, opts->poll_interval);
	check(k);
	*out = k;
	return 0;
}

void prism_kea_leases_stop(struct prism_kea_leases_src *k)
{
	if (k == NULL)
		return;
	k->stopping = true;
	uv_fs_event_stop(&k->ev);
	uv_close((uv_handle_t *)&k->ev, handle_closed_cb);
	uv_close((uv_handle_t *)&k->tick, handle_closed_cb);
	unref(k);
}

void prism_kea_leases_stats(const struct prism_kea_leases_src *k,
			    struct prism_kea_leases_stats *out)
{
	*out = k->stats;
	out->leases = prism_kea_leases_count(k->table);
}
