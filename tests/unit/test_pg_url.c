/* SPDX-License-Identifier: Apache-2.0 */
/* rf_pg with multi-host URLs, no server needed: libpq tries every host of
 * "postgresql://h1:p1,h2:p2/db?target_session_attrs=read-write" and the
 * error names each; the password never shows, in a connection error or in
 * a parse error of a malformed multi-host URL; the error is one line. */
#include <errno.h>
#include <string.h>

#include "rf_pg.h"
#include "rf_test.h"

#define SECRET "s3cret-pw"

/* Nothing listens on ports 1 and 2 of the loopback (privileged, unused):
 * each try is refused at once. */
static void every_host_tried(void) {
        rf_pg_t *pg = NULL;
        char errstr[1024];
        int r = rf_pg_connect("postgresql://rf:" SECRET "@127.0.0.1:1,127.0.0.1:2/runfleet"
                              "?target_session_attrs=read-write&connect_timeout=2",
                              "test", &pg, errstr, sizeof(errstr));

        CHECK(r == -ENOTCONN);
        CHECK(pg == NULL);
        CHECK_CONTAINS(errstr, "port 1");
        CHECK_CONTAINS(errstr, "port 2");
        CHECK(strstr(errstr, SECRET) == NULL);
        CHECK(strchr(errstr, '\n') == NULL && strchr(errstr, '\t') == NULL);
}

static void conninfo_form_too(void) {
        rf_pg_t *pg = NULL;
        char errstr[1024];
        int r = rf_pg_connect("host=127.0.0.1,127.0.0.1 port=1,2 dbname=runfleet password=" SECRET
                              " target_session_attrs=read-write connect_timeout=2",
                              "test", &pg, errstr, sizeof(errstr));

        CHECK(r == -ENOTCONN);
        CHECK_CONTAINS(errstr, "port 2");
        CHECK(strstr(errstr, SECRET) == NULL);
}

/* libpq quotes the piece it chokes on, which here holds the password. */
static void parse_error_masked(void) {
        rf_pg_t *pg = NULL;
        char errstr[1024];
        int r = rf_pg_connect("postgresql://rf:" SECRET "%zz@127.0.0.1:1,127.0.0.1:2/runfleet", "test", &pg, errstr,
                              sizeof(errstr));

        CHECK(r == -EINVAL);
        CHECK_CONTAINS(errstr, "database.url cannot be parsed");
        CHECK(strstr(errstr, SECRET) == NULL);
}

/* Hosts and ports must pair up: libpq's own check, reported as such. */
static void mismatched_ports(void) {
        rf_pg_t *pg = NULL;
        char errstr[1024];
        int r = rf_pg_connect("host=127.0.0.1,127.0.0.1,127.0.0.1 port=1,2 dbname=runfleet", "test", &pg, errstr,
                              sizeof(errstr));

        CHECK(r == -ENOTCONN);
        CHECK_CONTAINS(errstr, "port");
}

int main(void) {
        every_host_tried();
        conninfo_form_too();
        parse_error_masked();
        mismatched_ports();
        return rf_test_finish();
}
