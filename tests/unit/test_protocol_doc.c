/*
 * test_protocol_doc.c - PROTOCOL.md cannot drift from the code: every error
 * code common/error.c names is a row of section 11's table (with its
 * number), and every operation of the operation table is a row of section
 * 8's table, which lists nothing else. The document's path comes in
 * PROTOCOL_MD (set by meson).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <vault/vault.h>

#include "vault/ops/op.h"

static char *
protocol_md(void)
{
	const char *path = getenv("PROTOCOL_MD");
	cr_assert_not_null(path, "PROTOCOL_MD not set");
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *s = malloc((size_t)n + 1);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* The text of the section that starts with heading, up to the next "\n## ". */
static char *
section(const char *doc, const char *heading)
{
	const char *start = strstr(doc, heading);
	cr_assert_not_null(start, "no section %s", heading);
	const char *end = strstr(start + strlen(heading), "\n## ");
	size_t n = end ? (size_t)(end - start) : strlen(start);
	return strndup(start, n);
}

Test(protocol_doc, every_error_code_is_in_the_error_table)
{
	char *doc = protocol_md(), *errs = section(doc, "\n## 11. Errors");
	int named = 0;
	for (int code = 1; code < 1000; code++) {
		const char *name = vault_error_name(code);
		if (strcmp(name, "VAULT_E_UNKNOWN") == 0)
			continue;
		char row[128];
		snprintf(row, sizeof row, "\n| %d | `%s` |", code, name);
		cr_expect_not_null(strstr(errs, row), "section 11 lacks the row of %s (%d)", name, code);
		named++;
	}
	cr_assert_gt(named, 30, "error.c names only %d codes?", named);
	free(errs);
	free(doc);
}

Test(protocol_doc, the_operation_table_lists_exactly_the_operations)
{
	char *doc = protocol_md(), *ops = section(doc, "\n## 8. Operations");
	/* The table: from its header to the first line that is not a row. */
	char *table = strstr(ops, "\n| op |");
	cr_assert_not_null(table, "section 8 has no operation table");
	char *end = strstr(table + 1, "\n\n");
	cr_assert_not_null(end);
	*end = '\0';
	size_t n = 0;
	for (const struct op *op; (op = op_table_at(n)) != NULL; n++) {
		char cell[80];
		snprintf(cell, sizeof cell, "`%s`", op->name);
		/* In the first column: the row starts with it, or lists it with others. */
		const char *p = table;
		int found = 0;
		while ((p = strstr(p, cell)) != NULL && !found) {
			const char *line = p;
			while (line > table && line[-1] != '\n')
				line--;
			const char *bar = strchr(line + 1, '|');
			found = bar != NULL && p < bar;
			p += strlen(cell);
		}
		cr_expect(found, "section 8's table lacks operation %s", op->name);
	}
	/* And every name in its first column is an operation. */
	size_t listed = 0;
	for (char *line = strstr(table, "\n| `"); line != NULL; line = strstr(line + 1, "\n| `")) {
		char *bar = strchr(line + 3, '|');
		cr_assert_not_null(bar);
		for (char *q = line + 3; q < bar && (q = strchr(q, '`')) != NULL && q < bar;) {
			char *close = strchr(q + 1, '`');
			cr_assert_not_null(close);
			cr_expect_not_null(op_lookup(q + 1, (size_t)(close - q - 1)),
			    "section 8 lists `%.*s`, which is no operation", (int)(close - q - 1), q + 1);
			listed++;
			q = close + 1;
		}
	}
	cr_expect_eq(listed, n, "section 8 lists %zu operations, the server has %zu", listed, n);
	/* A count in the prose ("one of the 17 operations") must be the real one. */
	for (const char *p = doc; (p = strstr(p, "one of the ")) != NULL; p++) {
		char *after;
		unsigned long k = strtoul(p + 11, &after, 10);
		if (after != p + 11)
			cr_expect_eq(k, n, "PROTOCOL.md says \"%.40s\": the server has %zu operations",
			    p, n);
	}
	free(ops);
	free(doc);
}
