package dev.crabcan.internal.seccomp;

import dev.crabcan.ArgCondition;
import dev.crabcan.SeccompAction;
import dev.crabcan.SeccompPolicy;
import dev.crabcan.SeccompPolicy.Rule;
import dev.crabcan.Syscall;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
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
 *   search tree: a balanced binary search (JGE) on nr over the ranges of numbers that share the
 *     same code; each leaf is that code if it is a single return (the default action, or a rule
 *     without conditions), else a jump to a block below
 *   blocks, each distinct one once:
 *     for each rule of the syscall, in order:
 *       for each condition: compare, on failure jump to the next rule
 *       return the rule's action
 *     return the default action
 * </pre>
 *
 * <p>The code of a syscall is its block (its rules, then the default action); a number no rule
 * names has the code "return the default action". Numbers are split into maximal ranges of equal
 * code (at most 2n + 1 ranges for n ruled syscalls, and an allow list of consecutive calls is a
 * handful), so a call without a rule takes ceil(log2(ranges)) comparisons after the ABI checks,
 * plus at most one jump for each level of the tree too long for a conditional jump. Blocks never
 * look at {@code nr}, so syscalls with the same rules share one; the search loads no argument, so
 * the kernel can still tell which calls the filter always allows, and skip it for those.
 *
 * <p>Classic BPF conditional jumps reach at most 255 instructions ahead. In the search tree, a
 * node whose first subtree is longer than that reaches the second through an unconditional
 * {@code JA}, whose offset has 32 bits, and leaves reach blocks through one; in blocks, every
 * conditional jump stays inside one condition (a handful of instructions) and the jump to the
 * next rule is a {@code JA}.
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
        program.addAll(new Dispatch(policy.rules(), otherwise).code());

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

    // The code of one syscall: its rules in order, then the default action unless a rule without
    // conditions makes it unreachable.
    private static List<Insn> syscallBlock(List<Rule> rules, int otherwise) {
        List<Insn> block = new ArrayList<>();
        for (Rule rule : rules) {
            block.addAll(ruleCode(rule));
            if (rule.conditions().isEmpty()) {
                // Later rules of this syscall could never be reached.
                return block;
            }
        }
        block.add(ret(otherwise));
        return block;
    }

    /**
     * The search tree on {@code nr} and the blocks it leads to. The numbers 0 to 2^32 - 1 are
     * cut into ranges: range {@code i} is {@code [starts[i], starts[i + 1])}, the last one runs
     * to 2^32 - 1, and every number in a range has the same code, {@code codes[i]}.
     */
    private static final class Dispatch {

        private final List<Integer> starts = new ArrayList<>();
        private final List<List<Insn>> codes = new ArrayList<>();
        /** The blocks a leaf jumps to, in order of first mention in the policy. */
        private final Map<List<Insn>, Integer> blockOffsets = new LinkedHashMap<>();
        private int blocksLength;

        Dispatch(List<Rule> rules, int otherwise) {
            List<Insn> unruled = List.of(ret(otherwise));
            Map<Integer, List<Insn>> codeByNumber = new HashMap<>();
            for (Map.Entry<Syscall, List<Rule>> entry : rulesBySyscall(rules).entrySet()) {
                List<Insn> block = syscallBlock(entry.getValue(), otherwise);
                codeByNumber.put(entry.getKey().x86_64(), block);
                if (block.size() > 1 && !blockOffsets.containsKey(block)) {
                    blockOffsets.put(block, blocksLength);
                    blocksLength += block.size();
                }
            }
            // Syscall numbers are small (under 500), so every number up to one past the highest
            // ruled one is looked at; all numbers above it are unruled.
            int end = codeByNumber.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
            for (int nr = 0; nr <= end; nr++) {
                List<Insn> code = codeByNumber.getOrDefault(nr, unruled);
                if (codes.isEmpty() || !codes.get(codes.size() - 1).equals(code)) {
                    starts.add(nr);
                    codes.add(code);
                }
            }
        }

        List<Insn> code() {
            List<Insn> out = new ArrayList<>();
            int treeLength = treeLength(0, codes.size());
            tree(out, 0, codes.size(), treeLength);
            for (List<Insn> block : blockOffsets.keySet()) {
                out.addAll(block);
            }
            return out;
        }

        // Ranges [from, to): the first half, then the second, which the node reaches by a JGE on
        // the first number of the second half.
        private void tree(List<Insn> out, int from, int to, int treeLength) {
            if (to - from == 1) {
                List<Insn> code = codes.get(from);
                if (code.size() == 1) {
                    out.add(code.get(0));
                } else {
                    // From the instruction after this jump to the block, past the rest of the tree.
                    out.add(jumpAlways(treeLength - (out.size() + 1) + blockOffsets.get(code)));
                }
                return;
            }
            int middle = (from + to) >>> 1;
            int firstHalf = treeLength(from, middle);
            if (firstHalf <= MAX_SHORT_JUMP) {
                out.add(jump(JMP_JGE_K, starts.get(middle), firstHalf, 0));
            } else {
                out.add(jump(JMP_JGE_K, starts.get(middle), 0, 1));
                out.add(jumpAlways(firstHalf));
            }
            tree(out, from, middle, treeLength);
            tree(out, middle, to, treeLength);
        }

        private int treeLength(int from, int to) {
            if (to - from == 1) {
                return 1;
            }
            int middle = (from + to) >>> 1;
            int firstHalf = treeLength(from, middle);
            return (firstHalf <= MAX_SHORT_JUMP ? 1 : 2) + firstHalf + treeLength(middle, to);
        }
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
