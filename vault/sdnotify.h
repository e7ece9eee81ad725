/*
 * sdnotify.h - telling systemd how vaultd is doing (sd_notify(3)):
 * READY=1 once it serves (or, sealed, once it listens and waits for
 * `vaultctl unseal`), STOPPING=1 at an orderly stop, a STATUS= line at the
 * moments an admin wants in `systemctl status` (start, sealed, unsealed,
 * rotation, compaction), and EXTEND_TIMEOUT_USEC= before a start step that
 * takes long on a large data file, so a slow but healthy start is not
 * killed by TimeoutStartSec=.
 *
 * Without NOTIFY_SOCKET (not started by systemd with Type=notify) every call
 * does nothing. Status lines name states and counts only, never data.
 * Safe from any thread.
 */
#ifndef VAULT_SDNOTIFY_H
#define VAULT_SDNOTIFY_H

/* READY=1 with a STATUS= line. */
void sdnotify_ready(const char *status);
/* STOPPING=1 with STATUS=stopping. */
void sdnotify_stopping(void);
__attribute__((format(printf, 1, 2)))
void sdnotify_status(const char *fmt, ...);
/*
 * A start step about to read or copy the file at path (the data file): ask
 * for the time it needs at a slow disk's pace (60 s, plus a second per
 * 16 MiB), with STATUS=what. Nothing if path cannot be read.
 */
void sdnotify_extend_for_file(const char *path, const char *what);

#endif
