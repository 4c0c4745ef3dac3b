#!/usr/bin/env python3
"""Run the portable test modules inside the MicroPython VM, one node process (one VM) per module.

Prints each failure with its MicroPython traceback and ends with
    micropython: N passed, M failed, K skipped
Exit status 1 if any test failed or a VM crashed.
    python3 tools/vmtest.py [-v] [-j JOBS] [host_tests/portable/test_x.py ...] [-k NAME]
"""
import argparse
import concurrent.futures
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
def vm_command(modname, only, heap="8m"):
    code = "import vmharness\nvmharness.run(%r, %r)\n" % (modname, only)
    return [
        "node", os.path.join(ROOT, "tools", "mpvm.mjs"), "--heap", heap,
        "--mount", os.path.join(ROOT, "lib") + ":/lib",
        "--mount", os.path.join(ROOT, "tools") + ":/tools",
        "--mount", os.path.join(ROOT, "host_tests", "portable") + ":/tests",
        "--mount", os.path.join(ROOT, "firmware") + ":/firmware",
        "--path", "/tests", "--path", "/tools", "--path", "/firmware",
        "--exec", code,
    ]


def run_module(path, only, timeout):
    modname = os.path.splitext(os.path.basename(path))[0]
    try:
        p = subprocess.run(vm_command(modname, only), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = "timed out after %ds" % timeout, -1
    return modname, out, err, rc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("-k", dest="only", action="append", help="run only this test function (repeatable)")
    ap.add_argument("-v", action="store_true", help="print every test with its heap delta and its output")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=int, default=600)
    a = ap.parse_args()
    files = a.files or sorted(glob.glob(os.path.join(ROOT, "host_tests", "portable", "test_*.py")))
    passed = failed = skipped = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.j) as ex:
        futs = [ex.submit(run_module, f, a.only, a.timeout) for f in files]
        for fut in futs:
            modname, out, err, rc = fut.result()
            results = 0
            body = []
            for line in out.splitlines():
                if line.startswith("@@ "):
                    parts = line.split(" ", 4)
                    status, name, heap = parts[1], parts[2], parts[3]
                    reason = parts[4] if len(parts) > 4 else ""
                    results += 1
                    if status == "PASS":
                        passed += 1
                    elif status == "SKIP":
                        skipped += 1
                    else:
                        failed += 1
                    if status != "PASS" or a.v:
                        print("%s %s::%s heap=%sB %s" % (status, modname, name, heap, reason))
                        if status == "FAIL" or a.v:
                            for b in body:
                                print("    " + b)
                    body = []
                else:
                    body.append(line)
            if rc != 0 or err.strip():
                if rc != 0:
                    failed += 1
                print("VM %s exited %s" % (modname, rc))
                for b in body:
                    print("    " + b)
                for b in err.splitlines():
                    print("    " + b)
            elif results == 0:
                print("VM %s: no tests found" % modname)
    print("micropython: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
