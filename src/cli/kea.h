/* SPDX-License-Identifier: MIT */
/**
 * @file kea.h
 * `prism kea install-trigger [--uninstall]`: the notification trigger on Kea's PostgreSQL
 * hosts table that kea.reservations listens to (docs/kea.md).
 */
#pragma once

/** Run `prism kea ...`; @p argv[0] is "kea". @return the exit status. */
int prism_kea_main(int argc, char **argv);
