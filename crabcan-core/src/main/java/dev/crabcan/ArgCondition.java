package dev.crabcan;

import java.util.Objects;

/**
 * A test on one argument of a system call, for {@link SeccompPolicy} rules. Build one with
 * {@code ArgCondition.arg(1).maskedEq(04000, 04000)}.
 *
 * <p>Arguments are compared as unsigned 64-bit numbers, because that is how seccomp sees them:
 * {@code arg(0).gt(5)} holds for {@code -1L}. Many calls declare an argument narrower than 64
 * bits (an {@code int} flag, a {@code mode_t}); the kernel ignores the upper bits of those, so a
 * condition on them should look only at the low bits, with {@link Arg#maskedEq}.
 *
 * <p>Immutable and thread-safe.
 */
public final class ArgCondition {

    /**
     * How the argument is compared with {@link #value()}.
     *
     * <p>Immutable and thread-safe.
     */
    public enum Op {
        EQ("=="),
        NE("!="),
        LT("<"),
        LE("<="),
        GT(">"),
        GE(">="),
        /** {@code (argument & mask) == value}. */
        MASKED_EQ("==");

        private final String symbol;

        Op(String symbol) {
            this.symbol = symbol;
        }
    }

    private static final int MAX_INDEX = 5;

    private final int index;
    private final Op op;
    private final long mask;
    private final long value;

    private ArgCondition(int index, Op op, long mask, long value) {
        this.index = index;
        this.op = op;
        this.mask = mask;
        this.value = value;
    }

    /**
     * Starts a condition on argument {@code index}, counted from 0 like
     * {@code seccomp_data.args}.
     *
     * @param index 0 to 5
     */
    public static Arg arg(int index) {
        if (index < 0 || index > MAX_INDEX) {
            throw new IllegalArgumentException(
                    "argument index must be between 0 and " + MAX_INDEX + ", got " + index);
        }
        return new Arg(index);
    }

    /** The argument this condition tests, 0 to 5. */
    public int index() {
        return index;
    }

    /** How the argument is compared. */
    public Op op() {
        return op;
    }

    /**
     * The bits of the argument that are compared: all of them ({@code -1L}) except for
     * {@link Op#MASKED_EQ}.
     */
    public long mask() {
        return mask;
    }

    /** The value the (masked) argument is compared with, as an unsigned 64-bit number. */
    public long value() {
        return value;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof ArgCondition)) {
            return false;
        }
        ArgCondition that = (ArgCondition) other;
        return index == that.index && op == that.op && mask == that.mask && value == that.value;
    }

    @Override
    public int hashCode() {
        return Objects.hash(index, op, mask, value);
    }

    @Override
    public String toString() {
        String argument = op == Op.MASKED_EQ
                ? "arg" + index + " & 0x" + Long.toHexString(mask)
                : "arg" + index;
        return argument + " " + op.symbol + " 0x" + Long.toHexString(value);
    }

    /**
     * The second half of {@code ArgCondition.arg(i).eq(v)}: picks the comparison.
     *
     * <p>Immutable and thread-safe.
     */
    public static final class Arg {

        private final int index;

        private Arg(int index) {
            this.index = index;
        }

        public ArgCondition eq(long value) {
            return new ArgCondition(index, Op.EQ, -1L, value);
        }

        public ArgCondition ne(long value) {
            return new ArgCondition(index, Op.NE, -1L, value);
        }

        public ArgCondition lt(long value) {
            return new ArgCondition(index, Op.LT, -1L, value);
        }

        public ArgCondition le(long value) {
            return new ArgCondition(index, Op.LE, -1L, value);
        }

        public ArgCondition gt(long value) {
            return new ArgCondition(index, Op.GT, -1L, value);
        }

        public ArgCondition ge(long value) {
            return new ArgCondition(index, Op.GE, -1L, value);
        }

        /**
         * Holds when {@code (argument & mask) == value}. To test that a flag is set, pass it as
         * both mask and value; to test only the low 32 bits, use mask {@code 0xffffffffL}.
         *
         * @throws IllegalArgumentException if the mask is 0 or the value has bits outside the
         *     mask: such a condition would always, or never, hold
         */
        public ArgCondition maskedEq(long mask, long value) {
            if (mask == 0) {
                throw new IllegalArgumentException(
                        "mask of arg" + index + " must not be 0: the condition would always hold");
            }
            if ((value & ~mask) != 0) {
                throw new IllegalArgumentException("value 0x" + Long.toHexString(value)
                        + " of arg" + index + " has bits outside mask 0x" + Long.toHexString(mask)
                        + ": the condition would never hold");
            }
            return new ArgCondition(index, Op.MASKED_EQ, mask, value);
        }
    }
}
