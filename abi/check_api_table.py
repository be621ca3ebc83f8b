#!/usr/bin/env python3
"""Checks abi/enif_api.def against a runtime's erl_nif_api_funcs.h.

    check_api_table.py enif_api.def erl_nif_api_funcs.h NIF_MINOR

The table lists each enif function once; an entry inside
`#if NIFSHIM_NIF_MINOR >= N` appeared in NIF 2.N, the others are in 2.16.
The runtime's header (x86-64: the `SIZEOF_LONG != 8` block is left out, as
its compiler leaves it out) must declare exactly the table's functions of
versions up to NIF_MINOR: one the table lacks, or one the table places in a
later version, fails the check (run by meson.build at configure time).
Prints "enif API table: N functions of NIF 2.M" on success.
"""
import re
import sys


def table(path):
    """name -> the NIF minor version it appeared in."""
    since, stack = {}, []
    for line in open(path):
        s = line.strip()
        m = re.match(r"#\s*if\s+NIFSHIM_NIF_MINOR\s*>=\s*(\d+)", s)
        if m:
            stack.append(int(m.group(1)))
            continue
        if re.match(r"#\s*if", s):
            stack.append(None)
            continue
        if re.match(r"#\s*endif", s):
            stack.pop()
            continue
        m = re.match(r"ENIF_(?:FWD|FWD_DIRECT)\([^,]+,\s*(enif_\w+)", s) or \
            re.match(r"ENIF_(?:LOCAL|CUSTOM)\((enif_\w+)\)", s)
        if m:
            versions = [v for v in stack if v is not None]
            since[m.group(1)] = max(versions) if versions else 16
    return since


def header(path):
    names, skip = [], 0
    for line in open(path):
        s = line.strip()
        if re.match(r"#\s*if\s+SIZEOF_LONG\s*!=\s*8", s):
            skip = 1
            continue
        if skip and re.match(r"#\s*endif", s):
            skip = 0
            continue
        m = re.match(r"ERL_NIF_API_FUNC_DECL\(\s*[^,]+,\s*(enif_\w+)", s)
        if m and not skip:
            names.append(m.group(1))
    return names


def main():
    def_path, hdr_path, minor = sys.argv[1], sys.argv[2], int(sys.argv[3])
    since = table(def_path)
    have = header(hdr_path)
    errors = []
    for n in have:
        if n not in since:
            errors.append(f"{n}: declared by the runtime, missing from the table")
        elif since[n] > minor:
            errors.append(f"{n}: declared by NIF 2.{minor}, the table has it from 2.{since[n]}")
    served = sorted(n for n, v in since.items() if v <= minor)
    for n in served:
        if n not in have:
            errors.append(f"{n}: in the table for NIF 2.{minor}, not declared by the runtime")
    if errors:
        print("\n".join(errors))
        return 1
    print(f"enif API table: {len(served)} functions of NIF 2.{minor}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
