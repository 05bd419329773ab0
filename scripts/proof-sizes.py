#!/usr/bin/env python3
"""Charges each call of a pallet the worst-case proof size summed over the storage it touches.

`benchmark pallet` (polkadot-sdk's `writer.rs`) estimates a call's proof size map by map, each
read as a path through a trie of a million entries plus the value at its `MaxEncodedLen`, and
then keeps the *largest* map's estimate, not their sum. A call that reads seven maps is charged
for one of them: `remove_contribution` was charged 6,196 bytes where its reads alone come to
21,503. This script charges the sum, per storage item:

    reads x (path + largest value)  +  blind writes x path  +  990 (two extra trie layers)

where a blind write (a key written or removed without being read) still needs its path in the
proof for the new state root, and the 990 bytes are the CLI's `--additional-trie-layers 2`.

Items the block writes before the call reads them are left out of the sum (`IN_BLOCK`):
`System::ExtrinsicData`, the transaction's own bytes, which frame-system notes before
dispatching it and `contribute` reads to check that its record ends the transaction. Such a
read never reaches the parent state, so it adds nothing to the storage proof; the bytes
themselves travel in the block body, and the CLI's measured slope for them (a byte of proof per
byte of the call's arguments) stays charged, so records take their room in the proof of
validity from the weight as well as from the block length.

The reads of each item at the highest components are in the weight file's comments. A call with
components is measured again at single points: every component at its lowest, then each one
alone at its highest (`--low`/`--high`, two steps, one repeat); each item's reads are linear
between them, so its cost per unit of each component is the difference over the range. The
charged proof is then `base + sum(slope x component)`, never below what the CLI wrote, and it
covers the highest point's comments (checked).

    proof-sizes.py apply NODE RUNTIME PALLET WEIGHTS   rewrite WEIGHTS' proof sizes (benchmark.sh)
    proof-sizes.py check WEIGHTS...                    fail if a call is charged less, at its
                                                       components' highest, than its comments sum
"""

import math
import re
import subprocess
import sys

TRIE_LAYERS = 2 * 15 * 33  # --additional-trie-layers (2, the default), per item touched

STORAGE = re.compile(r"Storage: `([^`]+)` \(r:(\d+) w:(\d+)\)")
PROOF = re.compile(r"Proof: `([^`]+)` \(`max_values`: [^,]+, `max_size`: (Some\((\d+)\)|None), (added: (\d+), )?mode")
RANGE = re.compile(r"The range of component `(\w+)` is `\[(\d+), (\d+)\]`")
FN = re.compile(r"^\tfn (\w+)\((.*)\) -> Weight \{$")
BASE = re.compile(r"Weight::from_parts\(([\d_]+), (\d+)\)")
SLOPE = re.compile(r"^\t\t\t\.saturating_add\(Weight::from_parts\(0, (\d+)\)\.saturating_mul\((\w+)\.into\(\)\)\)$")


# Written in the block before any call reads them: never read from the parent state.
IN_BLOCK = {"System::ExtrinsicData"}


def die(message):
    print(f"proof-sizes.py: {message}", file=sys.stderr)
    sys.exit(1)


def storage_items(lines):
    """{item: (reads, writes, added, max_size)} from `Storage:`/`Proof:` lines."""
    touched, sizes = {}, {}
    for line in lines:
        if (m := STORAGE.search(line) or PROOF.search(line)) and m[1] in IN_BLOCK:
            continue
        if m := STORAGE.search(line):
            touched[m[1]] = (int(m[2]), int(m[3]))
        elif m := PROOF.search(line):
            if m[3] is None or m[5] is None:
                die(f"`{m[1]}` has no MaxEncodedLen: its worst case cannot be bounded")
            sizes[m[1]] = (int(m[5]), int(m[3]))
    missing = set(touched) - set(sizes)
    if missing:
        die(f"no `Proof:` line for {sorted(missing)}")
    return {item: (r, w, *sizes[item]) for item, (r, w) in touched.items()}


def item_cost(reads, writes, added, max_size):
    if reads == 0 and writes == 0:
        return 0
    path = added - max_size
    return reads * added + max(0, writes - reads) * path + TRIE_LAYERS


def total_cost(items):
    return sum(item_cost(*item) for item in items.values())


def substrate_impl(lines):
    """The line where the `SubstrateWeight` impl starts."""
    try:
        return next(i for i, l in enumerate(lines) if l.startswith("impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T>"))
    except StopIteration:
        die("no `SubstrateWeight` impl")


def benchmarks(text):
    """The calls of the `SubstrateWeight` impl: name, components with ranges, and the
    comments' storage at the highest point."""
    lines = text.split("\n")
    start = substrate_impl(lines)
    found, comments = [], []
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line == "}":
            break
        if line.startswith("\t///"):
            comments.append(line)
        elif m := FN.match(line):
            ranges = [(c, int(lo), int(hi)) for c, lo, hi in RANGE.findall("\n".join(comments))]
            found.append({"name": m[1], "components": ranges, "items": storage_items(comments)})
            comments = []
    return found


def charged(text, name):
    """(base, {component: slope}) of the proof size `SubstrateWeight` charges for `name`."""
    lines = text.split("\n")
    start = substrate_impl(lines)
    i = next(i for i in range(start, len(lines)) if (m := FN.match(lines[i])) and m[1] == name)
    base, slopes = None, {}
    for line in lines[i + 1:]:
        if line == "\t}":
            break
        if base is None and (m := BASE.search(line)):
            base = int(m[2])
        elif m := SLOPE.match(line):
            slopes[m[2]] = slopes.get(m[2], 0) + int(m[1])
    return base, slopes


def at(base, slopes, point):
    return base + sum(slope * point[c] for c, slope in slopes.items())


def measure(node, runtime, pallet, name, point, order):
    """The storage items of `name` at one point (a dict component -> value)."""
    values = ",".join(str(point[c]) for c in order)
    command = [node, "benchmark", "pallet", "--runtime", runtime, "--genesis-builder-preset",
               "development", "--pallet", pallet, "--extrinsic", name, "--steps", "2",
               "--repeat", "1", "--low", values, "--high", values,
               "--no-median-slopes", "--no-min-squares"]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-4000:])
        die(f"{pallet}::{name} at {point}: `benchmark pallet` failed")
    return storage_items(run.stdout.split("\n"))


def derive(node, runtime, pallet, bench):
    """(base, {component: slope}) summed over the storage items, from single points."""
    order = [c for c, _, _ in bench["components"]]
    low = {c: lo for c, lo, _ in bench["components"]}
    if not order:
        return total_cost(bench["items"]), {}
    print(f"  {pallet}::{bench['name']}: {1 + len(order)} points", flush=True)
    at_low = measure(node, runtime, pallet, bench["name"], low, order)
    base = total_cost(at_low)
    slopes = {}
    for c, lo, hi in bench["components"]:
        at_high = measure(node, runtime, pallet, bench["name"], {**low, c: hi}, order)
        # Item by item, so that one item's reads falling cannot hide another's rising.
        rise = 0
        for item in set(at_low) | set(at_high):
            before = item_cost(*at_low[item]) if item in at_low else 0
            after = item_cost(*at_high[item]) if item in at_high else 0
            rise += max(0, after - before)
        slope = math.ceil(rise / (hi - lo)) if hi > lo else 0
        if slope:
            slopes[c] = slope
    # From the lowest point back to components of zero.
    base = max(0, base - sum(slopes.get(c, 0) * lo for c, lo, _ in bench["components"]))
    # The highest point, measured by the full run: its comments must be covered.
    high = {c: hi for c, _, hi in bench["components"]}
    deficit = total_cost(bench["items"]) - at(base, slopes, high)
    if deficit > 0:
        print(f"  {bench['name']}: not linear, {deficit} bytes more at the highest point: added to the base")
        base += deficit
    return base, slopes


def rewrite(text, name, base, slopes, note):
    """Sets `name`'s proof size in both impls (and unused components' names), with a note."""
    lines = text.split("\n")
    out, inside, seen_base = [], False, False
    for line in lines:
        if m := FN.match(line):
            inside = m[1] == name
            seen_base = False
            if inside:
                for c in slopes:
                    line = line.replace(f"_{c}: u32", f"{c}: u32")
            out.append(line)
            continue
        if not inside:
            out.append(line)
            continue
        if line.startswith("\t\t//  Estimated:"):
            out.append(line)
            out.append(f"\t\t//  Charged:   `{note}` (summed over storage items, scripts/proof-sizes.py)")
            continue
        if line.startswith("\t\t//  Charged:") or SLOPE.match(line):
            continue
        if not seen_base and (m := BASE.search(line)):
            line = line[: m.start(2)] + str(base) + line[m.end(2):]
            seen_base = True
        if line == "\t}":
            out.extend(f"\t\t\t.saturating_add(Weight::from_parts(0, {s}).saturating_mul({c}.into()))"
                       for c, s in sorted(slopes.items()))
            inside = False
        out.append(line)
    return "\n".join(out)


def apply(node, runtime, pallet, path):
    text = open(path).read()
    for bench in benchmarks(text):
        base, slopes = derive(node, runtime, pallet, bench)
        cli_base, cli_slopes = charged(text, bench["name"])
        base = max(base, cli_base)
        slopes = {c: max(slopes.get(c, 0), cli_slopes.get(c, 0)) for c in set(slopes) | set(cli_slopes)}
        slopes = {c: s for c, s in slopes.items() if s}
        note = str(base) + "".join(f" + {c} * {s}" for c, s in sorted(slopes.items()))
        text = rewrite(text, bench["name"], base, slopes, note)
        print(f"  {pallet}::{bench['name']}: proof {note} (the CLI's {cli_base}"
              + "".join(f" + {c} * {s}" for c, s in sorted(cli_slopes.items())) + ")", flush=True)
    open(path, "w").write(text)


def check(paths):
    failed = 0
    for path in paths:
        text = open(path).read()
        for bench in benchmarks(text):
            base, slopes = charged(text, bench["name"])
            if base is None:
                print(f"{path}: {bench['name']} has no benchmarked weight (a hand-written "
                      f"`Weight::from_parts` is not a measurement: run scripts/benchmark.sh)")
                failed += 1
                continue
            high = {c: hi for c, _, hi in bench["components"]}
            need, have = total_cost(bench["items"]), at(base, slopes, high)
            if have < need:
                print(f"{path}: {bench['name']} is charged {have} bytes of proof at its highest "
                      f"components, below the {need} its storage comes to (run scripts/benchmark.sh)")
                failed += 1
    if failed:
        sys.exit(1)
    print(f"proof sizes: every call of {len(paths)} weight files covers its storage's worst case")


def main(argv):
    if len(argv) == 5 and argv[0] == "apply":
        apply(*argv[1:])
    elif len(argv) >= 2 and argv[0] == "check":
        check(argv[1:])
    else:
        die("usage: proof-sizes.py apply NODE RUNTIME PALLET WEIGHTS | proof-sizes.py check WEIGHTS...")


if __name__ == "__main__":
    main(sys.argv[1:])
