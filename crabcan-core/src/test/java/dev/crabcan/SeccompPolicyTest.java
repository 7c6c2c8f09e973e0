package dev.crabcan;

import static dev.crabcan.ArgCondition.arg;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.SeccompPolicy.Rule;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SeccompPolicyTest {

    private static final SeccompAction EPERM = SeccompAction.errno(1);

    // ---- Syscall ----

    @ParameterizedTest
    @CsvSource({
        "READ, 0", "WRITE, 1", "OPEN, 2", "IOCTL, 16", "CLONE, 56", "EXECVE, 59", "CHMOD, 90", "FCHMOD, 91",
        "PTRACE, 101", "PERSONALITY, 135", "_SYSCTL, 156", "MOUNT, 165", "UMOUNT2, 166", "NFSSERVCTL, 180",
        "FCHMODAT, 268", "UNSHARE, 272", "SETNS, 308", "BPF, 321", "USERFAULTFD, 323", "RSEQ, 334",
        "URETPROBE, 335", "UPROBE, 336", "PIDFD_SEND_SIGNAL, 424", "IO_URING_SETUP, 425",
        "IO_URING_ENTER, 426", "IO_URING_REGISTER, 427", "OPEN_TREE, 428", "MOVE_MOUNT, 429",
        "FSOPEN, 430", "FSCONFIG, 431", "FSMOUNT, 432", "FSPICK, 433", "CLONE3, 435",
        "MOUNT_SETATTR, 442", "QUOTACTL_FD, 443", "LANDLOCK_CREATE_RULESET, 444",
        "LANDLOCK_ADD_RULE, 445", "LANDLOCK_RESTRICT_SELF, 446", "SET_MEMPOLICY_HOME_NODE, 450",
        "CACHESTAT, 451", "FCHMODAT2, 452", "MAP_SHADOW_STACK, 453", "FUTEX_WAKE, 454",
        "FUTEX_WAIT, 455", "FUTEX_REQUEUE, 456", "STATMOUNT, 457", "LISTMOUNT, 458",
        "LSM_GET_SELF_ATTR, 459", "LSM_SET_SELF_ATTR, 460", "LSM_LIST_MODULES, 461", "MSEAL, 462",
        "SETXATTRAT, 463", "GETXATTRAT, 464", "LISTXATTRAT, 465", "REMOVEXATTRAT, 466",
        "OPEN_TREE_ATTR, 467", "FILE_GETATTR, 468", "FILE_SETATTR, 469", "LISTNS, 470",
    })
    void syscallsCarryTheirX8664Numbers(Syscall syscall, int number) {
        assertThat(syscall.x86_64()).isEqualTo(number);
    }

    @Test
    void syscallNumbersCoverTheTableWithoutGapsOrDuplicates() {
        Set<Integer> numbers = Arrays.stream(Syscall.values()).map(Syscall::x86_64).collect(Collectors.toSet());
        Set<Integer> expected = new HashSet<>();
        for (int nr = 0; nr <= 336; nr++) {
            expected.add(nr);
        }
        for (int nr = 424; nr <= 470; nr++) {
            expected.add(nr);
        }
        assertThat(numbers).isEqualTo(expected);
        assertThat(Syscall.values()).hasSize(expected.size());
    }

    @Test
    void syscallsAreFoundByKernelName() {
        assertThat(Syscall.byName("clone3")).contains(Syscall.CLONE3);
        assertThat(Syscall.byName("io_uring_setup")).contains(Syscall.IO_URING_SETUP);
        assertThat(Syscall.byName("_sysctl")).contains(Syscall._SYSCTL);
        assertThat(Syscall.byName("CLONE3")).contains(Syscall.CLONE3);
        assertThat(Syscall.byName("clone4")).isEmpty();
        assertThat(Syscall.byName("")).isEmpty();
        assertThatThrownBy(() -> Syscall.byName(null)).isInstanceOf(NullPointerException.class);
        for (Syscall syscall : Syscall.values()) {
            assertThat(Syscall.byName(syscall.kernelName())).contains(syscall);
        }
    }

    @Test
    void kernelNamesAreLowerCase() {
        assertThat(Syscall.FCHMODAT2.kernelName()).isEqualTo("fchmodat2");
        assertThat(Syscall.LSM_LIST_MODULES.kernelName()).isEqualTo("lsm_list_modules");
    }

    // ---- SeccompAction ----

    @Test
    void actionsUseTheKernelEncodings() {
        assertThat(SeccompAction.allow().returnValue()).isEqualTo(0x7fff0000);
        assertThat(SeccompAction.killProcess().returnValue()).isEqualTo(0x80000000);
        assertThat(SeccompAction.killThread().returnValue()).isEqualTo(0);
        assertThat(SeccompAction.trap().returnValue()).isEqualTo(0x00030000);
        assertThat(SeccompAction.log().returnValue()).isEqualTo(0x7ffc0000);
        assertThat(SeccompAction.errno(1).returnValue()).isEqualTo(0x00050001);
        assertThat(SeccompAction.errno(38).returnValue()).isEqualTo(0x00050026);
        assertThat(SeccompAction.errno(4095).returnValue()).isEqualTo(0x00050fff);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1, 4096, Integer.MIN_VALUE, Integer.MAX_VALUE})
    void errnoOutOfRangeIsRejected(int errno) {
        assertThatThrownBy(() -> SeccompAction.errno(errno))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("errno must be between 1 and 4095, got " + errno);
    }

    @Test
    void actionsAreValues() {
        assertThat(SeccompAction.errno(13)).isEqualTo(SeccompAction.errno(13))
                .hasSameHashCodeAs(SeccompAction.errno(13))
                .isNotEqualTo(SeccompAction.errno(14))
                .isNotEqualTo(SeccompAction.allow());
        assertThat(SeccompAction.allow()).isEqualTo(SeccompAction.allow());
        assertThat(SeccompAction.errno(38)).hasToString("ERRNO(38)");
        assertThat(SeccompAction.allow()).hasToString("ALLOW");
        assertThat(SeccompAction.killProcess()).hasToString("KILL_PROCESS");
        assertThat(SeccompAction.killThread()).hasToString("KILL_THREAD");
        assertThat(SeccompAction.trap()).hasToString("TRAP");
        assertThat(SeccompAction.log()).hasToString("LOG");
    }

    // ---- ArgCondition ----

    @ParameterizedTest
    @ValueSource(ints = {-1, 6, 100, Integer.MIN_VALUE})
    void argumentIndexOutOfRangeIsRejected(int index) {
        assertThatThrownBy(() -> arg(index))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("argument index must be between 0 and 5, got " + index);
    }

    @Test
    void conditionsRememberWhatTheyCompare() {
        ArgCondition lt = arg(5).lt(-1L);
        assertThat(lt.index()).isEqualTo(5);
        assertThat(lt.op()).isEqualTo(ArgCondition.Op.LT);
        assertThat(lt.value()).isEqualTo(-1L);
        assertThat(lt.mask()).isEqualTo(-1L);

        ArgCondition masked = arg(1).maskedEq(0xffffffffL, 0x5412);
        assertThat(masked.op()).isEqualTo(ArgCondition.Op.MASKED_EQ);
        assertThat(masked.mask()).isEqualTo(0xffffffffL);
        assertThat(masked.value()).isEqualTo(0x5412);

        assertThat(arg(0).eq(1).op()).isEqualTo(ArgCondition.Op.EQ);
        assertThat(arg(0).ne(1).op()).isEqualTo(ArgCondition.Op.NE);
        assertThat(arg(0).le(1).op()).isEqualTo(ArgCondition.Op.LE);
        assertThat(arg(0).gt(1).op()).isEqualTo(ArgCondition.Op.GT);
        assertThat(arg(0).ge(1).op()).isEqualTo(ArgCondition.Op.GE);
    }

    @Test
    void conditionsAreValues() {
        assertThat(arg(1).eq(7)).isEqualTo(arg(1).eq(7)).hasSameHashCodeAs(arg(1).eq(7))
                .isNotEqualTo(arg(2).eq(7))
                .isNotEqualTo(arg(1).ne(7))
                .isNotEqualTo(arg(1).eq(8));
        assertThat(arg(1).maskedEq(0xf0, 0x10)).isNotEqualTo(arg(1).maskedEq(0xff, 0x10));
        assertThat(arg(1).maskedEq(0xffffffffL, 0x5412)).hasToString("arg1 & 0xffffffff == 0x5412");
        assertThat(arg(0).le(-1L)).hasToString("arg0 <= 0xffffffffffffffff");
    }

    @Test
    void maskedEqualityWithAZeroMaskIsRejected() {
        assertThatThrownBy(() -> arg(2).maskedEq(0, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("mask of arg2 must not be 0: the condition would always hold");
    }

    @Test
    void maskedEqualityWithValueBitsOutsideTheMaskIsRejected() {
        assertThatThrownBy(() -> arg(1).maskedEq(0xff, 0x100))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("value 0x100 of arg1 has bits outside mask 0xff: the condition would never hold");
    }

    // ---- SeccompPolicy ----

    @Test
    void noneIsNoFilter() {
        SeccompPolicy none = SeccompPolicy.none();
        assertThat(none.isNone()).isTrue();
        assertThat(none.rules()).isEmpty();
        assertThat(none.defaultAction()).isEqualTo(SeccompAction.allow());
        assertThat(none).hasToString("SeccompPolicy[none]");
    }

    @Test
    void noneIsNotAnEmptyFilter() {
        SeccompPolicy empty = SeccompPolicy.builder(SeccompAction.allow()).build();
        assertThat(empty.isNone()).isFalse();
        assertThat(empty).isNotEqualTo(SeccompPolicy.none());
        assertThat(SeccompPolicy.none().toBuilder().build()).isEqualTo(empty);
    }

    @Test
    void defaultPolicyAllowsByDefaultAndHasTheDocumentedRules() {
        SeccompPolicy policy = SeccompPolicy.defaultPolicy();
        assertThat(policy.isNone()).isFalse();
        assertThat(policy.defaultAction()).isEqualTo(SeccompAction.allow());
        assertThat(policy.rules()).contains(
                new Rule(Syscall.CHMOD, EPERM, List.of(arg(1).maskedEq(04000, 04000))),
                new Rule(Syscall.CHMOD, EPERM, List.of(arg(1).maskedEq(02000, 02000))),
                new Rule(Syscall.FCHMOD, EPERM, List.of(arg(1).maskedEq(04000, 04000))),
                new Rule(Syscall.FCHMOD, EPERM, List.of(arg(1).maskedEq(02000, 02000))),
                new Rule(Syscall.FCHMODAT, EPERM, List.of(arg(2).maskedEq(04000, 04000))),
                new Rule(Syscall.FCHMODAT, EPERM, List.of(arg(2).maskedEq(02000, 02000))),
                new Rule(Syscall.FCHMODAT2, EPERM, List.of(arg(2).maskedEq(04000, 04000))),
                new Rule(Syscall.FCHMODAT2, EPERM, List.of(arg(2).maskedEq(02000, 02000))),
                new Rule(Syscall.UNSHARE, EPERM, List.of(arg(0).maskedEq(0x10000000L, 0x10000000L))),
                new Rule(Syscall.CLONE, EPERM, List.of(arg(0).maskedEq(0x10000000L, 0x10000000L))),
                new Rule(Syscall.IOCTL, EPERM, List.of(arg(1).maskedEq(0xffffffffL, 0x5412))),
                new Rule(Syscall.CLONE3, SeccompAction.errno(38), List.of()),
                new Rule(Syscall.IO_URING_SETUP, EPERM, List.of()),
                new Rule(Syscall.MOUNT, EPERM, List.of()),
                new Rule(Syscall.SETNS, EPERM, List.of()));
        assertThat(policy).hasToString("SeccompPolicy[default=ALLOW, " + policy.rules().size() + " rules]");
    }

    @Test
    void defaultPolicyRefusesPersonalityOnlyAfterTheAllowedValues() {
        List<Rule> personality = SeccompPolicy.defaultPolicy().rules().stream()
                .filter(rule -> rule.syscall() == Syscall.PERSONALITY)
                .collect(Collectors.toList());
        assertThat(personality).last().isEqualTo(new Rule(Syscall.PERSONALITY, EPERM, List.of()));
        assertThat(personality.subList(0, personality.size() - 1))
                .allSatisfy(rule -> assertThat(rule.action()).isEqualTo(SeccompAction.allow()));
    }

    @Test
    void rulesCannotBeModified() {
        SeccompPolicy policy = SeccompPolicy.defaultPolicy();
        assertThatThrownBy(() -> policy.rules().clear()).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> policy.rules().get(0).conditions().clear())
                .isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void aRuleCopiesItsConditions() {
        List<ArgCondition> conditions = new ArrayList<>(List.of(arg(0).eq(1)));
        Rule rule = new Rule(Syscall.READ, EPERM, conditions);
        conditions.add(arg(1).eq(2));
        assertThat(rule.conditions()).containsExactly(arg(0).eq(1));
    }

    @Test
    void builderKeepsRulesInOrder() {
        SeccompPolicy policy = SeccompPolicy.builder(SeccompAction.killProcess())
                .rule(Syscall.READ, SeccompAction.allow(), arg(0).eq(0), arg(2).lt(4096))
                .rule(Syscall.WRITE, SeccompAction.allow())
                .rule(Syscall.READ, EPERM)
                .build();

        assertThat(policy.defaultAction()).isEqualTo(SeccompAction.killProcess());
        assertThat(policy.rules()).containsExactly(
                new Rule(Syscall.READ, SeccompAction.allow(), List.of(arg(0).eq(0), arg(2).lt(4096))),
                new Rule(Syscall.WRITE, SeccompAction.allow(), List.of()),
                new Rule(Syscall.READ, EPERM, List.of()));
    }

    @Test
    void aBuiltPolicyDoesNotChangeWhenTheBuilderGoesOn() {
        SeccompPolicy.Builder builder = SeccompPolicy.builder(SeccompAction.allow()).rule(Syscall.READ, EPERM);
        SeccompPolicy first = builder.build();
        builder.rule(Syscall.WRITE, EPERM);
        assertThat(first.rules()).hasSize(1);
        assertThat(builder.build().rules()).hasSize(2);
    }

    @Test
    void toBuilderPutsAddedRulesBeforeTheExistingOnes() {
        SeccompPolicy base = SeccompPolicy.defaultPolicy();
        SeccompPolicy extended = base.toBuilder()
                .rule(Syscall.PTRACE, SeccompAction.allow())
                .rule(Syscall.GETPID, EPERM)
                .build();

        assertThat(extended.defaultAction()).isEqualTo(base.defaultAction());
        assertThat(extended.rules()).hasSize(base.rules().size() + 2);
        assertThat(extended.rules().subList(0, 2)).containsExactly(
                new Rule(Syscall.PTRACE, SeccompAction.allow(), List.of()),
                new Rule(Syscall.GETPID, EPERM, List.of()));
        assertThat(extended.rules().subList(2, extended.rules().size())).isEqualTo(base.rules());
        assertThat(base).isEqualTo(SeccompPolicy.defaultPolicy());
    }

    @Test
    void builderRejectsANullSyscall() {
        assertThatThrownBy(() -> SeccompPolicy.builder(SeccompAction.allow()).rule(null, EPERM))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("syscall of a seccomp rule must not be null");
    }

    @Test
    void builderRejectsANullAction() {
        assertThatThrownBy(() -> SeccompPolicy.builder(SeccompAction.allow()).rule(Syscall.READ, null))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("action of the rule for read must not be null");
    }

    @Test
    void builderRejectsANullCondition() {
        assertThatThrownBy(() -> SeccompPolicy.builder(SeccompAction.allow())
                        .rule(Syscall.IOCTL, EPERM, arg(0).eq(1), null))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("condition 1 of the rule for ioctl is null");
    }

    @Test
    void builderRejectsANullDefaultAction() {
        assertThatThrownBy(() -> SeccompPolicy.builder(null))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("defaultAction");
    }

    @Test
    void allowListAllowsEachCallOnceInNumberOrder() {
        SeccompPolicy policy = SeccompPolicy.allowList(EPERM, Syscall.WRITE, Syscall.READ, Syscall.WRITE);

        assertThat(policy.defaultAction()).isEqualTo(EPERM);
        assertThat(policy.rules()).containsExactly(
                new Rule(Syscall.READ, SeccompAction.allow(), List.of()),
                new Rule(Syscall.WRITE, SeccompAction.allow(), List.of()));
        assertThat(SeccompPolicy.allowList(EPERM, Set.of(Syscall.READ, Syscall.WRITE))).isEqualTo(policy);
        assertThat(SeccompPolicy.allowList(EPERM, EnumSet.of(Syscall.WRITE, Syscall.READ))).isEqualTo(policy);
    }

    @Test
    void allowListRejectsEmptyAndNull() {
        assertThatThrownBy(() -> SeccompPolicy.allowList(EPERM))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least one system call");
        assertThatThrownBy(() -> SeccompPolicy.allowList(EPERM, Set.of()))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> SeccompPolicy.allowList(EPERM, Syscall.READ, null))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("the allowed system calls must not contain null");
        assertThatThrownBy(() -> SeccompPolicy.allowList(null, Syscall.READ))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("otherwise");
    }

    @Test
    void policiesAreValues() {
        SeccompPolicy a = readEquals(SeccompAction.allow(), 1);
        SeccompPolicy b = readEquals(SeccompAction.allow(), 1);
        SeccompPolicy c = readEquals(SeccompAction.allow(), 2);
        SeccompPolicy d = readEquals(SeccompAction.log(), 1);
        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b).isNotEqualTo(c).isNotEqualTo(d);
    }

    private static SeccompPolicy readEquals(SeccompAction defaultAction, long value) {
        return SeccompPolicy.builder(defaultAction).rule(Syscall.READ, EPERM, arg(0).eq(value)).build();
    }
}
