/* SPDX-License-Identifier: Apache-2.0 */
/* response: one try's answer. The body is counted, not kept (its first
 * bytes are kept for the error text), and the try is classified into an
 * outcome, an HTTP status, a Retry-After and a one-line error. The
 * response fuzzer (fuzz/fuzz_response.c) drives this file alone. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rf_util.h"
#include "response.h"

/* Counts the body without keeping it: a scraper's answer can be large and
 * only its status matters. The first bytes are kept for an error record;
 * past max_body the transfer stops (the status line has arrived by then). */
size_t response_on_body(char *data, size_t size, size_t nmemb, void *userp) {
        call_t *c = userp;
        size_t n = size * nmemb;

        /* the excerpt first: an error page larger than max_body still says why */
        if (c->body_bytes == 0 && !c->truncated && n > 0) {
                size_t keep = n < sizeof(c->error) - 1 ? n : sizeof(c->error) - 1;
                memcpy(c->error, data, keep);
                c->error[keep] = '\0';
        }
        if (c->body_bytes + n > c->max_body) {
                c->truncated = true;
                return 0;
        }
        c->body_bytes += n;
        return n;
}

/* A Retry-After past every workflow deadline (a day at most) can only end
 * the call; the bound keeps retry_delay_ms()'s arithmetic from overflowing
 * on a hostile "Retry-After: 9223372036854775807" (or a date in year 9999). */
#define RETRY_AFTER_MAX_S 86400

/* Makes @p s one line of valid UTF-8, in place: line breaks and tabs become
 * spaces; other control characters, and bytes that do not start a
 * well-formed character (overlong, surrogate, past U+10FFFF, or cut short
 * by the end of the string), become '?'. The error text is written to
 * PostgreSQL text columns and JSON log lines, which refuse invalid UTF-8:
 * a scraper's binary error page, or a cut through a multi-byte character,
 * would otherwise make the execution unrecordable, retried for ever. */
static void text_clean(char *s) {
        unsigned char *p = (unsigned char *)s;

        while (*p) {
                unsigned char b = *p;
                size_t n;

                if (b < 0x20 || b == 0x7f)
                        *p++ = b == '\n' || b == '\r' || b == '\t' ? ' ' : '?';
                else if (b < 0x80)
                        p++;
                else if ((n = rf_utf8_char_length((const char *)p, SIZE_MAX)) > 0)
                        p += n;
                else
                        *p++ = '?';
        }
}

void response_classify(call_t *c, CURLcode rc) {
        char body[WORKER_ERROR_MAX];
        curl_off_t retry_after = 0;

        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->http_status);
        if (curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
                c->retry_after_s = retry_after > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (long)retry_after;
        if (rc == CURLE_WRITE_ERROR && c->truncated)
                rc = CURLE_OK;
        if (rc == CURLE_OK && c->http_status >= 200 && c->http_status < 300) {
                c->outcome = RF_CALL_OK;
                c->error[0] = '\0';
                return;
        }
        if (rc == CURLE_OK) {
                /* keep the start of the error body: it usually says what went wrong */
                snprintf(body, sizeof(body), "%s", c->error);
                c->outcome = RF_CALL_HTTP_ERROR;
                snprintf(c->error, sizeof(c->error), "HTTP %ld: %.200s", c->http_status, body);
                text_clean(c->error); /* after the cut, which may split a character */
                return;
        }
        c->outcome = rc == CURLE_OPERATION_TIMEDOUT                                    ? RF_CALL_TIMEOUT
                     : rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ? RF_CALL_CONNECT_ERROR
                                                                                       : RF_CALL_ERROR;
        snprintf(c->error, sizeof(c->error), "%s", curl_easy_strerror(rc));
}

/* FOR TESTS AND FUZZING: one try of @p c on @p easy, which the caller has
 * prepared (URL, and its own socket if it likes), performed to the end with
 * the worker's own body callback and classified as try_finished() does:
 * outcome, http_status, retry_after_s and error are left in @p c. @p easy
 * stays the caller's. Returns the transfer's CURLcode. */
CURLcode response_perform_for_test(call_t *c, CURL *easy) {
        CURLcode rc;

        c->easy = easy;
        c->body_bytes = 0;
        c->truncated = false;
        c->error[0] = '\0';
        c->http_status = 0;
        c->retry_after_s = 0;
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, response_on_body);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, c);
        rc = curl_easy_perform(easy);
        response_classify(c, rc);
        c->easy = NULL;
        return rc;
}
