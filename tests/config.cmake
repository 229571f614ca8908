# config tests
moat_test(test_config SOURCES unit/test_config.c LIBS moat_config)

# The end-to-end check of `moat config` through the real binary.
moat_test(test_config_cli SOURCES unit/test_config_cli.c LIBS moat_util)
add_dependencies(test_config_cli moat)

# The agent.yaml fuzz driver: a libFuzzer binary with MOAT_FUZZ=ON (run
# it as build/fuzz_config tests/fuzz/corpus/config), else linked with the
# replay main; either way ctest replays the seed corpus.
set(MOAT_CONFIG_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/config)
if(MOAT_FUZZ)
	add_executable(fuzz_config fuzz/fuzz_config.c)
	target_link_libraries(fuzz_config PRIVATE moat_config)
	target_link_options(fuzz_config PRIVATE -fsanitize=fuzzer)
	add_test(NAME fuzz_config_replay COMMAND fuzz_config -runs=0
		${MOAT_CONFIG_CORPUS})
else()
	add_executable(fuzz_config_replay fuzz/fuzz_config.c
		fuzz/replay_main.c)
	target_link_libraries(fuzz_config_replay PRIVATE moat_config)
	add_test(NAME fuzz_config_replay COMMAND fuzz_config_replay
		${MOAT_CONFIG_CORPUS})
endif()
set_tests_properties(fuzz_config_replay PROPERTIES TIMEOUT 300)
