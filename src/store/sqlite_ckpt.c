/* SPDX-License-Identifier: MIT */
/*
 * WAL checkpoints off the writer's path.
 *
 * By default SQLite checkpoints on the connection that commits: once the WAL holds 1,000
 * pages, that commit copies them into the database file and syncs both files before it
 * returns. With group commit, every registration of the batch then waits for the copy and
 * two fdatasyncs (1.7 ms on average, up to 6 ms, on this project's test machine).
 *
 * Here the writer's connection only notes the WAL's size after each commit (its WAL hook).
 * Past CKPT_PAGES it wakes a thread of its own, which runs a PASSIVE checkpoint on a
 * connection of its own: it copies what no reader still needs while the writer goes on
 * committing. The writer restarts the WAL from its start at its next transaction once a
 * checkpoint has copied all of it (SQLite does that by itself).
 *
 * A checkpoint that runs while the writer commits may never find the WAL all copied, and the
 * file would grow. Past CKPT_INLINE_PAGES the writer therefore checkpoints itself, after its
 * commit, as SQLite would have: by then the thread has copied most pages, so the writer only
 * copies the rest. The thread starts at the first checkpoint wanted (a short command-line
 * run never needs it); without it (no thread, no connection) the writer checkpoints itself
 * at CKPT_PAGES, as before.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_int.h"

#define CKPT_PAGES	  1000u /* SQLite's own default (wal_autocheckpoint) */
#define CKPT_INLINE_PAGES 8000u

struct sq_ckpt {
	sqlite3 *db; /* the thread's connection, opened by it */
	char *path;
	bool full; /* synchronous = FULL */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started, broken, want, stop;
	int last_pages;	  /* the WAL's pages after the writer's last commit (writer thread) */
	int inline_pages; /* CKPT_INLINE_PAGES (a test sets it lower) */
	struct prism_sqlite_ckpt_stats stats; /* under lock */
};

static bool ckpt_open(struct sq_ckpt *c)
{
	if (sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK)
		return false;
	/* the checkpoint syncs as the writer's commits do */
	return sqlite3_exec(c->db,
			    c->full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
			    NULL, NULL, NULL) == SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	struct sq_ckpt *c = arg;
	bool ok = ckpt_open(c);
	pthread_mutex_lock(&c->lock);
	if (!ok)
		c->broken = true; /* the writer checkpoints itself from now on */
	while (ok && !c->stop) {
		if (!c->want) {
			pthread_cond_wait(&c->cond, &c->lock);
			continue;
		}
		c->want = false;
		pthread_mutex_unlock(&c->lock);
		int rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL,
						   NULL);
		pthread_mutex_lock(&c->lock);
		if (rc == SQLITE_OK)
			c->stats.background++;
		else if (rc != SQLITE_BUSY) /* busy: the writer's own one runs */
			c->stats.failed++;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* The writer checkpoints itself (as SQLite's auto-checkpoint would). */
static void ckpt_inline(struct sq_ckpt *c, sqlite3 *db)
{
	int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	pthread_mutex_lock(&c->lock);
	if (rc == SQLITE_OK)
		c->stats.by_writer++;
	else if (rc != SQLITE_BUSY) /* busy: the thread's runs; the next commit asks again */
		c->stats.failed++;
	pthread_mutex_unlock(&c->lock);
}

/* After each commit on the writer's connection, with the pages now in the WAL. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sq_ckpt *c = arg;
	(void)name;
	if (pages < c->last_pages) { /* the WAL started over: a checkpoint had copied it all */
		pthread_mutex_lock(&c->lock);
		c->stats.restarts++;
		pthread_mutex_unlock(&c->lock);
	}
	c->last_pages = pages;
	if (pages < (int)CKPT_PAGES)
		return SQLITE_OK;
	pthread_mutex_lock(&c->lock);
	if (!c->started && !c->broken) {
		if (pthread_create(&c->thread, NULL, ckpt_main, c) == 0)
			c->started = true;
		else
			c->broken = true;
	}
	bool self = c->broken || pages >= c->inline_pages;
	c->want = !self;
	if (c->want)
		pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (self)
		ckpt_inline(c, db);
	return SQLITE_OK;
}

int sq_ckpt_start(struct prism_store *s, const char *path, bool full)
{
	struct sq_ckpt *c = calloc(1, sizeof(*c));
	if (c == NULL || (c->path = strdup(path)) == NULL) {
		free(c);
		return -1;
	}
	c->full = full;
	c->inline_pages = CKPT_INLINE_PAGES;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	s->ckpt = c;
	sqlite3_wal_hook(s->db, wal_hook, c); /* replaces the auto-checkpoint */
	return 0;
}

void sq_ckpt_stop(struct prism_store *s)
{
	struct sq_ckpt *c = s->ckpt;
	if (c == NULL)
		return;
	sqlite3_wal_hook(s->db, NULL, NULL);
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (c->started)
		pthread_join(c->thread, NULL);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c->path);
	free(c);
	s->ckpt = NULL;
}

void prism_sqlite_ckpt_stats(struct prism_store *s, struct prism_sqlite_ckpt_stats *out)
{
	memset(out, 0, sizeof(*out));
	struct sq_ckpt *c = s->ckpt;
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

void prism_sqlite_ckpt_inline_pages(struct prism_store *s, int pages)
{
	if (s->ckpt != NULL)
		s->ckpt->inline_pages = pages; /* the writer's thread reads it */
}
