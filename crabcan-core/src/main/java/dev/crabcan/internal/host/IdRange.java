package dev.crabcan.internal.host;

import dev.crabcan.UnsupportedHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The host ids reserved for root callers' sandboxes: each sandbox gets one of them, as its uid and
 * its gid, for as long as it lives (see {@link HostIds}).
 *
 * <p>Where it comes from, first found first: the system property {@value #PROPERTY}, the
 * environment variable {@value #ENV} (either {@code START-END}, both included, or
 * {@code START:COUNT} as in /etc/subuid), the entries of the user {@value #SUBID_USER} in
 * /etc/subuid and /etc/subgid (both present, one each, and the same), or the default
 * {@code 2000000000-2000065535}.
 *
 * <p>The default lies where no common allocator hands out ids: above what {@code useradd}
 * gives to /etc/subuid by default (100000-600100000), above systemd's ranges (DynamicUser
 * 61184-65519, nobody 65534, nspawn containers 524288-1879048191), below its "foreign" range
 * (2147352576-2147418111), and below 2^31, from which on ids break many tools (and Java's int).
 * A host that hands out ids there anyway (a Kubernetes node running pods in user namespaces,
 * whose kubelet uses any id above 65535 unless it has its own /etc/subuid entry) must give
 * Crabcan a range of its own.
 *
 * <p>A range is refused if it includes 0, 65534 (nobody), 65535 (the 16-bit -1) or an id at or
 * above 2^31, or overlaps a user of /etc/passwd, a group of /etc/group, or another user's
 * entry in /etc/subuid or /etc/subgid.
 */
public record IdRange(int first, int count, String setting) {
    public static final String PROPERTY = "crabcan.idRange";
    public static final String ENV = "CRABCAN_ID_RANGE";
    public static final String SUBID_USER = "crabcan";
    public static final IdRange DEFAULT = new IdRange(2_000_000_000, 65536, "Crabcan's default id range");

    /** Compiled by the first configured range, not by every JVM's first sandbox. */
    private static final class Patterns {
        static final Pattern RANGE = Pattern.compile("(\\d{1,10})([-:])(\\d{1,10})");
    }
    private static final String HOW_TO_SET = "set -D" + PROPERTY + "=START-END (or " + ENV
            + "=START-END, or give the user " + SUBID_USER + " one entry in both /etc/subuid and /etc/subgid) to "
            + "ids that no user, group, container engine or service on this host uses";

    /** The last id of the range. */
    public int last() {
        return first + count - 1;
    }

    public boolean contains(long id) {
        return id >= first && id <= last();
    }

    private String described() {
        return setting + " (ids " + first + "-" + last() + ")";
    }

    @Override
    public String toString() {
        return first + "-" + last() + " (" + setting + ")";
    }

    /** The host files a range is checked against, as text ("" for a file that does not exist). */
    public record HostFiles(String passwd, String group, String subuid, String subgid) {}

    /** The range the settings give (property, then environment, then /etc/subuid and /etc/subgid, then the default), checked. */
    static IdRange resolve(String property, String env, HostFiles files) throws UnsupportedHostException {
        IdRange range;
        if (property != null) {
            range = parse(property, "-D" + PROPERTY + "=" + property);
        } else if (env != null) {
            range = parse(env, ENV + "=" + env);
        } else {
            range = fromSubIds(files.subuid(), files.subgid());
            if (range == null) {
                range = DEFAULT;
            }
        }
        check(range, files);
        return range;
    }

    /** The range a client was built with (Crabcan.Builder.hostIdRange), checked as the configured ones are. */
    static IdRange configured(String value, HostFiles files) throws UnsupportedHostException {
        IdRange range = parse(value, "Crabcan.Builder.hostIdRange (" + value + ")");
        check(range, files);
        return range;
    }

    /** {@code START-END} (both included) or {@code START:COUNT}; setting names where the value came from. */
    static IdRange parse(String value, String setting) throws UnsupportedHostException {
        Matcher m = Patterns.RANGE.matcher(value.trim());
        if (!m.matches()) {
            throw invalid(setting, "is not START-END or START:COUNT (decimal host ids)");
        }
        long first = Long.parseLong(m.group(1));
        long other = Long.parseLong(m.group(3));
        long count = m.group(2).equals("-") ? other - first + 1 : other;
        if (count < 1) {
            throw invalid(setting, "is empty");
        }
        return checkedBounds(first, count, setting);
    }

    /**
     * The entries of {@value #SUBID_USER} in /etc/subuid and /etc/subgid (name:start:count), or
     * null when neither file has one.
     */
    static IdRange fromSubIds(String subuid, String subgid) throws UnsupportedHostException {
        List<long[]> uids = entries(subuid, SUBID_USER);
        List<long[]> gids = entries(subgid, SUBID_USER);
        if (uids.isEmpty() && gids.isEmpty()) {
            return null;
        }
        String setting = "the entries of " + SUBID_USER + " in /etc/subuid and /etc/subgid";
        if (uids.size() != 1 || gids.size() != 1) {
            throw invalid(setting, "must be one line in each file (/etc/subuid has " + uids.size()
                    + ", /etc/subgid has " + gids.size() + "): a sandbox's uid and gid are the same number");
        }
        long[] u = uids.get(0);
        long[] g = gids.get(0);
        if (u[0] != g[0] || u[1] != g[1]) {
            throw invalid(setting, "differ (" + SUBID_USER + ":" + u[0] + ":" + u[1] + " in /etc/subuid, "
                    + SUBID_USER + ":" + g[0] + ":" + g[1] + " in /etc/subgid); a sandbox's uid and gid are the same "
                    + "number, so both must give the same range");
        }
        if (u[0] < 0 || u[1] < 1) {
            throw invalid(setting, "are malformed or give no ids (" + SUBID_USER + ":" + u[0] + ":" + u[1] + ")");
        }
        return checkedBounds(u[0], u[1], setting + " (" + SUBID_USER + ":" + u[0] + ":" + u[1] + ")");
    }

    private static IdRange checkedBounds(long first, long count, String setting) throws UnsupportedHostException {
        long last = first + count - 1;
        if (first <= 0) {
            throw invalid(setting, "includes 0, host root");
        }
        if (last > Integer.MAX_VALUE) {
            throw invalid(setting, "reaches " + last + ": ids from 2^31 (2147483648) on break many tools and "
                    + "are refused");
        }
        return new IdRange((int) first, (int) count, setting);
    }

    /** The range against the host's users, groups and other users' subordinate ids. */
    static void check(IdRange r, HostFiles files) throws UnsupportedHostException {
        for (int id : new int[] {65534, 65535}) {
            if (r.contains(id)) {
                throw invalid(r.described(), "includes " + id
                        + (id == 65534 ? " (nobody, which host daemons run as)" : " (the 16-bit -1)"));
            }
        }
        conflict(r, files.passwd(), 2, "/etc/passwd", "user");
        conflict(r, files.group(), 2, "/etc/group", "group");
        for (String[] f : new String[][] {{files.subuid(), "/etc/subuid"}, {files.subgid(), "/etc/subgid"}}) {
            for (String line : f[0].split("\n")) {
                String[] e = line.trim().split(":");
                if (e.length == 3 && !e[0].equals(SUBID_USER) && !line.trim().startsWith("#")) {
                    long start = number(e[1]);
                    long last = start + number(e[2]) - 1;
                    if (start >= 0 && last >= start && start <= r.last() && last >= r.first) {
                        throw invalid(r.described(), "overlaps the entry " + line.trim()
                                + " in " + f[1] + ": those ids belong to " + e[0] + "'s containers");
                    }
                }
            }
        }
    }

    /** An id of a users or groups file (the field at that index) inside the range. */
    private static void conflict(IdRange r, String file, int field, String name, String what)
            throws UnsupportedHostException {
        for (long[] e : idsOf(file, field)) {
            if (r.contains(e[0])) {
                String entry = file.split("\n")[(int) e[1]].split(":")[0];
                throw invalid(r.described(), "includes " + e[0] + ", the id of the "
                        + what + " " + entry + " in " + name);
            }
        }
    }

    /** The ids of a users or groups file with the line each is on. */
    static List<long[]> idsOf(String file, int field) {
        List<long[]> ids = new ArrayList<>();
        String[] lines = file.split("\n");
        for (int i = 0; i < lines.length; i++) {
            String[] e = lines[i].split(":");
            if (e.length > field && !lines[i].startsWith("#")) {
                long id = number(e[field]);
                if (id >= 0) {
                    ids.add(new long[] {id, i});
                }
            }
        }
        return ids;
    }

    /** start and count of each entry of user in a subordinate id file. */
    private static List<long[]> entries(String file, String user) {
        List<long[]> found = new ArrayList<>();
        for (String line : file.split("\n")) {
            String[] e = line.trim().split(":");
            if (e.length == 3 && e[0].equals(user)) {
                found.add(new long[] {number(e[1]), number(e[2])});
            }
        }
        return found;
    }

    /** A decimal id, or -1 if the text is none. */
    private static long number(String s) {
        if (s.isEmpty() || s.length() > 10) {
            return -1;
        }
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '9') {
                return -1;
            }
        }
        return Long.parseLong(s);
    }

    private static UnsupportedHostException invalid(String setting, String why) {
        return new UnsupportedHostException("the host ids for root callers' sandboxes: " + setting + " " + why
                + "; " + HOW_TO_SET);
    }
}
