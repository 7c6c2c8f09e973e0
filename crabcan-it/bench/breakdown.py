#!/usr/bin/env python3
"""Where a Sandbox.run goes, step by step, from kernel tracepoints (needs root and perf).

    crabcan-it/bench/breakdown.py [RUNS]

Starts a JVM that runs /bin/true in the default sandbox RUNS times (default 300, after a
warm-up), records scheduler and system call tracepoints of the whole machine with perf while
it does, and prints for each step the median and p90 of the time from the previous step, over
the runs that show every step. Tracing costs a little time per event; compare steps with each
other, not the total with the benchmark.
"""
import os, re, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
JAR = os.path.join(HERE, "..", "..", "crabcan-examples", "target", "crabcan.jar")
EVENTS = ["sched:sched_process_fork", "sched:sched_process_exec", "sched:sched_process_exit",
          "syscalls:sys_enter_sendto", "syscalls:sys_enter_sethostname", "syscalls:sys_enter_pivot_root",
          "syscalls:sys_enter_setsid", "syscalls:sys_enter_seccomp", "syscalls:sys_enter_execve",
          "syscalls:sys_exit_wait4", "syscalls:sys_enter_write"]
LOOP = """
import dev.crabcan.*;
public class BreakdownLoop {
    public static void main(String[] a) throws Exception {
        Sandbox s = Sandbox.builder().command("/bin/true").stdin(Stdio.discard()).stdout(Stdio.discard())
                .stderr(Stdio.discard()).build();
        for (int i = 0; i < 300; i++) s.run();
        System.out.println("warm");
        System.out.flush();
        Thread.sleep(1000);
        for (int i = 0, n = Integer.parseInt(a[0]); i < n; i++) s.run();
    }
}
"""

def record(runs, work):
    with open(os.path.join(work, "BreakdownLoop.java"), "w") as f:
        f.write(LOOP)
    subprocess.run(["javac", "-cp", JAR, "-d", work, os.path.join(work, "BreakdownLoop.java")], check=True)
    jvm = subprocess.Popen(["java", "-cp", JAR + ":" + work, "BreakdownLoop", str(runs)], stdout=subprocess.PIPE, text=True)
    assert jvm.stdout.readline().strip() == "warm"
    data = os.path.join(work, "perf.data")
    perf = subprocess.Popen(["perf", "record", "-q", "-a", "-o", data] + sum((["-e", e] for e in EVENTS), []),
                            stderr=subprocess.DEVNULL)
    jvm.wait()
    perf.send_signal(2)
    perf.wait()
    out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,time,event,trace"], capture_output=True, text=True)
    return out.stdout

def parse(text):
    events = []
    for line in text.splitlines():
        m = re.match(r"\s*(.+?)\s+(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)", line)
        if m:
            comm, pid, t, name, rest = m.groups()
            events.append((float(t) * 1000, comm, int(pid), name.split(":")[-1], rest))
    return events

def steps(events):
    by_pid, children = {}, {}
    for e in events:
        by_pid.setdefault(e[2], []).append(e)
        if e[3] == "sched_process_fork":
            children.setdefault(e[2], []).append((e[0], int(re.search(r"child_pid=(\d+)", e[4]).group(1))))
    def first(pid, name, after=0.0):
        return next((e[0] for e in by_pid.get(pid, []) if e[3] == name and e[0] >= after), None)
    def last(pid, name, before):
        return max((e[0] for e in by_pid.get(pid, []) if e[3] == name and e[0] <= before), default=None)
    found = []
    for init, es in by_pid.items():
        if not any(e[3] == "sys_enter_pivot_root" for e in es):
            continue
        helper = next((p for p, kids in children.items() for _, k in kids if k == init), None)
        command = next((k for _, k in children.get(init, [])), None)
        if helper is None or command is None:
            continue
        zygote, forked = next(((p, ts) for p, kids in children.items() for ts, k in kids if k == helper), (None, None))
        if zygote is None:
            continue
        t = {}
        t["zygote has the request (SANDBOX sent)"] = last(zygote, "sys_enter_sendto", forked)
        t["helper forked by the zygote"] = forked
        t["init cloned (namespaces)"] = next((ts for ts, k in children[helper] if k == init), None)
        t["helper reports PID (clone returned)"] = first(helper, "sys_enter_sendto", t["init cloned (namespaces)"] or 0)
        t["init starts setup (hostname)"] = first(init, "sys_enter_sethostname")
        t["mounts done (pivot_root)"] = first(init, "sys_enter_pivot_root")
        t["session, capabilities (setsid)"] = first(init, "sys_enter_setsid")
        t["command forked"] = next((ts for ts, k in children[init] if k == command), None)
        t["seccomp installed"] = first(command, "sys_enter_seccomp")
        t["execve called"] = first(command, "sys_enter_execve")
        t["execve done"] = first(command, "sched_process_exec")
        t["command exited"] = first(command, "sched_process_exit")
        t["init reaped it"] = first(init, "sys_exit_wait4", t["command exited"] or 0)
        t["init exited"] = first(init, "sched_process_exit")
        exited = first(helper, "sched_process_exit")
        t["helper reports END"] = last(helper, "sys_enter_sendto", exited) if exited else None
        t["helper exited"] = exited
        if all(v is not None for v in t.values()):
            found.append(t)
    return found

def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as work:
        found = steps(parse(record(runs, work)))
    if not found:
        sys.exit("no complete run found in the trace")
    names = list(found[0].keys())
    print(f"{len(found)} runs; ms from the previous step (median, p90)")
    for a, b in zip(names, names[1:]):
        d = sorted(t[b] - t[a] for t in found)
        print(f"  {b:40s} {statistics.median(d):6.2f} {d[int(len(d) * 0.9)]:6.2f}")
    total = sorted(t[names[-1]] - t[names[0]] for t in found)
    print(f"  {'request -> helper exited':40s} {statistics.median(total):6.2f} {total[int(len(total) * 0.9)]:6.2f}")

if __name__ == "__main__":
    main()
