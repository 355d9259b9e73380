/* SPDX-License-Identifier: MIT */
/** @file instances.h `prism instances`: the instances sharing a PostgreSQL registry. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/** Whether @p word is this command ("instances"). */
bool prism_instances_is_command(const char *word);

/** Whole command line (argv[0] the program); the API commands' global options apply. */
int prism_instances_main(int argc, char **argv);

void prism_instances_usage(FILE *out);
