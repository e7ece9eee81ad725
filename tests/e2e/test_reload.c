/*
 * test_reload.c - end-to-end: replacing the policy of a running vaultd
 * (SIGHUP, policy_reload, vaultctl policy reload), and vaultd --check
 * finding what would stop a start.
 *
 * Reload: a connection opened before a reload gets the new grants at its
 * next request, and loses access at its next request when no client
 * matches it any more; a broken file keeps the policy in force, and the
 * log and the reply say why (file, line, reason); every reload is in the
 * audit trail; reloads while other threads read change nothing but what
 * the policies say.
 *
 * --check: on each way of breaking a stopped vault, --check exits 1
 * naming the problem, and a real start on the same files fails too, so
 * --check never says OK when a start would not succeed.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <vault/vault.h>

#include "harness.h"

#define T VAULT_PURPOSE_TRANSACTIONAL
#define SIGHUP_LINE "policy reload (SIGHUP"

static struct vaultd_proc srv;
static char policy[600];

static void
setup(void)
{
	vaultd_start(&srv, NULL);
	vaultd_path(&srv, "policy.ini", policy, sizeof(policy));
}

static void
teardown(void)
{
	vaultd_finish(&srv);
}

TestSuite(reload, .init = setup, .fini = teardown, .timeout = 120);

/*
 * Replace the policy file at once (a reload never sees half of it): the
 * test's uid is client "tests", admin as given; transactional access is
 * first_name plain, phone none and email as given; extra is appended.
 */
static void
write_policy(const char *admin, const char *email, const char *extra)
{
	char tmp[700];
	snprintf(tmp, sizeof(tmp), "%s.new", policy);
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fprintf(f, "[client tests]\nuids = %ld\nadmin = %s\nlist = true\n"
	    "[access tests transactional]\nfirst_name = plain\nphone = none\nemail = %s\n%s",
	    (long)getuid(), admin, email, extra ? extra : "");
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(tmp, 0644), 0);
	cr_assert_eq(rename(tmp, policy), 0);
}

/* A file that does not load: line 3's value is not a boolean. */
static void
write_broken_policy(void)
{
	FILE *f = fopen(policy, "w");
	cr_assert_not_null(f);
	fprintf(f, "[client tests]\nuids = %ld\nadmin = maybe\n", (long)getuid());
	cr_assert_eq(fclose(f), 0);
}

/* SIGHUP, then wait for the n-th reload line in the log. */
static void
sighup(int n)
{
	cr_assert_eq(kill(srv.pid, SIGHUP), 0);
	cr_assert_geq(vaultd_wait_log(&srv, SIGHUP_LINE, n, 10), n,
	    "the log does not show reload %d", n);
}

static struct vault *
connect_ok(void)
{
	struct vault *v;
	cr_assert_eq(vault_connect(srv.socket, &v), 0);
	return v;
}

static char *
create_person(struct vault *v)
{
	char *res = NULL;
	int rc = vault_call_json(v, "create", T, "{\"fields\":{\"first_name\":\"Ada\","
	    "\"email\":\"ada@example.com\",\"phone\":\"+14155550199\"}}", &res);
	cr_assert_eq(rc, 0, "create: %s", vault_last_message(v));
	json_t *j = json_loads(res, 0, NULL);
	vault_free(res);
	cr_assert_not_null(j);
	char *tok = strdup(json_string_value(json_object_get(j, "record")));
	json_decref(j);
	return tok;
}

/* Read one field: 0 and the value in out, or the error code. */
static int
read_field(struct vault *v, const char *tok, const char *field, char *out, size_t len)
{
	char args[300], *res = NULL;
	snprintf(args, sizeof(args), "{\"record\":\"%s\",\"fields\":[\"%s\"]}", tok, field);
	int rc = vault_call_json(v, "read", T, args, &res);
	if (rc != 0)
		return rc;
	json_t *j = json_loads(res, 0, NULL);
	vault_free(res);
	cr_assert_not_null(j);
	const char *s = json_string_value(json_object_get(json_object_get(j, "fields"), field));
	snprintf(out, len, "%s", s ? s : "");
	json_decref(j);
	return 0;
}

Test(reload, sighup_changes_access_of_an_open_connection_at_its_next_request)
{
	char val[128];
	struct vault *v = connect_ok();
	char *tok = create_person(v); /* under the harness's policy: all plain */
	write_policy("true", "plain", NULL);
	sighup(1);
	cr_assert_eq(read_field(v, tok, "email", val, sizeof(val)), 0, "%s", vault_last_message(v));
	cr_assert_str_eq(val, "ada@example.com");

	/* Revoke the field: the same connection is refused at once. */
	write_policy("true", "none", NULL);
	sighup(2);
	cr_assert_eq(read_field(v, tok, "email", val, sizeof(val)), VAULT_E_DENIED);
	cr_assert_eq(read_field(v, tok, "first_name", val, sizeof(val)), 0);
	cr_assert_str_eq(val, "Ada");

	/* Masked, then plain again: granted without reconnecting. */
	write_policy("true", "masked", NULL);
	sighup(3);
	cr_assert_eq(read_field(v, tok, "email", val, sizeof(val)), 0, "%s", vault_last_message(v));
	cr_assert_str_neq(val, "ada@example.com", "masked access must not give the value");
	write_policy("true", "plain", NULL);
	sighup(4);
	cr_assert_eq(read_field(v, tok, "email", val, sizeof(val)), 0);
	cr_assert_str_eq(val, "ada@example.com");

	/* No client matches this uid any more: refused and cut off at its
	 * next request, not at its next connect. */
	FILE *f = fopen(policy, "w");
	cr_assert_not_null(f);
	fprintf(f, "[client someone-else]\nuids = %ld\n", (long)getuid() + 4242);
	cr_assert_eq(fclose(f), 0);
	sighup(5);
	int rc = vault_ping(v);
	cr_assert_eq(rc, VAULT_E_DENIED, "got %s", vault_error_name(rc));
	cr_assert_not_null(strstr(vault_last_message(v), "no client of the policy matches"),
	    "%s", vault_last_message(v));
	cr_assert_neq(vault_ping(v), 0, "the connection is closed after the refusal");
	cr_assert_geq(vaultd_wait_log(&srv, "no client in the reloaded policy", 1, 5), 1);
	vault_close(v);

	/* And back: a new connection works again. */
	write_policy("true", "plain", NULL);
	sighup(6);
	v = connect_ok();
	cr_assert_eq(read_field(v, tok, "email", val, sizeof(val)), 0, "%s", vault_last_message(v));
	vault_close(v);
	free(tok);
}

Test(reload, a_broken_policy_keeps_the_one_in_force_and_the_log_says_why)
{
	char val[128];
	struct vault *v = connect_ok();
	char *tok = create_person(v);
	write_policy("true", "none", NULL);
	sighup(1);

	write_broken_policy();
	sighup(2);
	size_t n;
	char *log = read_file_all(srv.log, &n);
	cr_assert_not_null(strstr(log, "line 3: admin: true or false"), "%s", log);
	cr_assert_not_null(strstr(log, policy), "the log names the file: %s", log);
	cr_assert_not_null(strstr(log, "the policy in force is unchanged"), "%s", log);
	free(log);
	/* As before: first_name yes, email no, admin still admin. */
	cr_assert_eq(read_field(v, tok, "first_name", val, sizeof(val)), 0, "%s", vault_last_message(v));
	cr_assert_eq(read_field(v, tok, "email", val, sizeof(val)), VAULT_E_DENIED);
	cr_assert_eq(vault_call_json(v, "keys_status", 0, NULL, NULL), 0, "%s", vault_last_message(v));

	/* A file others may write is refused the same way. */
	write_policy("true", "plain", NULL);
	cr_assert_eq(chmod(policy, 0646), 0);
	sighup(3);
	log = read_file_all(srv.log, &n);
	cr_assert_not_null(strstr(log, "writable by others"), "%s", log);
	free(log);
	cr_assert_eq(read_field(v, tok, "email", val, sizeof(val)), VAULT_E_DENIED);

	/* Each SIGHUP reload is an audit entry with the sender's uid and its
	 * outcome, and none holds anything of the file. */
	char *res = NULL;
	cr_assert_eq(vault_call_json(v, "audit_query", 0, "{}", &res), 0, "%s",
	    vault_last_message(v));
	cr_assert_null(strstr(res, "maybe"), "file contents in the trail: %s", res);
	json_t *j = json_loads(res, 0, NULL);
	vault_free(res);
	int ok = 0, failed = 0;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(j, "entries"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "op")), "policy_reload") != 0)
			continue;
		cr_assert_eq(json_integer_value(json_object_get(e, "uid")), (json_int_t)getuid());
		const char *o = json_string_value(json_object_get(e, "outcome"));
		ok += strcmp(o, "ok") == 0;
		failed += strcmp(o, "VAULT_E_CONFIG") == 0;
	}
	json_decref(j);
	cr_assert_eq(ok, 1, "one successful SIGHUP reload audited");
	cr_assert_eq(failed, 2, "two failed SIGHUP reloads audited");
	vault_close(v);
	free(tok);
}

/* Run $VAULTCTL -s SOCKET args...: exit status, stdout and stderr. */
static int
vaultctl(char **out, char **err, ...)
{
	const char *argv[16];
	int argc = 0;
	va_list ap;
	struct proc_run r;
	va_start(ap, err);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 13;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	vaultctl_run(&r, srv.socket, NULL, argv, 0);
	*out = r.out;
	*err = r.err;
	return r.status;
}

Test(reload, vaultctl_policy_reload_reports_the_outcome_and_is_for_admins)
{
	char *out, *err;
	write_policy("true", "plain", "[client other]\ngids = 4242\n");
	cr_assert_eq(vaultctl(&out, &err, "policy", "reload", NULL), 0, "%s%s", out, err);
	cr_assert_not_null(strstr(out, "policy reloaded from "), "%s", out);
	cr_assert_not_null(strstr(out, ": 2 clients"), "%s", out);
	free(out);
	free(err);

	write_broken_policy();
	cr_assert_eq(vaultctl(&out, &err, "policy", "reload", NULL), 1, "%s%s", out, err);
	cr_assert_not_null(strstr(err, "VAULT_E_CONFIG"), "%s", err);
	cr_assert_not_null(strstr(err, policy), "names the file: %s", err);
	cr_assert_not_null(strstr(err, "line 3: admin: true or false"), "%s", err);
	free(out);
	free(err);
	cr_assert_eq(vaultctl(&out, &err, "--json", "policy", "reload", NULL), 1);
	json_t *j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "one JSON object: %s", out);
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "VAULT_E_CONFIG");
	json_decref(j);
	free(out);
	free(err);

	/* Both reloads, and the refused one, are in the audit trail. */
	struct vault *v = connect_ok();
	char *res = NULL;
	cr_assert_eq(vault_call_json(v, "audit_query", 0, "{}", &res), 0, "%s",
	    vault_last_message(v));
	j = json_loads(res, 0, NULL);
	vault_free(res);
	int ok = 0, failed = 0;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(j, "entries"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "op")), "policy_reload") != 0)
			continue;
		const char *o = json_string_value(json_object_get(e, "outcome"));
		ok += strcmp(o, "ok") == 0;
		failed += strcmp(o, "VAULT_E_CONFIG") == 0;
	}
	json_decref(j);
	cr_assert_eq(ok, 1, "one successful reload audited");
	cr_assert_eq(failed, 2, "two failed reloads audited");
	vault_close(v);

	/* The caller is no admin any more: refused, and the policy stays. */
	write_policy("false", "plain", NULL);
	cr_assert_eq(vaultctl(&out, &err, "policy", "reload", NULL), 0, "%s%s", out, err);
	free(out);
	free(err);
	write_policy("true", "plain", NULL);
	cr_assert_eq(vaultctl(&out, &err, "policy", "reload", NULL), 1, "%s%s", out, err);
	cr_assert_not_null(strstr(err, "VAULT_E_DENIED"), "%s", err);
	cr_assert_not_null(strstr(err, "admin = true"), "%s", err);
	free(out);
	free(err);
	v = connect_ok();
	cr_assert_eq(vault_call_json(v, "keys_status", 0, NULL, NULL), VAULT_E_DENIED,
	    "still no admin: the refused reload changed nothing");
	vault_close(v);
	/* SIGHUP is the administrator's way back. */
	sighup(1);
	v = connect_ok();
	cr_assert_eq(vault_call_json(v, "keys_status", 0, NULL, NULL), 0, "%s",
	    vault_last_message(v));
	vault_close(v);
}

#define READERS 4
#define RELOADS 100

struct reader {
	const char *tok;
	atomic_int *stop;
	atomic_int reads;
	int bad;
	char why[200];
};

/*
 * Under both policies of the race first_name is plain, phone is denied and
 * email is plain or masked: any other answer is a misgrant.
 */
static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	struct vault *v;
	char val[128];
	if (vault_connect(srv.socket, &v) != 0) {
		snprintf(r->why, sizeof(r->why), "cannot connect");
		r->bad++;
		return NULL;
	}
	while (!atomic_load(r->stop) && r->bad == 0) {
		int rc = read_field(v, r->tok, "first_name", val, sizeof(val));
		if (rc != 0 || strcmp(val, "Ada") != 0) {
			snprintf(r->why, sizeof(r->why), "first_name: %s", vault_error_name(rc));
			r->bad++;
		}
		rc = read_field(v, r->tok, "phone", val, sizeof(val));
		if (rc != VAULT_E_DENIED) {
			snprintf(r->why, sizeof(r->why), "phone: %s", vault_error_name(rc));
			r->bad++;
		}
		rc = read_field(v, r->tok, "email", val, sizeof(val));
		if (rc != 0) {
			snprintf(r->why, sizeof(r->why), "email: %s", vault_error_name(rc));
			r->bad++;
		}
		atomic_fetch_add(&r->reads, 3);
	}
	vault_close(v);
	return NULL;
}

Test(reload, reloads_under_concurrent_reads_neither_crash_nor_misgrant)
{
	struct vault *v = connect_ok();
	char *tok = create_person(v);
	write_policy("true", "plain", NULL);
	sighup(1);
	atomic_int stop = 0;
	struct reader r[READERS];
	pthread_t th[READERS];
	for (int i = 0; i < READERS; i++) {
		r[i] = (struct reader){ .tok = tok, .stop = &stop };
		cr_assert_eq(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
	}
	/* The reloads start once every reader is reading (up to 10 s). */
	for (int i = 0, wait = 0; i < READERS && wait < 1000; wait++) {
		if (atomic_load(&r[i].reads) > 0 || r[i].bad) {
			i++;
			continue;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < RELOADS; i++) {
		/* Alternate grants, and the client's place among others. */
		if (i % 2)
			write_policy("true", "masked join", "[client other]\ngids = 4242\n");
		else
			write_policy("true", "plain", NULL);
		int rc = vault_call_json(v, "policy_reload", 0, NULL, NULL);
		cr_assert_eq(rc, 0, "reload %d: %s", i, vault_last_message(v));
		if (i % 10 == 0)
			kill(srv.pid, SIGHUP); /* reloads from the main thread too */
	}
	atomic_store(&stop, 1);
	int reads = 0;
	for (int i = 0; i < READERS; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(r[i].bad, 0, "reader %d: %s", i, r[i].why);
		cr_assert_gt(atomic_load(&r[i].reads), 0, "reader %d never read", i);
		reads += atomic_load(&r[i].reads);
	}
	cr_log_info("%d reads during %d reloads", reads, RELOADS);
	cr_assert_eq(vault_ping(v), 0);
	vault_close(v);
	free(tok);
}

/*
 * --check and a real start on a stopped vault broken in one way (or more):
 * both fail, --check with every problem named.
 */
static char *
check_fails(const char *problem)
{
	char *out, *log;
	int rc = vaultd_check(&srv, &out);
	cr_assert_eq(rc, 1, "--check exited %d: %s", rc, out);
	cr_assert_not_null(strstr(out, problem), "--check does not name \"%s\": %s", problem, out);
	cr_assert_null(strstr(out, "configuration OK"), "%s", out);
	rc = vaultd_expect_refusal(&srv, &log);
	cr_assert_neq(rc, 0, "a start succeeded where --check failed: %s", log);
	cr_assert_not_null(strstr(log, problem), "the start does not name \"%s\": %s", problem, log);
	free(log);
	return out;
}

Test(reload, check_says_ok_on_a_good_setup)
{
	char *out;
	cr_assert_eq(vaultd_stop(&srv), 0);
	int rc = vaultd_check(&srv, &out);
	cr_assert_eq(rc, 0, "%s", out);
	cr_assert_not_null(strstr(out, "configuration OK"), "%s", out);
	free(out);
	/* And the start does succeed. */
	cr_assert_eq(vaultd_try_restart(&srv), 0);
}

Test(reload, check_and_start_refuse_a_group_writable_config)
{
	cr_assert_eq(vaultd_stop(&srv), 0);
	cr_assert_eq(chmod(srv.config, 0664), 0);
	free(check_fails("writable by its group"));
	cr_assert_eq(chmod(srv.config, 0600), 0);
	cr_assert_eq(vaultd_try_restart(&srv), 0);
}

Test(reload, check_and_start_refuse_a_world_writable_policy)
{
	cr_assert_eq(vaultd_stop(&srv), 0);
	cr_assert_eq(chmod(policy, 0646), 0);
	free(check_fails("writable by others"));
	cr_assert_eq(chmod(policy, 0644), 0);
	cr_assert_eq(vaultd_try_restart(&srv), 0);
}

Test(reload, check_and_start_refuse_an_open_data_directory)
{
	char data[600];
	vaultd_path(&srv, "data", data, sizeof(data));
	cr_assert_eq(vaultd_stop(&srv), 0);
	cr_assert_eq(chmod(data, 0755), 0);
	free(check_fails("mode 0700 (it is 755)"));
	cr_assert_eq(chmod(data, 0700), 0);
	cr_assert_eq(vaultd_try_restart(&srv), 0);
}

Test(reload, check_and_start_refuse_a_missing_key_ring_with_the_hint)
{
	char ring[600], moved[700];
	vaultd_path(&srv, "keys/keyring", ring, sizeof(ring));
	snprintf(moved, sizeof(moved), "%s.away", ring);
	cr_assert_eq(vaultd_stop(&srv), 0);
	cr_assert_eq(rename(ring, moved), 0);
	free(check_fails("vault-keytool init"));
	cr_assert_eq(rename(moved, ring), 0);
	cr_assert_eq(vaultd_try_restart(&srv), 0);
}

Test(reload, check_and_start_refuse_a_wrong_root_key)
{
	char key[600], saved[32], other[32];
	vaultd_path(&srv, "keys/root.key", key, sizeof(key));
	cr_assert_eq(vaultd_stop(&srv), 0);
	FILE *f = fopen(key, "r+b");
	cr_assert_not_null(f);
	cr_assert_eq(fread(saved, 1, 32, f), 32);
	for (int i = 0; i < 32; i++)
		other[i] = (char)(saved[i] ^ 0x5a);
	rewind(f);
	cr_assert_eq(fwrite(other, 1, 32, f), 32);
	cr_assert_eq(fclose(f), 0);
	free(check_fails("cannot be opened with this root key"));
	f = fopen(key, "r+b");
	cr_assert_eq(fwrite(saved, 1, 32, f), 32);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(vaultd_try_restart(&srv), 0);
}

Test(reload, check_lists_every_problem_not_just_the_first)
{
	char data[600];
	vaultd_path(&srv, "data", data, sizeof(data));
	cr_assert_eq(vaultd_stop(&srv), 0);
	cr_assert_eq(chmod(srv.config, 0606), 0);
	cr_assert_eq(chmod(data, 0750), 0);
	char *out = check_fails("writable by others");
	cr_assert_not_null(strstr(out, "mode 0700 (it is 750)"), "%s", out);
	cr_assert_not_null(strstr(out, "2 problems"), "%s", out);
	free(out);
	cr_assert_eq(chmod(srv.config, 0600), 0);
	cr_assert_eq(chmod(data, 0700), 0);
	cr_assert_eq(vaultd_try_restart(&srv), 0);
}
