import { readdirSync, readFileSync } from "node:fs";

/** Kernel clock ticks per second, as /proc reports CPU time in (USER_HZ, 100 on Linux). */
const ticksPerSecond = 100;

interface ProcStat {
  readonly parent: number;
  /** utime + stime, in ticks. */
  readonly own: number;
  /** cutime + cstime: children that ended and were waited for, in ticks. */
  readonly children: number;
}

function statOf(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name may hold spaces: the fields start after its closing parenthesis.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const field = (n: number) => Number(fields[n - 3]);
  return { parent: field(4), own: field(14) + field(15), children: field(16) + field(17) };
}

/**
 * cpuSecondsOf is the CPU time, in seconds, that processes have used so far: each process
 * given, and, for a tree root such as PostgreSQL's postmaster, its live children plus the
 * children it has reaped (so a backend that exits between two readings is still counted).
 */
export function cpuSecondsOf(pids: readonly number[], treeRoots: readonly number[] = []): number {
  let ticks = 0;
  for (const pid of pids) ticks += statOf(pid)?.own ?? 0;
  if (treeRoots.length > 0) {
    for (const entry of readdirSync("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      const stat = statOf(pid);
      if (stat && treeRoots.includes(stat.parent)) ticks += stat.own;
    }
    for (const root of treeRoots) {
      const stat = statOf(root);
      ticks += (stat?.own ?? 0) + (stat?.children ?? 0);
    }
  }
  return ticks / ticksPerSecond;
}
