/* SPDX-License-Identifier: Apache-2.0 */
/* The libFuzzer entry points every target in fuzz/ defines. A target is
 * linked either with libFuzzer (-Dfuzzing=true, clang) or with
 * replay_main.c, which feeds it every file of a corpus directory. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Called once before any input; may set up process-wide state. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* One input. Returns 0; a broken expectation aborts (a finding). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message when @p cond is false: libFuzzer and the replay
 * driver both report an abort as a crash, with the input saved. */
#define FUZZ_ASSERT(cond, ...)                                                                                         \
        do {                                                                                                           \
                if (!(cond)) {                                                                                         \
                        fprintf(stderr, "%s:%d: expectation failed: %s: ", __FILE__, __LINE__, #cond);                 \
                        fprintf(stderr, __VA_ARGS__);                                                                  \
                        fputc('\n', stderr);                                                                           \
                        abort();                                                                                       \
                }                                                                                                      \
        } while (0)
