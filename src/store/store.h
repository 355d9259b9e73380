/* SPDX-License-Identifier: MIT */
/**
 * @file store.h
 * The registry: hosts and the per-target sync ledger behind one const function table
 * (SQLite first; PostgreSQL later). These functions are synchronous and are called only
 * from the store writer's thread (writer.h), inside a transaction the writer opened — so a
 * batch of registrations becomes one commit.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dname.h"

struct prism_store;
struct prism_cred_key;
struct prism_actual_zone;
struct prism_reconcile_result;
struct prism_store_api;

/** Open options. */
struct prism_store_opts {
	const char *path;      /**< database file (SQLite) */
	bool synchronous_full; /**< PRAGMA synchronous=FULL (survives power loss) vs NORMAL */
	const char *url;       /**< libpq URI or key=value string (PostgreSQL) */
};

/** Where a host comes from (hosts.source). */
enum prism_source {
	PRISM_SOURCE_AGENT = 0,	      /**< the agent protocol (TCP) */
	PRISM_SOURCE_KEA_RESERVATION, /**< Kea's host reservations (PostgreSQL) */
	PRISM_SOURCE_KEA_LEASE,	      /**< Kea's memfile lease file */
	PRISM_SOURCE_KEA_DDNS,	      /**< Kea's NameChangeRequests (UDP) */
	PRISM_SOURCE_API,	      /**< the REST API */
	PRISM_SOURCE_COUNT,
};

/** "agent", "kea-reservation", "kea-lease", "kea-ddns", "api" (the hosts.source values). */
static inline const char *prism_source_name(enum prism_source s)
{
	static const char *const names[PRISM_SOURCE_COUNT] = {
		"agent", "kea-reservation", "kea-lease", "kea-ddns", "api",
	};
	return (unsigned)s < PRISM_SOURCE_COUNT ? names[s] : "unknown";
}

/** Outcome of a registration. */
enum prism_reg_result {
	PRISM_REG_NEW = 0,	  /**< new host */
	PRISM_REG_IP_CHANGED,	  /**< known host, new address */
	PRISM_REG_HEARTBEAT,	  /**< known host, same address */
	PRISM_REG_RECONNECTED,	  /**< back from offline, same address */
	PRISM_REG_RECONNECTED_IP, /**< back from offline, new address */
};

/** Where a host's records go. Every target serving @c zone gets them (target_zones). */
struct prism_dns_dest {
	bool enabled;	  /**< false: DNS is off, hosts are only stored */
	const char *zone; /**< normalised zone, trailing dot */
	uint32_t ttl;
	bool publish_a;		  /**< record_types has A */
	bool publish_aaaa;	  /**< record_types has AAAA */
	bool auto_ptr;		  /**< also a PTR in the managed reverse zone, when there is one */
	const char *const *zones; /**< every managed zone (NULL-terminated), for PTRs */
};

/** One (target, zone) pair a target serves. */
struct prism_target_zone {
	const char *target;
	const char *zone;
};

/** Token states a registration can meet (docs/protocol.md "Invalid authentication token: …"). */
enum prism_token_state {
	PRISM_TOKEN_OK = 0,
	PRISM_TOKEN_NOT_FOUND,
	PRISM_TOKEN_EXPIRED,
	PRISM_TOKEN_INACTIVE,
};

/** A registration to record. Borrowed strings. */
struct prism_host_reg {
	const char *hostname; /**< validated, lower-case */
	const char *ip;	      /**< peer address text */
	bool ipv6;	      /**< AAAA instead of A */
	int64_t now;	      /**< unix seconds */
	int64_t expires_at;   /**< unix seconds when the host goes offline without heartbeat */
	/** SHA-256 hex of the client's token, NULL without one. Binds the hostname. */
	const char *owner;
	/** The token was not found in the configuration: look it up in the registry first. */
	bool check_token;
	struct prism_dns_dest dns;
};

struct prism_host_reg_out {
	enum prism_token_state token; /**< when check_token: the registry's verdict */
	bool owned_by_other; /**< the hostname is bound to another token: nothing changed */
	/** The name belongs to a host of another source (a Kea reservation, …): nothing
	 *  changed; @c holder says which. */
	bool source_conflict;
	enum prism_source holder;
	enum prism_reg_result result;
	int64_t host_id;
	char old_ip[64];		/**< previous address, for the change messages */
	char fqdn[PRISM_DNAME_MAX + 1]; /**< "" when DNS is disabled */
	bool dns_changed;		/**< ledger rows were marked pending */
};

/** One ledger row that is due. Strings are owned by the row array (free with store_rows_free). */
struct prism_ledger_row {
	char *zone;
	char *name;
	char *type;
	uint32_t ttl;
	char *content; /**< records separated by '\n'; "" = delete the RRset */
	uint64_t desired_hash;
	uint32_t attempts;
	int64_t host_id; /**< 0 when not a host record */
	bool marked;	 /**< engine: the target holds it with Prism's mark (checked) */
	int64_t since;	 /**< unix seconds of the row's last change (it is due since then
			  *   at the latest): a read of the target started a second later
			  *   saw every RRset made before the row was due. Every writer of
			  *   ledger rows stamps updated_at with the time of the change, never
			  *   an older one (the ownership check relies on it) */
};

/* ---- hosts of other sources (Kea reservations, leases, DDNS requests) ----
 *
 * Such a host is one name (its FQDN is its hostname) identified within its source by a key:
 * a reservation's id, a lease's address, or the name itself for DDNS requests. It never
 * expires through the heartbeat monitor. A name is owned by one host: a host of another
 * source (or another key of the same source) holding it is a conflict, reported and
 * changing nothing.
 */

#define PRISM_FAM_V4 1u /**< prism_source_entry.families: the IPv4 address (A, its PTR) */
#define PRISM_FAM_V6 2u /**< the IPv6 address (AAAA, its PTR) */

/** What a source says about one name. Borrowed strings. */
struct prism_source_entry {
	enum prism_source source;
	const char *key;   /**< the entry's identity within its source (at most 255 bytes) */
	const char *fqdn;  /**< validated, lower-case, trailing dot, inside @c zone */
	const char *zone;  /**< the managed zone holding @c fqdn */
	unsigned families; /**< PRISM_FAM_*: the families this entry sets */
	const char *ipv4;  /**< with PRISM_FAM_V4: the address, or NULL to withdraw it */
	const char *ipv6;  /**< with PRISM_FAM_V6: likewise */
	uint32_t ttl;
	bool forward; /**< set (or withdraw) the A/AAAA record */
	bool reverse; /**< set (or withdraw) the PTR, in the longest managed reverse
		       *   zone holding the address (none: no PTR) */
	/** DDNS: the client's DHCID (hex), kept per family. With @c check_dhcid, a family held
	 *  under another DHCID is a conflict (Kea's check-with-dhcid). NULL: none. */
	const char *dhcid;
	bool check_dhcid;
	/** Another key of the same source holding the name yields it (a newer lease takes the
	 *  name over); otherwise that is a conflict. */
	bool takeover;
	/** A withdrawal of one address: a family holding another address keeps it (a late
	 *  remove for a client's old lease). NULL: withdraw whatever the family holds. */
	const char *only_ip;
};

/** Where source hosts' records go; the zone and TTL come with each entry. */
struct prism_source_ctx {
	bool dns_enabled;	      /**< false: hosts are only stored */
	bool publish_a, publish_aaaa; /**< powerdns.record_types */
	const char *const *zones;     /**< every managed zone (NULL-terminated), for PTRs */
	int64_t now;		      /**< unix seconds */
};

enum prism_source_outcome {
	PRISM_SOURCE_UNCHANGED = 0,
	PRISM_SOURCE_ADDED,
	PRISM_SOURCE_UPDATED,
	PRISM_SOURCE_REMOVED,
	PRISM_SOURCE_CONFLICT,
};

struct prism_source_result {
	enum prism_source_outcome outcome;
	enum prism_source holder; /**< conflict: the source holding the name */
	bool dhcid_conflict;	  /**< conflict: the same source, another DHCID */
	bool dns_changed;	  /**< ledger rows were marked pending */
	int64_t host_id;
};

/** A conflict found by a sync, for the caller's log. */
struct prism_source_conflict {
	char name[PRISM_DNAME_MAX + 1];
	enum prism_source holder;
};

#define PRISM_SOURCE_SYNC_SHOWN 8 /**< conflicts a sync names (it counts them all) */

struct prism_source_sync_result {
	size_t added, updated, removed, unchanged, conflicts;
	bool dns_changed;
	struct prism_source_conflict shown[PRISM_SOURCE_SYNC_SHOWN]; /**< the first conflicts */
};

/** Result to write back for one row after a push. */
struct prism_ledger_mark {
	const char *zone;
	const char *name;
	const char *type;
	uint64_t
		desired_hash; /**< the hash that was pushed: a newer desired state stays pending */
	bool ok;
	bool conflict;	      /**< not sent: a foreign RRset holds the name (status conflict) */
	bool deletion;	      /**< the push deleted the RRset */
	const char *error;    /**< when !ok */
	int64_t next_attempt; /**< when !ok: unix ms of the next try */
};

/* ---- REST API writes (src/api) ---- */

/** What a host was before an API change, for the audit log. */
struct prism_host_brief {
	int64_t id;
	char hostname[PRISM_DNAME_MAX + 1];
	char current_ip[64];
	char status[16];
	bool owned; /**< bound to a token (owner_token_hash set) */
};

/** One audit log entry. Borrowed strings; before/after are JSON texts or NULL. */
struct prism_audit_entry {
	int64_t at;	    /**< unix seconds */
	const char *actor;  /**< API key name, "agent:<token name>" or "system" */
	const char *action; /**< "host.delete", "token.create", … */
	const char *object; /**< what was changed: "host:12", "token:rack1", … */
	const char *before;
	const char *after;
};

/* ---- migration from the original Prism server (src/store/import.c) ---- */

/** One agent host of the original registry to add (prism registry import-prism). */
struct prism_host_import {
	const char *hostname; /**< validated, lower-case */
	const char *ip;	      /**< canonical address text */
	bool ipv6;
	bool online;		       /**< its status is kept */
	int64_t first_seen, last_seen; /**< unix seconds, kept */
	int64_t expires_at;	       /**< online: when it goes offline without a heartbeat */
	bool records; /**< write its records (false: offline with offline_dns remove) */
	int64_t now;  /**< unix seconds */
	struct prism_dns_dest dns; /**< the agents' zone, TTL and record types */
};

enum prism_import_outcome {
	PRISM_IMPORT_ADDED = 0,	 /**< the host and its records were written */
	PRISM_IMPORT_EXISTS,	 /**< a host of this name is in the registry: left alone */
	PRISM_IMPORT_NAME_TAKEN, /**< a host of another source, or the API, holds the name */
};

/* ---- zones and records (src/store/zones.c) ---- */

/** A zone kept in the registry (created through the API or imported). Borrowed strings. */
struct prism_zone_spec {
	const char *name;	 /**< normalised, trailing dot */
	const char *kind;	 /**< "Native" or "Master" */
	const char *targets;	 /**< "all" or a target group name */
	const char *nameservers; /**< FQDNs separated by '\n' */
	const char *soa;	 /**< SOA content "MNAME RNAME SERIAL REFRESH RETRY EXPIRE MIN" */
	uint32_t ttl;		 /**< default TTL of its records */
	bool dnssec;		 /**< stored for later */
	bool adopt;		 /**< take over foreign RRsets at the names it wants */
	const char *origin;	 /**< "api" or "import" */
};

/** One RRset to write. Borrowed strings; records in canonical form (core/rr_validate.h). */
struct prism_rrset_put {
	const char *name; /**< FQDN in the zone */
	const char *type;
	uint32_t ttl;
	const char *const *records;
	size_t nrecords; /**< 0 = delete the RRset */
};

/** Why a write of RRsets was refused: the index of the RRset at fault and a reason. */
struct prism_rrset_err {
	size_t index;
	char message[256];
};

/** A zone a target serves, as the engine needs it; strings owned (prism_served_free). */
struct prism_served_zone {
	char *name;
	char *kind;
	char **nameservers; /**< NULL-terminated */
	char *soa;
	bool adopt;
	bool dnssec; /**< to be signed */
};

/** What a target must do about registry zones: serve these, delete those. */
struct prism_served {
	struct prism_served_zone *zones;
	size_t nzones;
	char **deletions; /**< zones to delete from the target */
	size_t ndeletions;
};

/** Free what prism_store_api.zones_served returned. NULL is a no-op. */
void prism_served_free(struct prism_served *s);

/** A target and its group, for the zones assigned to groups. */
struct prism_target_group {
	const char *target;
	const char *group; /**< NULL: only zones for "all" */
};

/**
 * A target added at run time (POST /api/v1/targets), kept in the registry so that it comes
 * back after a restart beside the configuration's targets. Strings owned when returned by
 * runtime_targets (prism_runtime_targets_free), borrowed when passed in.
 */
struct prism_runtime_target {
	char *name;
	char *api_url;
	char *api_key;	    /**< NULL when api_key_file is set (the registry is 0600) */
	char *api_key_file; /**< read at start and when the target is added */
	char *server_id;
	char *zones;	   /**< configuration zone names, one a line; NULL = every one */
	char *group;	   /**< NULL: only registry zones for "all" */
	char *dns_address; /**< "host:port" for the health checks' DNS probe, or NULL */
	int64_t created;   /**< unix seconds */
};

/** Free the strings of @p t (the key wiped) and zero it. NULL is a no-op. */
void prism_runtime_target_clear(struct prism_runtime_target *t);

/**
 * Copy @p t into @p out, strings and all (@p out's old strings are not freed). All or
 * nothing: on failure @p out is left zeroed.
 * @return 0, PRISM_ENOMEM, PRISM_EINVAL (a NULL argument); clear with
 *         prism_runtime_target_clear
 */
int prism_runtime_target_copy(const struct prism_runtime_target *t,
			      struct prism_runtime_target *out);

/** Free @p n targets returned by runtime_targets, then the array. NULL is a no-op. */
void prism_runtime_targets_free(struct prism_runtime_target *t, size_t n);

/** One record a repoint changes (or would change). */
struct prism_repoint_item {
	char *zone, *name, *type;
	int64_t host_id; /**< 0: not a host record */
};

struct prism_repoint_result {
	struct prism_repoint_item *items;
	size_t n;
	size_t hosts; /**< hosts whose address changed */
};

/** Free the items of @p r. NULL is a no-op. */
void prism_repoint_result_free(struct prism_repoint_result *r);

/* ---- reads (the loop thread: the REST API) ----
 *
 * A reader is a read-only connection of its own (one per thread that reads; never shared),
 * opened with prism_store_api.read->open. Rows come to a callback as views whose texts are
 * borrowed for the call only: nothing is copied that a caller does not keep. A callback
 * returns 0 to go on, anything else to stop early (not an error). Every read returns 0,
 * PRISM_ENOTFOUND where said, or PRISM_ESTORE (read->error says why): a failure is never
 * an empty answer.
 */

struct prism_store_reader;

/** A borrowed text of a row: @c s NULL when the column is empty (NULL). */
struct prism_text {
	const char *s;
	size_t len;
};

/** A host row. The compatibility list fills id, hostname, current_ip, status, first_seen
 *  and last_seen only. */
struct prism_host_view {
	int64_t id;
	struct prism_text hostname, current_ip, ipv4, ipv6, status, source;
	struct prism_text dns_zone, dns_name, dns_sync_status;
	int64_t first_seen, last_seen, dns_last_sync;
	bool has_ttl; /**< dns_ttl is set */
	int64_t dns_ttl;
	bool bound; /**< bound to a token */
};

/** A ledger row (one RRset on one target). */
struct prism_ledger_view {
	bool has_host; /**< host_id is set (a host's record) */
	int64_t host_id;
	struct prism_text target, zone, name, type, status, last_error;
	int64_t attempts, updated_at, next_attempt;
};

/** A desired RRset: content holds the records separated by '\n'. */
struct prism_record_view {
	struct prism_text zone, name, type, content;
	int64_t ttl;
	bool has_host;
	int64_t host_id;
};

struct prism_token_view {
	struct prism_text name;
	int64_t created_at, expires_at; /**< expires_at 0: never */
	bool active;
};

struct prism_apikey_view {
	struct prism_text name, role;
	int64_t created_at;
	bool revoked;
};

struct prism_audit_view {
	int64_t id, at;
	struct prism_text actor, action, object;
	struct prism_text before, after; /**< JSON texts, or none */
};

/** A registry zone (zones created through the API or imported). */
struct prism_zone_view {
	struct prism_text name, kind, targets, nameservers, soa, origin;
	int64_t ttl, created_at;
	bool dnssec, adopt;
	int64_t records; /**< zones_list: its desired RRsets; zone_get: -1 */
};

/** Which desired RRsets of a zone a records list returns, by name and type. */
struct prism_records_query {
	const char *zone;
	const char *name;	/**< only this owner, NULL: any */
	const char *type;	/**< only this type, NULL: any */
	const char *after_name; /**< the cursor: RRsets after (after_name, after_type); */
	const char *after_type; /**<   NULL: from the start */
	int64_t limit;		/**< 0: all */
};

/** The registry's host counts. */
struct prism_host_counts {
	int64_t online, offline;
	int64_t last_seen; /**< the last registration (unix seconds), 0: none */
	/** hosts by dns_sync_status: pending, synced, failed, disabled */
	int64_t sync[4];
};

/** Which hosts a list returns, in id order. */
struct prism_hosts_query {
	const char *status; /**< "online", "offline", NULL: any */
	const char *search; /**< lower-case substring of the hostname, NULL: none */
	bool compat;	    /**< offset paging (@c offset), the compatibility columns */
	int64_t after;	    /**< !compat: ids after this one */
	int64_t upto;	    /**< !compat with a search: ids up to this one, 0: no bound */
	int64_t offset;	    /**< compat: hosts skipped */
	int64_t limit;
	bool with_ledger; /**< !compat: each host's ledger rows follow it */
};

/** Callbacks of a host list: host, then its ledger rows (with_ledger), then host_end. */
struct prism_hosts_visit {
	int (*host)(void *ctx, const struct prism_host_view *h);
	int (*ledger)(void *ctx, const struct prism_ledger_view *l);
	int (*host_end)(void *ctx, const struct prism_host_view *h);
};

struct prism_store_read_api {
	/** A read is a network round trip (PostgreSQL): the REST API then never reads on the
	 *  loop thread but on threads of its own, each with its own reader. false: a read is
	 *  fast and local (SQLite), done inline on the loop. */
	bool blocking;
	/** Open a reader on the registry at @p opts->path (made by the writer's open).
	 *  @p err receives a one-line reason. @return 0, PRISM_ESTORE */
	int (*open)(const struct prism_store_opts *opts, struct prism_store_reader **out,
		    char *err, size_t errlen);
	/** NULL is a no-op. */
	void (*close)(struct prism_store_reader *r);
	/** Why the last read failed, for the error answer. */
	const char *(*error)(struct prism_store_reader *r);
	/** How many hosts there are (kept by the registry, not counted). */
	int (*host_counts)(struct prism_store_reader *r, struct prism_host_counts *out);
	/** Ledger rows of @p target per status (pending, synced, failed, conflict) and the
	 *  oldest pending row's update time (0: none). */
	int (*ledger_counts)(struct prism_store_reader *r, const char *target, int64_t n[4],
			     int64_t *oldest_pending);
	/** Host @p id, or by @p name when @p name is set. @return 0, PRISM_ENOTFOUND */
	int (*host_get)(struct prism_store_reader *r, int64_t id, const char *name,
			int (*cb)(void *ctx, const struct prism_host_view *h), void *ctx);
	/** A page of hosts (see prism_hosts_query). */
	int (*hosts_list)(struct prism_store_reader *r, const struct prism_hosts_query *q,
			  const struct prism_hosts_visit *v, void *ctx);
	/** Hosts whose name holds @p search (lower-case), of @p status (NULL: any). */
	int (*hosts_search_count)(struct prism_store_reader *r, const char *status,
				  const char *search, int64_t *n);
	/** The highest host id (0: no host). */
	int (*hosts_max_id)(struct prism_store_reader *r, int64_t *id);
	/** The ledger rows of host @p id (at most 256), by target, zone, name, type. */
	int (*host_ledger)(struct prism_store_reader *r, int64_t id,
			   int (*cb)(void *ctx, const struct prism_ledger_view *l), void *ctx);
	/** The desired RRsets of host @p id (at most 256), by zone, name, type. */
	int (*host_records)(struct prism_store_reader *r, int64_t id,
			    int (*cb)(void *ctx, const struct prism_record_view *rec), void *ctx);
	/** Ledger rows of @p target in @p status, the soonest due first, at most @p limit. */
	int (*sync_rows)(struct prism_store_reader *r, const char *target, const char *status,
			 int64_t limit, int (*cb)(void *ctx, const struct prism_ledger_view *l),
			 void *ctx);
	/** The active API key of @p hash: its name and role (copied). @return 0,
	 *  PRISM_ENOTFOUND */
	int (*apikey_by_hash)(struct prism_store_reader *r, const char *hash, char *name,
			      size_t namelen, char *role, size_t rolelen);
	/** Whether any API key is active. */
	int (*apikeys_any)(struct prism_store_reader *r, bool *any);
	/** Tokens named after @p after (""), by name, at most @p limit. */
	int (*tokens_list)(struct prism_store_reader *r, const char *after, int64_t limit,
			   int (*cb)(void *ctx, const struct prism_token_view *t), void *ctx);
	/** API keys named after @p after (""), by name, at most @p limit. */
	int (*apikeys_list)(struct prism_store_reader *r, const char *after, int64_t limit,
			    int (*cb)(void *ctx, const struct prism_apikey_view *k), void *ctx);
	/** Audit entries with ids below @p before, newest first, at most @p limit. */
	int (*audit_list)(struct prism_store_reader *r, int64_t before, int64_t limit,
			  int (*cb)(void *ctx, const struct prism_audit_view *a), void *ctx);
	/** The zones @p target serves (its target_zones pairs), by name. */
	int (*target_zones)(struct prism_store_reader *r, const char *target,
			    int (*cb)(void *ctx, const char *zone), void *ctx);
	/** Whether @p target serves @p zone. */
	int (*target_serves)(struct prism_store_reader *r, const char *target, const char *zone,
			     bool *serves);
	/** Whether registry zone @p zone is signed. @return 0, PRISM_ENOTFOUND (no such zone) */
	int (*zone_dnssec)(struct prism_store_reader *r, const char *zone, bool *on);
	/** Registry zone @p zone. @return 0, PRISM_ENOTFOUND */
	int (*zone_get)(struct prism_store_reader *r, const char *zone,
			int (*cb)(void *ctx, const struct prism_zone_view *z), void *ctx);
	/** Every registry zone by name, with its number of desired RRsets. */
	int (*zones_list)(struct prism_store_reader *r,
			  int (*cb)(void *ctx, const struct prism_zone_view *z), void *ctx);
	/** The number of desired RRsets of @p zone (a registry or configured zone). */
	int (*zone_record_count)(struct prism_store_reader *r, const char *zone, int64_t *n);
	/** Desired RRsets of a zone (see prism_records_query). */
	int (*records_list)(struct prism_store_reader *r, const struct prism_records_query *q,
			    int (*cb)(void *ctx, const struct prism_record_view *rec), void *ctx);
};

/* ---- moving a registry (prism registry copy, src/store/copy.c) ----
 *
 * Every table of the registry, row by row, from one backend to another. Values are texts
 * (integers in decimal, NULL as NULL); a column holding bytes (meta.value: the credential
 * key) goes as hex. The tables and their columns are the schema's, the same on every
 * backend (prism_copy_tables); counters kept by triggers follow the rows.
 */

/** A table to copy: its name and columns (NULL-terminated); bit i of @c binary: column i
 *  holds bytes. */
struct prism_copy_table {
	const char *name;
	const char *const *cols;
	unsigned binary;
};

/** Every table to copy, parents before children; the entry after the last has no name. */
extern const struct prism_copy_table prism_copy_tables[];

struct prism_store_copy_api {
	/** Every row of @p t to @p row (texts borrowed for the call; a non-zero return stops:
	 *  the call returns it). */
	int (*out)(struct prism_store *s, const struct prism_copy_table *t,
		   int (*row)(void *ctx, const char *const *v), void *ctx);
	/** Add @p n rows to @p t (@p v: n × columns values, row after row). 0, PRISM_ESTORE,
	 *  PRISM_ECONFLICT (a key is there already) */
	int (*in)(struct prism_store *s, const struct prism_copy_table *t, const char *const *v,
		  size_t n);
	/** The rows of @p t. */
	int (*count)(struct prism_store *s, const struct prism_copy_table *t, int64_t *n);
	/** Delete every row of @p t. */
	int (*clear)(struct prism_store *s, const struct prism_copy_table *t);
	/** After the rows came: what the backend keeps beside them (identity counters). */
	int (*done)(struct prism_store *s);
};

struct prism_copy_report {
	const char *table;
	int64_t source, dest; /**< rows read, rows the destination holds afterwards */
};

/**
 * Copy every table of the registry @p src (backend @p sa) into @p dst (backend @p da),
 * in one transaction on each side: the destination's is committed only when every
 * table's row count there equals the source's. A destination holding hosts, tokens, keys,
 * zones, records, audit entries or targets is refused (PRISM_ECONFLICT, @p err names the
 * table) unless @p force, which empties it first; meta (the credential key) is always the
 * source's, so stored token and key hashes keep working. @p report (may be NULL) gets
 * each table's counts. @return 0, PRISM_ECONFLICT, PRISM_EMSG (counts differ), PRISM_ESTORE,
 * PRISM_ENOMEM
 */
int prism_store_copy(const struct prism_store_api *sa, struct prism_store *src,
		     const struct prism_store_api *da, struct prism_store *dst, bool force,
		     void (*report)(void *ctx, const struct prism_copy_report *r), void *ctx,
		     char *err, size_t errlen);

struct prism_store_api {
	const char *name;
	/** The reads (a connection of their own, for the loop thread). */
	const struct prism_store_read_api *read;
	/** Moving a registry (prism registry copy); NULL: not possible with this backend. */
	const struct prism_store_copy_api *copy;
	/** Open (creating and migrating the schema). @p err receives a one-line reason. */
	int (*open)(const struct prism_store_opts *opts, struct prism_store **out, char *err,
		    size_t errlen);
	/** Close. NULL is a no-op. */
	void (*close)(struct prism_store *s);
	/** The registry's credential key (token.h), made with the registry; stored hashes of
	 *  tokens and API keys are keyed with it. Before the writer starts, or on its thread.
	 *  @return 0, PRISM_ESTORE */
	int (*cred_key)(struct prism_store *s, struct prism_cred_key *out);
	int (*begin)(struct prism_store *s);
	int (*commit)(struct prism_store *s);
	int (*rollback)(struct prism_store *s);
	/** Savepoints let one bad job in a group commit fail alone. */
	int (*savepoint)(struct prism_store *s);
	int (*release)(struct prism_store *s, bool keep);
	/**
	 * What the last failed call on the connection failed of, called right after it (before
	 * any other call): PRISM_ESTOREFULL when the disk or the registry's size limit is full,
	 * else PRISM_ESTORE. May be NULL (then PRISM_ESTORE).
	 */
	int (*last_error)(struct prism_store *s);
	/**
	 * Record a registration (upsert host, mark its ledger row pending when DNS changes).
	 * Returns 0 also when the token is refused or the name is owned by another token (see
	 * @p out): nothing is written then. Atomic by itself (a heartbeat is one statement,
	 * anything more runs in a savepoint of its own): a failure leaves nothing half-done.
	 * @p reg and @p out stay the caller's until the transaction's commit (or rollback)
	 * returns: a backend may send the registration ahead and fill @p out only then
	 * (PostgreSQL pipelines a batch); a failure found then fails the commit.
	 */
	int (*host_register)(struct prism_store *s, const struct prism_host_reg *reg,
			     struct prism_host_reg_out *out);
	/**
	 * Take up to @p max rows of @p target that are pending or failed and due at @p now_ms,
	 * in index order (the caller groups them by zone). @p next_due receives the earliest not
	 * yet due next_attempt (ms), or 0 when none.
	 */
	int (*ledger_due)(struct prism_store *s, const char *target, int64_t now_ms, size_t max,
			  struct prism_ledger_row **rows, size_t *n, int64_t *next_due);
	/**
	 * Mark up to @p max online hosts whose expiry passed as offline. With @p remove_dns their
	 * records are marked for deletion. @p n receives the number of hosts changed,
	 * @p dns_changed whether any ledger row became pending.
	 */
	int (*hosts_expire)(struct prism_store *s, int64_t now, size_t max, bool remove_dns,
			    size_t *n, bool *dns_changed);
	/** Delete up to @p max hosts offline since before @p before, and their records. */
	int (*hosts_cleanup)(struct prism_store *s, int64_t before, size_t max, size_t *n,
			     bool *dns_changed);
	/** Add a token (by hash) to the registry; used by the API and tests. */
	int (*token_add)(struct prism_store *s, const char *name, const char *hash, int64_t now,
			 int64_t expires_at);
	/**
	 * Make the served (target, zone) pairs exactly @p pairs: a new pair gets a ledger row
	 * for every desired RRset of its zone (a new target catches up by itself); rows of pairs
	 * no longer served are dropped. @p caught_up receives the number of rows added.
	 */
	int (*targets_sync)(struct prism_store *s, const struct prism_target_zone *pairs, size_t n,
			    int64_t now, size_t *caught_up);
	/**
	 * Compare what @p target holds for @p zone (@p actual, just read) with the desired
	 * state. Unless @p dry_run: drift becomes pending, owned RRsets nothing wants are
	 * queued for deletion, foreign RRsets at wanted names mark the row `conflict` (or, with
	 * @p adopt, pending: Prism takes them over), rows found in step become synced.
	 */
	int (*reconcile)(struct prism_store *s, const char *target, const char *zone,
			 const struct prism_actual_zone *actual, bool adopt, bool dry_run,
			 int64_t now, struct prism_reconcile_result *out);
	/** Write back push results; updates the hosts' dns_sync_status. */
	int (*ledger_mark)(struct prism_store *s, const char *target,
			   const struct prism_ledger_mark *marks, size_t n, int64_t now_ms);

	/* ---- REST API writes (src/api); admin operations, rare ---- */
	/** Delete host @p id; its records are marked for deletion like cleanup does.
	 *  @return 0, PRISM_ENOTFOUND */
	int (*host_delete)(struct prism_store *s, int64_t id, int64_t now,
			   struct prism_host_brief *before, bool *dns_changed);
	/** Clear the host's token binding so another token may claim the name.
	 *  @return 0, PRISM_ENOTFOUND */
	int (*host_release)(struct prism_store *s, int64_t id, struct prism_host_brief *before);
	/** Add an agent token by hash; @p expires_at 0 = never.
	 *  @return 0, PRISM_ECONFLICT (the hash, or an active token with this name, exists) */
	int (*token_create)(struct prism_store *s, const char *name, const char *hash, int64_t now,
			    int64_t expires_at);
	/** A configured token was rotated (same name, new secret): the hosts bound to
	 *  @p old_hash are bound to @p new_hash. @p n receives their number. */
	int (*token_rebind)(struct prism_store *s, const char *old_hash, const char *new_hash,
			    size_t *n);
	/** Deactivate every token called @p name. @p changed receives how many were active.
	 *  @return 0, PRISM_ENOTFOUND (no token has this name) */
	int (*token_revoke)(struct prism_store *s, const char *name, size_t *changed);
	/** Add an API key by hash with a role ("read", "write", "admin").
	 *  @return 0, PRISM_ECONFLICT (hash exists, or an active key has this name) */
	int (*apikey_add)(struct prism_store *s, const char *name, const char *hash,
			  const char *role, int64_t now);
	/** Revoke the API keys called @p name. @return 0, PRISM_ENOTFOUND */
	int (*apikey_revoke)(struct prism_store *s, const char *name, size_t *changed);
	/** Failed ledger rows of @p target (NULL = all) become pending, due now.
	 *  @p n receives the number of rows. */
	int (*ledger_retry)(struct prism_store *s, const char *target, int64_t now, size_t *n);
	/** Append an audit log entry. */
	int (*audit_add)(struct prism_store *s, const struct prism_audit_entry *e);

	/* ---- zones and records (src/store/zones.c) ---- */
	/**
	 * Like targets_sync, with the registry's zones added: each is served by every target
	 * of @p groups when its targets field is "all", else by the targets of that group.
	 */
	int (*zones_targets_sync)(struct prism_store *s, const struct prism_target_zone *pairs,
				  size_t n, const struct prism_target_group *groups,
				  size_t ngroups, int64_t now, size_t *caught_up);
	/**
	 * Add a zone served by @p targets (NULL-terminated names): target_zones pairs, no
	 * pending deletion of the same name left.
	 * @return 0, PRISM_ECONFLICT (the zone exists)
	 */
	int (*zone_create)(struct prism_store *s, const struct prism_zone_spec *z,
			   const char *const *targets, int64_t now);
	/**
	 * Delete a registry zone: its records, ledger rows and target pairs go; every target
	 * that served it gets a pending deletion (zones_served). @p ntargets receives their
	 * number. @return 0, PRISM_ENOTFOUND
	 */
	int (*zone_delete)(struct prism_store *s, const char *zone, int64_t now, size_t *ntargets);
	/** Sign a registry zone, or not. @p changed: the flag changed. 0 or PRISM_ENOTFOUND */
	int (*zone_set_dnssec)(struct prism_store *s, const char *zone, bool on, bool *changed);
	/** Mark a registry zone as adopting foreign RRsets (an import). 0 or PRISM_ENOTFOUND */
	int (*zone_set_adopt)(struct prism_store *s, const char *zone);
	/**
	 * Create, replace or delete RRsets of @p zone, all or nothing. Refused (with @p err):
	 * PRISM_ENOTFOUND a registry zone that is gone (unless @p config_zone), or deleting an
	 * RRset that does not exist; PRISM_ECONFLICT an RRset held by a host, or a CNAME next
	 * to a host's records; PRISM_EMSG a CNAME next to other records at the same name (after
	 * every change of the call). @p changed receives the number of RRsets that changed.
	 * When @p audit_actor is set, each change gets an audit entry.
	 */
	int (*rrsets_put)(struct prism_store *s, const char *zone, bool config_zone,
			  const struct prism_rrset_put *v, size_t n, int64_t now,
			  const char *audit_actor, size_t *changed, struct prism_rrset_err *err);
	/** The registry zones @p target serves and the deletions it owes. */
	int (*zones_served)(struct prism_store *s, const char *target, struct prism_served *out);
	/** A zone deletion was carried out on @p target. */
	int (*zone_deletion_done)(struct prism_store *s, const char *target, const char *zone);
	/**
	 * Move every A/AAAA record whose content is @p from to @p to (same family), in
	 * @p zones only when given (NULL-terminated), names matching the glob @p pattern when
	 * given (SQLite GLOB on the FQDN without its trailing dot). Host records change their
	 * host's address too. With @p dry_run only lists what would change.
	 */
	int (*repoint)(struct prism_store *s, const char *from, const char *to,
		       const char *const *zones, const char *pattern, bool dry_run, int64_t now,
		       struct prism_repoint_result *out);
	/** "Sync every zone to this target": every desired RRset of every zone @p target
	 *  serves becomes pending for it (rows created where missing). @p n receives the rows. */
	int (*target_resync)(struct prism_store *s, const char *target, int64_t now, size_t *n);
	/** "Sync this zone to its targets": every desired RRset of @p zone becomes pending for
	 *  every target serving it (rows created where missing). @p n receives the rows. */
	int (*zone_resync)(struct prism_store *s, const char *zone, int64_t now, size_t *n);
	/**
	 * Add a host of the original Prism server's registry as an agent host: first and last
	 * seen and status kept, its records (and PTR with auto_ptr) desired and pending on
	 * every target serving the zone. A host of the same name, or a name held by a host of
	 * another source, is left alone (@p out says which): importing twice changes nothing.
	 * Atomic by itself. @return 0, PRISM_EINVAL, PRISM_ETOOBIG (name too long), PRISM_ESTORE
	 */
	int (*host_import)(struct prism_store *s, const struct prism_host_import *h,
			   enum prism_import_outcome *out);
	/* ---- targets added at run time (targets.c) ---- */
	/** Keep @p t. @return 0, PRISM_ECONFLICT (a target of that name is kept), PRISM_ESTORE */
	int (*runtime_target_add)(struct prism_store *s, const struct prism_runtime_target *t);
	/** Replace the kept @p t (by name). @return 0, PRISM_ENOTFOUND, PRISM_ESTORE */
	int (*runtime_target_update)(struct prism_store *s, const struct prism_runtime_target *t);
	/** Forget the target @p name. @return 0, PRISM_ENOTFOUND, PRISM_ESTORE */
	int (*runtime_target_delete)(struct prism_store *s, const char *name);
	/** Every kept target, by name (before the writer starts, or on its thread).
	 *  @return 0, PRISM_ENOMEM, PRISM_ESTORE; free with prism_runtime_targets_free */
	int (*runtime_targets)(struct prism_store *s, struct prism_runtime_target **out,
			       size_t *n);
	/* ---- hosts of other sources ---- */
	/**
	 * Apply one entry: the host keyed (source, key) gets the entry's name and addresses of
	 * @c families (a NULL address withdraws that family; a host left without any address is
	 * deleted with its records). A different name under the same key renames the host (the
	 * old name's records go). A conflict (see above) changes nothing; @p out says so.
	 * @return 0 (also on a conflict), PRISM_EINVAL, PRISM_ESTORE
	 */
	int (*source_put)(struct prism_store *s, const struct prism_source_entry *e,
			  const struct prism_source_ctx *ctx, struct prism_source_result *out);
	/** Delete the host keyed (@p source, @p key) with its records; nothing when there is
	 *  none (@p out: unchanged). */
	int (*source_remove)(struct prism_store *s, enum prism_source source, const char *key,
			     const struct prism_source_ctx *ctx, struct prism_source_result *out);
	/**
	 * Consistency sync: make the hosts of @p source exactly @p entries (each setting both
	 * families; keys unique): entries that differ from their host are applied, hosts whose
	 * key is not among them are removed. Compared set-based in one statement against an
	 * in-memory table, so a second identical sync writes nothing to the registry. Inside a
	 * writer job it marks its progress (job_mark) as it goes: a failure keeps the hosts
	 * written before it, and a later sync finishes the work.
	 */
	int (*source_sync)(struct prism_store *s, enum prism_source source,
			   const struct prism_source_entry *entries, size_t n,
			   const struct prism_source_ctx *ctx,
			   struct prism_source_sync_result *out);
	/**
	 * Inside a writer job that writes many hosts: keep what it wrote so far (a later
	 * failure of the job undoes only what follows). Keeps SQLite's savepoint journal short;
	 * source_sync does it itself. A no-op outside a job.
	 */
	int (*job_mark)(struct prism_store *s);
	/**
	 * Entries (hosts) a writer job writes between two job_marks: what keeps this backend
	 * fastest. SQLite: 8 — every statement that needs a statement journal (an upsert, an
	 * insert with a trigger) walks the savepoint's in-memory journal from its start, and a
	 * mark is two statements (bench/store-bench); PostgreSQL: 32 — a mark is two round
	 * trips.
	 */
	size_t job_mark_every;
	/**
	 * How far the records of @p source's hosts are from their targets: ledger rows of
	 * those hosts, and deletions (rows of no host), that are pending or failed
	 * (@p pending) or in conflict (@p conflict). For `prismd --once`.
	 */
	int (*source_unsynced)(struct prism_store *s, enum prism_source source, size_t *pending,
			       size_t *conflict);
	/**
	 * Take an entry in without applying it: one append to the intake queue, so a burst
	 * (Kea's NameChangeRequests) is committed at once and applied in order behind it by
	 * source_apply. Strings are copied.
	 */
	int (*source_enqueue)(struct prism_store *s, const struct prism_source_entry *e);
	/**
	 * Apply up to @p max queued entries of @p source in the order they came (source_put
	 * each, marking progress) and drop them from the queue. @p out tallies the outcomes
	 * (its shown[] names the first conflicts), @p applied counts the entries taken, @p left
	 * (may be NULL) the entries still queued.
	 */
	int (*source_apply)(struct prism_store *s, enum prism_source source, size_t max,
			    const struct prism_source_ctx *ctx,
			    struct prism_source_sync_result *out, size_t *applied, size_t *left);
};

/** What the reconciler found for one RRset, or plans to do about it. */
enum prism_plan_action {
	PRISM_PLAN_CREATE,   /**< desired, missing on the target */
	PRISM_PLAN_UPDATE,   /**< desired, different on the target */
	PRISM_PLAN_DELETE,   /**< owned by Prism on the target, no longer desired */
	PRISM_PLAN_CONFLICT, /**< desired, but a foreign RRset holds the name: left alone */
};

struct prism_plan_item {
	enum prism_plan_action action;
	char *name;
	char *type;
};

struct prism_reconcile_result {
	size_t in_sync, create, update, remove, conflict;
	struct prism_plan_item *items; /**< dry runs only */
	size_t nitems;
};

/** Free the items of @p r. */
void prism_reconcile_result_free(struct prism_reconcile_result *r);

/** Free rows returned by ledger_due. */
void prism_ledger_rows_free(struct prism_ledger_row *rows, size_t n);

/** The SQLite backend (WAL). */
extern const struct prism_store_api prism_store_sqlite;

/** The PostgreSQL backend (libpq; opts.url). */
extern const struct prism_store_api prism_store_postgresql;

/** "host[:port]/dbname" of a PostgreSQL URL for logs: never its password. */
void prism_store_pg_describe(const char *url, char *out, size_t len);

/** Entries of prism_store_pg_params' arrays, the terminating NULL included. */
#define PRISM_STORE_PG_PARAMS 11

/**
 * The libpq parameters of every connection to a PostgreSQL registry, the backend's and the
 * active-active instance's (ha_pg.h): a bounded connect, TCP keepalives and a user timeout
 * (a lost server fails calls instead of hanging them), statement and lock timeouts, UTF-8,
 * @p application as application_name, then @p url as "dbname" for expand_dbname (its own
 * settings win: libpq keeps the last value). Fills @p keys and @p vals, NULL-terminated;
 * the strings are static, or @p application and @p url (borrowed).
 */
void prism_store_pg_params(const char *url, const char *application,
			   const char *keys[PRISM_STORE_PG_PARAMS],
			   const char *vals[PRISM_STORE_PG_PARAMS]);
