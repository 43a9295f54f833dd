/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a scraper's HTTP response, as the worker handles it.
 *
 * The input is what a (hostile or broken) scraper sends back on the
 * connection: status line, headers (Retry-After among them), body, chunked
 * or not, cut anywhere. The worker's own path handles it: libcurl parses it
 * (no network, no thread: curl connects to a Unix socket of this process,
 * which puts the whole response on the connection as soon as curl has
 * connected), the worker's body callback counts the body and stops past
 * max_response_bytes, and its classification decides outcome, status,
 * Retry-After and the error text (response_perform_for_test()); then the retry
 * policy turns that into retryable-or-not and a delay.
 *
 * Two header bytes come first: byte 0 picks max_response_bytes and the
 * jitter, byte 1 the try number and backoff for the retry delay.
 * FUZZ_DEBUG=1 in the environment shows curl's exchange and the result.
 *
 * Expected: a known outcome; "OK" only for 2xx; never more body than the
 * bound; the error text is one line of valid UTF-8 without control
 * characters (it goes into PostgreSQL text columns, JSON logs and metrics,
 * which refuse anything else) and jansson accepts it; Retry-After is bounded
 * so the delay arithmetic cannot overflow, and the delay is at least 1 ms. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "retry.h"
#include "response.h"
#include "worker.h"

/* No workflow deadline is longer than a day (workflows[].deadline_ms). */
#define RETRY_AFTER_MAX_S 86400

/* The scraper's end: a Unix socket curl connects to (CURLOPT_UNIX_SOCKET_PATH:
 * no resolver, no TCP ports left in TIME_WAIT at thousands of inputs a second). */
static int listener = -1;
static char listen_path[108];

struct exchange {
        const uint8_t *data;
        size_t size;
        int server; /* accepted connection, -1 until curl has connected */
};

/* Called once curl has connected, before it sends the request: the whole
 * response is put on the connection, then end of stream. */
static int on_connected(void *clientp, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                        int conn_local_port) {
        struct exchange *x = clientp;
        size_t off = 0;

        (void)conn_primary_ip;
        (void)conn_local_ip;
        (void)conn_primary_port;
        (void)conn_local_port;
        x->server = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        FUZZ_ASSERT(x->server >= 0, "accept: %s", strerror(errno));
        while (off < x->size) {
                ssize_t n = write(x->server, x->data + off, x->size - off);
                FUZZ_ASSERT(n > 0, "write: %s", strerror(errno)); /* 64 KiB fit the socket buffer */
                off += (size_t)n;
        }
        shutdown(x->server, SHUT_WR);
        return CURL_PREREQFUNC_OK;
}

static void remove_listener(void) {
        if (listen_path[0])
                unlink(listen_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)argc;
        (void)argv;
        struct sockaddr_un addr = { .sun_family = AF_UNIX };

        curl_global_init(CURL_GLOBAL_DEFAULT);
        snprintf(listen_path, sizeof(listen_path), "/tmp/runfleet-fuzz-response-%d.sock", (int)getpid());
        unlink(listen_path);
        snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", listen_path);
        listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        FUZZ_ASSERT(listener >= 0 && bind(listener, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
                            listen(listener, 16) == 0,
                    "listening on %s: %s", listen_path, strerror(errno));
        atexit(remove_listener);
        return 0;
}

/* Well-formed UTF-8 (no overlongs, surrogates, values past U+10FFFF) with no
 * byte below 0x20 and no DEL. */
static int clean_text(const unsigned char *s) {
        while (*s) {
                unsigned char c = *s;
                unsigned cp;
                int k;

                if (c < 0x20 || c == 0x7f)
                        return 0;
                if (c < 0x80) {
                        s++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        k = 1, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        k = 2, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        k = 3, cp = c & 0x07;
                else
                        return 0;
                for (int j = 1; j <= k; j++) {
                        if ((s[j] & 0xc0) != 0x80)
                                return 0;
                        cp = (cp << 6) | (s[j] & 0x3f);
                }
                if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return 0;
                s += k + 1;
        }
        return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const size_t max_bodies[] = { 1024, 1025, 1500, 2048, 4096, 8192, 65536, 67108864 };
        static const rf_call_outcome_t outcomes[] = { RF_CALL_OK, RF_CALL_HTTP_ERROR, RF_CALL_TIMEOUT,
                                                      RF_CALL_CONNECT_ERROR, RF_CALL_ERROR };
        call_t c = { .outcome = RF_CALL_OUTCOME_COUNT }; /* none: classification must set one */
        CURL *easy;
        struct exchange x = { .server = -1 };
        int known = 0, try_no, base_ms;
        json_t *j;
        int64_t delay;
        double rnd;

        if (size < 2 || size > 65536)
                return 0;
        c.max_body = max_bodies[data[0] % (sizeof(max_bodies) / sizeof(max_bodies[0]))];
        try_no = 2 + data[1] % 20;
        base_ms = (data[1] & 0x80) ? 1 : 500;
        rnd = (data[0] >> 4) / 16.0;
        x.data = data + 2;
        x.size = size - 2;

        easy = curl_easy_init();
        FUZZ_ASSERT(easy != NULL, "curl_easy_init");
        curl_easy_setopt(easy, CURLOPT_URL, "http://scraper.invalid/fuzz?x=1");
        curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, listen_path);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(easy, CURLOPT_PROXY, "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "{\"decision_id\":\"fuzz\"}");
        curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_connected);
        curl_easy_setopt(easy, CURLOPT_PREREQDATA, &x);
        curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_VERBOSE, getenv("FUZZ_DEBUG") ? 1L : 0L);

        response_perform_for_test(&c, easy);
        curl_easy_cleanup(easy);
        if (x.server >= 0)
                close(x.server);

        for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
                known |= c.outcome == outcomes[i];
        FUZZ_ASSERT(known, "unknown outcome %d", (int)c.outcome);
        FUZZ_ASSERT(c.outcome != RF_CALL_OK || (c.http_status >= 200 && c.http_status < 300), "OK with HTTP %ld",
                    c.http_status);
        FUZZ_ASSERT(c.body_bytes <= c.max_body, "%zu body bytes kept past the bound %zu", c.body_bytes, c.max_body);
        FUZZ_ASSERT(strnlen(c.error, sizeof(c.error)) < sizeof(c.error), "error not terminated");
        FUZZ_ASSERT(clean_text((const unsigned char *)c.error), "error text is not one line of valid UTF-8: \"%s\"",
                    c.error);
        j = json_string(c.error);
        FUZZ_ASSERT(j != NULL, "jansson refuses the error text");
        json_decref(j);
        FUZZ_ASSERT(c.retry_after_s >= 0 && c.retry_after_s <= RETRY_AFTER_MAX_S, "Retry-After %ld s", c.retry_after_s);

        if (getenv("FUZZ_DEBUG"))
                fprintf(stderr, "outcome %s status %ld retry_after %ld body %zu error \"%s\"\n",
                        rf_call_outcome_name(c.outcome), c.http_status, c.retry_after_s, c.body_bytes, c.error);
        (void)retry_is_retryable(c.outcome, c.http_status);
        delay = retry_delay_ms(base_ms, try_no, c.retry_after_s, rnd);
        FUZZ_ASSERT(delay >= 1 && delay <= 60001 + (int64_t)RETRY_AFTER_MAX_S * 1000, "delay %lld ms",
                    (long long)delay);
        return 0;
}
