#!/usr/bin/env python3
"""Nothing private of beam.smp: the shim uses only what the runtime exports.

    beam_exports.py BEAM_SMP SOURCE_ROOT NIF_MINOR LIBNIFSHIM PROXY_STUB

- every function the shim looks up in beam.smp at run time (the table's
  forwarded and custom functions for this NIF version, shim/real_enif_list.h)
  is in beam.smp's dynamic symbol table (OTP 29's beam.smp, built with
  hidden visibility, exports only the documented NIF and driver API);
- libnifshim.so imports nothing that only beam.smp could provide (no enif_,
  erts_, erl_, driver_ or beam_ symbol is undefined in it), and the proxy
  stub imports only what libnifshim.so exports.
Prints one summary line; exits 1 with the offending names otherwise.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(sys.argv[2], "abi"))
from check_api_table import table  # noqa: E402


def dynsyms(path, defined):
    flag = "--defined-only" if defined else "--undefined-only"
    out = subprocess.run(["nm", "-D", flag, path], check=True, capture_output=True, text=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}


def main():
    beam, root, minor, shim, stub = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    exported = dynsyms(beam, True)
    looked_up = set()
    for line in open(os.path.join(root, "abi", "enif_api.def")):
        m = re.match(r"\s*ENIF_(?:FWD|FWD_DIRECT|CUSTOM)\((?:[^,]+,\s*)?(enif_\w+)", line)
        if m:
            looked_up.add(m.group(1))
    since = table(os.path.join(root, "abi", "enif_api.def"))
    looked_up = {n for n in looked_up if since.get(n, 99) <= minor}
    for line in open(os.path.join(root, "shim", "real_enif_list.h")):
        m = re.match(r"NIFSHIM_REAL\((\w+)\)", line)
        if m:
            looked_up.add("enif_" + m.group(1))
    errors = [f"the shim looks up {n}, which beam.smp does not export" for n in sorted(looked_up - exported)]
    private = sorted(n for n in dynsyms(shim, False) if re.match(r"(enif_|erts_|erl_|driver_|beam_)", n))
    errors += [f"libnifshim.so imports {n}" for n in private]
    shim_exports = dynsyms(shim, True)
    stub_imports = {n for n in dynsyms(stub, False) if not n.startswith(("_", "__"))}
    errors += [f"the proxy stub imports {n}, which libnifshim.so does not export"
               for n in sorted(stub_imports - shim_exports)]
    if errors:
        print("\n".join(errors))
        return 1
    print(f"nothing private: {len(looked_up)} functions looked up, all among the "
          f"{len(exported)} dynamic symbols of {beam}; libnifshim.so imports none of beam.smp's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
