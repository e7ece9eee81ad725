/*
 * prom.h - the metrics operation's result (PROTOCOL.md 8.19) in the
 * Prometheus text exposition format 0.0.4, for node_exporter's textfile
 * collector: every family with HELP and TYPE, names vault_* in base units
 * (seconds), counters ending in _total, histograms as cumulative _bucket
 * series ending with le="+Inf", then _sum and _count.
 */
#ifndef VAULT_CLIENT_CTL_PROM_H
#define VAULT_CLIENT_CTL_PROM_H

#include <stdio.h>

#include <jansson.h>

/*
 * Write m as exposition text to out. 0, or -1 if m lacks a key or has a
 * value of the wrong type (*bad then names it; nothing of m is trusted
 * to be well-formed), with part of the text written.
 */
int prom_render(FILE *out, const json_t *m, const char **bad);

#endif
