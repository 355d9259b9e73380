/* SPDX-License-Identifier: MIT */
/*
 * TLS on the agent port (agent_tls.h).
 *
 * OpenSSL never touches a socket here: each session reads ciphertext from one memory BIO
 * and writes ciphertext to another, and the agent server moves those bytes with libuv like
 * any others. TLS 1.2 and 1.3 only, forward-secret AEAD suites for 1.2, no compression, no
 * renegotiation: a client that tries one fails with the reason "renegotiation" (OpenSSL
 * answers it with a no_renegotiation alert, which the info callback sees).
 *
 * A reload builds a whole new SSL_CTX; the old one is freed when the last session made from
 * it ends (OpenSSL counts references), so connections are never dropped by a reload.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/certname.h"
#include "core/dname.h"
#include "core/error.h"
#include "sources/agent_tls.h"

#define MAX_NAMES     8u
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

struct prism_agent_tls {
	SSL_CTX *ctx;
};

struct prism_tls_conn {
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	bool established;
	bool failed;
	bool renegotiation;
	bool identity;
	bool first_seen;
	enum prism_tls_failure failure;
	char why[160];
	size_t nnames;
	char names[MAX_NAMES][PRISM_HOSTNAME_MAX + 2];
};

static const char *const failure_names[PRISM_TLS_FAIL_COUNT] = {
	[PRISM_TLS_FAIL_NOT_TLS] = "not_tls",
	[PRISM_TLS_FAIL_HANDSHAKE_TIMEOUT] = "handshake_timeout",
	[PRISM_TLS_FAIL_HANDSHAKE_LIMIT] = "handshake_limit",
	[PRISM_TLS_FAIL_PROTOCOL_VERSION] = "protocol_version",
	[PRISM_TLS_FAIL_NO_CLIENT_CERT] = "no_client_cert",
	[PRISM_TLS_FAIL_UNKNOWN_CA] = "unknown_ca",
	[PRISM_TLS_FAIL_EXPIRED] = "expired",
	[PRISM_TLS_FAIL_REVOKED] = "revoked",
	[PRISM_TLS_FAIL_BAD_CERT] = "bad_certificate",
	[PRISM_TLS_FAIL_RENEGOTIATION] = "renegotiation",
	[PRISM_TLS_FAIL_HANDSHAKE] = "handshake",
	[PRISM_TLS_FAIL_ERROR] = "error",
};

const char *prism_tls_failure_name(enum prism_tls_failure f)
{
	return f < PRISM_TLS_FAIL_COUNT ? failure_names[f] : "error";
}

/* ---- the context ---- */

/* "what file (OpenSSL's reason)" into @p err; clears OpenSSL's error queue. */
static int ctx_fail(char *err, size_t errlen, const char *key, const char *file)
{
	char why[200] = "unknown error";
	unsigned long e = ERR_peek_last_error();
	if (e != 0)
		ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	snprintf(err, errlen, "%s: cannot load %s (%s)", key, file, why);
	return PRISM_ECONFIG;
}

static int load_crl(SSL_CTX *ctx, const char *file, char *err, size_t errlen)
{
	BIO *in = BIO_new_file(file, "r");
	if (in == NULL)
		return ctx_fail(err, errlen, "server.tls_client_crl", file);
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	X509_CRL *crl;
	int n = 0;
	while ((crl = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_crl(st, crl);
		X509_CRL_free(crl);
		if (!ok) {
			BIO_free(in);
			return ctx_fail(err, errlen, "server.tls_client_crl", file);
		}
		n++;
	}
	BIO_free(in);
	ERR_clear_error(); /* the end of the file reads as an error */
	if (n == 0) {
		snprintf(err, errlen, "server.tls_client_crl: %s holds no PEM CRL", file);
		return PRISM_ECONFIG;
	}
	X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
	return 0;
}

static void info_cb(const SSL *ssl, int where, int ret)
{
	struct prism_tls_conn *c = SSL_get_app_data(ssl);
	if (c == NULL || !c->established)
		return;
	/* TLS 1.2: a ClientHello after the handshake is refused with no_renegotiation */
	if ((where & SSL_CB_WRITE_ALERT) == SSL_CB_WRITE_ALERT &&
	    (ret & 0xff) == SSL_AD_NO_RENEGOTIATION)
		c->renegotiation = true;
	/* TLS 1.3 runs "handshakes" for tickets and key updates: those are fine */
	if ((where & SSL_CB_HANDSHAKE_START) && SSL_version(ssl) != TLS1_3_VERSION)
		c->renegotiation = true;
}

static int load_client_ca(SSL_CTX *ctx, const struct prism_agent_tls_opts *o, char *err,
			  size_t errlen)
{
	if (o->client_ca == NULL)
		return 0;
	if (SSL_CTX_load_verify_locations(ctx, o->client_ca, NULL) != 1)
		return ctx_fail(err, errlen, "server.tls_client_ca", o->client_ca);
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca);
	if (names == NULL)
		return ctx_fail(err, errlen, "server.tls_client_ca", o->client_ca);
	SSL_CTX_set_client_CA_list(ctx, names);
	if (o->crl != NULL)
		return load_crl(ctx, o->crl, err, errlen);
	return 0;
}

static SSL_CTX *ctx_build(const struct prism_agent_tls_opts *o, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "prism-agent";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		ctx_fail(err, errlen, "server.tls_cert", "(no TLS context)");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	int rc = 0;
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
		rc = ctx_fail(err, errlen, "server.tls_cert", "(cipher list)");
	else if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1)
		rc = ctx_fail(err, errlen, "server.tls_cert", o->cert);
	else if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1)
		rc = ctx_fail(err, errlen, "server.tls_key", o->key);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		rc = ctx_fail(err, errlen, "server.tls_key", o->key); /* not the cert's key */
	else
		rc = load_client_ca(ctx, o, err, errlen);
	if (rc != 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	int mode = SSL_VERIFY_NONE;
	if (o->client_cert == PRISM_TLS_CLIENT_OPTIONAL)
		mode = SSL_VERIFY_PEER;
	else if (o->client_cert == PRISM_TLS_CLIENT_REQUIRED)
		mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, mode, NULL);
	/* resumption: session IDs (TLS 1.2) and one ticket per handshake (TLS 1.3) */
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_info_callback(ctx, info_cb);
	/* an idle connection gives its 16 KiB record buffers back */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

int prism_agent_tls_new(const struct prism_agent_tls_opts *o, struct prism_agent_tls **out,
			char *err, size_t errlen)
{
	if (o == NULL || out == NULL || o->cert == NULL || o->key == NULL)
		return PRISM_EINVAL;
	struct prism_agent_tls *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return PRISM_ENOMEM;
	t->ctx = ctx_build(o, err, errlen);
	if (t->ctx == NULL) {
		free(t);
		return PRISM_ECONFIG;
	}
	*out = t;
	return 0;
}

int prism_agent_tls_reload(struct prism_agent_tls *t, const struct prism_agent_tls_opts *o,
			   char *err, size_t errlen)
{
	if (t == NULL || o == NULL || o->cert == NULL || o->key == NULL)
		return PRISM_EINVAL;
	SSL_CTX *ctx = ctx_build(o, err, errlen);
	if (ctx == NULL)
		return PRISM_ECONFIG;
	SSL_CTX_free(t->ctx); /* sessions still open hold their own reference */
	t->ctx = ctx;
	return 0;
}

void prism_agent_tls_free(struct prism_agent_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

int prism_agent_tls_client_new(const char *ca, const char *cert, const char *key,
			       struct prism_agent_tls **out, char *err, size_t errlen)
{
	if (out == NULL || (cert == NULL) != (key == NULL))
		return PRISM_EINVAL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int rc = 0;
	if (ctx == NULL)
		return ctx_fail(err, errlen, "TLS", "(no TLS context)");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL); /* the server is always verified */
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
		rc = ctx_fail(err, errlen, "TLS", "(cipher list)");
	else if (ca != NULL && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		rc = ctx_fail(err, errlen, "CA file", ca);
	else if (ca == NULL && SSL_CTX_set_default_verify_paths(ctx) != 1)
		rc = ctx_fail(err, errlen, "CA file", "(the system's)");
	else if (cert != NULL && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		rc = ctx_fail(err, errlen, "certificate", cert);
	else if (key != NULL && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		rc = ctx_fail(err, errlen, "key", key);
	else if (cert != NULL && SSL_CTX_check_private_key(ctx) != 1)
		rc = ctx_fail(err, errlen, "key", key);
	struct prism_agent_tls *t = rc == 0 ? calloc(1, sizeof(*t)) : NULL;
	if (t == NULL) {
		SSL_CTX_free(ctx);
		return rc != 0 ? rc : PRISM_ENOMEM;
	}
	t->ctx = ctx;
	*out = t;
	return 0;
}

/* ---- a session ---- */

struct prism_tls_conn *prism_tls_conn_client(struct prism_agent_tls *t, const char *host)
{
	struct prism_tls_conn *c = prism_tls_conn_new(t);
	unsigned char ip[16];
	if (c == NULL)
		return NULL;
	SSL_set_connect_state(c->ssl);
	bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	int ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host)
			 : SSL_set_tlsext_host_name(c->ssl, host) == 1 &&
				   SSL_set1_host(c->ssl, host) == 1;
	if (!ok) {
		ERR_clear_error();
		prism_tls_conn_free(c);
		return NULL;
	}
	return c;
}

struct prism_tls_conn *prism_tls_conn_new(struct prism_agent_tls *t)
{
	struct prism_tls_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->ssl = SSL_new(t->ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		SSL_free(c->ssl);
		free(c);
		ERR_clear_error();
		return NULL;
	}
	/* an empty memory BIO means "no data yet", not end of file */
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_accept_state(c->ssl);
	SSL_set_app_data(c->ssl, c);
	return c;
}

void prism_tls_conn_free(struct prism_tls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl);
	free(c);
}

static enum prism_tls_failure verify_failure(long v)
{
	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID: return PRISM_TLS_FAIL_EXPIRED;
	case X509_V_ERR_CERT_REVOKED: return PRISM_TLS_FAIL_REVOKED;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return PRISM_TLS_FAIL_UNKNOWN_CA;
	default: return PRISM_TLS_FAIL_BAD_CERT;
	}
}

/* Record why the session failed (from OpenSSL's state) and fail it. */
static int conn_fail(struct prism_tls_conn *c, int sslerr)
{
	unsigned long e = ERR_peek_error();
	long v = SSL_get_verify_result(c->ssl);
	int reason = ERR_GET_REASON(e);
	c->failed = true;
	if (!c->established && v != X509_V_OK) {
		c->failure = verify_failure(v);
		snprintf(c->why, sizeof(c->why), "%s", X509_verify_cert_error_string(v));
		ERR_clear_error();
		return PRISM_EPROTO;
	}
	if (!c->established)
		c->failure = PRISM_TLS_FAIL_HANDSHAKE;
	else
		c->failure = PRISM_TLS_FAIL_ERROR;
	if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		c->failure = PRISM_TLS_FAIL_NO_CLIENT_CERT;
	else if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
		 reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
		c->failure = PRISM_TLS_FAIL_PROTOCOL_VERSION;
	else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
		 reason == SSL_R_HTTPS_PROXY_REQUEST)
		c->failure = PRISM_TLS_FAIL_NOT_TLS;
	if (e != 0)
		ERR_error_string_n(e, c->why, sizeof(c->why));
	else
		snprintf(c->why, sizeof(c->why), "TLS error %d", sslerr);
	ERR_clear_error();
	return PRISM_EPROTO;
}

int prism_tls_conn_feed(struct prism_tls_conn *c, const uint8_t *p, size_t len)
{
	if (c->failed)
		return PRISM_EPROTO;
	if (len == 0)
		return 0;
	if (!c->first_seen) {
		c->first_seen = true;
		/* every TLS connection opens with a handshake record (22); an agent frame opens
		 * with a zero byte, HTTP with a letter */
		if (p[0] != 0x16) {
			c->failed = true;
			c->failure = PRISM_TLS_FAIL_NOT_TLS;
			snprintf(c->why, sizeof(c->why),
				 "first byte 0x%02x is not a TLS handshake", p[0]);
			return PRISM_EPROTO;
		}
	}
	if (len > INT_MAX || BIO_write(c->rbio, p, (int)len) != (int)len) {
		ERR_clear_error();
		return PRISM_ENOMEM;
	}
	return 0;
}

size_t prism_tls_conn_pending_in(const struct prism_tls_conn *c)
{
	return BIO_ctrl_pending(c->rbio);
}

/* The names a verified client certificate gives: DNS subjectAltNames, else the last CN. */
static void take_identity(struct prism_tls_conn *c)
{
	X509 *cert = SSL_get0_peer_certificate(c->ssl);
	if (cert == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
		return;
	c->identity = true;
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type != GEN_DNS || c->nnames == MAX_NAMES)
			continue;
		const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
		int n = ASN1_STRING_length(g->d.dNSName);
		if (n <= 0 || n > (int)PRISM_HOSTNAME_MAX + 1 ||
		    memchr(d, '\0', (size_t)n) != NULL)
			continue; /* cannot name a host: skipped */
		memcpy(c->names[c->nnames], d, (size_t)n);
		c->names[c->nnames++][n] = '\0';
	}
	GENERAL_NAMES_free(sans);
	if (c->nnames > 0)
		return;
	X509_NAME *subj = X509_get_subject_name(cert);
	int idx = -1, last = -1;
	while ((idx = X509_NAME_get_index_by_NID(subj, NID_commonName, idx)) >= 0)
		last = idx;
	if (last < 0)
		return;
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8,
				    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last)));
	if (n > 0 && n <= (int)PRISM_HOSTNAME_MAX + 1 && memchr(utf8, '\0', (size_t)n) == NULL) {
		memcpy(c->names[0], utf8, (size_t)n);
		c->names[0][n] = '\0';
		c->nnames = 1;
	}
	OPENSSL_free(utf8);
	ERR_clear_error();
}

int prism_tls_conn_read(struct prism_tls_conn *c, uint8_t *buf, size_t room, size_t *got,
			bool *eof)
{
	*got = 0;
	*eof = false;
	if (c->failed)
		return PRISM_EPROTO;
	if (!c->established) {
		int r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return 0;
			return conn_fail(c, e);
		}
		c->established = true;
		take_identity(c);
	}
	while (*got < room) {
		size_t want = room - *got;
		int n = SSL_read(c->ssl, buf + *got, want > INT_MAX ? INT_MAX : (int)want);
		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		int e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			*eof = true;
			break;
		}
		return conn_fail(c, e);
	}
	if (c->renegotiation) {
		c->failed = true;
		c->failure = PRISM_TLS_FAIL_RENEGOTIATION;
		snprintf(c->why, sizeof(c->why), "the client asked to renegotiate");
		ERR_clear_error();
		return PRISM_EPROTO;
	}
	return 0;
}

bool prism_tls_conn_established(const struct prism_tls_conn *c)
{
	return c->established;
}

int prism_tls_conn_write(struct prism_tls_conn *c, const void *p, size_t len)
{
	if (c->failed || !c->established || len > INT_MAX)
		return PRISM_EPROTO;
	if (len == 0)
		return 0;
	/* a memory BIO takes everything: one call writes it all */
	if (SSL_write(c->ssl, p, (int)len) != (int)len)
		return conn_fail(c, SSL_get_error(c->ssl, -1));
	return 0;
}

void prism_tls_conn_close_notify(struct prism_tls_conn *c)
{
	if (c->established && !c->failed)
		(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
}

int prism_tls_conn_take_out(struct prism_tls_conn *c, uint8_t **out, size_t *len)
{
	size_t n = BIO_ctrl_pending(c->wbio);
	*out = NULL;
	*len = 0;
	if (n == 0)
		return 0;
	uint8_t *buf = malloc(n);
	if (buf == NULL)
		return PRISM_ENOMEM;
	int got = BIO_read(c->wbio, buf, n > INT_MAX ? INT_MAX : (int)n);
	if (got <= 0) {
		free(buf);
		return 0;
	}
	*out = buf;
	*len = (size_t)got;
	return 0;
}

struct prism_tls_saved *prism_tls_conn_save(const struct prism_tls_conn *c)
{
	/* a copy: OpenSSL marks a connection's own session not resumable when the connection
	 * ends without close_notify, as a oneshot client's does */
	SSL_SESSION *sess = SSL_get0_session(c->ssl);
	if (sess == NULL || !SSL_SESSION_is_resumable(sess))
		return NULL;
	return (struct prism_tls_saved *)SSL_SESSION_dup(sess);
}

void prism_tls_saved_free(struct prism_tls_saved *s)
{
	SSL_SESSION_free((SSL_SESSION *)s);
}

int prism_tls_conn_resume(struct prism_tls_conn *c, const struct prism_tls_saved *s)
{
	return SSL_set_session(c->ssl, (SSL_SESSION *)s) == 1 ? 0 : PRISM_EINVAL;
}

bool prism_tls_conn_resumed(const struct prism_tls_conn *c)
{
	return SSL_session_reused(c->ssl) == 1;
}

enum prism_tls_failure prism_tls_conn_failure(const struct prism_tls_conn *c, char *why,
					      size_t whylen)
{
	snprintf(why, whylen, "%s", c->why[0] ? c->why : "no reason");
	return c->failure;
}

bool prism_tls_conn_has_identity(const struct prism_tls_conn *c)
{
	return c->identity;
}

void prism_tls_conn_names(const struct prism_tls_conn *c, char *out, size_t outlen)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < c->nnames && used < outlen; i++) {
		const char *n = c->names[i];
		/* certificate bytes: only what is a hostname is quoted (answers must be UTF-8) */
		if (prism_hostname_check(n, strlen(n), NULL, 0) != 0)
			n = "(not a hostname)";
		int w = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", n);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (c->nnames == 0)
		snprintf(out, outlen, "(no usable name)");
}

bool prism_tls_conn_allows(const struct prism_tls_conn *c, const char *hostname, const char *zone)
{
	for (size_t i = 0; c->identity && i < c->nnames; i++)
		if (prism_cert_name_allows(c->names[i], hostname, zone))
			return true;
	return false;
}
