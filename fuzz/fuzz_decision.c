/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the RUN-decision decoder on arbitrary bytes (Kafka message
 * values are whatever anyone produced to the topic).
 *
 * Expected: a refusal is -EBADMSG with a one-line printable-ASCII reason
 * (it becomes a DLQ header and a log field); an accepted message is a
 * decision that keeps every rule (encode accepts it), whose encoding decodes
 * to the same fields, is never longer than the input (so whatever was
 * decoded was bounded by the input), and encodes again to the same bytes.
 * The test-only writer schemas v0 (older) and v2 (newer) are registered so
 * that resolved reads are fuzzed too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rf_decision.h"

static char *read_text(const char *path) {
        FILE *f = fopen(path, "rb");
        char *buf;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
            !(buf = calloc(1, (size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
                fclose(f);
                return NULL;
        }
        fclose(f);
        return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        static const char *const writers[] = { "run_decision_v0_test.avsc", "run_decision_v2_test.avsc" };
        char path[4096], err[512];

        (void)argc;
        (void)argv;
        for (size_t i = 0; i < sizeof(writers) / sizeof(writers[0]); i++) {
                char *schema;

                snprintf(path, sizeof(path), "%s/tests/vectors/%s", RF_SOURCE_ROOT, writers[i]);
                schema = read_text(path);
                /* without them the resolved paths go unfuzzed, silently */
                FUZZ_ASSERT(schema != NULL, "cannot read %s", path);
                FUZZ_ASSERT(rf_decision_register_writer_schema(schema, err, sizeof(err)) == 0, "%s: %s", path, err);
                free(schema);
        }
        return 0;
}

static int streq(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void same_decision(const rf_decision_t *a, const rf_decision_t *b) {
        FUZZ_ASSERT(streq(a->decision_id, b->decision_id), "decision_id");
        FUZZ_ASSERT(streq(a->workflow, b->workflow), "workflow");
        FUZZ_ASSERT(a->scraper_count == b->scraper_count, "%zu != %zu scrapers", a->scraper_count, b->scraper_count);
        for (size_t i = 0; i < a->scraper_count; i++)
                FUZZ_ASSERT(streq(a->scrapers[i], b->scrapers[i]), "scraper %zu", i);
        FUZZ_ASSERT(a->decided_at_ms == b->decided_at_ms, "decided_at");
        FUZZ_ASSERT(a->attempt == b->attempt, "attempt");
        FUZZ_ASSERT(streq(a->reason, b->reason), "reason");
        FUZZ_ASSERT(a->deadline_ms == b->deadline_ms, "deadline_ms");
        FUZZ_ASSERT(streq(a->replay_of, b->replay_of), "replay_of");
        FUZZ_ASSERT(streq(a->trace_id, b->trace_id), "trace_id");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        rf_decision_t *d = NULL, *d2 = NULL;
        void *buf = NULL, *buf2 = NULL;
        size_t len = 0, len2 = 0;
        char err[512] = "";
        static bool registered;
        int32_t id = -1;
        bool framed;
        int r;

        /* Confluent framing: id 1 is the reader schema, so framed bodies
         * go through the same checks; any other id is -ENOKEY */
        if (!registered) {
                registered = true;
                FUZZ_ASSERT(rf_decision_add_schema_id(1, rf_decision_schema_json(), err, sizeof(err)) == 0, "%s", err);
        }
        framed = rf_decision_wire(data, size, &id) == RF_WIRE_CONFLUENT;
        r = rf_decision_decode(data, size, &d, err, sizeof(err));
        if (r < 0) {
                FUZZ_ASSERT(r == -EBADMSG || (r == -ENOKEY && framed && id != 1),
                            "decode returned %d (%s), not -EBADMSG", r, err);
                FUZZ_ASSERT(d == NULL, "ret_decision written on failure");
                FUZZ_ASSERT(err[0] != '\0', "refusal without a reason");
                for (const char *p = err; *p; p++)
                        FUZZ_ASSERT(*p >= 0x20 && *p < 0x7f, "reason byte 0x%02x is not printable ASCII: %s",
                                    (unsigned char)*p, err);
                return 0;
        }
        FUZZ_ASSERT(d && d->decision_id && d->workflow && d->reason && d->trace_id, "accepted but incomplete");
        FUZZ_ASSERT(d->scraper_count >= 1 && d->scraper_count <= RF_DECISION_MAX_SCRAPERS && d->scrapers,
                    "%zu scrapers", d->scraper_count);
        FUZZ_ASSERT(d->attempt >= 1 && d->deadline_ms > 0, "attempt %d, deadline %lld", (int)d->attempt,
                    (long long)d->deadline_ms);

        r = framed ? rf_decision_encode_confluent(d, id, &buf, &len, err, sizeof(err))
                   : rf_decision_encode(d, &buf, &len, err, sizeof(err));
        FUZZ_ASSERT(r == 0, "a decoded decision does not encode: %s", err);
        FUZZ_ASSERT(len <= size, "re-encoding takes %zu bytes, the input %zu", len, size);
        r = rf_decision_decode(buf, len, &d2, err, sizeof(err));
        FUZZ_ASSERT(r == 0, "our own encoding does not decode: %s", err);
        same_decision(d, d2);
        r = framed ? rf_decision_encode_confluent(d2, id, &buf2, &len2, err, sizeof(err))
                   : rf_decision_encode(d2, &buf2, &len2, err, sizeof(err));
        FUZZ_ASSERT(r == 0 && len2 == len && memcmp(buf, buf2, len) == 0, "encoding is not stable");

        free(buf);
        free(buf2);
        rf_decision_destroy(d);
        rf_decision_destroy(d2);
        return 0;
}
