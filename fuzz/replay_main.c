/* SPDX-License-Identifier: Apache-2.0 */
/* The fuzz-regress driver: a main() for a fuzz target built without
 * libFuzzer (any compiler). It calls LLVMFuzzerTestOneInput once for every
 * file named on the command line, or in a directory named there (sorted,
 * so a failure is reproducible), and fails when it found no input at all:
 * an empty corpus must not pass as a replayed one. A finding aborts inside
 * the target; the last "input:" line names the file. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* libFuzzer's default -max_len is 4096; corpora may hold larger inputs, but
 * anything past this is a mistake, not a test. */
#define REPLAY_MAX_INPUT (1024 * 1024)

static int replay_file(const char *path) {
        FILE *f = fopen(path, "rb");
        unsigned char *buf = NULL;
        size_t len = 0;
        long size;
        int r = -1;

        if (!f) {
                fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
                return -1;
        }
        if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > REPLAY_MAX_INPUT ||
            fseek(f, 0, SEEK_SET) != 0) {
                fprintf(stderr, "%s: cannot size, or larger than %d bytes\n", path, REPLAY_MAX_INPUT);
                goto out;
        }
        /* a copy of exactly the input's size, so ASan sees reads past its end */
        buf = malloc(size ? (size_t)size : 1);
        if (!buf || (len = fread(buf, 1, (size_t)size, f)) != (size_t)size) {
                fprintf(stderr, "%s: cannot read\n", path);
                goto out;
        }
        fprintf(stderr, "input: %s (%zu bytes)\n", path, len);
        LLVMFuzzerTestOneInput(buf, len);
        r = 0;
out:
        free(buf);
        fclose(f);
        return r;
}

static int by_name(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file in @p dir; returns how many, or -1. */
static int replay_dir(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;
        char **names = NULL;
        size_t n = 0, cap = 0;
        int count = 0;

        if (!d) {
                fprintf(stderr, "%s: cannot open: %s\n", dir, strerror(errno));
                return -1;
        }
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                if (n == cap) {
                        char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*nn));
                        if (!nn)
                                abort();
                        names = nn;
                }
                if (!(names[n++] = strdup(e->d_name)))
                        abort();
        }
        closedir(d);
        qsort(names, n, sizeof(*names), by_name);
        for (size_t i = 0; i < n; i++) {
                char path[4096];
                struct stat st;

                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        if (replay_file(path) < 0)
                                count = -1;
                        else if (count >= 0)
                                count++;
                }
                free(names[i]);
        }
        free(names);
        return count;
}

int main(int argc, char **argv) {
        int total = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
                return 2;
        }
        LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int n;

                if (stat(argv[i], &st) != 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
                if (n < 0)
                        return 1;
                total += n;
        }
        printf("replayed %d inputs\n", total);
        if (total == 0) {
                fprintf(stderr, "no inputs: an empty corpus replays nothing\n");
                return 1;
        }
        return 0;
}
