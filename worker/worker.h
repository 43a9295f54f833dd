/* runfleet-worker: consumes RUN decisions, executes each by calling its
 * scrapers concurrently (libcurl multi), records the outcome in PostgreSQL
 * and commits a partition's offset only up to the lowest unfinished message. */
#pragma once

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "breaker.h"
#include "offsets.h"
#include "ratelimit.h"
#include "rf_conf.h"
#include "rf_decision.h"
#include "rf_pg.h"
#include "rf_pg_async.h"

#define WORKER_ERROR_MAX 256
#define DB_RETRY_MS 1000 /* after an SQL error: the same batch would fail again at once */
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
        int64_t timer_at;        /* monotonic: when curl wants its timeout action, 0 = none */
} curl_shard_t;

/* One try of one call, as recorded in runfleet.scraper_calls. */
typedef struct try_record {
        const char *scraper;    /* owned by the configuration */
        int try_no;
        long http_status;       /* 0: no response */
        const char *outcome;    /* static string */
        int64_t started_wall_ms;
        int duration_ms;
        char error[WORKER_ERROR_MAX];
} try_record_t;

/* The calls to one scraper within an execution: tries until one succeeds, a
 * non-retryable outcome, the scraper's max_tries or the deadline. */
typedef struct call {
        execution_t *ex;
        const rf_scraper_conf_t *scraper;
        size_t scraper_index;   /* into conf->scrapers, and the worker's breakers */
        CURL *easy;             /* the try in flight, or NULL */
        curl_shard_t *shard;    /* whose multi handle holds easy */
        struct curl_slist *headers;
        char *body;
        int tries;              /* started (or refused by the breaker) so far */
        int rejections;         /* of which refused by the breaker: not counted in max_tries */
        int64_t started_ms;     /* monotonic, of the current try */
        int64_t started_wall_ms;
        int64_t next_try_at;    /* monotonic; non-zero while waiting for a retry or a token */
        bool probe;             /* the current try is its breaker's half-open probe */
        long http_status;       /* of the last try */
        long retry_after_s;
        const char *outcome;    /* of the last try: "OK", "HTTP_ERROR", "TIMEOUT", "CONNECT_ERROR",
                                 * "ERROR", "CIRCUIT_OPEN", "ABORTED" */
        char error[WORKER_ERROR_MAX];
        int duration_ms;
        size_t body_bytes;      /* response bytes seen (only counted, never kept) */
        size_t max_body;        /* stop reading past this */
        bool truncated;
        bool done;
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
        size_t workflow_index;   /* into conf->workflows */
        bool holds_slot;         /* counted in the workflow's active runs */
        char execution_id[37];
        int32_t partition;
        int64_t offset;
        execution_phase_t phase;
        call_t *calls;
        size_t call_count, calls_done;
        try_record_t *records;
        size_t record_count, record_cap;
        int progress_logged;     /* quarters already logged */
        int64_t started_ms;      /* monotonic */
        int64_t deadline_ms;     /* monotonic */
        int64_t lease_ok_until;  /* monotonic: when our last renewal runs out */
        int64_t retry_at;        /* monotonic: next database retry in BEGIN/FINISHING */
        bool in_batch;           /* in the database batch in flight (db.c) */
        uint64_t renew_gen;      /* the last lease renewal that named it */
};

/* The statement in flight on the worker's database connection (db.c). */
typedef enum db_kind { DB_NONE, DB_BEGIN, DB_FINISH, DB_RENEW, DB_PROBE } db_kind_t;

typedef struct db_batch {
        db_kind_t kind;
        int64_t sent_ms;         /* monotonic */
        size_t n;
        execution_t *exs[WORKER_BATCH_MAX];   /* BEGIN, FINISH; NULL once released meanwhile */
        const char *statuses[WORKER_BATCH_MAX], *errors[WORKER_BATCH_MAX]; /* FINISH */
        uint64_t renew_gen;      /* RENEW */
} db_batch_t;

typedef struct worker {
        const rf_conf_t *conf;
        char id[96];
        rd_kafka_t *consumer;
        rd_kafka_t *producer;    /* DLQ */
        struct dlq_pending *dlq_pending; /* letters the producer would not take yet (dlq.c) */
        rf_pg_async_t *db;       /* never waited on: see db.c */
        db_batch_t batch;        /* what is in flight on it */
        bool db_event;           /* its descriptor was readable */
        bool db_up;              /* connected at the end of the last db_step(), for logging changes */
        bool renew_due;          /* the heartbeat wants the leases renewed */
        bool begin_next;         /* claims' turn next when records wait too */
        int64_t db_last_answer;  /* monotonic: the database last answered */
        uint64_t renew_gen;
        curl_shard_t shards[CURL_SHARDS];
        unsigned next_shard;     /* the shard of the next try, round robin */
        int wake_fds[2];         /* librdkafka writes here when its queue fills */
        int epoll_fd;            /* curl's sockets and wake_fds[0] (sockets.c) */

        offset_track_t **tracks; /* assigned partitions */
        size_t track_count;

        execution_t *head, *tail; /* executions not yet finished, in arrival order */
        size_t in_flight;
        bool paused;
        bool draining;

        breaker_t *breakers;     /* per scraper */
        bucket_t *buckets;       /* per rate group */
        size_t *bucket_of;       /* scraper index → bucket index */
        int *active_runs;        /* per workflow */
        CURL **idle_easy;        /* finished tries' handles, for the next tries (calls.c) */
        size_t idle_easy_count, idle_easy_cap;
        bool slot_freed;         /* a max_active_runs slot was released: start waiting ones */
        bool begin_due;          /* executions wait in PHASE_BEGIN to be claimed */
        int64_t full_since;      /* monotonic: in_flight reached max_in_flight, 0 = not full */
        bool poll_again;         /* the last poll stopped early (POLL_BATCH, full): more may be queued */
        int64_t next_due_try;    /* monotonic: earliest waiting try, 0 = none */
        execution_t **completed; /* all calls done, terminal record not yet attempted */
        size_t completed_count, completed_cap;

        int64_t next_heartbeat, next_commit;
        uint64_t finished, dead_lettered, retries, rate_limit_waits, breaker_rejections;
} worker_t;

/* worker/calls.c */
int calls_init(worker_t *w);
void calls_cleanup(worker_t *w);
int calls_start(worker_t *w, execution_t *ex, char *errstr, size_t errstr_size);
void calls_collect(worker_t *w);
void calls_run_due(worker_t *w);
void calls_abort(worker_t *w, execution_t *ex, const char *why);
/* For tests and fuzzing: one try on a caller-prepared @p easy, through the
 * worker's body callback and classification (see calls.c). */
CURLcode calls_perform_for_test(call_t *c, CURL *easy);

/* worker/sockets.c */
int sockets_init(worker_t *w, char *errstr, size_t errstr_size);
void sockets_cleanup(worker_t *w);
/* Waits up to @p timeout_ms (less when curl's timer is due sooner) and hands
 * libcurl the sockets that are ready and its due timeout. */
void sockets_wait(worker_t *w, int timeout_ms);

/* worker/record.c: each batch's statement and its answer. The sends return
 * rf_pg_async_send()'s result (or -ENOMEM); @p done gets the answer. */
/* Claims b->exs[0..n) in one round trip. */
int record_begin_send(worker_t *w, const db_batch_t *b, rf_pg_async_done_fn *done);
/* ret_verdicts[i] gets "STARTED", "UNKNOWN", "DONE", "STALE" or "TAKEN"
 * (static strings); a STARTED execution's lease runs from the send. */
void record_begin_read(worker_t *w, const db_batch_t *b, const PGresult *res, const char **ret_verdicts);
/* Records b->exs[0..n) finished (try records, status) in one round trip. */
int record_finish_send(worker_t *w, const db_batch_t *b, rf_pg_async_done_fn *done);
/* ret_recorded[i] is false when the execution was fenced. */
void record_finish_read(const db_batch_t *b, const PGresult *res, bool *ret_recorded);
/* Renews the leases of every running or finishing execution; -ENODATA when there is none. */
int record_renew_send(worker_t *w, db_batch_t *b, rf_pg_async_done_fn *done);
void record_renew_read(worker_t *w, const db_batch_t *b, const PGresult *res);

/* worker/db.c */
/* Drives the connection (when w->db_event or its timer says so) and sends
 * the next statement when it is idle. Once per loop turn. */
void db_step(worker_t *w);
/* Monotonic ms when db_step() has something to do without an event (now:
 * work waits on an idle connection), 0 for none. */
int64_t db_due_ms(const worker_t *w);
/* Drops @p ex from the batch in flight (it is being released). */
void db_forget(worker_t *w, const execution_t *ex);

/* worker/dlq.c: the source offset is finished when the DLQ acknowledges.
 * A letter the producer does not take now is kept and sent again by
 * dlq_send_pending(); both return 0 then, a negative errno only when it
 * could not even be kept. */
int dlq_send(worker_t *w, const rd_kafka_message_t *m, const char *reason);
int dlq_send_raw(worker_t *w, int32_t src_partition, int64_t src_offset, int64_t src_ts, const void *key,
                 size_t key_len, const void *value, size_t len, const char *reason);
/* Sends the kept letters again, in order, as far as the producer takes them. */
void dlq_send_pending(worker_t *w);
/* Drops the kept letters (at exit: their messages were never committed). */
void dlq_cleanup(worker_t *w);
/* The delivery report callback the DLQ producer is created with (opaque: the worker). */
void dlq_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* worker/main.c: the bookkeeping shared by the files above */
/* Marks a message finished in its partition's tracker, if still assigned. */
void worker_offset_done(worker_t *w, int32_t partition, int64_t offset);
/* Queues an execution whose calls are all done; the loop records it next,
 * so no caller ever sees its execution freed under it. */
void worker_execution_done(worker_t *w, execution_t *ex);
/* The terminal status of an execution whose calls are done (error: the
 * first failed call's, or NULL). */
const char *worker_execution_status(const execution_t *ex, const char **ret_error);
/* Acts on the database's answer to a claim: runs, skips or dead-letters. */
void worker_apply_verdict(worker_t *w, execution_t *ex, const char *verdict);
/* Logs, counts and releases an execution whose terminal record was written
 * (or refused by the fence): its offset may be committed from now on. */
void worker_finished(worker_t *w, execution_t *ex, const char *status, const char *error, bool recorded);
offset_track_t *worker_track(worker_t *w, int32_t partition);
