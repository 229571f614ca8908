# bench smoke: bench/run.sh --smoke runs every scenario for about a second
# through moat and direct (C origin on 127.0.0.1, no peer proxies) and
# fails unless every request succeeded and injection was verified.  It
# asserts no speed: timing belongs to the full bench/run.sh.
add_test(NAME bench_smoke
	COMMAND ${PROJECT_SOURCE_DIR}/bench/run.sh --smoke)
set_tests_properties(bench_smoke PROPERTIES TIMEOUT 300 LABELS bench
	ENVIRONMENT "MOAT_BIN=$<TARGET_FILE:moat>;BENCH_LOADGEN=$<TARGET_FILE:moat_loadgen>;BENCH_ORIGIN=$<TARGET_FILE:moat_bench_origin>")
