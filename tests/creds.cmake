# creds tests
moat_test(test_creds SOURCES unit/test_creds.c LIBS moat_creds)
# The real moat binary (MOAT_BIN) through grant/revoke.
moat_test(test_grant SOURCES integ/test_grant.c LIBS moat_creds util)
add_dependencies(test_grant moat)

# The .enc decoder fuzz driver: a libFuzzer binary with MOAT_FUZZ=ON (run
# it as build/fuzz_creds tests/fuzz/corpus/creds), else linked with the
# replay main; either way ctest replays the seed corpus.
set(MOAT_CREDS_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/creds)
if(MOAT_FUZZ)
	add_executable(fuzz_creds fuzz/fuzz_creds.c)
	target_link_libraries(fuzz_creds PRIVATE moat_creds)
	target_link_options(fuzz_creds PRIVATE -fsanitize=fuzzer)
	add_test(NAME fuzz_creds_replay COMMAND fuzz_creds -runs=0
		${MOAT_CREDS_CORPUS})
else()
	add_executable(fuzz_creds_replay fuzz/fuzz_creds.c fuzz/replay_main.c)
	target_link_libraries(fuzz_creds_replay PRIVATE moat_creds)
	add_test(NAME fuzz_creds_replay COMMAND fuzz_creds_replay
		${MOAT_CREDS_CORPUS})
endif()
set_tests_properties(fuzz_creds_replay PROPERTIES TIMEOUT 300)
