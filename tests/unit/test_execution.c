/* SPDX-License-Identifier: Apache-2.0 */
/* The execution lifecycle (worker/execution.c) and its neighbours, linked
 * from the worker library alone: no Kafka, no database, no HTTP request.
 * A worker_t is built in memory; messages are fed as librdkafka would. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rf_conf.h"
#include "rf_test.h"
#include "rf_util.h"
#include "calls.h"
#include "completion.h"
#include "consumer.h"
#include "execution.h"
#include "intake.h"
#include "loop.h"
#include "worker.h"

#define CONF                                                                                                           \
        "kafka = { brokers = \"b:9092\"; };\ndatabase = { url = \"dbname=x\"; };\n"                                    \
        "scrapers = ( { name = \"a\"; url = \"http://127.0.0.1:9/a\"; },\n"                                            \
        "             { name = \"b\"; url = \"http://127.0.0.1:9/b\"; } );\n"                                          \
        "workflows = ( { name = \"w\"; schedule = \"@hourly\"; scrapers = [\"a\", \"b\"]; },\n"                        \
        "              { name = \"one\"; schedule = \"@hourly\"; scrapers = [\"a\"]; max_active_runs = 1; } );\n"

static rf_conf_t *conf;

static void worker_setup(worker_t *w) {
        memset(w, 0, sizeof(*w));
        w->conf = conf;
        w->epoll_fd = -1;
        timers_init(&w->timers);
        CHECK(calls_init(w) == 0);
        w->tracks = calloc(1, sizeof(*w->tracks));
        w->tracks[0] = offset_track_new(0);
        w->track_count = 1;
        w->now = rf_mono_ms();
}

static void worker_teardown(worker_t *w) {
        while (w->head)
                execution_free(w, w->head);
        CHECK(w->in_flight == 0);
        CHECK(w->timers.heap.count == 0); /* every timer went with its owner */
        offset_track_destroy(w->tracks[0]);
        free(w->tracks);
        completion_cleanup(w);
        calls_cleanup(w);
}

static rf_decision_t *decision(const char *workflow, int64_t deadline_ms) {
        rf_decision_t *d = rf_decision_new();
        const rf_workflow_conf_t *wf = rf_conf_workflow(conf, workflow);
        char id[37];

        rf_uuid_new(id);
        d->decision_id = strdup(id);
        d->workflow = strdup(workflow);
        d->trace_id = strdup("trace");
        d->reason = strdup("test");
        d->attempt = 1;
        d->deadline_ms = deadline_ms;
        rf_decision_set_scrapers(d, wf->scrapers, wf->scraper_count);
        return d;
}

/* A new execution at @p offset, its offset begun as intake does. */
static execution_t *new_execution(worker_t *w, const char *workflow, int64_t offset, int64_t deadline_ms) {
        execution_t *ex = NULL;

        CHECK(offset_track_begin(w->tracks[0], offset) == 0);
        CHECK(execution_new(w, decision(workflow, deadline_ms), 0, offset, &ex) == 0);
        return ex;
}

static void phases(void) {
        CHECK(execution_phase_legal(PHASE_QUEUED, PHASE_BEGIN));
        CHECK(execution_phase_legal(PHASE_BEGIN, PHASE_RUNNING));
        CHECK(execution_phase_legal(PHASE_RUNNING, PHASE_FINISHING));
        CHECK(execution_phase_legal(PHASE_FINISHING, PHASE_FINISHING));
        CHECK(!execution_phase_legal(PHASE_QUEUED, PHASE_RUNNING));
        CHECK(!execution_phase_legal(PHASE_QUEUED, PHASE_FINISHING));
        CHECK(!execution_phase_legal(PHASE_BEGIN, PHASE_FINISHING));
        CHECK(!execution_phase_legal(PHASE_BEGIN, PHASE_BEGIN));
        CHECK(!execution_phase_legal(PHASE_RUNNING, PHASE_BEGIN));
        CHECK(!execution_phase_legal(PHASE_FINISHING, PHASE_RUNNING));
        for (int p = PHASE_QUEUED; p <= PHASE_FINISHING; p++)
                CHECK(!execution_phase_legal((execution_phase_t)p, PHASE_QUEUED));
        CHECK_STR_EQ(execution_phase_name(PHASE_FINISHING), "FINISHING");
#ifndef NDEBUG
        /* an illegal change stops a debug build at once */
        {
                pid_t pid = fork();
                int status = 0;
                if (pid == 0) {
                        execution_t ex = { .phase = PHASE_QUEUED };
                        fclose(stderr); /* the assertion's message is expected */
                        execution_set_phase(&ex, PHASE_RUNNING);
                        _exit(0);
                }
                CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
                CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
        }
#endif
}

static void status(void) {
        execution_t ex = { 0 };
        call_t calls[2] = { { .outcome = RF_CALL_OK }, { .outcome = RF_CALL_OK } };
        const char *error = "unset";

        CHECK(execution_status(&ex, &error) == RF_EXEC_FAILED);
        CHECK_STR_EQ(error, "no scraper call could be started");
        ex.calls = calls;
        ex.call_count = 2;
        CHECK(execution_status(&ex, &error) == RF_EXEC_SUCCEEDED);
        CHECK(error == NULL);
        calls[1].outcome = RF_CALL_HTTP_ERROR;
        strcpy(calls[1].error, "HTTP 500: boom");
        CHECK(execution_status(&ex, &error) == RF_EXEC_FAILED);
        CHECK_STR_EQ(error, "HTTP 500: boom");
        calls[0].outcome = RF_CALL_TIMEOUT;
        strcpy(calls[0].error, "timed out");
        CHECK(execution_status(&ex, &error) == RF_EXEC_TIMED_OUT);
        CHECK_STR_EQ(error, "timed out"); /* the first failed call's */
}

/* A claim answered DONE, STALE or TAKEN: skipped, released, offset finished. */
static void verdict_skip(void) {
        static const rf_claim_verdict_t verdicts[] = { RF_VERDICT_DONE, RF_VERDICT_STALE, RF_VERDICT_TAKEN };
        worker_t w;

        worker_setup(&w);
        for (int i = 0; i < 3; i++) {
                execution_t *ex = new_execution(&w, "w", 10 + i, 60000);
                execution_want_begin(&w, ex);
                CHECK(ex->phase == PHASE_BEGIN && w.begin_due);
                execution_apply_verdict(&w, ex, verdicts[i]);
                CHECK(w.in_flight == 0 && w.head == NULL);
                CHECK(offset_track_pending(w.tracks[0]) == 0);
                CHECK(offset_track_committable(w.tracks[0]) == 11 + i);
        }
        worker_teardown(&w);
}

/* STARTED with no time left: every call ends as TIMEOUT without a request,
 * the execution is queued complete, recorded, and its offset finished. */
static void run_to_record(void) {
        worker_t w;
        execution_t *ex;
        const char *error = NULL;

        worker_setup(&w);
        ex = new_execution(&w, "w", 7, 0);
        execution_want_begin(&w, ex);
        execution_apply_verdict(&w, ex, RF_VERDICT_STARTED);
        CHECK(ex->phase == PHASE_RUNNING);
        CHECK(ex->call_count == 2 && ex->calls_done == 2 && ex->record_count == 2);
        CHECK(w.completed_count == 1 && w.completed[0] == ex);
        CHECK(execution_status(ex, &error) == RF_EXEC_TIMED_OUT);
        CHECK_CONTAINS(error, "deadline");
        CHECK(offset_track_pending(w.tracks[0]) == 1); /* nothing is committed before the record */
        CHECK(completion_take(&w) == ex && completion_take(&w) == NULL);
        execution_set_phase(ex, PHASE_FINISHING);
        execution_finished(&w, ex, RF_EXEC_TIMED_OUT, error, true);
        CHECK(w.in_flight == 0 && w.finished == 1);
        CHECK(offset_track_pending(w.tracks[0]) == 0 && offset_track_committable(w.tracks[0]) == 8);
        worker_teardown(&w);
}

/* An open breaker parks the call on a timer until its cool-down ends;
 * releasing the execution takes the timer with it. */
static void breaker_parks_call(void) {
        worker_t w;
        execution_t *ex;
        int64_t until;

        worker_setup(&w);
        until = rf_mono_ms() + 30000;
        w.breakers[0] = (breaker_t){ .state = BREAKER_OPEN, .failures = 5, .open_until = until };
        ex = new_execution(&w, "one", 3, 120000);
        CHECK(ex->phase == PHASE_QUEUED);
        execution_want_begin(&w, ex);
        execution_apply_verdict(&w, ex, RF_VERDICT_STARTED);
        CHECK(ex->call_count == 1 && ex->calls_done == 0);
        CHECK(ex->record_count == 1 && ex->records[0].outcome == RF_CALL_CIRCUIT_OPEN);
        CHECK(timers_active(&ex->calls[0].try_timer));
        CHECK(timers_next_at(&w.timers) == until);
        loop_run_timers(&w, until - 1); /* not yet */
        CHECK(ex->calls[0].tries == 1 && ex->record_count == 1);
        execution_release(&w, ex);
        CHECK(w.timers.heap.count == 0 && timers_next_at(&w.timers) == 0);
        CHECK(offset_track_pending(w.tracks[0]) == 0);
        worker_teardown(&w);
}

/* A claim or record that failed waits on its execution's timer. */
static void db_retry(void) {
        worker_t w;
        execution_t *a, *b;

        worker_setup(&w);
        a = new_execution(&w, "w", 1, 60000);
        b = new_execution(&w, "w", 2, 0);
        execution_want_begin(&w, a);
        w.begin_due = false;
        execution_db_retry(&w, a, 1000);
        execution_want_begin(&w, b);
        execution_apply_verdict(&w, b, RF_VERDICT_STARTED);
        CHECK(completion_take(&w) == b);
        execution_set_phase(b, PHASE_FINISHING);
        w.begin_due = false;
        execution_db_retry(&w, b, 2000);
        CHECK(timers_next_at(&w.timers) == 1000);
        loop_run_timers(&w, 999);
        CHECK(!w.begin_due && w.completed_count == 0);
        loop_run_timers(&w, 1000);
        CHECK(w.begin_due && w.completed_count == 0 && !timers_active(&a->db_timer));
        loop_run_timers(&w, 5000);
        CHECK(w.completed_count == 1 && w.completed[0] == b);
        CHECK(timers_next_at(&w.timers) == 0);
        /* the record goes round again: FINISHING → FINISHING is legal */
        CHECK(completion_take(&w) == b);
        execution_set_phase(b, PHASE_FINISHING);
        worker_teardown(&w);
}

/* Freed (not released): it leaves the completion queue, the batch in
 * flight, its slot and its timer, but its offset stays unfinished so the
 * message is redelivered. */
static void free_forgets(void) {
        worker_t w;
        execution_t *ex;

        worker_setup(&w);
        ex = new_execution(&w, "one", 4, 0);
        w.active_runs[ex->workflow_index] = 1;
        ex->holds_slot = true;
        completion_push(&w, ex);
        /* in a batch of each connection: it leaves both */
        for (int i = 0; i < DB_ROLES; i++) {
                w.db[i].batch.exs[0] = ex;
                w.db[i].batch.n = 1;
        }
        ex->in_batch = true;
        execution_db_retry(&w, ex, 1234);
        execution_free(&w, ex);
        CHECK(w.completed_count == 0);
        CHECK(w.db[DB_CLAIMS].batch.exs[0] == NULL && w.db[DB_RECORDS].batch.exs[0] == NULL);
        CHECK(w.active_runs[1] == 0 && w.slot_freed);
        CHECK(w.timers.heap.count == 0);
        CHECK(offset_track_pending(w.tracks[0]) == 1);
        worker_teardown(&w);
}

/* Messages in: max_active_runs holds the second run in memory until the
 * first is released; an unknown workflow goes to the DLQ path (no producer
 * here: its offset stays unfinished). */
static void intake_slots(void) {
        worker_t w;
        rf_decision_t *d[2] = { decision("one", 60000), decision("one", 60000) };
        void *buf[2] = { NULL, NULL };
        size_t len[2] = { 0, 0 };
        char err[256];
        execution_t *first, *second;

        worker_setup(&w);
        for (int i = 0; i < 2; i++) {
                rd_kafka_message_t m = { .partition = 0, .offset = 20 + i };
                CHECK(rf_decision_encode(d[i], &buf[i], &len[i], err, sizeof(err)) == 0);
                m.payload = buf[i];
                m.len = len[i];
                intake_message(&w, &m);
        }
        CHECK(w.in_flight == 2);
        first = w.head;
        second = w.tail;
        CHECK(first && second && first != second);
        CHECK(first->phase == PHASE_BEGIN && first->holds_slot);
        CHECK(second->phase == PHASE_QUEUED && !second->holds_slot);
        intake_start_queued(&w); /* no slot freed: nothing moves */
        CHECK(second->phase == PHASE_QUEUED);
        execution_apply_verdict(&w, first, RF_VERDICT_DONE);
        CHECK(w.slot_freed && w.in_flight == 1);
        intake_start_queued(&w);
        CHECK(second->phase == PHASE_BEGIN && second->holds_slot && !w.slot_freed);
        CHECK(offset_track_committable(w.tracks[0]) == 21);
        for (int i = 0; i < 2; i++) {
                free(buf[i]);
                rf_decision_destroy(d[i]);
        }
        worker_teardown(&w);
}

int main(void) {
        char err[512] = "";

        if (rf_conf_load_string(CONF, "t.cfg", &conf, err, sizeof(err)) < 0) {
                fprintf(stderr, "%s\n", err);
                return 1;
        }
        phases();
        status();
        verdict_skip();
        run_to_record();
        breaker_parks_call();
        db_retry();
        free_forgets();
        intake_slots();
        rf_conf_destroy(conf);
        return rf_test_finish();
}
