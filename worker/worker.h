/* SPDX-License-Identifier: Apache-2.0 */
/* runfleet-worker: consumes RUN decisions, executes each by calling its
 * scrapers concurrently (libcurl multi), records the outcome in PostgreSQL
 * and commits a partition's offset only up to the lowest unfinished message.
 *
 * This header holds the worker's types only; each file's functions are
 * declared in its own header. The files depend on one another one way,
 * lowest first (the unit test worker_deps, scripts/check-worker-deps,
 * fails on an include cycle or on anything depending on main.c):
 *
 *   timers, retry, offsets, breaker, ratelimit; worker.h   tools and types
 *   completion   the queue of executions whose calls are all done
 *   response     one try's answer: body counting, classification
 *   spans        trace context and spans of executions and tries
 *   calls        the HTTP side of an execution: tries, retries, breakers
 *   consumer     partitions: offsets, commits, pause, rebalance
 *   dlq          dead letters (their delivery finishes offsets: consumer)
 *   metrics      Prometheus series, readiness
 *   execution    the lifecycle: phases, verdicts, status, release
 *   record, db   the database side: claims, records, leases
 *   intake       messages in: decode, refuse, wait for a slot, claim
 *   sockets      the epoll set of curl's sockets and the wake pipe
 *   loop         the loop's phases, its timers and heartbeat
 *   main.c       setup and teardown (not in the library the tests link)
 */
#pragma once

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "breaker.h"
#include "offsets.h"
#include "ratelimit.h"
#include "retry.h"
#include "timers.h"
#include "rf_conf.h"
#include "rf_decision.h"
#include "rf_lifecycle.h"
#include "rf_pg.h"
#include "rf_pg_async.h"
#include "rf_trace.h"

#define WORKER_ERROR_MAX 256
#define DB_RETRY_MS 1000      /* after an SQL error: the same batch would fail again at once */
#define WORKER_BATCH_MAX 1000 /* executions claimed or recorded per database round trip */

typedef struct execution execution_t;
struct worker;

/* libcurl (7.88) looks for an idle connection by walking every connection
 * to the call's host, and walks its whole cache when a transfer is removed:
 * with 1,000 calls in flight to one host, each call paid for hundreds of
 * connections. Calls are spread over several multi handles, each with its
 * own connection cache, so every walk is a CURL_SHARDS-th as long. */
#define CURL_SHARDS 8

typedef struct curl_shard {
        struct worker *w;
        CURLM *multi;
        int index;
        int64_t timer_at; /* monotonic: when curl wants its timeout action, 0 = none */
} curl_shard_t;

/* One try of one call, as recorded in runfleet.scraper_calls. */
typedef struct try_record {
        const char *scraper; /* owned by the configuration */
        int try_no;
        long http_status; /* 0: no response */
        rf_call_outcome_t outcome;
        int64_t started_wall_ms;
        int duration_ms;
        char error[WORKER_ERROR_MAX];
} try_record_t;

/* The calls to one scraper within an execution: tries until one succeeds, a
 * non-retryable outcome, the scraper's max_tries or the deadline. */
typedef struct call {
        execution_t *ex;
        const rf_scraper_conf_t *scraper;
        size_t scraper_index; /* into conf->scrapers, and the worker's breakers */
        CURL *easy;           /* the try in flight, or NULL */
        curl_shard_t *shard;  /* whose multi handle holds easy */
        struct curl_slist *headers;
        char *body;
        int tries;          /* started (or refused by the breaker) so far */
        int rejections;     /* of which refused by the breaker: not counted in max_tries */
        int64_t started_ms; /* monotonic, of the current try */
        int64_t started_wall_ms;
        wtimer_t try_timer; /* armed while waiting for a retry, a token or the breaker */
        bool probe;         /* the current try is its breaker's half-open probe */
        long http_status;   /* of the last try */
        long retry_after_s;
        rf_call_outcome_t outcome; /* of the last try */
        char error[WORKER_ERROR_MAX];
        int duration_ms;
        size_t body_bytes; /* response bytes seen (only counted, never kept) */
        size_t max_body;   /* stop reading past this */
        bool truncated;
        bool done;
        char span_id[RF_SPAN_ID_HEX]; /* of the current try: its traceparent's parent-id (spans.c) */
        uint64_t started_ns;          /* wall clock, of the current try; 0: none sent yet */
} call_t;

typedef enum execution_phase {
        PHASE_QUEUED,    /* waiting for a slot of its workflow's max_active_runs */
        PHASE_BEGIN,     /* waiting for its claim (the next batch, or the database back) */
        PHASE_RUNNING,   /* calls in flight */
        PHASE_FINISHING, /* calls done, terminal record not yet written */
} execution_phase_t;

struct execution {
        execution_t *prev, *next;
        rf_decision_t *d;
        size_t workflow_index; /* into conf->workflows */
        bool holds_slot;       /* counted in the workflow's active runs */
        char execution_id[37];
        int32_t partition;
        int64_t offset;
        execution_phase_t phase;
        call_t *calls;
        size_t call_count, calls_done;
        try_record_t *records;
        size_t record_count, record_cap;
        int progress_logged;             /* quarters already logged */
        int64_t started_ms;              /* monotonic */
        int64_t deadline_ms;             /* monotonic */
        int64_t lease_ok_until;          /* monotonic: when our last renewal runs out */
        wtimer_t db_timer;               /* armed while its claim or record waits after a database error */
        bool in_batch;                   /* in the database batch in flight (db.c) */
        uint64_t renew_gen;              /* the last lease renewal that named it */
        char trace_hex[RF_TRACE_ID_HEX]; /* its decision's W3C trace id (spans.c) */
        char span_id[RF_SPAN_ID_HEX];    /* its execution span */
        uint64_t started_ns;             /* wall clock, when it started running; 0: not yet */
        bool span_ended;
};

/* The statement in flight on one of the worker's database connections (db.c). */
typedef enum db_kind { DB_NONE, DB_BEGIN, DB_FINISH, DB_RENEW, DB_PROBE } db_kind_t;

typedef struct db_batch {
        db_kind_t kind;
        int64_t sent_ms; /* monotonic */
        size_t n;
        execution_t *exs[WORKER_BATCH_MAX];          /* BEGIN, FINISH; NULL once released meanwhile */
        rf_exec_status_t statuses[WORKER_BATCH_MAX]; /* FINISH */
        const char *errors[WORKER_BATCH_MAX];        /* FINISH */
        uint64_t renew_gen;                          /* RENEW */
} db_batch_t;

/* The worker's database connections (db.c): claims have one of their
 * own, so a claim never waits behind a record's commit; records, lease
 * renewals and the readiness probe share the other. */
typedef enum db_role { DB_RECORDS, DB_CLAIMS, DB_ROLES } db_role_t;

typedef struct db_conn {
        struct worker *w;
        db_role_t role;
        rf_pg_async_t *pg; /* never waited on: see db.c */
        db_batch_t batch;  /* what is in flight on it */
        bool event;        /* its descriptor was readable */
        bool up;           /* connected at the end of the last db_step(), for logging changes */
} db_conn_t;

typedef struct worker {
        const rf_conf_t *conf;
        char id[96];
        rd_kafka_t *consumer;
        rd_kafka_t *producer;            /* DLQ */
        struct dlq_pending *dlq_pending; /* letters the producer would not take yet (dlq.c) */
        db_conn_t db[DB_ROLES];          /* indexed by db_role_t */
        bool renew_due;                  /* the heartbeat wants the leases renewed */
        int64_t db_last_answer;          /* monotonic: the records connection last answered */
        uint64_t renew_gen;
        curl_shard_t shards[CURL_SHARDS];
        unsigned next_shard; /* the shard of the next try, round robin */
        int wake_fds[2];     /* librdkafka writes here when its queue fills */
        int epoll_fd;        /* curl's sockets and wake_fds[0] (sockets.c) */

        offset_track_t **tracks; /* assigned partitions */
        size_t track_count;

        execution_t *head, *tail; /* executions not yet finished, in arrival order */
        size_t in_flight;
        bool paused;
        bool draining;

        breaker_t *breakers; /* per scraper */
        bucket_t *buckets;   /* per rate group */
        size_t *bucket_of;   /* scraper index → bucket index */
        int *active_runs;    /* per workflow */
        CURL **idle_easy;    /* finished tries' handles, for the next tries (calls.c) */
        size_t idle_easy_count, idle_easy_cap;
        bool slot_freed;         /* a max_active_runs slot was released: start waiting ones */
        bool begin_due;          /* executions wait in PHASE_BEGIN to be claimed */
        int64_t full_since;      /* monotonic: in_flight reached max_in_flight, not paused yet; 0 = neither */
        bool poll_again;         /* the last poll stopped early (POLL_BATCH, full): more may be queued */
        timers_t timers;         /* tries and database retries waiting for their time */
        int64_t now;             /* monotonic: the clock, read once per loop turn */
        retry_rng_t rng;         /* retry jitter, seeded per process */
        execution_t **completed; /* all calls done, terminal record not yet attempted */
        size_t completed_count, completed_cap;

        /* Partitions held back while the schema registry cannot resolve
         * the schema id of their next message: paused, their position set
         * back to that message (the elements' offsets), resumed at
         * registry_retry_at (intake.c). */
        rd_kafka_topic_partition_list_t *registry_held;
        int64_t registry_retry_at;

        int64_t next_heartbeat, next_commit;
        uint64_t finished, dead_lettered, retries, rate_limit_waits, breaker_rejections;
} worker_t;

/* Drops @p ex from the batch in flight (it is being released): the
 * answer, when it comes, skips its slot. */
static inline void db_batch_forget(db_batch_t *b, const execution_t *ex) {
        for (size_t i = 0; i < b->n; i++)
                if (b->exs[i] == ex)
                        b->exs[i] = NULL;
}
