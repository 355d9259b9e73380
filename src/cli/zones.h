/* SPDX-License-Identifier: MIT */
/**
 * @file zones.h
 * `prism zones|records|repoint`: zones, records and repoint over prismd's REST API
 * (docs/zones.md, docs/cli.md). Exit statuses as the admin commands (admin.h).
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/** Whether @p word is one of these commands. */
bool prism_zones_is_command(const char *word);

/** Run the command; @p argv is the whole command line. @return the exit status. */
int prism_zones_main(int argc, char **argv);

/** The commands' part of `prism --help`. */
void prism_zones_usage(FILE *out);
