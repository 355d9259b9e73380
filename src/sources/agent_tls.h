/* SPDX-License-Identifier: MIT */
/**
 * @file agent_tls.h
 * TLS for the agent port: the server context (certificate, key, client CA, CRL; rebuilt on
 * reload, the old one kept when a file is bad) and one TLS session per connection over
 * memory BIOs, so that libuv keeps moving the bytes: ciphertext in from the socket,
 * plaintext out to the frame reader, plaintext answers in, ciphertext out to the socket.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Client certificates asked for (server.tls_client_cert). */
enum prism_tls_client_cert {
	PRISM_TLS_CLIENT_NONE,	   /**< not asked for */
	PRISM_TLS_CLIENT_OPTIONAL, /**< asked for; when sent it must verify */
	PRISM_TLS_CLIENT_REQUIRED, /**< a handshake without a valid one fails */
};

/** Why a TLS connection failed: the label of prism_agent_tls_failures_total{reason}. */
enum prism_tls_failure {
	PRISM_TLS_FAIL_NOT_TLS,		  /**< "not_tls": plaintext (or anything) on the port */
	PRISM_TLS_FAIL_HANDSHAKE_TIMEOUT, /**< "handshake_timeout": stalled or slow handshake */
	PRISM_TLS_FAIL_HANDSHAKE_LIMIT,	  /**< "handshake_limit": too many in progress */
	PRISM_TLS_FAIL_PROTOCOL_VERSION,  /**< "protocol_version": below TLS 1.2 */
	PRISM_TLS_FAIL_NO_CLIENT_CERT,	  /**< "no_client_cert": required and none sent */
	PRISM_TLS_FAIL_UNKNOWN_CA,	  /**< "unknown_ca" */
	PRISM_TLS_FAIL_EXPIRED,		  /**< "expired" (or not yet valid) */
	PRISM_TLS_FAIL_REVOKED,		  /**< "revoked" by tls_client_crl */
	PRISM_TLS_FAIL_BAD_CERT,	  /**< "bad_certificate": any other verify failure */
	PRISM_TLS_FAIL_RENEGOTIATION,	  /**< "renegotiation" attempted */
	PRISM_TLS_FAIL_HANDSHAKE,	  /**< "handshake": any other handshake failure */
	PRISM_TLS_FAIL_ERROR,		  /**< "error": a TLS error after the handshake */
	PRISM_TLS_FAIL_COUNT,
};

/** The metric label of @p f. */
const char *prism_tls_failure_name(enum prism_tls_failure f);

struct prism_agent_tls_opts {
	const char *cert;      /**< PEM chain file, leaf first */
	const char *key;       /**< PEM private key file */
	const char *client_ca; /**< PEM CA file for client certificates, or NULL */
	const char *crl;       /**< PEM CRL file(s) for client certificates, or NULL */
	enum prism_tls_client_cert client_cert;
};

struct prism_agent_tls;

/** Build the server context from files. @p err names the file and OpenSSL's reason. */
int prism_agent_tls_new(const struct prism_agent_tls_opts *o, struct prism_agent_tls **out,
			char *err, size_t errlen);

/**
 * Read the files again into a new context. On success new connections use it (connections
 * open keep theirs); on failure nothing changes and @p err says why.
 */
int prism_agent_tls_reload(struct prism_agent_tls *t, const struct prism_agent_tls_opts *o,
			   char *err, size_t errlen);

/** Free the context. NULL is a no-op. Sessions made from it keep what they need. */
void prism_agent_tls_free(struct prism_agent_tls *t);

/**
 * A client context (prism agent, prism register): TLS 1.2 or 1.3, the server's certificate
 * verified against @p ca (NULL: the system's CAs); @p cert and @p key, when given, are the
 * client certificate. Free with prism_agent_tls_free().
 */
int prism_agent_tls_client_new(const char *ca, const char *cert, const char *key,
			       struct prism_agent_tls **out, char *err, size_t errlen);

/* ---- one connection ---- */

struct prism_tls_conn;

/** A new server-side session (accept state). NULL when out of memory. */
struct prism_tls_conn *prism_tls_conn_new(struct prism_agent_tls *t);
void prism_tls_conn_free(struct prism_tls_conn *c);

/**
 * A new client-side session to @p host: the server's certificate must name it (an IP
 * literal is checked against IP subjectAltNames; a name is also sent as SNI). Start the
 * handshake with prism_tls_conn_read() and send what prism_tls_conn_take_out() gives.
 */
struct prism_tls_conn *prism_tls_conn_client(struct prism_agent_tls *t, const char *host);

/** Take ciphertext received from the peer. 0, PRISM_ENOMEM, or a failure (see below). */
int prism_tls_conn_feed(struct prism_tls_conn *c, const uint8_t *p, size_t len);

/** Ciphertext received and not yet decrypted (counts against the reader's room). */
size_t prism_tls_conn_pending_in(const struct prism_tls_conn *c);

/**
 * Advance the handshake and decrypt up to @p room bytes of plaintext into @p buf.
 * @param[out] got  plaintext bytes written (0 when nothing is available yet)
 * @param[out] eof  the peer sent close_notify
 * @return 0, or PRISM_EPROTO when the session failed (prism_tls_conn_failure says why)
 */
int prism_tls_conn_read(struct prism_tls_conn *c, uint8_t *buf, size_t room, size_t *got,
			bool *eof);

/** The handshake has completed. */
bool prism_tls_conn_established(const struct prism_tls_conn *c);

/** Encrypt @p len bytes of plaintext (after the handshake). 0 or PRISM_EPROTO. */
int prism_tls_conn_write(struct prism_tls_conn *c, const void *p, size_t len);

/** Queue a close_notify alert. */
void prism_tls_conn_close_notify(struct prism_tls_conn *c);

/**
 * Take the ciphertext waiting to be sent, as one new buffer (caller frees with free()).
 * @return 0 (with *len 0 when there is none) or PRISM_ENOMEM
 */
int prism_tls_conn_take_out(struct prism_tls_conn *c, uint8_t **out, size_t *len);

/** A client session's TLS session state, to resume with later (NULL: none yet). Free with
 *  prism_tls_saved_free(). */
struct prism_tls_saved;
struct prism_tls_saved *prism_tls_conn_save(const struct prism_tls_conn *c);
void prism_tls_saved_free(struct prism_tls_saved *s);
/** Offer @p s for resumption (before the handshake starts). 0 or PRISM_EINVAL. */
int prism_tls_conn_resume(struct prism_tls_conn *c, const struct prism_tls_saved *s);
/** The handshake resumed a session (no certificate exchange). */
bool prism_tls_conn_resumed(const struct prism_tls_conn *c);

/** Why the session failed, and OpenSSL's words for the log. */
enum prism_tls_failure prism_tls_conn_failure(const struct prism_tls_conn *c, char *why,
					      size_t whylen);

/** A verified client certificate was presented. */
bool prism_tls_conn_has_identity(const struct prism_tls_conn *c);

/** The certificate's names, for messages ("web1.example.com, web1"). */
void prism_tls_conn_names(const struct prism_tls_conn *c, char *out, size_t outlen);

/** Does the verified client certificate allow @p hostname (see prism_cert_name_allows)? */
bool prism_tls_conn_allows(const struct prism_tls_conn *c, const char *hostname, const char *zone);
