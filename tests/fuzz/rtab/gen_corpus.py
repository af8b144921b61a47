#!/usr/bin/python3
# Seeds for fuzz_rtab.c: each file is a list of operations (op byte = operation | shard << 2,
# length byte, bytes). Run from this directory: ./gen_corpus.py writes corpus/.
import os

SET, UNSET, MATCH, CHECK = 0, 1, 2, 3


def op(kind, s, shard=0):
    b = s.encode()
    assert len(b) < 64
    return bytes([kind | (shard << 2), len(b)]) + b


seeds = {
    "literal": [op(SET, "a/b", 1), op(MATCH, "a/b"), op(MATCH, "a"), op(MATCH, "a/b/c"),
                op(CHECK, "a/b"), op(UNSET, "a/b", 1), op(MATCH, "a/b")],
    "plus": [op(SET, "a/+/c", 2), op(SET, "+", 3), op(SET, "+/+", 4), op(MATCH, "a/b/c"),
             op(MATCH, "a//c"), op(MATCH, "x"), op(MATCH, "/"), op(MATCH, "")],
    "hash": [op(SET, "#", 5), op(SET, "a/#", 6), op(SET, "+/#", 7), op(MATCH, "a"),
             op(MATCH, "a/b/c"), op(MATCH, "b"), op(UNSET, "#", 5), op(MATCH, "a")],
    "dollar": [op(SET, "#", 1), op(SET, "+/x", 2), op(SET, "$SYS/#", 3), op(SET, "$SYS/+", 4),
               op(MATCH, "$SYS/x"), op(MATCH, "$SYS"), op(MATCH, "a/$x"), op(MATCH, "$")],
    "empty_levels": [op(SET, "a//b", 1), op(SET, "/a", 2), op(SET, "a/", 3), op(SET, "//", 4),
                     op(MATCH, "a//b"), op(MATCH, "/a"), op(MATCH, "a/"), op(MATCH, "//")],
    "invalid": [op(SET, "a+", 1), op(SET, "a/#/b", 1), op(SET, "", 1), op(SET, "#a", 1),
                op(CHECK, "a+"), op(CHECK, "")],
    "idempotence": [op(SET, "x/y", 9), op(SET, "x/y", 9), op(SET, "x/y", 10), op(UNSET, "x/y", 9),
                    op(UNSET, "x/y", 9), op(CHECK, "x/y"), op(MATCH, "x/y"),
                    op(UNSET, "nope", 1)],
    "prune": [op(SET, "a/b/c/d", 1), op(SET, "a/b", 2), op(UNSET, "a/b/c/d", 1),
              op(MATCH, "a/b/c/d"), op(CHECK, "a/b"), op(UNSET, "a/b", 2), op(CHECK, "a")],
    "all_shards": [op(SET, "a", s) for s in range(64)] + [op(SET, "+", 0), op(MATCH, "a"),
                                                         op(UNSET, "a", 63), op(MATCH, "a")],
    "fanout": [op(SET, "d/%d/#" % i, i % 64) for i in range(40)] +
              [op(UNSET, "d/%d/#" % i, i % 64) for i in range(0, 40, 3)] +
              [op(MATCH, "d/%d/t" % i) for i in range(40)],
}

os.makedirs("corpus", exist_ok=True)
for name, ops in seeds.items():
    with open(os.path.join("corpus", name), "wb") as f:
        f.write(b"".join(ops))
