package dev.crabcan;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/** Random hostnames like the tutorial's "triangular-coffee-39". */
final class Hostnames {
    private static final List<String> ADJECTIVES = List.of("blue", "red", "green", "yellow", "purple", "orange",
            "triangular", "square", "round", "tiny", "giant", "quiet", "loud", "swift", "sleepy", "brave", "clever",
            "fuzzy", "shiny", "salty", "sunny", "frozen", "gentle", "happy", "lucky", "noble", "rusty", "silent");
    private static final List<String> NOUNS = List.of("coffee", "pinguin", "crab", "lobster", "otter", "falcon",
            "teapot", "comet", "harbor", "island", "lantern", "meadow", "nebula", "pebble", "river", "rocket",
            "shell", "tide", "walrus", "whale", "anchor", "reef", "kelp", "coral", "pelican", "seal", "squid");

    private Hostnames() {}

    static String random() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return ADJECTIVES.get(r.nextInt(ADJECTIVES.size())) + "-" + NOUNS.get(r.nextInt(NOUNS.size())) + "-"
                + r.nextInt(1000);
    }
}
