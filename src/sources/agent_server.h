/* SPDX-License-Identifier: MIT */
/**
 * @file agent_server.h
 * The agent TCP server (PROTOCOL.md): framing, validation, one response per frame in order,
 * registrations committed through the store writer and answered only after the commit.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"
#include "store/writer.h"

struct prism_agent_server;

struct prism_agent_server_opts {
	const char *host;            /**< listen address literal: "0.0.0.0", "::", "127.0.0.1" */
	uint16_t port;
	uint32_t max_connections;
	uint32_t idle_timeout;       /**< seconds without any byte */
	uint32_t frame_timeout;      /**< seconds to complete a started frame */
	struct prism_store_writer *writer;
	struct prism_dns_dest dns;   /**< where host records go; target NULL = DNS disabled */
	/** Called on the loop after a committed registration changed desired DNS state. */
	void (*changed_cb)(void *arg);
	void *changed_arg;
};

/** Bind and listen. @p err receives a reason on failure ("cannot listen on …: …"). */
int prism_agent_server_start(uv_loop_t *loop, const struct prism_agent_server_opts *opts,
			     struct prism_agent_server **out, char *err, size_t errlen);

/** Close the listener and every connection; memory is freed from close callbacks. */
void prism_agent_server_stop(struct prism_agent_server *s);

struct prism_agent_server_stats {
	unsigned long long accepted;
	unsigned long long rejected_capacity;
	unsigned long long frames;
	unsigned long long registrations;
	unsigned long long errors;
	unsigned long long timeouts;
	unsigned active;
};
void prism_agent_server_stats(const struct prism_agent_server *s,
			      struct prism_agent_server_stats *out);
