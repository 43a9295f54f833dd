/* SPDX-License-Identifier: Apache-2.0 */
/* rf_sr: a small client of a Confluent-compatible Schema Registry (the
 * API Confluent's registry serves, and Apicurio's at /apis/ccompat/v7), and
 * the message framing that depends on it.
 *
 * Errors a caller must tell apart:
 *   -EAGAIN   transient: the registry did not answer, timed out, or
 *             answered 5xx or 429 (retry later; never a reason to
 *             dead-letter a message)
 *   -ENOENT   the registry answered that the subject, version or id does
 *             not exist (permanent for an id: ids are never reused)
 *   -EINVAL   the registry refused the schema (incompatible, invalid)
 *   -EACCES   401/403: credentials refused
 *   -EPROTO   any other answer we cannot use
 *
 * The process-wide part (rf_sr_setup() and the *_value functions) exists
 * because every program encodes and decodes in several places that share
 * one configuration; it keeps one client, the producer's schema id once
 * learnt, and the ids the registry said it does not know (bounded). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_conf.h"
#include "rf_decision.h"

typedef struct rf_sr rf_sr_t;

/* A client of the registry at @p url (the API's base, e.g.
 * http://127.0.0.1:18081/apis/ccompat/v7). @p username / @p password (both
 * or neither, may be NULL) for basic auth, @p ca_file (may be NULL) a PEM
 * CA bundle for https; @p timeout_ms bounds one request. The strings are
 * copied. The caller owns *ret (rf_sr_destroy()). Returns 0 or -ENOMEM. */
int rf_sr_new(const char *url, const char *username, const char *password, const char *ca_file, int timeout_ms,
              rf_sr_t **ret, char *errstr, size_t errstr_size);
void rf_sr_destroy(rf_sr_t *sr);

/* The API base URL the client was made with. */
const char *rf_sr_url(const rf_sr_t *sr);

/* Registers @p schema_json under @p subject (the existing id when it is
 * already there). Returns 0 with the id in *ret_id, or an error above
 * (-EINVAL: the registry calls it incompatible or invalid). */
int rf_sr_register(rf_sr_t *sr, const char *subject, const char *schema_json, int32_t *ret_id, char *errstr,
                   size_t errstr_size);

/* The id @p schema_json has under @p subject, without registering it.
 * Returns 0, -ENOENT (not registered there) or another error above. */
int rf_sr_lookup(rf_sr_t *sr, const char *subject, const char *schema_json, int32_t *ret_id, char *errstr,
                 size_t errstr_size);

/* Sets @p subject's compatibility level (e.g. "BACKWARD"). */
int rf_sr_set_compatibility(rf_sr_t *sr, const char *subject, const char *level, char *errstr, size_t errstr_size);

/* Whether @p schema_json may follow @p subject's latest version under its
 * compatibility level: *ret_ok true, or false with the registry's reasons
 * in @p errstr. A subject with no version yet accepts anything. */
int rf_sr_test_compatibility(rf_sr_t *sr, const char *subject, const char *schema_json, bool *ret_ok, char *errstr,
                             size_t errstr_size);

/* The schema text of registry id @p id. The caller owns *ret_json (free()). */
int rf_sr_get_schema(rf_sr_t *sr, int32_t id, char **ret_json, char *errstr, size_t errstr_size);

/* ---- process-wide framing -------------------------------------------- */

/* Sets the process up from @p conf: a client when schema_registry.url is
 * set, and the framing producers use (kafka.value_format; subject
 * "<kafka.topic>-value"). No network. Returns 0 or -ENOMEM. */
int rf_sr_setup(const rf_conf_t *conf, char *errstr, size_t errstr_size);

/* Frees what rf_sr_setup() made (for leak checkers). */
void rf_sr_teardown(void);

/* The process's client, or NULL without schema_registry.url. */
rf_sr_t *rf_sr_global(void);

/* True when producers frame for the registry (kafka.value_format). */
bool rf_sr_producing_framed(void);

/* Encodes @p d as this process's producers must: single-object, or the
 * Confluent framing with the id of the reader schema under the topic's
 * subject, looked up once (never registered here: 'migrate' does that).
 * Returns 0, -EAGAIN (the registry is unreachable: the decision stays
 * unproduced and is produced later), -ENOENT (the schema is not registered:
 * run migrate) or the encoder's errors, the reason in @p errstr. While the
 * id is unknown, the registry is asked at most once per back-off period
 * (1 s, doubled to 30 s), so an outage does not stall a producer. */
int rf_sr_encode_value(const rf_decision_t *d, void **ret_buf, size_t *ret_len, char *errstr, size_t errstr_size);

/* For producers' readiness: 0 when not framing or the id is known (looked
 * up now if not, within the back-off), else rf_sr_encode_value()'s error. */
int rf_sr_producer_check(char *errstr, size_t errstr_size);

/* Decodes a message value in either wire format (the first byte tells
 * them apart), fetching a Confluent-framed message's writer schema from
 * the registry the first time its id is seen. Returns 0 (the caller owns
 * *ret_decision), -EAGAIN (transient registry trouble: retry later, do
 * not dead-letter), or -EBADMSG for a message no retry will decode (an id
 * the registry does not know among them), the reason in @p errstr. */
int rf_sr_decode_value(const void *buf, size_t len, rf_decision_t **ret_decision, char *errstr, size_t errstr_size);

/* For /readyz: 0 when this process does not need the registry, or its
 * last request succeeded; else -EAGAIN with "schema registry ...: why".
 * No network; thread-safe. */
int rf_sr_readiness(char *why, size_t why_size);

/* FOR TESTS: forgets the producer's id and the back-off. */
void rf_sr_reset_for_tests(void);
