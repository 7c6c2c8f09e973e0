package dev.crabcan.internal.json;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class JsonTest {

    @Test
    void readsEveryKindOfValue() throws Exception {
        Object v = Json.parse(" {\"a\": [1, -2, 3.5, 18446744073709551615, true, false, null], \"b\": \"x\\\"\\n\\u00e9\"} ");
        assertThat(v).isEqualTo(Map.of("a", java.util.Arrays.asList(1L, -2L, new BigDecimal("3.5"),
                new BigDecimal("18446744073709551615"), true, false, null), "b", "x\"\né"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{\"a\":1,\"a\":2}|duplicate member \"a\" at offset 7",
        "[1,]|unexpected character ']' at offset 3",
        "{\"a\":1} x|unexpected text after the value at offset 8",
        "\"abc|unterminated string at offset 4",
        "01|unexpected text after the value at offset 1",
        "[1 2]|expected ']' at offset 3",
        "tru|expected true at offset 0",
    })
    void refusesMalformedInputSayingWhere(String text, String message) {
        assertThatThrownBy(() -> Json.parse(text)).isInstanceOf(Json.ParseException.class).hasMessage(message);
    }

    @Test
    void writesCompactAndPrettyAndReadsItBack() throws Exception {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("s", "tab\there \"q\" \u0001\u007f\u009b");
        m.put("n", 42L);
        m.put("l", List.of(true, List.of(), Map.of()));
        m.put("z", null);
        String compact = Json.write(m);
        assertThat(compact).isEqualTo("{\"s\":\"tab\\there \\\"q\\\" \\u0001\\u007f\\u009b\",\"n\":42,\"l\":[true,[],{}],\"z\":null}");
        assertThat(Json.parse(compact)).isEqualTo(m);
        assertThat(Json.parse(Json.writePretty(m))).isEqualTo(m);
        assertThat(Json.writePretty(Map.of("k", List.of(1L)))).isEqualTo("{\n  \"k\": [\n    1\n  ]\n}\n");
    }
}
