/* SPDX-License-Identifier: MIT */
/**
 * @file log.h
 * Logging: one line per event, "2026-01-01T12:00:00.123Z level tag: text", to stderr
 * or a file. Used only at module boundaries (never in src/core, which does no I/O).
 */
#pragma once

#include <stdbool.h>

enum prism_log_level {
	PRISM_LOG_DEBUG = 0,
	PRISM_LOG_INFO,
	PRISM_LOG_WARNING,
	PRISM_LOG_ERROR,
	PRISM_LOG_CRITICAL,
};

/** Parse "debug" | "info" | "warning" | "error" | "critical" (as validated by the config). */
enum prism_log_level prism_log_level_parse(const char *name);

/** Set the threshold and the destination (NULL path = stderr), reopening the file: call
 *  again after log rotation. On failure nothing changes. Returns 0 or -errno. */
int prism_log_init(enum prism_log_level level, const char *path);

/** Close a log file opened by prism_log_init. */
void prism_log_deinit(void);

bool prism_log_enabled(enum prism_log_level level);

/** Log one line. @p tag names the subsystem ("agent", "engine", "store", …). */
void prism_log(enum prism_log_level level, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
