# Records what Python 3 re gives for each case, as python.json; TestLikePython asserts
# pyre gives the same. Run: python3 testdata/gen-python.py
import re, json
I, M = re.I, re.M
cases = [
 # op, pattern, flags, input, repl
 ("search", r"^(account.*pam_unix.so(?!.*no_pass_expiry).*)$", 0, "account required pam_unix.so", None),
 ("search", r"^(account.*pam_unix.so(?!.*no_pass_expiry).*)$", 0, "account required pam_unix.so no_pass_expiry", None),
 ("search", r"(?<=foo)bar", 0, "foobar", None),
 ("search", r"(?<!foo)bar", 0, "foobar", None),
 ("search", r"(\w)\1", 0, "abccd", None),
 ("search", r"(?P<q>['\"]).*?(?P=q)", 0, "x 'a' \"b\"", None),
 ("search", r"abc$", 0, "abc\n", None),
 ("search", r"abc$", 0, "abc\n\n", None),
 ("search", r"abc\Z", 0, "abc\n", None),
 ("search", r"^b", 0, "a\nb", None),
 ("search", r"^b", M, "a\nb", None),
 ("search", r"A.C", I, "xabcx", None),
 ("search", r"a.c", 0, "a\nc", None),
 ("search", r"(?s)a.c", 0, "a\nc", None),
 ("search", r"(?x) a b  # comment\n c", 0, "abc", None),
 ("search", r"(?i:A)b", 0, "ab", None),
 ("search", r"(?i:A)b", 0, "aB", None),
 ("search", r"a{,2}b", 0, "aaab", None),
 ("search", r"a{2", 0, "a{2", None),
 ("search", r"\d+", 0, "x١٢3", None),
 ("search", r"(?a)\d+", 0, "x١٢3", None),
 ("search", r"\s", 0, "a\vb", None),
 ("search", r"[\w.]+", 0, "é.x y", None),
 ("search", r"[\b]", 0, "a\bb", None),
 ("search", r"\x41\u00e9\N{BULLET}\101", 0, "Aé•A", None),
 ("search", r"[[:alpha:]]", 0, "a", None),
 ("search", r"[[:alpha:]]", 0, ":]", None),
 ("search", r"(a)?(?(1)b|c)", 0, "c", None),
 ("search", r"(?>a+)b", 0, "aab", None),
 ("search", r"a++b", 0, "aab", None),
 ("search", r"(?#comment)x", 0, "x", None),
 ("search", r"[a-c-]+", 0, "-ab-d", None),
 ("search", r"#x", 0, "#x", None),
 ("match", r"c1", 0, "abc123", None),
 ("match", r"ab", 0, "abc123", None),
 ("match", r"a|ab", 0, "ab", None),
 ("fullmatch", r"a|ab", 0, "ab", None),
 ("fullmatch", r"ab", 0, "abc", None),
 ("findall", r"[a-z]([0-9]+)", 0, "a1 b22 c333", None),
 ("findall", r"([a-z])=([a-z])?", 0, "k=v x=", None),
 ("findall", r"x*", 0, "abxd", None),
 ("findall", r"\b\w", 0, "ab cd", None),
 ("findall", r"^\w+$", M, "ab\ncd\n", None),
 ("findall", r"(?<=\d)\w", 0, "a1b2c", None),
 ("sub", r".*_([0-9]*.[0-9]).*", 0, "OpenSSH_8.9p1 Ubuntu-3ubuntu0.1, OpenSSL 3.0.2", r"\1"),
 ("sub", r"x*", 0, "abxd", "-"),
 ("sub", r"(a)|b", 0, "ab", r"[\1]"),
 ("sub", r"(?P<n>\d+)", 0, "a1b22", r"<\g<n>\g<1>\g<0>>"),
 ("sub", r"(\d)", 0, "a1", r"\n\t\\\.x"),
 ("sub", r"a", 0, "aaa", r"\101\0"),
 ("sub", r"^", M, "l1\nl2\n", "# "),
 ("sub", r"$", 0, "abc\n", "!"),
 ("sub", r"(?<!-)\bfoo\b", 0, "foo -foo foox foo", "bar"),
 ("sub", r"(\w+) (\w+)", 0, "hello world", r"\2 \1"),
 ("sub", r"é", 0, "aébé", "E"),
 ("sub", r"(?=é)", 0, "aébé", "|"),
 ("error", r"(?!", 0, "", None),
 ("error", r"(abc", 0, "", None),
 ("error", r"abc)", 0, "", None),
 ("error", r"\z", 0, "", None),
 ("error", r"\1(a)", 0, "", None),
 ("error", r"(a\1)", 0, "", None),
 ("error", r"[z-a]", 0, "", None),
 ("error", r"a(?i)b", 0, "", None),
 ("error", r"(?P<1a>x)", 0, "", None),
 ("error", r"(?P=nope)", 0, "", None),
 ("error", r"\x4", 0, "", None),
 ("error", r"[abc", 0, "", None),
 ("suberror", r"(a)", 0, "a", r"\2"),
 ("suberror", r"(a)", 0, "a", r"\d"),
 ("suberror", r"(a)", 0, "a", r"\g<x>"),
]
out = []
for op, p, f, s, repl in cases:
    try:
        r = re.compile(p, f)
    except re.error as e:
        out.append(dict(op=op, pat=p, flags=f, input=s, repl=repl, err=True)); continue
    if op == "error":
        raise SystemExit("compiled: %r" % p)
    try:
        if op in ("search", "match", "fullmatch"):
            m = getattr(r, op)(s)
            res = None if m is None else [m.group(0)] + [g for g in m.groups()]
        elif op == "findall":
            res = r.findall(s)
        elif op in ("sub", "suberror"):
            res = r.sub(repl, s)
            if op == "suberror": raise SystemExit("sub ok: %r" % repl)
    except (re.error, IndexError) as e:
        out.append(dict(op=op, pat=p, flags=f, input=s, repl=repl, err=True)); continue
    out.append(dict(op=op, pat=p, flags=f, input=s, repl=repl, result=res))
import os
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "python.json"), "w"), indent=1, ensure_ascii=False)
print(len(out))
