/**
 * The static helper binary and its sha256, as resources ({@code dev/crabcan/native/linux-x86_64/})
 * that {@code dev.crabcan} reads through its class loader. The directory is not a package (native
 * is a keyword), so the resources are not encapsulated.
 */
module dev.crabcan.helper {}
