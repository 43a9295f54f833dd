/* SPDX-License-Identifier: Apache-2.0 */
/* rf_uuid: well-formed version 7 UUIDs that begin with their time, never
 * the same twice, in one process, across a pool refill, or in a parent and
 * its forked child; a tick's id the same every time and only for it. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "rf_test.h"
#include "rf_util.h"
#include "rf_uuid.h"

#define COUNT 20000 /* several 4 KB pools of 16-byte UUIDs */

static int compare(const void *a, const void *b) {
        return strcmp(a, b);
}

static void well_formed_and_unique(void) {
        static char ids[COUNT][37];
        int bad = 0, dup = 0;
        int64_t before = rf_now_ms(), after;

        for (int i = 0; i < COUNT; i++) {
                uuid_t u;

                rf_uuid_new(ids[i]);
                if (strlen(ids[i]) != 36 || uuid_parse(ids[i], u) != 0 || ids[i][14] != '7' ||
                    !strchr("89ab", ids[i][19]) || uuid_variant(u) != UUID_VARIANT_DCE)
                        bad++;
        }
        after = rf_now_ms();
        /* each begins with the time it was made: the partition of its day */
        CHECK(rf_uuid_ms(ids[0]) >= before && rf_uuid_ms(ids[COUNT - 1]) <= after);
        CHECK(rf_uuid_ms(ids[0]) <= rf_uuid_ms(ids[COUNT - 1]));
        qsort(ids, COUNT, sizeof(ids[0]), compare);
        for (int i = 1; i < COUNT; i++)
                dup += strcmp(ids[i - 1], ids[i]) == 0;
        CHECK(bad == 0);
        CHECK(dup == 0);
}

/* The child inherits the parent's pool: it must not hand out the parent's
 * next bytes. */
static void fork_does_not_repeat(void) {
        char before[37], parent[37], child[37] = "";
        int fds[2], status = 0;
        pid_t pid;

        rf_uuid_new(before); /* the pool is filled, with bytes left */
        CHECK(pipe(fds) == 0);
        pid = fork();
        if (pid == 0) {
                rf_uuid_new(child);
                _exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
        }
        rf_uuid_new(parent);
        CHECK(read(fds[0], child, sizeof(child)) == (ssize_t)sizeof(child));
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(strcmp(parent, child) != 0);
        CHECK(strcmp(before, child) != 0);
        close(fds[0]);
        close(fds[1]);
}

/* rf_uuid_valid: the check rf_decision_decode() applies to decision_id and replay_of. */
static void validity(void) {
        char id[37];

        rf_uuid_new(id);
        CHECK(rf_uuid_valid(id));
        CHECK(rf_uuid_valid("0E8F2C3A-1B2C-4D5E-8F90-A1B2C3D4E5F6"));
        CHECK(!rf_uuid_valid(""));
        CHECK(!rf_uuid_valid("0e8f2c3a-1b2c-4d5e-8f90-a1b2c3d4e5f"));   /* 35 */
        CHECK(!rf_uuid_valid("0e8f2c3a-1b2c-4d5e-8f90-a1b2c3d4e5f60")); /* 37 */
        CHECK(!rf_uuid_valid("0e8f2c3a1-b2c-4d5e-8f90-a1b2c3d4e5f6"));  /* dash misplaced */
        CHECK(!rf_uuid_valid("0e8f2c3a-1b2c-4d5e-8f90-a1b2c3d4e5g6"));  /* not hex */
        CHECK(!rf_uuid_valid("{e8f2c3a-1b2c-4d5e-8f90-a1b2c3d4e5f6}"));
}

/* rf_uuid_at: the given time, in the first 48 bits, in the text's order. */
static void at_a_time(void) {
        char a[37], b[37], midnight[37];

        rf_uuid_at(1796342400000LL, midnight); /* 2026-12-04T00:00:00Z */
        CHECK(strncmp(midnight, "01a23e59-c400-7", 15) == 0);
        CHECK(rf_uuid_ms(midnight) == 1796342400000LL);
        rf_uuid_at(1796342400001LL, a);
        rf_uuid_at(1796342399999LL, b);
        /* ids sort by time as text and as PostgreSQL's uuid (bytewise): days are ranges */
        CHECK(strcmp(b, midnight) < 0 && strcmp(midnight, a) < 0);
        CHECK(rf_uuid_ms("not an id") == -1);
}

/* rf_uuid_tick: the same workflow and tick always give the same id; another
 * tick or workflow another one; the tick's time leads. */
static void tick_ids(void) {
        char a[37], again[37], next[37], other[37];
        uuid_t u;

        rf_uuid_tick("nightly", 1796342400000LL, a);
        rf_uuid_tick("nightly", 1796342400000LL, again);
        rf_uuid_tick("nightly", 1796342460000LL, next);
        rf_uuid_tick("hourly", 1796342400000LL, other);
        CHECK(strcmp(a, again) == 0);
        CHECK(strcmp(a, next) != 0 && strcmp(a, other) != 0);
        CHECK(rf_uuid_ms(a) == 1796342400000LL && rf_uuid_ms(next) == 1796342460000LL);
        CHECK(a[14] == '8' && strchr("89ab", a[19]));
        CHECK(uuid_parse(a, u) == 0 && uuid_variant(u) == UUID_VARIANT_DCE);
        /* the short ids people see differ between two ticks of one workflow */
        CHECK(strcmp(rf_uuid_short(a), rf_uuid_short(next)) != 0);
        CHECK(strlen(rf_uuid_short(a)) == RF_UUID_SHORT_LEN && strcmp(rf_uuid_short(a), a + 28) == 0);
}

/* rf_uuid_floor: below every id of its millisecond and above every id before it. */
static void floor_of_a_time(void) {
        char floor[37], at[37], before[37];

        rf_uuid_floor(1796342400000LL, floor);
        CHECK(strcmp(floor, "01a23e59-c400-0000-0000-000000000000") == 0);
        CHECK(rf_uuid_ms(floor) == 1796342400000LL);
        for (int i = 0; i < 100; i++) {
                rf_uuid_at(1796342400000LL, at);
                rf_uuid_at(1796342399999LL, before);
                CHECK(strcmp(floor, at) <= 0 && strcmp(before, floor) < 0);
        }
        rf_uuid_tick("nightly", 1796342400000LL, at);
        CHECK(strcmp(floor, at) <= 0);
}

int main(void) {
        validity();
        at_a_time();
        tick_ids();
        floor_of_a_time();
        well_formed_and_unique();
        fork_does_not_repeat();
        return rf_test_finish();
}
