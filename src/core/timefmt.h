/* SPDX-License-Identifier: MIT */
/**
 * @file timefmt.h
 * ISO 8601 timestamps: validate agent timestamps, format server timestamps.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/**
 * Validate an ISO 8601 date-time with a time part: YYYY-MM-DD, 'T' (or ' '), hh:mm[:ss],
 * optional fraction of any length ('.' or ','), optional zone 'Z' / ±hh:mm / ±hhmm / ±hh.
 * Field ranges are checked (month 1–12, day within the month incl. leap years, hour 0–23
 * (24:00:00 not accepted), minute 0–59, second 0–60).
 * @param[out] reason short lower-case reason on error, e.g. "missing time part",
 *                    "month out of range"; may be NULL
 * @return 0 valid, PRISM_EMSG invalid, PRISM_EINVAL NULL @p s
 */
int prism_iso8601_check(const char *s, size_t len, char *reason, size_t reason_len);

/**
 * Format a UTC time in microseconds since the epoch as "2025-01-01T12:00:00.123456+00:00"
 * (accepted by Python's datetime.fromisoformat).
 * @param out at least 33 bytes
 * @return 0 or PRISM_ETOOBIG (@p outlen too small, or a year outside 0001–9999);
 *         PRISM_EINVAL NULL @p out
 */
int prism_time_format(int64_t usec, char *out, size_t outlen);
