/* SPDX-License-Identifier: MIT */
/**
 * @file agent.h
 * `prism agent`: the host-side daemon that registers this machine with prismd at start and
 * every heartbeat interval (see docs/agent.md).
 */
#pragma once

/** Exit statuses of `prism agent` (documented in docs/agent.md and the systemd unit). */
enum prism_agent_exit {
	PRISM_AGENT_EXIT_OK = 0,	  /**< stopped by SIGINT/SIGTERM, or --once registered */
	PRISM_AGENT_EXIT_INTERNAL = 1,	  /**< out of memory, event loop failure */
	PRISM_AGENT_EXIT_CONFIG = 2,	  /**< bad flags or config; server refused the message */
	PRISM_AGENT_EXIT_AUTH = 3,	  /**< token missing or refused: fatal */
	PRISM_AGENT_EXIT_OWNED = 4,	  /**< the hostname belongs to another client: fatal */
	PRISM_AGENT_EXIT_UNREACHABLE = 5, /**< --once only: the server could not be reached */
};

/**
 * Run `prism agent`. @p argv[0] is "agent"; the options follow.
 * @return the process exit status (enum prism_agent_exit)
 */
int prism_agent_main(int argc, char **argv);
