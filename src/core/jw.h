/* SPDX-License-Identifier: MIT */
/**
 * @file jw.h
 * A small streaming JSON writer into one growing buffer, reused from response to response
 * so that building a page of hosts costs no allocation once the buffer has grown. Commas
 * are placed automatically; strings are escaped (control characters, quotes, backslashes;
 * other bytes are copied, the registry only holds UTF-8).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jw {
	char *buf;
	size_t len, cap;
	bool comma;    /* a value was written at this level: the next one needs a comma */
	bool oom;      /* a grow failed: the text is incomplete */
	bool borrowed; /* buf is the caller's (jw_init_buf): moved to the heap if it must grow */
	int64_t day;   /* cache: the day of the last timestamp written (+1, 0 = none) */
	char date[11]; /* and its "YYYY-MM-DD" */
};

/** Start writing into the caller's @p buf of @p cap bytes (e.g. on the stack): no
 *  allocation while the text fits; beyond it the text moves to a heap buffer, which
 *  jw_free() releases (jw_free() leaves a borrowed buffer alone). */
void jw_init_buf(struct jw *w, char *buf, size_t cap);
/** The text so far, NUL-terminated; NULL after an out-of-memory. */
const char *jw_text(struct jw *w);
/** Empty the buffer (keeps its memory). */
void jw_reset(struct jw *w);
/** Free the buffer. */
void jw_free(struct jw *w);

void jw_obj(struct jw *w); /**< '{' */
void jw_end_obj(struct jw *w);
void jw_arr(struct jw *w); /**< '[' */
void jw_end_arr(struct jw *w);
/** Object key, one of the API's own constants (written as is: no quote, backslash or control
 *  character in it); the next call writes its value. */
void jw_key(struct jw *w, const char *k);
/** Object key from data (escaped). */
void jw_key_escaped(struct jw *w, const char *k);
void jw_str(struct jw *w, const char *s); /**< NULL writes null */
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, int64_t v);
void jw_uint(struct jw *w, uint64_t v);
void jw_double(struct jw *w, double v); /**< non-finite values write null */
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/** Pre-serialised JSON text (trusted: written as is), NULL writes null. */
void jw_raw(struct jw *w, const char *json);
/** Unix seconds as "2026-01-01T12:00:00Z"; 0 or less writes null. */
void jw_time(struct jw *w, int64_t unix_seconds);

/** Shortcuts: key and value. */
void jw_kstr(struct jw *w, const char *k, const char *v);
void jw_kint(struct jw *w, const char *k, int64_t v);
void jw_kbool(struct jw *w, const char *k, bool v);
void jw_ktime(struct jw *w, const char *k, int64_t unix_seconds);

/** Format unix seconds as ISO 8601 UTC ("2026-01-01T12:00:00Z") into @p out (>= 21 bytes). */
void jw_time_text(int64_t unix_seconds, char *out, size_t outlen);
