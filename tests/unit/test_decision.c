/* SPDX-License-Identifier: Apache-2.0 */
/* The RUN-decision codec: exact bytes against vectors from an independent
 * implementation (tests/vectors/make_vectors.py), round trips, rejection of
 * every kind of broken or hostile message, and schema resolution of older
 * and newer writers. */
#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "rf_decision.h"
#include "rf_fingerprint.h"
#include "rf_test.h"

#define VECTORS RF_SOURCE_ROOT "/tests/vectors/run_decision_v1.json"

static json_t *vectors;

/* ---- avro-c allocations, counted ---------------------------------------- */

static atomic_size_t avro_calls, avro_largest;

/* Installed before avro-c allocates anything: the hostile-input tests prove
 * that avro-c is never asked for the sizes a message claims. */
static void *counting_allocator(void *ud, void *ptr, size_t osize, size_t nsize) {
        size_t big;

        (void)ud;
        (void)osize;
        if (nsize == 0) {
                free(ptr);
                return NULL;
        }
        atomic_fetch_add(&avro_calls, 1);
        big = atomic_load(&avro_largest);
        while (nsize > big && !atomic_compare_exchange_weak(&avro_largest, &big, nsize))
                ;
        return realloc(ptr, nsize);
}

/* ---- helpers ------------------------------------------------------------ */

typedef struct buf {
        unsigned char *b;
        size_t len, cap;
} buf_t;

static void b_put(buf_t *b, const void *p, size_t n) {
        if (b->len + n > b->cap) {
                b->cap = (b->len + n) * 2 + 64;
                b->b = realloc(b->b, b->cap);
                if (!b->b)
                        abort();
        }
        if (n)
                memcpy(b->b + b->len, p, n);
        b->len += n;
}

static void b_byte(buf_t *b, unsigned char c) {
        b_put(b, &c, 1);
}

/* Avro long: zigzag varint. */
static void b_long(buf_t *b, int64_t v) {
        uint64_t n = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

        while (n & ~UINT64_C(0x7f)) {
                b_byte(b, (unsigned char)((n & 0x7f) | 0x80));
                n >>= 7;
        }
        b_byte(b, (unsigned char)n);
}

static void b_str(buf_t *b, const char *s) {
        b_long(b, (int64_t)strlen(s));
        b_put(b, s, strlen(s));
}

static void b_header(buf_t *b, uint64_t fp) {
        b_byte(b, 0xc3);
        b_byte(b, 0x01);
        for (int i = 0; i < 8; i++)
                b_byte(b, (unsigned char)(fp >> (8 * i)));
}

static unsigned char *unhex(const char *hex, size_t *ret_len) {
        size_t n = strlen(hex) / 2;
        unsigned char *out = malloc(n ? n : 1);

        for (size_t i = 0; i < n; i++) {
                unsigned v;

                if (sscanf(hex + 2 * i, "%2x", &v) != 1)
                        abort();
                out[i] = (unsigned char)v;
        }
        *ret_len = n;
        return out;
}

static char *read_text(const char *path) {
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
                buf = calloc(1, (size_t)n + 1);
                if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
                        free(buf);
                        buf = NULL;
                }
        }
        fclose(f);
        return buf;
}

static char *schema_text(json_t *writer) {
        char path[512];

        snprintf(path, sizeof(path), "%s/%s", RF_SOURCE_ROOT, json_string_value(json_object_get(writer, "schema")));
        return read_text(path);
}

static const char *jstr(json_t *o, const char *k) {
        return json_string_value(json_object_get(o, k));
}

static int64_t jint(json_t *o, const char *k) {
        return json_integer_value(json_object_get(o, k));
}

static char *dup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

static rf_decision_t *decision_from_json(json_t *f) {
        rf_decision_t *d = rf_decision_new();
        json_t *scr = json_object_get(f, "scrapers"), *s;
        char *names[16];
        size_t i, n = 0;

        d->decision_id = dup_or_null(jstr(f, "decision_id"));
        d->workflow = dup_or_null(jstr(f, "workflow"));
        json_array_foreach(scr, i, s) names[n++] = (char *)json_string_value(s);
        CHECK(rf_decision_set_scrapers(d, names, n) == 0);
        d->decided_at_ms = jint(f, "decided_at");
        d->attempt = (int32_t)jint(f, "attempt");
        d->reason = dup_or_null(jstr(f, "reason"));
        d->deadline_ms = jint(f, "deadline_ms");
        d->replay_of = dup_or_null(jstr(f, "replay_of"));
        d->trace_id = dup_or_null(jstr(f, "trace_id"));
        return d;
}

static void check_fields(const rf_decision_t *d, json_t *f) {
        json_t *scr = json_object_get(f, "scrapers"), *s;
        size_t i;

        CHECK(d != NULL);
        if (!d)
                return;
        CHECK_STR_EQ(d->decision_id, jstr(f, "decision_id"));
        CHECK_STR_EQ(d->workflow, jstr(f, "workflow"));
        CHECK(d->scraper_count == json_array_size(scr));
        json_array_foreach(scr, i, s) if (i < d->scraper_count) CHECK_STR_EQ(d->scrapers[i], json_string_value(s));
        CHECK(d->decided_at_ms == jint(f, "decided_at"));
        CHECK(d->attempt == jint(f, "attempt"));
        CHECK_STR_EQ(d->reason, jstr(f, "reason"));
        CHECK(d->deadline_ms == jint(f, "deadline_ms"));
        if (json_is_null(json_object_get(f, "replay_of")))
                CHECK(d->replay_of == NULL);
        else
                CHECK_STR_EQ(d->replay_of, jstr(f, "replay_of"));
        CHECK_STR_EQ(d->trace_id, jstr(f, "trace_id"));
}

static json_t *sample(size_t i) {
        return json_array_get(json_object_get(vectors, "samples"), i);
}

static unsigned char *sample_message(size_t i, size_t *len) {
        return unhex(jstr(sample(i), "message"), len);
}

static json_t *writer_vector(const char *name) {
        json_t *w;
        size_t i;

        json_array_foreach(json_object_get(vectors, "writers"), i, w) if (strcmp(jstr(w, "name"), name) == 0) return w;
        return NULL;
}

/* Decoding @p len bytes fails with -EBADMSG, leaves the result alone, and
 * the reason contains @p needle (if given). */
static void expect_bad(const void *msg, size_t len, const char *needle) {
        rf_decision_t *d = (rf_decision_t *)&d; /* a sentinel, never dereferenced */
        char err[256] = "";
        int r;

        r = rf_decision_decode(msg, len, &d, err, sizeof(err));
        CHECK(r == -EBADMSG);
        CHECK(d == (rf_decision_t *)&d);
        CHECK(err[0] != '\0' && !strchr(err, '\n'));
        if (needle)
                CHECK_CONTAINS(err, needle);
        if (r == 0 && d != (rf_decision_t *)&d)
                rf_decision_destroy(d);
}

/* ---- tests -------------------------------------------------------------- */

static void test_fingerprint(void) {
        char hex[17];

        snprintf(hex, sizeof(hex), "%016" PRIx64, rf_decision_fingerprint());
        CHECK_STR_EQ(hex, jstr(vectors, "fingerprint"));
}

static void test_vectors(void) {
        json_t *s;
        size_t i;

        CHECK(json_array_size(json_object_get(vectors, "samples")) >= 3);
        json_array_foreach(json_object_get(vectors, "samples"), i, s) {
                json_t *fields = json_object_get(s, "fields");
                rf_decision_t *d = decision_from_json(fields), *back = NULL, *again = NULL;
                unsigned char *want;
                void *enc = NULL;
                size_t want_len, enc_len = 0;
                char err[256] = "";

                want = unhex(jstr(s, "message"), &want_len);
                /* Encoding gives exactly the independent implementation's bytes. */
                CHECK(rf_decision_encode(d, &enc, &enc_len, err, sizeof(err)) == 0);
                CHECK(enc_len == want_len && enc && memcmp(enc, want, want_len) == 0);
                /* Decoding its bytes gives the fields. */
                CHECK(rf_decision_decode(want, want_len, &back, err, sizeof(err)) == 0);
                check_fields(back, fields);
                /* And our own bytes round-trip. */
                CHECK(rf_decision_decode(enc, enc_len, &again, err, sizeof(err)) == 0);
                check_fields(again, fields);
                if (err[0])
                        fprintf(stderr, "  sample %s: %s\n", jstr(s, "name"), err);
                rf_decision_destroy(d);
                rf_decision_destroy(back);
                rf_decision_destroy(again);
                free(enc);
                free(want);
        }
}

static void test_set_scrapers(void) {
        rf_decision_t *d = rf_decision_new();
        char a[] = "alpha", b[] = "beta";
        char *names[] = { a, b }, *with_null[] = { a, NULL };

        CHECK(rf_decision_set_scrapers(d, names, 2) == 0);
        a[0] = 'X'; /* copied, not borrowed */
        CHECK(d->scraper_count == 2);
        CHECK_STR_EQ(d->scrapers[0], "alpha");
        CHECK(rf_decision_set_scrapers(d, with_null, 2) == -EINVAL);
        CHECK_STR_EQ(d->scrapers[1], "beta"); /* unchanged on failure */
        CHECK(rf_decision_set_scrapers(d, NULL, 1) == -EINVAL);
        CHECK(rf_decision_set_scrapers(d, names + 1, 1) == 0);
        CHECK(d->scraper_count == 1);
        CHECK_STR_EQ(d->scrapers[0], "beta");
        CHECK(rf_decision_set_scrapers(d, NULL, 0) == 0);
        CHECK(d->scraper_count == 0 && d->scrapers == NULL);
        rf_decision_destroy(d);
        rf_decision_destroy(NULL);
}

/* The Confluent framing: 00, the id big-endian, the same body as the
 * single-object encoding; decodable once the id is known, -ENOKEY before;
 * the id cache is bounded and forgets the oldest. */
static void test_confluent(void) {
        rf_decision_t *d = rf_decision_new(), *back = NULL;
        void *soe = NULL, *cf = NULL;
        size_t soe_len = 0, cf_len = 0;
        char scr[] = "s1", *names[] = { scr }, err[256] = "";
        int32_t id = -1;
        int r;

        d->decision_id = strdup("0b1e3a52-8e3c-4f5e-9a53-2f0d7c4b6a11");
        d->workflow = strdup("wf");
        d->reason = strdup("due");
        d->trace_id = strdup("0123456789abcdef0123456789abcdef");
        d->decided_at_ms = 1700000000000;
        d->attempt = 2;
        d->deadline_ms = 60000;
        CHECK(rf_decision_set_scrapers(d, names, 1) == 0);
        CHECK(rf_decision_encode(d, &soe, &soe_len, err, sizeof(err)) == 0);
        CHECK(rf_decision_encode_confluent(d, 0x01020304, &cf, &cf_len, err, sizeof(err)) == 0);
        CHECK(cf_len == soe_len - RF_SOE_HEADER_LEN + RF_CONFLUENT_HEADER_LEN);
        CHECK(cf && memcmp(cf, "\x00\x01\x02\x03\x04", 5) == 0);
        CHECK(cf && soe && memcmp((char *)cf + 5, (char *)soe + RF_SOE_HEADER_LEN, cf_len - 5) == 0);
        CHECK(rf_decision_wire(cf, cf_len, &id) == RF_WIRE_CONFLUENT && id == 0x01020304);
        CHECK(rf_decision_wire(soe, soe_len, NULL) == RF_WIRE_SINGLE_OBJECT);
        CHECK(rf_decision_wire("\x01", 1, NULL) == RF_WIRE_UNKNOWN);
        CHECK(rf_decision_wire("\x00\x01", 2, NULL) == RF_WIRE_UNKNOWN); /* shorter than the header */
        CHECK(rf_decision_encode_confluent(d, -1, &cf, &cf_len, err, sizeof(err)) == -EINVAL);

        r = rf_decision_decode(cf, cf_len, &back, err, sizeof(err));
        CHECK(r == -ENOKEY && back == NULL);
        CHECK_CONTAINS(err, "schema id 16909060 not resolved");
        CHECK(!rf_decision_schema_id_known(0x01020304));
        CHECK(rf_decision_add_schema_id(0x01020304, "{\"type\":\"string\"}", err, sizeof(err)) == -EINVAL);
        CHECK(rf_decision_add_schema_id(0x01020304, rf_decision_schema_json(), err, sizeof(err)) == 0);
        CHECK(rf_decision_schema_id_known(0x01020304));
        CHECK(rf_decision_decode(cf, cf_len, &back, err, sizeof(err)) == 0);
        CHECK(back && strcmp(back->decision_id, d->decision_id) == 0 && back->attempt == 2 &&
              back->scraper_count == 1 && strcmp(back->scrapers[0], "s1") == 0);
        rf_decision_destroy(back);
        /* a truncated framed body is refused like any other */
        CHECK(rf_decision_decode(cf, cf_len - 1, &back, err, sizeof(err)) == -EBADMSG);
        /* bounded: after RF_DECISION_MAX_SCHEMA_IDS more ids the first is forgotten */
        for (int i = 0; i < RF_DECISION_MAX_SCHEMA_IDS; i++)
                CHECK(rf_decision_add_schema_id(1000 + i, rf_decision_schema_json(), err, sizeof(err)) == 0);
        CHECK(!rf_decision_schema_id_known(0x01020304));
        CHECK(rf_decision_schema_id_known(1000 + RF_DECISION_MAX_SCHEMA_IDS - 1));
        free(soe);
        free(cf);
        rf_decision_destroy(d);
}

static void expect_encode_invalid(rf_decision_t *d, const char *needle) {
        void *buf = (void *)&buf;
        size_t len = 12345;
        char err[256] = "";

        CHECK(rf_decision_encode(d, &buf, &len, err, sizeof(err)) == -EINVAL);
        CHECK(buf == (void *)&buf && len == 12345);
        CHECK_CONTAINS(err, needle);
}

static void test_encode_invalid(void) {
        rf_decision_t *d = decision_from_json(json_object_get(sample(0), "fields"));
        char *keep;
        char *many[RF_DECISION_MAX_SCRAPERS + 1];
        char bad_utf8[] = "caf\xc3";

        keep = d->decision_id;
        d->decision_id = NULL;
        expect_encode_invalid(d, "decision_id is not set");
        d->decision_id = (char *)"3f2c1e9a-7b4d-4c8e-9f1a-2b3c4d5e6f7";
        expect_encode_invalid(d, "is not a UUID");
        d->decision_id = keep;

        d->attempt = 0;
        expect_encode_invalid(d, "attempt 0 is below 1");
        d->attempt = 1;
        d->deadline_ms = 0;
        expect_encode_invalid(d, "deadline_ms 0 is not positive");
        d->deadline_ms = 1000;

        keep = d->workflow;
        d->workflow = (char *)"";
        expect_encode_invalid(d, "workflow is empty");
        d->workflow = bad_utf8;
        expect_encode_invalid(d, "workflow is not valid UTF-8");
        d->workflow = keep;

        keep = d->replay_of;
        d->replay_of = (char *)"yesterday";
        expect_encode_invalid(d, "replay_of \"yesterday\" is not a UUID");
        d->replay_of = keep;

        for (size_t i = 0; i <= RF_DECISION_MAX_SCRAPERS; i++)
                many[i] = (char *)"s";
        CHECK(rf_decision_set_scrapers(d, many, RF_DECISION_MAX_SCRAPERS + 1) == 0);
        expect_encode_invalid(d, "257 scrapers, need 1 to 256");
        CHECK(rf_decision_set_scrapers(d, many, RF_DECISION_MAX_SCRAPERS) == 0);
        {
                void *buf = NULL;
                size_t len = 0;
                rf_decision_t *back = NULL;
                char err[256] = "";

                CHECK(rf_decision_encode(d, &buf, &len, err, sizeof(err)) == 0);
                CHECK(rf_decision_decode(buf, len, &back, err, sizeof(err)) == 0);
                CHECK(back && back->scraper_count == RF_DECISION_MAX_SCRAPERS);
                rf_decision_destroy(back);
                free(buf);
        }
        CHECK(rf_decision_set_scrapers(d, NULL, 0) == 0);
        expect_encode_invalid(d, "0 scrapers");
        CHECK(rf_decision_encode(NULL, NULL, NULL, NULL, 0) == -EINVAL);
        rf_decision_destroy(d);
}

static void test_reject_framing(void) {
        size_t len;
        unsigned char *m = sample_message(0, &len), *big;
        char want[64];

        expect_bad(NULL, 0, "0 bytes, shorter than the 10-byte header");
        expect_bad("", 0, "0 bytes");
        expect_bad("\xc3", 1, "1 bytes");
        expect_bad(m, RF_SOE_HEADER_LEN - 1, "shorter than the 10-byte header");
        /* Header only: a known fingerprint, no body. */
        expect_bad(m, RF_SOE_HEADER_LEN, "truncated Avro body");

        m[1] = 0x02;
        expect_bad(m, len, "marker c3 02, expected c3 01");
        m[1] = 0x01;
        m[0] = 'O';
        expect_bad(m, len, "not an Avro single-object message");
        m[0] = 0xc3;

        /* The fingerprint is little-endian: byte-swapping it is unknown. */
        for (int i = 0; i < 4; i++) {
                unsigned char t = m[2 + i];

                m[2 + i] = m[9 - i];
                m[9 - i] = t;
        }
        snprintf(want, sizeof(want), "unknown schema fingerprint 0x%016" PRIx64,
                 __builtin_bswap64(rf_decision_fingerprint()));
        expect_bad(m, len, want);
        free(m);

        /* Trailing garbage, one byte or many. */
        m = sample_message(1, &len);
        big = malloc(len + 100);
        memcpy(big, m, len);
        memset(big + len, 0, 100);
        expect_bad(big, len + 1, "trailing bytes: 1 after the Avro body");
        expect_bad(big, len + 100, "trailing bytes: 100");
        free(big);
        free(m);
}

static void test_truncation(void) {
        json_t *s;
        size_t i;

        json_array_foreach(json_object_get(vectors, "samples"), i, s) {
                size_t len;
                unsigned char *m = unhex(jstr(s, "message"), &len);

                for (size_t n = 0; n < len; n++) {
                        /* A copy of exactly n bytes, so ASan sees any over-read. */
                        unsigned char *t = malloc(n ? n : 1);

                        memcpy(t, m, n);
                        expect_bad(n ? t : NULL, n, n < RF_SOE_HEADER_LEN ? "header" : "truncated Avro body");
                        free(t);
                }
                free(m);
        }
}

static void header_v1(buf_t *b) {
        b_header(b, rf_decision_fingerprint());
}

/* A v1 body with every field given; attempt is written as a long so tests
 * can put out-of-range values on the wire. */
static void body_v1(buf_t *b, const char *id, const char *workflow, const char *const *scrapers, size_t n,
                    int64_t attempt, int64_t deadline, const char *replay_of) {
        b_str(b, id);
        b_str(b, workflow);
        if (n) {
                b_long(b, (int64_t)n);
                for (size_t i = 0; i < n; i++)
                        b_str(b, scrapers[i]);
        }
        b_long(b, 0);
        b_long(b, 1718035200000);
        b_long(b, attempt);
        b_str(b, "why");
        b_long(b, deadline);
        if (replay_of) {
                b_long(b, 1);
                b_str(b, replay_of);
        } else
                b_long(b, 0);
        b_str(b, "trace");
}

#define ID "3f2c1e9a-7b4d-4c8e-9f1a-2b3c4d5e6f70"

static void test_hostile_lengths(void) {
        static const char *const one[] = { "events" };
        size_t calls;
        buf_t b = { 0 };

        /* Sanity: the hand-built body is accepted. */
        header_v1(&b);
        body_v1(&b, ID, "wf", one, 1, 1, 1000, NULL);
        {
                rf_decision_t *d = NULL;
                char err[256] = "";

                CHECK(rf_decision_decode(b.b, b.len, &d, err, sizeof(err)) == 0);
                CHECK(d && d->scraper_count == 1 && strcmp(d->scrapers[0], "events") == 0);
                rf_decision_destroy(d);
        }

        /* 20 bytes claiming a 2,000,000,000-byte string: rejected before
         * avro-c allocates anything at all. */
        b.len = 0;
        header_v1(&b);
        b_long(&b, 2000000000);
        b_put(&b, "0123456789", 5);
        CHECK(b.len == 20);
        calls = atomic_load(&avro_calls);
        expect_bad(b.b, b.len,
                   "truncated Avro body: string of 2000000000 bytes at byte 10, only 5 left (field decision_id)");
        CHECK(atomic_load(&avro_calls) == calls);

        /* The same in a later field, and in an array item. */
        b.len = 0;
        header_v1(&b);
        b_str(&b, ID);
        b_long(&b, INT64_C(1) << 40);
        expect_bad(b.b, b.len, "string of 1099511627776 bytes");
        b.len = 0;
        header_v1(&b);
        b_str(&b, ID);
        b_str(&b, "wf");
        b_long(&b, 1);
        b_long(&b, 2000000000);
        expect_bad(b.b, b.len, "(field scrapers)");

        /* A negative length would make avro-c write before its buffer. */
        b.len = 0;
        header_v1(&b);
        b_long(&b, -1);
        b_put(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 30);
        expect_bad(b.b, b.len, "malformed Avro body: negative string length -1 at byte 10");

        /* Array counts: huge, huge negative with a block size, INT64_MIN,
         * and a block size that lies. */
        b.len = 0;
        header_v1(&b);
        b_str(&b, ID);
        b_str(&b, "wf");
        b_long(&b, INT64_C(1) << 50);
        expect_bad(b.b, b.len, "array block of 1125899906842624 items");
        b.len = 0;
        header_v1(&b);
        b_str(&b, ID);
        b_str(&b, "wf");
        b_long(&b, -1000000000);
        b_long(&b, 3);
        b_str(&b, "ab");
        expect_bad(b.b, b.len, "array block of 1000000000 items");
        b.len = 0;
        header_v1(&b);
        b_str(&b, ID);
        b_str(&b, "wf");
        b_long(&b, INT64_MIN);
        expect_bad(b.b, b.len, "array block count out of range");
        b.len = 0;
        header_v1(&b);
        b_str(&b, ID);
        b_str(&b, "wf");
        b_long(&b, -1);
        b_long(&b, 1000000);
        b_str(&b, "ab");
        expect_bad(b.b, b.len, "truncated Avro body: array block of 1000000 bytes");
        b.len = 0;
        header_v1(&b);
        b_str(&b, ID);
        b_str(&b, "wf");
        b_long(&b, -1);
        b_long(&b, 2); /* the item takes 3 */
        b_str(&b, "ab");
        b_long(&b, 0);
        b_long(&b, 1718035200000);
        b_long(&b, 1);
        b_str(&b, "why");
        b_long(&b, 1000);
        b_long(&b, 0);
        b_str(&b, "trace");
        expect_bad(b.b, b.len, "array block says 2 bytes, its items take 3");
        /* ... and a negative count with a true size is fine. */
        b.len = 0;
        header_v1(&b);
        b_str(&b, ID);
        b_str(&b, "wf");
        b_long(&b, -2);
        b_long(&b, 6);
        b_str(&b, "ab");
        b_str(&b, "cd");
        b_long(&b, 0);
        b_long(&b, 1718035200000);
        b_long(&b, 1);
        b_str(&b, "why");
        b_long(&b, 1000);
        b_long(&b, 0);
        b_str(&b, "trace");
        {
                rf_decision_t *d = NULL;
                char err[256] = "";

                CHECK(rf_decision_decode(b.b, b.len, &d, err, sizeof(err)) == 0);
                CHECK(d && d->scraper_count == 2 && strcmp(d->scrapers[1], "cd") == 0);
                rf_decision_destroy(d);
        }

        /* Varints: 11 bytes, and a 10th byte past 64 bits. */
        b.len = 0;
        header_v1(&b);
        b_put(&b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
        expect_bad(b.b, b.len, "varint overflows 64 bits");
        b.len = 0;
        header_v1(&b);
        b_put(&b, "\xff\xff\xff", 3);
        expect_bad(b.b, b.len, "varint at byte 10 runs past the end");

        free(b.b);
}

static void test_malformed_values(void) {
        static const char *const one[] = { "events" };
        static const char *const empty_name[] = { "" };
        const char *many[RF_DECISION_MAX_SCRAPERS + 1];
        buf_t b = { 0 };

        /* Union branch 2 of ["null","string"]. */
        header_v1(&b);
        b_str(&b, ID);
        b_str(&b, "wf");
        b_long(&b, 1);
        b_str(&b, "s");
        b_long(&b, 0);
        b_long(&b, 1);
        b_long(&b, 1);
        b_str(&b, "why");
        b_long(&b, 1000);
        b_long(&b, 2);
        b_str(&b, "trace");
        expect_bad(b.b, b.len, "union branch 2 does not exist");

        /* int out of range. */
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "wf", one, 1, INT64_C(1) << 31, 1000, NULL);
        expect_bad(b.b, b.len, "int 2147483648 out of range");

        /* Bad UTF-8 and NUL inside strings. */
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "caf\xc3\x28", one, 1, 1, 1000, NULL);
        expect_bad(b.b, b.len, "not UTF-8 or holds NUL");
        b.len = 0;
        header_v1(&b);
        b_str(&b, ID);
        b_long(&b, 3);
        b_put(&b, "a\0b", 3);
        expect_bad(b.b, b.len, "(field workflow)");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "wf", one, 1, 1, 1000, "\xed\xa0\x80"); /* a surrogate */
        expect_bad(b.b, b.len, "(field replay_of)");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "\xc0\xaf", one, 1, 1, 1000, NULL); /* overlong '/' */
        expect_bad(b.b, b.len, "not UTF-8");

        /* Well-formed Avro, but not a valid decision. */
        b.len = 0;
        header_v1(&b);
        body_v1(&b, "not-a-uuid", "wf", one, 1, 1, 1000, NULL);
        expect_bad(b.b, b.len, "invalid decision: decision_id \"not-a-uuid\" is not a UUID");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, "3f2c1e9a-7b4d-4c8e-9f1a-2b3c4d5e6f7g", "wf", one, 1, 1, 1000, NULL);
        expect_bad(b.b, b.len, "is not a UUID");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, "\x1b[31m\nforged log line", "wf", one, 1, 1, 1000, NULL);
        expect_bad(b.b, b.len, "decision_id \"?[31m?forged log line\" is not a UUID");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "", one, 1, 1, 1000, NULL);
        expect_bad(b.b, b.len, "invalid decision: workflow is empty");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "wf", NULL, 0, 1, 1000, NULL);
        expect_bad(b.b, b.len, "invalid decision: 0 scrapers, need 1 to 256");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "wf", empty_name, 1, 1, 1000, NULL);
        expect_bad(b.b, b.len, "scraper 0 has an empty or invalid name");
        for (size_t i = 0; i <= RF_DECISION_MAX_SCRAPERS; i++)
                many[i] = "s";
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "wf", many, RF_DECISION_MAX_SCRAPERS + 1, 1, 1000, NULL);
        expect_bad(b.b, b.len, "257 scrapers");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "wf", one, 1, 0, 1000, NULL);
        expect_bad(b.b, b.len, "invalid decision: attempt 0 is below 1");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "wf", one, 1, -5, 1000, NULL);
        expect_bad(b.b, b.len, "attempt -5");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "wf", one, 1, 1, 0, NULL);
        expect_bad(b.b, b.len, "invalid decision: deadline_ms 0 is not positive");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "wf", one, 1, 1, -1, NULL);
        expect_bad(b.b, b.len, "deadline_ms -1");
        b.len = 0;
        header_v1(&b);
        body_v1(&b, ID, "wf", one, 1, 1, 1000, "");
        expect_bad(b.b, b.len, "replay_of \"\" is not a UUID");
        free(b.b);
}

static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rng(void) {
        /* xorshift64*: a fixed seed, so a failure reproduces. */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}

static void test_random(void) {
        unsigned char m[400];
        size_t ok = 0, bad = 0, other = 0;
        uint64_t fp = rf_decision_fingerprint();

        atomic_store(&avro_largest, 0);
        /* Pure noise, half of it behind a valid header. */
        for (int iter = 0; iter < 20000; iter++) {
                size_t len = rng() % sizeof(m);
                rf_decision_t *d = NULL;
                char err[256];
                int r;

                for (size_t i = 0; i < len; i++)
                        m[i] = (unsigned char)rng();
                if ((iter & 1) && len >= RF_SOE_HEADER_LEN) {
                        m[0] = 0xc3;
                        m[1] = 0x01;
                        for (int i = 0; i < 8; i++)
                                m[2 + i] = (unsigned char)(fp >> (8 * i));
                }
                r = rf_decision_decode(m, len, &d, err, sizeof(err));
                if (r == 0)
                        ok++;
                else if (r == -EBADMSG || (r == -ENOKEY && m[0] == 0)) /* 00: Confluent framing, id unknown */
                        bad++;
                else
                        other++;
                rf_decision_destroy(d);
        }
        CHECK(other == 0);
        CHECK(bad >= 19990);
        /* Noise never reaches avro-c's reader with a big length. */
        CHECK(atomic_load(&avro_largest) <= 4096);

        /* Mutations of valid messages: any answer but a crash, and what
         * decodes is a valid decision that encodes again. */
        ok = bad = other = 0;
        for (int iter = 0; iter < 30000; iter++) {
                size_t len;
                unsigned char *v = sample_message((size_t)iter % 3, &len);
                rf_decision_t *d = NULL;
                char err[256];
                int flips = 1 + (int)(rng() % 3), r;

                for (int k = 0; k < flips; k++) {
                        size_t at = RF_SOE_HEADER_LEN + rng() % (len - RF_SOE_HEADER_LEN);

                        v[at] = (rng() & 1) ? (unsigned char)rng() : (unsigned char)(v[at] ^ (1u << (rng() % 8)));
                }
                if (rng() % 4 == 0)
                        len -= rng() % (len - RF_SOE_HEADER_LEN);
                r = rf_decision_decode(v, len, &d, err, sizeof(err));
                if (r == 0) {
                        void *enc = NULL;
                        size_t enc_len;

                        ok++;
                        CHECK(rf_decision_encode(d, &enc, &enc_len, err, sizeof(err)) == 0);
                        free(enc);
                } else if (r == -EBADMSG)
                        bad++;
                else
                        other++;
                rf_decision_destroy(d);
                free(v);
        }
        CHECK(other == 0);
        CHECK(ok > 0 && bad > 0);
        printf("random: mutations decoded %zu, rejected %zu; largest avro-c allocation %zu bytes\n", ok, bad,
               atomic_load(&avro_largest));
}

/* Sets @p v (of whatever writer schema) from JSON @p j, by the value's type. */
static int set_from_json(avro_value_t *v, json_t *j) {
        avro_value_t child;
        size_t i;
        json_t *item;

        switch (avro_value_get_type(v)) {
        case AVRO_STRING:
                return avro_value_set_string(v, json_string_value(j));
        case AVRO_INT32:
                return avro_value_set_int(v, (int32_t)json_integer_value(j));
        case AVRO_INT64:
                return avro_value_set_long(v, json_integer_value(j));
        case AVRO_ARRAY:
                json_array_foreach(j, i, item) if (avro_value_append(v, &child, NULL) ||
                                                   set_from_json(&child, item)) return EINVAL;
                return 0;
        case AVRO_UNION:
                /* ["null","string"] */
                if (avro_value_set_branch(v, json_is_null(j) ? 0 : 1, &child))
                        return EINVAL;
                return json_is_null(j) ? avro_value_set_null(&child) : set_from_json(&child, j);
        case AVRO_RECORD: {
                const char *k;

                json_object_foreach(j, k, item) if (avro_value_get_by_name(v, k, &child, NULL) ||
                                                    set_from_json(&child, item)) return EINVAL;
                return 0;
        }
        default:
                return EINVAL;
        }
}

/* A single-object message written with avro-c and @p schema_json. */
static unsigned char *encode_with(const char *schema_json, json_t *fields, size_t *ret_len) {
        avro_schema_t s = NULL;
        avro_value_iface_t *cls;
        avro_value_t v;
        avro_writer_t w;
        buf_t b = { 0 };
        size_t size = 0;
        uint64_t fp = 0;
        char err[256];

        CHECK(rf_avro_fingerprint(schema_json, &fp, err, sizeof(err)) == 0);
        CHECK(avro_schema_from_json_length(schema_json, strlen(schema_json), &s) == 0);
        cls = avro_generic_class_from_schema(s);
        CHECK(avro_generic_value_new(cls, &v) == 0);
        CHECK(set_from_json(&v, fields) == 0);
        CHECK(avro_value_sizeof(&v, &size) == 0);
        b_header(&b, fp);
        b.b = realloc(b.b, RF_SOE_HEADER_LEN + size);
        w = avro_writer_memory((const char *)b.b + RF_SOE_HEADER_LEN, (int64_t)size);
        CHECK(avro_value_write(w, &v) == 0);
        avro_writer_free(w);
        avro_value_decref(&v);
        avro_value_iface_decref(cls);
        avro_schema_decref(s);
        *ret_len = RF_SOE_HEADER_LEN + size;
        return b.b;
}

static void check_writer(const char *name) {
        json_t *wv = writer_vector(name);
        char *schema = wv ? schema_text(wv) : NULL, want[80], err[256] = "";
        unsigned char *vec, *ours;
        size_t vec_len, ours_len;
        rf_decision_t *d = NULL;

        CHECK(wv != NULL && schema != NULL);
        if (!wv || !schema) {
                free(schema);
                return;
        }
        vec = unhex(jstr(wv, "message"), &vec_len);

        /* avro-c with the writer's schema writes the same bytes as python. */
        ours = encode_with(schema, json_object_get(wv, "writer_fields"), &ours_len);
        CHECK(ours_len == vec_len && memcmp(ours, vec, vec_len) == 0);

        /* Unknown until its schema is registered. */
        snprintf(want, sizeof(want), "unknown schema fingerprint 0x%s", jstr(wv, "fingerprint"));
        expect_bad(vec, vec_len, want);
        CHECK(rf_decision_register_writer_schema(schema, err, sizeof(err)) == 0);
        CHECK(rf_decision_register_writer_schema(schema, err, sizeof(err)) == 0); /* idempotent */

        /* Resolved to the reader: the reader's fields, the writer's extra dropped. */
        CHECK(rf_decision_decode(vec, vec_len, &d, err, sizeof(err)) == 0);
        if (!d)
                fprintf(stderr, "  writer %s: %s\n", name, err);
        check_fields(d, json_object_get(wv, "reader_fields"));
        rf_decision_destroy(d);
        d = NULL;
        CHECK(rf_decision_decode(ours, ours_len, &d, err, sizeof(err)) == 0);
        check_fields(d, json_object_get(wv, "reader_fields"));
        rf_decision_destroy(d);

        /* The bounded walk follows the writer schema: every truncation fails. */
        for (size_t n = RF_SOE_HEADER_LEN; n < vec_len; n++)
                expect_bad(vec, n, "truncated Avro body");
        free(vec);
        free(ours);
        free(schema);
}

static void test_resolution(void) {
        char err[512] = "";

        check_writer("v2"); /* newer writer, extra field "priority" */
        check_writer("v0"); /* older writer, field "legacy_host" the reader dropped */

        /* Writers the reader cannot resolve are refused at registration. */
        {
                /* A writer without trace_id: avro-c 1.11.1 ignores reader
                 * defaults, so a reader field missing from the writer never
                 * resolves. */
                const char *no_trace =
                        "{\"type\":\"record\",\"name\":\"RunDecision\",\"namespace\":\"runfleet.v1\",\"fields\":["
                        "{\"name\":\"decision_id\",\"type\":\"string\"},{\"name\":\"workflow\",\"type\":\"string\"},"
                        "{\"name\":\"scrapers\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
                        "{\"name\":\"decided_at\",\"type\":\"long\"},{\"name\":\"attempt\",\"type\":\"int\"},"
                        "{\"name\":\"reason\",\"type\":\"string\"},{\"name\":\"deadline_ms\",\"type\":\"long\"},"
                        "{\"name\":\"replay_of\",\"type\":[\"null\",\"string\"]}]}";
                const char *string_attempt =
                        "{\"type\":\"record\",\"name\":\"RunDecision\",\"namespace\":\"runfleet.v1\",\"fields\":["
                        "{\"name\":\"decision_id\",\"type\":\"string\"},{\"name\":\"workflow\",\"type\":\"string\"},"
                        "{\"name\":\"scrapers\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
                        "{\"name\":\"decided_at\",\"type\":\"long\"},{\"name\":\"attempt\",\"type\":\"string\"},"
                        "{\"name\":\"reason\",\"type\":\"string\"},{\"name\":\"deadline_ms\",\"type\":\"long\"},"
                        "{\"name\":\"replay_of\",\"type\":[\"null\",\"string\"]},{\"name\":\"trace_id\",\"type\":\"string\"}]}";

                CHECK(rf_decision_register_writer_schema(no_trace, err, sizeof(err)) == -EINVAL);
                CHECK_CONTAINS(err, "cannot be resolved to the reader schema run_decision.v1.avsc");
                CHECK_CONTAINS(err, "trace_id");
                CHECK(!strchr(err, '\n'));
                CHECK(rf_decision_register_writer_schema(string_attempt, err, sizeof(err)) == -EINVAL);
                CHECK_CONTAINS(err, "attempt");
                CHECK(rf_decision_register_writer_schema("{\"type\":\"record\"", err, sizeof(err)) == -EINVAL);
                CHECK_CONTAINS(err, "not valid JSON");
                CHECK(rf_decision_register_writer_schema("\"string\"", err, sizeof(err)) == -EINVAL);
                CHECK_CONTAINS(err, "not a record schema");
                CHECK(rf_decision_register_writer_schema(NULL, err, sizeof(err)) == -EINVAL);
        }
        {
                /* More writers the reader must refuse, each for its reason. */
                static const struct {
                        const char *from, *to, *reason;
                } bad[] = {
                        { "{\"name\":\"attempt\",\"type\":\"int\"}", "{\"name\":\"attempt\",\"type\":\"long\"}",
                          "RunDecision.attempt: writer type long does not resolve to reader type int" },
                        { "{\"name\":\"replay_of\",\"type\":[\"null\",\"string\"]}",
                          "{\"name\":\"replay_of\",\"type\":[\"null\",\"string\",\"long\"]}",
                          "RunDecision.replay_of<2>: writer type long matches no branch" },
                        { "{\"name\":\"scrapers\",\"type\":{\"type\":\"array\",\"items\":\"string\"}}",
                          "{\"name\":\"scrapers\",\"type\":{\"type\":\"array\",\"items\":\"bytes\"}}",
                          "RunDecision.scrapers[]: writer type bytes does not resolve to reader type string" },
                        { "\"name\":\"RunDecision\"", "\"name\":\"RunDecisionX\"",
                          "writer record RunDecisionX is not reader record RunDecision" },
                };
                const char *base =
                        "{\"type\":\"record\",\"name\":\"RunDecision\",\"namespace\":\"runfleet.v1\",\"fields\":["
                        "{\"name\":\"decision_id\",\"type\":\"string\"},{\"name\":\"workflow\",\"type\":\"string\"},"
                        "{\"name\":\"scrapers\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
                        "{\"name\":\"decided_at\",\"type\":\"long\"},{\"name\":\"attempt\",\"type\":\"int\"},"
                        "{\"name\":\"reason\",\"type\":\"string\"},{\"name\":\"deadline_ms\",\"type\":\"long\"},"
                        "{\"name\":\"replay_of\",\"type\":[\"null\",\"string\"]},{\"name\":\"trace_id\",\"type\":\"string\"}]}";

                for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                        char schema[2048];
                        const char *at = strstr(base, bad[i].from);

                        CHECK(at != NULL);
                        if (!at)
                                continue;
                        snprintf(schema, sizeof(schema), "%.*s%s%s", (int)(at - base), base, bad[i].to,
                                 at + strlen(bad[i].from));
                        CHECK(rf_decision_register_writer_schema(schema, err, sizeof(err)) == -EINVAL);
                        CHECK_CONTAINS(err, bad[i].reason);
                }
        }
        {
                /* Promotions are resolved: deadline_ms written as int, replay_of
                 * as a plain string (the reader's union takes it). */
                const char *promo =
                        "{\"type\":\"record\",\"name\":\"RunDecision\",\"namespace\":\"runfleet.v1\",\"fields\":["
                        "{\"name\":\"trace_id\",\"type\":\"string\"},"
                        "{\"name\":\"decision_id\",\"type\":\"string\"},{\"name\":\"workflow\",\"type\":\"string\"},"
                        "{\"name\":\"scrapers\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
                        "{\"name\":\"decided_at\",\"type\":\"long\"},{\"name\":\"attempt\",\"type\":\"int\"},"
                        "{\"name\":\"reason\",\"type\":\"string\"},{\"name\":\"deadline_ms\",\"type\":\"int\"},"
                        "{\"name\":\"replay_of\",\"type\":\"string\"}]}";
                json_t *fields = json_deep_copy(json_object_get(sample(1), "fields"));
                unsigned char *m;
                size_t len;
                rf_decision_t *d = NULL;

                m = encode_with(promo, fields, &len);
                expect_bad(m, len, "unknown schema fingerprint");
                CHECK(rf_decision_register_writer_schema(promo, err, sizeof(err)) == 0);
                CHECK(rf_decision_decode(m, len, &d, err, sizeof(err)) == 0);
                check_fields(d, fields);
                rf_decision_destroy(d);
                free(m);
                json_decref(fields);
        }
}

typedef struct {
        int ok;
} thread_result_t;

static void *thread_main(void *arg) {
        thread_result_t *res = arg;

        for (int i = 0; i < 1500; i++) {
                size_t len;
                unsigned char *m = sample_message((size_t)i % 3, &len);
                rf_decision_t *d = NULL;
                void *enc = NULL;
                size_t enc_len = 0;
                char err[256];

                if (rf_decision_decode(m, len, &d, err, sizeof(err)) == 0 &&
                    rf_decision_encode(d, &enc, &enc_len, err, sizeof(err)) == 0 && enc_len == len &&
                    memcmp(enc, m, len) == 0)
                        res->ok++;
                rf_decision_destroy(d);
                free(enc);
                free(m);
        }
        return NULL;
}

/* First use from several threads at once: the registry initializes once. */
static void test_threads(void) {
        pthread_t t[4];
        thread_result_t res[4] = { { 0 } };

        for (int i = 0; i < 4; i++)
                CHECK(pthread_create(&t[i], NULL, thread_main, &res[i]) == 0);
        for (int i = 0; i < 4; i++) {
                pthread_join(t[i], NULL);
                CHECK(res[i].ok == 1500);
        }
}

int main(void) {
        json_error_t jerr;

        avro_set_allocator(counting_allocator, NULL);
        vectors = json_load_file(VECTORS, 0, &jerr);
        CHECK(vectors != NULL);
        if (!vectors) {
                fprintf(stderr, "%s: %s\n", VECTORS, jerr.text);
                return rf_test_finish();
        }
        test_threads();
        test_fingerprint();
        test_vectors();
        test_set_scrapers();
        test_confluent();
        test_encode_invalid();
        test_reject_framing();
        test_truncation();
        test_hostile_lengths();
        test_malformed_values();
        test_random();
        test_resolution();
        json_decref(vectors);

        rf_decision_free_schemas();
        {
                rf_decision_t *d = NULL;
                char err[256] = "";
                size_t len;
                unsigned char *m = unhex("c301", &len);

                CHECK(rf_decision_decode(m, len, &d, err, sizeof(err)) == -ESHUTDOWN);
                CHECK_CONTAINS(err, "rf_decision_free_schemas() was called");
                free(m);
        }
        return rf_test_finish();
}
