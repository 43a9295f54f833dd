/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal test harness: CHECK records a failure and goes on, so one run
 * reports every broken expectation; main returns rf_test_finish(). */
#pragma once

#include <stdio.h>
#include <string.h>

static int rf_test_failures;
static int rf_test_checks;

#define CHECK(cond)                                                                                                    \
        do {                                                                                                           \
                rf_test_checks++;                                                                                      \
                if (!(cond)) {                                                                                         \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                       \
                        rf_test_failures++;                                                                            \
                }                                                                                                      \
        } while (0)

#define CHECK_STR_EQ(a, b)                                                                                             \
        do {                                                                                                           \
                const char *a_ = (a), *b_ = (b);                                                                       \
                rf_test_checks++;                                                                                      \
                if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                               \
                        fprintf(stderr, "%s:%d: CHECK failed: \"%s\" == \"%s\"\n", __FILE__, __LINE__,                 \
                                a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                               \
                        rf_test_failures++;                                                                            \
                }                                                                                                      \
        } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                                    \
        do {                                                                                                           \
                const char *h_ = (hay), *n_ = (needle);                                                                \
                rf_test_checks++;                                                                                      \
                if (!h_ || !strstr(h_, n_)) {                                                                          \
                        fprintf(stderr, "%s:%d: CHECK failed: \"%s\" contains \"%s\"\n", __FILE__, __LINE__,           \
                                h_ ? h_ : "(null)", n_);                                                               \
                        rf_test_failures++;                                                                            \
                }                                                                                                      \
        } while (0)

static inline int rf_test_finish(void) {
        printf("%d checks, %d failed\n", rf_test_checks, rf_test_failures);
        return rf_test_failures ? 1 : 0;
}
