#!/usr/bin/env python3
"""
readme_walkthrough.py - end-to-end: README.md's policy walkthrough works
exactly as written (meson test e2e-readme).

It takes three shell blocks from README.md when it runs, each the ```sh
block right after a marker comment:

  <!-- test: readme-setup ... -->        config, directories, key ring, address
  <!-- test: vaultd-start ... -->        the command that starts vaultd
  <!-- test: policy-walkthrough ... -->  the walkthrough

and runs them as written, as root, with the built binaries, the real
policy.example and the real vaultd. Only the base directory changes:
every "/srv/vault-demo" becomes a temporary directory (and a block with
any other absolute path is refused before anything runs, so a changed
README cannot touch this machine). The blocks run in a scratch directory
where build/ is this build and policy.example is this source tree's.

Every walkthrough command that ends in a comment is checked against it:

  VAULT_E_NAME[ REST]     exit status 1, the error named, REST verbatim in
                          the message (e.g. "(rule: shipping/transactional)")
  F1, F2, ... only        exit 0, and the fields printed are exactly these
  F: V[, F: V]...         exit 0, and each field F printed with value V
  anything else           exit 0, and standard output is exactly that
                          (a V or output ending in "..." is a prefix)

A command without a trailing comment must exit 0; full-line comments are
prose; a comment that fits no form fails the test. The walkthrough must
keep showing plain, masked and token access, a denial by a rule and a
caller no client matches. Needs root (setpriv to other uids): without it
the test exits 77 (skipped).

Usage: readme_walkthrough.py SOURCE_ROOT BUILD_ROOT
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BASE = "/srv/vault-demo"
BLOCKS = ("readme-setup", "vaultd-start", "policy-walkthrough")
FIELDS = {
    "first_name", "last_name", "postal_address", "email", "phone",
    "ip_address", "cookie_id", "card_number", "card_expiry", "bank_account",
}
UNMATCHED = "no client of the policy matches this caller"
DEADLINE = 60.0


def die(msg):
    print("e2e-readme: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def extract(readme, name):
    """The ```sh block right after <!-- test: NAME ... -->."""
    marks = [m for m in re.finditer(r"<!-- test: ([a-z-]+)\b[^>]*-->", readme)
             if m.group(1) == name]
    if len(marks) != 1:
        die(f"README.md has {len(marks)} markers <!-- test: {name} -->, needs exactly 1")
    m = re.match(r"\s*```sh\n(.*?)\n```", readme[marks[0].end():], re.S)
    if m is None:
        die(f"README.md: no ```sh block right after <!-- test: {name} -->")
    return m.group(1) + "\n"


def rebase(block, name, base):
    """Replace BASE by base; refuse any other absolute path."""
    if BASE not in block:
        die(f"README.md block {name} no longer uses {BASE}: update this test's BASE")
    out = block.replace(BASE, base)
    code = "\n".join(line[:comment_start(line)] if comment_start(line) >= 0 else line
                     for line in out.splitlines())
    for m in re.finditer(r"(?:^|[\s='\"@>])(/[^\s'\")]*)", code):
        if not (m.group(1) + "/").startswith(base + "/"):
            die(f"README.md block {name} uses {m.group(1)}, outside {BASE}: "
                "not running it (it would change this machine)")
    return out


def scan(text):
    """Shell quoting of text: (index of its first comment or -1, whether a
    quote or parenthesis is still open at its end)."""
    quote, escaped, depth, comment, first = None, False, 0, False, -1
    for i, c in enumerate(text):
        if comment:
            comment = c != "\n"
        elif escaped:
            escaped = False
        elif c == "\\" and quote != "'":
            escaped = True
        elif quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t\n"):
            comment = True
            first = i if first < 0 else first
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
    return first, quote is not None or depth > 0


def comment_start(text):
    """Index of the comment in a shell command (outside quotes), or -1."""
    return scan(text)[0]


def open_quotes_or_parens(text):
    return scan(text)[1]


def commands(block):
    """Logical commands of a block: (text, trailing comment or None)."""
    cmds, cur = [], ""
    for line in block.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        cur += line + "\n"
        if line.endswith("\\") or open_quotes_or_parens(cur):
            continue
        # A trailing comment only on the last physical line.
        last = cur.rstrip("\n").rsplit("\n", 1)[-1]
        i = comment_start(last)
        cmds.append((cur, last[i + 1:].strip() if i >= 0 else None))
        cur = ""
    if cur:
        die("README.md walkthrough ends inside a command: " + cur.strip())
    return cmds


def printed_fields(stdout):
    """vaultctl read's "field: value" lines (continuations indented)."""
    fields, last = {}, None
    for line in stdout.splitlines():
        m = re.match(r"([a-z_]+): ?(.*)$", line)
        if m and m.group(1) in FIELDS:
            last = m.group(1)
            fields[last] = m.group(2)
        elif line.startswith("  ") and last is not None:
            fields[last] += "\n" + line.strip()
        else:
            last = None
    return fields


def matches(want, got):
    if want.endswith("..."):
        return got.startswith(want[:-3]) and "\n" not in got
    return got == want


class Checker:
    def __init__(self, vaultd_log):
        self.vaultd_log = vaultd_log
        self.shown = set()

    def check(self, comment, rc, out, err):
        """None if the outcome agrees with the comment, else why not."""
        if comment is None:
            return None if rc == 0 else f"exit status {rc}, expected 0"
        m = re.match(r"(VAULT_E_[A-Z_]+)(.*)$", comment)
        if m:
            return self.check_error(m.group(1), m.group(2).lstrip(": ").strip(),
                                    rc, out, err)
        if rc != 0:
            return f"exit status {rc}, expected 0"
        m = re.fullmatch(r"([a-z_]+(?:, [a-z_]+)*) only", comment)
        if m and set(m.group(1).split(", ")) <= FIELDS:
            want = m.group(1).split(", ")
            got = list(printed_fields(out))
            if sorted(got) != sorted(want):
                return f"fields printed {got}, expected exactly {want}"
            self.shown.add("plain")
            return None
        parts = re.split(r", (?=[a-z_]+: )", comment)
        pairs = [re.fullmatch(r"([a-z_]+): (.+)", p) for p in parts]
        if all(pairs) and all(p.group(1) in FIELDS for p in pairs):
            got = printed_fields(out)
            for p in pairs:
                f, v = p.group(1), p.group(2)
                if f not in got:
                    return f"{f} not printed"
                if not matches(v, got[f]):
                    return f"{f} is {got[f]!r}, expected {v!r}"
                self.shown.add("token" if v.startswith("tok_") else
                               "masked" if "*" in v else "plain")
            return None
        if not matches(comment, out.strip()):
            return f"output {out.strip()!r}, expected {comment!r}"
        return None

    def check_error(self, name, rest, rc, out, err):
        text = out + err
        if rest.startswith(UNMATCHED):
            self.shown.add("unmatched")
            if rc == 1 and f"{name}: {rest}" in text:
                return None
            return (f"exit status {rc}, output {text.strip()!r}: expected a refusal "
                    f"{name}: {rest}")
        if rc != 1:
            return f"exit status {rc}, expected 1 ({name})"
        if f"{name}" not in text:
            return f"output {text.strip()!r} does not name {name}"
        if rest and rest not in text:
            return f"output {text.strip()!r} does not say {rest!r}"
        if name == "VAULT_E_DENIED" and "(rule: " in rest:
            self.shown.add("denied by a rule")
        return None


def ancestors_searchable(path):
    p = os.path.dirname(path)
    while True:
        if not os.stat(p).st_mode & 0o001:
            die(f"{p} is not searchable by other users; set TMPDIR to a directory "
                "the services' uids can reach")
        if p == "/":
            return
        p = os.path.dirname(p)


def main():
    if len(sys.argv) != 3:
        die("usage: readme_walkthrough.py SOURCE_ROOT BUILD_ROOT")
    src, build = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        print("e2e-readme: SKIP: needs root (the walkthrough runs vaultctl as "
              "other uids with setpriv; CI runs it as root)")
        sys.exit(77)
    if shutil.which("setpriv") is None:
        die("setpriv (util-linux) is missing")
    with open(os.path.join(src, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    raw = {name: extract(readme, name) for name in BLOCKS}

    tmp = tempfile.mkdtemp(prefix="vault-readme-")
    vaultd = None
    try:
        os.chmod(tmp, 0o755)
        ancestors_searchable(tmp)
        base = os.path.join(tmp, "vault-demo")
        work = os.path.join(tmp, "checkout")
        os.mkdir(work, 0o700)
        os.symlink(os.path.abspath(build), os.path.join(work, "build"))
        os.symlink(os.path.join(os.path.abspath(src), "policy.example"),
                   os.path.join(work, "policy.example"))
        blocks = {name: rebase(text, name, base) for name, text in raw.items()}
        # A reader's shell: no socket or server uid from outside the README, and
        # no LD_LIBRARY_PATH (meson's would hide a vaultctl copied without its
        # library).
        env = {k: v for k, v in os.environ.items()
               if k not in ("VAULT_SOCKET", "VAULT_SERVER_UID", "LD_LIBRARY_PATH")}
        log_path = os.path.join(tmp, "vaultd.log")

        def vaultd_log():
            with open(log_path, encoding="utf-8", errors="replace") as f:
                return f.read()

        # 1. Setup, as written (set -e: every step must succeed).
        print("== setup block")
        r = subprocess.run(["bash", "-euc", blocks["readme-setup"]], cwd=work, env=env,
                           capture_output=True, text=True, timeout=DEADLINE)
        sys.stdout.write(r.stdout + r.stderr)
        if r.returncode != 0:
            die(f"README.md's setup block failed (exit status {r.returncode})")

        # 2. vaultd, started by the README's command; ready once its socket
        #    (from the config the setup wrote) accepts a connection.
        print("== start block: " + raw["vaultd-start"].strip())
        with open(os.path.join(base, "vaultd.conf"), encoding="utf-8") as f:
            m = re.search(r"^\s*socket_path\s*=\s*(\S+)", f.read(), re.M)
        if m is None:
            die("the setup block's vaultd.conf sets no socket_path")
        sock_path = m.group(1)
        logf = open(log_path, "w")
        vaultd = subprocess.Popen(["bash", "-euc", blocks["vaultd-start"]], cwd=work,
                                  env=env, stdout=logf, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        deadline = time.monotonic() + DEADLINE
        while True:
            if vaultd.poll() is not None:
                die(f"vaultd exited ({vaultd.returncode}) before serving:\n" + vaultd_log())
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(sock_path)
                break
            except OSError:
                pass
            if time.monotonic() > deadline:
                die(f"vaultd not listening on {sock_path} after {DEADLINE:.0f} s:\n"
                    + vaultd_log())
            time.sleep(0.05)

        # 3. The walkthrough, one command at a time in one shell, each one's
        #    output and status kept.
        cmds = commands(blocks["policy-walkthrough"])
        results = os.path.join(tmp, "results")
        os.mkdir(results, 0o700)
        script = "set -u\n"
        for i, (text, _) in enumerate(cmds):
            script += (f"{{\n{text}}} >\"$README_TEST_RESULTS/{i}.out\" "
                       f"2>\"$README_TEST_RESULTS/{i}.err\"\n"
                       f"echo $? >\"$README_TEST_RESULTS/{i}.rc\"\n")
        r = subprocess.run(["bash", "-c", script], cwd=work,
                           env=dict(env, README_TEST_RESULTS=results),
                           capture_output=True, text=True, timeout=DEADLINE * 2)
        if r.returncode != 0 or r.stderr:
            die(f"the walkthrough's shell failed ({r.returncode}): {r.stderr}")

        checker = Checker(vaultd_log)
        failures, checked = [], 0
        for i, (text, comment) in enumerate(cmds):
            def read(ext):
                with open(os.path.join(results, f"{i}.{ext}"), encoding="utf-8",
                          errors="replace") as f:
                    return f.read()
            try:
                rc = int(read("rc"))
            except (OSError, ValueError):
                failures.append(f"{text.strip()}: never ran")
                continue
            out, err = read("out"), read("err")
            why = checker.check(comment, rc, out, err)
            checked += comment is not None
            shown = text.strip().replace("\n", " ")
            if why is None:
                print(f"ok    {shown}")
            else:
                print(f"FAIL  {shown}\n      {why}\n      stdout: {out!r}\n"
                      f"      stderr: {err!r}")
                failures.append(f"{shown}: {why}")
        for kind in ("plain", "masked", "token", "denied by a rule", "unmatched"):
            if kind not in checker.shown:
                failures.append(f"the walkthrough no longer shows a {kind} outcome")
        if checked < 8:
            failures.append(f"only {checked} commands carry an outcome to check")
        if failures:
            print("vaultd's log:\n" + vaultd_log(), file=sys.stderr)
            die(f"README.md's policy walkthrough does not do what it says "
                f"({len(failures)}):\n  " + "\n  ".join(failures))

        # 4. A clean stop.
        vaultd.send_signal(signal.SIGTERM)
        try:
            rc = vaultd.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            die("vaultd did not stop on SIGTERM")
        vaultd = None
        if rc != 0:
            die(f"vaultd exited {rc} on SIGTERM:\n" + vaultd_log())
        print(f"e2e-readme: {checked} commands of README.md's walkthrough do what "
              "their comments say")
    finally:
        if vaultd is not None and vaultd.poll() is None:
            os.killpg(vaultd.pid, signal.SIGKILL)
            vaultd.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
