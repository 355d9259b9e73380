/* SPDX-License-Identifier: MIT */
/**
 * @file agent_server.h
 * The agent TCP server (docs/protocol.md): framing, validation, authentication and hostname
 * ownership, pipelined registrations committed through the store writer and answered in
 * request order, each only after its commit.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/token.h"
#include "sources/agent_tls.h"
#include "store/store.h"
#include "store/writer.h"

struct prism_agent_server;

struct prism_agent_server_opts {
	const char *const *hosts; /**< listen address literals ("0.0.0.0", "::", …) */
	size_t nhosts;
	uint16_t port;	   /**< plain agent port; 0 = off */
	uint16_t tls_port; /**< TLS agent port; 0 = off */
	/** TLS context for tls_port (borrowed; the caller reloads it and frees it after stop) */
	struct prism_agent_tls *tls;
	uint32_t max_connections;
	uint32_t idle_timeout;	/**< seconds without any byte */
	uint32_t frame_timeout; /**< seconds to complete a started frame */
	uint32_t offline_after; /**< seconds without registration until a host is offline */
	bool auth_required;	/**< refuse registrations without a token */
	/** milliseconds an agent connection is neither read nor served after an authentication
	 *  failure (and it keeps one registration in flight from then on); 0 = none */
	uint32_t auth_failure_delay_ms;
	const struct prism_token_set *tokens;  /**< tokens from the config (borrowed), or NULL */
	const struct prism_cred_key *cred_key; /**< the registry's, tokens are hashed with it
						*   (borrowed for the server's life) */
	/** names no source may claim (core/reserved.h; borrowed: the daemon updates it in
	 *  place on a reload) */
	const struct prism_reserved *reserved;
	struct prism_store_writer *writer;
	struct prism_dns_dest dns; /**< where host records go; target NULL = DNS disabled */
	/** Called on the loop after a committed registration changed desired DNS state. */
	void (*changed_cb)(void *arg);
	void *changed_arg;
};

/** Bind and listen on every host. @p err receives a reason on failure. */
int prism_agent_server_start(uv_loop_t *loop, const struct prism_agent_server_opts *opts,
			     struct prism_agent_server **out, char *err, size_t errlen);

/**
 * Apply a reloaded configuration: the limits and timeouts, offline_after, authentication
 * (required, tokens, reserved names). Listen addresses, port, writer and DNS destination
 * are kept. The token set and the reserved set are borrowed from now on.
 */
void prism_agent_server_reload(struct prism_agent_server *s,
			       const struct prism_agent_server_opts *opts);

/** Close the listeners and every connection; memory is freed from close callbacks. */
void prism_agent_server_stop(struct prism_agent_server *s);

struct prism_agent_server_stats {
	unsigned long long accepted;
	unsigned long long rejected_capacity;
	unsigned long long frames;
	unsigned long long registrations;
	unsigned long long results[5]; /**< by enum prism_reg_result */
	unsigned long long errors;     /**< error answers of any kind */
	unsigned long long auth_failures;
	unsigned long long source_conflicts; /**< names held by a host of another source */
	unsigned long long timeouts;
	unsigned long long write_timeouts; /**< closed: answers not read within idle_timeout */
	unsigned long long tls_handshakes; /**< TLS handshakes completed */
	unsigned long long tls_failures[PRISM_TLS_FAIL_COUNT]; /**< by enum prism_tls_failure */
	unsigned active;
};
void prism_agent_server_stats(const struct prism_agent_server *s,
			      struct prism_agent_server_stats *out);
