/* SPDX-License-Identifier: MIT */
/**
 * @file admin.h
 * `prism hosts|tokens|targets|sync|plan|audit|health`: the admin commands, clients of prismd's
 * REST API (docs/api.md). Human tables by default, the server's JSON with --json
 * (docs/cli.md).
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/** Exit statuses of the admin commands (documented in `prism --help` and docs/cli.md). */
enum prism_admin_exit {
	PRISM_ADMIN_EXIT_OK = 0,	  /**< done; `prism plan`: nothing to change */
	PRISM_ADMIN_EXIT_ERROR = 1,	  /**< the server answered with an error */
	PRISM_ADMIN_EXIT_USAGE = 2,	  /**< bad command line, unreadable --api-key-file */
	PRISM_ADMIN_EXIT_CHANGES = 2,	  /**< `prism plan` only: changes are pending */
	PRISM_ADMIN_EXIT_UNREACHABLE = 3, /**< no answer, or not the API's JSON */
	PRISM_ADMIN_EXIT_AUTH = 4,	  /**< 401 or 403: missing, wrong or too weak API key */
};

/** Whether @p word names an admin command ("hosts", "plan", …). */
bool prism_admin_is_command(const char *word);

/**
 * Run one admin command. @p argv is the whole command line (argv[0] is the program);
 * the command and its options may come in any order (`prism --json hosts list`).
 * @return the process exit status (enum prism_admin_exit)
 */
int prism_admin_main(int argc, char **argv);

/** Print the admin part of `prism --help` (commands, global options, exit statuses). */
void prism_admin_usage(FILE *out);
