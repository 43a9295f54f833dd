/* SPDX-License-Identifier: Apache-2.0 */
/* rf_fingerprint: Avro Parsing Canonical Form and the CRC-64-AVRO (Rabin)
 * fingerprint, as the Avro specification defines them ("Parsing Canonical
 * Form for Schemas", "Schema Fingerprints"). These name a schema on the wire
 * in single-object encoding; any Avro implementation computes the same. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The fingerprint of zero bytes, and the polynomial the specification uses. */
#define RF_CRC64_AVRO_EMPTY UINT64_C(0xc15d213aa4d7a795)

/* Writes the Parsing Canonical Form of the schema in @p schema_json (UTF-8
 * JSON text) to *ret_pcf, a NUL-terminated string the caller free()s.
 * The schema is checked as it is walked: names, namespaces, references to
 * named types defined earlier, fixed sizes, union shape. Logical types and
 * every attribute other than type, name, fields, symbols, items, values and
 * size are dropped, as the specification requires.
 * Returns 0, -EINVAL with the reason in @p errstr, or -ENOMEM. */
int rf_avro_canonical_form(const char *schema_json, char **ret_pcf, char *errstr, size_t errstr_size);

/* CRC-64-AVRO of @p len bytes at @p buf; rf_crc64_avro(NULL, 0) is RF_CRC64_AVRO_EMPTY. */
uint64_t rf_crc64_avro(const void *buf, size_t len);

/* rf_crc64_avro() of the Parsing Canonical Form of @p schema_json into *ret_fp.
 * Returns 0 or what rf_avro_canonical_form() returns. */
int rf_avro_fingerprint(const char *schema_json, uint64_t *ret_fp, char *errstr, size_t errstr_size);
