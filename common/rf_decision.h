/* SPDX-License-Identifier: Apache-2.0 */
/* rf_decision: the RUN decision message, runfleet.v1.RunDecision
 * (schemas/run_decision.v1.avsc), in Avro single-object encoding:
 * C3 01, the schema's 8-byte little-endian CRC-64-AVRO fingerprint, then the
 * Avro binary body. Older writer schemas are resolved to the current reader
 * schema by fingerprint. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RF_SOE_HEADER_LEN 10
/* The Confluent Schema Registry wire format: byte 0, a 4-byte big-endian
 * schema id, the Avro binary body. */
#define RF_CONFLUENT_HEADER_LEN 5

/* Ids of registry schemas one process maps to writers at most (bounded
 * cache; the distinct writer schemas learnt from a registry too). */
#define RF_DECISION_MAX_SCHEMA_IDS 64

/* Bound on decision->scraper_count, checked by encode and decode. */
#define RF_DECISION_MAX_SCRAPERS 256

typedef struct rf_decision {
        char *decision_id; /* uuid, text form */
        char *workflow;
        char **scrapers; /* scraper names */
        size_t scraper_count;
        int64_t decided_at_ms; /* unix epoch ms */
        int32_t attempt;       /* 1 for the first produce */
        char *reason;
        int64_t deadline_ms; /* budget for the whole execution, ms */
        char *replay_of;     /* decision_id of the original, or NULL */
        char *trace_id;
} rf_decision_t;

/* A zeroed decision; every field is owned by it (rf_decision_destroy()). */
rf_decision_t *rf_decision_new(void);
void rf_decision_destroy(rf_decision_t *d);

/* Copies @p names into d->scrapers, replacing what was there. */
int rf_decision_set_scrapers(rf_decision_t *d, char *const *names, size_t count);

/* Encodes @p d. The caller owns *ret_buf (free()). Returns 0 or a negative errno. */
int rf_decision_encode(const rf_decision_t *d, void **ret_buf, size_t *ret_len, char *errstr, size_t errstr_size);

/* The same decision in the Confluent wire format under registry id
 * @p schema_id, which must name the reader schema (rf_decision_schema_json()). */
int rf_decision_encode_confluent(const rf_decision_t *d, int32_t schema_id, void **ret_buf, size_t *ret_len,
                                 char *errstr, size_t errstr_size);

typedef enum rf_wire {
        RF_WIRE_UNKNOWN,
        RF_WIRE_SINGLE_OBJECT, /* C3 01 ... */
        RF_WIRE_CONFLUENT,     /* 00 id(4) ... */
} rf_wire_t;

/* Which wire format a message value is in, from its first byte(s); for
 * RF_WIRE_CONFLUENT the schema id goes to *ret_schema_id (may be NULL). */
rf_wire_t rf_decision_wire(const void *buf, size_t len, int32_t *ret_schema_id);

/* The reader schema's JSON text (the newest embedded run_decision.vN.avsc),
 * what producers register; static storage. NULL if the schemas are unusable. */
const char *rf_decision_schema_json(void);

/* Makes @p schema_json (fetched from the registry) the writer of registry
 * id @p id, so rf_decision_decode() reads Confluent-framed messages with
 * that id. A bounded cache of RF_DECISION_MAX_SCHEMA_IDS ids (the oldest
 * is forgotten). Returns 0, -EINVAL (not a schema resolvable to the
 * reader), -ENOSPC (too many distinct registry schemas) or -ENOMEM, with
 * the reason in @p errstr. Thread-safe. */
int rf_decision_add_schema_id(int32_t id, const char *schema_json, char *errstr, size_t errstr_size);

/* Whether @p id is in that cache. */
bool rf_decision_schema_id_known(int32_t id);

/* Decodes one message value, in either wire format. The caller owns
 * *ret_decision. Returns 0, -ENOKEY for a Confluent-framed message whose
 * schema id is not in the cache (rf_decision_add_schema_id(); rf_sr_decode()
 * fetches it), or -EBADMSG with a one-line reason in @p errstr; never reads past @p len and
 * never allocates more than a bound proportional to @p len. */
int rf_decision_decode(const void *buf, size_t len, rf_decision_t **ret_decision, char *errstr, size_t errstr_size);

/* The current schema's fingerprint (CRC-64-AVRO of its Parsing Canonical Form). */
uint64_t rf_decision_fingerprint(void);

/* FOR TESTS AND TOOLS: makes @p schema_json (a runfleet.v1.RunDecision
 * writer schema that is not embedded, e.g. from a newer producer) a known
 * writer, so rf_decision_decode() resolves its messages to the current
 * reader schema. Registering a known schema again is a no-op. Programs do
 * not call this: the embedded schemas/run_decision.v*.avsc are always known.
 * Returns 0, or -EINVAL (not a valid schema, or not resolvable to the
 * reader) / -ENOMEM with the reason in @p errstr. Thread-safe. */
int rf_decision_register_writer_schema(const char *schema_json, char *errstr, size_t errstr_size);

/* FOR TESTS AND LEAK CHECKERS: frees the schemas loaded at first use (they
 * otherwise live until exit), so valgrind reports nothing "possibly lost".
 * The last rf_decision_* call in the process; none may run concurrently. */
void rf_decision_free_schemas(void);
