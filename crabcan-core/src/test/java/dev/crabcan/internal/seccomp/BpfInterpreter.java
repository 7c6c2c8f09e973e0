package dev.crabcan.internal.seccomp;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Runs a seccomp classic BPF program the way the kernel would, for the instructions
 * {@link BpfCompiler} emits. The constructor rejects what the kernel rejects when the filter is
 * installed (bad length, jumps out of the program, no final return, loads outside
 * {@code seccomp_data}), and any instruction outside that subset, so a test fails on a program
 * the kernel would refuse.
 */
final class BpfInterpreter {

    static final int LD_W_ABS = 0x20;
    static final int ALU_AND_K = 0x54;
    static final int JMP_JA = 0x05;
    static final int JMP_JEQ_K = 0x15;
    static final int JMP_JGT_K = 0x25;
    static final int JMP_JGE_K = 0x35;
    static final int JMP_JSET_K = 0x45;
    static final int RET_K = 0x06;

    private static final int SECCOMP_DATA_SIZE = 64;
    private static final int NR_OFFSET = 0;
    private static final int ARCH_OFFSET = 4;
    private static final int ARGS_OFFSET = 16;

    private final int[] code;
    private final int[] jt;
    private final int[] jf;
    private final int[] k;

    BpfInterpreter(byte[] program) {
        if (program.length == 0 || program.length % 8 != 0) {
            throw new IllegalArgumentException("program length " + program.length + " is not a positive multiple of 8");
        }
        int length = program.length / 8;
        if (length > BpfCompiler.MAX_INSTRUCTIONS) {
            throw new IllegalArgumentException("program has " + length + " instructions, over 4096");
        }
        code = new int[length];
        jt = new int[length];
        jf = new int[length];
        k = new int[length];
        ByteBuffer buffer = ByteBuffer.wrap(program).order(ByteOrder.LITTLE_ENDIAN);
        for (int pc = 0; pc < length; pc++) {
            code[pc] = Short.toUnsignedInt(buffer.getShort());
            jt[pc] = Byte.toUnsignedInt(buffer.get());
            jf[pc] = Byte.toUnsignedInt(buffer.get());
            k[pc] = buffer.getInt();
            check(pc, length);
        }
        if (code[length - 1] != RET_K) {
            throw new IllegalArgumentException("program does not end with a return");
        }
    }

    private void check(int pc, int length) {
        switch (code[pc]) {
            case LD_W_ABS -> {
                if (Integer.toUnsignedLong(k[pc]) >= SECCOMP_DATA_SIZE || (k[pc] & 3) != 0) {
                    throw new IllegalArgumentException("load at " + pc + " reads outside seccomp_data: " + k[pc]);
                }
            }
            case ALU_AND_K, RET_K -> {
            }
            case JMP_JA -> {
                if (Integer.toUnsignedLong(k[pc]) >= length - pc - 1) {
                    throw new IllegalArgumentException("JA at " + pc + " jumps out of the program");
                }
            }
            case JMP_JEQ_K, JMP_JGT_K, JMP_JGE_K, JMP_JSET_K -> {
                if (pc + jt[pc] + 1 >= length || pc + jf[pc] + 1 >= length) {
                    throw new IllegalArgumentException("jump at " + pc + " goes out of the program");
                }
            }
            default -> throw new IllegalArgumentException(
                    "unsupported instruction 0x" + Integer.toHexString(code[pc]) + " at " + pc);
        }
    }

    int length() {
        return code.length;
    }

    /** Runs the program against a {@code seccomp_data} and returns what it returns. */
    int run(int arch, int nr, long... args) {
        return trace(arch, nr, args).result();
    }

    /**
     * What one run did: the value returned, how many instructions were executed (the return
     * included), and whether it loaded anything but {@code nr} and {@code arch} (an argument,
     * or the instruction pointer). The kernel (5.11 and later) skips the filter for a call whose
     * run returns ALLOW without loading anything else: it caches that result per syscall number.
     */
    record Trace(int result, int steps, boolean readArguments) {
    }

    /** Runs the program like {@link #run} and tells how it went. */
    Trace trace(int arch, int nr, long... args) {
        if (args.length > 6) {
            throw new IllegalArgumentException("at most 6 arguments");
        }
        ByteBuffer data = ByteBuffer.allocate(SECCOMP_DATA_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        data.putInt(NR_OFFSET, nr).putInt(ARCH_OFFSET, arch);
        for (int i = 0; i < args.length; i++) {
            data.putLong(ARGS_OFFSET + 8 * i, args[i]);
        }

        int a = 0;
        int pc = 0;
        int steps = 0;
        boolean readArguments = false;
        while (true) {
            steps++;
            switch (code[pc]) {
                case LD_W_ABS -> {
                    a = data.getInt(k[pc]);
                    readArguments |= k[pc] != NR_OFFSET && k[pc] != ARCH_OFFSET;
                }
                case ALU_AND_K -> a &= k[pc];
                case JMP_JA -> pc += k[pc];
                case JMP_JEQ_K -> pc += a == k[pc] ? jt[pc] : jf[pc];
                case JMP_JGT_K -> pc += Integer.compareUnsigned(a, k[pc]) > 0 ? jt[pc] : jf[pc];
                case JMP_JGE_K -> pc += Integer.compareUnsigned(a, k[pc]) >= 0 ? jt[pc] : jf[pc];
                case JMP_JSET_K -> pc += (a & k[pc]) != 0 ? jt[pc] : jf[pc];
                case RET_K -> {
                    return new Trace(k[pc], steps, readArguments);
                }
                default -> throw new AssertionError("checked in the constructor");
            }
            pc++;
        }
    }
}
