# fuzz tests (tests/fuzz/README.md)
#
# moat_fuzz(NAME SOURCES... LIBS... INCLUDES... CORPUS dir): with
# -DMOAT_FUZZ=ON (clang) builds the libFuzzer binary NAME; otherwise NAME
# links tests/fuzz/replay_main.c.  Either way ctest's NAME_replay runs
# every file of the seed corpus tests/fuzz/corpus/<corpus>/ through it.
function(moat_fuzz name)
	cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS;INCLUDES" ${ARGN})
	set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${F_CORPUS})
	if(MOAT_FUZZ)
		add_executable(${name} ${F_SOURCES})
		target_link_options(${name} PRIVATE -fsanitize=fuzzer)
		add_test(NAME ${name}_replay COMMAND ${name} -runs=0
			-dict=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/http.dict ${corpus})
	else()
		add_executable(${name} ${F_SOURCES} fuzz/replay_main.c)
		add_test(NAME ${name}_replay COMMAND ${name} ${corpus})
	endif()
	target_include_directories(${name} PRIVATE ${F_INCLUDES})
	target_link_libraries(${name} PRIVATE ${F_LIBS})
	set_tests_properties(${name}_replay PROPERTIES TIMEOUT 600
		LABELS fuzz)
endfunction()

moat_fuzz(fuzz_authority CORPUS authority
	SOURCES fuzz/fuzz_authority.c
	LIBS moat_proxy)
moat_fuzz(fuzz_auth CORPUS auth
	SOURCES fuzz/fuzz_auth.c
	LIBS moat_proxy)

# The seam drivers compile proxy/conn.c into themselves (to reach its
# static callbacks) with the real http.c, inject.c and policy.c, and
# replace the network parts (tests/fuzz/proxy_seam.h): not moat_proxy.
set(MOAT_SEAM_SOURCES ${PROJECT_SOURCE_DIR}/proxy/http.c
	${PROJECT_SOURCE_DIR}/proxy/inject.c ${PROJECT_SOURCE_DIR}/proxy/policy.c)
set(MOAT_SEAM_LIBS moat_util moat_llhttp PkgConfig::LIBEVENT
	PkgConfig::SODIUM)
foreach(d request response)
	moat_fuzz(fuzz_${d} CORPUS ${d}
		SOURCES fuzz/fuzz_${d}.c ${MOAT_SEAM_SOURCES}
		INCLUDES ${PROJECT_SOURCE_DIR}/proxy ${CMAKE_CURRENT_SOURCE_DIR}/fuzz
		LIBS ${MOAT_SEAM_LIBS})
endforeach()

