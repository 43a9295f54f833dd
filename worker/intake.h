/* SPDX-License-Identifier: Apache-2.0 */
/* intake: messages in. Each is decoded, refused to the DLQ when it cannot
 * run here, or becomes an execution that waits for a max_active_runs slot
 * of its workflow and then for its claim. */
#pragma once

#include <librdkafka/rdkafka.h>

#include "worker.h"

/* Takes what librdkafka has fetched, up to the worker's bound; pauses a
 * worker full for CONSUMER_PAUSE_AFTER_MS and resumes it below 90 %. */
void intake_poll(worker_t *w);

/* One message (not destroyed here). */
void intake_message(worker_t *w, rd_kafka_message_t *m);

/* After a slot was freed: queued executions that now have one go to BEGIN. */
void intake_start_queued(worker_t *w);
