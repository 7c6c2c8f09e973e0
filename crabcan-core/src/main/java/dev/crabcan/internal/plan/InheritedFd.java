package dev.crabcan.internal.plan;

/**
 * The source of a passed fd that the sandbox helper inherits from its zygote at the same number
 * (Sandbox.Builder.inheritFd; a T_INHERIT_FD record): no descriptor of this JVM stands for it.
 */
public enum InheritedFd {
    FROM_ZYGOTE
}
