/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the configuration loader on arbitrary text.
 *
 * Expected: a refusal is -EINVAL (or -ENOMEM) with a one-line message; an
 * accepted configuration printed by rf_conf_print() (what --print-config
 * shows) loads again, and printing that gives the same text (print∘load is
 * a fixed point after one step, secrets masked both times). The masked
 * database URL must not give libpq the original password, directly or
 * through a connection string held in dbname.
 *
 * "@include" is skipped: it makes libconfig open the file the input names,
 * which is the operator's business, not the parser's. RUNFLEET_* variables
 * are cleared so the environment cannot change what an input means. */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rf_conf.h"

extern char **environ;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)argc;
        (void)argv;
        for (int again = 1; again;) {
                again = 0;
                for (char **e = environ; *e; e++)
                        if (strncmp(*e, "RUNFLEET_", 9) == 0) {
                                char name[256];
                                snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
                                unsetenv(name);
                                again = 1;
                                break;
                        }
        }
        return 0;
}

static char *print_conf(const rf_conf_t *c) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        FUZZ_ASSERT(f != NULL, "open_memstream");
        rf_conf_print(c, f);
        FUZZ_ASSERT(fclose(f) == 0 && text, "memstream");
        return text;
}

/* The password libpq would use for @p dsn, or NULL; the caller frees it.
 * rf_pg_connect() passes the URL as dbname with expand_dbname=1, which
 * parses it as PQconninfoParse() does (a dbname inside it is not expanded
 * again). */
static char *dsn_password(const char *dsn) {
        PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
        char *password = NULL;

        if (!opts)
                return NULL;
        for (PQconninfoOption *o = opts; o->keyword; o++)
                if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
                        password = strdup(o->val);
        PQconninfoFree(opts);
        return password;
}

static void check_masked(const char *url) {
        char *secret = dsn_password(url), *masked, *leaked;

        if (!secret)
                return;
        masked = rf_conf_mask_dsn(url);
        FUZZ_ASSERT(masked != NULL, "rf_conf_mask_dsn");
        leaked = dsn_password(masked);
        /* not merely different: any part of a password is too much */
        FUZZ_ASSERT(!leaked || strcmp(leaked, "****") == 0, "masked database.url gives libpq the password \"%s\": %s",
                    leaked, masked);
        free(leaked);
        free(masked);
        free(secret);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        rf_conf_t *c = NULL, *c2 = NULL;
        char err[1024] = "", *text, *printed, *printed2;
        int r;

        text = malloc(size + 1);
        FUZZ_ASSERT(text != NULL, "malloc");
        memcpy(text, data, size);
        text[size] = '\0';
        if (strstr(text, "@include")) {
                free(text);
                return 0;
        }
        r = rf_conf_load_string(text, "fuzz.cfg", &c, err, sizeof(err));
        free(text);
        if (r < 0) {
                FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM, "load returned %d: %s", r, err);
                FUZZ_ASSERT(c == NULL, "ret_conf written on failure");
                FUZZ_ASSERT(err[0] && !strpbrk(err, "\n\r"), "message not one line: %s", err);
                return 0;
        }
        check_masked(c->database.url);
        printed = print_conf(c);
        r = rf_conf_load_string(printed, "fuzz.cfg", &c2, err, sizeof(err));
        FUZZ_ASSERT(r == 0, "printed configuration does not load again: %s\n--- printed:\n%s", err, printed);
        FUZZ_ASSERT(c2->scraper_count == c->scraper_count && c2->workflow_count == c->workflow_count &&
                            c2->kafka.property_count == c->kafka.property_count,
                    "reloaded configuration has other counts");
        printed2 = print_conf(c2);
        FUZZ_ASSERT(strcmp(printed, printed2) == 0,
                    "print(load(print(c))) differs from print(c)\n--- first:\n%s\n--- second:\n%s", printed, printed2);
        free(printed);
        free(printed2);
        rf_conf_destroy(c);
        rf_conf_destroy(c2);
        return 0;
}
