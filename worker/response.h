/* SPDX-License-Identifier: Apache-2.0 */
/* response: counting and classifying one try's answer (see response.c). */
#pragma once

#include <curl/curl.h>

#include "worker.h"

/* libcurl's write callback for a try (userp: its call_t). */
size_t response_on_body(char *data, size_t size, size_t nmemb, void *userp);

/* Sets c->outcome, http_status, retry_after_s and error from the finished
 * transfer on c->easy and its result @p rc. */
void response_classify(call_t *c, CURLcode rc);

/* FOR TESTS AND FUZZING: one try on a caller-prepared @p easy, through the
 * worker's body callback and classification. @p easy stays the caller's. */
CURLcode response_perform_for_test(call_t *c, CURL *easy);
