/* SPDX-License-Identifier: Apache-2.0 */
/* `backfill`: what status.c needs to know about a backfill in progress. */
#pragma once

/* A backfill that is creating its decisions holds the advisory lock
 * (BACKFILL_LOCK_CLASS, hashtext(backfill_id)) on its session, so a second
 * run of the same request can tell "still running" from "stopped,
 * resumable", and `status` can show which. The two-key form (objsubid 2 in
 * pg_locks) never meets the single-key RF_LOCK_* locks. */
#define BACKFILL_LOCK_CLASS "1919315204" /* 0x72666d04 */

/* Per workflow, a batch holds (BACKFILL_WORKFLOW_LOCK_CLASS,
 * hashtext(workflow)) for its transaction: two backfills never both see a
 * tick's FAILED decision as the latest and both run it again. */
#define BACKFILL_WORKFLOW_LOCK_CLASS "1919315205" /* 0x72666d05 */
