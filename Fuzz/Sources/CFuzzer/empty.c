// The module exists for its header; libFuzzer itself is linked by -sanitize=fuzzer.
