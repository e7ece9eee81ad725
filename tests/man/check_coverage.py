#!/usr/bin/env python3
"""Every option the code accepts appears in its man page.

Reads, at test time, what the programs accept from their sources and fails
naming each item its page (doc/*.scd) does not document:

  vaultd(8)          vault/main.c: the long options (longopts) and the short
                     ones (getopt string)
  vaultd.conf(5)     vault/config.c: every [section] key of the option table,
                     documented under its own "## [section]" heading
  vaultctl(1)        client/vaultctl.c: global options (longopts), every
                     command and subcommand of the command tables, and each
                     command's --options (its .args string, and the
                     ctl_option table of the file that implements it),
                     documented in that command's entry
  vault-keytool(8)   keys/keytool.c: commands, their --options, longopts
  vault-policy(5)    vault/policy.c: section kinds, client keys, access
                     levels; vault/record/fields.c: the field names
  libvaultclient(3)  client/include/vault/vault.h: every function (those the
                     version script client/vault.syms exports) and every
                     VAULT_E_* error code

No list of options lives here: a new option without documentation fails.
Usage: check_coverage.py SOURCE_ROOT
"""
import fnmatch
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
missing = []
checked = 0


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def c_block(text, start_re):
    """The text of the brace block that follows the first match of start_re."""
    m = re.search(start_re, text)
    if not m:
        return None
    i = text.index("{", m.end() - 1 if text[m.end() - 1] == "{" else m.end())
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return None


def need(page, item, ok):
    global checked
    checked += 1
    if not ok:
        missing.append(f"{page}: {item}")


def mentions(text, word):
    """word appears as a word of its own (not as part of a longer option)."""
    return re.search(r"(?<![A-Za-z0-9_-])" + re.escape(word) + r"(?![A-Za-z0-9_-])", text) is not None


def page_text(name):
    path = os.path.join(ROOT, "doc", name + ".scd")
    if not os.path.exists(path):
        missing.append(f"{name}: no page doc/{name}.scd")
        return ""
    with open(path, encoding="utf-8") as f:
        # scdoc escapes: "\-" is "-", "\_" is "_", "\*" is "*".
        return re.sub(r"\\([-_*\\])", r"\1", f.read())


def longopts(text, table="longopts"):
    block = c_block(text, r"struct\s+option\s+" + table + r"\s*\[\s*\]\s*=\s*\{")
    if block is None:
        return []
    return re.findall(r'\{\s*"([a-z][a-z0-9-]*)"', block)


def all_longopts(text, where):
    """The names of every getopt_long table (struct option NAME[]) in text."""
    names = set()
    for m in re.finditer(r"struct\s+option\s+(\w+)\s*\[\s*\]\s*=\s*\{", text):
        names |= set(longopts(text, m.group(1)))
    if not names:
        missing.append(f"{where}: no getopt_long option table found (the check needs updating)")
    return names


def shortopts(text):
    m = re.search(r'getopt_long\s*\([^,]+,[^,]+,\s*"([^"]*)"', text)
    return [c for c in (m.group(1) if m else "") if c.isalnum()]


def option_literals(text):
    """'"--name"' string literals: options matched by hand (strcmp)."""
    return re.findall(r'"(--[a-z][a-z0-9-]*)"', text)


def sections(scd, level="##"):
    """{heading: body} for the headings of one level in an scdoc page."""
    out = {}
    parts = re.split(r"^(#{1,2}) (.*)$", scd, flags=re.M)
    for i in range(1, len(parts) - 2, 3):
        if parts[i] == level:
            out[parts[i + 1].strip()] = parts[i + 2]
    return out


# ---- vaultd(8) ------------------------------------------------------------
main_c = strip_c_comments(read("vault/main.c"))
vaultd = page_text("vaultd.8")
for name in sorted(all_longopts(main_c, "vault/main.c") | {o[2:] for o in option_literals(main_c)}):
    need("vaultd.8", f"option --{name} (vault/main.c)", mentions(vaultd, "--" + name))
for ch in shortopts(main_c):
    need("vaultd.8", f"option -{ch} (vault/main.c)", mentions(vaultd, "-" + ch))

# ---- vaultd.conf(5) -------------------------------------------------------
config_c = strip_c_comments(read("vault/config.c"))
table = c_block(config_c, r"struct\s+option\s+options\s*\[\s*\]\s*=\s*\{")
conf_keys = re.findall(r'O\(\s*"([a-z_]+)"\s*,\s*([a-z_0-9]+)\s*,', table or "")
conf_keys += re.findall(r'\{\s*"([a-z_]+)"\s*,\s*"([a-z_0-9]+)"\s*,', table or "")
if not conf_keys:
    missing.append("vault/config.c: no option table found (the check needs updating)")
conf = page_text("vaultd.conf.5")
conf_sections = sections(conf)
for sec, key in conf_keys:
    body = conf_sections.get(f"[{sec}]")
    if body is None:
        need("vaultd.conf.5", f"[{sec}] {key}: no \"## [{sec}]\" heading", False)
        continue
    need("vaultd.conf.5", f"[{sec}] {key} (vault/config.c)",
         re.search(r"^\*" + re.escape(key) + r"\*", body, flags=re.M) is not None)

# ---- vaultctl(1) ----------------------------------------------------------
ctl_c = strip_c_comments(read("client/vaultctl.c"))
ctl_dir = os.path.join(ROOT, "client", "ctl")
ctl_sources = {f: strip_c_comments(read(os.path.join("client", "ctl", f)))
               for f in sorted(os.listdir(ctl_dir)) if f.endswith(".c")}


def c_string(expr):
    """The value of adjacent C string literals."""
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', expr)).replace("\\n", "\n")


def command_tables(text):
    tables = {}
    for m in re.finditer(r"struct\s+ctl_command\s+(\w+)\s*\[\s*\]\s*=\s*\{", text):
        block = c_block(text[m.start():], r"\{")
        entries = []
        for e in re.finditer(r"\{\s*(\.name\s*=.*?)\}\s*,", block, flags=re.S):
            body = e.group(1)
            name = re.search(r'\.name\s*=\s*"([^"]+)"', body)
            if not name:
                continue
            fn = re.search(r"\.fn\s*=\s*(\w+)", body)
            sub = re.search(r"\.sub\s*=\s*(\w+)", body)
            args = re.search(r"\.args\s*=\s*((?:\s*\"(?:[^\"\\]|\\.)*\")+)", body)
            entries.append({"name": name.group(1), "fn": fn.group(1) if fn else None,
                            "sub": sub.group(1) if sub else None,
                            "args": c_string(args.group(1)) if args else ""})
        tables[m.group(1)] = entries
    return tables


def command_options(fn):
    """The --options of the ctl_option table in the file defining fn."""
    for text in ctl_sources.values():
        if re.search(r"^\w[^\n]*\n" + re.escape(fn) + r"\s*\(", text, flags=re.M) or \
           re.search(r"\bint\s+" + re.escape(fn) + r"\s*\([^;]*\)\s*\{", text):
            block = c_block(text, r"struct\s+ctl_option\s+\w+\s*\[\s*\]\s*=\s*\{")
            return re.findall(r'\{\s*"([a-z][a-z0-9-]*)"', block or "")
    return []


vaultctl = page_text("vaultctl.1")
for name in sorted(all_longopts(ctl_c, "client/vaultctl.c") | {o[2:] for o in option_literals(ctl_c)}):
    need("vaultctl.1", f"global option --{name} (client/vaultctl.c)", mentions(vaultctl, "--" + name))
for ch in shortopts(ctl_c):
    need("vaultctl.1", f"global option -{ch} (client/vaultctl.c)", mentions(vaultctl, "-" + ch))

tables = command_tables(ctl_c)
if "commands" not in tables:
    missing.append("client/vaultctl.c: no commands table found (the check needs updating)")
leaves = []
for cmd in tables.get("commands", []):
    if cmd["sub"]:
        for s in tables.get(cmd["sub"], []):
            leaves.append((cmd["name"] + " " + s["name"], s))
    else:
        leaves.append((cmd["name"], cmd))

# A command's entry, in the COMMANDS section: from its "*words*" line to
# the next command's (or the next heading).
headers = {}
m = re.search(r"^# COMMANDS$(.*?)(?=^# )", vaultctl + "\n# END", flags=re.M | re.S)
if m is None:
    missing.append("vaultctl.1: no COMMANDS section")
lines = (m.group(1) if m else "").split("\n")
names = {n for n, _ in leaves}
starts = []
for i, line in enumerate(lines):
    m = re.match(r"^\*([a-z][a-z -]*[a-z])\*", line)
    if m and m.group(1) in names:
        starts.append((i, m.group(1)))
    elif line.startswith("#"):
        starts.append((i, None))
for k, (i, name) in enumerate(starts):
    if name is None:
        continue
    end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
    headers[name] = "\n".join(lines[i:end])
for name, cmd in leaves:
    entry = headers.get(name)
    need("vaultctl.1", f"command \"{name}\" (an entry starting *{name}*)", entry is not None)
    if entry is None:
        continue
    opts = set(re.findall(r"--([a-z][a-z0-9-]*)", cmd["args"]))
    if cmd["fn"]:
        opts |= set(command_options(cmd["fn"]))
    for o in sorted(opts):
        need("vaultctl.1", f"\"{name}\" option --{o}", mentions(entry, "--" + o))

# ---- vault-keytool(8) -----------------------------------------------------
kt_c = strip_c_comments(read("keys/keytool.c"))
keytool = page_text("vault-keytool.8")
kt_block = c_block(kt_c, r"struct\s+command\s+commands\s*\[\s*\]\s*=\s*\{") or ""
kt_cmds = re.findall(r'\{\s*"([a-z][a-z-]*)"\s*,\s*\w+\s*,[^,]*,\s*((?:\s*"(?:[^"\\]|\\.)*")+)', kt_block)
if not kt_cmds:
    missing.append("keys/keytool.c: no commands table found (the check needs updating)")
kt_sections = {}
kt_lines = keytool.split("\n")
kt_starts = [(i, re.match(r"^\*([a-z-]+)\*", l).group(1)) for i, l in enumerate(kt_lines)
             if re.match(r"^\*([a-z-]+)\*", l)] + [(len(kt_lines), None)]
for k in range(len(kt_starts) - 1):
    kt_sections.setdefault(kt_starts[k][1], "\n".join(kt_lines[kt_starts[k][0]:kt_starts[k + 1][0]]))
for name, args in kt_cmds:
    entry = kt_sections.get(name)
    need("vault-keytool.8", f"command \"{name}\" (an entry starting *{name}*)", entry is not None)
    for o in sorted(set(re.findall(r"--([a-z][a-z0-9-]*)", c_string(args)))):
        need("vault-keytool.8", f"\"{name}\" option --{o}", entry is not None and mentions(entry, "--" + o))
kt_opts = all_longopts(kt_c, "keys/keytool.c") | {o[2:] for o in option_literals(kt_c)}
for o in sorted(kt_opts):
    need("vault-keytool.8", f"option --{o} (keys/keytool.c)", mentions(keytool, "--" + o))

# ---- vault-policy(5) ------------------------------------------------------
policy_c = strip_c_comments(read("vault/policy.c"))
policy = page_text("vault-policy.5")
pol_keys = set(re.findall(r'strcmp\(\s*name\s*,\s*"([^"]+)"\s*\)', policy_c))
pol_kinds = set(re.findall(r'strcmp\(\s*kind\s*,\s*"([^"]+)"\s*\)', policy_c))
levels = re.search(r"names\[\]\s*=\s*\{([^}]*)\}", policy_c)
pol_levels = set(re.findall(r'"([a-z]+)"', levels.group(1))) if levels else set()
pol_levels |= set(re.findall(r'strcmp\(\s*rest\s*,\s*"([^"]+)"\s*\)', policy_c))
if not pol_keys or not pol_kinds or not pol_levels:
    missing.append("vault/policy.c: keys, sections or levels not found (the check needs updating)")
fields_c = strip_c_comments(read("vault/record/fields.c"))
pol_fields = set(re.findall(r'\{\s*FIELD_\w+\s*,\s*"([a-z_]+)"', fields_c))
if not pol_fields:
    missing.append("vault/record/fields.c: no field table found (the check needs updating)")
for kind in sorted(pol_kinds):
    need("vault-policy.5", f"section [{kind} ...] (vault/policy.c)", "[" + kind + " " in policy)
for key in sorted(pol_keys):
    # "*KEY*" starting a line: the key's entry ("*\\**" for the key "*").
    need("vault-policy.5", f"key {key} (vault/policy.c)",
         re.search(r"^\*" + re.escape(key) + r"\*", policy, flags=re.M) is not None)
for level in sorted(pol_levels):
    need("vault-policy.5", f"access level {level} (vault/policy.c)", re.search(r"^\*" + re.escape(level) + r"\*", policy, flags=re.M) is not None)
for field in sorted(pol_fields):
    need("vault-policy.5", f"field {field} (vault/record/fields.c)", mentions(policy, field))

# ---- libvaultclient(3) ----------------------------------------------------
header = strip_c_comments(read("client/include/vault/vault.h"))
syms = strip_c_comments(read("client/vault.syms"))
glob = re.search(r"global:(.*?)(local:|\})", syms, flags=re.S)
patterns = [p.strip() for p in (glob.group(1) if glob else "").replace("\n", " ").split(";") if p.strip()]
lib = page_text("libvaultclient.3")
funcs = sorted(set(re.findall(r"\b(vault_[a-z0-9_]+)\s*\(", header)))
if not funcs:
    missing.append("client/include/vault/vault.h: no functions found (the check needs updating)")
for fn in funcs:
    if patterns and not any(fnmatch.fnmatchcase(fn, p) for p in patterns):
        continue   # declared but not exported: not part of the API
    need("libvaultclient.3", f"function {fn}() (vault.h)", mentions(lib, fn))
for code in sorted(set(re.findall(r"\b(VAULT_E_[A-Z_]+)\s*=", header))):
    need("libvaultclient.3", f"error code {code} (vault.h)", mentions(lib, code))

if missing:
    print(f"{len(missing)} gaps in the man pages ({checked} items checked):")
    for m in missing:
        print("  " + m)
    sys.exit(1)
print(f"all {checked} options, keys, commands and functions are documented")
