/* SPDX-License-Identifier: Apache-2.0 */
/* rf_dlq: the headers of a dead letter, the contract between the worker
 * that writes them (worker/dlq.c) and `runfleet-producer dlq` that reads
 * them, and what an operator's kcat sees. Renaming one strands the letters
 * already in the DLQ topic: add a name, never change one. */
#pragma once

#define RF_DLQ_REASON "runfleet.dlq.reason"                     /* why it was set aside, one line */
#define RF_DLQ_SOURCE_TOPIC "runfleet.dlq.source.topic"         /* where the message was read */
#define RF_DLQ_SOURCE_PARTITION "runfleet.dlq.source.partition" /* decimal */
#define RF_DLQ_SOURCE_OFFSET "runfleet.dlq.source.offset"       /* decimal */
#define RF_DLQ_SOURCE_TIMESTAMP "runfleet.dlq.source.timestamp" /* ISO-8601 UTC */
#define RF_DLQ_WORKER "runfleet.dlq.worker"                     /* the worker's id */

/* On a redriven message (`dlq redrive`): "<dlq topic>:<partition>:<offset>". */
#define RF_DLQ_REDRIVE_SOURCE "runfleet.redrive.source"
