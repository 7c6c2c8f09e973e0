package dev.crabcan.internal.seccomp;

import static dev.crabcan.ArgCondition.arg;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.ArgCondition;
import dev.crabcan.SeccompAction;
import dev.crabcan.SeccompPolicy;
import dev.crabcan.SeccompPolicy.Rule;
import dev.crabcan.Syscall;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.IntPredicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class BpfCompilerTest {

    private static final int AUDIT_ARCH_X86_64 = 0xc000003e;
    private static final int AUDIT_ARCH_I386 = 0x40000003;
    private static final int X32_BIT = 0x40000000;

    private static final int ALLOW = 0x7fff0000;
    private static final int KILL_PROCESS = 0x80000000;
    private static final int EPERM = 0x00050001;
    private static final int ENOSYS = 0x00050026;

    private static final long S_ISUID = 04000;
    private static final long S_ISGID = 02000;
    private static final long CLONE_NEWUSER = 0x10000000L;
    private static final long CLONE_NEWNS = 0x00020000L;
    private static final long CLONE_NEWNET = 0x40000000L;
    private static final long SIGCHLD = 17;
    private static final long TIOCSTI = 0x5412;

    private static final BpfInterpreter DEFAULT = new BpfInterpreter(BpfCompiler.compile(SeccompPolicy.defaultPolicy()));

    /** Written out independently of SeccompPolicy: the calls the default policy always refuses. */
    private static final Set<Syscall> ALWAYS_EPERM = EnumSet.of(
            Syscall.KEYCTL, Syscall.ADD_KEY, Syscall.REQUEST_KEY, Syscall.MBIND, Syscall.MIGRATE_PAGES,
            Syscall.MOVE_PAGES, Syscall.SET_MEMPOLICY, Syscall.USERFAULTFD, Syscall.PERF_EVENT_OPEN,
            Syscall.IO_URING_SETUP, Syscall.IO_URING_ENTER, Syscall.IO_URING_REGISTER, Syscall.PTRACE,
            Syscall.KEXEC_LOAD, Syscall.KEXEC_FILE_LOAD, Syscall.INIT_MODULE, Syscall.FINIT_MODULE,
            Syscall.DELETE_MODULE, Syscall.BPF, Syscall.OPEN_TREE, Syscall.OPEN_TREE_ATTR, Syscall.MOVE_MOUNT, Syscall.FSOPEN,
            Syscall.FSCONFIG, Syscall.FSMOUNT, Syscall.FSPICK, Syscall.MOUNT_SETATTR, Syscall.MOUNT,
            Syscall.UMOUNT2, Syscall.PIVOT_ROOT, Syscall.SWAPON, Syscall.SWAPOFF, Syscall.REBOOT, Syscall.ACCT,
            Syscall.SETTIMEOFDAY, Syscall.CLOCK_SETTIME, Syscall.CLOCK_ADJTIME, Syscall.ADJTIMEX,
            Syscall.LOOKUP_DCOOKIE, Syscall.QUOTACTL, Syscall.QUOTACTL_FD, Syscall.NAME_TO_HANDLE_AT, Syscall.OPEN_BY_HANDLE_AT,
            Syscall.VHANGUP, Syscall.NFSSERVCTL, Syscall.IOPL, Syscall.IOPERM, Syscall.SETNS);

    /** Probes around the 32-bit word boundaries and the signed/unsigned boundary. */
    private static final long[] BOUNDARY_VALUES = {
        0L, 1L, 2L, 0x7fffffffL, 0x80000000L, 0xfffffffeL, 0xffffffffL,
        0x1_00000000L, 0x1_00000001L, 0x1_ffffffffL, 0x2_00000000L, 0x2_00000001L,
        0x12345678_9abcdef0L, 0x7fffffff_ffffffffL, Long.MIN_VALUE, Long.MIN_VALUE + 1,
        0xffffffff_00000000L, 0xffffffff_00000001L, 0xffffffff_fffffffeL, -1L,
    };

    private static int run(BpfInterpreter program, Syscall syscall, long... args) {
        return program.run(AUDIT_ARCH_X86_64, syscall.x86_64(), args);
    }

    private static BpfInterpreter compile(SeccompPolicy policy) {
        return new BpfInterpreter(BpfCompiler.compile(policy));
    }

    // ---- program shape and encoding ----

    @Test
    void noneCompilesToNothing() {
        assertThat(BpfCompiler.compile(SeccompPolicy.none())).isEmpty();
    }

    @Test
    void emptyPolicyIsTheAbiChecksThenTheDefault() {
        byte[] program = BpfCompiler.compile(SeccompPolicy.builder(SeccompAction.allow()).build());

        ByteBuffer expected = ByteBuffer.allocate(7 * 8).order(ByteOrder.LITTLE_ENDIAN);
        expected.putShort((short) 0x20).put((byte) 0).put((byte) 0).putInt(4); // ld arch
        expected.putShort((short) 0x15).put((byte) 1).put((byte) 0).putInt(AUDIT_ARCH_X86_64);
        expected.putShort((short) 0x06).put((byte) 0).put((byte) 0).putInt(KILL_PROCESS);
        expected.putShort((short) 0x20).put((byte) 0).put((byte) 0).putInt(0); // ld nr
        expected.putShort((short) 0x45).put((byte) 0).put((byte) 1).putInt(X32_BIT);
        expected.putShort((short) 0x06).put((byte) 0).put((byte) 0).putInt(KILL_PROCESS);
        expected.putShort((short) 0x06).put((byte) 0).put((byte) 0).putInt(ALLOW);
        assertThat(program).isEqualTo(expected.array());
    }

    @Test
    void encodingIsLittleEndian() {
        byte[] program = BpfCompiler.compile(SeccompPolicy.builder(SeccompAction.allow()).build());

        // ld [4]: code 0x0020, jt 0, jf 0, k 4
        assertThat(List.of(program[0], program[1], program[2], program[3], program[4], program[5]))
                .containsExactly((byte) 0x20, (byte) 0, (byte) 0, (byte) 0, (byte) 4, (byte) 0);
        // jeq 0xc000003e: k stored low byte first
        assertThat(List.of(program[12], program[13], program[14], program[15]))
                .containsExactly((byte) 0x3e, (byte) 0x00, (byte) 0x00, (byte) 0xc0);
    }

    @Test
    void defaultPolicyIsAValidProgram() {
        assertThat(DEFAULT.length()).isBetween(7, BpfCompiler.MAX_INSTRUCTIONS);
    }

    // ---- ABI checks ----

    @ParameterizedTest
    @ValueSource(ints = {AUDIT_ARCH_I386, 0, 0xc00000b7 /* aarch64 */, 0x4000003e})
    void otherArchitecturesAreKilled(int arch) {
        assertThat(DEFAULT.run(arch, Syscall.READ.x86_64())).isEqualTo(KILL_PROCESS);
        assertThat(DEFAULT.run(arch, Syscall.GETPID.x86_64())).isEqualTo(KILL_PROCESS);
        BpfInterpreter allowAll = compile(SeccompPolicy.builder(SeccompAction.allow()).build());
        assertThat(allowAll.run(arch, 0)).isEqualTo(KILL_PROCESS);
    }

    @ParameterizedTest
    @EnumSource(value = Syscall.class, names = {"READ", "WRITE", "GETPID", "EXECVE", "CLONE3", "LISTNS"})
    void x32CallsAreKilledWhateverThePolicy(Syscall syscall) {
        int x32 = syscall.x86_64() | X32_BIT;
        assertThat(DEFAULT.run(AUDIT_ARCH_X86_64, x32)).isEqualTo(KILL_PROCESS);
        BpfInterpreter allowAll = compile(SeccompPolicy.builder(SeccompAction.allow()).build());
        assertThat(allowAll.run(AUDIT_ARCH_X86_64, x32)).isEqualTo(KILL_PROCESS);
        BpfInterpreter allowList = compile(SeccompPolicy.allowList(SeccompAction.errno(1), syscall));
        assertThat(allowList.run(AUDIT_ARCH_X86_64, x32)).isEqualTo(KILL_PROCESS);
    }

    @Test
    void negativeNumbersHaveTheX32BitAndAreKilled() {
        assertThat(DEFAULT.run(AUDIT_ARCH_X86_64, -1)).isEqualTo(KILL_PROCESS);
    }

    @Test
    void numbersJustBelowTheX32BitReachTheRules() {
        assertThat(DEFAULT.run(AUDIT_ARCH_X86_64, X32_BIT - 1)).isEqualTo(ALLOW);
    }

    // ---- the default policy, rule by rule ----

    static Stream<Arguments> chmodCalls() {
        return Stream.of(
                Arguments.of(Syscall.CHMOD, 1),
                Arguments.of(Syscall.FCHMOD, 1),
                Arguments.of(Syscall.FCHMODAT, 2),
                Arguments.of(Syscall.FCHMODAT2, 2));
    }

    @ParameterizedTest
    @MethodSource("chmodCalls")
    void chmodWithoutSetIdBitsIsAllowed(Syscall syscall, int modeIndex) {
        for (long mode : new long[] {0, 0755, 0644, 0777, 01777, 0x1ff, 0xffffffff_00000000L | 0755}) {
            assertThat(run(DEFAULT, syscall, withArg(modeIndex, mode)))
                    .as("%s mode %o", syscall, mode).isEqualTo(ALLOW);
        }
    }

    @ParameterizedTest
    @MethodSource("chmodCalls")
    void chmodWithSetIdBitsIsRefused(Syscall syscall, int modeIndex) {
        for (long mode : new long[] {S_ISUID, S_ISGID, 04755, 02755, 06755, 07777, 0x1_00000000L | 04755, -1L}) {
            assertThat(run(DEFAULT, syscall, withArg(modeIndex, mode)))
                    .as("%s mode %o", syscall, mode).isEqualTo(EPERM);
        }
    }

    @ParameterizedTest
    @MethodSource("chmodCalls")
    void chmodLooksAtTheModeArgumentOnly(Syscall syscall, int modeIndex) {
        long[] args = {06755, 06755, 06755, 06755, 06755, 06755};
        args[modeIndex] = 0755;
        assertThat(run(DEFAULT, syscall, args)).isEqualTo(ALLOW);
    }

    @Test
    void unshareOfAUserNamespaceIsRefused() {
        assertThat(run(DEFAULT, Syscall.UNSHARE, CLONE_NEWUSER)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.UNSHARE, CLONE_NEWUSER | CLONE_NEWNS)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.UNSHARE, 0xffffffff_10000000L)).isEqualTo(EPERM);
    }

    @Test
    void unshareOfOtherNamespacesIsAllowed() {
        assertThat(run(DEFAULT, Syscall.UNSHARE, 0)).isEqualTo(ALLOW);
        assertThat(run(DEFAULT, Syscall.UNSHARE, CLONE_NEWNS)).isEqualTo(ALLOW);
        assertThat(run(DEFAULT, Syscall.UNSHARE, CLONE_NEWNET | CLONE_NEWNS)).isEqualTo(ALLOW);
    }

    @Test
    void cloneOfAUserNamespaceIsRefused() {
        assertThat(run(DEFAULT, Syscall.CLONE, CLONE_NEWUSER | SIGCHLD)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.CLONE, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET)).isEqualTo(EPERM);
    }

    @Test
    void cloneWithoutCloneNewUserIsAllowed() {
        assertThat(run(DEFAULT, Syscall.CLONE, SIGCHLD)).isEqualTo(ALLOW);
        // glibc's fork() and pthread_create()
        assertThat(run(DEFAULT, Syscall.CLONE, 0x01200011L)).isEqualTo(ALLOW);
        assertThat(run(DEFAULT, Syscall.CLONE, 0x003d0f00L)).isEqualTo(ALLOW);
        assertThat(run(DEFAULT, Syscall.CLONE, CLONE_NEWNS | SIGCHLD)).isEqualTo(ALLOW);
        // CLONE_NEWUSER in another argument is not a flag
        assertThat(run(DEFAULT, Syscall.CLONE, SIGCHLD, CLONE_NEWUSER, CLONE_NEWUSER)).isEqualTo(ALLOW);
    }

    @Test
    void clone3FailsWithEnosysWhateverItsArguments() {
        assertThat(run(DEFAULT, Syscall.CLONE3)).isEqualTo(ENOSYS);
        assertThat(run(DEFAULT, Syscall.CLONE3, 0x7ffd_0000_1000L, 88)).isEqualTo(ENOSYS);
    }

    @ParameterizedTest
    @ValueSource(longs = {TIOCSTI, 0xffffffff_00005412L, 0x1_00005412L, 0x80000000_00005412L})
    void tiocstiIsRefusedWhateverTheUpperBits(long request) {
        assertThat(run(DEFAULT, Syscall.IOCTL, 0, request)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.IOCTL, 7, request, 0x7ffd_0000_1000L)).isEqualTo(EPERM);
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 0x5401 /* TCGETS */, 0x5413 /* TIOCGWINSZ */, 0x541b /* FIONREAD */,
        0x5411, 0x15412, 0x5412_0000L, 0xffffffff_00005413L, 0xc0045877L})
    void otherIoctlsAreAllowed(long request) {
        assertThat(run(DEFAULT, Syscall.IOCTL, 0, request)).isEqualTo(ALLOW);
    }

    @Test
    void ioctlLooksAtTheRequestArgumentOnly() {
        assertThat(run(DEFAULT, Syscall.IOCTL, TIOCSTI, 0x5401, TIOCSTI)).isEqualTo(ALLOW);
    }

    @Test
    void theTiocstiRuleNeverLoadsTheUpperHalfOfTheRequest() {
        int requestHighWord = 16 + 8 + 4;
        byte[] program = BpfCompiler.compile(SeccompPolicy.builder(SeccompAction.allow())
                .rule(Syscall.IOCTL, SeccompAction.errno(1), arg(1).maskedEq(0xffffffffL, TIOCSTI))
                .build());
        assertThat(loadOffsets(program)).contains(16 + 8).doesNotContain(requestHighWord);
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 0x8, 0x20000, 0x20008, 0xffffffffL, -1L, 0x1_00000000L, 0xffffffff_00000008L})
    void harmlessPersonalitiesAreAllowed(long persona) {
        assertThat(run(DEFAULT, Syscall.PERSONALITY, persona)).isEqualTo(ALLOW);
    }

    @Test
    void tioclinuxIsRefusedLikeTiocsti() {
        assertThat(run(DEFAULT, Syscall.IOCTL, 0, 0x541cL)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.IOCTL, 0, 0xffffffff_0000541cL)).isEqualTo(EPERM);
    }

    @Test
    void creatingSetuidFilesIsRefusedButPlainOpensAreNot() {
        long oCreat = 0100, oTmpfile = 020200000, oRdonly = 0;
        assertThat(run(DEFAULT, Syscall.OPENAT, -100, 0, oCreat | 01, 04755)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.OPENAT, -100, 0, oCreat, 02755)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.OPENAT, -100, 0, oTmpfile | 02, 04700)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.OPEN, 0, oCreat, 04755)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.CREAT, 0, 06755)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.MKNODAT, -100, 0, 0100000 | 04755, 0)).isEqualTo(EPERM);
        assertThat(run(DEFAULT, Syscall.OPENAT, -100, 0, oCreat, 0755)).isEqualTo(ALLOW);
        // Without O_CREAT the mode register holds whatever the caller left there: never refuse for it.
        assertThat(run(DEFAULT, Syscall.OPENAT, -100, 0, oRdonly, 04755)).isEqualTo(ALLOW);
        assertThat(run(DEFAULT, Syscall.OPEN, 0, oRdonly, -1L)).isEqualTo(ALLOW);
    }

    @ParameterizedTest
    @ValueSource(longs = {0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0400000 /* READ_IMPLIES_EXEC */,
        0x0040008, 0x1, 0xfffffffeL, 0x1_00040000L})
    void otherPersonalitiesAreRefused(long persona) {
        assertThat(run(DEFAULT, Syscall.PERSONALITY, persona)).isEqualTo(EPERM);
    }

    @ParameterizedTest
    @EnumSource(Syscall.class)
    void everyCallWithZeroArgumentsGetsWhatTheDocumentedListSays(Syscall syscall) {
        int expected = syscall == Syscall.CLONE3 || syscall == Syscall.OPENAT2 ? ENOSYS
                : ALWAYS_EPERM.contains(syscall) ? EPERM
                : ALLOW;
        assertThat(run(DEFAULT, syscall)).isEqualTo(expected);
    }

    @ParameterizedTest
    @EnumSource(Syscall.class)
    void alwaysRefusedCallsAreRefusedWhateverTheArguments(Syscall syscall) {
        if (ALWAYS_EPERM.contains(syscall)) {
            assertThat(run(DEFAULT, syscall, -1L, -1L, -1L, -1L, -1L, -1L)).isEqualTo(EPERM);
            assertThat(run(DEFAULT, syscall, 1, 2, 3, 4, 5, 6)).isEqualTo(EPERM);
        }
    }

    @Test
    void rulesAddedOnTopOfTheDefaultComeFirst() {
        SeccompPolicy policy = SeccompPolicy.defaultPolicy().toBuilder()
                .rule(Syscall.PTRACE, SeccompAction.allow())
                .rule(Syscall.GETPID, SeccompAction.errno(13))
                .build();
        BpfInterpreter program = compile(policy);

        assertThat(run(program, Syscall.PTRACE)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.GETPID)).isEqualTo(0x0005000d);
        assertThat(run(program, Syscall.MOUNT)).isEqualTo(EPERM);
        assertThat(run(program, Syscall.IOCTL, 0, TIOCSTI)).isEqualTo(EPERM);
    }

    // ---- comparisons ----

    enum Comparison {
        EQ(ArgCondition.Arg::eq, c -> c == 0),
        NE(ArgCondition.Arg::ne, c -> c != 0),
        LT(ArgCondition.Arg::lt, c -> c < 0),
        LE(ArgCondition.Arg::le, c -> c <= 0),
        GT(ArgCondition.Arg::gt, c -> c > 0),
        GE(ArgCondition.Arg::ge, c -> c >= 0);

        final BiFunction<ArgCondition.Arg, Long, ArgCondition> build;
        final IntPredicate holdsFor;

        Comparison(BiFunction<ArgCondition.Arg, Long, ArgCondition> build, IntPredicate holdsFor) {
            this.build = build;
            this.holdsFor = holdsFor;
        }
    }

    @ParameterizedTest
    @EnumSource(Comparison.class)
    void comparisonsAreUnsigned64Bit(Comparison comparison) {
        for (long operand : BOUNDARY_VALUES) {
            BpfInterpreter program = compile(SeccompPolicy.builder(SeccompAction.allow())
                    .rule(Syscall.READ, SeccompAction.errno(1), comparison.build.apply(arg(3), operand))
                    .build());
            for (long argument : BOUNDARY_VALUES) {
                boolean holds = comparison.holdsFor.test(Long.compareUnsigned(argument, operand));
                assertThat(run(program, Syscall.READ, 0, 0, 0, argument))
                        .as("0x%x %s 0x%x", argument, comparison, operand)
                        .isEqualTo(holds ? EPERM : ALLOW);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {0xffffffffL, 0xffffffff_00000000L, -1L, 0x80000000_00000001L, 04000,
        0x1_00000000L, 0x0000ffff_ffff0000L})
    void maskedEqualityComparesOnlyTheMaskedBits(long mask) {
        for (long value : new long[] {0, mask, mask & 0xaaaaaaaa_55555555L, mask & 0x12345678_9abcdef0L}) {
            BpfInterpreter program = compile(SeccompPolicy.builder(SeccompAction.allow())
                    .rule(Syscall.READ, SeccompAction.errno(1), arg(2).maskedEq(mask, value))
                    .build());
            List<Long> probes = new ArrayList<>();
            for (long probe : BOUNDARY_VALUES) {
                probes.add(probe);
            }
            probes.add(value);
            probes.add(value | ~mask);
            probes.add(value ^ 1);
            probes.add(value ^ Long.MIN_VALUE);
            for (long argument : probes) {
                boolean holds = (argument & mask) == value;
                assertThat(run(program, Syscall.READ, 0, 0, argument))
                        .as("0x%x & 0x%x == 0x%x", argument, mask, value)
                        .isEqualTo(holds ? EPERM : ALLOW);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4, 5})
    void eachArgumentIsReadFromItsOwnSlot(int index) {
        long value = 0x12345678_9abcdef0L;
        BpfInterpreter program = compile(SeccompPolicy.builder(SeccompAction.allow())
                .rule(Syscall.READ, SeccompAction.errno(1), arg(index).eq(value))
                .build());
        for (int position = 0; position < 6; position++) {
            assertThat(run(program, Syscall.READ, withArg(position, value)))
                    .as("value in arg%d, condition on arg%d", position, index)
                    .isEqualTo(position == index ? EPERM : ALLOW);
        }
        // Only the words of this argument, not the neighbours' halves.
        long[] swappedWords = withArg(index, 0x9abcdef0_12345678L);
        assertThat(run(program, Syscall.READ, swappedWords)).isEqualTo(ALLOW);
    }

    // ---- rule order and conditions ----

    @Test
    void theFirstMatchingRuleOfASyscallWins() {
        BpfInterpreter program = compile(SeccompPolicy.builder(SeccompAction.allow())
                .rule(Syscall.READ, SeccompAction.errno(1), arg(0).eq(1))
                .rule(Syscall.WRITE, SeccompAction.errno(4))
                .rule(Syscall.READ, SeccompAction.errno(2), arg(0).lt(10))
                .rule(Syscall.READ, SeccompAction.errno(3))
                .rule(Syscall.READ, SeccompAction.errno(5))
                .build());

        assertThat(run(program, Syscall.READ, 1)).isEqualTo(0x00050001);
        assertThat(run(program, Syscall.READ, 0)).isEqualTo(0x00050002);
        assertThat(run(program, Syscall.READ, 9)).isEqualTo(0x00050002);
        assertThat(run(program, Syscall.READ, 10)).isEqualTo(0x00050003);
        assertThat(run(program, Syscall.WRITE, 1)).isEqualTo(0x00050004);
        assertThat(run(program, Syscall.GETPID)).isEqualTo(ALLOW);
    }

    @Test
    void allConditionsOfARuleMustHold() {
        BpfInterpreter program = compile(SeccompPolicy.builder(SeccompAction.allow())
                .rule(Syscall.MMAP, SeccompAction.errno(1), arg(0).eq(0), arg(2).maskedEq(4, 4))
                .rule(Syscall.READ, SeccompAction.errno(2), arg(0).ge(10), arg(0).le(20))
                .build());

        assertThat(run(program, Syscall.MMAP, 0, 4096, 7)).isEqualTo(0x00050001);
        assertThat(run(program, Syscall.MMAP, 0, 4096, 3)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.MMAP, 0x1000, 4096, 7)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.READ, 9)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.READ, 10)).isEqualTo(0x00050002);
        assertThat(run(program, Syscall.READ, 20)).isEqualTo(0x00050002);
        assertThat(run(program, Syscall.READ, 21)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.READ, 0x1_0000000fL)).isEqualTo(ALLOW);
    }

    @Test
    void everyActionReachesTheKernel() {
        BpfInterpreter program = compile(SeccompPolicy.builder(SeccompAction.log())
                .rule(Syscall.READ, SeccompAction.killThread())
                .rule(Syscall.WRITE, SeccompAction.trap())
                .rule(Syscall.OPEN, SeccompAction.killProcess())
                .rule(Syscall.CLOSE, SeccompAction.errno(4095))
                .rule(Syscall.STAT, SeccompAction.allow())
                .build());

        assertThat(run(program, Syscall.READ)).isEqualTo(0);
        assertThat(run(program, Syscall.WRITE)).isEqualTo(0x00030000);
        assertThat(run(program, Syscall.OPEN)).isEqualTo(KILL_PROCESS);
        assertThat(run(program, Syscall.CLOSE)).isEqualTo(0x00050fff);
        assertThat(run(program, Syscall.STAT)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.GETPID)).isEqualTo(0x7ffc0000);
    }

    // ---- allow lists ----

    @Test
    void allowListAllowsOnlyItsCalls() {
        BpfInterpreter program = compile(SeccompPolicy.allowList(SeccompAction.errno(1),
                Syscall.READ, Syscall.WRITE, Syscall.EXIT_GROUP, Syscall.LISTNS));

        assertThat(run(program, Syscall.READ, 0, 0, 4096)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.WRITE)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.EXIT_GROUP)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.LISTNS)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.OPENAT)).isEqualTo(EPERM);
        assertThat(run(program, Syscall.CLONE3)).isEqualTo(EPERM);
        assertThat(program.run(AUDIT_ARCH_X86_64, 999)).isEqualTo(EPERM);
    }

    @Test
    void allowListOfEverySyscallIsFourRangesAndCorrect() {
        Set<Syscall> all = EnumSet.allOf(Syscall.class);
        BpfInterpreter program = compile(SeccompPolicy.allowList(SeccompAction.killProcess(), all));

        // Allowed 0-336, killed 337-423, allowed 424-470, killed from 471 on: after the ABI
        // checks, three comparisons and four returns.
        assertThat(program.length()).isEqualTo(6 + 3 + 4);
        for (Syscall syscall : all) {
            assertThat(run(program, syscall)).as("%s", syscall).isEqualTo(ALLOW);
            BpfInterpreter.Trace trace = program.trace(AUDIT_ARCH_X86_64, syscall.x86_64());
            assertThat(trace.steps()).as("%s", syscall).isEqualTo(4 + 2 + 1);
            assertThat(trace.readArguments()).isFalse();
        }
        assertThat(program.run(AUDIT_ARCH_X86_64, 337)).isEqualTo(KILL_PROCESS);
        assertThat(program.run(AUDIT_ARCH_X86_64, 423)).isEqualTo(KILL_PROCESS);
        assertThat(program.run(AUDIT_ARCH_X86_64, 471)).isEqualTo(KILL_PROCESS);
    }

    // ---- long programs ----

    @Test
    void aSyscallBlockLongerThan255InstructionsIsSkippedWithALongJump() {
        SeccompPolicy.Builder builder = SeccompPolicy.builder(SeccompAction.allow());
        for (int i = 0; i < 300; i++) {
            builder.rule(Syscall.IOCTL, SeccompAction.errno(i + 1), arg(1).eq(i));
        }
        // A condition gives write a block of its own, after ioctl's: its leaf jumps over it.
        builder.rule(Syscall.WRITE, SeccompAction.errno(999), arg(0).eq(0));
        byte[] bytes = BpfCompiler.compile(builder.build());
        BpfInterpreter program = new BpfInterpreter(bytes);

        assertThat(maxJumpAlways(bytes)).isGreaterThan(255);
        for (int i = 0; i < 300; i++) {
            assertThat(run(program, Syscall.IOCTL, 0, i)).isEqualTo(0x00050000 | (i + 1));
        }
        assertThat(run(program, Syscall.IOCTL, 0, 300)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.IOCTL, 0, 0x1_00000000L)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.WRITE)).isEqualTo(0x00050000 | 999);
        assertThat(run(program, Syscall.WRITE, 1)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.READ)).isEqualTo(ALLOW);
    }

    @Test
    void aRuleLongerThan255InstructionsFailsOverToTheNextRule() {
        ArgCondition[] conditions = new ArgCondition[60];
        for (int i = 0; i < conditions.length; i++) {
            conditions[i] = arg(0).ne(i + 1);
        }
        byte[] bytes = BpfCompiler.compile(SeccompPolicy.builder(SeccompAction.allow())
                .rule(Syscall.READ, SeccompAction.errno(7), conditions)
                .rule(Syscall.READ, SeccompAction.errno(8), arg(0).eq(1))
                .rule(Syscall.WRITE, SeccompAction.errno(9))
                .build());
        BpfInterpreter program = new BpfInterpreter(bytes);

        assertThat(maxJumpAlways(bytes)).isGreaterThan(255);
        assertThat(run(program, Syscall.READ, 0)).isEqualTo(0x00050007);
        assertThat(run(program, Syscall.READ, 61)).isEqualTo(0x00050007);
        assertThat(run(program, Syscall.READ, 1)).isEqualTo(0x00050008);
        assertThat(run(program, Syscall.READ, 30)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.READ, 60)).isEqualTo(ALLOW);
        assertThat(run(program, Syscall.WRITE)).isEqualTo(0x00050009);
    }

    @Test
    void manySyscallsWithConditionsChainCorrectly() {
        SeccompPolicy.Builder builder = SeccompPolicy.builder(SeccompAction.errno(2));
        List<Syscall> syscalls = List.of(Syscall.values());
        for (Syscall syscall : syscalls) {
            builder.rule(syscall, SeccompAction.allow(), arg(0).eq(syscall.x86_64()));
        }
        BpfInterpreter program = compile(builder.build());

        for (Syscall syscall : syscalls) {
            assertThat(run(program, syscall, syscall.x86_64())).as("%s", syscall).isEqualTo(ALLOW);
            assertThat(run(program, syscall, syscall.x86_64() + 1)).as("%s", syscall).isEqualTo(0x00050002);
        }
    }

    @Test
    void programsUpToTheKernelLimitCompile() {
        // One syscall, n rules with one equality each: 6 ABI-check instructions, a two-instruction
        // header (the block is long), 6 per rule (load, compare, load, compare, jump, return),
        // the block's default return and the final one: 10 + 6n, which is 4096 for n = 681.
        BpfInterpreter program = compile(oneSyscallWithEqualityRules(681));
        assertThat(program.length()).isEqualTo(BpfCompiler.MAX_INSTRUCTIONS);
        assertThat(run(program, Syscall.READ, 680)).isEqualTo(0x00050000 | 681);
        assertThat(run(program, Syscall.READ, 681)).isEqualTo(ALLOW);
    }

    @Test
    void programsOverTheKernelLimitAreRejected() {
        assertThatThrownBy(() -> BpfCompiler.compile(oneSyscallWithEqualityRules(682)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("the seccomp policy compiles to 4102 BPF instructions, more than the kernel's"
                        + " limit of 4096; use fewer rules or conditions");
    }

    @Test
    void aProgramOneInstructionOverTheLimitIsRejected() {
        // 10 + 6 * 677 = 4072, plus 5 rules of 5 instructions (load, and, compare, jump, return).
        SeccompPolicy.Builder builder = oneSyscallWithEqualityRules(677).toBuilder();
        for (int i = 0; i < 5; i++) {
            builder.rule(Syscall.READ, SeccompAction.errno(1), arg(1).maskedEq(0xff, i));
        }
        assertThatThrownBy(() -> BpfCompiler.compile(builder.build()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4097 BPF instructions");
    }

    private static SeccompPolicy oneSyscallWithEqualityRules(int count) {
        SeccompPolicy.Builder builder = SeccompPolicy.builder(SeccompAction.allow());
        for (int i = 0; i < count; i++) {
            builder.rule(Syscall.READ, SeccompAction.errno(i + 1), arg(0).eq(i));
        }
        return builder.build();
    }

    @ParameterizedTest
    @ValueSource(ints = {127, 128, 129, 130, 168})
    void aSearchTreeLongerThan255InstructionsReachesItsFarHalfWithALongJump(int count) {
        // The calls 0, 2, 4, ... allowed: 2 * count ranges, each a single return, so the root's
        // first half is 2 * count - 1 instructions long, 255 for 128 calls.
        Set<Syscall> evenNumbered = EnumSet.noneOf(Syscall.class);
        for (int i = 0; i < count; i++) {
            evenNumbered.add(Syscall.values()[2 * i]);
        }
        byte[] bytes = BpfCompiler.compile(SeccompPolicy.allowList(SeccompAction.errno(1), evenNumbered));
        BpfInterpreter program = new BpfInterpreter(bytes);

        if (count <= 128) {
            assertThat(maxJumpAlways(bytes)).isEqualTo(-1);
        } else {
            assertThat(maxJumpAlways(bytes)).isGreaterThan(255);
        }
        for (int nr = 0; nr < 600; nr++) {
            boolean allowed = nr % 2 == 0 && nr < 2 * count;
            assertThat(program.run(AUDIT_ARCH_X86_64, nr)).as("%d", nr).isEqualTo(allowed ? ALLOW : EPERM);
        }
    }

    // ---- dispatch on the syscall number ----

    static Stream<Arguments> policiesWithManyRules() {
        Set<Syscall> notRefused = EnumSet.complementOf(EnumSet.copyOf(ALWAYS_EPERM));
        notRefused.removeAll(List.of(Syscall.CLONE3, Syscall.OPENAT2));
        return Stream.of(
                Arguments.of("default policy", SeccompPolicy.defaultPolicy()),
                Arguments.of("default policy, root caller rules first", SeccompPolicy.defaultPolicy().withRootCallerRulesFirst()),
                Arguments.of("default policy and two more rules", SeccompPolicy.defaultPolicy().toBuilder()
                        .rule(Syscall.PTRACE, SeccompAction.allow())
                        .rule(Syscall.GETPID, SeccompAction.errno(13))
                        .build()),
                Arguments.of("allow list of every call",
                        SeccompPolicy.allowList(SeccompAction.killProcess(), EnumSet.allOf(Syscall.class))),
                Arguments.of("allow list of what the default policy allows",
                        SeccompPolicy.allowList(SeccompAction.errno(1), notRefused)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("policiesWithManyRules")
    void aCallWithoutARuleReachesTheDefaultInLogarithmicSteps(String name, SeccompPolicy policy) {
        Set<Integer> ruled = ruledNumbers(policy);
        BpfInterpreter program = compile(policy);

        int maxSteps = 0;
        for (int nr : unruledNumbers(ruled)) {
            BpfInterpreter.Trace trace = program.trace(AUDIT_ARCH_X86_64, nr, -1L, -1L, -1L, -1L, -1L, -1L);
            assertThat(trace.result()).as("%d", nr).isEqualTo(policy.defaultAction().returnValue());
            // So the kernel can cache the result when the default is ALLOW.
            assertThat(trace.readArguments()).as("%d", nr).isFalse();
            maxSteps = Math.max(maxSteps, trace.steps());
        }
        // 4 for the ABI checks (load, compare, load, test), about log2 comparisons, the return.
        assertThat(maxSteps).as("%d ruled syscalls", ruled.size())
                .isLessThanOrEqualTo(ceilLog2(ruled.size()) + 6);
    }

    @Test
    void callsOfTheDefaultPolicyWithoutConditionsAreDecidedFromTheNumberAlone() {
        for (Syscall syscall : Syscall.values()) {
            boolean conditional = SeccompPolicy.defaultPolicy().rules().stream()
                    .anyMatch(rule -> rule.syscall() == syscall && !rule.conditions().isEmpty());
            BpfInterpreter.Trace trace = DEFAULT.trace(AUDIT_ARCH_X86_64, syscall.x86_64());
            assertThat(trace.readArguments()).as("%s", syscall).isEqualTo(conditional);
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void anyPolicyOfUpTo100SyscallsDispatchesInLogarithmicSteps(long seed) {
        Random random = new Random(seed);
        for (int round = 0; round < 20; round++) {
            SeccompPolicy policy = randomPolicy(random, 1 + random.nextInt(150));
            Set<Integer> ruled = ruledNumbers(policy);
            if (ruled.size() > 100) {
                continue;
            }
            BpfInterpreter program = compile(policy);
            // At most 2n + 1 ranges: the gaps around n numbers.
            int bound = ceilLog2(2 * ruled.size() + 1) + 5;
            for (int nr : unruledNumbers(ruled)) {
                assertThat(program.trace(AUDIT_ARCH_X86_64, nr).steps())
                        .as("%s, nr %d", policy.rules(), nr).isLessThanOrEqualTo(bound);
            }
        }
    }

    // ---- equivalence with the policy's definition ----

    static Stream<Arguments> policiesToCompare() {
        List<Arguments> policies = new ArrayList<>();
        policiesWithManyRules().forEach(policies::add);
        Set<Syscall> everyOther = EnumSet.noneOf(Syscall.class);
        SeccompPolicy.Builder everyOtherWithConditions = SeccompPolicy.builder(SeccompAction.trap());
        for (Syscall syscall : Syscall.values()) {
            if (syscall.x86_64() % 2 == 1) {
                everyOther.add(syscall);
                everyOtherWithConditions.rule(syscall, SeccompAction.allow(), arg(0).eq(syscall.x86_64()));
            }
        }
        policies.add(Arguments.of("allow list of every other call",
                SeccompPolicy.allowList(SeccompAction.errno(1), everyOther)));
        policies.add(Arguments.of("every other call allowed on a condition", everyOtherWithConditions.build()));
        policies.add(Arguments.of("small allow list", SeccompPolicy.allowList(SeccompAction.killThread(),
                Syscall.READ, Syscall.WRITE, Syscall.EXIT_GROUP, Syscall.LISTNS)));
        policies.add(Arguments.of("empty", SeccompPolicy.builder(SeccompAction.log()).build()));
        policies.add(Arguments.of("root caller rules alone", SeccompPolicy.none().withRootCallerRulesFirst()));
        Random random = new Random(42);
        for (int i = 0; i < 40; i++) {
            policies.add(Arguments.of("random " + i, randomPolicy(random, 1 + random.nextInt(i < 20 ? 12 : 120))));
        }
        return policies.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("policiesToCompare")
    void theProgramDecidesEveryCallAsThePolicySays(String name, SeccompPolicy policy) {
        BpfInterpreter program = compile(policy);
        List<long[]> vectors = argumentVectors(policy);
        List<Integer> numbers = new ArrayList<>();
        for (Syscall syscall : Syscall.values()) {
            numbers.add(syscall.x86_64());
        }
        numbers.addAll(List.of(337, 423, 471, 472, 1000, 0xffff, X32_BIT - 1, X32_BIT, X32_BIT | 16, X32_BIT | 435,
                0x80000000, 0xbfffffff, -1));

        for (int nr : numbers) {
            for (long[] args : vectors) {
                assertThat(program.run(AUDIT_ARCH_X86_64, nr, args))
                        .as("nr %d, args %s", nr, Arrays.toString(args))
                        .isEqualTo(reference(policy, AUDIT_ARCH_X86_64, nr, args));
            }
            for (int arch : new int[] {AUDIT_ARCH_I386, 0xc00000b7}) {
                long[] args = vectors.get(0);
                assertThat(program.run(arch, nr, args)).isEqualTo(reference(policy, arch, nr, args));
            }
        }
    }

    /** What the policy says a call gets, straight from its definition. */
    private static int reference(SeccompPolicy policy, int arch, int nr, long[] args) {
        if (arch != AUDIT_ARCH_X86_64 || (nr & X32_BIT) != 0) {
            return KILL_PROCESS;
        }
        for (Rule rule : policy.rules()) {
            if (rule.syscall().x86_64() == nr
                    && rule.conditions().stream().allMatch(condition -> holds(condition, args[condition.index()]))) {
                return rule.action().returnValue();
            }
        }
        return policy.defaultAction().returnValue();
    }

    private static boolean holds(ArgCondition condition, long argument) {
        int order = Long.compareUnsigned(argument, condition.value());
        return switch (condition.op()) {
            case EQ -> argument == condition.value();
            case MASKED_EQ -> (argument & condition.mask()) == condition.value();
            case NE -> argument != condition.value();
            case LT -> order < 0;
            case LE -> order <= 0;
            case GT -> order > 0;
            case GE -> order >= 0;
        };
    }

    /**
     * Vectors that make the rules of the policy hold and fail: for each rule, one meant to meet
     * all its conditions; for each condition, its value and values next to it in its argument;
     * and a few that have nothing to do with the rules.
     */
    private static List<long[]> argumentVectors(SeccompPolicy policy) {
        Set<List<Long>> vectors = new LinkedHashSet<>();
        vectors.add(List.of(0L, 0L, 0L, 0L, 0L, 0L));
        vectors.add(List.of(-1L, -1L, -1L, -1L, -1L, -1L));
        vectors.add(List.of(1L, 2L, 3L, 4L, 5L, 6L));
        vectors.add(List.of(0x12345678_9abcdef0L, 0x80000000L, 0x1_00000000L, 04755L, 06755L, 0xffffffffL));
        for (Rule rule : policy.rules()) {
            long[] meeting = new long[6];
            boolean[] set = new boolean[6];
            for (ArgCondition condition : rule.conditions()) {
                long value = condition.value();
                long[] candidates = {
                    value, value ^ 1, value | ~condition.mask(), value + 1, value - 1, value ^ Long.MIN_VALUE,
                };
                for (long candidate : candidates) {
                    long[] vector = new long[6];
                    vector[condition.index()] = candidate;
                    vectors.add(toList(vector));
                }
                if (!set[condition.index()]) {
                    set[condition.index()] = true;
                    meeting[condition.index()] = switch (condition.op()) {
                        case GT, NE -> value + 1;
                        case LT -> value - 1;
                        default -> value;
                    };
                }
            }
            vectors.add(toList(meeting));
        }
        List<long[]> result = new ArrayList<>();
        for (List<Long> vector : vectors) {
            result.add(vector.stream().mapToLong(Long::longValue).toArray());
        }
        return result;
    }

    private static List<Long> toList(long[] vector) {
        return Arrays.stream(vector).boxed().toList();
    }

    private static final SeccompAction[] RANDOM_ACTIONS = {
        SeccompAction.allow(), SeccompAction.errno(1), SeccompAction.errno(38), SeccompAction.killProcess(),
        SeccompAction.trap(), SeccompAction.log(),
    };

    private static final long[] RANDOM_VALUES = {
        0, 1, 2, 5, 0x5412, 04000, 02000, 0x7fffffffL, 0x80000000L, 0xffffffffL, 0x1_00000000L,
        0x1_00000001L, 0x12345678_9abcdef0L, Long.MIN_VALUE, -2L, -1L,
    };

    /**
     * A policy of {@code ruleCount} rules drawn from small sets of syscalls, actions and values,
     * so that rules of one syscall pile up, neighbouring numbers get the same code and different
     * syscalls get the same block.
     */
    private static SeccompPolicy randomPolicy(Random random, int ruleCount) {
        Syscall[] syscalls = Syscall.values();
        int window = random.nextInt(syscalls.length - 10);
        SeccompAction defaultAction = RANDOM_ACTIONS[random.nextInt(RANDOM_ACTIONS.length)];
        SeccompPolicy.Builder builder = SeccompPolicy.builder(defaultAction);
        for (int i = 0; i < ruleCount; i++) {
            Syscall syscall = random.nextBoolean()
                    ? syscalls[window + random.nextInt(10)]
                    : syscalls[random.nextInt(syscalls.length)];
            ArgCondition[] conditions = new ArgCondition[random.nextInt(4)];
            for (int c = 0; c < conditions.length; c++) {
                ArgCondition.Arg argument = arg(random.nextInt(6));
                long value = RANDOM_VALUES[random.nextInt(RANDOM_VALUES.length)];
                conditions[c] = switch (random.nextInt(7)) {
                    case 0 -> argument.eq(value);
                    case 1 -> argument.ne(value);
                    case 2 -> argument.lt(value);
                    case 3 -> argument.le(value);
                    case 4 -> argument.gt(value);
                    case 5 -> argument.ge(value);
                    default -> {
                        long mask = RANDOM_VALUES[1 + random.nextInt(RANDOM_VALUES.length - 1)];
                        yield argument.maskedEq(mask, value & mask);
                    }
                };
            }
            builder.rule(syscall, RANDOM_ACTIONS[random.nextInt(RANDOM_ACTIONS.length)], conditions);
        }
        return builder.build();
    }

    private static Set<Integer> ruledNumbers(SeccompPolicy policy) {
        Set<Integer> numbers = new HashSet<>();
        for (Rule rule : policy.rules()) {
            numbers.add(rule.syscall().x86_64());
        }
        return numbers;
    }

    /** Every number up to 600 that no rule names, and a few far above. */
    private static List<Integer> unruledNumbers(Set<Integer> ruled) {
        List<Integer> numbers = new ArrayList<>();
        for (int nr = 0; nr < 600; nr++) {
            if (!ruled.contains(nr)) {
                numbers.add(nr);
            }
        }
        numbers.addAll(List.of(0xffff, X32_BIT - 1, 0x80000000, 0xbfffffff));
        return numbers;
    }

    private static int ceilLog2(int n) {
        return n <= 1 ? 0 : 32 - Integer.numberOfLeadingZeros(n - 1);
    }

    // ---- helpers ----

    private static long[] withArg(int index, long value) {
        long[] args = new long[6];
        args[index] = value;
        return args;
    }

    private static List<Integer> loadOffsets(byte[] program) {
        List<Integer> offsets = new ArrayList<>();
        ByteBuffer buffer = ByteBuffer.wrap(program).order(ByteOrder.LITTLE_ENDIAN);
        while (buffer.hasRemaining()) {
            int code = Short.toUnsignedInt(buffer.getShort());
            buffer.getShort();
            int k = buffer.getInt();
            if (code == BpfInterpreter.LD_W_ABS) {
                offsets.add(k);
            }
        }
        return offsets;
    }

    private static int maxJumpAlways(byte[] program) {
        int max = -1;
        ByteBuffer buffer = ByteBuffer.wrap(program).order(ByteOrder.LITTLE_ENDIAN);
        while (buffer.hasRemaining()) {
            int code = Short.toUnsignedInt(buffer.getShort());
            buffer.getShort();
            int k = buffer.getInt();
            if (code == BpfInterpreter.JMP_JA) {
                max = Math.max(max, k);
            }
        }
        return max;
    }
}
