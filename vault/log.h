/*
 * log.h - the service log on standard error (systemd's journal collects it).
 * Log lines name operations, error codes and counts; they never carry
 * request data, so no personal data can reach the log.
 */
#ifndef VAULT_LOG_H
#define VAULT_LOG_H

__attribute__((format(printf, 1, 2)))
void log_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void log_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void log_error(const char *fmt, ...);

#endif
