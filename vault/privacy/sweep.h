/*
 * sweep.h - the writer's timer for expiring holds (sweep.c).
 */
#ifndef VAULT_PRIVACY_SWEEP_H
#define VAULT_PRIVACY_SWEEP_H

struct vault_services;
struct write_ctx;

/* Read the earliest hold expiry into svc->hold_expiry (writer start). */
void privacy_timer_init(struct vault_services *svc);
/* If a hold has expired, sweep (ctx is the writer's, outside any batch). */
void privacy_sweep(struct write_ctx *ctx);

#endif
