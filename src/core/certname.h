/* SPDX-License-Identifier: MIT */
/**
 * @file certname.h
 * Which hostname a TLS client certificate lets an agent register. Pure: names in, verdict out.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/**
 * Does a name from a verified client certificate (a DNS subjectAltName, or the subject CN
 * when there is none) allow an agent to register @p hostname?
 *
 * Both names are compared relative to the agents' zone @p zone (case-insensitively, a
 * trailing "." aside): a suffix "." + zone is removed from each. So with zone example.com,
 * "web1" and "web1.example.com." allow "web1" and "web1.example.com", and
 * "db.dev.example.com" allows "db.dev" — never "db": a name of another zone, even one Prism
 * manages, grants nothing in the agents' zone. Wildcard names ("*.example.com") and names
 * that are not valid hostnames allow nothing: a certificate names one host.
 *
 * @param cert_name  the certificate's name (not trusted: any bytes), NUL-terminated
 * @param hostname   the validated hostname of the registration
 * @param zone       the agents' zone, with or without a trailing dot; NULL: none
 * @return true when allowed
 */
bool prism_cert_name_allows(const char *cert_name, const char *hostname, const char *zone);
