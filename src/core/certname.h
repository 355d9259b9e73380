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
 * Compared case-insensitively, after removing a trailing "." and a suffix "." + zone for
 * any zone of @p zones from both: "web1", "web1.example.com" and "WEB1.example.com." are the
 * same name when example.com is a managed zone. Wildcard names ("*.example.com") and names
 * that are not valid hostnames allow nothing: a certificate names one host.
 *
 * @param cert_name  the certificate's name (not trusted: any bytes), NUL-terminated
 * @param hostname   the validated hostname of the registration
 * @param zones      NULL-terminated managed zones, with or without a trailing dot; may be NULL
 * @return true when allowed
 */
bool prism_cert_name_allows(const char *cert_name, const char *hostname, const char *const *zones);
