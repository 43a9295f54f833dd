/* SPDX-License-Identifier: Apache-2.0 */
/* rf_log and rf_log_members: one JSON object per line with the header
 * members first and the fields after, whichever way the fields came; the
 * human format shows them too; a line below the level is not written. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rf_json_text.h"
#include "rf_log.h"
#include "rf_test.h"

/* Runs @p write with stderr sent to a file and returns what it wrote. */
static char *captured(void (*write)(void)) {
        char path[] = "/tmp/rf-test-log-XXXXXX", *text = calloc(1, 8192);
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        FILE *f;

        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        write();
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        f = fdopen(fd, "r");
        rewind(f);
        fread(text, 1, 8191, f);
        fclose(f);
        unlink(path);
        return text;
}

static void two_lines(void) {
        rf_json_text_t t = { 0 };
        char *members;

        rf_json_text_key(&t, "execution_id");
        rf_json_text_string(&t, "e-1");
        rf_json_text_key(&t, "offset");
        rf_json_text_int(&t, 42);
        members = rf_json_text_take(&t);
        rf_log_members(RF_LOG_INFO, "execution.finished", members, "w %s in %d ms", "SUCCEEDED", 7);
        free(members);
        rf_log(RF_LOG_WARN, "execution.fenced", json_pack("{s:s, s:i}", "execution_id", "e-2", "offset", 43),
               "not recorded");
        rf_log_members(RF_LOG_DEBUG, "execution.started", "\"x\":1", "below the level");
}

static void json_lines(void) {
        char *text, *second;
        json_t *a, *b;

        rf_log_set_json(true);
        text = captured(two_lines);
        second = strchr(text, '\n');
        CHECK(second != NULL);
        if (!second)
                return;
        *second++ = '\0';
        a = json_loads(text, 0, NULL);
        b = json_loads(second, JSON_DISABLE_EOF_CHECK, NULL);
        CHECK(a && b);
        CHECK(strncmp(text, "{\"time\":", 8) == 0);
        CHECK_STR_EQ(json_string_value(json_object_get(a, "event")), "execution.finished");
        CHECK_STR_EQ(json_string_value(json_object_get(a, "msg")), "w SUCCEEDED in 7 ms");
        CHECK_STR_EQ(json_string_value(json_object_get(a, "execution_id")), "e-1");
        CHECK(json_integer_value(json_object_get(a, "offset")) == 42);
        CHECK_STR_EQ(json_string_value(json_object_get(b, "level")), "warn");
        CHECK(json_integer_value(json_object_get(b, "offset")) == 43);
        CHECK(strstr(second, "below the level") == NULL);
        json_decref(a);
        json_decref(b);
        free(text);
}

static void human_lines(void) {
        char *text;

        rf_log_set_json(false);
        text = captured(two_lines);
        CHECK_CONTAINS(text, "execution.finished");
        CHECK_CONTAINS(text, "\"execution_id\":\"e-1\",\"offset\":42");
        CHECK_CONTAINS(text, "execution_id=e-2");
        CHECK(strstr(text, "below the level") == NULL);
        free(text);
}

int main(void) {
        rf_log_init("test");
        json_lines();
        human_lines();
        return rf_test_finish();
}
