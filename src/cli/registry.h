/* SPDX-License-Identifier: MIT */
/**
 * @file registry.h
 * `prism registry import-prism FILE`: migration from the original Prism server's registry
 * (docs/cli.md).
 */
#pragma once

/** Run `prism registry ...`; @p argv[0] is "registry". @return the exit status. */
int prism_registry_main(int argc, char **argv);
