package dev.crabcan.internal.seccomp;

import dev.crabcan.ArgCondition;
import dev.crabcan.SeccompAction;
import dev.crabcan.SeccompPolicy;
import dev.crabcan.SeccompPolicy.Rule;
import dev.crabcan.Syscall;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Compiles a {@link SeccompPolicy} to a classic BPF program for
 * {@code seccomp(SECCOMP_SET_MODE_FILTER)}.
 *
 * <p>Layout:
 * <pre>
 *   load arch; if arch != AUDIT_ARCH_X86_64: return KILL_PROCESS
 *   load nr;   if nr has bit 0x40000000 (x32): return KILL_PROCESS
 *   for each syscall named by a rule, in order of first mention:
 *     if nr != syscall: jump over this block
 *     for each rule of that syscall, in order:
 *       for each condition: compare, on failure jump to the next rule
 *       return the rule's action
 *     return the default action
 *   return the default action
 * </pre>
 *
 * <p>Classic BPF conditional jumps reach at most 255 instructions ahead. Every conditional jump
 * here stays inside one syscall header or one condition (a handful of instructions); anything
 * that may go further (over a syscall block, to the next rule) is an unconditional {@code JA},
 * whose offset has 32 bits. Blocks only load arguments after the {@code nr} test, and always end
 * in a return, so {@code nr} is still in the accumulator whenever the next block's test runs.
 */
public final class BpfCompiler {

    /** The kernel's BPF_MAXINSNS. */
    static final int MAX_INSTRUCTIONS = 4096;

    private static final int MAX_SHORT_JUMP = 255;

    // Offsets in struct seccomp_data.
    private static final int NR = 0;
    private static final int ARCH = 4;
    private static final int ARGS = 16;

    private static final int AUDIT_ARCH_X86_64 = 0xc000003e;
    private static final int X32_SYSCALL_BIT = 0x40000000;

    private static final int LD_W_ABS = 0x20;
    private static final int ALU_AND_K = 0x54;
    private static final int JMP_JA = 0x05;
    private static final int JMP_JEQ_K = 0x15;
    private static final int JMP_JGT_K = 0x25;
    private static final int JMP_JGE_K = 0x35;
    private static final int JMP_JSET_K = 0x45;
    private static final int RET_K = 0x06;

    private BpfCompiler() {
    }

    /**
     * Returns the program as the kernel's {@code struct sock_filter[]}: 8 bytes per instruction
     * ({@code u16 code, u8 jt, u8 jf, u32 k}), little-endian like x86-64; empty for
     * {@link SeccompPolicy#none()}.
     *
     * @throws IllegalArgumentException if the program would exceed the kernel's 4096 instructions
     */
    public static byte[] compile(SeccompPolicy policy) {
        if (policy.isNone()) {
            return new byte[0];
        }
        int kill = SeccompAction.killProcess().returnValue();
        int otherwise = policy.defaultAction().returnValue();

        List<Insn> program = new ArrayList<>();
        program.add(load(ARCH));
        program.add(jump(JMP_JEQ_K, AUDIT_ARCH_X86_64, 1, 0));
        program.add(ret(kill));
        program.add(load(NR));
        program.add(jump(JMP_JSET_K, X32_SYSCALL_BIT, 0, 1));
        program.add(ret(kill));
        for (Map.Entry<Syscall, List<Rule>> entry : rulesBySyscall(policy.rules()).entrySet()) {
            program.addAll(syscallBlock(entry.getKey(), entry.getValue(), otherwise));
        }
        program.add(ret(otherwise));

        if (program.size() > MAX_INSTRUCTIONS) {
            throw new IllegalArgumentException("the seccomp policy compiles to " + program.size()
                    + " BPF instructions, more than the kernel's limit of " + MAX_INSTRUCTIONS
                    + "; use fewer rules or conditions");
        }
        return encode(program);
    }

    // Rules of different syscalls never match the same call, so grouping them keeps the
    // first-match order that matters: the order among rules of one syscall.
    private static Map<Syscall, List<Rule>> rulesBySyscall(List<Rule> rules) {
        Map<Syscall, List<Rule>> bySyscall = new LinkedHashMap<>();
        for (Rule rule : rules) {
            bySyscall.computeIfAbsent(rule.syscall(), syscall -> new ArrayList<>()).add(rule);
        }
        return bySyscall;
    }

    private static List<Insn> syscallBlock(Syscall syscall, List<Rule> rules, int otherwise) {
        List<Insn> body = new ArrayList<>();
        boolean returnsAlways = false;
        for (Rule rule : rules) {
            body.addAll(ruleCode(rule));
            if (rule.conditions().isEmpty()) {
                // Later rules of this syscall could never be reached.
                returnsAlways = true;
                break;
            }
        }
        if (!returnsAlways) {
            body.add(ret(otherwise));
        }

        List<Insn> block = new ArrayList<>();
        if (body.size() <= MAX_SHORT_JUMP) {
            block.add(jump(JMP_JEQ_K, syscall.x86_64(), 0, body.size()));
        } else {
            block.add(jump(JMP_JEQ_K, syscall.x86_64(), 1, 0));
            block.add(jumpAlways(body.size()));
        }
        block.addAll(body);
        return block;
    }

    // Built back to front, so each condition knows how far its failure jump must go: past the
    // conditions after it and the return.
    private static List<Insn> ruleCode(Rule rule) {
        List<Insn> code = new ArrayList<>();
        code.add(ret(rule.action().returnValue()));
        List<ArgCondition> conditions = rule.conditions();
        for (int i = conditions.size() - 1; i >= 0; i--) {
            List<Insn> condition = conditionCode(conditions.get(i));
            condition.add(jumpAlways(code.size()));
            condition.addAll(code);
            code = condition;
        }
        return code;
    }

    // The caller puts a jump to the next rule right after this code: a condition that fails
    // lands on that jump, one that holds goes past it.
    private static List<Insn> conditionCode(ArgCondition condition) {
        Fragment fragment = new Fragment(condition.index());
        long value = condition.value();
        switch (condition.op()) {
            case EQ, MASKED_EQ -> fragment.maskedEquals(condition.mask(), value);
            case NE -> fragment.notEquals(value);
            case GT -> fragment.compare(value, JMP_JGT_K, Target.PASS, Target.FAIL);
            case GE -> fragment.compare(value, JMP_JGE_K, Target.PASS, Target.FAIL);
            case LT -> fragment.compare(value, JMP_JGE_K, Target.FAIL, Target.PASS);
            case LE -> fragment.compare(value, JMP_JGT_K, Target.FAIL, Target.PASS);
        }
        return fragment.resolve();
    }

    private enum Target { NEXT, FAIL, PASS }

    /**
     * The comparison code of one condition, with jumps to symbolic targets: FAIL is the
     * instruction right after the fragment, PASS the one after that.
     */
    private static final class Fragment {

        private record Pending(int code, int k, Target jt, Target jf) {
        }

        private final int lowWord;
        private final int highWord;
        private final List<Pending> code = new ArrayList<>();

        Fragment(int argIndex) {
            lowWord = ARGS + 8 * argIndex;
            highWord = lowWord + 4;
        }

        // A word whose mask is 0 cannot affect the result, so it is not even loaded; this is
        // what makes a low-32-bit mask ignore the upper half entirely.
        void maskedEquals(long mask, long value) {
            boolean checkHigh = high(mask) != 0;
            boolean checkLow = low(mask) != 0;
            if (checkHigh) {
                equalsWord(highWord, high(mask), high(value), checkLow ? Target.NEXT : Target.PASS);
            }
            if (checkLow) {
                equalsWord(lowWord, low(mask), low(value), Target.PASS);
            }
        }

        private void equalsWord(int offset, int mask, int value, Target onEqual) {
            add(LD_W_ABS, offset, Target.NEXT, Target.NEXT);
            if (mask != -1) {
                add(ALU_AND_K, mask, Target.NEXT, Target.NEXT);
            }
            add(JMP_JEQ_K, value, onEqual, Target.FAIL);
        }

        void notEquals(long value) {
            add(LD_W_ABS, highWord, Target.NEXT, Target.NEXT);
            add(JMP_JEQ_K, high(value), Target.NEXT, Target.PASS);
            add(LD_W_ABS, lowWord, Target.NEXT, Target.NEXT);
            add(JMP_JEQ_K, low(value), Target.FAIL, Target.PASS);
        }

        /**
         * Unsigned 64-bit comparison: the high words decide unless they are equal, then
         * {@code lowJump} (JGT or JGE) on the low words does.
         */
        void compare(long value, int lowJump, Target above, Target below) {
            add(LD_W_ABS, highWord, Target.NEXT, Target.NEXT);
            add(JMP_JGT_K, high(value), above, Target.NEXT);
            add(JMP_JEQ_K, high(value), Target.NEXT, below);
            add(LD_W_ABS, lowWord, Target.NEXT, Target.NEXT);
            add(lowJump, low(value), above, below);
        }

        private void add(int opcode, int k, Target jt, Target jf) {
            code.add(new Pending(opcode, k, jt, jf));
        }

        List<Insn> resolve() {
            List<Insn> resolved = new ArrayList<>();
            for (int i = 0; i < code.size(); i++) {
                Pending p = code.get(i);
                resolved.add(new Insn(p.code(), offset(i, p.jt()), offset(i, p.jf()), p.k()));
            }
            return resolved;
        }

        private int offset(int from, Target target) {
            return switch (target) {
                case NEXT -> 0;
                case FAIL -> code.size() - (from + 1);
                case PASS -> code.size() + 1 - (from + 1);
            };
        }
    }

    private static int high(long value) {
        return (int) (value >>> 32);
    }

    private static int low(long value) {
        return (int) value;
    }

    private record Insn(int code, int jt, int jf, int k) {
        Insn {
            if (jt < 0 || jt > MAX_SHORT_JUMP || jf < 0 || jf > MAX_SHORT_JUMP) {
                throw new IllegalStateException("conditional jump out of range: " + jt + ", " + jf);
            }
        }
    }

    private static Insn load(int offset) {
        return new Insn(LD_W_ABS, 0, 0, offset);
    }

    private static Insn jump(int opcode, int k, int jt, int jf) {
        return new Insn(opcode, jt, jf, k);
    }

    private static Insn jumpAlways(int distance) {
        return new Insn(JMP_JA, 0, 0, distance);
    }

    private static Insn ret(int value) {
        return new Insn(RET_K, 0, 0, value);
    }

    private static byte[] encode(List<Insn> program) {
        ByteBuffer buffer = ByteBuffer.allocate(8 * program.size()).order(ByteOrder.LITTLE_ENDIAN);
        for (Insn insn : program) {
            buffer.putShort((short) insn.code()).put((byte) insn.jt()).put((byte) insn.jf()).putInt(insn.k());
        }
        return buffer.array();
    }
}
