/* SPDX-License-Identifier: Apache-2.0 */
/* runfleet-producer subcommands. Each returns the process exit code. */
#pragma once

#include "rf_conf.h"
#include "rf_program.h"

int producer_migrate(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_evaluate(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_trigger(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_status(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_replay(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_timeline(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_explain(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_backfill(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_dlq(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_pause(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_unpause(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
int producer_prune(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv);
