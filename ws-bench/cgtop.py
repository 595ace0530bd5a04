#!/usr/bin/env python3
"""Summarises one callgrind dump as Markdown: instructions per message by component,
top functions by self and by inclusive cost.

    cgtop.py CALLGRIND_FILE MESSAGES [TOP=25]

(callgrind_annotate 3.19 attributes a later dump part's whole cost to `clone`; this reads
the file itself: a cost line right after `calls=` is the callee's inclusive cost, every
other cost line is the current function's own.)
"""
import collections
import re
import sys


def parse(path):
    own = collections.Counter()
    inclusive_calls = collections.defaultdict(collections.Counter)
    names = {}
    fn = None
    callee = None
    after_calls = False

    def name(value):
        m = re.match(r"\((\d+)\)(?: (.*))?", value)
        if not m:
            return value
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), value)

    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("fn="):
            fn = name(line[3:])
        elif line.startswith("cfn="):
            callee = name(line[4:])
        elif line.startswith("calls="):
            after_calls = True
        elif line and (line[0].isdigit() or line[0] in "+-*"):
            parts = line.split()
            if len(parts) < 2:
                continue
            cost = int(parts[1])
            if after_calls:
                after_calls = False
                if callee != fn:
                    inclusive_calls[fn][callee] += cost
            else:
                own[fn] += cost
    inclusive = collections.Counter()
    for f in set(own) | set(inclusive_calls):
        inclusive[f] = own[f] + sum(inclusive_calls[f].values())
    return own, inclusive


GROUPS = [
    ("tungstenite (framing, UTF-8 check, buffers)", r"^(<)?tungstenite::|Utf8Bytes|core::str::converts::from_utf8|CheckConnectionReset"),
    ("ws (runtime engine, session queues, generated handler)", r"ws_runtime::|^<ws_runtime|RouteDef|^<?ws::|^<?conformance::"),
    ("tokio (scheduler, I/O readiness)", r"tokio::|^<tokio"),
    ("bytes", r"^(<)?bytes::"),
    ("hyper / http (handshakes)", r"hyper|http::|httparse"),
    ("allocator (malloc/free)", r"malloc|_int_free|^free$|cfree|realloc|_int_realloc"),
    ("memcpy / memset / memmove", r"mem(cpy|set|move)"),
    ("system-call wrappers (user-space part only)", r"^(recv|send|read|write|writev|epoll_wait|__libc_\w+|syscall)$"),
]


def main():
    path, messages = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    own, inclusive = parse(path)
    total = sum(own.values())
    print(f"Total: {total:,} instructions for {messages:,} echoed messages = "
          f"**{total / messages:,.0f} instructions per message** (user space only).\n")
    print("| component | instr./message | share |\n|---|---:|---:|")
    grouped = collections.Counter()
    for f, cost in own.items():
        for label, pattern in GROUPS:
            if re.search(pattern, f or ""):
                grouped[label] += cost
                break
        else:
            grouped["other (std, closures, ...)"] += cost
    for label, cost in grouped.most_common():
        print(f"| {label} | {cost / messages:,.0f} | {100 * cost / total:.1f}% |")
    print(f"\n### Top {top} functions by own cost\n")
    print("| instr./message | share | function |\n|---:|---:|---|")
    for f, cost in own.most_common(top):
        print(f"| {cost / messages:,.0f} | {100 * cost / total:.1f}% | `{f}` |")
    print(f"\n### Top {top} functions by inclusive cost (callees included)\n")
    print("| instr./message | share | function |\n|---:|---:|---|")
    shown = 0
    for f, cost in inclusive.most_common():
        if re.search(r"enter_runtime|Scoped|call_once|BlockingTask|serve_connection|SessionFuture|clone|start_thread|std::sys::|thread::|__rust_begin|lang_start|(below main)|^main$|block_on|Runtime|run_task|Context::run|worker::|Harness|poll_future|::run$|with_scheduler|with_current|CONTEXT|coop::|task::core|task::raw", f or ""):
            continue
        print(f"| {cost / messages:,.0f} | {100 * cost / total:.1f}% | `{f}` |")
        shown += 1
        if shown == top:
            break


if __name__ == "__main__":
    main()
