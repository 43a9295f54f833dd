/* SPDX-License-Identifier: Apache-2.0 */
/* rf_json_text: what it writes is valid JSON that jansson reads back to the
 * same string, for every byte sequence; invalid UTF-8 becomes U+FFFD. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "rf_json_text.h"
#include "rf_test.h"

/* The string @p s written as JSON, read back by jansson; NULL when the text
 * is not a JSON string. The caller frees. */
static char *round_trip(const char *s) {
        rf_json_text_t t = { 0 };
        char *text, *back = NULL;
        json_t *v;

        rf_json_text_string(&t, s);
        text = rf_json_text_take(&t);
        v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
        if (json_is_string(v))
                back = strdup(json_string_value(v));
        json_decref(v);
        free(text);
        return back;
}

static void check_round_trip(const char *s, const char *want) {
        char *back = round_trip(s);

        CHECK_STR_EQ(back ? back : "(not a JSON string)", want);
        free(back);
}

static void escapes(void) {
        check_round_trip("", "");
        check_round_trip("plain text", "plain text");
        check_round_trip("say \"hi\" \\ there", "say \"hi\" \\ there");
        check_round_trip("line\nbreak\ttab\rcr\x01\x1f\x7f", "line\nbreak\ttab\rcr\x01\x1f\x7f");
        check_round_trip("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void invalid_utf8(void) {
        check_round_trip("a\xff"
                         "b",
                         "a\xef\xbf\xbd"
                         "b");                                                    /* not a lead byte */
        check_round_trip("\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd");                 /* overlong NUL */
        check_round_trip("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
        check_round_trip("cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd");         /* cut short by the end */
        check_round_trip("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* past U+10FFFF */
}

static void values(void) {
        rf_json_text_t t = { 0 };
        char *text;
        json_t *v;

        rf_json_text_lit(&t, "[");
        rf_json_text_int(&t, -9223372036854775807LL - 1);
        rf_json_text_lit(&t, ",");
        rf_json_text_string(&t, NULL);
        rf_json_text_lit(&t, "]");
        text = rf_json_text_take(&t);
        CHECK_STR_EQ(text, "[-9223372036854775808,null]");
        v = json_loads(text, 0, NULL);
        CHECK(json_array_size(v) == 2 && json_is_null(json_array_get(v, 1)));
        json_decref(v);
        free(text);
        CHECK(t.data == NULL && t.len == 0);
        text = rf_json_text_take(&t); /* empty */
        CHECK_STR_EQ(text, "");
        free(text);
}

/* Separators come from what was written last. */
static void nesting(void) {
        rf_json_text_t t = { 0 };
        char *text;

        rf_json_text_open(&t, '[');
        rf_json_text_open(&t, '{');
        rf_json_text_key(&t, "a");
        rf_json_text_int(&t, 1);
        rf_json_text_key(&t, "b \"q\"");
        rf_json_text_open(&t, '[');
        rf_json_text_open(&t, '{');
        rf_json_text_key(&t, "c");
        rf_json_text_string(&t, NULL);
        rf_json_text_lit(&t, "}");
        rf_json_text_open(&t, '{');
        rf_json_text_lit(&t, "}]}");
        rf_json_text_open(&t, '{');
        rf_json_text_lit(&t, "}]");
        text = rf_json_text_take(&t);
        CHECK_STR_EQ(text, "[{\"a\":1,\"b \\\"q\\\"\":[{\"c\":null},{}]},{}]");
        free(text);
}

/* Random bytes: always a JSON string, and the same string when it was valid UTF-8 already. */
static void random_bytes(void) {
        int not_json = 0, changed_valid = 0;

        srand(7);
        for (int round = 0; round < 20000; round++) {
                char s[24], *back;
                size_t n = (size_t)(rand() % 23);
                json_t *probe;

                for (size_t i = 0; i < n; i++)
                        s[i] = (char)(1 + rand() % 255);
                s[n] = '\0';
                back = round_trip(s);
                probe = json_string(s); /* jansson accepts only valid UTF-8 */
                not_json += back == NULL;
                changed_valid += probe && back && strcmp(back, s) != 0;
                json_decref(probe);
                free(back);
        }
        CHECK(not_json == 0);
        CHECK(changed_valid == 0);
}

int main(void) {
        escapes();
        invalid_utf8();
        values();
        nesting();
        random_bytes();
        return rf_test_finish();
}
