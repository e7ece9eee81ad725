/*
 * sweep.h - the writer's timer for expiring holds (sweep.c).
 */
#ifndef VAULT_PRIVACY_SWEEP_H
#define VAULT_PRIVACY_SWEEP_H

struct server;
struct write_ctx;

/* Read the earliest hold expiry into srv->hold_expiry (writer start). */
void privacy_timer_init(struct server *srv);
/* If a hold has expired, sweep (ctx is the writer's, outside any batch). */
void privacy_sweep(struct write_ctx *ctx);

#endif
