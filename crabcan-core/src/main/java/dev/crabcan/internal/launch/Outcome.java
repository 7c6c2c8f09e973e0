package dev.crabcan.internal.launch;

import dev.crabcan.ExitStatus;

/**
 * How a sandbox ended, as the helper saw it.
 *
 * @param status the command's exit status
 * @param userMicros user CPU time of the command and the children it waited for
 * @param systemMicros system CPU time, likewise
 * @param maxRssKb the largest resident set of those processes, in KiB
 * @param wallMicros the command's wall time from its execve to its end, as init measured it; -1
 *     when not measured
 * @param reportedByInit false when the sandbox was killed before init could report (the
 *     status is then SIGKILL, and the times, the resident set and the wall time are unknown and
 *     zero or -1 here)
 * @param helperLost why the sandbox ended without init's report through no doing of the caller's,
 *     or null: the helper vanished without saying how it ended (it was killed, say; the sandbox
 *     is then gone too, by its parent-death signal), or killed it and said why (a FAIL line after
 *     the start)
 */
public record Outcome(ExitStatus status, long userMicros, long systemMicros, long maxRssKb, long wallMicros,
        boolean reportedByInit, String helperLost) {

    /** An end init did not report: only the status is known. */
    static Outcome unreported(ExitStatus status, String helperLost) {
        return new Outcome(status, 0, 0, 0, -1, false, helperLost);
    }
}
