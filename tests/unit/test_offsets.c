/* SPDX-License-Identifier: Apache-2.0 */
/* The per-partition offset tracker: the committable offset is the lowest
 * unfinished one, whatever order messages finish in. */
#include <errno.h>
#include <stdlib.h>

#include "offsets.h"
#include "rf_test.h"

static void in_order_and_out_of_order(void) {
        offset_track_t *t = offset_track_new(7);

        CHECK(offset_track_partition(t) == 7);
        CHECK(offset_track_committable(t) == -1);
        CHECK(!offset_track_dirty(t));
        for (int64_t o = 100; o < 105; o++)
                CHECK(offset_track_begin(t, o) == 0);
        CHECK(offset_track_committable(t) == 100);
        CHECK(offset_track_pending(t) == 5);

        /* a slow message at 100: nothing may be committed past it */
        CHECK(offset_track_finish(t, 101) == 0);
        CHECK(offset_track_finish(t, 103) == 0);
        CHECK(offset_track_committable(t) == 100);
        CHECK(offset_track_pending(t) == 3);
        CHECK(offset_track_finish(t, 100) == 0);
        CHECK(offset_track_committable(t) == 102);
        CHECK(offset_track_finish(t, 102) == 0);
        CHECK(offset_track_committable(t) == 104);
        CHECK(offset_track_finish(t, 104) == 0);
        CHECK(offset_track_committable(t) == 105);
        CHECK(offset_track_pending(t) == 0);

        CHECK(offset_track_finish(t, 104) == -ENOENT);
        CHECK(offset_track_finish(t, 999) == -ENOENT);

        CHECK(offset_track_dirty(t));
        offset_track_set_committed(t, 105);
        CHECK(!offset_track_dirty(t));
        /* a failed commit makes it dirty again; a failure of an older one does not */
        offset_track_commit_failed(t, 104);
        CHECK(!offset_track_dirty(t));
        offset_track_commit_failed(t, 105);
        CHECK(offset_track_dirty(t));
        CHECK(offset_track_committable(t) == 105);
        offset_track_destroy(t);
        offset_track_destroy(NULL);
}

/* Gaps (compacted or transactional offsets) and growth past the initial ring. */
static void gaps_and_growth(void) {
        offset_track_t *t = offset_track_new(0);
        int n = 5000;

        for (int i = 0; i < n; i++)
                CHECK(offset_track_begin(t, (int64_t)i * 3) == 0);
        /* finish all but the first, from the end */
        for (int i = n - 1; i > 0; i--)
                offset_track_finish(t, (int64_t)i * 3);
        CHECK(offset_track_committable(t) == 0);
        CHECK(offset_track_pending(t) == 1);
        CHECK(offset_track_finish(t, 0) == 0);
        CHECK(offset_track_committable(t) == (int64_t)(n - 1) * 3 + 1);
        /* the ring wraps: keep going after it was emptied */
        for (int i = 0; i < 100; i++) {
                CHECK(offset_track_begin(t, 20000 + i) == 0);
                if (i >= 1)
                        CHECK(offset_track_finish(t, 20000 + i - 1) == 0);
        }
        CHECK(offset_track_committable(t) == 20099);
        offset_track_destroy(t);
}

/* A random completion order against a simple model. */
static void random_order(void) {
        enum { N = 2000 };
        static int done[N];
        offset_track_t *t = offset_track_new(1);
        int order[N], mismatches = 0;

        srand(42);
        for (int i = 0; i < N; i++) {
                offset_track_begin(t, i);
                order[i] = i;
        }
        for (int i = N - 1; i > 0; i--) {
                int j = rand() % (i + 1), tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
        }
        for (int k = 0; k < N; k++) {
                int lowest = 0;
                offset_track_finish(t, order[k]);
                done[order[k]] = 1;
                while (lowest < N && done[lowest])
                        lowest++;
                mismatches += offset_track_committable(t) != lowest;
        }
        CHECK(mismatches == 0);
        offset_track_destroy(t);
}

int main(void) {
        in_order_and_out_of_order();
        gaps_and_growth();
        random_order();
        return rf_test_finish();
}
